"""Rule family 5: injections, chemo injections, SC infusion and pump start.

Services outside the IV hierarchy, each reported as given (R-A6): SC/IM
injections 96372, antineoplastic SC/IM injections 96401/96402 (R-H6),
intra-arterial 96373/96420, the start of a prolonged chemo pump 96416 (R-H8)
and subcutaneous infusions 96369/96370/96371 (R-C2, R-C3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.engine.items import FamilyLines, extra_hours, line_items, role_updates
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
    SC_HOUR,
    SC_INITIAL,
    SC_NEW_SITE,
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


def code_injections(admins: pd.DataFrame) -> FamilyLines:
    """Injection, intra-arterial, pump-start and SC infusion lines
    (R-A6, R-H6, R-H8, R-C2, R-C3).

    Injections and intra-arterial pushes are one line each; every chemo
    pump infusion of more than 8 hours (kind ``pump``, R-H8) is one 96416;
    SC infusions follow :func:`_sc_infusion_items`. Only drug classes are
    coded, except a pump (always chemo by construction).
    """
    injections = admins[admins["kind"].isin(["injection", "intra_arterial"]) & admins["drug_class"].isin(DRUG_CLASSES)]
    pumps = admins[admins["kind"] == "pump"]
    sc = admins[(admins["kind"] == "sc_infusion") & admins["drug_class"].isin(DRUG_CLASSES)]
    items = [
        line_items(injections, hcpcs=_injection_code(injections), units=1, first_minute=0, step_minutes=0,
                   rule_ids="R-A6;R-H6"),
        line_items(pumps, hcpcs=CHEMO_PUMP, units=1, first_minute=0, step_minutes=0, rule_ids="R-H8"),
        *_sc_infusion_items(sc),
    ]
    return FamilyLines(items=items, roles=role_updates(
        (injections["admin_id"], "injection"),
        (pumps["admin_id"], "pump"),
        (sc["admin_id"], "sc_infusion"),
    ))
