"""MAR events -> administration timeline.

Turns charted events (``start``/``rate_change``/``pause``/``resume``/``stop``/
``given``) into the administrations a coder reasons about:

* **blocks**: maximal intervals during which one *service* (one drug, or one
  mixed bag ranked by its highest component) was actually running. Paused
  minutes are excluded (D25); a rate change never starts a new service (R-D7);
  a new bag or a restart of the same drug, even at a new site, continues the
  same service (R-D4) and two bags of it running at once count once.
* **administrations**: one row per service (its active minutes are the sum of
  its blocks), per push and per injection.
* **unused events**: infusion events the sequence of their bag makes
  unusable (a stop with no start before it, a second stop, a rate change on
  a stopped bag, ...), each with its ``issue``; never silently dropped.

Every function is vectorised over encounters (sort + shift + cumsum); none
loops over rows. Times are tz-aware UTC ``Timestamp``; minutes are whole
minutes of active time (seconds truncated, as charted times are minute-exact).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from transforms.engine.sites import normalise_site, normalise_visit
from transforms.frames import join_distinct, join_unique
from transforms.vocab.classes import (
    CLASS_RANK,
    DRUG_CLASSES,
    HYDRATION,
    INFUSION_ROUTES,
    INJECTION_ROUTES,
    ML_PER_HOUR,
    NOT_CODED_CLASSES,
    THERAPEUTIC,
    UNKNOWN,
)
from transforms.vocab.codes import PROLONGED_PUMP_MINUTES, PUSH_MAX_MINUTES, REPEAT_PUSH_MINUTES
from transforms.vocab.policy import Policy

__all__ = ["Timeline", "build_timeline", "normalise_site", "unusable_events"]

# Order of simultaneous events of one infusate: a bag ends before the next one
# starts at the same minute.
ACTION_ORDER: dict[str, int] = {
    "stop": 0,
    "pause": 1,
    "start": 2,
    "resume": 3,
    "rate_change": 4,
    "given": 5,
}
# Whether a bag runs after a USABLE event (see :func:`unusable_events`: a
# rate change on a stopped bag is never usable; during a pause it is usable
# but the bag stays paused).
RUNNING_AFTER: dict[str, bool] = {
    "start": True,
    "resume": True,
    "rate_change": True,
    "pause": False,
    "stop": False,
}

#: Resolution of an infusate started on a pump and never disconnected in
#: its encounter: a pump start, coded at its start with no minutes (R-H8).
PUMP_START = "pump_start"
#: Issue of a pump disconnect with no pump start in its encounter: the
#: disconnect is part of the pump start coded where the pump was started (R-H8).
PUMP_DISCONNECT_ISSUE = "pump disconnect with no pump start in this encounter (included in the pump start, R-H8)"

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


@dataclass(frozen=True)
class Timeline:
    """Reconstructed timeline of a set of encounters.

    Attributes:
        blocks: one row per running interval of a service: ``encounter_id``,
            ``service_key``, ``start``, ``end``, ``site``, ``visit``, ``infusates``.
        administrations: one row per service, push or injection (see
            :func:`build_timeline`).
        missing_stops: one row per infusate that was started but never
            stopped, with how the policy resolved it; a pump left running is
            not one (it is a pump start, R-H8).
        unused_events: one row per infusion event the timeline could not
            use (:func:`unusable_events`): ``encounter_id``, ``infusate_id``,
            ``drug_label``, ``event_time``, ``action``, ``source_row``,
            ``issue``. Every charted event is either behind ``blocks`` /
            ``missing_stops`` or listed here, never silently dropped.
    """

    blocks: pd.DataFrame
    administrations: pd.DataFrame
    missing_stops: pd.DataFrame
    unused_events: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=UNUSED_EVENT_COLUMNS))


def _components(events: pd.DataFrame) -> pd.DataFrame:
    """One row per event with the component's ``rank`` (:data:`CLASS_RANK`,
    -1 for an unclassified drug) and ``component`` key.

    An unknown drug gets a key from its text so it stays distinguishable.
    """
    ev = events[["encounter_id", "infusate_id", "drug_key", "drug_class", "hormonal", "drug", "route"]].copy()
    if "primary" in events:
        # Missing -> False without fillna's deprecated object downcast.
        primary = events["primary"].to_numpy(dtype=object)
        ev["is_primary"] = np.where(pd.isna(primary), False, primary).astype(bool)
    else:
        ev["is_primary"] = False
    ev["rank"] = ev["drug_class"].map(CLASS_RANK).astype(int)
    ev["is_unknown"] = ev["rank"] < 0
    ev["is_pump"] = ev["route"] == "pump"
    # Only rows with no drug key need their text (few): normalise just those.
    component = ev["drug_key"].astype(object).copy()
    no_key = component.isna().to_numpy()
    if no_key.any():
        component[no_key] = "?" + ev.loc[no_key, "drug"].astype(str).str.lower().str.strip()
    ev["component"] = component
    return ev


def _infusate_attributes(events: pd.DataFrame) -> pd.DataFrame:
    """One row per (encounter, infusate): class, service key and label.

    A mixed bag is ranked by its highest component (R-D5). A bag with an
    unclassified component and nothing above hydration is ``unknown``: the
    fluid may be the carrier of the unknown drug, so it is never guessed to
    be hydration. The service key is ``components[@pump]#class``: the
    distinct components in sorted order. The label joins the components
    that rank like the bag, in charted order. Rows are infusates in order
    of first appearance; no loop per infusate (sorted codes, runs joined).
    """
    ev = _components(events)
    # Infusates numbered by first appearance: attrs row i is infusate i.
    group = pd.factorize(_infusate_codes(events))[0]
    grouped = ev.groupby(group, sort=False)
    attrs = grouped.agg(
        encounter_id=("encounter_id", "first"),
        infusate_id=("infusate_id", "first"),
        top_rank=("rank", "max"),
        has_unknown=("is_unknown", "max"),
        hormonal=("hormonal", "any"),
        on_pump=("is_pump", "max"),
        primary=("is_primary", "max"),
    )
    # Components of each bag, distinct, in sorted order (every bag has one).
    _, service_key = join_distinct(group, ev["component"], "+", sort=True)
    # A pump started for a prolonged infusion is a service of its own: it
    # never merges with a bolus or bag of the same drug (R-H8).
    service_key = pd.Series(service_key, index=attrs.index, dtype=object) + np.where(attrs["on_pump"], "@pump", "")
    n_components = ev.groupby(group)["component"].nunique().to_numpy().astype("int64")
    # A component is kept in the label only if it ranks like the bag: the
    # saline carrier of a drug is not part of what was given.
    top = ev["rank"].to_numpy() == attrs["top_rank"].to_numpy()[group]
    _, drug_label = join_distinct(group[top], ev["component"].to_numpy()[top], "+")
    # What the nurse charted for those components, for people to read (the
    # report and ``explain``); distinct texts of a bag in charted order.
    _, charted = join_distinct(group[top], ev["drug"].to_numpy()[top], " + ")
    rank_to_class = {v: k for k, v in CLASS_RANK.items()}
    cls = attrs["top_rank"].map(rank_to_class)
    cls = cls.where(~(attrs["has_unknown"] & (attrs["top_rank"] < CLASS_RANK[THERAPEUTIC])), UNKNOWN)
    attrs["service_key"] = service_key
    attrs["n_components"] = n_components
    attrs["drug_label"] = drug_label
    attrs["drug_as_charted"] = charted
    attrs["drug_class"] = cls
    # The class is part of the identity: saline as hydration, as a KVO line
    # and as a flush are three different things, never one service.
    attrs["service_key"] = attrs["service_key"] + "#" + cls
    if "_infusate" in events:
        attrs["_infusate"] = events["_infusate"].to_numpy()[_first_rows(group, len(attrs))]
    return attrs.drop(columns=["top_rank", "has_unknown", "on_pump"]).reset_index(drop=True)


def _first_rows(group: np.ndarray, n_groups: int) -> np.ndarray:
    """Position of the first row of each group code ``0..n_groups-1``."""
    first = np.full(n_groups, len(group), dtype=np.int64)
    np.minimum.at(first, group, np.arange(len(group), dtype=np.int64))
    return first


def _infusate_codes(events: pd.DataFrame) -> np.ndarray:
    """Int code of each event's (encounter, infusate), numbered in sorted
    key order (so sorting by it sorts by encounter, then infusate); the
    ``_infusate`` column when :func:`_prepare_events` added it."""
    if "_infusate" in events:
        return events["_infusate"].to_numpy()
    return events.groupby(["encounter_id", "infusate_id"], sort=True).ngroup().to_numpy()


def _attrs_rows(attrs: pd.DataFrame, codes: np.ndarray) -> np.ndarray:
    """Row of ``attrs`` (:func:`_infusate_attributes`) of each infusate code."""
    row_of = np.full(int(attrs["_infusate"].max()) + 1 if len(attrs) else 0, -1, dtype=np.int64)
    row_of[attrs["_infusate"].to_numpy()] = np.arange(len(attrs))
    return row_of[codes]


def _service_codes(attrs: pd.DataFrame) -> np.ndarray:
    """Int code of each infusate's (encounter, service), numbered in sorted
    key order: sorting by it sorts by encounter, then service key."""
    return attrs.groupby(["encounter_id", "service_key"], sort=True).ngroup().to_numpy()


def _timed_events(events: pd.DataFrame) -> pd.DataFrame:
    """Infusion events, one per (encounter, infusate, time, action).

    A ``given`` charted on an infusion route is a start without a stop.
    Sorted by encounter, infusate, time and :data:`ACTION_ORDER` (stable),
    with the int ``_infusate`` code (:func:`_infusate_codes`) of each row.
    """
    keep = ((events["action"] != "given") | events["route"].isin(INFUSION_ROUTES)).to_numpy()
    ev = events.loc[
        keep,
        ["encounter_id", "infusate_id", "event_time", "action", "route", "access_site", "visit", "rate", "rate_unit",
         "volume_ml", "source_row"],
    ].copy()
    ev["_infusate"] = _infusate_codes(events)[keep]
    ev.loc[ev["action"] == "given", "action"] = "start"
    ev["_ord"] = ev["action"].map(ACTION_ORDER)
    unknown_action = bool(ev["_ord"].isna().any())
    if unknown_action:  # same order key, different actions: drop exact repeats by text
        ev = ev.drop_duplicates(["_infusate", "event_time", "action"])
    # One stable lexsort on ints: missing times and actions last, as sort_values puts them.
    time_ns = ev["event_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    time_ns = np.where(time_ns == np.iinfo(np.int64).min, np.iinfo(np.int64).max, time_ns)
    order_key = ev["_ord"].fillna(len(ACTION_ORDER)).to_numpy()
    codes = ev["_infusate"].to_numpy()
    order = np.lexsort((order_key, time_ns, codes))
    ev = ev.iloc[order]
    # Equal (infusate, time, action) rows are now adjacent, the first charted first.
    key = (codes[order], time_ns[order], order_key[order])
    dup = np.zeros(len(ev), dtype=bool)
    if len(ev) and not unknown_action:
        dup[1:] = (key[0][1:] == key[0][:-1]) & (key[1][1:] == key[1][:-1]) & (key[2][1:] == key[2][:-1])
    return ev[~dup]


def _timed_groups(timed: pd.DataFrame) -> np.ndarray:
    """Int code of each timed event's (encounter, infusate); rows of one
    code are contiguous since ``timed`` is sorted by it."""
    return _infusate_codes(timed)


def _last_before(action: pd.Series, grp: np.ndarray, marks: tuple[str, ...]) -> pd.Series:
    """Per row, the last action among ``marks`` strictly before it in its
    group ``grp`` (rows of a group contiguous, in time order), NaN when
    there is none. A running max of mark positions, no grouping."""
    n = len(action)
    positions = np.arange(n)
    if n == 0:
        return pd.Series([], index=action.index, dtype=object)
    last_mark = np.maximum.accumulate(np.where(action.isin(marks).to_numpy(), positions, -1))
    before = np.r_[-1, last_mark[:-1]]
    new_group = np.r_[True, grp[1:] != grp[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, positions, 0))
    found = before >= group_start
    out = np.full(n, np.nan, dtype=object)
    out[found] = action.to_numpy(dtype=object)[before[found]]
    return pd.Series(out, index=action.index, dtype=object)


def _state_before(timed: pd.DataFrame) -> pd.Series:
    """State of each event's infusate just before it: ``never`` (not started
    yet), ``running``, ``paused`` or ``stopped``.

    ``timed`` must be sorted as :func:`_timed_events` sorts it. Computed
    without a loop because no unusable event changes the state: only a
    ``start`` leaves ``never``; once started, the last of
    ``start``/``resume``/``stop`` says whether the bag is stopped (a second
    stop keeps it stopped), and if not, the last of
    ``start``/``resume``/``pause`` says whether it is paused (a pause on a
    stopped bag is unusable and so never counts).
    """
    act = timed["action"]
    grp = _timed_groups(timed)
    is_start = (act == "start").astype(int)
    started = (is_start.groupby(grp, sort=False).cumsum() - is_start) > 0
    stopped = _last_before(act, grp, ("start", "resume", "stop")) == "stop"
    paused = _last_before(act, grp, ("start", "resume", "pause")) == "pause"
    state = np.select([~started, stopped, paused], ["never", "stopped", "paused"], default="running")
    return pd.Series(state, index=timed.index, dtype=object)


def unusable_events(timed: pd.DataFrame, state: pd.Series | None = None) -> pd.Series:
    """Why each infusion event cannot be used by the timeline ("" if it can).

    ``timed`` is sorted as :func:`_timed_events` sorts it. Unusable, per
    (encounter, infusate), whatever the row order of the file:

    * a ``stop`` before any ``start`` (said so when a start comes later),
      or on a bag already stopped (a second stop at a different time: the
      first one ends the bag);
    * a ``rate_change``, ``pause`` or ``resume`` before any ``start``;
    * a ``rate_change`` or ``pause`` on a stopped bag (it would otherwise
      invent running time).

    A ``stop`` on route ``pump`` with no start in the encounter is the
    disconnect of a pump started elsewhere: listed with
    :data:`PUMP_DISCONNECT_ISSUE` (nothing to time or code, R-H8).

    Usable although unusual: a ``start`` (always; a new bag or a restart,
    R-D4), a ``resume`` after a stop (a restart of the same bag) or while
    running (no effect), a pause with no later resume (the bag stops
    running), a second pause, a rate change during a pause (it does not
    restart the bag). Invariant: no unusable event changes the state of
    its bag (:func:`_state_before`), so dropping them leaves every usable
    event's state the same. ``state``: :func:`_state_before` of ``timed``
    when the caller has it already.
    """
    act = timed["action"]
    state = _state_before(timed) if state is None else state
    grp = _timed_groups(timed)
    is_start = (act == "start").astype(int)
    rev = is_start[::-1]
    start_later = ((rev.groupby(grp[::-1], sort=False).cumsum() - rev) > 0)[::-1]
    never, stopped = (state == "never").to_numpy(), (state == "stopped").to_numpy()
    is_stop = (act == "stop").to_numpy()
    case = np.select(
        [
            is_stop & never & start_later.to_numpy(),
            is_stop & never,
            is_stop & stopped,
            act.isin(["rate_change", "pause", "resume"]).to_numpy() & never,
            act.isin(["rate_change", "pause"]).to_numpy() & stopped,
        ],
        [0, 1, 2, 3, 4],
        default=-1,
    )
    issue = np.full(len(act), "", dtype=object)
    fixed = np.array(["stop charted before the infusate's start", "stop with no start before it",
                      "infusate already stopped"], dtype=object)
    issue[(case >= 0) & (case <= 2)] = fixed[case[(case >= 0) & (case <= 2)]]
    issue[(case == 1) & (timed["route"] == "pump").to_numpy()] = PUMP_DISCONNECT_ISSUE
    # The action's own words, built only for the (few) rows that need them.
    for code, tail in ((3, " before the bag was started"), (4, " on a stopped bag")):
        rows = case == code
        issue[rows] = act[rows].str.replace("_", " ").to_numpy(dtype=object) + tail
    return pd.Series(issue, index=timed.index, dtype=object)


def _remaining_hours(seg: pd.DataFrame) -> pd.Series:
    """Hours an open segment would still run: (bag volume - mL infused
    before it) / its rate, NaN or inf when not derivable (R-C8 a).

    Only rates in mL/h count (a missing unit is taken as mL/h); the volume
    infused before a segment sums rate x hours of the infusate's earlier
    segments.
    """
    # Few distinct units among many segments: normalise each distinct one once.
    codes, units = pd.factorize(seg["rate_unit"], use_na_sentinel=False)
    unit_ml_h = pd.Series(units, dtype=object).fillna("mL/h").str.lower().str.replace(" ", "").isin(ML_PER_HOUR)
    is_ml_h = pd.Series(unit_ml_h.to_numpy()[codes], index=seg.index)
    rate = seg["rate"].where(is_ml_h & (seg["rate"] > 0))
    hours = (seg["end"] - seg["start"]).dt.total_seconds() / 3600.0
    infused = (rate * hours).fillna(0.0)
    infused_before = infused.groupby(seg["_grp"]).cumsum() - infused
    volume = seg.groupby("_grp")["volume_ml"].transform("max")
    return (volume - infused_before) / rate


def _segments(
    timed: pd.DataFrame, policy: Policy, state: pd.Series | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    coded. Every such infusate is reported, with its ``resolution``.
    ``state``: :func:`_state_before` of ``timed`` when the caller has it.
    """
    ev = timed
    running = ev["action"].map(RUNNING_AFTER).astype(bool)
    # A rate change keeps the bag as it was: running, or paused (R-D7).
    state = _state_before(ev) if state is None else state
    running &= ~((ev["action"] == "rate_change") & (state == "paused"))
    running &= ~((ev["action"] == "rate_change") & (ev["rate"].fillna(1) <= 0))
    grp = pd.Series(_timed_groups(ev), index=ev.index)
    nxt = ev["event_time"].shift(-1).where(grp.eq(grp.shift(-1)))
    seg = ev.assign(end=nxt, _grp=grp)[running].rename(columns={"event_time": "start"})

    remaining_h = _remaining_hours(seg)
    open_seg = seg["end"].isna()
    derivable = open_seg & remaining_h.gt(0) & np.isfinite(remaining_h)
    first_start = seg.groupby("_grp")["start"].transform("min")
    missing = seg.loc[open_seg, ["encounter_id", "infusate_id", "_grp"]].assign(
        start=first_start[open_seg], derivable=derivable[open_seg].to_numpy()
    )
    # A pump left running is a pump start (the patient goes home on it), not
    # a missing stop: never derived, never a push (R-H8).
    on_pump = open_seg & (seg["route"] == "pump")
    derivable &= ~on_pump
    if policy.missing_stop == "derive":
        seg.loc[derivable, "end"] = seg.loc[derivable, "start"] + pd.to_timedelta(
            remaining_h[derivable], unit="h"
        ).dt.floor("min")
        missing["resolution"] = np.where(missing["derivable"], "derived", "push")
    elif policy.missing_stop == "push":
        missing["resolution"] = "push"
    else:
        missing["resolution"] = "excluded"
    missing.loc[on_pump[open_seg].to_numpy(), "resolution"] = PUMP_START
    unresolved = missing.loc[missing["resolution"] != "derived", "_grp"]
    seg = seg[~seg["_grp"].isin(unresolved) & seg["end"].notna()]
    seg = seg[seg["end"] > seg["start"]]
    return (
        seg[["encounter_id", "infusate_id", "start", "end", "route", "access_site", "visit", "source_row", "_infusate"]],
        missing.drop(columns=["_grp", "derivable"]).reset_index(drop=True),
    )


