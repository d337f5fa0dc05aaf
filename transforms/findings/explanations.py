"""Explanation sentences and MAR evidence of keyed differences.

Invariants:

* ``evidence`` is the MAR administrations behind the key (``drug [infusate
  ids] local start-end (N min)`` joined with `` | ``): the fact's own
  administrations for the keys of :func:`_specific` when the timeline has
  them, else the expected line's evidence (the whole timeline for a line
  with no expected counterpart); never null.
* ``explanation`` is one sentence a coder can act on: the key's meaning, the
  code and both unit counts, the MAR detail, then what the MAR supports and
  what was billed for the whole encounter
  (``MAR supports 96365x1, 96368x1; billed 96365x1.``). A key of
  key listed in :func:`_own_sentences` has a sentence of its own instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from transforms.frames import join_groups, map_distinct
from transforms.vocab.codes import CONCURRENT
from transforms.vocab.findings import MEANING

_SETTING_ONLY = "facility_only_code_on_professional"


def _capitalised(text: pd.Series) -> pd.Series:
    return text.str[0].str.upper() + text.str[1:]


def _text(values: pd.Series) -> pd.Series:
    """``values.astype(str)``: the column itself when every value is already a ``str`` (evidence,
    details and summaries nearly all differ: hashing them to convert each once costs more than the
    one type check), else each distinct value converted once (numbers, NaN)."""
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values
    return map_distinct(values, str)


def _summary(lines: pd.DataFrame, units: str) -> pd.Series:
    """``96365x1, 96368x1`` per encounter, codes sorted.

    Each distinct (code, units) text is built once; ``lines`` has one row
    per (encounter, code), so sorting by code orders each encounter's terms.
    """
    if lines.empty:
        return pd.Series(dtype=object)
    # Codes by their rank among the distinct codes (an int sort, not a sort of the frame);
    # each distinct (code, units) term is built once.
    code, codes = pd.factorize(lines["hcpcs"], sort=True)
    code = np.where(code < 0, len(codes), code)  # a missing code sorts last, as sort_values puts it
    unit, unit_values = pd.factorize(lines[units], use_na_sentinel=False)
    first, term = np.unique(code.astype(np.int64) * max(len(unit_values), 1) + unit, return_index=True,
                            return_inverse=True)[1:]
    text = (lines["hcpcs"].take(first) + "x" + _text(lines[units].take(first))).to_numpy(dtype=object)
    order = np.argsort(code, kind="stable")
    return join_groups(pd.Series(text[term.reshape(-1)[order]], dtype=object),
                       pd.Series(lines["encounter_id"].to_numpy()[order], name="encounter_id"), ", ")


#: Keys with a detail sentence of their own (:func:`_specific`).
_SPECIFIC_KEYS: tuple[str, ...] = (
    "concurrent_different_sites", "concurrent_mixed_bag", "concurrent_with_hydration", "concurrent_no_overlap",
    "infusion_under_16_minutes", "sequential_same_drug", "hydration_during_drug", "hydration_under_31_minutes",
    "repeat_push_within_30_minutes", "pump_start_billed_as_push_or_hours", "second_initial_missed",
    "second_initial_without_second_site", _SETTING_ONLY,
)


class _Rows:
    """The rows ``at`` (bool array) of ``frame``, one column at a time: ``rows[c]`` is
    ``frame[at][c]`` (same values and index), without copying the columns never read
    (a key's detail reads a few of the facts' forty)."""

    def __init__(self, frame: pd.DataFrame, at: np.ndarray) -> None:
        self._frame, self._at = frame, at

    def __getitem__(self, column: str) -> pd.Series:
        return self._frame[column][self._at]


def _specific(diff: pd.DataFrame | _Rows, f: pd.DataFrame | _Rows, min_overlap_minutes: int
              ) -> dict[str, Callable[[], tuple[pd.Series, pd.Series]]]:
    """Per key: how to make (the administrations behind it, the detail sentence), aligned with ``diff``.

    ``f`` is :func:`transforms.findings.facts.row_facts` of ``diff``. Each
    pair is made when called: :func:`explain` makes a key's pair on that
    key's rows alone, not every key's text on every row.
    """
    def credited() -> pd.Series:
        return f["hyd_credited"].astype("int64").astype(str)
    return {
        "concurrent_different_sites": lambda: (
            f["diff_site_ev"], f["diff_site_text"] + f": two initial services, not {CONCURRENT}"),
        "concurrent_mixed_bag": lambda: (f["mixed_ev"], "mixed in one bag: " + f["mixed_ev"].fillna("")),
        "concurrent_with_hydration": lambda: (
            f["hyd_conc_ev"], f["hyd_conc_text"] + f"; hydration never earns {CONCURRENT}"),
        "concurrent_no_overlap": lambda: (
            f["drug_inf_ev"],
            f"no two separate drug infusates overlapped {min_overlap_minutes} min or more on one access site; "
            "drug infusions: " + f["drug_inf_ev"].fillna("none")),
        "infusion_under_16_minutes": lambda: (
            f["short_infusion_ev"], f["short_infusion_ev"] + " ran 15 active minutes or less: a push or injection"),
        "sequential_same_drug": lambda: (f["same_drug_ev"], f["same_drug_ev"].fillna("")
                                 + " is one drug in several bags, one continuing service"),
        "hydration_during_drug": lambda: (
            f["hyd_ev"], "hydration " + f["hyd_ev"].fillna("") + " ran " + f["hyd_clock"].astype("int64").astype(str)
            + " min, of which " + (f["hyd_clock"] - f["hyd_free"]).astype("int64").astype(str)
            + " min while another infusion ran; creditable " + credited() + " min"),
        "hydration_under_31_minutes": lambda: (
            f["hyd_ev"], "hydration " + f["hyd_ev"].fillna("none charted") + " has "
            + credited() + " creditable min ("
            + f["hyd_free"].astype("int64").astype(str) + " min with no other infusion)"),
        "repeat_push_within_30_minutes": lambda: (f["fast_ev"], f["fast_text"] + ", 30 min or less"),
        "pump_start_billed_as_push_or_hours": lambda: (
            f["pump_ev"], "pump start " + f["pump_ev"].fillna("") + " is coded at its start, with no minutes"),
        "second_initial_missed": lambda: (
            diff["evidence"], "separate access sites in use at the same time (sites charted: "
            + f["sites"].fillna("none") + "); " + diff["evidence"]),
        "second_initial_without_second_site": lambda: (
            f["all_ev"], "only one access site was in use at a time (sites charted: "
            + f["sites"].fillna("none") + "); administrations: " + f["all_ev"].fillna("")),
        # The setting rule has its own sentence (_own_sentences); its evidence is
        # the repeat pushes when one came within 30 minutes (R-F2).
        _SETTING_ONLY: lambda: (f["fast_ev"], f["fast_text"]),
    }


def _own_sentences(diff: pd.DataFrame) -> dict[str, pd.Series]:
    """Keys whose explanation is a sentence of its own, not the standard one."""
    head = MEANING[_SETTING_ONLY][0].upper() + MEANING[_SETTING_ONLY][1:]
    return {
        _SETTING_ONLY: head + ": " + diff["hcpcs"] + " billed " + diff["billed_units"].astype(str)
        + " on the physician claim; only the hospital reports a repeat push of the same drug.",
    }


def _heads(diff: pd.DataFrame) -> np.ndarray:
    """``<Meaning>: <code> billed <n>, supported <m>.`` of each row, built once
    per distinct (key, code, billed, supported) combination."""
    combo = diff.groupby(["finding", "hcpcs", "billed_units", "expected_units"], sort=False, dropna=False).ngroup()
    u = diff[~combo.duplicated().to_numpy()]  # first row of each combination, in ngroup order
    head = (_capitalised(u["finding"].map(MEANING)) + ": " + u["hcpcs"] + " billed "
            + _text(u["billed_units"]) + ", supported " + _text(u["expected_units"]) + ".")
    return head.to_numpy(dtype=object)[combo.to_numpy()]


def _sentence(diff: pd.DataFrame, detail: pd.Series, expected_summary: pd.Series,
              billed_summary: pd.Series) -> pd.Series:
    """One sentence a coder can act on: the rule, the units, the MAR facts."""
    tail = (" MAR supports " + _text(expected_summary.fillna("nothing")) + "; billed "
            + _text(billed_summary.fillna("nothing")) + ".")
    body = np.where(detail != "", " " + _text(detail) + ".", "")
    return pd.Series(_heads(diff), index=diff.index, dtype=object) + body + tail


def explain(diff: pd.DataFrame, lines: pd.DataFrame, f: pd.DataFrame,
            min_overlap_minutes: int) -> tuple[pd.Series, pd.Series]:
    """Evidence and explanation of each keyed difference.

    Args:
        diff: differences with their ``finding`` key and the expected
            line's ``evidence``.
        lines: every (encounter, code) of :func:`transforms.findings.matching.match_lines`.
        f: :func:`transforms.findings.facts.row_facts` of ``diff``.
        min_overlap_minutes: the policy's concurrent minimum, quoted.

    Returns:
        ``(evidence, explanation)``, both aligned with ``diff``.
    """
    k = diff["finding"]
    ev = diff["evidence"].astype(object)
    detail = "Evidence: " + _text(diff["evidence"])
    # Detail sentences are built only on the rows whose key has one (keys, not rows, are looped).
    own = k.isin(_SPECIFIC_KEYS).to_numpy()
    for key in pd.unique(k[own]) if own.any() else []:
        at = (k == key).to_numpy()
        ev_k, text_k = _specific(_Rows(diff, at), _Rows(f, at), min_overlap_minutes)[key]()
        sel = (ev_k.notna() & (_text(ev_k) != "")).to_numpy()
        if sel.any():
            rows = ev_k.index[sel]
            ev.loc[rows] = ev_k[rows].to_numpy(dtype=object)
            detail.loc[rows] = _capitalised(_text(text_k[rows])).to_numpy(dtype=object)
    # No evidence at all: no "Evidence:" clause (the rows without evidence are few: only they are looked at).
    bare = diff["evidence"].astype(str).eq("").to_numpy()
    if bare.any():
        bare[bare] = detail[bare].str.startswith("Evidence: ").to_numpy(dtype=bool)
        detail = detail.mask(bare, pd.Series("", index=diff.index, dtype=object))
    e = diff["encounter_id"]
    # Only these encounters are summarised (codes of match_lines, no text lookup).
    lines = lines[np.isin(lines["enc_code"].to_numpy(), diff["enc_code"].to_numpy())]
    explanation = _sentence(diff, detail, e.map(_summary(lines[lines["expected_units"] > 0], "expected_units")),
                            e.map(_summary(lines[lines["billed_units"] > 0], "billed_units")))
    setting_only = (k == _SETTING_ONLY).to_numpy()
    if setting_only.any():
        for key, sentence in _own_sentences(diff[setting_only]).items():
            explanation.loc[sentence.index] = sentence.to_numpy(dtype=object)
    return ev.fillna(""), explanation
