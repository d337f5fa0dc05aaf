"""One focused test per rule of ../shared/domain/coding-rules.md (section 0
time arithmetic and the main rules of section 2), facility setting.

Each test names its rule id and asserts the exact codes and units, as
``{code[-modifier]: units}`` (or ``{(day, code): units}`` for dates, day 0 =
2026-11-02). Clock times are invented; only their differences matter.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tests.builders import DAY, code_key, ev, events, expected_lines, infusion
from transforms.vocab.policy import Policy

DEFAULT = Policy()
DAY0 = dt.date.fromisoformat(DAY)


lines = expected_lines
_key = code_key


def codes(df: pd.DataFrame, policy: Policy = DEFAULT) -> dict[str, int]:
    """``{code[-modifier]: total units}``."""
    out: dict[str, int] = {}
    for row in lines(df, policy).itertuples(index=False):
        out[_key(row)] = out.get(_key(row), 0) + int(row.units)
    return {k: v for k, v in out.items() if v}


def codes_by_day(df: pd.DataFrame, policy: Policy = DEFAULT) -> dict[tuple[int, str], int]:
    """``{(day offset, code[-modifier]): units}``."""
    out: dict[tuple[int, str], int] = {}
    for row in lines(df, policy).itertuples(index=False):
        k = ((row.service_date - DAY0).days, _key(row))
        out[k] = out.get(k, 0) + int(row.units)
    return {k: v for k, v in out.items() if v}


def minutes_after(start: str, minutes: int) -> str:
    """``HH:MM`` (or ``+1 HH:MM``) ``minutes`` after ``start`` on day 0."""
    t = pd.Timestamp(f"{DAY} {start}") + pd.Timedelta(minutes=minutes)
    days = (t.normalize() - pd.Timestamp(DAY)).days
    return (f"+{days} " if days else "") + t.strftime("%H:%M")


# ---------------------------------------------------------------------------
# Section 0 / R-C2: push versus infusion at 15 / 16 minutes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("cls", "minutes", "expected"),
    [
        ("therapeutic", 15, {"96374": 1}),
        ("therapeutic", 16, {"96365": 1}),
        ("chemo", 15, {"96409": 1}),
        ("chemo", 16, {"96413": 1}),
    ],
    ids=["ther-15-push", "ther-16-infusion", "chemo-15-push", "chemo-16-infusion"],
)
def test_R_C2_push_infusion_boundary(cls, minutes, expected):
    """R-C2: 15 minutes or less of infusion is a push, 16 or more an infusion."""
    df = events(infusion("09:00", minutes_after("09:00", minutes), "drug_a", cls))
    assert codes(df) == expected


def test_R_C2_sequential_infusion_needs_16_minutes():
    """R-C2/R-D2: a second drug run 15 min is a push (96375), 16 min is 96367."""
    base = infusion("09:00", "10:00", "drug_a")
    assert codes(events(base, infusion("10:00", "10:15", "drug_b"))) == {"96365": 1, "96375": 1}
    assert codes(events(base, infusion("10:00", "10:16", "drug_b"))) == {"96365": 1, "96367": 1}


# ---------------------------------------------------------------------------
# Section 0 / R-C3: additional hours at 90/91 and 150/151 minutes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("minutes,extra", [(90, 0), (91, 1), (150, 1), (151, 2)])
def test_R_C3_96366_additional_hours_of_initial_infusion(minutes, extra):
    """R-C3: 96366 units = max(0, (T - 31) // 60)."""
    df = events(infusion("09:00", minutes_after("09:00", minutes), "drug_a"))
    expected = {"96365": 1, "96366": extra} if extra else {"96365": 1}
    assert codes(df) == expected


@pytest.mark.parametrize("minutes,extra", [(90, 0), (91, 1), (150, 1), (151, 2)])
def test_R_C3_96415_additional_hours_of_chemo_infusion(minutes, extra):
    """R-C3: 96415 units = max(0, (T - 31) // 60)."""
    df = events(infusion("09:00", minutes_after("09:00", minutes), "drug_a", "chemo"))
    expected = {"96413": 1, "96415": extra} if extra else {"96413": 1}
    assert codes(df) == expected


@pytest.mark.parametrize("minutes,extra", [(90, 0), (91, 1), (150, 1), (151, 2)])
def test_R_C3_R_D2_96366_additional_hours_of_sequential_infusion(minutes, extra):
    """R-D2: the sequential drug's own time earns 96366 by the same formula."""
    df = events(
        infusion("08:00", "08:30", "drug_a"),
        infusion("09:00", minutes_after("09:00", minutes), "drug_b"),
    )
    expected = {"96365": 1, "96367": 1, "96366": extra} if extra else {"96365": 1, "96367": 1}
    assert codes(df) == expected


@pytest.mark.parametrize("minutes,extra", [(90, 0), (91, 1), (150, 1), (151, 2)])
def test_R_D3_96415_additional_hours_of_sequential_chemo(minutes, extra):
    """R-D3: 96417 once per sequential chemo drug, its extra hours on 96415."""
    df = events(
        infusion("08:00", "08:30", "drug_a", "chemo"),
        infusion("09:00", minutes_after("09:00", minutes), "drug_b", "chemo"),
    )
    expected = {"96413": 1, "96417": 1}
    if extra:
        expected["96415"] = extra
    assert codes(df) == expected


@pytest.mark.parametrize(
    "minutes,expected",
    [
        (30, {}),
        (31, {"96360": 1}),
        (90, {"96360": 1}),
        (91, {"96360": 1, "96361": 1}),
        (150, {"96360": 1, "96361": 1}),
        (151, {"96360": 1, "96361": 2}),
    ],
)
def test_R_C3_R_C4_initial_hydration_formula(minutes, expected):
    """Section 0: initial hydration 96360 from 31 min, 96361 = (T - 31) // 60."""
    df = events(infusion("09:00", minutes_after("09:00", minutes), "normal_saline", "hydration"))
    assert codes(df) == expected


@pytest.mark.parametrize(
    "minutes,units",
    [(30, 0), (31, 1), (90, 1), (91, 2), (150, 2), (151, 3), (175, 3)],
)
def test_R_G5_secondary_hydration_formula(minutes, units):
    """Section 0 / R-G5: secondary hydration 96361 = (T - 31) // 60 + 1 from
    31 min (Medlearn 175 -> 3); 30 min or less -> nothing (R-C4)."""
    df = events(
        ev("08:55", "given", "ondansetron"),
        infusion("09:00", minutes_after("09:00", minutes), "normal_saline", "hydration"),
    )
    expected = {"96374": 1, "96361": units} if units else {"96374": 1}
    assert codes(df) == expected


# ---------------------------------------------------------------------------
# Section 0: SC infusion and pump
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "minutes,expected",
    [
        (15, {"96372": 1}),
        (16, {"96369": 1}),
        (90, {"96369": 1}),
        (91, {"96369": 1, "96370": 1}),
    ],
)
def test_section0_sc_infusion(minutes, expected):
    """Section 0: SC infusion 96369 above 15 min (15 or less -> 96372);
    96370 by the >30-min-past-the-hour rule."""
    df = events(infusion("09:00", minutes_after("09:00", minutes), "immune_globulin_sc",
                         route="sc_infusion", site="abdomen"))
    assert codes(df) == expected


