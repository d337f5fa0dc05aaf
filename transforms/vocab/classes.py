"""Drug classes, their ranks, routes and unit spellings."""

from __future__ import annotations

CHEMO = "chemo"
THERAPEUTIC = "therapeutic"
HYDRATION = "hydration"
ELECTROLYTE = "electrolyte"
DILUENT = "diluent"
NOT_REPORTABLE = "not_reportable"
UNKNOWN = "unknown"

#: Classes of drugs whose administration is a drug service (not hydration).
DRUG_CLASSES: tuple[str, ...] = (CHEMO, THERAPEUTIC)
#: Classes that earn a code of their own.
CODED_CLASSES: tuple[str, ...] = (CHEMO, THERAPEUTIC, HYDRATION)
#: Classes that never earn a code of their own (an unknown drug is reported, not coded).
NOT_CODED_CLASSES: tuple[str, ...] = (DILUENT, NOT_REPORTABLE, UNKNOWN)
#: Reference classes of drugs.csv, highest rank first (the rank decides between aliases).
REFERENCE_CLASSES: tuple[str, ...] = (CHEMO, THERAPEUTIC, ELECTROLYTE, HYDRATION, DILUENT, NOT_REPORTABLE)
#: Classes the drug classifier can return (an electrolyte is resolved per row).
OUTPUT_CLASSES: tuple[str, ...] = (CHEMO, THERAPEUTIC, HYDRATION, DILUENT, NOT_REPORTABLE, UNKNOWN)
#: Rank of a class inside a mixed bag and in the facility hierarchy (R-A2).
CLASS_RANK: dict[str, int] = {
    CHEMO: 4, THERAPEUTIC: 3, HYDRATION: 2, DILUENT: 1, NOT_REPORTABLE: 0, UNKNOWN: -1,
}

# Facility hierarchy ranks of an initial service (R-A2): chemo > therapeutic,
# infusion > push; hydration is below both.
RANK_CHEMO_INFUSION = 6
RANK_CHEMO_PUSH = 5
RANK_THER_INFUSION = 4
RANK_THER_PUSH = 3
RANK_PRIMARY = 9  # professional claim: the charted main reason (R-A4)

# --- routes (subsets of the contract's schemas.ROUTES) ---------------------------------------
INFUSION_ROUTES: frozenset[str] = frozenset({"iv_infusion", "pump", "sc_infusion"})
INJECTION_ROUTES: frozenset[str] = frozenset({"sc_injection", "im_injection"})

# --- units ----------------------------------------------------------------------------------
#: Spellings of millilitres per hour in ``rate_unit``, lower case without spaces.
ML_PER_HOUR: frozenset[str] = frozenset({"ml/h", "ml/hr", "ml/hour", "mlperhour"})
