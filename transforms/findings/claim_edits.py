"""NCCI claim-edit checks: claim lines -> ``mue_exceeded`` and ``ptp_pair_without_modifier``.

The edit tables themselves (MUE values, PTP pairs) are reference data, read
by :mod:`transforms.reference.ncci`; this module only checks canonical claim
lines against them (R-M1 ... R-M4 of ``../shared/domain/coding-rules.md``).
The checks see the claim alone, never the MAR, so they may restate a MAR
finding of the same line.

* ``mue_exceeded`` (R-M3): units above the MUE of the claim's setting, per
  line under MAI 1, per claim, code and date of service (all lines added up)
  under MAI 2 and 3. The audit has no billing-provider id, so lines of
  different claims are never added together. An unpublished MUE value (NaN)
  means "unknown": the code is not checked.
* ``ptp_pair_without_modifier`` (R-M1): both codes of an active edit on one
  claim and date of service, the column 2 code being denied, unless the
  indicator is ``1`` and either line carries 59, XE, XS, XP or XU. Indicator
  ``0`` is never bypassed; ``9`` (deleted / not applicable) never fires. An
  edit is active on a date ``d`` when ``effective <= d`` and (no deletion
  date or ``d < deletion``).

Only drug-administration codes (96360-96379, 96401-96549) are checked for
MUEs; a PTP pair is checked when either of its codes is one. Vectorised: no
loop over rows.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from transforms.frames import map_distinct
from transforms.reference.ncci import EditTables
from transforms.vocab.codes import SETTING_FACILITY, SETTING_PROFESSIONAL, is_drug_admin_code
from transforms.vocab.findings import OVER

#: Modifiers that let an indicator-1 PTP pair through (R-M1).
PTP_BYPASS_MODIFIERS: frozenset[str] = frozenset({"59", "XE", "XS", "XP", "XU"})
#: Columns of every claim-edit finding (annotated later with the others).
EDIT_FINDING_COLUMNS: tuple[str, ...] = (
    "encounter_id", "claim_id", "hcpcs", "billed_units", "expected_units", "finding", "explanation",
    "direction", "setting", "evidence",
)
_BYPASS_RE = r"(?:^|,)\s*(?:" + "|".join(sorted(PTP_BYPASS_MODIFIERS)) + r")\s*(?:,|$)"
_LINE_COLUMNS = ["claim_id", "encounter_id", "setting", "dos", "line_number", "hcpcs", "units", "modifiers", "bypass"]
_PAIR_KEYS = ["claim_id", "encounter_id", "setting", "dos", "hcpcs_2", "hcpcs_1", "modifier_indicator", "rationale"]


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _claim_lines(claims: pd.DataFrame) -> pd.DataFrame:
    """Claim lines with ``setting``, a datetime ``dos`` and a text ``modifiers``."""
    c = claims[["claim_id", "encounter_id", "claim_type", "line_number", "service_date", "hcpcs", "units"]].copy()
    c["modifiers"] = claims["modifiers"].fillna("").astype(str) if "modifiers" in claims else ""
    c["setting"] = np.where(c["claim_type"] == SETTING_PROFESSIONAL, SETTING_PROFESSIONAL, SETTING_FACILITY)
    c["dos"] = pd.to_datetime(c["service_date"])
    c["units"] = c["units"].astype("int64")
    c["hcpcs"] = c["hcpcs"].astype(str)
    return c


def _date_text(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d")


# --- MUE ------------------------------------------------------------------------------
def _mue_hits(lines: pd.DataFrame, mue: pd.DataFrame) -> pd.DataFrame:
    """Lines (MAI 1) and claim-date totals (MAI 2/3) above a known MUE value."""
    known = mue[mue["mue"].notna()]  # an unpublished value is unknown: not checked, not "no edit"
    m = lines.merge(known[["hcpcs", "setting", "mue", "mai", "mai_label", "rationale"]], on=["hcpcs", "setting"])
    if m.empty:
        return m
    m["line_text"] = "line " + m["line_number"].astype(str) + " (" + m["units"].astype(str) + " units)"
    per_line = m[(m["mai"] == 1) & (m["units"] > m["mue"])]
    keys = ["claim_id", "encounter_id", "setting", "dos", "hcpcs", "mue", "mai", "mai_label", "rationale"]
    dated = m[m["mai"] != 1].sort_values("line_number", kind="mergesort")
    per_date = dated.groupby(keys, as_index=False, sort=False).agg(
        units=("units", "sum"), line_text=("line_text", ", ".join)
    )
    per_date = per_date[per_date["units"] > per_date["mue"]]
    return pd.concat([per_line[keys + ["units", "line_text"]], per_date], ignore_index=True)


def mue_findings(claims: pd.DataFrame, mue: pd.DataFrame) -> pd.DataFrame:
    """``mue_exceeded`` findings: units over the MUE (R-M3).

    Args:
        claims: canonical claim lines (kept rows).
        mue: the ``mue`` table of :class:`~transforms.reference.ncci.EditTables`.

    Returns:
        :data:`EDIT_FINDING_COLUMNS`; ``billed_units`` is the line's units
        (MAI 1) or the claim's units of the code on that date (MAI 2/3),
        ``expected_units`` the MUE value.
    """
    lines = _claim_lines(claims)
    hits = _mue_hits(lines[map_distinct(lines["hcpcs"], is_drug_admin_code).astype(bool)], mue)
    if hits.empty:
        return _empty(EDIT_FINDING_COLUMNS)
    mue_units = hits["mue"].astype("int64")
    scope = np.where(hits["mai"] == 1, "on one line", "on one date of service (all lines added)")
    consequence = np.select(
        [hits["mai"] == 1, hits["mai"] == 2],
        ["the line's units deny", "all units of the date deny and the denial cannot be appealed"],
        default="all units of the date deny unless an appeal documents the medical need",
    )
    out = pd.DataFrame(
        {
            "encounter_id": hits["encounter_id"],
            "claim_id": hits["claim_id"],
            "hcpcs": hits["hcpcs"],
            "billed_units": hits["units"].astype("int64"),
            "expected_units": mue_units,
            "finding": "mue_exceeded",
            "explanation": hits["hcpcs"] + " billed " + hits["units"].astype(str) + " units " + scope + " on "
            + _date_text(hits["dos"]) + "; the " + hits["setting"] + " MUE is " + mue_units.astype(str)
            + " (MAI " + hits["mai_label"] + ", rationale " + hits["rationale"] + "): " + consequence + ".",
            "direction": OVER,
            "setting": hits["setting"],
            "evidence": "claim " + hits["claim_id"].astype(str) + " " + _date_text(hits["dos"]) + " "
            + hits["hcpcs"] + ": " + hits["line_text"],
        }
    )
    return out[list(EDIT_FINDING_COLUMNS)]


# --- PTP ------------------------------------------------------------------------------
def _ptp_hits(lines: pd.DataFrame, ptp: pd.DataFrame) -> pd.DataFrame:
    """Pairs of lines (column 1 ``_1``, column 2 ``_2``) on one claim and date
    that an active, non-bypassed edit denies."""
    codes = set(lines["hcpcs"])
    edits = ptp[ptp["column1"].isin(codes) & ptp["column2"].isin(codes) & (ptp["modifier_indicator"] != "9")]
    edits = edits[map_distinct(edits["column1"], is_drug_admin_code).astype(bool)
                  | map_distinct(edits["column2"], is_drug_admin_code).astype(bool)]
    if edits.empty or lines.empty:
        return edits.iloc[:0]
    lines["bypass"] = lines["modifiers"].str.upper().str.replace(" ", "", regex=False).str.contains(_BYPASS_RE,
                                                                                                    regex=True)
    per_line = ("line_number", "hcpcs", "units", "modifiers", "bypass")
    one = lines[_LINE_COLUMNS].rename(columns={c: f"{c}_1" for c in per_line})
    two = lines[_LINE_COLUMNS].rename(columns={c: f"{c}_2" for c in per_line})
    pairs = one.merge(two, on=["claim_id", "encounter_id", "setting", "dos"])
    pairs = pairs.merge(edits, left_on=["hcpcs_1", "hcpcs_2", "setting"], right_on=["column1", "column2", "setting"])
    active = (pairs["effective"] <= pairs["dos"]) & (pairs["deletion"].isna() | (pairs["dos"] < pairs["deletion"]))
    allowed = (pairs["modifier_indicator"] == "1") & (pairs["bypass_1"] | pairs["bypass_2"])
    return pairs[active & ~allowed]


def _ptp_groups(hits: pd.DataFrame) -> pd.DataFrame:
    """One row per denied pair (:data:`_PAIR_KEYS`): the column 2 units and the
    text of both sides' lines, in line order."""
    col2_lines = hits.drop_duplicates(_PAIR_KEYS + ["line_number_2"]).sort_values("line_number_2", kind="mergesort")
    col2_lines = col2_lines.assign(
        text=col2_lines["hcpcs_2"] + " line " + col2_lines["line_number_2"].astype(str) + " x"
        + col2_lines["units_2"].astype(str) + np.where(col2_lines["modifiers_2"] != "",
                                                        " -" + col2_lines["modifiers_2"], "")
    )
    g = col2_lines.groupby(_PAIR_KEYS, as_index=False, sort=False).agg(
        units=("units_2", "sum"), text=("text", "; ".join))
    col1_lines = hits.drop_duplicates(_PAIR_KEYS + ["line_number_1"]).sort_values("line_number_1", kind="mergesort")
    col1_lines = col1_lines.assign(
        text1=col1_lines["hcpcs_1"] + " line " + col1_lines["line_number_1"].astype(str)
        + np.where(col1_lines["modifiers_1"] != "", " -" + col1_lines["modifiers_1"], "")
    )
    return g.merge(col1_lines.groupby(_PAIR_KEYS, as_index=False, sort=False).agg(text1=("text1", "; ".join)),
                   on=_PAIR_KEYS)


