"""MAR events -> int codes, infusate attributes and the usable sequence of each bag.

The first steps of :func:`transforms.engine.timeline.build_timeline`: texts
are turned into int codes once (:func:`_prepare_events`); each infusate
(bag) gets its class, service key and label (:func:`_infusate_attributes`);
its infusion events are put in time order (:func:`_timed_events`) with the
state of the bag before each (:func:`_state_before`) and why an event is
unusable (:func:`_issues`). Also the int-array helpers (codes, runs,
reductions, times) the later steps share.

Times are int64 nanoseconds (UTC) with NaT = int64 min. Every function is
vectorised (sort + shift + cumsum); none loops over rows or infusates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.sort_keys import lexsort_ints
from transforms.engine.sites import normalise_site, normalise_visit
from transforms.frames import distinct_rows, factorize_shared, join_runs, run_starts, text_order
from transforms.frames import on_distinct as _on_distinct
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
#: Issue of a pump disconnect with no pump start in its encounter: the
#: disconnect is part of the pump start coded where the pump was started (R-H8).
PUMP_DISCONNECT_ISSUE = "pump disconnect with no pump start in this encounter (included in the pump start, R-H8)"

# Action codes: the ACTION_ORDER of each action; an action not there sorts after all.
_STOP, _PAUSE, _START, _RESUME, _RATE_CHANGE, _GIVEN = (
    ACTION_ORDER[a] for a in ("stop", "pause", "start", "resume", "rate_change", "given")
)
_OTHER_ACTION = len(ACTION_ORDER)
#: Text of each action code (the issue of an unusable event quotes it).
_ACTION_TEXT = np.array([*sorted(ACTION_ORDER, key=ACTION_ORDER.__getitem__), ""], dtype=object)
#: Whether the bag runs after a usable event, per action code; an action
#: RUNNING_AFTER does not name leaves it running.
_RUNS_AFTER = np.array([RUNNING_AFTER.get(a, True) for a in _ACTION_TEXT])
# State of an infusate just before an event (:func:`_state_before`).
_NEVER, _STOPPED, _PAUSED, _RUNNING = range(4)
_STATE_TEXT = np.array(["never", "stopped", "paused", "running"], dtype=object)
#: int64 nanoseconds of NaT, and the key that sorts it last (as sort_values does).
_NAT = np.iinfo(np.int64).min
_LAST = np.iinfo(np.int64).max
#: Classes an infusate can have (UNKNOWN among them); an infusate carries the index of its class.
_CLASSES = np.array(list(CLASS_RANK), dtype=object)
_NOT_CODED = np.isin(_CLASSES, NOT_CODED_CLASSES)
_IS_HYDRATION = _CLASSES == HYDRATION
_IS_DRUG = np.isin(_CLASSES, DRUG_CLASSES)


# --- codes and groups of int arrays ---------------------------------------------------------


def _text_codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Int code of each text, numbered in sorted text order (the order
    ``sort_values`` gives), and the distinct texts in that order; missing -> -1.

    The distinct texts are sorted by pyarrow (code point order, as Python
    compares ``str``); values that are not all ``str`` fall back to pandas.
    """
    codes, distinct = pd.factorize(values)
    distinct = np.asarray(distinct, dtype=object)
    order = text_order(distinct)
    if order is None:
        codes, distinct = pd.factorize(values, sort=True)
        return codes, np.asarray(distinct, dtype=object)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return np.where(codes >= 0, rank[np.maximum(codes, 0)] if len(rank) else -1, -1), distinct[order]


