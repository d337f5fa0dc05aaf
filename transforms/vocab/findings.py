"""Finding keys, their directions and severities: the findings' vocabulary.

Keys are stable: the lake, the dashboards and the coders' worklists rely on
them. Each key has a direction and a one-line meaning (our own words, with the
rule id of ../shared/domain/coding-rules.md).
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
