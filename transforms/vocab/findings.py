"""Finding keys, their directions and severities: the findings' vocabulary.

Keys are stable: the lake, the dashboards and the coders' worklists rely on
them. Each key has a direction and a one-line meaning (our own words, with the
rule id of ../shared/domain/coding-rules.md), a short plain title for people
(:data:`TITLE`) and what to check first (:data:`CHECK`); ``docs/findings.md``
is generated from them (``python -m transforms.outputs.finding_docs``).
"""

from __future__ import annotations

OVER = "over_billed"
UNDER = "under_billed"
DOCUMENTATION = "documentation"
HIGH = "high"
MEDIUM = "medium"
LOW = "low"
#: Severities, most urgent first: the one order of every list and report.
SEVERITIES: tuple[str, ...] = (HIGH, MEDIUM, LOW)
#: Sort rank of a severity (0 = act first).
SEVERITY_ORDER: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}

# The stable vocabulary of finding keys: key -> (direction, meaning).
FINDING_KEYS: dict[str, tuple[str, str]] = {
    # --- concurrent 96368 ---------------------------------------------------
    "concurrent_billed_twice": (OVER, "96368 billed more than once for one encounter (R-E1)"),
    "concurrent_different_sites": (
        OVER, "96368 billed but the overlapping drug infusions ran through two different access sites: "
        "that is two initial services (second one with XU), not a concurrent infusion (R-B3)"),
    "concurrent_mixed_bag": (OVER, "96368 billed although the drugs were mixed in one bag (R-D5)"),
    "concurrent_with_hydration": (
        OVER, "96368 billed but the only infusion overlapping a drug was hydration (R-E4)"),
    "concurrent_no_overlap": (
        OVER, "96368 billed but no two separate drug infusates overlapped for the policy minimum on one "
        "access site (R-E2, D4)"),
    "concurrent_not_supported": (
        OVER, "96368 billed for an overlap the rules do not code as concurrent (e.g. two chemo infusions, "
        "D13, or an overlap beyond the one concurrent unit, D12)"),
    "concurrent_missed": (UNDER, "two separate infusates overlapped on one access but 96368 was not billed"),
    # --- sequential --------------------------------------------------------------
    "sequential_same_drug": (
        OVER, "96367/96417 billed for a new bag of the same drug (its time belongs on the additional-hour "
        "code, R-D4)"),
    "sequential_not_supported": (OVER, "96367/96417 billed without a sequential infusion of a new drug"),
    "sequential_missed": (UNDER, "a sequential infusion of a new drug was not billed"),
    # --- initial service -----------------------------------------------------------
    "second_initial_without_second_site": (
        OVER, "a second initial code without a second access site in use at the same time (R-B1, R-B4)"),
    "second_initial_missed": (
        UNDER, "a second access site was in use at the same time as the first (its own initial service, "
        "with XU) but only one initial code was billed (R-B3)"),
    "separate_visit_without_modifier": (
        OVER, "a second initial code for a documented separate visit inside the encounter billed without 59 or "
        "XE (R-B5, D10)"),
    "initial_wrong_family": (
        OVER, "initial code does not follow the hierarchy (chemo > therapeutic > hydration, infusion > push, "
        "R-A2)"),
    # --- time rules ------------------------------------------------------------------
    "infusion_under_16_minutes": (
        OVER, "an infusion code billed for an administration of 15 active minutes or less, which is a push "
        "or injection (R-C2)"),
    "additional_hours_overcounted": (OVER, "more additional-hour units than the active minutes support (R-C3)"),
    "additional_hours_undercounted": (UNDER, "fewer additional-hour units than the active minutes support (R-C3)"),
    # --- hydration ---------------------------------------------------------------------
    "hydration_during_drug": (OVER, "hydration billed for minutes when a drug was running (R-G7)"),
    "hydration_under_31_minutes": (OVER, "hydration billed with fewer than 31 creditable minutes (R-C4)"),
    # --- pushes ---------------------------------------------------------------------------
    "repeat_push_within_30_minutes": (
        OVER, "96376 billed for a repeat push of the same drug 30 minutes or less after the last one (R-F2)"),
    "repeat_push_not_supported": (OVER, "96376 billed without any repeat push of the same drug"),
    "push_not_supported": (OVER, "push code billed without a supporting push"),
    "push_missed": (UNDER, "a push charted on the MAR was not billed"),
    # --- prolonged pump (R-H8) ---------------------------------------------------------
    "pump_start_billed_as_push_or_hours": (
        OVER, "a pump start (a prolonged infusion started on a pump: 96416 chemo, C8957 non-chemo on the "
        "facility claim) billed as a push, an infusion or its additional hours; a pump start is never a push "
        "and its time never counts toward the hours (R-H8)"),
    "pump_code_without_pump_start": (
        OVER, "96416 or C8957 billed but no pump start charted on the MAR (a pump left running, or one "
        "running more than 8 hours) (R-H8)"),
    # --- whole encounter / residual --------------------------------------------------------
    "code_not_supported": (OVER, "code billed but not supported by the MAR"),
    "code_missed": (UNDER, "code supported by the MAR but not billed"),
    "administration_not_billed": (UNDER, "administrations charted but no drug-administration line billed"),
    "no_administration_charted": (OVER, "drug-administration lines billed but nothing charted on the MAR"),
    # --- setting -----------------------------------------------------------------------------
    "professional_in_facility_pos": (
        OVER, "physician claim bills drug administration in a facility place of service (R-K1)"),
    "facility_only_code_on_professional": (
        OVER, "a facility-only code (96376) billed on a physician claim (R-F2)"),
    # --- NCCI claim edits (transforms.findings.claim_edits; from the claim alone, may restate a MAR finding) ----
    "mue_exceeded": (OVER, "units above the CMS MUE of the setting, per line (MAI 1) or per date (MAI 2/3) (R-M3)"),
    "ptp_pair_without_modifier": (
        OVER, "both codes of an NCCI PTP edit on one claim and date, without a modifier the edit allows (R-M1)"),
    # --- documentation -----------------------------------------------------------------------
    "missing_stop_time": (DOCUMENTATION, "an infusion was started but no stop time was charted (D3)"),
    "drug_not_classified": (DOCUMENTATION, "a charted drug is not in the drug reference, so it was not coded"),
    "mar_event_not_used": (
        DOCUMENTATION, "an infusion event on the MAR that its bag's sequence does not allow (a stop with no start "
        "before it, a second stop, a rate change or pause on a stopped or never-started bag) was left out of the "
        "timed minutes (R-C1, R-C9)"),
}