def test_R_H8_pump_initiation_96416():
    """R-H8: a prolonged (>8 h) chemo pump infusion is 96416."""
    df = events(infusion("09:00", "+2 09:00", "fluorouracil", "chemo", route="pump"))
    assert codes(df) == {"96416": 1}


def test_section0_chemo_pump_of_8h_or_less_is_not_96416():
    """Section 0 / R-H8: 96416 needs more than 8 h; a 4 h pump infusion is
    coded on time: 96413 + 96415 x3."""
    df = events(infusion("09:00", "13:00", "fluorouracil", "chemo", route="pump"))
    assert codes(df) == {"96413": 1, "96415": 3}


def test_R_H8_pump_with_derived_stop_is_96416():
    """R-H8 + R-C8(a): a pump charted with volume and rate but no stop: the
    derived 46 h makes it 96416."""
    df = events(ev("09:00", "start", "fluorouracil", "chemo", route="pump", rate=5.0, volume=230.0))
    assert codes(df) == {"96416": 1}


# ---------------------------------------------------------------------------
# Hydration (R-C4, R-G3, R-G7, R-E4)
# ---------------------------------------------------------------------------

def test_R_C4_hydration_under_31_minutes_not_reported_even_with_a_drug():
    """R-C4: 30 min of hydration after an initial infusion earns nothing."""
    df = events(
        infusion("09:00", "09:30", "drug_a"),
        infusion("09:30", "10:00", "normal_saline", "hydration"),
    )
    assert codes(df) == {"96365": 1}


