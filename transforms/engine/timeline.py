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

The steps live in :mod:`transforms.engine.timeline_events` (codes,
infusates, the sequence of each bag) and
:mod:`transforms.engine.timeline_administrations` (segments, blocks,
administrations); this module assembles them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from transforms.engine.sites import normalise_site
from transforms.engine.timeline_administrations import (  # noqa: F401 (ADMINISTRATION_COLUMNS re-exported)
    ADMINISTRATION_COLUMNS,
    PUMP_START,
    UNUSED_EVENT_COLUMNS,
    _administrations,
    _blocks_frame,
    _merge_blocks,
    _one_time_administrations,
    _repeat_runs,
    _segments,
    _services,
    _unused_events,
)
from transforms.engine.timeline_events import (  # noqa: F401 (PUMP_DISCONNECT_ISSUE, RUNNING_AFTER re-exported)
    _OTHER_ACTION,
    _STATE_TEXT,
    ACTION_ORDER,
    PUMP_DISCONNECT_ISSUE,
    RUNNING_AFTER,
    _infusate_attributes,
    _issues,
    _prepare_events,
    _state_before,
    _timed_events,
)
from transforms.frames import on_distinct as _on_distinct
from transforms.vocab.policy import Policy

__all__ = ["Timeline", "build_timeline", "normalise_site", "unusable_events"]


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
