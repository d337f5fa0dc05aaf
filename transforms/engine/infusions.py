"""Rule family 2: sequential and concurrent infusions (R-D2, R-D3, R-E1-E5).

Every drug infusion (16 minutes or more) of a site group that is not its
initial service is either the encounter's one concurrent infusion 96368
(a therapeutic infusate overlapping an earlier one on the same access) or a
sequential infusion 96367/96417 with its additional hours on 96366/96415.
A mixed bag is one infusate (R-D5) and hydration is never concurrent (R-E4):
both were settled when the timeline was built and by selecting only drug
classes here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.engine.items import ITEM_SOURCE_COLUMNS, FamilyLines, extra_hours, line_items, role_updates, select_rows
from transforms.engine.pushes import REPEAT_RUN_MARK
from transforms.frames import overlapping_pairs_int
from transforms.vocab.classes import CHEMO, DRUG_CLASSES, THERAPEUTIC
from transforms.vocab.codes import (
    CHEMO_HOUR,
    CHEMO_SEQUENTIAL,
    CONCURRENT,
    EXTRA_HOUR_FIRST,
    FIRST_HOUR,
    HOUR,
    REPEAT_PUSH,
    SETTING_FACILITY,
    THER_HOUR,
    THER_SEQUENTIAL,
)
from transforms.vocab.policy import Policy


def _overlap_seconds(blocks: pd.DataFrame) -> pd.DataFrame:
    """Seconds each ordered pair of administrations ran at the same time on
    one site group (``admin_id_x``, ``admin_id_y``, ``overlap`` > 0).

    Overlapping blocks are found by sorted search
    (:func:`transforms.frames.overlapping_pairs_int`), not by pairing every
    block of an encounter.
    """
    # (encounter code, site group) as one int: site groups are far fewer than 2**20.
    site = blocks["_enc"].to_numpy(dtype=np.int64) * (1 << 20) + blocks["site_group"].to_numpy(dtype=np.int64)
    start, end = (blocks[c].dt.as_unit("ns").array.asi8 for c in ("start", "end"))
    ix, iy = overlapping_pairs_int((site, start, end), (site, start, end))
    admin = blocks["admin_id"].to_numpy().astype(np.int64)
    ax, ay = admin[ix], admin[iy]
    keep = ax != ay
    ix, iy, ax, ay = ix[keep], iy[keep], ax[keep], ay[keep]
    # Summed per pair below: the order of the pairs does not matter.
    overlap = np.minimum(end[ix], end[iy]) - np.maximum(start[ix], start[iy])
    width = int(admin.max(initial=0)) + 1
    pair, which = np.unique(ax * width + ay, return_inverse=True)
    seconds = np.bincount(which.reshape(-1), weights=overlap, minlength=len(pair)) / 1e9
    return pd.DataFrame({"admin_id_x": pair // width, "admin_id_y": pair % width, "overlap": seconds})


def _overlapping_an_earlier_one(infusions: pd.DataFrame, blocks: pd.DataFrame, min_overlap_minutes: int) -> set:
    """``admin_id`` of infusions that overlap an *earlier* infusion of their
    site group by at least ``min_overlap_minutes`` of running time (R-E5, D4).

    Overlap is summed over the running blocks of both (paused minutes do not
    count). The other infusion is earlier when it is the initial service,
    started before, or started at the same minute with a higher rank (then a
    lower ``admin_id``): of two overlapping infusions only the later one is
    concurrent.
    """
    inf_blocks = select_rows(blocks, blocks["admin_id"].isin(infusions["admin_id"]),
                             ["_enc", "site_group", "start", "end", "admin_id"])  # the columns read
    order = infusions[["admin_id", "start", "rank", "is_initial"]].set_index("admin_id")
    pair_overlap = _overlap_seconds(inf_blocks)
    pair_overlap = pair_overlap[pair_overlap["overlap"] >= min_overlap_minutes * 60]
    ox = order.reindex(pair_overlap["admin_id_x"]).reset_index(drop=True)
    oy = order.reindex(pair_overlap["admin_id_y"]).reset_index(drop=True)
    y_before = (
        oy["is_initial"].to_numpy()
        | (oy["start"] < ox["start"]).to_numpy()
        | ((oy["start"] == ox["start"]) & (oy["rank"] > ox["rank"])).to_numpy()
        | ((oy["start"] == ox["start"]) & (oy["rank"] == ox["rank"])).to_numpy()
        & (pair_overlap["admin_id_y"] < pair_overlap["admin_id_x"]).to_numpy()
    )
    return set(pair_overlap.loc[y_before, "admin_id_x"])


def _running_over_a_chemo_push(admins: pd.DataFrame, later: pd.DataFrame) -> set:
    """``admin_id`` of the ``later`` therapeutic infusions running when a
    chemo push was given on the same site group (D15, Ex 27): the push's
    start at or after the infusion's start and before its end. One merge on (encounter, site
    group), no loop."""
    ther = later[later["drug_class"] == THERAPEUTIC][["encounter_id", "site_group", "admin_id", "start", "end"]]
    chemo_push = admins[(admins["kind"] == "push") & (admins["drug_class"] == CHEMO)]
    pairs = ther.merge(chemo_push[["encounter_id", "site_group", "start"]].rename(columns={"start": "push_at"}),
                       on=["encounter_id", "site_group"])
    # A push at the infusion's stop minute came after it (Ex 11: sequential).
    during = (pairs["push_at"] >= pairs["start"]) & (pairs["push_at"] < pairs["end"])
    return set(pairs.loc[during, "admin_id"])


def _repeat_runs_as_repeat_push(later: pd.DataFrame, setting: str) -> tuple[list[pd.DataFrame], list]:
    """Policy ``repeat_infusion=repeat_push`` (D11, Haugen Ex 2): each later
    run of a drug infused earlier is 96376 on the facility claim if
    therapeutic; a chemo run, or any run on the physician claim, has no code."""
    coded = later[(later["drug_class"] == THERAPEUTIC) & (setting == SETTING_FACILITY)]
    items = [line_items(coded, hcpcs=REPEAT_PUSH, units=1, first_minute=0, step_minutes=0, rule_ids="R-F2;R-D4")]
    not_coded = later[~later["admin_id"].isin(coded["admin_id"])]
    return items, [(coded["admin_id"], "repeat_push"), (not_coded["admin_id"], "push_not_reportable")]


def code_infusions(admins: pd.DataFrame, blocks: pd.DataFrame, policy: Policy, setting: str) -> FamilyLines:
    """Concurrent and sequential infusion lines (R-D2, R-D3, R-E1, R-E2, R-E5).

    * 96368 once per encounter (R-E1), for the first (by start) therapeutic
      infusion overlapping an earlier one on its access (R-E2, R-E5), e.g.
      leucovorin alongside oxaliplatin (R-E3); a later chemo infusion is
      sequential even when it overlaps unless policy ``concurrent_chemo``
      is ``concurrent`` (D13); under ``infusion_over_chemo_push=concurrent``
      a therapeutic infusion running when a chemo push is given on its
      access is also a candidate (D15, Ex 27).
    * Under ``repeat_infusion=repeat_push`` a later run of a drug infused
      earlier is 96376 (:func:`_repeat_runs_as_repeat_push`, D11); under
      ``sequential`` it is coded as any later infusion below.
    * A further concurrent infusion earns nothing under policy
      ``extra_concurrent=nothing`` (R-E1) or is coded as sequential.
    * Every other later infusion is sequential: 96417 (chemo) or 96367 once
      (R-D2, R-D3) plus 96415 / 96366 for each hour more than 30 minutes past
      the first (R-C3).

    ``admins`` needs ``site_group``, ``rank``, ``is_initial`` and
    ``evidence`` and ``_enc``; ``setting`` is ``facility`` or ``professional``; ``blocks`` are the running
    blocks with ``admin_id``, ``site_group`` and ``_enc``.
    """
    infusions = select_rows(admins, (admins["kind"] == "infusion") & admins["drug_class"].isin(DRUG_CLASSES),
                            [*ITEM_SOURCE_COLUMNS, "end", "minutes", "rank", "is_initial", "service_key", "drug_class"])
    overlapping = _overlapping_an_earlier_one(infusions, blocks, policy.concurrent_min_overlap_minutes)
    later = infusions[~infusions["is_initial"]]
    items: list[pd.DataFrame] = []
    roles: list = []
    if policy.repeat_infusion == "repeat_push":
        repeat = later["service_key"].astype(str).str.contains(REPEAT_RUN_MARK, regex=True)
        repeat_items, repeat_roles = _repeat_runs_as_repeat_push(later[repeat], setting)
        items += repeat_items
        roles += repeat_roles
        later = later[~repeat]
    if policy.infusion_over_chemo_push == "concurrent":
        overlapping |= _running_over_a_chemo_push(admins, later)
    # 96368 is a therapeutic code; chemo earns it only under concurrent_chemo (D13).
    concurrent_classes = [THERAPEUTIC, CHEMO] if policy.concurrent_chemo == "concurrent" else [THERAPEUTIC]
    concurrent = later[later["admin_id"].isin(overlapping) & later["drug_class"].isin(concurrent_classes)]
    # Encounter codes ascend with the ids' text: sorting by them sorts by encounter.
    concurrent = concurrent.sort_values(["_enc", "start", "admin_id"], kind="mergesort")
    first_concurrent = concurrent.drop_duplicates("_enc")
    items.append(line_items(first_concurrent, hcpcs=CONCURRENT, units=1, first_minute=0, step_minutes=0,
                            rule_ids="R-E1;R-E2;R-E5"))
    roles.append((first_concurrent["admin_id"], "concurrent"))
    if policy.extra_concurrent == "nothing":
        extra = concurrent[~concurrent["admin_id"].isin(first_concurrent["admin_id"])]
        roles.append((extra["admin_id"], "concurrent_extra"))
        sequential = later[~later["admin_id"].isin(concurrent["admin_id"])]
    else:
        sequential = later[~later["admin_id"].isin(first_concurrent["admin_id"])]
    chemo = sequential["drug_class"] == CHEMO
    items.append(line_items(sequential, hcpcs=np.where(chemo, CHEMO_SEQUENTIAL, THER_SEQUENTIAL), units=1,
                            first_minute=FIRST_HOUR, step_minutes=0, rule_ids="R-D2;R-D3"))
    items.append(line_items(sequential, hcpcs=np.where(chemo, CHEMO_HOUR, THER_HOUR),
                            units=extra_hours(sequential["minutes"]),
                            first_minute=EXTRA_HOUR_FIRST, step_minutes=HOUR, rule_ids="R-C3;R-D2"))
    roles.append((sequential["admin_id"], "sequential"))
    return FamilyLines(items=items, roles=role_updates(*roles))