def test_R_G7_hydration_minutes_overlapping_a_drug_do_not_count():
    """R-G7: NS 60 min with a drug running 30 of them leaves 30 -> nothing."""
    df = events(
        infusion("09:00", "10:00", "normal_saline", "hydration"),
        infusion("09:20", "09:50", "drug_a"),
    )
    assert codes(df) == {"96365": 1}


def test_R_G7_hydration_credits_only_minutes_alone():
    """R-G7: NS 70 min with a drug running 30 of them leaves 40 -> 96361 x1."""
    df = events(
        infusion("09:00", "10:10", "normal_saline", "hydration"),
        infusion("09:20", "09:50", "drug_a"),
    )
    assert codes(df) == {"96365": 1, "96361": 1}


def test_R_E4_hydration_overlapping_a_drug_is_never_concurrent():
    """R-E4: hydration running during an infusion is never 96368; only its
    60 alone-minutes count (secondary 96361 x1)."""
    df = events(
        infusion("09:00", "11:00", "normal_saline", "hydration"),
        infusion("09:30", "10:30", "drug_a"),
    )
    assert codes(df) == {"96365": 1, "96361": 1}


def test_R_G3_kvo_fluid_is_not_hydration():
    """R-G3: KVO fluid (classified diluent) for 3 h earns no hydration code."""
    df = events(
        infusion("09:00", "12:00", "normal_saline", "diluent"),
        ev("09:10", "given", "ondansetron"),
    )
    assert codes(df) == {"96374": 1}
    assert codes(events(infusion("09:00", "12:00", "normal_saline", "diluent"))) == {}


def test_R_J1_not_reportable_drug_earns_nothing():
    """R-J1: an integral administration (classified not_reportable) is not coded."""
    df = events(ev("09:00", "given", "gadobutrol", "not_reportable"))
    assert codes(df) == {}


# ---------------------------------------------------------------------------
# Initial service: one per encounter (R-B1, R-N2, R-B6) and hierarchy (R-A2)
# ---------------------------------------------------------------------------

def test_R_B1_one_initial_per_encounter_across_midnight():
    """R-B1/R-B6: pushes at 22:00 and 01:00 of one encounter: 96374 then
    96375 on the next date, never a second 96374."""
    df = events(ev("22:00", "given", "ondansetron"), ev("+1 01:00", "given", "morphine"))
    assert codes_by_day(df) == {(0, "96374"): 1, (1, "96375"): 1}


def test_R_N2_multiday_infusions_one_initial():
    """R-N2: an infusion on day 0 and a different one on day 1 of one stay:
    96365 then 96367."""
    df = events(infusion("20:00", "21:00", "drug_a"), infusion("+1 08:00", "+1 09:00", "drug_b"))
    assert codes_by_day(df) == {(0, "96365"): 1, (1, "96367"): 1}


def test_R_A2_infusion_outranks_earlier_push():
    """R-A2/R-A5: a push before an infusion is still the 96375 add-on."""
    df = events(ev("09:00", "given", "ondansetron"), infusion("09:30", "10:30", "drug_a"))
    assert codes(df) == {"96365": 1, "96375": 1}


def test_R_A2_drug_outranks_earlier_hydration():
    """R-A2/R-G5: hydration given first is secondary to a later push."""
    df = events(
        infusion("08:00", "09:00", "normal_saline", "hydration"),
        ev("09:10", "given", "ondansetron"),
    )
    assert codes(df) == {"96374": 1, "96361": 1}


def test_R_A2_drug_infusion_outranks_earlier_hydration():
    """R-A2/R-G5: hydration 60 min before a therapeutic infusion: 96365 + 96361."""
    df = events(
        infusion("08:00", "09:00", "normal_saline", "hydration"),
        infusion("09:00", "09:30", "drug_a"),
    )
    assert codes(df) == {"96365": 1, "96361": 1}


def test_R_F4_chemo_push_after_therapeutic_infusion_is_initial():
    """R-F4/R-A2: a chemo push given after a therapeutic infusion is 96409;
    the infusion becomes sequential 96367."""
    df = events(infusion("09:00", "10:00", "drug_a"), ev("10:10", "given", "doxorubicin", "chemo"))
    assert codes(df) == {"96409": 1, "96367": 1}


