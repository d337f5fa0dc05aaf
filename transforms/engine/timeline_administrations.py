"""Usable bag events -> running segments, service blocks and administrations.

The later steps of :func:`transforms.engine.timeline.build_timeline`, on
the codes of :mod:`transforms.engine.timeline_events`: the running
segments of each bag and how the policy resolves a missing stop
(:func:`_segments`); their union per service into blocks
(:func:`_merge_blocks`, later runs of a drug split off by
:func:`_repeat_runs`); and the output frames: one administration per
service, push, injection and pump start (:func:`_services`,
:func:`_one_time_administrations`, :func:`_administrations`), the blocks
(:func:`_blocks_frame`) and the unused events (:func:`_unused_events`).

Times are int64 nanoseconds (UTC) inside, tz-aware UTC ``Timestamp`` in
the frames; minutes are whole minutes of active time. No loop per row,
segment or service.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from transforms.sort_keys import lexsort_ints
from transforms.engine.timeline_events import (
    _GIVEN,
    _IS_DRUG,
    _IS_HYDRATION,
    _LAST,
    _NAT,
    _NOT_CODED,
    _PAUSED,
    _RATE_CHANGE,
    _RUNS_AFTER,
    _START,
    _Events,
    _Timed,
    _as_times,
    _first_present,
    _grouped_pairs,
    _ns,
    _reduce,
    _run_bounds,
    _service_attributes,
    _text_codes,
)
from transforms.frames import join_runs, run_starts
from transforms.frames import on_distinct as _on_distinct
from transforms.vocab.codes import PROLONGED_PUMP_MINUTES, PUSH_MAX_MINUTES, REPEAT_PUSH_MINUTES
from transforms.vocab.policy import Policy

#: Resolution of an infusate started on a pump and never disconnected in
#: its encounter: a pump start, coded at its start with no minutes (R-H8).
PUMP_START = "pump_start"

#: Columns of ``Timeline.unused_events``.
UNUSED_EVENT_COLUMNS = [
    "encounter_id", "infusate_id", "drug_label", "event_time", "action", "source_row", "issue",
]

#: Columns of ``Timeline.administrations`` (before ``admin_id``).
ADMINISTRATION_COLUMNS = [
    "encounter_id", "service_key", "drug_label", "drug_class", "hormonal", "kind",
    "route", "site", "start", "end", "minutes", "infusates", "n_components", "has_blocks", "primary",
    "visit", "drug_as_charted",
]

_NS_PER_SECOND = 10**9
#: Kinds of administration, in text order: a kind's code sorts as its text.
_KINDS = np.array(sorted(["none", "hydration", "pump", "injection", "sc_infusion", "push", "infusion",
                          "intra_arterial"]), dtype=object)
_KIND = {kind: code for code, kind in enumerate(_KINDS)}


# --- running segments and missing stops -----------------------------------------------------


@dataclass(frozen=True)
class _Segments:
    """Running segments, aligned arrays (:func:`_segments`)."""

    pos: np.ndarray       # row (in the events) of the event that set the bag running
    infusate: np.ndarray  # (encounter, infusate) code
    start: np.ndarray     # int64 ns
    end: np.ndarray       # int64 ns, NaT (int64 min) when there is no next event

    def take(self, rows: np.ndarray) -> _Segments:
        """The segments at positions (or mask) ``rows``."""
        return _Segments(self.pos[rows], self.infusate[rows], self.start[rows], self.end[rows])


def _remaining_hours(ev: _Events, seg: _Segments) -> np.ndarray:
    """Hours an open segment would still run: (bag volume - mL infused
    before it) / its rate, NaN or inf when not derivable (R-C8 a).

    Only rates in mL/h count (a missing unit is taken as mL/h); the volume
    infused before a segment sums rate x hours of the infusate's earlier
    segments (``seg`` grouped by infusate, in time order). Float arithmetic
    as pandas does it (seconds / 3600, Kahan-summed group cumsum).
    """
    rate = ev.rate[seg.pos]
    rate = np.where(ev.ml_per_hour[seg.pos] & (rate > 0), rate, np.nan)
    timed = (seg.start != _NAT) & (seg.end != _NAT)
    hours = np.where(timed, (seg.end - np.where(timed, seg.start, 0)) / _NS_PER_SECOND, np.nan) / 3600.0
    infused = rate * hours
    infused = np.where(np.isnan(infused), 0.0, infused)
    infused_before = pd.Series(infused).groupby(seg.infusate, sort=False).cumsum().to_numpy() - infused
    first, _ = _run_bounds(seg.infusate)
    starts = run_starts(seg.infusate)
    volume = _reduce(np.fmax, ev.volume_ml[seg.pos], starts)[np.searchsorted(starts, first)]
    return (volume - infused_before) / rate


def _segments(ev: _Events, timed: _Timed, state: np.ndarray, policy: Policy) -> tuple[_Segments, pd.DataFrame]:
    """Running segments of each infusate, and the infusates with no stop.

    A segment runs from an event after which the bag is running to the next
    event of the same infusate. A segment with no next event has no stop
    time. On route ``pump`` that is a pump start whose disconnect is charted
    later or elsewhere: resolution ``pump_start`` (:data:`PUMP_START`), no
    segment of the infusate is timed and no stop is derived (R-H8).
    Otherwise policy ``derive`` computes its end from the volume left and the
    rate (mL/h) when both are charted (R-C8 a, :func:`_remaining_hours`),
    floored to the minute; otherwise, or under policy ``push``, the infusate
    becomes a push at its first start (R-C8 c); under ``exclude`` it is not
    coded. Every such infusate is reported, with its ``resolution`` (and its
    code in ``_infusate``). ``timed``: usable events, ``state`` their
    :func:`_state_before`.
    """
    rate = ev.rate[timed.pos]
    rate_change = timed.action == _RATE_CHANGE
    # A rate change keeps the bag as it was: running, or paused (R-D7).
    running = (_RUNS_AFTER[timed.action] & ~(rate_change & (state == _PAUSED))
               & ~(rate_change & (np.where(np.isnan(rate), 1.0, rate) <= 0)))
    following = np.full(len(timed.time), _NAT)
    same_next = timed.infusate[1:] == timed.infusate[:-1]
    following[:-1] = np.where(same_next, timed.time[1:], _NAT)
    rows = np.flatnonzero(running)
    seg = _Segments(timed.pos[rows], timed.infusate[rows], timed.time[rows], following[rows])
    remaining_h = _remaining_hours(ev, seg)
    open_seg = seg.end == _NAT
    derivable = open_seg & (remaining_h > 0) & np.isfinite(remaining_h)
    # A pump left running is a pump start (the patient goes home on it), not
    # a missing stop: never derived, never a push (R-H8).
    on_pump = open_seg & ev.pump[seg.pos]
    is_open = np.flatnonzero(open_seg)
    first, _ = _run_bounds(seg.infusate)  # segments in time order: the first starts first
    if policy.missing_stop == "derive":
        seg = _derived_ends(seg, derivable & ~on_pump, remaining_h)
        resolution = np.where(derivable[is_open], "derived", "push").astype(object)
    else:
        resolution = np.full(len(is_open), "push" if policy.missing_stop == "push" else "excluded", dtype=object)
    resolution[on_pump[is_open]] = PUMP_START
    missing = pd.DataFrame({
        "encounter_id": ev.frame["encounter_id"].to_numpy(dtype=object)[seg.pos[is_open]],
        "infusate_id": ev.infusate_id[seg.pos[is_open]],
        "start": _as_times(seg.start[first[is_open]]),
        "resolution": resolution,
        "_infusate": seg.infusate[is_open],
    })
    unresolved = np.zeros(int(ev.infusate.max()) + 1 if len(ev.infusate) else 0, dtype=bool)
    unresolved[seg.infusate[is_open][resolution != "derived"]] = True
    kept = ~unresolved[seg.infusate] & (seg.end != _NAT) & (seg.start != _NAT) & (seg.end > seg.start)
    return seg.take(kept), missing


def _derived_ends(seg: _Segments, derive: np.ndarray, remaining_h: np.ndarray) -> _Segments:
    """``seg`` with the end of each ``derive`` segment at its start plus its
    remaining hours floored to the minute (converted as pandas converts hours)."""
    end = seg.end.copy()
    run = pd.to_timedelta(remaining_h[derive], unit="h").floor("min").asi8
    start = seg.start[derive]
    end[derive] = np.where(start == _NAT, _NAT, start + run)
    return _Segments(seg.pos, seg.infusate, seg.start, end)


# --- blocks and services --------------------------------------------------------------------


@dataclass(frozen=True)
class _Blocks:
    """Running blocks of services (:func:`_merge_blocks`), aligned arrays, in
    (service, start) order, and the segments they merge."""

    svc: np.ndarray       # service (or run of one, :func:`_repeat_runs`) code
    attr_svc: np.ndarray  # the service code whose attributes it carries (attrs ``_svc``)
    service_key: np.ndarray
    key_rank: np.ndarray | None  # rank of service_key in text order (None once runs renamed keys)
    pos: np.ndarray       # row (in the events) of its first segment's event
    route: np.ndarray     # route of its first segment charting one
    start: np.ndarray     # int64 ns
    end: np.ndarray       # int64 ns
    pump: np.ndarray      # any of its segments ran on a pump
    segments: _Segments   # in (service, start, end) order
    segment_block: np.ndarray  # block of each segment


def _merge_blocks(ev: _Events, seg: _Segments, attrs: pd.DataFrame) -> _Blocks:
    """Union of each service's segments (two bags at once count once).

    ``_svc`` numbers services in (encounter, service key) order: one stable
    lexsort on ints sorts as by encounter, service key, start, end; blocks
    come out in that order. A segment starting after every earlier segment
    of its service has ended starts a new block.
    """
    svc = attrs["_svc"].to_numpy()[seg.infusate]
    order = lexsort_ints((seg.end, seg.start, svc))
    seg, svc = seg.take(order), svc[order]
    first, _ = _run_bounds(svc)
    ended_by = pd.Series(seg.end).groupby(svc, sort=False).cummax().to_numpy()
    new_block = np.arange(len(svc)) == first
    new_block[1:] |= seg.start[1:] > ended_by[:-1]
    starts = np.flatnonzero(new_block)
    block_svc, block_infusate = svc[starts], seg.infusate[starts]
    return _Blocks(
        svc=block_svc, attr_svc=block_svc, service_key=attrs["service_key"].to_numpy()[block_infusate],
        key_rank=attrs["_key"].to_numpy()[block_infusate],
        pos=seg.pos[starts], route=_first_present(ev.routes[ev.route_code[seg.pos]], starts),
        start=seg.start[starts], end=_reduce(np.maximum, seg.end, starts),
        pump=_reduce(np.logical_or, ev.pump[seg.pos], starts),
        segments=seg, segment_block=np.cumsum(new_block) - 1,
    )


def _repeat_runs(blocks: _Blocks, attrs: pd.DataFrame, policy: Policy) -> _Blocks:
    """Unless policy ``repeat_infusion`` is ``continuing``, each later run of
    a drug made a service of its own (D11); ``attr_svc`` keeps the service
    whose attributes a block carries.

    A later run is a block of a drug service (chemo or therapeutic, not on a
    pump) starting more than 30 minutes (:data:`REPEAT_PUSH_MINUTES`) after
    the previous block of that service ended; its service key gets the
    suffix ``~N`` (N = 2, 3, ... in time order) and ``svc`` is renumbered
    per (service, run), in (service, run) order.
    """
    if policy.repeat_infusion == "continuing" or len(blocks.svc) == 0:
        return blocks
    svc = blocks.svc
    first, _ = _run_bounds(svc)
    same_service = np.r_[False, svc[1:] == svc[:-1]]
    prev_end = np.where(same_service, np.r_[0, blocks.end[:-1]], 0)
    gap_seconds = np.where(same_service, (blocks.start - prev_end) / _NS_PER_SECOND, np.nan)
    is_drug = _IS_DRUG[_service_attributes(attrs)["_class"][svc]] & ~blocks.pump
    new_run = (gap_seconds / 60 > REPEAT_PUSH_MINUTES) & is_drug
    runs_through = np.cumsum(new_run)
    run = runs_through - (runs_through[first] - new_run[first])
    suffix = np.full(len(svc), "", dtype=object)
    later = run > 0
    suffix[later] = _on_distinct(run[later] + 1, lambda r: "~" + r.astype(str))
    return replace(blocks, svc=np.cumsum(~same_service | new_run) - 1, service_key=blocks.service_key + suffix,
                   key_rank=None if later.any() else blocks.key_rank)


def _service_kind(cls: np.ndarray, pump: np.ndarray, sc_infusion: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    """Kind code (:data:`_KINDS`) of a running service, by class
    (:data:`_CLASSES` index), route and active minutes.

    Uncoded classes are ``none``; hydration is ``hydration``; a drug (chemo
    or therapeutic) pump infusion of more than 8 hours is ``pump`` (R-H8; a
    pump disconnected within 8 hours is timed as given, R-C7); an SC infusion of 15
    minutes or less is an ``injection``, longer ``sc_infusion``; any other
    service of 15 minutes or less is a ``push``, else an ``infusion`` (R-C2).
    """
    return np.select(
        [
            _NOT_CODED[cls],
            _IS_HYDRATION[cls],
            pump & _IS_DRUG[cls] & (minutes > PROLONGED_PUMP_MINUTES),
            sc_infusion & (minutes <= PUSH_MAX_MINUTES),
            sc_infusion,
            minutes <= PUSH_MAX_MINUTES,
        ],
        [_KIND["none"], _KIND["hydration"], _KIND["pump"], _KIND["injection"], _KIND["sc_infusion"], _KIND["push"]],
        default=_KIND["infusion"],
    )


def _joined_infusates(group: np.ndarray, infusate: np.ndarray, attrs: pd.DataFrame) -> np.ndarray:
    """The distinct ``infusate_id`` of each group code ``0..n-1`` (every group
    has one; rows grouped: segments are in block order), joined with ``,`` in
    order of first appearance."""
    g, code = _grouped_pairs(group, infusate, sort=False)
    return join_runs(attrs["infusate_id"].to_numpy()[code], run_starts(g), ",")


def _summed_seconds(blocks: _Blocks, starts: np.ndarray) -> np.ndarray:
    """Running seconds of each service (its blocks: the run from ``starts``),
    summed as pandas sums float seconds (Kahan), in start order. Most
    services run as one block, whose sum is its own seconds exactly: only
    the others are grouped."""
    seconds = (blocks.end - blocks.start) / _NS_PER_SECOND
    count = np.diff(np.r_[starts, len(seconds)])
    total = seconds[starts]
    several = np.repeat(count > 1, count)
    if several.any():
        total[count > 1] = pd.Series(seconds[several]).groupby(blocks.svc[several], sort=False).sum().to_numpy()
    return total


def _services(ev: _Events, blocks: _Blocks, attrs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Columns of one administration per service that ran: its blocks added
    up, by service code, with ``_row_order`` their order of start (then
    service code); times as int64 ns, ``kind`` as a code, with sort keys
    ``_encounter`` and ``_key`` (None when unknown).

    ``start``/``end`` span its blocks; ``minutes`` are whole minutes of the
    summed running seconds; ``site`` and ``route`` are those of its first
    block (``pump`` if any block ran on a pump); ``infusates`` its distinct
    bags in order of first appearance.
    """
    starts = run_starts(blocks.svc)
    minutes = (_summed_seconds(blocks, starts) // 60).astype(np.int64)
    first = blocks.pos[starts]
    pump = _reduce(np.logical_or, blocks.pump, starts)
    of_service = {name: values[blocks.attr_svc[starts]] for name, values in _service_attributes(attrs).items()}
    route = np.where(pump, "pump", _first_present(blocks.route, starts)).astype(object)
    columns = of_service | {
        "encounter_id": ev.frame["encounter_id"].to_numpy(dtype=object)[first],
        "service_key": blocks.service_key[starts],
        "start": blocks.start[starts], "end": _reduce(np.maximum, blocks.end, starts),
        "site": ev.site[first], "visit": ev.visit[first], "minutes": minutes,
        "route": route,
        "infusates": _joined_infusates(blocks.svc[blocks.segment_block], blocks.segments.infusate, attrs),
        "kind": _service_kind(of_service["_class"], pump, route == "sc_infusion", minutes),
        "has_blocks": np.ones(len(starts), dtype=bool), "_encounter": ev.encounter[first],
        "_key": None if blocks.key_rank is None else blocks.key_rank[starts],
    }
    # The rows in order of start, then service code: applied with the final
    # sort (:func:`_administrations`), so the columns are permuted once.
    return columns | {"_row_order": lexsort_ints((np.arange(len(starts)), columns["start"]))}


def _once_rows(ev: _Events) -> np.ndarray:
    """Rows of the charted ``given`` doses off an infusion route, one per
    (infusate, time), in row order.

    One dose charted twice at the same minute is one dose. If the copies
    disagree on the route, the higher one in the hierarchy (a push over an
    injection, R-A2) is kept, then the route's name: never the row order, so
    a shuffled extract codes the same.
    """
    rows = np.flatnonzero((ev.action == _GIVEN) & ~ev.infusion_route)
    # Ranked by the route's text as str() writes it (a missing route reads "None" or "nan":
    # one code for both, so then the rows' own texts are ranked).
    if pd.isna(ev.routes).any():
        route_text = ev.frame["route"].to_numpy(dtype=object)[rows].astype(str)
        route_rank = np.unique(route_text, return_inverse=True)[1].reshape(-1)
    else:
        route_rank = np.unique(ev.routes.astype(str), return_inverse=True)[1].reshape(-1)[ev.route_code[rows]]
    infusate, time = ev.infusate[rows], ev.time[rows]
    order = lexsort_ints((rows, route_rank, ev.injection_route[rows], time, infusate))
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (infusate[order][1:] != infusate[order][:-1]) | (time[order][1:] != time[order][:-1])
    return np.sort(rows[order[first]])


def _first_event_rows(ev: _Events, infusates: np.ndarray) -> np.ndarray:
    """Row of the first event (by time, then row) of each infusate code in ``infusates``."""
    wanted = np.zeros(int(ev.infusate.max()) + 1 if len(ev.infusate) else 0, dtype=bool)
    wanted[infusates] = True
    rows = np.flatnonzero(wanted[ev.infusate])
    time_key = np.where(ev.time[rows] == _NAT, _LAST, ev.time[rows])
    order = lexsort_ints((rows, time_key, ev.infusate[rows]))
    starts = run_starts(ev.infusate[rows][order])
    first_row = np.zeros(len(wanted), dtype=np.int64)
    first_row[ev.infusate[rows][order][starts]] = rows[order][starts]
    return first_row[infusates]


def _one_time_administrations(ev: _Events, attrs: pd.DataFrame, missing: pd.DataFrame) -> dict[str, np.ndarray]:
    """Columns of the pushes, injections, intra-arterial doses and pump
    starts: one row per charted ``given`` off an infusion route
    (:func:`_once_rows`), then each infusate with no stop that policy
    resolved as a push at its first start (R-C8 c) and each pump left
    running (kind ``pump``, route ``pump``, R-H8), on the site of its first
    event, in order of start. Uncoded classes and hydration are kind
    ``none``; ``minutes`` is 0 (a pump start never gets derived minutes).
    Attributes are taken by infusate code; times, kinds and sort keys as in
    :func:`_services`.
    """
    once = _once_rows(ev)
    pushed = missing[missing["resolution"].isin(["push", PUMP_START]).to_numpy()]
    pushed = pushed.iloc[np.argsort(_ns(pushed["start"]), kind="stable")]
    pushed_code = pushed["_infusate"].to_numpy()
    pump_start = (pushed["resolution"] == PUMP_START).to_numpy()
    code = np.r_[ev.infusate[once], pushed_code]
    rows = np.r_[once, _first_event_rows(ev, pushed_code)]
    cls = attrs["_class"].to_numpy()[code]
    kind = np.select(
        [
            _NOT_CODED[cls] | _IS_HYDRATION[cls],
            np.r_[ev.injection_route[once], np.zeros(len(pushed_code), dtype=bool)],
            np.r_[ev.on_route("intra_arterial", once), np.zeros(len(pushed_code), dtype=bool)],
            np.r_[ev.pump[once], pump_start],
        ],
        [_KIND["none"], _KIND["injection"], _KIND["intra_arterial"], _KIND["pump"]],
        default=_KIND["push"],
    )
    start = np.r_[ev.time[once], _ns(pushed["start"])]
    infusate_id = np.r_[ev.infusate_id[once], pushed["infusate_id"].to_numpy(dtype=object)]
    columns = {name: attrs[name].to_numpy()[code] for name in (
        "encounter_id", "service_key", "drug_label", "drug_class", "hormonal", "n_components", "primary",
        "drug_as_charted", "_encounter", "_key")}
    return columns | {
        "kind": kind, "start": start, "end": start, "minutes": np.zeros(len(code), dtype=np.int64),
        "route": np.r_[ev.frame["route"].to_numpy(dtype=object)[once],
                       np.where(pump_start, "pump", "iv_push").astype(object)],
        "site": ev.site[rows], "visit": ev.visit[rows], "has_blocks": np.zeros(len(code), dtype=bool),
        "infusates": pd.Series(infusate_id, dtype=object).astype(str).to_numpy(dtype=object),
    }


def _administrations(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """``Timeline.administrations`` of the columns of :func:`_services` and
    :func:`_one_time_administrations`, stably sorted by encounter, start
    (missing last), service key, kind and infusates, on int codes: texts are
    ranked once (infusates only where the other keys tie)."""
    column = {name: np.concatenate([p[name] for p in parts]) for name in [*ADMINISTRATION_COLUMNS, "_encounter"]}
    # Rows in each part's own order (``_row_order``, else as given): the
    # stable sort below breaks ties by it. Only int keys are permuted by it.
    sizes = [len(p["start"]) for p in parts]
    pre = np.concatenate([p.get("_row_order", np.arange(n)) + offset
                          for p, n, offset in zip(parts, sizes, np.cumsum([0, *sizes[:-1]]))]).astype(np.intp)
    start = column["start"][pre]
    # Text codes rank the distinct texts: the code of a row does not depend on the row order.
    key = (np.concatenate([p["_key"] for p in parts]) if all(p["_key"] is not None for p in parts)
           else _text_codes(column["service_key"])[0])[pre]
    keys = [column["_encounter"][pre], np.where(start == _NAT, _LAST, start), key, column["kind"][pre]]
    order = lexsort_ints(tuple(reversed(keys)))
    if len(order) > 1:
        stacked = np.stack([k[order] for k in keys])
        same = np.all(stacked[:, 1:] == stacked[:, :-1], axis=0)
        tied = np.r_[same, False] | np.r_[False, same]
        if tied.any():
            infusates = np.zeros(len(order), dtype=np.int64)
            infusates[order[tied]] = _text_codes(column["infusates"][pre[order[tied]]])[0]
            order = lexsort_ints((infusates, *reversed(keys)))
    order = pre[order]
    taken = {name: column[name][order] for name in ADMINISTRATION_COLUMNS}
    taken |= {"kind": _KINDS[taken["kind"]], "start": _as_times(taken["start"]), "end": _as_times(taken["end"]),
              "hormonal": taken["hormonal"].astype(bool), "primary": taken["primary"].astype(bool),
              "admin_id": np.arange(len(order), dtype="int64")}
    # Fresh arrays: not copied into 2-D blocks (stacking a dozen object
    # columns of every administration costs more than anything read later).
    return pd.DataFrame(taken, copy=False)


def _unused_events(ev: _Events, timed: _Timed, issue: np.ndarray, attrs: pd.DataFrame) -> pd.DataFrame:
    """The unusable timed events (``issue`` not empty), in timed order, as
    :data:`UNUSED_EVENT_COLUMNS`; a ``given`` on an infusion route reads ``start``."""
    rows = np.flatnonzero(issue != "")
    pos = timed.pos[rows]
    action = ev.frame["action"].to_numpy(dtype=object)[pos]
    return pd.DataFrame({
        "encounter_id": ev.frame["encounter_id"].to_numpy(dtype=object)[pos],
        "infusate_id": ev.infusate_id[pos],
        "drug_label": attrs["drug_label"].to_numpy()[timed.infusate[rows]],
        "event_time": ev.frame["event_time"].iloc[pos].reset_index(drop=True),
        "action": np.where(timed.action[rows] == _START, "start", action).astype(object),
        "source_row": ev.frame["source_row"].iloc[pos].reset_index(drop=True),
        "issue": issue[rows],
    })


def _blocks_frame(ev: _Events, blocks: _Blocks, attrs: pd.DataFrame) -> pd.DataFrame:
    """``Timeline.blocks``: one row per block, in (encounter, service key, start) order."""
    return pd.DataFrame({
        "encounter_id": ev.frame["encounter_id"].to_numpy(dtype=object)[blocks.pos],
        "service_key": blocks.service_key,
        "start": _as_times(blocks.start), "end": _as_times(blocks.end),
        "site": ev.site[blocks.pos], "visit": ev.visit[blocks.pos],
        "route": blocks.route,
        "infusates": _joined_infusates(blocks.segment_block, blocks.segments.infusate, attrs),
    }, copy=False)  # fresh arrays, not stacked into 2-D blocks