DIRECTION: dict[str, str] = {k: v[0] for k, v in FINDING_KEYS.items()}
MEANING: dict[str, str] = {k: v[1] for k, v in FINDING_KEYS.items()}
# Over-billing keys that are high whatever the code: the whole line is wrong.
HIGH_KEYS: frozenset[str] = frozenset(
    {"second_initial_without_second_site", "no_administration_charted", "professional_in_facility_pos",
     "facility_only_code_on_professional"}
)

#: A short plain-language title per key, for people (reports, worklists, docs): our own words,
#: never a code descriptor. The key stays the stable identifier; the title may be reworded.
TITLE: dict[str, str] = {
    "concurrent_billed_twice": "Concurrent infusion billed twice",
    "concurrent_different_sites": "Concurrent infusion billed across two access sites",
    "concurrent_mixed_bag": "Concurrent infusion billed for drugs mixed in one bag",
    "concurrent_with_hydration": "Concurrent infusion billed beside hydration only",
    "concurrent_no_overlap": "Concurrent infusion billed without an overlap",
    "concurrent_not_supported": "Concurrent infusion the rules do not allow",
    "concurrent_missed": "Concurrent infusion not billed",
    "sequential_same_drug": "Sequential infusion billed for the same drug",
    "sequential_not_supported": "Sequential infusion not supported",
    "sequential_missed": "Sequential infusion not billed",
    "second_initial_without_second_site": "Second initial service without a second site",
    "second_initial_missed": "Second initial service not billed",
    "separate_visit_without_modifier": "Separate visit's initial code without 59 or XE",
    "initial_wrong_family": "Initial code out of the hierarchy",
    "infusion_under_16_minutes": "Infusion code for 15 minutes or less",
    "additional_hours_overcounted": "Too many additional hours billed",
    "additional_hours_undercounted": "Additional hours not all billed",
    "hydration_during_drug": "Hydration billed while a drug ran",
    "hydration_under_31_minutes": "Hydration under 31 minutes",
    "repeat_push_within_30_minutes": "Repeat push within 30 minutes",
    "repeat_push_not_supported": "Repeat push not supported",
    "push_not_supported": "Push not supported",
    "push_missed": "Push not billed",
    "pump_start_billed_as_push_or_hours": "Pump start billed as a push or infusion hours",
    "pump_code_without_pump_start": "Pump start billed, no pump charted",
    "code_not_supported": "Code not supported by the MAR",
    "code_missed": "Code supported but not billed",
    "administration_not_billed": "Charted, nothing billed",
    "no_administration_charted": "Billed, nothing charted",
    "professional_in_facility_pos": "Physician claim in a facility place of service",
    "facility_only_code_on_professional": "Facility-only code on a physician claim",
    "mue_exceeded": "Units above the MUE limit",
    "ptp_pair_without_modifier": "NCCI code pair without a modifier",
    "missing_stop_time": "Infusion without a stop time",
    "drug_not_classified": "Drug not in the drug reference",
    "mar_event_not_used": "MAR event left out of the timing",
}

