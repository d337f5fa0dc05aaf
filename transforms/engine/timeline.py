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
loops over rows. Texts are turned into int codes once (:func:`_prepare_events`)
and every later step sorts, groups and looks up on those codes and on event
positions; texts are taken back only for the output rows. Times are int64
nanoseconds (UTC) inside, tz-aware UTC ``Timestamp`` in the outputs; minutes
are whole minutes of active time (seconds truncated, as charted times are
minute-exact).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.engine.sites import normalise_site, normalise_visit
from transforms.frames import distinct_pairs, distinct_rows, factorize_shared, join_distinct, join_runs, run_starts
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
_NS_PER_SECOND = 10**9
#: Classes an infusate can have (UNKNOWN among them); an infusate carries the index of its class.
_CLASSES = np.array(list(CLASS_RANK), dtype=object)
_NOT_CODED = np.isin(_CLASSES, NOT_CODED_CLASSES)
_IS_HYDRATION = _CLASSES == HYDRATION
_IS_DRUG = np.isin(_CLASSES, DRUG_CLASSES)
#: Kinds of administration, in text order: a kind's code sorts as its text.
_KINDS = np.array(sorted(["none", "hydration", "pump", "injection", "sc_infusion", "push", "infusion",
                          "intra_arterial"]), dtype=object)
_KIND = {kind: code for code, kind in enumerate(_KINDS)}


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


# --- codes and groups of int arrays ---------------------------------------------------------


def _text_codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Int code of each text, numbered in sorted text order (the order
    ``sort_values`` gives), and the distinct texts in that order; missing -> -1.

    The distinct texts are sorted by pyarrow (code point order, as Python
    compares ``str``); values that are not all ``str`` fall back to pandas.
    """
    codes, distinct = pd.factorize(values)
    distinct = np.asarray(distinct, dtype=object)
    try:
        order = pc.array_sort_indices(pa.array(distinct, type=pa.string())).to_numpy()
    except (pa.ArrowException, TypeError, UnicodeError):
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
    return np.unique(key, return_inverse=True)[1].reshape(-1)


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
    one) joined with ``+``, sorted or in charted order, and how many there are."""
    g, c = distinct_pairs(group, component, sort=sort)
    starts = run_starts(g)
    return join_runs(keys[c], starts, "+"), np.diff(np.r_[starts, len(g)]).astype(np.int64)


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
    order = np.argsort(code, kind="stable")
    starts = run_starts(code[order])
    first = order[starts]
    top_rank = _reduce(np.maximum, rank[order], starts)
    cls = _class_codes(top_rank, _reduce(np.logical_or, (rank < 0)[order], starts))
    # A pump started for a prolonged infusion is a service of its own: it
    # never merges with a bolus or bag of the same drug (R-H8).
    on_pump = _reduce(np.logical_or, ev.pump[order], starts)
    primary = _flag(frame["primary"]) if "primary" in frame else np.zeros(len(code), dtype=bool)
    components, n_components = _joined_components(code, component, keys, sort=True)
    # A component is kept in the label only if it ranks like the bag: the
    # saline carrier of a drug is not part of what was given.
    top = rank == top_rank[code]
    label, _ = _joined_components(code[top], component[top], keys, sort=False)
    # What the nurse charted for those components, for people to read (the
    # report and ``explain``); distinct texts of a bag in charted order.
    charted = np.full(len(first), np.nan, dtype=object)
    with_text, texts = join_distinct(code[top], frame["drug"].to_numpy(dtype=object)[top], " + ")
    charted[with_text] = texts
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
    order = np.lexsort((attrs["_first"].to_numpy(), svc))
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
    order = np.lexsort((timed.action, time_key, timed.infusate))
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