def test_R_F4_chemo_push_during_therapeutic_infusion_is_initial():
    """R-F4 (HCPro 2008): the bolus during a leucovorin infusion is initial."""
    df = events(infusion("09:00", "09:40", "leucovorin"), ev("09:20", "given", "fluorouracil", "chemo"))
    assert codes(df) == {"96409": 1, "96367": 1}


def test_R_A2_chemo_infusion_outranks_chemo_push():
    """R-A2: within chemo, the infusion is initial and the push 96411."""
    df = events(ev("09:00", "given", "doxorubicin", "chemo"), infusion("09:30", "10:30", "cyclophosphamide", "chemo"))
    assert codes(df) == {"96413": 1, "96411": 1}


def test_R_A6_injection_does_not_change_primary_hydration():
    """R-A6: an IM/SC injection is reported as given and hydration stays 96360."""
    df = events(
        infusion("09:00", "10:00", "normal_saline", "hydration"),
        ev("09:10", "given", "ceftriaxone", route="im_injection", site=None),
    )
    assert codes(df) == {"96360": 1, "96372": 1}


# ---------------------------------------------------------------------------
# Sites (R-B3, R-B4)
# ---------------------------------------------------------------------------

def test_R_B3_two_sites_at_the_same_time_two_initials_second_xu():
    """R-B3: two sites in use at once: two initial lines, the second with XU."""
    df = events(
        infusion("09:00", "10:00", "drug_a", site="L forearm PIV"),
        infusion("09:20", "10:00", "drug_b", site="R forearm PIV"),
    )
    assert codes(df) == {"96365": 1, "96365-XU": 1}


def test_R_B4_restart_at_new_site_after_stop_is_one_initial():
    """R-B4: a new site used only after the first stopped is not a second
    initial: the new drug there is sequential."""
    df = events(
        infusion("09:00", "10:00", "drug_a", site="L forearm PIV"),
        infusion("10:30", "11:00", "drug_b", site="R hand PIV"),
    )
    assert codes(df) == {"96365": 1, "96367": 1}


def test_R_B4_lumens_of_one_catheter_are_one_site_concurrent():
    """R-B4/R-E2: lumen 1 and lumen 2 of one CVC are one site: 96365 + 96368."""
    df = events(
        infusion("09:00", "10:00", "drug_a", site="R IJ CVC lumen 1"),
        infusion("09:10", "10:00", "drug_b", site="R IJ CVC lumen 2"),
    )
    assert codes(df) == {"96365": 1, "96368": 1}


# ---------------------------------------------------------------------------
# Concurrent (R-E1, R-E5, R-D5)
# ---------------------------------------------------------------------------

def _three_overlapping():
    return events(
        infusion("09:00", "10:00", "drug_a"),
        infusion("09:05", "10:00", "drug_b"),
        infusion("09:10", "10:00", "drug_c"),
        infusion("09:15", "10:00", "drug_d"),
    )


def test_R_E1_96368_at_most_once_per_encounter():
    """R-E1: four overlapping separate bags: one 96368, the rest nothing."""
    assert codes(_three_overlapping()) == {"96365": 1, "96368": 1}


def test_D12_extra_concurrent_sequential_policy():
    """D12 policy ``sequential``: 96368 once, further overlapping drugs 96367."""
    assert codes(_three_overlapping(), DEFAULT.replace(extra_concurrent="sequential")) == {
        "96365": 1, "96368": 1, "96367": 2,
    }


@pytest.mark.parametrize(
    "b_start,policy,expected",
    [
        ("09:45", DEFAULT, {"96365": 1, "96367": 1}),  # 15 min overlap
        ("09:44", DEFAULT, {"96365": 1, "96368": 1}),  # 16 min overlap
        ("09:44", DEFAULT.replace(concurrent_min_overlap_minutes=30), {"96365": 1, "96367": 1}),
        ("09:30", DEFAULT.replace(concurrent_min_overlap_minutes=30), {"96365": 1, "96368": 1}),
        ("09:59", DEFAULT.replace(concurrent_min_overlap_minutes=1), {"96365": 1, "96368": 1}),
    ],
    ids=["overlap15-default", "overlap16-default", "overlap16-min30", "overlap30-min30", "overlap1-min1"],
)
def test_R_E5_concurrent_min_overlap(b_start, policy, expected):
    """R-E5/D4: concurrent only with at least ``concurrent_min_overlap_minutes``
    (default 16) of overlap; otherwise the later drug is sequential."""
    df = events(infusion("09:00", "10:00", "drug_a"), infusion(b_start, "10:30", "drug_b"))
    assert codes(df, policy) == expected


