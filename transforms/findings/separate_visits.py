"""Separate visits inside one encounter: the second initial code's modifier.

A documented separate visit (a later, different ``visit_id``) has its own
initial service, billed with 59 or XE (R-B5, D10); the engine puts the
policy's ``separate_visit_modifier`` on that expected line. The per-code
diff (:mod:`transforms.findings.matching`) sums units and ignores
modifiers, so a second initial billed with the right units but without
either modifier is found here.

Invariants: one ``separate_visit_without_modifier`` row per (encounter,
code) whose expected lines carry a separate-visit modifier, whose billed
units cover the expected ones, and none of whose billed lines carries 59 or
XE; both unit columns are the encounter's totals of that code (equal or
more billed: a unit difference is keyed by the rules as well).
"""

from __future__ import annotations

import re

import pandas as pd

from transforms.frames import map_distinct
from transforms.vocab.codes import INITIAL_CODES
from transforms.vocab.policy import SEPARATE_VISIT_MODIFIERS

_SPLIT = re.compile(r"[^0-9A-Z]+")


def _holds_visit_modifier(modifiers: object) -> bool:
    """True when one modifiers text (``"59"``, ``"XE,JW"``, NaN) holds 59 or XE."""
    text = "" if modifiers is None or (isinstance(modifiers, float) and modifiers != modifiers) else str(modifiers)
    return any(part in SEPARATE_VISIT_MODIFIERS for part in _SPLIT.split(text.upper()))


def _has_visit_modifier(modifiers: pd.Series) -> pd.Series:
    """True where a modifiers text holds 59 or XE (each distinct text checked once)."""
    return map_distinct(modifiers, _holds_visit_modifier).astype(bool)


def visit_modifier_findings(expected: pd.DataFrame, billed: pd.DataFrame, claims: pd.Series) -> pd.DataFrame:
    """``separate_visit_without_modifier`` rows (R-B5, D10), not annotated.

    Args:
        expected: expected lines (``hcpcs``, ``modifiers``, ``units``, ``evidence``).
        billed: drug-administration claim lines (``hcpcs``, ``modifiers``, ``units``).
        claims: claim id per encounter.
    """
    initial = expected["hcpcs"].isin(INITIAL_CODES).to_numpy()
    if "modifiers" in expected:
        initial[initial] = _has_visit_modifier(expected["modifiers"][initial]).to_numpy()
    else:
        initial[:] = False
    visit_initial = expected[initial]
    want = visit_initial.groupby(["encounter_id", "hcpcs"], as_index=False).agg(
        evidence=("evidence", "first"))
    if want.empty:
        return want.assign(expected_units=0, billed_units=0, finding="", explanation="", claim_id="")
    # Only the encounters of a separate-visit initial line are totalled.
    mine = expected[expected["encounter_id"].isin(want["encounter_id"])]
    exp_units = mine.groupby(["encounter_id", "hcpcs"])["units"].sum().rename("expected_units")
    bil = billed[billed["hcpcs"].isin(want["hcpcs"]) & billed["encounter_id"].isin(want["encounter_id"])]
    bil_mods = bil["modifiers"] if "modifiers" in bil else pd.Series("", index=bil.index)
    got = bil.assign(_visit=_has_visit_modifier(bil_mods)).groupby(["encounter_id", "hcpcs"]).agg(
        billed_units=("units", "sum"), with_modifier=("_visit", "any"))
    rows = want.join(exp_units, on=["encounter_id", "hcpcs"]).join(got, on=["encounter_id", "hcpcs"])
    rows["billed_units"] = rows["billed_units"].fillna(0).astype("int64")
    rows["with_modifier"] = rows["with_modifier"].fillna(False).astype(bool)
    rows = rows[(rows["billed_units"] >= rows["expected_units"]) & ~rows["with_modifier"]]
    return pd.DataFrame({
        "encounter_id": rows["encounter_id"],
        "hcpcs": rows["hcpcs"],
        "billed_units": rows["billed_units"],
        "expected_units": rows["expected_units"].astype("int64"),
        "finding": "separate_visit_without_modifier",
        "explanation": rows["hcpcs"] + " is billed for a separate visit inside the encounter without 59 or XE; "
        "the second initial code needs the modifier (R-B5, D10).",
        "evidence": rows["evidence"],
        "claim_id": rows["encounter_id"].map(claims),
    }).reset_index(drop=True)
