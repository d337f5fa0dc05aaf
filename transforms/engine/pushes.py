"""Rule family 3: IV pushes after the initial service (R-F1, R-F2, R-F4, R-F5).

A push is a drug given in 15 active minutes or less (R-C2). After the
initial service each push of a new drug is 96375 (96411 for chemo); a repeat
push of the same therapeutic drug is 96376, facility only, and only more
than 30 minutes after the last *reported* push of that drug (R-F2). A push
given during an infusion is still a push (R-F5).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from transforms.engine.items import ITEM_SOURCE_COLUMNS, FamilyLines, line_items, role_updates, select_rows
from transforms.sort_keys import isin_ints, lexsort_ints
from transforms.frames import group_codes, map_distinct
from transforms.vocab.classes import CHEMO, DRUG_CLASSES
from transforms.vocab.codes import (
    CHEMO_PUSH_NEW_DRUG,
    REPEAT_PUSH,
    REPEAT_PUSH_MINUTES,
    SETTING_FACILITY,
    THER_PUSH_NEW_DRUG,
)

#: Pattern of a later run of a drug in its service key: the suffix ``~N``
#: after the ``#class`` that ends every key (:func:`transforms.engine.timeline_administrations._repeat_runs`).
REPEAT_RUN_MARK = r"#[a-z_]+~\d+$"
#: A push's drug on one access: the unit of "same drug" (R-F2).
DRUG_ON_SITE = ["encounter_id", "site_group", "service_key"]
_REPEAT_RUN = re.compile(REPEAT_RUN_MARK)
_REPEAT_NS = REPEAT_PUSH_MINUTES * 60_000_000_000


def _reported_pushes(drug: np.ndarray, start: np.ndarray, admin_id: np.ndarray) -> np.ndarray:
    """Which pushes are reported (bool per row): the first of each drug
    (``drug``: a code per :data:`DRUG_ON_SITE`), then each one more than 30
    minutes after the last *reported* push of that drug (R-F2).

    ``start`` is int64 ns. Iterates over rounds (one per reported push of
    the busiest drug), each round vectorised over all drugs.
    """
    order = lexsort_ints((admin_id, start, drug))
    drug_sorted, start_sorted = drug[order], start[order]
    reported = np.zeros(len(drug), dtype=bool)
    last = np.zeros(int(drug.max()) + 1 if len(drug) else 0, dtype=np.int64)
    remaining = np.arange(len(order))
    while len(remaining):
        # Rows are by (drug, start): the first remaining row of each drug.
        is_first = np.r_[True, drug_sorted[remaining[1:]] != drug_sorted[remaining[:-1]]]
        first = remaining[is_first]
        reported[order[first]] = True
        last[drug_sorted[first]] = start_sorted[first]
        rest = remaining[~is_first]
        remaining = rest[start_sorted[rest] - last[drug_sorted[rest]] > _REPEAT_NS]
    return reported


def _is_repeat_run(service_key: pd.Series) -> np.ndarray:
    """Whether each service key is a later run of a drug infused earlier
    (:data:`REPEAT_RUN_MARK`), the pattern tried once per distinct key."""
    return map_distinct(service_key.astype(object), lambda k: bool(_REPEAT_RUN.search(str(k)))).to_numpy(dtype=bool)


def code_pushes(admins: pd.DataFrame, setting: str) -> FamilyLines:
    """Push lines after the initial service (R-F1, R-F2, R-F4, R-F5).

    Of the reported pushes (:func:`_reported_pushes`) that are not the
    initial service, the first of a drug not already pushed as the initial
    service, and not a later run of a drug infused earlier (policy
    ``repeat_infusion``, D11), is a new drug: 96411 (chemo, R-F4) or 96375 (R-F1). Any other
    reported therapeutic push is a repeat, 96376, on the facility claim only
    (R-F2); a repeat chemo push has no code. Pushes not reported are
    ``push_not_reportable``.

    ``admins`` needs ``_enc``, ``site_group``, ``is_initial`` and ``evidence``.
    """
    pushes = select_rows(admins, (admins["kind"] == "push") & admins["drug_class"].isin(DRUG_CLASSES),
                         [*ITEM_SOURCE_COLUMNS, "service_key", "drug_class", "is_initial"])
    svc, _ = pd.factorize(pushes["service_key"])
    drug = group_codes(pushes["_enc"].to_numpy(), pushes["site_group"].to_numpy(), svc)
    is_reported = _reported_pushes(drug, pushes["start"].dt.as_unit("ns").array.asi8,
                                   pushes["admin_id"].to_numpy())
    reported = pushes[is_reported]
    reported_drug = drug[is_reported]
    first_of_drug = ~pd.Series(reported_drug).duplicated().to_numpy()
    reported_initial = reported["is_initial"].to_numpy(dtype=bool)
    later = reported[~reported_initial]
    # The initial push's drug is already "reported" once.
    is_initial_drug = isin_ints(reported_drug[~reported_initial], reported_drug[reported_initial])
    # A later run of a drug infused earlier (policy repeat_infusion, D11) is
    # never a new drug: its service key carries the run suffix ``~N``.
    repeat_run = _is_repeat_run(later["service_key"])
    new_drug = first_of_drug[~reported_initial] & ~is_initial_drug & ~repeat_run
    chemo = later["drug_class"] == CHEMO
    repeat_code = REPEAT_PUSH if setting == SETTING_FACILITY else ""  # facility only (R-F2)
    code = np.select(
        [chemo & new_drug, ~chemo & new_drug, ~chemo & ~new_drug],
        [CHEMO_PUSH_NEW_DRUG, THER_PUSH_NEW_DRUG, repeat_code],
        default="",
    )
    has_code = code != ""
    coded, code = later[has_code], code[has_code].astype(object)  # one copy of the coded rows
    repeat = code == REPEAT_PUSH
    items = line_items(coded, hcpcs=code, units=1, first_minute=0, step_minutes=0,
                       rule_ids=np.where(repeat, "R-F2", "R-F1;R-F4;R-F5"))
    not_coded = pushes[~isin_ints(pushes["admin_id"].to_numpy(), coded["admin_id"].to_numpy())
                       & ~pushes["is_initial"].to_numpy(dtype=bool)]
    return FamilyLines(items=[items], roles=role_updates(
        (coded.loc[~repeat, "admin_id"], "push"),
        (coded.loc[repeat, "admin_id"], "repeat_push"),
        (not_coded["admin_id"], "push_not_reportable"),
    ))