def test_R_D5_mixed_bag_never_concurrent():
    """R-D5: two drugs in one bag for 60 min are one infusion: 96365 only."""
    df = events(
        infusion("09:00", "10:00", "drug_a", infusate="bag1"),
        infusion("09:00", "10:00", "drug_b", infusate="bag1"),
    )
    assert codes(df) == {"96365": 1}


def test_R_D5_mixed_bag_of_15_minutes_is_one_push():
    """R-D5: a mixed bag run 15 min is a single push."""
    df = events(
        infusion("09:00", "09:15", "drug_a", infusate="bag1"),
        infusion("09:00", "09:15", "drug_b", infusate="bag1"),
    )
    assert codes(df) == {"96374": 1}


def test_R_E3_therapeutic_concurrent_with_chemo():
    """R-E3: leucovorin in a separate bag alongside oxaliplatin: 96368."""
    df = events(
        infusion("09:00", "10:00", "oxaliplatin", "chemo"),
        infusion("09:00", "10:00", "leucovorin"),
    )
    assert codes(df) == {"96413": 1, "96368": 1}


def test_R_F5_push_during_infusion_is_96375_not_concurrent():
    """R-F5 (Haugen): Zithromax pushed at 12:43 during Rocephin 12:22-12:45 -> 96375."""
    df = events(infusion("12:22", "12:45", "ceftriaxone"), ev("12:43", "given", "azithromycin"))
    assert codes(df) == {"96365": 1, "96375": 1}


# ---------------------------------------------------------------------------
# Same drug continuing (R-D4), pauses (D25), rate changes (R-D7)
# ---------------------------------------------------------------------------

def test_R_D4_same_drug_new_bag_adds_96366_time_not_96367():
    """R-D4: vancomycin bag 1 09:00-10:00 and bag 2 10:00-11:00: 120 min of
    one service -> 96365 + 96366 x1."""
    df = events(
        infusion("09:00", "10:00", "vancomycin", infusate="vanco_bag1"),
        infusion("10:00", "11:00", "vancomycin", infusate="vanco_bag2"),
    )
    assert codes(df) == {"96365": 1, "96366": 1}


def test_R_D4_same_drug_two_overlapping_bags_counted_once():
    """R-D4: bags 09:00-10:30 and 10:00-11:00 cover 120 min, not 150, and
    are not concurrent."""
    df = events(
        infusion("09:00", "10:30", "vancomycin", infusate="vanco_bag1"),
        infusion("10:00", "11:00", "vancomycin", infusate="vanco_bag2"),
    )
    assert codes(df) == {"96365": 1, "96366": 1}


def test_D25_pause_minutes_excluded():
    """D25: 09:00-11:00 with a 30 min pause is 90 active min: no 96366."""
    df = events(
        ev("09:00", "start", "drug_a"),
        ev("09:30", "pause", "drug_a"),
        ev("10:00", "resume", "drug_a"),
        ev("11:00", "stop", "drug_a"),
    )
    assert codes(df) == {"96365": 1}


def test_D25_pause_can_make_an_infusion_a_push():
    """D25 + R-C2: 45 min on the clock but 15 active minutes is a push."""
    df = events(
        ev("09:00", "start", "drug_a"),
        ev("09:10", "pause", "drug_a"),
        ev("09:40", "resume", "drug_a"),
        ev("09:45", "stop", "drug_a"),
    )
    assert codes(df) == {"96374": 1}


def test_R_D7_rate_change_does_not_start_a_new_service():
    """R-D7: 95 min with a rate change at 30 min: 96365 + 96366 x1."""
    df = events(
        ev("09:00", "start", "drug_a", rate=100.0),
        ev("09:30", "rate_change", "drug_a", rate=200.0),
        ev("10:35", "stop", "drug_a"),
    )
    assert codes(df) == {"96365": 1, "96366": 1}


# ---------------------------------------------------------------------------
# Pushes (R-F1, R-F2, R-F4, R-D3)
# ---------------------------------------------------------------------------

def test_R_F1_pushes_of_different_drugs():
    """R-F1: first push 96374, each different drug afterwards 96375."""
    df = events(ev("09:00", "given", "ondansetron"), ev("09:05", "given", "famotidine"),
                ev("09:10", "given", "dexamethasone"))
    assert codes(df) == {"96374": 1, "96375": 2}


