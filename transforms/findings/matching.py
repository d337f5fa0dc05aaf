"""Expected vs billed lines per encounter and code: the diff the rules key.

Invariants:

* Only drug-administration codes (96360-96379, 96401-96549, and the OPPS
  pump start C8957) are compared;
  every other billed line (E/M, drug J-codes, ...) is ignored.
* Units are summed over the encounter's dates: one row per (encounter,
  code), from either side (an outer match), with ``expected_units`` and
  ``billed_units`` 0 where a side has no line.
* A row is a *difference* when the units differ, or when the concurrent code
  is billed on two lines although one unit is supported: 96368 is "once"
  per encounter (R-E1), so two lines of one unit are also twice.
* A line with no expected counterpart is explained by the whole timeline.

Vectorised on integer codes: encounter ids and codes are factorized once
(``enc_code`` numbers the encounters of one :func:`match_lines` result) and
every group-wise sum is an ``np.bincount`` over those codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.frames import factorize_shared, join_distinct, join_groups, map_distinct, on_distinct, run_starts
from transforms.vocab.codes import (
    CONCURRENT,
    INITIAL_CODES,
    PUMP_MISBILLED_CODES,
    PUMP_START_CODES,
    SEPARATE_SITE_MODIFIER,
    is_drug_admin_code,
)


def is_drug_admin(hcpcs: pd.Series) -> np.ndarray:
    """Per line: whether its code is one the audit compares (96360-96379,
    96401-96549, C8957), as ``hcpcs.map(is_drug_admin_code)``; bool array.

    Each distinct code is tested once; the loader's codes share one ``str``
    per code, so the rows are grouped by pointer (:func:`~transforms.frames.on_distinct`)."""
    return on_distinct(hcpcs, lambda codes: codes.map(is_drug_admin_code)).astype(bool)


def drug_admin_lines(billed: pd.DataFrame) -> pd.DataFrame:
    """The billed lines the audit compares (:func:`is_drug_admin`);
    ``billed`` itself (no copy) when every line is one."""
    keep = is_drug_admin(billed["hcpcs"])
    return billed if keep.all() else billed[keep]


def claim_of(billed: pd.DataFrame) -> pd.Series:
    """The first non-null claim id of each billed encounter (as ``groupby.first``),
    indexed by ``encounter_id``."""
    ok = billed["claim_id"].notna() & billed["encounter_id"].notna()
    enc = billed["encounter_id"][ok]
    first = ~enc.duplicated().to_numpy()
    return pd.Series(billed["claim_id"][ok].to_numpy()[first], name="claim_id",
                     index=pd.Index(enc.to_numpy()[first], name="encounter_id"))


def _factorized(*columns: pd.Series) -> tuple[list[np.ndarray], np.ndarray]:
    """One ``pd.factorize`` of several columns: each column's int codes (-1
    for a null) and the distinct values, so equal values share a code across columns."""
    if all(pd.api.types.is_integer_dtype(c.dtype) for c in columns):
        # Integer keys (the audit's encounter codes): hashed as int64, not as Python objects.
        codes, names = pd.factorize(np.concatenate([c.to_numpy(dtype=np.int64) for c in columns]))
    else:
        # Codes and ids: equal values mostly share one object, so pointers are hashed, not texts.
        codes, names = factorize_shared(np.concatenate([c.to_numpy(dtype=object) for c in columns]))
    return np.split(codes, np.cumsum([len(c) for c in columns])[:-1]), names


def _first_per_group(group: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``values`` of the first row of each group code ``0..n-1`` (NaN where a group has none)."""
    out = np.full(n, np.nan, dtype=object)
    order = np.argsort(group, kind="stable")
    starts = run_starts(group[order])
    out[group[order[starts]]] = values[order[starts]]
    return out


def _timeline_text(admins: pd.DataFrame, encounters: np.ndarray) -> pd.Series:
    """Every administration's evidence of each of ``encounters``, in row order, joined with `` | ``."""
    if "evidence" not in admins or len(encounters) == 0:
        return pd.Series(dtype=object)
    mine = admins["encounter_id"].isin(encounters).to_numpy()
    return join_groups(admins["evidence"][mine], admins["encounter_id"][mine], " | ")