def unusable_events(timed: pd.DataFrame, state: pd.Series | None = None) -> pd.Series:
    """Why each infusion event cannot be used by the timeline ("" if it can).

    ``timed``: infusion events sorted by encounter, infusate, time and
    :data:`ACTION_ORDER` (a ``given`` already a ``start``), with ``action``,
    ``route`` and ``encounter_id``/``infusate_id`` (or their ``_infusate``
    code). Unusable, per (encounter, infusate), whatever the row order of the file:

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
    event's state the same. ``state``: the state before each event
    (``never``/``running``/``paused``/``stopped``) when the caller has it.
    The build itself works on codes (:func:`_issues`).
    """
    action = _on_distinct(timed["action"], lambda a: a.map(ACTION_ORDER).fillna(_OTHER_ACTION)).astype(np.int64)
    if "_infusate" in timed:
        infusate = timed["_infusate"].to_numpy()
    else:
        infusate = timed.groupby(["encounter_id", "infusate_id"], sort=True).ngroup().to_numpy()
    if state is None:
        codes = _state_before(action, infusate)
    else:
        codes = state.map({text: i for i, text in enumerate(_STATE_TEXT)}).to_numpy()
    issue = _issues(action, infusate, codes, (timed["route"] == "pump").to_numpy())
    return pd.Series(issue, index=timed.index, dtype=object)


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
    order = np.lexsort((seg.end, seg.start, svc))
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
    has one), joined with ``,`` in order of first appearance."""
    g, code = distinct_pairs(group, infusate, sort=False)
    return join_runs(attrs["infusate_id"].to_numpy()[code], run_starts(g), ",")


def _services(ev: _Events, blocks: _Blocks, attrs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Columns of one administration per service that ran: its blocks added
    up, in order of start (then service code); times as int64 ns, ``kind``
    as a code, with sort keys ``_encounter`` and ``_key`` (None when unknown).

    ``start``/``end`` span its blocks; ``minutes`` are whole minutes of the
    summed running seconds; ``site`` and ``route`` are those of its first
    block (``pump`` if any block ran on a pump); ``infusates`` its distinct
    bags in order of first appearance.
    """
    starts = run_starts(blocks.svc)
    # Summed as pandas sums float seconds (Kahan), per service in start order.
    seconds = pd.Series((blocks.end - blocks.start) / _NS_PER_SECOND).groupby(blocks.svc, sort=False).sum().to_numpy()
    minutes = (seconds // 60).astype(np.int64)
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
    order = np.lexsort((np.arange(len(starts)), columns["start"]))
    return {name: None if values is None else values[order] for name, values in columns.items()}


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
    order = np.lexsort((rows, route_rank, ev.injection_route[rows], time, infusate))
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (infusate[order][1:] != infusate[order][:-1]) | (time[order][1:] != time[order][:-1])
    return np.sort(rows[order[first]])


def _first_event_rows(ev: _Events, infusates: np.ndarray) -> np.ndarray:
    """Row of the first event (by time, then row) of each infusate code in ``infusates``."""
    wanted = np.zeros(int(ev.infusate.max()) + 1 if len(ev.infusate) else 0, dtype=bool)
    wanted[infusates] = True
    rows = np.flatnonzero(wanted[ev.infusate])
    time_key = np.where(ev.time[rows] == _NAT, _LAST, ev.time[rows])
    order = np.lexsort((rows, time_key, ev.infusate[rows]))
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
    start = column["start"]
    key = (np.concatenate([p["_key"] for p in parts]) if all(p["_key"] is not None for p in parts)
           else _text_codes(column["service_key"])[0])
    keys = [column["_encounter"], np.where(start == _NAT, _LAST, start), key, column["kind"]]
    order = np.lexsort(tuple(reversed(keys)))
    if len(order) > 1:
        stacked = np.stack([k[order] for k in keys])
        same = np.all(stacked[:, 1:] == stacked[:, :-1], axis=0)
        tied = np.r_[same, False] | np.r_[False, same]
        if tied.any():
            infusates = np.zeros(len(order), dtype=np.int64)
            infusates[order[tied]] = _text_codes(column["infusates"][order[tied]])[0]
            order = np.lexsort((infusates, *reversed(keys)))
    taken = {name: column[name][order] for name in ADMINISTRATION_COLUMNS}
    taken |= {"kind": _KINDS[taken["kind"]], "start": _as_times(taken["start"]), "end": _as_times(taken["end"])}
    admins = pd.DataFrame(taken)
    admins["admin_id"] = np.arange(len(admins), dtype="int64")
    admins["hormonal"] = admins["hormonal"].astype(bool)
    admins["primary"] = admins["primary"].astype(bool)
    return admins


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
    })


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
    ev = _prepare_events(events)
    attrs = _infusate_attributes(ev)
    timed = _timed_events(ev)
    # Dropping unusable events leaves the state of every usable one as it
    # was (see unusable_events), so the state is computed once.
    state = _state_before(timed.action, timed.infusate)
    issue = _issues(timed.action, timed.infusate, state, ev.pump[timed.pos])
    usable = issue == ""
    seg, missing = _segments(ev, timed.take(usable), state[usable], policy)
    blocks = _repeat_runs(_merge_blocks(ev, seg, attrs), attrs, policy)
    admins = _administrations([_services(ev, blocks, attrs), _one_time_administrations(ev, attrs, missing)])
    # A pump left running is coded as a pump start, not reported as a missing stop.
    missing = missing[(missing["resolution"] != PUMP_START).to_numpy()].drop(columns="_infusate")
    return Timeline(blocks=_blocks_frame(ev, blocks, attrs), administrations=admins,
                    missing_stops=missing.reset_index(drop=True), unused_events=_unused_events(ev, timed, issue, attrs))