@pytest.mark.parametrize(
    "second,expected",
    [("09:30", {"96374": 1}), ("09:31", {"96374": 1, "96376": 1})],
    ids=["30min-nothing", "31min-96376"],
)
def test_R_F2_repeat_push_same_drug(second, expected):
    """R-F2: repeat push of the same drug only more than 30 min after the last."""
    df = events(ev("09:00", "given", "ondansetron"), ev(second, "given", "ondansetron"))
    assert codes(df) == expected


def test_R_F2_repeat_push_measured_from_last_reported_push():
    """R-F2: 09:00, 09:20 (not reported), 09:40 (40 min after the last
    *reported* push) -> 96374 + 96376 x1."""
    df = events(ev("09:00", "given", "ondansetron"), ev("09:20", "given", "ondansetron"),
                ev("09:40", "given", "ondansetron"))
    assert codes(df) == {"96374": 1, "96376": 1}


def test_R_F4_chemo_pushes_96409_96411():
    """R-F4/R-D3: first chemo push 96409, each different chemo drug 96411."""
    df = events(ev("09:00", "given", "doxorubicin", "chemo"), ev("09:10", "given", "vincristine", "chemo"))
    assert codes(df) == {"96409": 1, "96411": 1}


def test_R_D3_chemo_sequential_96417_96415():
    """R-D3: chemo 60 min then a different chemo 95 min: 96413 + 96417 + 96415."""
    df = events(
        infusion("09:00", "10:00", "oxaliplatin", "chemo"),
        infusion("10:00", "11:35", "fluorouracil", "chemo"),
    )
    assert codes(df) == {"96413": 1, "96417": 1, "96415": 1}


# ---------------------------------------------------------------------------
# Injections (R-A6, R-B7, R-H6)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "drug,cls,route,hormonal,expected",
    [
        ("ceftriaxone", "therapeutic", "im_injection", False, "96372"),
        ("enoxaparin", "therapeutic", "sc_injection", False, "96372"),
        ("leuprolide", "chemo", "im_injection", True, "96402"),
        ("azacitidine", "chemo", "sc_injection", False, "96401"),
    ],
    ids=["im-96372", "sc-96372", "leuprolide-96402", "chemo-sc-96401"],
)
def test_R_A6_R_H6_injections(drug, cls, route, hormonal, expected):
    """R-A6: SC/IM injection 96372; hormonal antineoplastic 96402;
    non-hormonal chemo SC/IM 96401."""
    df = events(ev("09:00", "given", drug, cls, route=route, hormonal=hormonal, site=None))
    assert codes(df) == {expected: 1}


def test_R_A6_each_injection_reported():
    """R-A6: two SC injections at different times are two 96372."""
    df = events(ev("09:00", "given", "enoxaparin", route="sc_injection", site=None),
                ev("21:00", "given", "enoxaparin", route="sc_injection", site=None))
    assert codes(df) == {"96372": 2}


# ---------------------------------------------------------------------------
# Missing stop (R-C8, D3)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "volume,rate,expected",
    [
        (100.0, 50.0, {"96365": 1, "96366": 1}),   # 120 min
        (75.0, 50.0, {"96365": 1}),                # 90 min
        (91.0, 60.0, {"96365": 1, "96366": 1}),    # 91 min exactly
        (15.0, 60.0, {"96374": 1}),                # 15 min -> push
        (16.0, 60.0, {"96365": 1}),                # 16 min -> infusion
    ],
    ids=["120min", "90min", "91min", "15min-push", "16min-infusion"],
)
def test_R_C8a_derive_stop_from_volume_and_rate(volume, rate, expected):
    """R-C8(a): policy derive: stop = start + volume_ml / rate (mL/h)."""
    df = events(ev("09:00", "start", "drug_a", rate=rate, volume=volume))
    assert codes(df, DEFAULT.replace(missing_stop="derive")) == expected


def test_R_C8c_derive_without_volume_falls_back_to_push():
    """R-C8(c) under derive: no volume/rate charted -> a push."""
    df = events(ev("09:00", "start", "drug_a"))
    assert codes(df, DEFAULT.replace(missing_stop="derive")) == {"96374": 1}


