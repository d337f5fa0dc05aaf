"""Property-based tests (hypothesis) of the coding engine's invariants.

``build_timeline`` + ``code_facility`` are run on generated, classified MAR
event frames of 1-4 encounters made with :mod:`tests.builders` (``ev`` /
``events``), so a shrunk failing example is printed (``note``) as builder
calls that can be pasted into a rule test.

Generated encounters hold 1-8 administrations each:

* infusion bags (``start`` .. ``stop``, 1-600 active minutes, 0-2
  ``pause``/``resume`` pairs of 1-120 min, 0-2 ``rate_change``), sometimes a
  mixed bag (2-3 drugs sharing one ``infusate_id`` with identical events);
* IV pushes (``given`` on ``iv_push``); SC/IM injections (``given``);
* classes chemo / therapeutic / hydration (rate 100-500) / diluent (KVO at
  rate 10, or the carrier of a mixed bag); drugs come from a small pool so
  that the same drug repeats. ``ns`` is hydration or diluent depending on use,
  with one ``drug_key``, as ``transforms.reference.drugs.classify_drugs`` produces it;
* sites from a small pool: two PIVs and two lumens of one CVC;
* each encounter has an anchor anywhere in the first 48 h of day 0
  (2026-11-02, America/New_York) and its administrations start within 12 h
  of it, so they overlap and many cross midnight.

DST: day 0 is the day after the 2026-11-01 fall-back and every generated time
(<= day 3) lies in EST. The day-shift property shifts forward by 1-100 whole
days, i.e. at most to 2027-02-13, still EST (DST starts 2027-03-14), so a
shift of k local days is exactly k * 24 h in UTC.

Comparisons use the sorted multiset of (encounter_id, service_date, hcpcs,
modifiers, units) of ``expected_lines``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from typing import NamedTuple

import pandas as pd
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from tests.builders import TZ, ev, events
from transforms.engine.coding import code_facility
from transforms.vocab.policy import Policy
from transforms.engine.timeline import build_timeline

POLICY = Policy()

# One build_timeline + code_facility call costs ~0.3 s whatever the frame size
# (pandas overhead), so 10 examples per property keep the file near 45 s when
# it passes; PROPERTY_EXAMPLES=100 for a thorough run (~8 min). Shrinking a
# failure can take up to Hypothesis' 5-minute cap per property;
# PROPERTY_SHRINK=0 reports the unshrunk example at once.
_PHASES = tuple(Phase) if os.environ.get("PROPERTY_SHRINK", "1") != "0" else tuple(
    p for p in Phase if p not in (Phase.shrink, Phase.explain)
)
SETTINGS = settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "10")),
    phases=_PHASES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

# --- drug and site pools ----------------------------------------------------

CHEMO = ["cisplatin", "oxaliplatin"]
THERAPEUTIC = ["ondansetron", "ceftriaxone", "vancomycin"]
# ``ns`` is listed twice: NS hydration and NS KVO/carrier of one key are common.
HYDRATION = ["ns", "ns", "lr"]
DILUENT = ["ns", "ns", "d5w"]
PUSHABLE = [(d, "chemo") for d in CHEMO] + [(d, "therapeutic") for d in THERAPEUTIC]
# (drug, class, route, hormonal)
INJECTABLE = [
    ("ondansetron", "therapeutic", "im_injection", False),
    ("ceftriaxone", "therapeutic", "im_injection", False),
    ("enoxaparin", "therapeutic", "sc_injection", False),
    ("leuprolide", "chemo", "sc_injection", True),
]
SITES = ["L forearm PIV", "R hand PIV", "R IJ CVC lumen 1", "R IJ CVC lumen 2"]
ONE_SITE_POOLS = [["L forearm PIV"], ["R IJ CVC lumen 1", "R IJ CVC lumen 2"]]

INITIAL_CODES = {"96360", "96365", "96374", "96409", "96413"}
CLASS_RANK = {"chemo": 4, "therapeutic": 3, "hydration": 2, "diluent": 1}
HORIZON = 48 * 60  # an encounter's anchor falls in the first 48 h of day 0
MAX_ADMINS = 8  # per encounter (an engine call costs the same whatever the size)
SPREAD = 12 * 60  # its administrations start within 12 h of the anchor (so they overlap)


class E(NamedTuple):
    """One generated MAR event; ``t`` is minutes after day-0 local midnight."""

    t: int
    action: str
    drug: str
    cls: str
    enc: str
    site: str
    infusate: str | None = None
    route: str | None = None
    rate: float | None = None
    hormonal: bool = False


def hhmm(t: int) -> str:
    days, rem = divmod(t, 1440)
    return (f"+{days} " if days else "") + f"{rem // 60:02d}:{rem % 60:02d}"


def _kwargs(e: E) -> dict:
    kw: dict = {"site": e.site, "encounter": e.enc}
    if e.infusate is not None:
        kw["infusate"] = e.infusate
    if e.route is not None:
        kw["route"] = e.route
    if e.rate is not None:
        kw["rate"] = e.rate
    if e.hormonal:
        kw["hormonal"] = True
    return kw


def frame(evs: list[E]) -> pd.DataFrame:
    """Builder frame of ``evs`` (``source_row`` 1..n in list order)."""
    return events(*[ev(hhmm(e.t), e.action, e.drug, e.cls, **_kwargs(e)) for e in evs])


def builder_calls(evs: list[E]) -> str:
    """``evs`` as the builder calls that make the same frame."""
    out = []
    for e in evs:
        kw = ", ".join(f"{k}={v!r}" for k, v in _kwargs(e).items())
        out.append(f"    ev({hhmm(e.t)!r}, {e.action!r}, {e.drug!r}, {e.cls!r}, {kw}),")
    return "events(\n" + "\n".join(out) + "\n)"


def run(df: pd.DataFrame) -> pd.DataFrame:
    return code_facility(build_timeline(df, POLICY), POLICY, TZ).expected_lines


def key(lines: pd.DataFrame) -> list[tuple]:
    """Sorted multiset of (encounter_id, service_date, hcpcs, modifiers, units)."""
    return sorted(
        (str(r.encounter_id), r.service_date, str(r.hcpcs), str(r.modifiers or ""), int(r.units))
        for r in lines.itertuples(index=False)
    )


def code(evs: list[E]) -> list[tuple]:
    return key(run(frame(evs)))


# --- strategies -------------------------------------------------------------
# Administrations are drawn as offsets from an encounter anchor with a
# placeholder encounter ("?") and bag id; ``mar`` names them afterwards, so
# the shrinker can delete whole administrations and encounters.


def _rate_for(classes: set[str], draw) -> float:
    top = max(classes, key=CLASS_RANK.__getitem__)
    if top == "diluent":
        return 10.0
    if top == "hydration":
        return float(draw(st.integers(100, 500)))
    return float(draw(st.integers(25, 250)))


component = st.sampled_from(sorted(CLASS_RANK)).flatmap(
    lambda cls: st.sampled_from({"chemo": CHEMO, "therapeutic": THERAPEUTIC, "hydration": HYDRATION,
                                 "diluent": DILUENT}[cls]).map(lambda d: (d, cls))
)


@st.composite
def infusion_events(draw, sites: list[str], components: list[tuple[str, str]] | None = None,
                    rate: float | None = None, max_minutes: int = 600, earliest: int = 0) -> list[E]:
    """One bag: start, optional rate changes and pause/resume pairs, stop.

    Times are offsets from the encounter anchor (``earliest`` .. 12 h).
    Pause and rate-change points are active minutes strictly inside the bag
    (draws at or past its end are dropped).
    """
    if components is None:
        mixed = draw(st.sampled_from([False, False, False, True]))
        components = draw(st.lists(component, min_size=2, max_size=3, unique_by=lambda c: c[0])) if mixed \
            else [draw(component)]
    comps = components
    classes = {c for _, c in comps}
    site = draw(st.sampled_from(sites))
    start = draw(st.integers(earliest, SPREAD))
    total = draw(st.integers(1, max_minutes))
    pauses = draw(st.lists(st.tuples(st.integers(1, max_minutes - 1), st.integers(1, 120)),
                           max_size=2, unique_by=lambda p: p[0]))
    pauses = sorted(p for p in pauses if p[0] < total)
    cuts = [c for c, _ in pauses]
    changes = draw(st.lists(st.integers(1, max_minutes - 1), max_size=2, unique=True))
    changes = sorted(a for a in changes if a < total and a not in cuts)

    def wall(a: int) -> int:  # wall minute of active minute ``a`` (not a cut)
        return start + a + sum(g for c, g in pauses if c < a)

    r = rate if rate is not None else _rate_for(classes, draw)
    timeline: list[tuple[int, str, float | None]] = [(start, "start", r)]
    for c, g in pauses:
        p = wall(c)
        timeline += [(p, "pause", None), (p + g, "resume", None)]
    for a in changes:
        timeline.append((wall(a), "rate_change", rate if rate is not None else _rate_for(classes, draw)))
    timeline.append((wall(total), "stop", None))
    timeline.sort(key=lambda x: x[0])
    cur = r
    out: list[E] = []
    for t, action, new_rate in timeline:
        if new_rate is not None:
            cur = new_rate
        for drug, cls in comps:
            out.append(E(t, action, drug, cls, "?", site, infusate="B", rate=cur))
    return out


@st.composite
def push_events(draw, sites: list[str]) -> list[E]:
    drug, cls = draw(st.sampled_from(PUSHABLE))
    t = draw(st.integers(0, SPREAD))
    return [E(t, "given", drug, cls, "?", draw(st.sampled_from(sites)))]


@st.composite
def injection_events(draw, sites: list[str]) -> list[E]:
    drug, cls, route, hormonal = draw(st.sampled_from(INJECTABLE))
    t = draw(st.integers(0, SPREAD))
    return [E(t, "given", drug, cls, "?", draw(st.sampled_from(sites)), route=route, hormonal=hormonal)]


def administration(sites: list[str]) -> st.SearchStrategy[list[E]]:
    return st.one_of(infusion_events(sites), push_events(sites), injection_events(sites),
                     infusion_events(sites))


@st.composite
def encounter_events(draw, sites: list[str]) -> list[E]:
    """Events of one encounter: an anchor and 1-5 administrations."""
    anchor = draw(st.integers(0, HORIZON - 1))
    admins = draw(st.lists(administration(sites), min_size=1, max_size=MAX_ADMINS))
    out: list[E] = []
    for i, evs in enumerate(admins):
        out += [e._replace(t=anchor + e.t, infusate=None if e.infusate is None else f"B{i + 1}") for e in evs]
    return out


def name_encounter(evs: list[E], enc: str) -> list[E]:
    return [e._replace(enc=enc, infusate=None if e.infusate is None else f"{enc}-{e.infusate}") for e in evs]


@st.composite
def mar(draw, min_enc: int = 1, max_enc: int = 4, one_site: bool = False) -> list[E]:
    """Events of 1-4 encounters, in generation (not chronological) order."""
    sites = st.sampled_from(ONE_SITE_POOLS) if one_site else st.just(SITES)
    encs = draw(st.lists(sites.flatmap(encounter_events), min_size=min_enc, max_size=max_enc))
    return [e for k, evs in enumerate(encs) for e in name_encounter(evs, f"E{k + 1}")]


def _by_encounter(lines: list[tuple]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for line in lines:
        out.setdefault(line[0], []).append(line)
    return out


# --- 1. row order -----------------------------------------------------------


@SETTINGS
@given(evs=mar(), data=st.data())
def test_row_order_never_matters(evs, data):
    note(builder_calls(evs))
    df = frame(evs)
    n = len(df)
    perm = data.draw(st.permutations(range(n)), label="row order")
    rows = data.draw(st.permutations(range(1, n + 1)), label="source_row values")
    shuffled = df.iloc[list(perm)].reset_index(drop=True)
    shuffled["source_row"] = list(rows)
    assert key(run(shuffled)) == key(run(df))


# --- 2. shifting by whole days ----------------------------------------------


@SETTINGS
@given(evs=mar(), days=st.integers(1, 100))
def test_shift_by_whole_days_shifts_only_dates(evs, days):
    note(builder_calls(evs))
    base = code(evs)
    shifted = code([e._replace(t=e.t + days * 1440) for e in evs])
    expected = sorted((enc, d + dt.timedelta(days=days), c, m, u) for enc, d, c, m, u in base)
    assert shifted == expected


# --- 3. splitting a bag -----------------------------------------------------


def _running_intervals(bag: list[E]) -> list[tuple[int, int]]:
    times = sorted({(e.t, e.action) for e in bag})
    out, since = [], None
    for t, action in sorted(times, key=lambda x: (x[0], {"stop": 0, "pause": 1}.get(x[1], 2))):
        if action in ("pause", "stop") and since is not None:
            out.append((since, t))
            since = None
        elif action in ("start", "resume"):
            since = t
    return out


@SETTINGS
@given(evs=mar(), data=st.data())
def test_splitting_a_bag_changes_nothing(evs, data):
    bags = sorted({e.infusate for e in evs if e.infusate is not None})
    splittable = []
    for b in bags:
        bag = [e for e in evs if e.infusate == b]
        ev_times = {e.t for e in bag}
        points = [t for a, z in _running_intervals(bag) for t in range(a + 1, z) if t not in ev_times]
        if points:
            splittable.append((b, points))
    if not splittable:
        return
    b, points = data.draw(st.sampled_from(splittable), label="bag")
    t_split = data.draw(st.sampled_from(points), label="split minute")
    bag = [e for e in evs if e.infusate == b]
    rate_now = [e.rate for e in sorted(bag, key=lambda e: e.t) if e.t < t_split][-1]
    comps = list(dict.fromkeys((e.drug, e.cls, e.enc, e.site) for e in bag))
    new_id = b + "-2"
    split: list[E] = []
    for e in evs:
        if e.infusate != b or e.t < t_split:
            split.append(e)
        else:
            split.append(e._replace(infusate=new_id))
    for drug, cls, enc, site in comps:
        split.append(E(t_split, "stop", drug, cls, enc, site, infusate=b, rate=rate_now))
        split.append(E(t_split, "start", drug, cls, enc, site, infusate=new_id, rate=rate_now))
    note("original:\n" + builder_calls(evs))
    note(f"split {b} at {hhmm(t_split)} into {b} + {new_id}:\n" + builder_calls(split))
    assert code(split) == code(evs)


# --- 4. KVO line or flush ---------------------------------------------------


@st.composite
def kvo_or_flush(draw, enc: str, anchor: int) -> list[E]:
    """A KVO bag (rate 10, may start up to 4 h before ``anchor``) or a flush."""
    drug = draw(st.sampled_from(DILUENT))
    if draw(st.sampled_from(["kvo", "kvo", "flush"])) == "kvo":
        bag = draw(infusion_events(SITES, components=[(drug, "diluent")], rate=10.0, max_minutes=900,
                                   earliest=-240))
        lift = max(0, -(anchor + bag[0].t))  # never before day-0 midnight
        return [e._replace(t=anchor + e.t + lift, enc=enc, infusate=f"{enc}-KVO") for e in bag]
    t = max(0, anchor + draw(st.integers(-240, SPREAD)))
    return [E(t, "given", drug, "diluent", enc, draw(st.sampled_from(SITES)))]


@SETTINGS
@given(evs=mar(), data=st.data())
def test_kvo_line_or_flush_changes_nothing(evs, data):
    encs = sorted({e.enc for e in evs})
    enc = data.draw(st.sampled_from(encs), label="encounter")
    anchor = min(e.t for e in evs if e.enc == enc)
    extra = [e for x in data.draw(st.lists(kvo_or_flush(enc, anchor), min_size=1, max_size=3), label="kvo/flush")
             for e in x]
    note("original:\n" + builder_calls(evs))
    note("added:\n" + builder_calls(extra))
    assert code(evs + extra) == code(evs)


# --- 5. 96368 at most once --------------------------------------------------


@SETTINGS
@given(evs=mar())
def test_concurrent_at_most_one_unit_per_encounter(evs):
    note(builder_calls(evs))
    units = Counter()
    for enc, _, hcpcs, _, u in code(evs):
        if hcpcs == "96368":
            units[enc] += u
    assert all(u <= 1 for u in units.values()), units


# --- 6. initial lines -------------------------------------------------------


def _initial_lines(lines: list[tuple]) -> dict[str, list[tuple]]:
    return _by_encounter([line for line in lines if line[2] in INITIAL_CODES])


@SETTINGS
@given(evs=mar())
def test_second_initial_line_carries_xu(evs):
    note(builder_calls(evs))
    for enc, init in _initial_lines(code(evs)).items():
        without_xu = [line for line in init if "XU" not in line[3].split(",")]
        assert len(without_xu) <= 1, (enc, init)


@SETTINGS
@given(evs=mar(one_site=True))
def test_one_site_at_most_one_initial_line(evs):
    note(builder_calls(evs))
    for enc, init in _initial_lines(code(evs)).items():
        assert len(init) <= 1, (enc, init)


# --- 7. well-formed lines ---------------------------------------------------


@SETTINGS
@given(evs=mar())
def test_lines_have_units_and_drug_admin_codes(evs):
    note(builder_calls(evs))
    for line in code(evs):
        hcpcs, units = line[2], line[4]
        assert units >= 1, line
        assert hcpcs.isdigit() and (96360 <= int(hcpcs) <= 96379 or 96401 <= int(hcpcs) <= 96549), line


# --- 8. encounters are independent -------------------------------------------


@SETTINGS
@given(evs=mar(min_enc=2), data=st.data())
def test_removing_an_encounter_keeps_the_others(evs, data):
    note(builder_calls(evs))
    encs = sorted({e.enc for e in evs})
    gone = data.draw(st.sampled_from(encs), label="removed encounter")
    full = [line for line in code(evs) if line[0] != gone]
    assert code([e for e in evs if e.enc != gone]) == full


# --- 9. additional-hour units are bounded by active minutes -------------------


def _union_minutes(intervals: list[tuple[int, int]]) -> int:
    total, end = 0, None
    for a, z in sorted(intervals):
        if end is None or a > end:
            total += z - a
            end = z
        elif z > end:
            total += z - end
            end = z
    return total


def _extra_hours(t: int) -> int:
    return max(0, (t - 31) // 60)


@SETTINGS
@given(evs=mar())
def test_additional_hours_bounded_by_active_minutes(evs):
    """Per encounter: 96366 + 96415 units <= sum over drug services S of
    max(0, (T_S - 31) // 60), T_S = minutes of the union of the running
    intervals of the chemo/therapeutic bags whose component set is S (one
    service; the engine merges bags of one service). And 96360 + 96361 units
    <= (H - 31) // 60 + 1 (0 if H < 31), H = minutes of the union of the
    running intervals of all hydration bags."""
    note(builder_calls(evs))
    lines = code(evs)
    for enc in sorted({e.enc for e in evs}):
        bags: dict[str, list[E]] = {}
        for e in evs:
            if e.enc == enc and e.infusate is not None:
                bags.setdefault(e.infusate, []).append(e)
        services: dict[str, list[tuple[int, int]]] = {}
        hydration: list[tuple[int, int]] = []
        for bag in bags.values():
            classes = {e.cls for e in bag}
            top = max(classes, key=CLASS_RANK.__getitem__)
            intervals = _running_intervals(bag)
            if top in ("chemo", "therapeutic"):
                services.setdefault("+".join(sorted({e.drug for e in bag})), []).extend(intervals)
            elif top == "hydration":
                hydration.extend(intervals)
        bound = sum(_extra_hours(_union_minutes(iv)) for iv in services.values())
        got = sum(u for e_, _, c, _, u in lines if e_ == enc and c in ("96366", "96415"))
        assert got <= bound, (enc, got, bound)
        h = _union_minutes(hydration)
        h_bound = (h - 31) // 60 + 1 if h >= 31 else 0
        h_got = sum(u for e_, _, c, _, u in lines if e_ == enc and c in ("96360", "96361"))
        assert h_got <= h_bound, (enc, h_got, h_bound, h)
