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
from transforms.engine.items import (
    ITEM_SOURCE_COLUMNS,
    FamilyLines,
    extra_hours,
    line_items,
    role_updates,
    secondary_hydration_units,
    select_rows,
)
from transforms.sort_keys import isin_ints, lexsort_ints
from transforms.engine.sites import initial_modifiers
from transforms.frames import coverage_codes, join_runs, run_starts, select_labels, take_or
from transforms.vocab.classes import DILUENT, HYDRATION
from transforms.vocab.codes import (
    EXTRA_HOUR_FIRST,
    HOUR,
    HYDRATION_FIRST,
    HYDRATION_HOUR,
    HYDRATION_INITIAL,
)
from transforms.vocab.policy import Policy

_NS_PER_MINUTE = 60_000_000_000
#: Site groups per encounter are far fewer: (encounter, group) fit one int64.
_SITE_GROUPS = 1 << 20


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


def _hydration_pieces(blocks: pd.DataFrame) -> pd.DataFrame:
    """Intervals where hydration ran and no other infusion did (R-G7, R-E4).

    A sweep over start/end points per encounter
    (:func:`transforms.frames.coverage_codes`): a piece counts where the
    number of running hydration blocks is > 0 and of running drug blocks
    (chemo, therapeutic, blood, unknown: anything but hydration and diluent)
    is 0. ``blocks`` carry their administration's ``drug_class`` and
    ``_enc``. Returns ``_enc``, ``start``, ``end`` (int64 ns) and ``run``
    (maximal runs of contiguous pieces, numbered 1.. in order), in
    (encounter, time) order.
    """
    drug_class = blocks["drug_class"]
    hyd = np.flatnonzero((drug_class == HYDRATION).to_numpy())
    drug = np.flatnonzero(~drug_class.isin([HYDRATION, DILUENT]).to_numpy())
    enc = blocks["_enc"].to_numpy(dtype=np.int64)
    drug = drug[isin_ints(enc[drug], enc[hyd])]
    start, end = (blocks[c].dt.as_unit("ns").array.asi8 for c in ("start", "end"))
    key, p_start, p_end, n_hyd, n_drug = coverage_codes(
        (enc[hyd], start[hyd], end[hyd]), (enc[drug], start[drug], end[drug]))
    keep = (n_hyd > 0) & (n_drug == 0)
    key, p_start, p_end = key[keep], p_start[keep], p_end[keep]
    # Contiguous pieces form one run (policy hydration_aggregation=run).
    continues = np.zeros(len(key), dtype=bool)
    continues[1:] = (key[1:] == key[:-1]) & (p_start[1:] <= p_end[:-1])
    run = np.cumsum(~continues)
    return pd.DataFrame({"_enc": key, "start": p_start, "end": p_end, "run": run})


def _first_by_start(enc: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Positions of the earliest row (ties: the first) of each encounter
    code, in encounter order."""
    order = lexsort_ints((start, enc))
    return order[run_starts(enc[order])]


def _creditable_runs(
    blocks: pd.DataFrame, admins: pd.DataFrame, policy: Policy
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hydration runs of at least 31 creditable minutes, and their pieces.

    A run is the encounter's whole creditable time (policy ``encounter``,
    R-G6) or one run of contiguous pieces (``run``); its ``minutes`` are
    whole minutes of the summed seconds, at least 31 (R-C4). All of an
    encounter's hydration is coded on the site group of its first hydration
    administration. Runs are ordered by (encounter, start) and numbered
    ``timing_id`` = -1, -2, ...; the pieces (``timing_id``, ``start``,
    ``end``) are returned with the ``timing_id`` of their run (pieces of
    runs too short are dropped). Runs carry ``_enc`` and ``encounter_id``.
    """
    pieces = _hydration_pieces(blocks)
    hyd = select_rows(admins, admins["kind"] == "hydration", ["_enc", "start", "site_group"])
    hyd_enc = hyd["_enc"].to_numpy(dtype=np.int64)
    first = _first_by_start(hyd_enc, hyd["start"].dt.as_unit("ns").array.asi8)
    rows = pd.Index(hyd_enc[first]).get_indexer(pieces["_enc"])
    site_group = take_or(hyd["site_group"].to_numpy(dtype=np.int64)[first], rows, 0).astype("int64")
    group = pieces["_enc" if policy.hydration_aggregation == "encounter" else "run"].to_numpy(dtype=np.int64)
    # Pieces are in (encounter, time) order: each run is one contiguous stretch.
    starts = run_starts(group)
    nanoseconds = (pieces["end"] - pieces["start"]).to_numpy()
    run_of_piece = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(group)]))
    minutes = (np.add.reduceat(nanoseconds, starts) // _NS_PER_MINUTE if len(starts)
               else np.empty(0, dtype=np.int64)).astype("int64")
    credited = minutes >= HYDRATION_FIRST
    timing_of_run = np.full(len(starts), 0, dtype=np.int64)
    timing_of_run[credited] = -1 - np.arange(int(credited.sum()))
    enc_names = _encounter_names(admins)
    run_enc = pieces["_enc"].to_numpy(dtype=np.int64)[starts[credited]]
    runs = pd.DataFrame({
        "encounter_id": enc_names[run_enc],
        "site_group": site_group[starts[credited]],
        "start": _utc(pieces["start"].to_numpy()[starts[credited]]),
        "minutes": minutes[credited],
        "_enc": run_enc,
        "timing_id": timing_of_run[credited],
    })
    kept = credited[run_of_piece]
    timing = pd.DataFrame({
        "timing_id": timing_of_run[run_of_piece[kept]],
        "start": _utc(pieces["start"].to_numpy()[kept]),
        "end": _utc(pieces["end"].to_numpy()[kept]),
    })
    return runs, timing