def test_R_C8c_push_policy_even_with_volume_and_rate():
    """R-C8(c) policy push: always a push."""
    df = events(ev("09:00", "start", "drug_a", rate=50.0, volume=100.0))
    assert codes(df, DEFAULT.replace(missing_stop="push")) == {"96374": 1}


def test_R_C8_exclude_policy():
    """D3 policy exclude: the open infusion is not coded; the rest is."""
    df = events(ev("09:00", "start", "drug_a", rate=50.0, volume=100.0),
                ev("11:00", "given", "ondansetron"))
    assert codes(df, DEFAULT.replace(missing_stop="exclude")) == {"96374": 1}


def test_R_C8_each_dose_of_a_repeating_order_without_stop_is_a_push():
    """R-C8(c): two doses of one order (same infusate id), each charted only
    as a one-time piggyback ``given`` on two days: two pushes (96374, then
    96376 next day), not one infusion spanning the gap nor a single push."""
    df = events(ev("12:43", "given", "azithromycin", route="iv_infusion"),
                ev("+1 11:07", "given", "azithromycin", route="iv_infusion"))
    assert codes_by_day(df, DEFAULT.replace(missing_stop="push")) == {(0, "96374"): 1, (1, "96376"): 1}


# ---------------------------------------------------------------------------
# Dates (R-C5, D2)
# ---------------------------------------------------------------------------

def test_R_C5_secondary_hydration_units_split_across_dates():
    """R-C5 (Ex 1): hydration 22:00-06:30 after a 22:20 push: 96361 x8, 2 on
    day 0 (120 min before midnight) and 6 on day 1."""
    df = events(
        infusion("22:00", "+1 06:30", "normal_saline", "hydration"),
        ev("22:20", "given", "morphine"),
    )
    assert codes_by_day(df) == {(0, "96374"): 1, (0, "96361"): 2, (1, "96361"): 6}


def test_R_C5_initial_hydration_units_split_across_dates():
    """R-C5: hydration alone 22:00-06:30 (510 min): 96360 and 96361 x1
    (minute 91 = 23:31) on day 0, 96361 x6 on day 1."""
    df = events(infusion("22:00", "+1 06:30", "normal_saline", "hydration"))
    assert codes_by_day(df) == {(0, "96360"): 1, (0, "96361"): 1, (1, "96361"): 6}


def test_D2_line_date_start_puts_units_on_start_date():
    """D2 policy line_date=start: every unit of the hydration on its start date."""
    df = events(infusion("22:00", "+1 06:30", "normal_saline", "hydration"))
    assert codes_by_day(df, DEFAULT.replace(line_date="start")) == {(0, "96360"): 1, (0, "96361"): 7}


# ---------------------------------------------------------------------------
# Invariant: row order never matters
# ---------------------------------------------------------------------------

def _busy_stay():
    return events(
        ev("08:14", "given", "diphenhydramine"),
        ev("08:14", "given", "palonosetron"),
        infusion("08:19", "08:45", "fosaprepitant"),
        infusion("08:00", "09:00", "normal_saline", "hydration"),
        ev("09:06", "given", "dexamethasone"),
        infusion("09:03", "14:15", "rituximab", "chemo"),
        infusion("10:40", "11:10", "famotidine"),
        ev("14:35", "given", "doxorubicin", "chemo"),
        infusion("14:46", "14:56", "vincristine", "chemo"),
        infusion("15:13", "15:56", "cyclophosphamide", "chemo"),
        infusion("15:00", "16:00", "drug_x", site="R forearm PIV"),
        [ev("16:00", "start", "drug_y"), ev("16:30", "pause", "drug_y"),
         ev("16:40", "resume", "drug_y"), ev("18:00", "stop", "drug_y")],
        infusion("22:00", "+1 03:00", "normal_saline", "hydration", infusate="ns_night"),
        ev("23:00", "given", "ondansetron"),
        ev("+1 01:00", "given", "ondansetron"),
        ev("+1 02:00", "start", "drug_z", rate=100.0, volume=150.0),
        ev("+1 08:00", "given", "enoxaparin", route="sc_injection", site=None),
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_row_order_never_matters(seed):
    """Invariant of build_timeline: shuffling the MAR rows changes nothing."""
    df = _busy_stay()
    base = lines(df).sort_values(["encounter_id", "service_date", "hcpcs", "modifiers"]).reset_index(drop=True)
    shuffled = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    got = lines(shuffled).sort_values(["encounter_id", "service_date", "hcpcs", "modifiers"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, base)
