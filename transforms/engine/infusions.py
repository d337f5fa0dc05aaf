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

from transforms.engine.items import FamilyLines, extra_hours, line_items, role_updates
from transforms.frames import overlapping_pairs
from transforms.vocab.classes import CHEMO, DRUG_CLASSES, THERAPEUTIC
from transforms.vocab.codes import (
    CHEMO_HOUR,
    CHEMO_SEQUENTIAL,
    CONCURRENT,
    EXTRA_HOUR_FIRST,
    FIRST_HOUR,
    HOUR,
    THER_HOUR,
    THER_SEQUENTIAL,
)
from transforms.vocab.policy import Policy


def _overlap_seconds(blocks: pd.DataFrame) -> pd.DataFrame:
    """Seconds each ordered pair of administrations ran at the same time on
    one site group (``admin_id_x``, ``admin_id_y``, ``overlap`` > 0).

    Overlapping blocks are found by sorted search
    (:func:`transforms.frames.overlapping_pairs`), not by pairing every
    block of an encounter.
    """
    site = blocks.groupby(["encounter_id", "site_group"], sort=False).ngroup()
    ix, iy = overlapping_pairs(site, blocks["start"], blocks["end"], site, blocks["start"], blocks["end"])
    admin = blocks["admin_id"].to_numpy().astype(np.int64)
    ax, ay = admin[ix], admin[iy]
    keep = ax != ay
    ix, iy, ax, ay = ix[keep], iy[keep], ax[keep], ay[keep]
    start, end = (blocks[c].dt.as_unit("ns").array.asi8 for c in ("start", "end"))
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
    inf_blocks = blocks[blocks["admin_id"].isin(infusions["admin_id"])]
    order = infusions.set_index("admin_id")[["start", "rank", "is_initial"]]
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


def code_infusions(admins: pd.DataFrame, blocks: pd.DataFrame, policy: Policy) -> FamilyLines:
    """Concurrent and sequential infusion lines (R-D2, R-D3, R-E1, R-E2, R-E5).

    * 96368 once per encounter (R-E1), for the first (by start) therapeutic
      infusion overlapping an earlier one on its access (R-E2, R-E5), e.g.
      leucovorin alongside oxaliplatin (R-E3); a later chemo infusion is
      sequential even when it overlaps.
    * A further concurrent infusion earns nothing under policy
      ``extra_concurrent=nothing`` (R-E1) or is coded as sequential.
    * Every other later infusion is sequential: 96417 (chemo) or 96367 once
      (R-D2, R-D3) plus 96415 / 96366 for each hour more than 30 minutes past
      the first (R-C3).

    ``admins`` needs ``site_group``, ``rank``, ``is_initial`` and
    ``evidence``; ``blocks`` are the running blocks with ``admin_id`` and
    ``site_group``.
    """
    infusions = admins[(admins["kind"] == "infusion") & admins["drug_class"].isin(DRUG_CLASSES)]
    overlapping = _overlapping_an_earlier_one(infusions, blocks, policy.concurrent_min_overlap_minutes)
    later = infusions[~infusions["is_initial"]]
    concurrent = later[later["admin_id"].isin(overlapping) & (later["drug_class"] == THERAPEUTIC)]
    concurrent = concurrent.sort_values(["encounter_id", "start", "admin_id"], kind="mergesort")
    first_concurrent = concurrent.drop_duplicates("encounter_id")
    items = [line_items(first_concurrent, hcpcs=CONCURRENT, units=1, first_minute=0, step_minutes=0,
                        rule_ids="R-E1;R-E2;R-E5")]
    roles = [(first_concurrent["admin_id"], "concurrent")]
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
