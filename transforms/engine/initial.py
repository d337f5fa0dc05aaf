"""Rule family 1: the initial service of each vascular access site.

One initial service per encounter and access site (R-B1, R-B2), chosen by
the facility hierarchy chemo > therapeutic, infusion > push (R-A2); on the
professional claim the administration charted as the main reason wins
(R-A4). The initial line of a second, separate site carries ``XU`` (R-B3);
a documented separate visit inside the encounter has its own initial
services, the first with the policy's separate-visit modifier (R-B5, D10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.engine.items import ITEM_SOURCE_COLUMNS, FamilyLines, extra_hours, line_items, role_updates, select_rows
from transforms.sort_keys import lexsort_ints
from transforms.engine.sites import initial_modifiers
from transforms.frames import run_starts_multi
from transforms.vocab.classes import (
    CHEMO,
    CODED_CLASSES,
    RANK_CHEMO_INFUSION,
    RANK_CHEMO_PUSH,
    RANK_PRIMARY,
    RANK_THER_INFUSION,
    RANK_THER_PUSH,
    THERAPEUTIC,
)
from transforms.vocab.codes import (
    CHEMO_HOUR,
    CHEMO_INITIAL,
    CHEMO_PUSH,
    EXTRA_HOUR_FIRST,
    FIRST_HOUR,
    HOUR,
    SETTING_PROFESSIONAL,
    THER_HOUR,
    THER_INITIAL,
    THER_PUSH,
)
from transforms.vocab.policy import Policy


@dataclass(frozen=True)
class InitialServices:
    """The initial service chosen for each (encounter, site group).

    Attributes:
        drugs: the administrations (rows of ``admins``, with the columns
            the rule families read) that are the initial drug service of
            their site group: at most one per group.
        hydration_sites: ``encounter_id``, ``site_group`` of the groups whose
            initial service is a primary hydration (professional claim only);
            the hydration family codes it as 96360.
    """

    drugs: pd.DataFrame
    hydration_sites: pd.DataFrame


def hierarchy_rank(admins: pd.DataFrame, setting: str) -> np.ndarray:
    """Rank of each administration as a candidate initial service; 0 = none.

    Facility hierarchy (R-A2): chemo infusion > chemo push > therapeutic
    infusion > therapeutic push; hydration, injections and the rest are not
    candidates (hydration becomes initial only when nothing else is, which
    the hydration family decides). On the professional claim a ``primary``
    infusion, push or hydration outranks everything (R-A4, R-K3).
    """
    chemo = admins["drug_class"] == CHEMO
    therapeutic = admins["drug_class"] == THERAPEUTIC
    infusion = admins["kind"] == "infusion"
    push = admins["kind"] == "push"
    rank = np.select(
        [chemo & infusion, chemo & push, therapeutic & infusion, therapeutic & push],
        [RANK_CHEMO_INFUSION, RANK_CHEMO_PUSH, RANK_THER_INFUSION, RANK_THER_PUSH],
        default=0,
    )
    if setting == SETTING_PROFESSIONAL:
        # The physician's main reason outranks the hierarchy (R-A4).
        primary = admins["primary"] & admins["kind"].isin(["infusion", "push", "hydration"]) & (
            admins["drug_class"].isin(CODED_CLASSES))
        rank = np.where(primary, RANK_PRIMARY, rank)
    return rank


def choose_initial(admins: pd.DataFrame) -> InitialServices:
    """Highest ``rank`` per (encounter, site group); ties go to the earliest
    start, then the lowest ``admin_id`` (the order given does not decide
    between ranks, R-A2; one initial per site, R-B1).

    ``admins`` needs the ``rank`` column of :func:`hierarchy_rank` and
    ``_enc`` (encounter codes, :func:`transforms.engine.sites.site_groups`).
    """
    candidates = select_rows(admins, admins["rank"] > 0,
                             [*ITEM_SOURCE_COLUMNS, "rank", "kind", "drug_class", "minutes"])
    # Encounter codes ascend with the ids' text: int keys sort as the texts would.
    order = lexsort_ints((
        candidates["admin_id"].to_numpy(), candidates["start"].dt.as_unit("ns").array.asi8,
        -candidates["rank"].to_numpy(dtype=np.int64), candidates["site_group"].to_numpy(),
        candidates["_enc"].to_numpy(),
    ))
    key = np.stack([candidates["_enc"].to_numpy(dtype=np.int64)[order],
                    candidates["site_group"].to_numpy(dtype=np.int64)[order]])
    initial = candidates.take(order[run_starts_multi(key)])
    # A primary hydration is coded by the hydration rules as 96360.
    hydration = initial["kind"] == "hydration"
    return InitialServices(
        drugs=initial[~hydration],
        hydration_sites=initial[hydration][["encounter_id", "site_group", "_enc"]],
    )


def code_initial(initial: pd.DataFrame, admins: pd.DataFrame, policy: Policy) -> FamilyLines:
    """Lines of the initial drug services (R-A2, R-B1, R-B3, R-B5, R-C2, R-C3).

    An infusion (16 minutes or more, R-C2) is 96413 (chemo) or 96365 with
    its additional hours on 96415 / 96366 (more than 30 minutes past each
    hour, R-C3); a push is 96409 or 96374. A second access of a visit
    carries XU (R-B3), the main access of a separate visit the policy's
    ``separate_visit_modifier`` (R-B5, :func:`initial_modifiers`); ``admins``
    are those of :func:`assign_site_groups`.
    """
    is_infusion = initial["kind"] == "infusion"
    is_chemo = initial["drug_class"] == CHEMO
    code = np.select(
        [is_chemo & is_infusion, is_chemo, is_infusion], [CHEMO_INITIAL, CHEMO_PUSH, THER_INITIAL], default=THER_PUSH
    )
    first = line_items(initial, hcpcs=code, units=1, first_minute=np.where(is_infusion, FIRST_HOUR, 0),
                       step_minutes=0, rule_ids="R-A2;R-B1;R-C2")
    first["modifiers"] = initial_modifiers(initial, admins, policy)
    infusions = initial[is_infusion]
    hours = line_items(
        infusions,
        hcpcs=np.where(infusions["drug_class"] == CHEMO, CHEMO_HOUR, THER_HOUR),
        units=extra_hours(infusions["minutes"]), first_minute=EXTRA_HOUR_FIRST, step_minutes=HOUR,
        rule_ids="R-C3",
    )
    return FamilyLines(items=[first, hours], roles=role_updates((initial["admin_id"], "initial")))