#: What a coder checks first for each key (on the MAR or the claim), in our own words.
CHECK: dict[str, str] = {
    "concurrent_billed_twice": "Keep one concurrent unit per encounter; look for a duplicated charge line.",
    "concurrent_different_sites": "Confirm both access sites on the MAR; if both were in use at once, bill a "
    "second initial service with XU instead of 96368.",
    "concurrent_mixed_bag": "Check the bag's components on the MAR: drugs mixed in one bag are one infusion.",
    "concurrent_with_hydration": "Check that the overlapping infusion was a drug, not a plain fluid.",
    "concurrent_no_overlap": "Compare the start and stop times of the two drug infusions on the one access.",
    "concurrent_not_supported": "Check the drugs' classes and how many overlaps were billed against the policy.",
    "concurrent_missed": "Confirm the overlap times and the shared access site, then add 96368.",
    "sequential_same_drug": "Move the new bag's time onto the additional-hour code of the first infusion.",
    "sequential_not_supported": "Look on the MAR for a second, different drug infused after the first.",
    "sequential_missed": "Confirm the second drug and its minutes, then add the sequential code.",
    "second_initial_without_second_site": "Check the access sites charted: without a second site in use at the "
    "same time, only one initial code.",
    "second_initial_missed": "Confirm both sites were in use at once, then add the second initial code with XU.",
    "separate_visit_without_modifier": "Confirm the visits were separate (the patient left and returned), then "
    "add 59 or XE to the second initial code.",
    "initial_wrong_family": "Re-order the lines: chemotherapy before therapeutic before hydration, infusion "
    "before push.",
    "infusion_under_16_minutes": "Check the start and stop times; 15 active minutes or less is a push or "
    "injection.",
    "additional_hours_overcounted": "Recount the active minutes (pauses left out) against the hour thresholds.",
    "additional_hours_undercounted": "Recount the active minutes; add the missing hour units.",
    "hydration_during_drug": "Take out the minutes a drug infusion ran alongside the fluid; only the rest counts.",
    "hydration_under_31_minutes": "Check the fluid's start and stop: fewer than 31 creditable minutes is not "
    "billed.",
    "repeat_push_within_30_minutes": "Check the times of the two pushes of the same drug.",
    "repeat_push_not_supported": "Look on the MAR for a second push of the same drug.",
    "push_not_supported": "Look on the MAR for the push (time, route); remove the line if there is none.",
    "push_missed": "Confirm the push on the MAR and add the push code.",
    "pump_start_billed_as_push_or_hours": "Check the route of the pump on the MAR; bill the pump start (96416, or "
    "C8957 for a non-chemo drug) instead of the push or the hours.",
    "pump_code_without_pump_start": "Look on the MAR for a drug started on a pump (route pump); a pump "
    "disconnected within 8 hours is coded by its time.",
    "code_not_supported": "Look for the administration the line bills; remove the line if none was charted.",
    "code_missed": "Confirm the administration on the MAR and add the line.",
    "administration_not_billed": "Check whether the claim is still to come, was held or was dropped.",
    "no_administration_charted": "Look for a MAR in another system or a wrong encounter number.",
    "professional_in_facility_pos": "In a facility the hospital bills the administration: take it off the "
    "physician claim.",
    "facility_only_code_on_professional": "Take 96376 off the physician claim.",
    "mue_exceeded": "Check the units per line and per date against the MUE; correct or document them.",
    "ptp_pair_without_modifier": "Check whether the two services were distinct; add the modifier the edit allows "
    "or remove the second code.",
    "missing_stop_time": "Ask for the stop time to be charted: the units depend on it.",
    "drug_not_classified": "Add the drug to the drug reference (drugs.csv) with its class.",
    "mar_event_not_used": "Read the bag's start, stop, rate changes and pauses in order on the MAR.",
}


def title_of(key: str) -> str:
    """The plain title of a finding key; an unknown key is shown as itself."""
    return TITLE.get(key, key)

#: Where each finding's ``dollar_impact`` comes from (``price_basis`` of
#: ``findings.csv``): the reason a line shows no dollars or $0 is read from
#: it, never guessed. Values and what they mean.
PRICE_FEE_SCHEDULE = "fee_schedule"
PRICE_NO_SEPARATE_PAYMENT = "no_separate_payment"
PRICE_REMITTANCE = "remittance_835"
PRICE_NOT_IN_SCHEDULE = "not_in_fee_schedule"
PRICE_NO_SCHEDULE = "no_fee_schedule"
PRICE_NOT_PRICED = "not_priced"
PRICE_BASES: dict[str, str] = {
    PRICE_FEE_SCHEDULE: "unit difference x the fee schedule's amount for the code and setting",
    PRICE_NO_SEPARATE_PAYMENT: "$0: the schedule's status for the code means no separate payment "
                               "(e.g. packaged under OPPS status N)",
    PRICE_REMITTANCE: "unit difference x the amount the payer paid per unit on the matched 835 line",
    PRICE_NOT_IN_SCHEDULE: "no dollars: the fee schedule does not list or does not price the code",
    PRICE_NO_SCHEDULE: "no dollars: the run had no fee schedule",
    PRICE_NOT_PRICED: "no dollars: a documentation finding, not a billing difference",
}