def _merge_blocks(seg: pd.DataFrame) -> pd.DataFrame:
    """Union of each service's segments (two bags at once count once).

    ``seg`` carries ``_svc`` (:func:`_service_codes`); blocks come out in
    (encounter, service key, start) order, with their ``_svc``.
    """
    # ``_svc`` numbers services in (encounter, service key) order: one stable
    # lexsort on ints sorts as by encounter, service key, start, end.
    order = np.lexsort((_ns(seg["end"]), _ns(seg["start"]), seg["_svc"].to_numpy()))
    seg = seg.iloc[order].reset_index(drop=True)
    svc = seg["_svc"].to_numpy()
    prev_end = seg["end"].groupby(svc, sort=False).cummax().groupby(svc, sort=False).shift()
    new_block = prev_end.isna() | (seg["start"] > prev_end)
    seg["_block"] = new_block.cumsum()
    seg["is_pump"] = seg["route"] == "pump"
    blocks = seg.groupby("_block", sort=False).agg(
        encounter_id=("encounter_id", "first"),
        service_key=("service_key", "first"),
        start=("start", "min"),
        end=("end", "max"),
        site=("site", "first"),
        visit=("visit", "first"),
        route=("route", "first"),
        is_pump=("is_pump", "max"),
        _svc=("_svc", "first"),
    )
    blocks["infusates"] = join_unique(seg, ["_block"], "infusate_id", ",")
    return blocks.reset_index(drop=True)


