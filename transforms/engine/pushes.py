"""Rule family 3: IV pushes after the initial service (R-F1, R-F2, R-F4, R-F5).

A push is a drug given in 15 active minutes or less (R-C2). After the
initial service each push of a new drug is 96375 (96411 for chemo); a repeat
push of the same therapeutic drug is 96376, facility only, and only more
than 30 minutes after the last *reported* push of that drug (R-F2). A push
given during an infusion is still a push (R-F5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.engine.items import FamilyLines, line_items, role_updates
from transforms.vocab.classes import CHEMO, DRUG_CLASSES
from transforms.vocab.codes import (
    CHEMO_PUSH_NEW_DRUG,
    REPEAT_PUSH,
    REPEAT_PUSH_MINUTES,
    SETTING_FACILITY,
    THER_PUSH_NEW_DRUG,
)

#: Pattern of a later run of a drug in its service key: the suffix ``~N``
#: after the ``#class`` that ends every key (:func:`transforms.engine.timeline._repeat_runs`).
REPEAT_RUN_MARK = r"#[a-z_]+~\d+$"
#: A push's drug on one access: the unit of "same drug" (R-F2).
DRUG_ON_SITE = ["encounter_id", "site_group", "service_key"]


def _reported_pushes(pushes: pd.DataFrame) -> pd.Series:
    """Which pushes are reported: the first of each drug, then each one more
    than 30 minutes after the last *reported* push of that drug (R-F2).

    Iterates over rounds (one per reported push of the busiest drug), each
    round vectorised over all encounters.
    """
    reported = pd.Series(False, index=pushes.index)
    remaining = pushes.sort_values(["start", "admin_id"], kind="mergesort")
    while not remaining.empty:
        first = remaining.groupby(DRUG_ON_SITE, sort=False).head(1)
        reported.loc[first.index] = True
        last = first.set_index(DRUG_ON_SITE)["start"]
        rest = remaining.drop(first.index)
        last_time = pd.Series(
            pd.to_datetime(last.reindex(pd.MultiIndex.from_frame(rest[DRUG_ON_SITE])).to_numpy(), utc=True),
            index=rest.index,
        )
        remaining = rest[(rest["start"] - last_time) > pd.Timedelta(minutes=REPEAT_PUSH_MINUTES)]
    return reported


def code_pushes(admins: pd.DataFrame, setting: str) -> FamilyLines:
    """Push lines after the initial service (R-F1, R-F2, R-F4, R-F5).

    Of the reported pushes (:func:`_reported_pushes`) that are not the
    initial service, the first of a drug not already pushed as the initial
    service, and not a later run of a drug infused earlier (policy
    ``repeat_infusion``, D11), is a new drug: 96411 (chemo, R-F4) or 96375 (R-F1). Any other
    reported therapeutic push is a repeat, 96376, on the facility claim only
    (R-F2); a repeat chemo push has no code. Pushes not reported are
    ``push_not_reportable``.

    ``admins`` needs ``site_group``, ``is_initial`` and ``evidence``.
    """
    pushes = admins[(admins["kind"] == "push") & admins["drug_class"].isin(DRUG_CLASSES)]
    reported = pushes[_reported_pushes(pushes).reindex(pushes.index, fill_value=False)]
    first_of_drug = ~reported.duplicated(DRUG_ON_SITE)
    later = reported[~reported["is_initial"]]
    # The initial push's drug is already "reported" once.
    initial_drugs = reported[reported["is_initial"]][DRUG_ON_SITE]
    is_initial_drug = pd.MultiIndex.from_frame(later[DRUG_ON_SITE]).isin(pd.MultiIndex.from_frame(initial_drugs))
    # A later run of a drug infused earlier (policy repeat_infusion, D11) is
    # never a new drug: its service key carries the run suffix ``~N``.
    repeat_run = later["service_key"].astype(str).str.contains(REPEAT_RUN_MARK, regex=True).to_numpy()
    new_drug = first_of_drug[~reported["is_initial"]].to_numpy() & ~is_initial_drug & ~repeat_run
    chemo = later["drug_class"] == CHEMO
    repeat_code = REPEAT_PUSH if setting == SETTING_FACILITY else ""  # facility only (R-F2)
    code = np.select(
        [chemo & new_drug, ~chemo & new_drug, ~chemo & ~new_drug],
        [CHEMO_PUSH_NEW_DRUG, THER_PUSH_NEW_DRUG, repeat_code],
        default="",
    )
    coded = later.assign(hcpcs=code)
    coded = coded[coded["hcpcs"] != ""]
    repeat = coded["hcpcs"] == REPEAT_PUSH
    items = line_items(coded, hcpcs=coded["hcpcs"], units=1, first_minute=0, step_minutes=0,
                       rule_ids=np.where(repeat, "R-F2", "R-F1;R-F4;R-F5"))
    not_coded = pushes[~pushes["admin_id"].isin(coded["admin_id"]) & ~pushes["is_initial"]]
    return FamilyLines(items=[items], roles=role_updates(
        (coded.loc[~repeat, "admin_id"], "push"),
        (coded.loc[repeat, "admin_id"], "repeat_push"),
        (not_coded["admin_id"], "push_not_reportable"),
    ))