def ptp_findings(claims: pd.DataFrame, ptp: pd.DataFrame) -> pd.DataFrame:
    """``ptp_pair_without_modifier`` findings (R-M1).

    Args:
        claims: canonical claim lines (kept rows).
        ptp: the ``ptp`` table of :class:`~transforms.reference.ncci.EditTables`.

    Returns:
        :data:`EDIT_FINDING_COLUMNS`, one row per (claim, date, column 2
        code, column 1 code); ``hcpcs`` is the denied column 2 code,
        ``billed_units`` its units on that claim and date, ``expected_units``
        0.
    """
    hits = _ptp_hits(_claim_lines(claims), ptp)
    if hits.empty:
        return _empty(EDIT_FINDING_COLUMNS)
    g = _ptp_groups(hits)
    how = np.where(
        g["modifier_indicator"] == "0",
        "modifier indicator 0: no modifier can bypass it, so " + g["hcpcs_2"] + " is not payable with "
        + g["hcpcs_1"],
        "modifier indicator 1: neither line carries 59, XE, XS, XP or XU, which only documentation of a "
        "separate site, encounter or practitioner would support",
    )
    out = pd.DataFrame(
        {
            "encounter_id": g["encounter_id"],
            "claim_id": g["claim_id"],
            "hcpcs": g["hcpcs_2"],
            "billed_units": g["units"].astype("int64"),
            "expected_units": 0,
            "finding": "ptp_pair_without_modifier",
            "explanation": g["hcpcs_2"] + " and " + g["hcpcs_1"] + " billed on one claim on " + _date_text(g["dos"])
            + " form an NCCI " + g["setting"] + " PTP pair (column 1 " + g["hcpcs_1"] + ", column 2 "
            + g["hcpcs_2"] + ", rationale: " + g["rationale"] + "); " + how + ".",
            "direction": OVER,
            "setting": g["setting"],
            "evidence": "claim " + g["claim_id"].astype(str) + " " + _date_text(g["dos"]) + ": " + g["text"]
            + " | with " + g["text1"],
        }
    )
    return out[list(EDIT_FINDING_COLUMNS)]


def check_edits(claims: pd.DataFrame, tables: EditTables) -> pd.DataFrame:
    """All NCCI findings (MUE then PTP) for canonical claim lines.

    Returns:
        :data:`EDIT_FINDING_COLUMNS`, sorted by encounter, claim, code and key;
        not annotated (direction is set, severity and dollars are not).
    """
    parts = [f for f in (mue_findings(claims, tables.mue), ptp_findings(claims, tables.ptp)) if not f.empty]
    if not parts:
        return _empty(EDIT_FINDING_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["encounter_id", "claim_id", "hcpcs", "finding"], kind="mergesort").reset_index(drop=True)
