"""The audit as one pure composition: classified MAR + claims -> findings.

``run_audit`` is what the CLI's ``audit`` command and the Prefect audit flow
both call, so the same code runs with or without an orchestrator.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from transforms.engine.coding import code_facility, code_lines, evidence_text
from transforms.findings.compare import annotate, compare
from transforms.engine.classify import classify_events
from transforms.reference.drugs import DrugReference
from transforms.reference.ncci import EditTables, check_edits
from transforms.reference.fees import FeeSchedule
from transforms.vocab.policy import Policy
from transforms.vocab.codes import (
    FACILITY_ONLY_CODES,
    FACILITY_POS,
    SETTING_FACILITY,
    SETTING_PROFESSIONAL,
    is_drug_admin_code,
)
from transforms.vocab.findings import MEANING
from transforms.vocab.schemas import EXPECTED_COLUMNS, FINDING_OUTPUT_COLUMNS
from transforms.engine.timeline import Timeline, build_timeline



@dataclass(frozen=True)
class AuditResult:
    """Everything one audit produces.

    Attributes:
        administrations: the reconstructed timeline, one row per service,
            push or injection, with its ``role`` and ``site_group``.
        expected_lines: contract ``expected_codes`` rows (both settings).
        findings: contract ``findings`` rows plus ``direction``,
            ``severity``, ``dollar_impact``, ``setting`` and ``evidence``
            (:data:`transforms.vocab.schemas.FINDING_OUTPUT_COLUMNS`).
    """

    administrations: pd.DataFrame
    expected_lines: pd.DataFrame
    findings: pd.DataFrame


def _only(timeline: Timeline, encounters: set[str]) -> Timeline:
    """The part of ``timeline`` that belongs to ``encounters``."""
    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["encounter_id"].isin(encounters)]

    return Timeline(keep(timeline.blocks), keep(timeline.administrations), keep(timeline.missing_stops))


def _pos_findings(lines: pd.DataFrame) -> pd.DataFrame:
    """Professional drug-administration lines billed in a facility POS."""
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


def run_audit(
    mar: pd.DataFrame,
    claims: pd.DataFrame,
    reference: DrugReference,
    policy: Policy,
    facility_tz: str,
    edits: EditTables | None = None,
    fees: FeeSchedule | None = None,
) -> AuditResult:
    """Audit validated MAR events against validated claim lines.

    Args:
        mar: kept MAR rows (canonical, typed; ``event_time`` UTC).
        claims: kept claim lines (canonical, typed).
        reference: drug reference (see :mod:`transforms.reference.drugs`).
        policy: coding policy.
        facility_tz: IANA zone for line dates.
        edits: NCCI MUE / PTP tables (:mod:`transforms.reference.ncci`); ``None``
            skips the claim-edit checks (``mue_exceeded``,
            ``ptp_pair_without_modifier``).
        fees: fee schedule (:mod:`transforms.reference.fees`) for ``dollar_impact``;
            ``None`` leaves it empty (NaN).

    Returns:
        :class:`AuditResult`. Encounters present only in the MAR are audited
        against an empty claim (``administration_not_billed``); encounters
        billed without a MAR get ``no_administration_charted``. Every finding
        has a key of :data:`transforms.vocab.findings.FINDING_KEYS`, its direction,
        severity and dollar impact.
    """
    events = classify_events(mar, reference, policy)
    timeline = build_timeline(events, policy)
    coding = code_facility(timeline, policy, facility_tz)
    admins = timeline.administrations.merge(coding.roles, on=["admin_id", "encounter_id"], how="left")
    admins["evidence"] = evidence_text(admins, facility_tz)
    fac = coding.expected_lines

    billed = claims[claims["hcpcs"].map(is_drug_admin_code).astype(bool)]
    pos = billed.get("place_of_service", pd.Series(index=billed.index, dtype=object)).fillna("").astype(str)
    prof = billed["claim_type"] == "professional"
    in_facility_pos = prof & pos.str.strip().isin(FACILITY_POS)
    prof_encounters = set(billed.loc[prof & ~in_facility_pos, "encounter_id"])
    inst_encounters = set(billed.loc[~prof, "encounter_id"])

    # Facility comparison: institutional claims, and charted encounters that
    # no claim of either type covers.
    uncovered = set(admins["encounter_id"]) - inst_encounters - prof_encounters - set(
        billed.loc[in_facility_pos, "encounter_id"]
    )
    fac_enc = inst_encounters | uncovered
    fac_exp = fac[fac["encounter_id"].isin(fac_enc)]
    overlap = policy.concurrent_min_overlap_minutes
    fac_blocks = timeline.blocks[timeline.blocks["encounter_id"].isin(fac_enc)]
    f_fac = compare(
        fac_exp, billed[~prof], admins[admins["encounter_id"].isin(fac_enc)], coding.hydration,
        timeline.missing_stops[timeline.missing_stops["encounter_id"].isin(fac_enc)],
        fac_blocks, setting=SETTING_FACILITY, min_overlap_minutes=overlap,
    )
    prof_timeline = _only(timeline, prof_encounters)
    prof_coding = code_lines(prof_timeline, policy, facility_tz, SETTING_PROFESSIONAL)
    prof_exp = prof_coding.expected_lines
    f_prof = compare(
        prof_exp, billed[prof & ~in_facility_pos], admins[admins["encounter_id"].isin(prof_encounters)],
        prof_coding.hydration,
        timeline.missing_stops[timeline.missing_stops["encounter_id"].isin(prof_encounters - fac_enc)],
        prof_timeline.blocks, setting=SETTING_PROFESSIONAL, min_overlap_minutes=overlap,
    )
    prof_billed = billed[prof & ~in_facility_pos]
    facility_only = prof_billed[prof_billed["hcpcs"].isin(FACILITY_ONLY_CODES)]["encounter_id"]
    wrong_setting = (
        f_prof["hcpcs"].isin(FACILITY_ONLY_CODES) & f_prof["encounter_id"].isin(facility_only)
        & (f_prof["billed_units"] > f_prof["expected_units"])
    )
    f_prof.loc[wrong_setting, "finding"] = "facility_only_code_on_professional"
    f_prof.loc[wrong_setting, "explanation"] = (
        MEANING["facility_only_code_on_professional"][0].upper() + MEANING["facility_only_code_on_professional"][1:]
        + ": " + f_prof.loc[wrong_setting, "hcpcs"] + " billed " + f_prof.loc[wrong_setting, "billed_units"].astype(str)
        + " on the physician claim; only the hospital reports a repeat push of the same drug."
    )
    parts = [f_fac, f_prof]
    if in_facility_pos.any():
        parts.append(_pos_findings(billed[in_facility_pos]))
    if edits is not None:
        parts.append(check_edits(claims, edits))
    kept = [p for p in parts if not p.empty]
    findings = pd.concat(kept, ignore_index=True) if kept else f_fac
    # Direction, severity and dollars once, over every source of findings.
    findings = annotate(findings, fees)[list(FINDING_OUTPUT_COLUMNS)]
    findings = findings.sort_values(["encounter_id", "setting", "hcpcs", "finding"], kind="mergesort")

    expected = pd.concat([fac_exp.assign(setting=SETTING_FACILITY), prof_exp], ignore_index=True)
    expected = expected[list(EXPECTED_COLUMNS)].sort_values(
        ["encounter_id", "setting", "service_date", "hcpcs"], kind="mergesort"
    ).reset_index(drop=True)
    return AuditResult(
        administrations=admins, expected_lines=expected, findings=findings.reset_index(drop=True)
    )
