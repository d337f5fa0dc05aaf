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
"""

from __future__ import annotations

import pandas as pd

from transforms.frames import join_groups, join_unique, map_distinct
from transforms.vocab.codes import (
    CONCURRENT,
    INITIAL_CODES,
    PUMP_MISBILLED_CODES,
    PUMP_START_CODES,
    SEPARATE_SITE_MODIFIER,
    is_drug_admin_code,
)


def drug_admin_lines(billed: pd.DataFrame) -> pd.DataFrame:
    """The billed lines the audit compares (96360-96379, 96401-96549, C8957)."""
    return billed[map_distinct(billed["hcpcs"], is_drug_admin_code).astype(bool)]


def claim_of(billed: pd.DataFrame) -> pd.Series:
    """The (first) claim id of each billed encounter."""
    return billed.groupby("encounter_id")["claim_id"].first()


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
        ``n_lines`` (int64), ``claim_id``, ``evidence`` and the booleans
        ``twice`` (96368 on two lines, R-E1), ``over``, ``under``.
    """
    exp = expected.groupby(["encounter_id", "hcpcs"]).agg(expected_units=("units", "sum"))
    exp["evidence"] = join_unique(expected, ["encounter_id", "hcpcs"], "evidence", " | ")
    exp = exp.reset_index()
    bil = billed.groupby(["encounter_id", "hcpcs"], as_index=False).agg(
        billed_units=("units", "sum"), claim_id=("claim_id", "first"), n_lines=("units", "size")
    )
    m = exp.merge(bil, on=["encounter_id", "hcpcs"], how="outer")
    m["expected_units"] = m["expected_units"].fillna(0).astype("int64")
    m["billed_units"] = m["billed_units"].fillna(0).astype("int64")
    m["n_lines"] = m["n_lines"].fillna(0).astype("int64")
    m["claim_id"] = m["claim_id"].fillna(m["encounter_id"].map(claims))
    # A line with no expected counterpart is explained by the whole timeline.
    unexplained = admins["encounter_id"].isin(m.loc[m["evidence"].isna(), "encounter_id"])
    timeline_text = (join_groups(admins.loc[unexplained, "evidence"], admins.loc[unexplained, "encounter_id"], " | ")
                     if "evidence" in admins else None)
    m["evidence"] = m["evidence"].fillna(m["encounter_id"].map(timeline_text) if timeline_text is not None else "")
    m["evidence"] = m["evidence"].fillna("")
    # The concurrent code is "once": two lines of one unit each are also twice.
    m["twice"] = (m["hcpcs"] == CONCURRENT) & (m["n_lines"] > 1) & (m["expected_units"] >= 1)
    m["over"] = m["billed_units"] > m["expected_units"]
    m["under"] = m["billed_units"] < m["expected_units"]
    return m


def differences(lines: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`match_lines` that need a finding, indexed ``0..n-1``."""
    return lines[(lines["expected_units"] != lines["billed_units"]) | lines["twice"]].copy().reset_index(drop=True)


def encounter_lines(diff: pd.DataFrame, lines: pd.DataFrame, expected: pd.DataFrame,
                    admins: pd.DataFrame) -> pd.DataFrame:
    """What each difference's encounter has on either side, aligned with ``diff``.

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
    e = diff["encounter_id"]
    lines = lines[lines["encounter_id"].isin(e)]  # only these encounters are described
    init_exp = lines[lines["hcpcs"].isin(INITIAL_CODES) & (lines["expected_units"] > 0)]
    init_bil = lines[lines["hcpcs"].isin(INITIAL_CODES) & (lines["billed_units"] > 0)]
    exp_init_set = e.map(join_unique(init_exp, ["encounter_id"], "hcpcs", ",", sort=True)).fillna("")
    bil_init_set = e.map(join_unique(init_bil, ["encounter_id"], "hcpcs", ",", sort=True)).fillna("")
    exp_init_units = e.map(init_exp.groupby("encounter_id")["expected_units"].sum()).fillna(0)
    bil_init_units = e.map(init_bil.groupby("encounter_id")["billed_units"].sum()).fillna(0)
    all_billed = (init_exp["billed_units"] > 0).groupby(init_exp["encounter_id"]).all()
    mods = (expected["modifiers"].fillna("").astype(str) if "modifiers" in expected
            else pd.Series("", index=expected.index, dtype=object))
    second = expected["hcpcs"].isin(INITIAL_CODES) & mods.str.contains(SEPARATE_SITE_MODIFIER)
    xu_initial = expected.loc[second, "encounter_id"]
    pump_under = lines.loc[lines["hcpcs"].isin(PUMP_START_CODES) & lines["under"], "encounter_id"]
    misbilled_over = lines.loc[lines["hcpcs"].isin(PUMP_MISBILLED_CODES) & lines["over"], "encounter_id"]
    return pd.DataFrame(
        {
            "expected_any": e.map(lines.groupby("encounter_id")["expected_units"].sum()).fillna(0) > 0,
            "billed_any": e.map(lines.groupby("encounter_id")["billed_units"].sum()).fillna(0) > 0,
            "charted": e.isin(admins["encounter_id"]),
            "expected_initial": exp_init_set.ne(""),
            "initial_same_family": exp_init_set == bil_init_set,
            "extra_initial": bil_init_units > exp_init_units,
            "expected_initials_all_billed": e.map(all_billed).fillna(False).astype(bool),
            "second_site": e.isin(xu_initial),
            "pump_code_under": e.isin(pump_under),
            "pump_misbilled_over": e.isin(misbilled_over),
        },
        index=diff.index,
    )