def _evidence(m: pd.DataFrame, need: np.ndarray, group: np.ndarray, evidence: pd.Series, admins: pd.DataFrame,
              enc_names: np.ndarray, enc_code: np.ndarray) -> pd.Series:
    """The evidence of each row of ``m`` that ``need``s a finding: its expected
    lines' distinct evidence joined with `` | ``, else (no expected line, or
    none with evidence) the encounter's whole timeline; ``""`` for every other row.

    ``group`` is the row of ``m`` of each expected line (``evidence``)."""
    out = np.full(len(m), None, dtype=object)
    mine = need[group]
    if mine.any():
        groups, joined = join_distinct(group[mine], evidence[mine], " | ")
        out[groups] = joined
    # A line with no expected counterpart is explained by the whole timeline.
    missing = np.flatnonzero(need & pd.isna(out))
    text = _timeline_text(admins, pd.unique(enc_names[enc_code[missing]]))
    out[missing] = m["encounter_id"].take(missing).map(text).to_numpy(dtype=object)
    return pd.Series(out, dtype=object).fillna("")


def match_lines(expected: pd.DataFrame, billed: pd.DataFrame, admins: pd.DataFrame,
                claims: pd.Series) -> pd.DataFrame:
    """Every (encounter, code) of either side with both unit totals.

    Args:
        expected: expected lines (``units``, ``evidence``).
        billed: drug-administration claim lines (:func:`drug_admin_lines`).
        admins: administrations; their ``evidence`` explains unexpected lines.
        claims: :func:`claim_of` the billed lines.

    Returns:
        ``encounter_id``, ``hcpcs``, ``expected_units``, ``billed_units``,
        ``n_lines`` (int64), ``claim_id``, ``evidence`` (of the rows that
        need a finding, :func:`differences`; ``""`` on the others), the booleans
        ``twice`` (96368 on two lines, R-E1), ``over``, ``under``, and
        ``enc_code`` (int64: the encounter's number among these rows);
        rows in order of first appearance (expected lines, then billed).
    """
    (enc_e, enc_b), enc_names = _factorized(expected["encounter_id"], billed["encounter_id"])
    (hc_e, hc_b), hc_names = _factorized(expected["hcpcs"], billed["hcpcs"])
    ok_e, ok_b = (enc_e >= 0) & (hc_e >= 0), (enc_b >= 0) & (hc_b >= 0)  # null keys never group (as groupby)
    width = max(len(hc_names), 1)
    group, pairs = pd.factorize(np.concatenate([enc_e[ok_e], enc_b[ok_b]]).astype(np.int64) * width
                                + np.concatenate([hc_e[ok_e], hc_b[ok_b]]))
    n, n_exp = len(pairs), int(ok_e.sum())
    g_e, g_b = group[:n_exp], group[n_exp:]
    exp_units = expected["units"].to_numpy(dtype="float64", na_value=0.0)[ok_e]
    bil_units = billed["units"].to_numpy(dtype="float64", na_value=0.0)[ok_b]
    enc_code = (np.asarray(pairs, dtype=np.int64) // width)
    m = pd.DataFrame({
        "encounter_id": enc_names[enc_code] if n else np.empty(0, dtype=object),
        "hcpcs": hc_names[np.asarray(pairs, dtype=np.int64) % width] if n else np.empty(0, dtype=object),
        "expected_units": np.bincount(g_e, weights=exp_units, minlength=n).astype("int64"),
        "billed_units": np.bincount(g_b, weights=bil_units, minlength=n).astype("int64"),
        "n_lines": np.bincount(g_b, minlength=n).astype("int64"),
    })
    claim = billed["claim_id"].to_numpy(dtype=object)[ok_b]
    named = pd.notna(claim)
    m["claim_id"] = _first_per_group(g_b[named], claim[named], n)
    no_claim = m["claim_id"].isna().to_numpy()
    if no_claim.any():
        m.loc[no_claim, "claim_id"] = m["encounter_id"][no_claim].map(claims)
    # The concurrent code is "once": two lines of one unit each are also twice.
    # (the code compared once per distinct code, not per row)
    concurrent = np.asarray(hc_names == CONCURRENT, dtype=bool)[np.asarray(pairs, dtype=np.int64) % width]
    m["twice"] = concurrent & (m["n_lines"] > 1).to_numpy() & (m["expected_units"] >= 1).to_numpy()
    m["over"] = m["billed_units"] > m["expected_units"]
    m["under"] = m["billed_units"] < m["expected_units"]
    m["evidence"] = _evidence(m, _needs_finding(m), g_e, expected["evidence"][ok_e], admins, enc_names, enc_code)
    m["enc_code"] = enc_code
    return m


def _needs_finding(lines: pd.DataFrame) -> np.ndarray:
    """Rows whose units differ, or 96368 billed twice (R-E1)."""
    return ((lines["expected_units"] != lines["billed_units"]) | lines["twice"]).to_numpy(dtype=bool)


def differences(lines: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`match_lines` that need a finding, indexed ``0..n-1``."""
    return lines[_needs_finding(lines)].reset_index(drop=True)


def _per_encounter_any(enc_code: np.ndarray, hit: np.ndarray, n: int) -> np.ndarray:
    """Per encounter code ``0..n-1``: any row of it where ``hit``."""
    return np.bincount(enc_code[hit], minlength=n) > 0


def _xu_initial_encounters(expected: pd.DataFrame) -> pd.Series:
    """Encounters with an expected initial line carrying XU (a second access site, R-B3)."""
    if "modifiers" not in expected or expected.empty:
        return pd.Series(dtype=object)
    xu = map_distinct(expected["modifiers"], lambda m: SEPARATE_SITE_MODIFIER in ("" if pd.isna(m) else str(m)))
    xu = xu.to_numpy(dtype=bool)
    xu[xu] = expected["hcpcs"][xu].isin(INITIAL_CODES).to_numpy()
    return expected["encounter_id"][xu]


def encounter_lines(diff: pd.DataFrame, lines: pd.DataFrame, expected: pd.DataFrame,
                    admins: pd.DataFrame) -> pd.DataFrame:
    """What each difference's encounter has on either side, aligned with ``diff``.

    ``diff`` and ``lines`` carry the ``enc_code`` of :func:`match_lines`;
    every sum is a bincount over it.

    Returns:
        booleans ``expected_any`` / ``billed_any`` (any expected / billed
        unit), ``charted`` (any administration on the MAR), and about the
        initial codes (R-B1 ... R-B3): ``expected_initial`` (one is
        expected), ``initial_same_family`` (the expected and billed sets of
        initial codes are equal), ``extra_initial`` (more initial units billed
        than expected), ``expected_initials_all_billed`` and ``second_site``
        (an expected initial carries XU, :data:`SEPARATE_SITE_MODIFIER`: a
        second access site, R-B3); about a pump start (R-H8):
        ``pump_code_under`` (a pump start code under-billed) and
        ``pump_misbilled_over`` (a push, infusion or hour code over-billed).
    """
    code = diff["enc_code"].to_numpy(dtype=np.int64)
    n = int(lines["enc_code"].max()) + 1 if len(lines) else 0
    wanted = np.zeros(n, dtype=bool)
    wanted[code] = True
    lines = lines[wanted[lines["enc_code"].to_numpy(dtype=np.int64)]]  # only these encounters are described
    lc = lines["enc_code"].to_numpy(dtype=np.int64)
    exp_u, bil_u = lines["expected_units"].to_numpy(), lines["billed_units"].to_numpy()
    h = lines["hcpcs"]
    init = h.isin(INITIAL_CODES).to_numpy()
    init_exp, init_bil = init & (exp_u > 0), init & (bil_u > 0)

    def units(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.bincount(lc[rows], weights=values[rows], minlength=n)[code]

    def any_of(rows: np.ndarray) -> np.ndarray:
        return _per_encounter_any(lc, rows, n)[code]

    every = np.ones(len(lc), dtype=bool)
    expected_initial = any_of(init_exp)
    return pd.DataFrame(
        {
            "expected_any": units(exp_u, every) > 0,
            "billed_any": units(bil_u, every) > 0,
            "charted": diff["encounter_id"].isin(admins["encounter_id"]).to_numpy(),
            "expected_initial": expected_initial,
            # The sets of initial codes (one row per code) are equal when no code is on one side only.
            "initial_same_family": ~any_of(init_exp != init_bil),
            "extra_initial": units(bil_u, init_bil) > units(exp_u, init_exp),
            "expected_initials_all_billed": expected_initial & ~any_of(init_exp & ~init_bil),
            "second_site": diff["encounter_id"].isin(_xu_initial_encounters(expected)).to_numpy(),
            "pump_code_under": any_of(h.isin(PUMP_START_CODES).to_numpy() & lines["under"].to_numpy()),
            "pump_misbilled_over": any_of(h.isin(PUMP_MISBILLED_CODES).to_numpy() & lines["over"].to_numpy()),
        },
        index=diff.index,
    )