def _repeat_runs(blocks: pd.DataFrame, attrs: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Blocks with ``_attr_svc`` (the service whose attributes they carry)
    and, unless policy ``repeat_infusion`` is ``continuing``, each later run
    of a drug made a service of its own (D11).

    A later run is a block of a drug service (chemo or therapeutic, not on a
    pump) starting more than 30 minutes (:data:`REPEAT_PUSH_MINUTES`) after
    the previous block of that service ended; its service key gets the
    suffix ``~N`` (N = 2, 3, ... in time order) and ``_svc`` is renumbered
    per (service, run). ``blocks`` are in (``_svc``, start) order
    (:func:`_merge_blocks`).
    """
    blocks = blocks.assign(_attr_svc=blocks["_svc"])
    if policy.repeat_infusion == "continuing" or blocks.empty:
        return blocks
    svc = blocks["_svc"]
    prev_end = blocks["end"].shift().where(svc.eq(svc.shift()))
    gap_minutes = (blocks["start"] - prev_end).dt.total_seconds() / 60
    drug_class = attrs.groupby("_svc")["drug_class"].first()
    is_drug = svc.map(drug_class).isin(DRUG_CLASSES) & ~blocks["is_pump"].astype(bool)
    run = ((gap_minutes > REPEAT_PUSH_MINUTES) & is_drug).astype("int64").groupby(svc.to_numpy()).cumsum()
    suffix = np.where(run > 0, "~" + (run + 1).astype(str), "")
    blocks["service_key"] = blocks["service_key"] + suffix
    blocks["_svc"] = blocks.groupby([svc, run], sort=True).ngroup().to_numpy()
    return blocks


def _ns(times: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of tz-aware times with no NaT, int64."""
    return times.dt.as_unit("ns").array.asi8


def _prepare_events(events: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``events`` with numeric ``rate``/``volume_ml``, a
    ``rate_unit`` column, the normalised ``site`` and ``visit``, and each piggyback charted
    once (``given`` on an infusion route) as an infusate of its own."""
    events = events.copy()
    for col in ("rate", "volume_ml"):
        events[col] = pd.to_numeric(events[col], errors="coerce").astype(float) if col in events else np.nan
    if "rate_unit" not in events:
        events["rate_unit"] = None
    events["site"] = normalise_site(events["access_site"]) if "access_site" in events else ""
    events["visit"] = normalise_visit(events["visit_id"]) if "visit_id" in events else ""
    # A piggyback charted once is a dose of its own with no stop time;
    # repeated doses of one order must not join up.
    once_inf = (events["action"] == "given") & events["route"].isin(INFUSION_ROUTES)
    events.loc[once_inf, "infusate_id"] = (
        events.loc[once_inf, "infusate_id"].astype(str) + "@" + events.loc[once_inf, "event_time"].dt.strftime("%Y%m%dT%H%M%S")
    )
    # One string grouping for the whole build; every later step groups and sorts on this int.
    events["_infusate"] = _infusate_codes(events)
    return events


def _service_kind(services: pd.DataFrame) -> np.ndarray:
    """Kind of a running service, by class, route and active minutes.

    Uncoded classes are ``none``; hydration is ``hydration``; a drug (chemo
    or therapeutic) pump infusion of more than 8 hours is ``pump`` (R-H8; a
    pump disconnected within 8 hours is timed as given, R-C7); an SC infusion of 15
    minutes or less is an ``injection``, longer ``sc_infusion``; any other
    service of 15 minutes or less is a ``push``, else an ``infusion`` (R-C2).
    """
    return np.select(
        [
            services["drug_class"].isin(NOT_CODED_CLASSES),
            services["drug_class"] == HYDRATION,
            (services["route"] == "pump") & services["drug_class"].isin(DRUG_CLASSES)
            & (services["minutes"] > PROLONGED_PUMP_MINUTES),
            (services["route"] == "sc_infusion") & (services["minutes"] <= PUSH_MAX_MINUTES),
            services["route"] == "sc_infusion",
            services["minutes"] <= PUSH_MAX_MINUTES,
        ],
        ["none", "hydration", "pump", "injection", "sc_infusion", "push"],
        default="infusion",
    )


def _services(blocks: pd.DataFrame, attrs: pd.DataFrame) -> pd.DataFrame:
    """One administration per service that ran: its blocks added up.

    ``blocks`` carry ``_svc`` (the service, or one run of it under policy
    ``repeat_infusion``, :func:`_repeat_runs`) and ``_attr_svc`` (the
    service of ``attrs`` whose drug, class and label it has).

    ``start``/``end`` span its blocks; ``minutes`` are whole minutes of the
    summed running seconds; ``site`` and ``route`` are those of its first
    block (``pump`` if any block ran on a pump).
    """
    # ``_svc`` is one int per (encounter, service key): group on it, not on the texts.
    svc_attrs = attrs.groupby("_svc", sort=False).agg(
        drug_label=("drug_label", "first"), drug_as_charted=("drug_as_charted", "first"),
        drug_class=("drug_class", "first"), hormonal=("hormonal", "max"), n_components=("n_components", "max"), primary=("primary", "max"),
    )
    blocks_first = blocks.assign(_sec=(blocks["end"] - blocks["start"]).dt.total_seconds()).sort_values(
        "start", kind="mergesort"
    )
    services = blocks_first.groupby("_svc", sort=False).agg(
        encounter_id=("encounter_id", "first"),
        service_key=("service_key", "first"),
        start=("start", "min"),
        end=("end", "max"),
        seconds=("_sec", "sum"),
        site=("site", "first"),
        visit=("visit", "first"),
        route=("route", "first"),
        is_pump=("is_pump", "max"),
        _attr_svc=("_attr_svc", "first"),
    )
    services["route"] = services["route"].where(~services["is_pump"], "pump")
    # Each block's infusates are already distinct; a bag spanning two blocks
    # (a pause) repeats, so split, then keep distinct ones.
    parts = blocks_first[["_svc", "infusates"]].assign(
        infusates=blocks_first["infusates"].str.split(",")
    ).explode("infusates")
    services["infusates"] = join_unique(parts, ["_svc"], "infusates", ",")
    services = services.drop(columns="is_pump").reset_index()
    services["minutes"] = (services["seconds"] // 60).astype("int64")
    services = services.drop(columns="seconds").join(svc_attrs, on="_attr_svc")
    services["kind"] = _service_kind(services)
    services["has_blocks"] = True
    return services


def _one_time_administrations(events: pd.DataFrame, attrs: pd.DataFrame, missing: pd.DataFrame) -> pd.DataFrame:
    """Pushes, injections, intra-arterial doses and pump starts: one row per
    charted ``given`` off an infusion route, plus each infusate with no stop
    that policy resolved as a push at its first start (R-C8 c) and each pump
    left running (kind ``pump``, route ``pump``, R-H8), on the site of its
    first event. Uncoded classes and hydration are kind ``none``;
    ``minutes`` is 0 (a pump start never gets derived minutes).
    """
    keys = ["encounter_id", "infusate_id"]
    once = events[(events["action"] == "given") & ~events["route"].isin(INFUSION_ROUTES)]
    # One dose charted twice at the same minute is one dose. If the copies
    # disagree on the route, the higher one in the hierarchy (a push over an
    # injection, R-A2) is kept, then the route's name: never the
    # row order, so a shuffled extract codes the same.
    order = np.lexsort((once["route"].to_numpy(dtype=object).astype(str),
                        once["route"].isin(INJECTION_ROUTES).to_numpy()))
    once = once.iloc[order].drop_duplicates(["_infusate", "event_time"]).sort_index(kind="mergesort")
    pushed = missing[missing["resolution"].isin(["push", PUMP_START])]
    pushed = pushed.sort_values("start").drop_duplicates(keys)
    route = np.where(pushed["resolution"] == PUMP_START, "pump", "iv_push")
    pushed = pushed[keys + ["start"]].rename(columns={"start": "event_time"}).assign(route=route)
    # The site of a pushed infusate's first event: only those few infusates are looked up.
    of_pushed = events["infusate_id"].isin(pushed["infusate_id"])
    site_of = events[of_pushed].sort_values("event_time", kind="mergesort").drop_duplicates(keys)[keys + ["site", "visit"]]
    pushed = pushed.merge(site_of, on=keys, how="left").merge(attrs, on=keys)
    # Charted doses take their infusate's attributes by code (no merge on texts).
    attr_columns = [c for c in attrs.columns if c not in keys]
    rows = _attrs_rows(attrs, once["_infusate"].to_numpy())
    once = pd.concat(
        [once[keys + ["event_time", "route", "site", "visit"]].reset_index(drop=True),
         attrs[attr_columns].iloc[rows].reset_index(drop=True)],
        axis=1,
    )
    once = pd.concat([once, pushed], ignore_index=True)
    kind = np.select(
        [
            once["drug_class"].isin([*NOT_CODED_CLASSES, HYDRATION]),
            once["route"].isin(INJECTION_ROUTES),
            once["route"] == "intra_arterial",
            once["route"] == "pump",
        ],
        ["none", "injection", "intra_arterial", "pump"],
        default="push",
    )
    return once.assign(
        kind=kind,
        start=once["event_time"],
        end=once["event_time"],
        minutes=0,
        infusates=once["infusate_id"].astype(str),
        has_blocks=False,
    ).drop(columns=["event_time", "infusate_id"])


def _with_services(seg: pd.DataFrame, attrs: pd.DataFrame) -> pd.DataFrame:
    """Segments with their normalised ``site`` and their service (``service_key``, ``_svc``),
    looked up by infusate code (no merge on texts)."""
    rows = _attrs_rows(attrs, seg["_infusate"].to_numpy())
    return seg.assign(
        site=normalise_site(seg["access_site"]),
        service_key=attrs["service_key"].to_numpy()[rows], _svc=attrs["_svc"].to_numpy()[rows],
    ).reset_index(drop=True)


def build_timeline(events: pd.DataFrame, policy: Policy) -> Timeline:
    """Reconstruct administrations from classified MAR events.

    Args:
        events: kept (validated) MAR rows with the canonical columns plus
            ``drug_key``, ``drug_class`` and ``hormonal`` from
            :func:`transforms.reference.drugs.classify_drugs`.
        policy: the coding policy (missing-stop handling).

    Returns:
        A :class:`Timeline`. ``administrations`` has one row per service,
        push and injection with ``admin_id`` (unique), ``encounter_id``,
        ``service_key``, ``drug_label``, ``drug_class``, ``hormonal``,
        ``kind`` (``infusion``, ``push``, ``hydration``, ``pump``,
        ``sc_infusion``, ``injection``, ``intra_arterial``, ``none``),
        ``route``, ``site``, ``start``, ``end``, ``minutes`` (active, whole
        minutes; 0 for one-time events), ``infusates``, ``n_components``,
        ``has_blocks``, ``primary``, ``visit`` (the charted ``visit_id``
        of its first event, ``""`` when none) and ``drug_as_charted`` (the
        MAR's drug texts of the components that rank like it, distinct
        ones joined with `` + ``); rows sorted by encounter and start,
        ``admin_id`` numbering them from 0. Infusion events that cannot be
        used (:func:`unusable_events`, e.g. a rate change after a stop) are
        left out of the segments and listed in ``unused_events`` (sorted by
        encounter, infusate and time).

    Invariant: row order of ``events`` never changes the result; every
    infusion event is used or listed in ``unused_events``.
    """
    events = _prepare_events(events)
    attrs = _infusate_attributes(events)
    attrs["_svc"] = _service_codes(attrs)
    timed = _timed_events(events)
    # Dropping unusable events leaves the state of every usable one as it
    # was (see unusable_events), so the state is computed once.
    state = _state_before(timed)
    issue = unusable_events(timed, state)
    unusable = issue != ""
    seg, missing = _segments(timed[~unusable], policy, state[~unusable])
    # A pump left running is coded as a pump start, not reported as a missing stop.
    pump_start = (missing["resolution"] == PUMP_START).to_numpy()
    unused = timed.loc[unusable].assign(issue=issue[unusable]).merge(
        attrs[["encounter_id", "infusate_id", "drug_label"]], on=["encounter_id", "infusate_id"], how="left"
    )[UNUSED_EVENT_COLUMNS].reset_index(drop=True)
    blocks = _repeat_runs(_merge_blocks(_with_services(seg, attrs)), attrs, policy)
    services = _services(blocks, attrs)
    once = _one_time_administrations(events, attrs, missing)
    admins = pd.concat([services[ADMINISTRATION_COLUMNS], once[ADMINISTRATION_COLUMNS]], ignore_index=True)
    admins = admins.sort_values(
        ["encounter_id", "start", "service_key", "kind", "infusates"], kind="mergesort"
    ).reset_index(drop=True)
    admins["admin_id"] = np.arange(len(admins), dtype="int64")
    admins["hormonal"] = admins["hormonal"].astype(bool)
    admins["primary"] = admins["primary"].astype(bool)
    # Already in (encounter, service key, start) order: _merge_blocks numbers them so.
    blocks = blocks.drop(columns=["is_pump", "_svc", "_attr_svc"]).reset_index(drop=True)
    missing = missing[~pump_start].reset_index(drop=True)
    return Timeline(blocks=blocks, administrations=admins, missing_stops=missing, unused_events=unused)
