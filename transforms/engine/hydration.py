"""Rule family 4: hydration (R-C4, R-E4, R-G5, R-G6, R-G7).

Hydration is credited only for the minutes it ran while no drug infusion did
(R-G7, R-E4). Creditable minutes are added up per encounter, or per run of
contiguous minutes under policy ``hydration_aggregation=run`` (R-G6, D5),
and a total of 30 minutes or less is never reported (R-C4). Hydration is the
initial service 96360 (+ 96361 hours) only where no drug service is initial;
otherwise it is secondary and coded 96361 only (R-G5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.engine.initial import InitialServices
from transforms.engine.items import FamilyLines, extra_hours, line_items, role_updates, secondary_hydration_units
from transforms.engine.sites import initial_modifiers
from transforms.frames import coverage, join_groups
from transforms.vocab.classes import DILUENT, HYDRATION
from transforms.vocab.codes import (
    EXTRA_HOUR_FIRST,
    HOUR,
    HYDRATION_FIRST,
    HYDRATION_HOUR,
    HYDRATION_INITIAL,
)
from transforms.vocab.policy import Policy


@dataclass(frozen=True)
class HydrationCoding:
    """Result of the hydration family.

    Attributes:
        lines: its line items and the roles of hydration administrations.
        timing: ``timing_id``, ``start``, ``end`` of each creditable piece;
            a run's ``timing_id`` is negative (administrations' are >= 0).
        minutes: ``encounter_id``, ``hydration_minutes``: creditable minutes
            of the runs that reached 31 minutes.
    """

    lines: FamilyLines
    timing: pd.DataFrame
    minutes: pd.DataFrame


def _hydration_pieces(blocks: pd.DataFrame, admins: pd.DataFrame) -> pd.DataFrame:
    """Intervals where hydration ran and no other infusion did (R-G7, R-E4).

    A sweep over start/end points per encounter: a piece counts where the
    number of running hydration blocks is > 0 and of running drug blocks
    (chemo, therapeutic, blood, unknown: anything but hydration and diluent)
    is 0. ``run`` numbers the maximal runs of contiguous pieces.
    """
    cls = admins[admins["has_blocks"]][
        ["encounter_id", "service_key", "drug_class"]
    ]
    b = blocks.merge(cls, on=["encounter_id", "service_key"])
    hyd = b[b["drug_class"] == HYDRATION]
    drug = b[~b["drug_class"].isin([HYDRATION, DILUENT])]
    if hyd.empty:
        empty_t = pd.Series([], dtype="datetime64[ns, UTC]")
        return pd.DataFrame({"encounter_id": pd.Series([], dtype=object), "start": empty_t,
                             "end": empty_t, "run": pd.Series([], dtype="int64")})
    drug = drug[drug["encounter_id"].isin(hyd["encounter_id"])]
    sweep = coverage(hyd, drug)
    pieces = sweep[(sweep["n_first"] > 0) & (sweep["n_second"] == 0)][["encounter_id", "start", "end"]]
    pieces = pieces.reset_index(drop=True)
    # Contiguous pieces form one run (policy hydration_aggregation=run).
    prev_end = pieces.groupby("encounter_id", sort=False)["end"].shift()
    pieces["run"] = (prev_end.isna() | (pieces["start"] > prev_end)).cumsum()
    return pieces


def _creditable_runs(
    blocks: pd.DataFrame, admins: pd.DataFrame, policy: Policy
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hydration runs of at least 31 creditable minutes, and their pieces.

    A run is the encounter's whole creditable time (policy ``encounter``,
    R-G6) or one run of contiguous pieces (``run``); its ``minutes`` are
    whole minutes of the summed seconds, at least 31 (R-C4). All of an
    encounter's hydration is coded on the site group of its first hydration
    administration. Runs are ordered by (encounter, start) and numbered
    ``timing_id`` = -1, -2, ...; the pieces are returned with the
    ``timing_id`` of their run (pieces of runs too short are dropped).
    """
    pieces = _hydration_pieces(blocks, admins)
    hyd_admins = admins[admins["kind"] == "hydration"].sort_values("start", kind="mergesort")
    hyd_group = hyd_admins.drop_duplicates("encounter_id").set_index("encounter_id")["site_group"]
    pieces["site_group"] = pieces["encounter_id"].map(hyd_group).fillna(0).astype("int64")
    pieces["seconds"] = (pieces["end"] - pieces["start"]).dt.total_seconds()
    run_key = "encounter_id" if policy.hydration_aggregation == "encounter" else "run"
    runs = pieces.groupby(run_key, sort=False).agg(
        encounter_id=("encounter_id", "first"), site_group=("site_group", "first"),
        start=("start", "min"), seconds=("seconds", "sum"),
    ).reset_index(drop=True)
    runs["minutes"] = (runs["seconds"] // 60).astype("int64")
    runs = runs[runs["minutes"] >= HYDRATION_FIRST].sort_values(["encounter_id", "start"], kind="mergesort")
    runs = runs.reset_index(drop=True)
    runs["timing_id"] = -1 - runs.index.to_numpy()
    pieces = pieces.merge(
        runs[["encounter_id", "start", "timing_id"]].rename(columns={"start": "run_start"}),
        on=["encounter_id"], how="inner",
    )
    if run_key == "run":
        # Each piece was paired with every run of its encounter: keep the
        # pairing with its own run, the one starting where its run starts.
        run_of = pieces.groupby("run")["start"].transform("min")
        pieces = pieces[pieces["run_start"] == run_of]
    return runs, pieces


def code_hydration(
    blocks: pd.DataFrame, admins: pd.DataFrame, initial: InitialServices, policy: Policy
) -> HydrationCoding:
    """Hydration lines (R-A2, R-B1, R-B3, R-C3, R-C4, R-G5, R-G6, R-G7).

    The first creditable run of a site group with no initial drug service
    (or whose initial service is a primary hydration) is initial: 96360 (XU
    on a second site, R-B3) plus 96361 for each hour more than 30 minutes
    past the first (R-C3). Every other run is secondary: 96361 units counted
    from 31 minutes (R-G5, :func:`secondary_hydration_units`). Hydration
    administrations of encounters with no creditable run are
    ``hydration_not_reportable``.

    ``blocks`` are the timeline's blocks; ``admins`` needs ``site_group``
    and ``evidence``.
    """
    runs, pieces = _creditable_runs(blocks, admins, policy)
    hyd_admins = admins[admins["kind"] == "hydration"].sort_values("start", kind="mergesort")
    hyd_ev = join_groups(hyd_admins["evidence"], hyd_admins["encounter_id"], "; ")
    runs["evidence"] = runs["encounter_id"].map(hyd_ev).astype(str) + " -> " + runs["minutes"].astype(str) + " creditable min"
    run_site = runs.set_index(["encounter_id", "site_group"]).index
    has_drug = run_site.isin(pd.MultiIndex.from_frame(initial.drugs[["encounter_id", "site_group"]])) & ~run_site.isin(
        pd.MultiIndex.from_frame(initial.hydration_sites)
    )
    is_first_run = ~runs.duplicated(["encounter_id", "site_group"])
    first = runs[~has_drug & is_first_run]
    secondary = runs[has_drug | ~is_first_run]
    first_line = line_items(first, hcpcs=HYDRATION_INITIAL, units=1, first_minute=HYDRATION_FIRST, step_minutes=0,
                            rule_ids="R-A2;R-B1;R-C4;R-G6;R-G7")
    # A second site's initial (R-B3) or a separate visit's (R-B5).
    first_line["modifiers"] = initial_modifiers(first, admins, policy)
    items = [
        first_line,
        line_items(first, hcpcs=HYDRATION_HOUR, units=extra_hours(first["minutes"]),
                   first_minute=EXTRA_HOUR_FIRST, step_minutes=HOUR, rule_ids="R-C3;R-G6;R-G7"),
        line_items(secondary, hcpcs=HYDRATION_HOUR, units=secondary_hydration_units(secondary["minutes"]),
                   first_minute=HYDRATION_FIRST, step_minutes=HOUR, rule_ids="R-G5;R-G6;R-G7"),
    ]
    credited = hyd_admins["encounter_id"].isin(runs["encounter_id"])
    roles = role_updates((hyd_admins["admin_id"], np.where(credited, "hydration", "hydration_not_reportable")))
    minutes = runs.groupby("encounter_id")["minutes"].sum().rename("hydration_minutes").reset_index()
    return HydrationCoding(
        lines=FamilyLines(items=items, roles=roles),
        timing=pieces[["timing_id", "start", "end"]],
        minutes=minutes,
    )
