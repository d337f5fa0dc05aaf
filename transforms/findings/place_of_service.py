"""Physician drug-administration lines billed in a facility place of service (R-K1).

In a facility place of service (:data:`transforms.vocab.codes.FACILITY_POS`)
the hospital, not the physician, reports drug administration. Such lines are
not compared with the MAR at all (no expected lines exist for them): each
(encounter, claim, code) becomes one ``professional_in_facility_pos`` finding
with every billed unit over-billed.
"""

from __future__ import annotations

import pandas as pd

from transforms.frames import map_distinct
from transforms.vocab.codes import FACILITY_POS, SETTING_PROFESSIONAL


def in_facility_pos(billed: pd.DataFrame) -> pd.Series:
    """True for a professional claim line whose place of service is a facility."""
    professional = billed["claim_type"] == SETTING_PROFESSIONAL
    if "place_of_service" not in billed or not professional.any():
        return professional & False
    # Each distinct place-of-service text is stripped and looked up once.
    facility = map_distinct(billed["place_of_service"], _is_facility_pos).astype(bool)
    return professional & facility


def _is_facility_pos(pos: object) -> bool:
    """True when one place-of-service value (text, number or null) is a facility's."""
    return not pd.isna(pos) and str(pos).strip() in FACILITY_POS


def professional_in_facility_pos(lines: pd.DataFrame) -> pd.DataFrame:
    """One finding per (encounter, claim, code) of ``lines`` (the
    :func:`in_facility_pos` lines), units summed; not annotated."""
    agg = lines.groupby(["encounter_id", "claim_id", "hcpcs"], as_index=False).agg(
        billed_units=("units", "sum"), pos=("place_of_service", "first")
    )
    return agg.assign(
        expected_units=0,
        finding="professional_in_facility_pos",
        setting=SETTING_PROFESSIONAL,
        evidence="claim " + agg["claim_id"].astype(str) + " place of service " + agg["pos"].astype(str),
        explanation="Physician claim bills " + agg["hcpcs"] + " x" + agg["billed_units"].astype(str)
        + " in place of service " + agg["pos"].astype(str)
        + ", a facility setting where the hospital, not the physician, reports drug administration.",
    )
