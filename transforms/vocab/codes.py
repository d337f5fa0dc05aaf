"""Drug-administration codes, code sets and time thresholds.

Rule ids (R-..) cite ../shared/domain/coding-rules.md. Each code has a short
label of our own (never the AMA descriptor).
"""

from __future__ import annotations

# --- claim settings ----------------------------------------------------------
SETTING_FACILITY = "facility"
SETTING_PROFESSIONAL = "professional"
SETTINGS: tuple[str, ...] = (SETTING_FACILITY, SETTING_PROFESSIONAL)

# --- single codes, by role ---------------------------------------------------
HYDRATION_INITIAL = "96360"      # hydration, first hour
HYDRATION_HOUR = "96361"         # hydration, each additional hour
THER_INITIAL = "96365"           # therapeutic IV infusion, first hour
THER_HOUR = "96366"              # therapeutic IV infusion, each additional hour
THER_SEQUENTIAL = "96367"        # sequential new-drug therapeutic infusion
CONCURRENT = "96368"             # concurrent infusion (once per encounter, R-E1)
SC_INITIAL = "96369"             # subcutaneous infusion, first hour
SC_HOUR = "96370"                # subcutaneous infusion, each additional hour
SC_NEW_SITE = "96371"            # further SC pump set-up with new site(s)
INJECTION = "96372"              # SC/IM injection
INTRA_ARTERIAL = "96373"         # intra-arterial injection
THER_PUSH = "96374"              # therapeutic IV push, initial
THER_PUSH_NEW_DRUG = "96375"     # sequential push of a new drug
REPEAT_PUSH = "96376"            # repeat push of the same drug (facility only, R-F2)
CHEMO_INJECTION = "96401"        # antineoplastic SC/IM injection, non-hormonal
CHEMO_INJECTION_HORMONAL = "96402"
CHEMO_PUSH = "96409"             # chemo push, initial
CHEMO_PUSH_NEW_DRUG = "96411"    # chemo push, each additional drug
CHEMO_INITIAL = "96413"          # chemo infusion, first hour
CHEMO_HOUR = "96415"             # chemo infusion, each additional hour
CHEMO_PUMP = "96416"             # prolonged chemo infusion started with a pump (R-H8)
CHEMO_SEQUENTIAL = "96417"       # sequential chemo infusion of a new drug
PUMP_REFILL = "96521"            # refill / maintenance of a portable pump (R-H8)
PUMP_REFILL_IMPLANTED = "96522"  # refill / maintenance of an implanted pump (R-H8)
#: OPPS (hospital outpatient, HCPCS level II) code of a prolonged non-chemo
#: infusion started with a pump (section 1, "Related"); not a CPT code.
NON_CHEMO_PUMP = "C8957"
CHEMO_INTRA_ARTERIAL = "96420"   # chemo intra-arterial push

#: Modifier of the initial line of a second, separate vascular access (R-B3).
SEPARATE_SITE_MODIFIER = "XU"

# --- code sets ------------------------------------------------------------------
INITIAL_CODES: frozenset[str] = frozenset(
    {HYDRATION_INITIAL, THER_INITIAL, THER_PUSH, CHEMO_PUSH, CHEMO_INITIAL, SC_INITIAL}
)
ADD_ON_HOUR_CODES: frozenset[str] = frozenset({HYDRATION_HOUR, THER_HOUR, CHEMO_HOUR, SC_HOUR})
HYDRATION_CODES: frozenset[str] = frozenset({HYDRATION_INITIAL, HYDRATION_HOUR})
SEQUENTIAL_CODES: frozenset[str] = frozenset({THER_SEQUENTIAL, CHEMO_SEQUENTIAL})
PUSH_CODES: frozenset[str] = frozenset({THER_PUSH_NEW_DRUG, CHEMO_PUSH_NEW_DRUG})
#: The codes that set a claim's structure: RAC and payer audit targets (R-B2).
STRUCTURAL_CODES: frozenset[str] = INITIAL_CODES | SEQUENTIAL_CODES | frozenset({CONCURRENT})
#: Codes only the hospital reports (R-F2, R-F3).
FACILITY_ONLY_CODES: frozenset[str] = frozenset({REPEAT_PUSH})
#: An infusion code of a family, and the family's codes for 15 minutes or
#: less (R-C2): therapeutic IV, chemo IV, subcutaneous.
INFUSION_FAMILIES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "ther": (frozenset({THER_INITIAL, THER_SEQUENTIAL}), frozenset({THER_PUSH, THER_PUSH_NEW_DRUG})),
    "chemo": (frozenset({CHEMO_INITIAL, CHEMO_SEQUENTIAL}), frozenset({CHEMO_PUSH, CHEMO_PUSH_NEW_DRUG})),
    "sc": (frozenset({SC_INITIAL}), frozenset({INJECTION, CHEMO_INJECTION, CHEMO_INJECTION_HORMONAL})),
}
#: Codes of the start of a prolonged (> 8 h) pump infusion (R-H8).
PUMP_START_CODES: frozenset[str] = frozenset({CHEMO_PUMP, NON_CHEMO_PUMP})
#: Codes a pump start is wrongly billed as: pushes, infusions and their hours
#: (a pump start is never a push and its time never counts as hours, R-H8).
PUMP_MISBILLED_CODES: frozenset[str] = frozenset(
    {THER_PUSH, THER_PUSH_NEW_DRUG, CHEMO_PUSH, CHEMO_PUSH_NEW_DRUG, THER_INITIAL, THER_HOUR, THER_SEQUENTIAL,
     CHEMO_INITIAL, CHEMO_HOUR, CHEMO_SEQUENTIAL}
)
#: Codes whose finding sums feature in the run summary: sequential and concurrent.
SEQUENTIAL_AND_CONCURRENT: tuple[str, ...] = (THER_SEQUENTIAL, CONCURRENT, CHEMO_SEQUENTIAL)

# --- places of service -------------------------------------------------------------
#: Places of service where the physician does not report drug administration
#: (R-K1: the facility does).
FACILITY_POS: frozenset[str] = frozenset(
    {"19", "21", "22", "23", "24", "25", "31", "32", "34", "51", "52", "54", "61", "62", "65"}
)

# --- time thresholds, minutes (section 0 formulas) ------------------------------------
PUSH_MAX_MINUTES = 15            # R-C2: 15 minutes or less is a push, 16 or more an infusion
FIRST_HOUR = 16                  # first unit of an infusion code
EXTRA_HOUR_FIRST = 91            # first additional hour: more than 30 minutes past the hour (R-C3)
HYDRATION_FIRST = 31             # hydration needs more than 30 minutes (R-C4)
HOUR = 60
REPEAT_PUSH_MINUTES = 30         # a repeat push counts only more than 30 minutes after the last (R-F2)
PROLONGED_PUMP_MINUTES = 8 * 60  # R-H8: 96416 is for a pump infusion of more than 8 hours


def is_drug_admin_code(hcpcs: str) -> bool:
    """True for 96360-96379, 96401-96549 and the OPPS pump start C8957: the
    codes the audit compares (C8957 is what the facility claim bills for a
    non-chemo pump start, so it is compared like 96416)."""
    if hcpcs == NON_CHEMO_PUMP:
        return True
    if len(hcpcs) != 5 or not hcpcs.isdigit():
        return False
    n = int(hcpcs)
    return 96360 <= n <= 96379 or 96401 <= n <= 96549