def _utc(ns: np.ndarray) -> pd.Series:
    """int64 nanoseconds -> a UTC ``datetime64[ns, UTC]`` Series."""
    return pd.Series(pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC"))


def _encounter_names(admins: pd.DataFrame) -> np.ndarray:
    """``encounter_id`` text of each encounter code (``_enc``) of ``admins``."""
    enc = admins["_enc"].to_numpy(dtype=np.int64)
    names = np.empty(int(enc.max()) + 1 if len(enc) else 0, dtype=object)
    names[enc] = admins["encounter_id"].to_numpy(dtype=object)
    return names


def _hydration_evidence(hyd_admins: pd.DataFrame, runs: pd.DataFrame) -> pd.Series:
    """``<hydration evidence; ...> -> N creditable min`` of each run: the
    evidence of its encounter's hydration administrations by start, joined
    (``nan`` for an encounter with none)."""
    enc = hyd_admins["_enc"].to_numpy(dtype=np.int64)
    order = lexsort_ints((hyd_admins["start"].dt.as_unit("ns").array.asi8, enc))
    starts = run_starts(enc[order])
    joined = join_runs(hyd_admins["evidence"].to_numpy(dtype=object)[order], starts, "; ")
    rows = pd.Index(enc[order][starts]).get_indexer(runs["_enc"])
    text = take_or(joined.astype(object), rows, "nan").astype(object)
    return pd.Series(text + " -> " + runs["minutes"].astype(str).to_numpy(dtype=object) + " creditable min",
                     index=runs.index, dtype=object)


def _site_keys(frame: pd.DataFrame) -> np.ndarray:
    """One int64 per (encounter code ``_enc``, ``site_group``) of ``frame``."""
    return frame["_enc"].to_numpy(dtype=np.int64) * _SITE_GROUPS + frame["site_group"].to_numpy(dtype=np.int64)


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

    ``blocks`` are the running blocks with their administration's
    ``drug_class`` and ``_enc``; ``admins`` need ``_enc``, ``site_group``
    and ``evidence``; ``initial`` is of :func:`choose_initial` on them.
    """
    runs, timing = _creditable_runs(blocks, admins, policy)
    hyd_admins = select_rows(admins, admins["kind"] == "hydration", ITEM_SOURCE_COLUMNS)
    runs["evidence"] = _hydration_evidence(hyd_admins, runs)
    run_site = _site_keys(runs)
    has_drug = (isin_ints(run_site, _site_keys(initial.drugs))
                & ~isin_ints(run_site, _site_keys(initial.hydration_sites)))
    is_first_run = ~pd.Series(run_site).duplicated().to_numpy()
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
    hyd_admins = hyd_admins.take(np.argsort(hyd_admins["start"].dt.as_unit("ns").array.asi8, kind="stable"))
    credited = isin_ints(hyd_admins["_enc"].to_numpy(), runs["_enc"].to_numpy())
    roles = role_updates((hyd_admins["admin_id"], select_labels([credited], ["hydration"], "hydration_not_reportable")))
    # Runs are in encounter order: the minutes of each encounter are one stretch.
    run_enc = runs["_enc"].to_numpy(dtype=np.int64)
    starts = run_starts(run_enc)
    total = np.add.reduceat(runs["minutes"].to_numpy(), starts) if len(starts) else np.empty(0, dtype=np.int64)
    minutes = pd.DataFrame({"encounter_id": runs["encounter_id"].to_numpy(dtype=object)[starts],
                            "hydration_minutes": total.astype("int64")})
    return HydrationCoding(lines=FamilyLines(items=items, roles=roles), timing=timing, minutes=minutes)