def _pair_codes(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """Dense int64 code of each (major, minor) pair of non-negative ints,
    numbered in (major, minor) order."""
    if len(major) == 0:
        return np.empty(0, dtype=np.int64)
    key = major.astype(np.int64) * (int(minor.max()) + 1) + minor
    # Rows come (nearly) grouped by encounter: a stable sort (timsort) of
    # nearly sorted keys is a few times faster than np.unique's quicksort.
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    new = np.empty(len(key), dtype=np.int64)
    new[0] = 0
    new[1:] = ordered[1:] != ordered[:-1]
    code = np.empty(len(key), dtype=np.int64)
    code[order] = np.cumsum(new)
    return code


def _grouped_pairs(group: np.ndarray, codes: np.ndarray, *, sort: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`transforms.frames.distinct_pairs` of rows already grouped
    (``group`` non-decreasing; ``codes`` non-negative ints): the distinct
    (group, code) pairs, by group, codes ascending (``sort``) or in order of
    first appearance. Grouped keys are nearly sorted: one stable sort
    (timsort) finds each pair's first row, no hashing."""
    if len(group) == 0:
        return group, codes
    if not bool(np.all(group[1:] >= group[:-1])):
        raise ValueError("rows are not grouped")
    key = group.astype(np.int64) * (int(codes.max()) + 1) + codes
    order = np.argsort(key, kind="stable")
    first = order[run_starts(key[order])]
    if not sort:  # first rows ascending: by group, then by first appearance
        first = np.sort(first)
    return group[first], codes[first]


def _run_bounds(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last position of each row's run of equal ``code`` (rows of
    a code contiguous), both int arrays aligned with ``code``."""
    n = len(code)
    starts = run_starts(code)
    run = np.zeros(n, dtype=np.int64)
    run[starts[1:]] = 1
    run = np.cumsum(run)
    return starts[run], (np.r_[starts[1:], n] - 1)[run]


def _reduce(ufunc: np.ufunc, values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``ufunc.reduceat`` of the runs starting at ``starts`` (empty when there is none)."""
    return ufunc.reduceat(values, starts) if len(starts) else values[:0]


def _first_present(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """First non-missing value of each run of ``values`` (``None`` when all
    are missing), as groupby ``first`` gives it; object array."""
    missing = pd.isna(values)
    if not missing.any():
        return values[starts].astype(object)
    n = len(values)
    first = _reduce(np.minimum, np.where(missing, n, np.arange(n)), starts)
    out = np.full(len(starts), None, dtype=object)
    out[first < n] = values[first[first < n]]
    return out


def _ns(times: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of tz-aware times, int64 (NaT = int64 min)."""
    return times.dt.as_unit("ns").array.asi8


def _as_times(ns: np.ndarray) -> pd.DatetimeIndex:
    """tz-aware UTC times of int64 nanoseconds (int64 min = NaT)."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC")


def _flag(values: pd.Series) -> np.ndarray:
    """Bool of each value, missing -> False."""
    if values.dtype == bool:
        return values.to_numpy()
    if isinstance(values.dtype, pd.BooleanDtype):
        return values.to_numpy(dtype=bool, na_value=False)
    raw = values.to_numpy(dtype=object)
    return np.where(pd.isna(raw), False, raw).astype(bool)


# --- events and infusates -------------------------------------------------------------------


@dataclass(frozen=True)
class _Events:
    """Events prepared once for the whole build (:func:`_prepare_events`);
    element ``i`` of every array is row ``i`` of ``frame``."""

    frame: pd.DataFrame        # the caller's events, never modified
    encounter: np.ndarray      # encounter code, numbered in sorted encounter_id order
    infusate_id: np.ndarray    # text (a piggyback charted once renamed, see _piggyback_ids)
    infusate: np.ndarray       # (encounter, infusate) code, numbered in sorted key order
    action: np.ndarray         # ACTION_ORDER code, _OTHER_ACTION for any other action
    time: np.ndarray           # event_time, int64 ns (NaT = int64 min)
    route_code: np.ndarray     # index into routes
    routes: np.ndarray         # the distinct routes (text, missing included)
    infusion_route: np.ndarray  # route in INFUSION_ROUTES
    injection_route: np.ndarray  # route in INJECTION_ROUTES
    pump: np.ndarray           # route == "pump"
    site: np.ndarray           # normalised access site (normalise_site)
    visit: np.ndarray          # normalised visit_id (normalise_visit)
    rate: np.ndarray           # float, NaN when not numeric
    volume_ml: np.ndarray      # float, NaN when not numeric
    ml_per_hour: np.ndarray    # rate_unit says mL/h (a missing unit is taken as mL/h)

    def on_route(self, route: str, rows: np.ndarray) -> np.ndarray:
        """Whether each event of ``rows`` is charted on ``route``."""
        return (self.routes == route)[self.route_code[rows]]


def _numeric(events: pd.DataFrame, column: str) -> np.ndarray:
    """``column`` as float (non-numbers NaN), all NaN when absent."""
    if column not in events:
        return np.full(len(events), np.nan)
    return pd.to_numeric(events[column], errors="coerce").astype(float).to_numpy()


def _piggyback_ids(events: pd.DataFrame, charted_once: np.ndarray) -> np.ndarray:
    """``infusate_id`` with each piggyback charted once (``given`` on an
    infusion route) renamed ``<id>@<event time>``: a dose of its own with no
    stop time, so repeated doses of one order never join up."""
    ids = events["infusate_id"].to_numpy(dtype=object)
    if not charted_once.any():
        return ids
    ids = ids.copy()
    stamp = _on_distinct(events["event_time"][charted_once], lambda t: t.dt.strftime("%Y%m%dT%H%M%S"))
    ids[charted_once] = events["infusate_id"][charted_once].astype(str).to_numpy(dtype=object) + "@" + stamp
    return ids


def _prepare_events(events: pd.DataFrame) -> _Events:
    """Int codes, flags and numbers of ``events``, each text column read once
    (per distinct value where it has few): see :class:`_Events`."""
    n = len(events)
    action = _on_distinct(events["action"], lambda a: a.map(ACTION_ORDER).fillna(_OTHER_ACTION)).astype(np.int64)
    route_code, routes = factorize_shared(events["route"], use_na_sentinel=False)
    infusion_route = pd.Series(routes).isin(INFUSION_ROUTES).to_numpy()[route_code]
    infusate_id = _piggyback_ids(events, (action == _GIVEN) & infusion_route)
    encounter, _ = _text_codes(events["encounter_id"])
    infusate_text, _ = _text_codes(infusate_id)
    units = events["rate_unit"] if "rate_unit" in events else pd.Series(None, index=events.index, dtype=object)
    return _Events(
        frame=events, encounter=encounter, infusate_id=infusate_id, infusate=_pair_codes(encounter, infusate_text),
        action=action, time=_ns(events["event_time"]), route_code=route_code, routes=routes,
        infusion_route=infusion_route,
        injection_route=pd.Series(routes).isin(INJECTION_ROUTES).to_numpy()[route_code],
        pump=(routes == "pump")[route_code],
        site=normalise_site(events["access_site"]).to_numpy() if "access_site" in events else np.full(n, "", object),
        visit=(_on_distinct(events["visit_id"], normalise_visit) if "visit_id" in events
               else np.full(n, "", dtype=object)),
        rate=_numeric(events, "rate"),
        volume_ml=_numeric(events, "volume_ml"),
        ml_per_hour=_on_distinct(
            units, lambda u: u.astype(object).fillna("mL/h").str.lower().str.replace(" ", "").isin(ML_PER_HOUR)
        ).astype(bool),
    )


def _components(ev: _Events) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Component of each event: its code (numbered in sorted component-key
    order), the component keys, and the component's ``rank``
    (:data:`CLASS_RANK`, -1 for an unclassified drug).

    An unknown drug gets a key from its text so it stays distinguishable.
    """
    frame = ev.frame
    code, keys = factorize_shared(frame["drug_key"])
    keys = np.asarray(keys, dtype=object)
    no_key = code < 0
    if no_key.any():
        # Only rows with no drug key need their text (few): normalise each distinct one once.
        text = "?" + _on_distinct(frame["drug"][no_key], lambda d: d.astype(str).str.lower().str.strip())
        text_code, texts = pd.factorize(text)
        code = code.copy()
        code[no_key] = len(keys) + text_code
        keys = np.r_[keys, np.asarray(texts, dtype=object)]
    # Number the components in sorted key order (a "?" text equal to a key is that key).
    rank, keys = _text_codes(keys)
    rank_of = _on_distinct(frame["drug_class"], lambda c: c.map(CLASS_RANK).astype(int)).astype(np.int64)
    return rank[code], keys, rank_of


def _joined_components(group: np.ndarray, component: np.ndarray, keys: np.ndarray, *,
                       sort: bool) -> tuple[np.ndarray, np.ndarray]:
    """Distinct components of each group code ``0..n-1`` (every group has
    one; rows grouped, see :func:`_grouped_pairs`) joined with ``+``, sorted
    or in charted order, and how many there are."""
    g, c = _grouped_pairs(group, component, sort=sort)
    starts = run_starts(g)
    return join_runs(keys[c], starts, "+", labels=True), np.diff(np.r_[starts, len(g)]).astype(np.int64)


def _charted_texts(group: np.ndarray, texts: np.ndarray, n_groups: int) -> np.ndarray:
    """Distinct non-null ``texts`` of each group code ``0..n_groups-1``
    (rows grouped) joined with `` + `` in charted order, as
    :func:`transforms.frames.join_distinct` joins them; NaN for none."""
    codes, names = factorize_shared(texts)
    present = codes >= 0
    g, c = _grouped_pairs(group[present], codes[present], sort=False)
    out = np.full(n_groups, np.nan, dtype=object)
    if len(g):
        starts = run_starts(g)
        text = pd.Series(names, dtype=object).astype(str).to_numpy(dtype=object)
        out[g[starts]] = join_runs(text[c], starts, " + ", labels=True)
    return out


def _class_codes(top_rank: np.ndarray, has_unknown: np.ndarray) -> np.ndarray:
    """Index into :data:`_CLASSES` of the class of each bag: that of its top
    rank, ``unknown`` when it has an unclassified component and nothing above hydration."""
    of_rank = {rank: code for code, rank in enumerate(CLASS_RANK.values())}
    low = min(of_rank)
    lookup = np.array([of_rank.get(r, -1) for r in range(low, max(of_rank) + 1)], dtype=np.int64)
    cls = lookup[top_rank - low]
    cls[has_unknown & (top_rank < CLASS_RANK[THERAPEUTIC])] = of_rank[CLASS_RANK[UNKNOWN]]
    return cls


def _infusate_attributes(ev: _Events) -> pd.DataFrame:
    """One row per infusate code (row ``i`` is code ``i``): ``encounter_id``,
    ``infusate_id``, ``hormonal``, ``primary``, ``service_key``,
    ``n_components``, ``drug_label``, ``drug_as_charted``, ``drug_class``,
    and the codes ``_class`` (into :data:`_CLASSES`), ``_encounter``,
    ``_first`` (its first event's row), ``_key`` (:func:`_service_keys`) and ``_svc``.

    A mixed bag is ranked by its highest component (R-D5). A bag with an
    unclassified component and nothing above hydration is ``unknown``: the
    fluid may be the carrier of the unknown drug, so it is never guessed to
    be hydration. The service key is ``components[@pump]#class``: the
    distinct components in sorted order. The label joins the components
    that rank like the bag, in charted order. No loop per infusate (sorted
    codes, runs reduced and joined).
    """
    component, keys, rank = _components(ev)
    code, frame = ev.infusate, ev.frame
    # Rows grouped by infusate, in row (charted) order within one.
    order = np.argsort(code, kind="stable")
    grouped, component = code[order], component[order]
    starts = run_starts(grouped)
    first = order[starts]
    top_rank = _reduce(np.maximum, rank[order], starts)
    cls = _class_codes(top_rank, _reduce(np.logical_or, (rank < 0)[order], starts))
    # A pump started for a prolonged infusion is a service of its own: it
    # never merges with a bolus or bag of the same drug (R-H8).
    on_pump = _reduce(np.logical_or, ev.pump[order], starts)
    primary = _flag(frame["primary"]) if "primary" in frame else np.zeros(len(code), dtype=bool)
    components, n_components = _joined_components(grouped, component, keys, sort=True)
    # A component is kept in the label only if it ranks like the bag: the
    # saline carrier of a drug is not part of what was given.
    top = rank[order] == top_rank[grouped]
    label, _ = _joined_components(grouped[top], component[top], keys, sort=False)
    # What the nurse charted for those components, for people to read (the
    # report and ``explain``); distinct texts of a bag in charted order.
    charted = _charted_texts(grouped[top], frame["drug"].to_numpy(dtype=object)[order[top]], len(first))
    service_key, key_rank = _service_keys(components, on_pump, cls)
    attrs = pd.DataFrame({
        "encounter_id": frame["encounter_id"].to_numpy(dtype=object)[first],
        "infusate_id": ev.infusate_id[first],
        "hormonal": _reduce(np.logical_or, _flag(frame["hormonal"])[order], starts),
        "primary": _reduce(np.logical_or, primary[order], starts),
        "service_key": service_key, "n_components": n_components, "drug_label": label,
        "drug_as_charted": charted, "drug_class": _CLASSES[cls], "_class": cls,
        "_encounter": ev.encounter[first], "_first": first,
        # _svc: the (encounter, service) code, numbered in sorted key order:
        # sorting by it sorts by encounter, then service key.
        "_key": key_rank, "_svc": _pair_codes(ev.encounter[first], key_rank),
    }, copy=False)  # fresh arrays: not copied into one block
    return attrs


def _service_keys(components: np.ndarray, on_pump: np.ndarray, cls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Service key ``components[@pump]#class`` of each infusate (object
    array) and its rank in sorted text order (int64); each distinct
    (components, pump, class) is built and ranked once, not once per infusate.

    The class is part of the identity: saline as hydration, as a KVO line
    and as a flush are three different things, never one service.
    """
    component_code, _ = pd.factorize(components)
    code, first = distinct_rows(component_code, on_pump.astype(np.int64), cls)
    texts = components[first] + np.where(on_pump[first], "@pump#", "#").astype(object) + _CLASSES[cls[first]]
    rank, _ = _text_codes(texts)
    return texts[code], rank[code]


def _service_attributes(attrs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per service code (element ``i`` is ``_svc`` ``i``): the label, class
    and charted text of its first-charted infusate; ``hormonal``, ``primary``
    and ``n_components`` if any / the most of its infusates."""
    svc = attrs["_svc"].to_numpy()
    order = lexsort_ints((attrs["_first"].to_numpy(), svc))
    starts = run_starts(svc[order])
    first = order[starts]
    taken = {name: attrs[name].to_numpy()[first] for name in ("drug_label", "drug_as_charted", "drug_class", "_class")}
    most = {name: _reduce(np.maximum, attrs[name].to_numpy()[order], starts)
            for name in ("hormonal", "n_components", "primary")}
    return taken | most


# --- the sequence of each bag ---------------------------------------------------------------


@dataclass(frozen=True)
class _Timed:
    """Infusion events, aligned arrays (:func:`_timed_events`)."""

    pos: np.ndarray       # row of the event in the events
    infusate: np.ndarray  # (encounter, infusate) code; rows of a code contiguous, in time order
    time: np.ndarray      # int64 ns
    action: np.ndarray    # action code; a ``given`` on an infusion route is a start

    def take(self, rows: np.ndarray) -> _Timed:
        """The events at positions (or mask) ``rows``."""
        return _Timed(self.pos[rows], self.infusate[rows], self.time[rows], self.action[rows])


def _timed_events(ev: _Events) -> _Timed:
    """Infusion events, one per (encounter, infusate, time, action).

    A ``given`` charted on an infusion route is a start without a stop.
    Sorted by infusate code (so by encounter, then infusate), time (missing
    last) and :data:`ACTION_ORDER`, stably: of equal events the first charted
    is kept. Actions outside ACTION_ORDER share one order key and are told
    apart by their text.
    """
    keep = np.flatnonzero((ev.action != _GIVEN) | ev.infusion_route)
    timed = _Timed(keep, ev.infusate[keep], ev.time[keep], np.where(ev.action[keep] == _GIVEN, _START, ev.action[keep]))
    other = timed.action == _OTHER_ACTION
    if other.any():  # same order key, different actions: drop exact repeats by text
        text = np.where(ev.action[keep] == _GIVEN, "start", ev.frame["action"].to_numpy(dtype=object)[keep])
        repeat = pd.DataFrame({"i": timed.infusate, "t": timed.time, "a": pd.factorize(text, use_na_sentinel=False)[0]})
        timed = timed.take(~repeat.duplicated().to_numpy())
    time_key = np.where(timed.time == _NAT, _LAST, timed.time)
    order = lexsort_ints((timed.action, time_key, timed.infusate))
    timed, time_key = timed.take(order), time_key[order]
    repeat = np.zeros(len(order), dtype=bool)
    if len(order) and not other.any():  # equal (infusate, time, action) rows are adjacent now
        repeat[1:] = ((timed.infusate[1:] == timed.infusate[:-1]) & (time_key[1:] == time_key[:-1])
                      & (timed.action[1:] == timed.action[:-1]))
    return timed.take(~repeat)


def _last_before(action: np.ndarray, first: np.ndarray, marks: tuple[int, ...]) -> np.ndarray:
    """Per row, the last action code among ``marks`` strictly before it in
    its run (``first``: the run's first row; runs in time order), -1 when
    there is none. A running max of mark positions, no grouping."""
    n = len(action)
    if n == 0:
        return action.copy()
    positions = np.arange(n)
    last_mark = np.maximum.accumulate(np.where(np.isin(action, marks), positions, -1))
    before = np.r_[-1, last_mark[:-1]]
    return np.where(before >= first, action[np.maximum(before, 0)], -1)


def _state_before(action: np.ndarray, infusate: np.ndarray) -> np.ndarray:
    """State code of each event's infusate just before it: ``_NEVER`` (not
    started yet), ``_RUNNING``, ``_PAUSED`` or ``_STOPPED``.

    Rows are timed events in :func:`_timed_events` order. Computed without
    a loop because no unusable event changes the state: only a ``start``
    leaves never; once started, the last of ``start``/``resume``/``stop``
    says whether the bag is stopped (a second stop keeps it stopped), and if
    not, the last of ``start``/``resume``/``pause`` says whether it is
    paused (a pause on a stopped bag is unusable and so never counts).
    """
    first, _ = _run_bounds(infusate)
    is_start = (action == _START).astype(np.int64)
    starts_through = np.cumsum(is_start)
    started = (starts_through - is_start) - (starts_through[first] - is_start[first]) > 0
    stopped = _last_before(action, first, (_START, _RESUME, _STOP)) == _STOP
    paused = _last_before(action, first, (_START, _RESUME, _PAUSE)) == _PAUSE
    return np.select([~started, stopped, paused], [_NEVER, _STOPPED, _PAUSED], default=_RUNNING)


def _issues(action: np.ndarray, infusate: np.ndarray, state: np.ndarray, pump: np.ndarray) -> np.ndarray:
    """Why each timed event is unusable, ``""`` if it is usable (see
    :func:`unusable_events`); object array. ``state``: :func:`_state_before`,
    ``pump``: the event is charted on route ``pump``."""
    _, last = _run_bounds(infusate)
    starts_through = np.cumsum(action == _START)
    start_later = starts_through[last] > starts_through
    never, stopped, is_stop = state == _NEVER, state == _STOPPED, action == _STOP
    case = np.select(
        [
            is_stop & never & start_later,
            is_stop & never,
            is_stop & stopped,
            np.isin(action, (_RATE_CHANGE, _PAUSE, _RESUME)) & never,
            np.isin(action, (_RATE_CHANGE, _PAUSE)) & stopped,
        ],
        [0, 1, 2, 3, 4],
        default=-1,
    )
    issue = np.full(len(action), "", dtype=object)
    fixed = np.array(["stop charted before the infusate's start", "stop with no start before it",
                      "infusate already stopped"], dtype=object)
    rows = (case >= 0) & (case <= 2)
    issue[rows] = fixed[case[rows]]
    issue[(case == 1) & pump] = PUMP_DISCONNECT_ISSUE
    # The action's own words, built only for the (few) rows that need them.
    for code, tail in ((3, " before the bag was started"), (4, " on a stopped bag")):
        rows = case == code
        issue[rows] = np.array([t.replace("_", " ") for t in _ACTION_TEXT], dtype=object)[action[rows]] + tail
    return issue
