"""Rule family 5: injections, chemo injections, SC infusion and pump start.

Services outside the IV hierarchy, each reported as given (R-A6): SC/IM
injections 96372, antineoplastic SC/IM injections 96401/96402 (R-H6),
intra-arterial 96373/96420, the start of a prolonged pump infusion 96416
(chemo) or C8957 (non-chemo, facility claim) and its refills 96521 (R-H8),
and subcutaneous infusions 96369/96370/96371 (R-C2, R-C3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.engine.items import ITEM_SOURCE_COLUMNS, FamilyLines, extra_hours, line_items, role_updates, select_rows
from transforms.frames import select_labels
from transforms.vocab.classes import CHEMO, DRUG_CLASSES
from transforms.vocab.codes import (
    CHEMO_INJECTION,
    CHEMO_INJECTION_HORMONAL,
    CHEMO_INTRA_ARTERIAL,
    CHEMO_PUMP,
    EXTRA_HOUR_FIRST,
    FIRST_HOUR,
    HOUR,
    INJECTION,
    INTRA_ARTERIAL,
    NON_CHEMO_PUMP,
    PUMP_REFILL,
    SC_HOUR,
    SC_INITIAL,
    SC_NEW_SITE,
    SETTING_FACILITY,
)


def _injection_code(injections: pd.DataFrame) -> np.ndarray:
    """96420 / 96373 intra-arterial (chemo / other), 96402 / 96401 chemo
    SC/IM injection (hormonal / not, R-H6), else 96372."""
    chemo = injections["drug_class"] == CHEMO
    intra_arterial = injections["kind"] == "intra_arterial"
    return np.select(
        [intra_arterial & chemo, intra_arterial, chemo & injections["hormonal"], chemo],
        [CHEMO_INTRA_ARTERIAL, INTRA_ARTERIAL, CHEMO_INJECTION_HORMONAL, CHEMO_INJECTION],
        default=INJECTION,
    )


def _sc_infusion_items(sc: pd.DataFrame) -> list[pd.DataFrame]:
    """The encounter's first SC infusion is 96369 plus 96370 for each hour
    more than 30 minutes past the first (R-C3); each later one is 96371."""
    sc = sc.sort_values(["encounter_id", "start"], kind="mergesort")
    first = sc.drop_duplicates("encounter_id")
    more = sc[~sc["admin_id"].isin(first["admin_id"])]
    return [
        line_items(first, hcpcs=SC_INITIAL, units=1, first_minute=FIRST_HOUR, step_minutes=0, rule_ids="R-C2"),
        line_items(first, hcpcs=SC_HOUR, units=extra_hours(first["minutes"]),
                   first_minute=EXTRA_HOUR_FIRST, step_minutes=HOUR, rule_ids="R-C3"),
        line_items(more, hcpcs=SC_NEW_SITE, units=1, first_minute=0, step_minutes=0, rule_ids="R-C2"),
    ]


def _pump_start_code(pumps: pd.DataFrame, setting: str) -> np.ndarray:
    """96416 for a chemo pump start (R-H8); for a non-chemo one C8957 on the
    facility claim (the OPPS code of section 1's "Related" row), ``""`` (not
    coded) on the physician claim: CPT has no such code and C8957 is OPPS only."""
    non_chemo = NON_CHEMO_PUMP if setting == SETTING_FACILITY else ""
    return np.where(pumps["drug_class"] == CHEMO, CHEMO_PUMP, non_chemo).astype(object)


def _pump_items(pumps: pd.DataFrame, setting: str) -> tuple[list[pd.DataFrame], pd.Series]:
    """Pump starts and refills (R-H8), and the roles of the pump administrations.

    The first pump administration of a drug in an encounter is its start:
    one line (:func:`_pump_start_code`), no minutes, no hours; its
    disconnect is included. Every further bag of that pump is a refill,
    96521: a later pump start of the same drug (one unit each, dated at it),
    or the extra bags of a timed pump (units = bags - 1, dated at its start).
    96522 (implanted pump) needs a pump-type signal the MAR contract does not
    carry, so it is never expected.
    """
    pumps = pumps.sort_values(["encounter_id", "service_key", "start", "admin_id"], kind="mergesort")
    first = ~pumps.duplicated(["encounter_id", "service_key"])
    starts = pumps[first]
    code = _pump_start_code(starts, setting)
    bags = pumps["infusates"].astype(str).str.count(",").to_numpy() + 1
    refills = np.where(first.to_numpy(), bags - 1, bags)
    coded = starts[code != ""]
    items = [
        line_items(coded, hcpcs=code[code != ""], units=1, first_minute=0, step_minutes=0, rule_ids="R-H8"),
        line_items(pumps, hcpcs=PUMP_REFILL, units=refills, first_minute=0, step_minutes=0, rule_ids="R-H8"),
    ]
    roles = role_updates(
        (pumps["admin_id"], "pump_refill"),
        (starts["admin_id"], select_labels([code != ""], ["pump"], "pump_not_reportable")),
    )
    return items, roles


def code_injections(admins: pd.DataFrame, setting: str) -> FamilyLines:
    """Injection, intra-arterial, pump-start and SC infusion lines
    (R-A6, R-H6, R-H8, R-C2, R-C3).

    Injections and intra-arterial pushes are one line each; pumps (kind
    ``pump``: a drug pump left running, or one timed for more than 8 hours)
    follow :func:`_pump_items`; SC infusions follow
    :func:`_sc_infusion_items`. Only drug classes are coded (a pump is a
    drug by construction).
    """
    columns = [*ITEM_SOURCE_COLUMNS, "kind", "drug_class", "hormonal", "service_key", "infusates", "minutes"]
    drug = admins["drug_class"].isin(DRUG_CLASSES)
    injections = select_rows(admins, admins["kind"].isin(["injection", "intra_arterial"]) & drug, columns)
    pumps = select_rows(admins, admins["kind"] == "pump", columns)
    sc = select_rows(admins, (admins["kind"] == "sc_infusion") & drug, columns)
    pump_items, pump_roles = _pump_items(pumps, setting)
    items = [
        line_items(injections, hcpcs=_injection_code(injections), units=1, first_minute=0, step_minutes=0,
                   rule_ids="R-A6;R-H6"),
        *pump_items,
        *_sc_infusion_items(sc),
    ]
    return FamilyLines(items=items, roles=pd.concat([
        role_updates((injections["admin_id"], "injection"), (sc["admin_id"], "sc_infusion")), pump_roles,
    ]))
