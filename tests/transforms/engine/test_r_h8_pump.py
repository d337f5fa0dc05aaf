"""R-H8: a prolonged infusion started on a pump (contract route ``pump``).

A pump started at the end of a visit and left running (the patient goes home
on it; the disconnect is charted days later or in another encounter) is a
pump start: 96416 for chemotherapy, C8957 (OPPS) for a non-chemo drug on the
facility claim under the cms_facility profile. It is never turned into a
push by the missing-stop policy (D3), never gets derived minutes, its time
never counts toward 96415 / 96366, its disconnect is included and a later
bag of the same pump is a refill (96521).
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.builders import TZ, codes, ev, events, infusion
from tests.transforms.engine.test_worked_examples import _ex25, _ex27
from transforms.engine.coding import code_facility, code_lines
from transforms.engine.timeline import PUMP_DISCONNECT_ISSUE, build_timeline
from transforms.findings.documentation import documentation_findings
from transforms.vocab.codes import SETTING_PROFESSIONAL
from transforms.vocab.policy import Policy, load_policy

DEFAULT = Policy()
MISSING_STOP_POLICIES = [Policy(missing_stop=m) for m in ("derive", "push", "exclude")]


def fu_pump(start: str = "14:37", **kw) -> dict:
    """A 5-FU pump started at ``start`` with its rate and cassette volume
    charted (enough for policy ``derive`` to compute a stop) and no stop."""
    return ev(start, "start", "fluorouracil", "chemo", infusate=kw.pop("infusate", "fu_pump"), route="pump",
              site="port", rate=2.0, volume=96.0, **kw)


@pytest.mark.parametrize("policy", MISSING_STOP_POLICIES, ids=lambda p: p.missing_stop)
def test_r_h8_chemo_pump_start_without_disconnect_is_96416(policy):
    frame = events(fu_pump())
    assert codes(frame, policy) == {"96416": 1}
    timeline = build_timeline(frame, policy)
    pump = timeline.administrations.iloc[0]
    # No derived minutes, no push, not a missing stop.
    assert (pump["kind"], pump["route"], pump["minutes"], bool(pump["has_blocks"])) == ("pump", "pump", 0, False)
    assert timeline.missing_stops.empty
    assert timeline.blocks.empty


def test_r_h8_pump_start_is_never_a_push_after_a_bolus():
    # The bug of issue 12: the bolus and the pump were 96409 + 96411.
    frame = events(ev("14:15", "given", "fluorouracil", "chemo", infusate="fu_bolus"), fu_pump())
    assert codes(frame) == {"96409": 1, "96416": 1}


@pytest.mark.parametrize("profile", ["cms_facility", "commercial_cpt"])
def test_r_h8_non_chemo_pump_start_is_c8957_on_the_facility_claim_only(profile):
    frame = events(ev("10:00", "start", "ceftriaxone", infusate="abx_pump", route="pump", site="PICC"))
    policy = load_policy(profile)
    assert codes(frame, policy) == {"C8957": 1}
    # C8957 is an OPPS (hospital) code and CPT has none: nothing on the physician claim.
    assert codes(frame, policy, SETTING_PROFESSIONAL) == {}
    timeline = build_timeline(frame, policy)
    assert code_lines(timeline, policy, TZ, SETTING_PROFESSIONAL).roles["role"].tolist() == ["pump_not_reportable"]


def test_r_h8_non_chemo_pump_over_8_hours_with_its_disconnect_is_c8957_not_hours():
    frame = events(infusion("10:00", "+1 08:00", "ceftriaxone", infusate="abx_pump", route="pump"))
    assert codes(frame) == {"C8957": 1}


def test_r_h8_pump_time_never_counts_toward_the_chemo_hours():
    # Oxaliplatin 120 min (96413 + 96415 x1), then a pump left running.
    frame = events(infusion("09:00", "11:00", "oxaliplatin", "chemo"), fu_pump("11:10"))
    assert codes(frame) == {"96413": 1, "96415": 1, "96416": 1}
    # The same with the 46 h disconnect charted in the encounter: still no hours.
    frame = events(infusion("09:00", "11:00", "oxaliplatin", "chemo"),
                   infusion("11:10", "+2 09:10", "fluorouracil", "chemo", infusate="fu_pump", route="pump"))
    assert codes(frame) == {"96413": 1, "96415": 1, "96416": 1}


def test_r_h8_pump_disconnected_within_8_hours_is_timed_as_given():
    # R-C7: not prolonged; coded on the time actually given (180 min).
    frame = events(infusion("09:00", "12:00", "fluorouracil", "chemo", infusate="fu_pump", route="pump"))
    assert codes(frame) == {"96413": 1, "96415": 2}


def test_r_h8_disconnect_in_another_encounter_is_included_in_the_pump_start():
    frame = events(fu_pump(encounter="E1"),
                   ev("+2 12:37", "stop", "fluorouracil", "chemo", infusate="fu_pump", route="pump",
                      encounter="E2"))
    timeline = build_timeline(frame, DEFAULT)
    coding = code_facility(timeline, DEFAULT, TZ)
    by_encounter = coding.expected_lines.groupby("encounter_id")["hcpcs"].apply(list).to_dict()
    assert by_encounter == {"E1": ["96416"]}
    assert timeline.unused_events["issue"].tolist() == [PUMP_DISCONNECT_ISSUE]
    doc = documentation_findings(coding.administrations, timeline.missing_stops, pd.Series(dtype=object),
                                 timeline.unused_events)
    assert doc.empty


def test_r_h8_a_stop_with_no_start_off_a_pump_is_still_a_charting_problem():
    frame = events(ev("10:00", "stop", "ceftriaxone"))
    timeline = build_timeline(frame, DEFAULT)
    doc = documentation_findings(timeline.administrations, timeline.missing_stops, pd.Series(dtype=object),
                                 timeline.unused_events)
    assert doc["finding"].tolist() == ["mar_event_not_used"]


def test_r_h8_refill_of_the_pump_is_96521():
    # A second cassette of the same pump the next day: a refill, not a second start.
    frame = events(fu_pump(), fu_pump("+1 14:00", infusate="fu_pump_2"))
    assert codes(frame) == {"96416": 1, "96521": 1}
    # Bags of a timed pump: the same.
    frame = events(infusion("10:00", "+1 10:00", "fluorouracil", "chemo", infusate="c1", route="pump"),
                   infusion("+1 10:00", "+2 08:00", "fluorouracil", "chemo", infusate="c2", route="pump"))
    assert codes(frame) == {"96416": 1, "96521": 1}


def _without_pump_stop(frame: pd.DataFrame) -> pd.DataFrame:
    """The published example as charted: the pump's disconnect is not in the encounter."""
    return frame[~((frame["infusate_id"] == "fu_pump") & (frame["action"] == "stop"))].reset_index(drop=True)


def test_r_h8_ex25_folfox4_pump_started_and_sent_home():
    assert codes(_without_pump_stop(_ex25())) == {"96413": 1, "96415": 1, "96411": 1, "96368": 1, "96416": 1}


def test_r_h8_ex27_hcpro_46h_pump_started_and_sent_home():
    assert codes(_without_pump_stop(_ex27())) in (
        {"96409": 1, "96368": 1, "96416": 1}, {"96409": 1, "96367": 1, "96366": 1, "96416": 1})
