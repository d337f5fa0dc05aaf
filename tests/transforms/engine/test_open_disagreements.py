"""Named policies of the open disagreements D11, D13, D15 and D16
(../shared/domain/coding-rules.md section 4), each coded both ways on
concrete MAR data: the documented default first, then the other option."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.builders import codes, DAY, TZ, code_key, ev, events, infusion, mar_of
from tests.transforms.engine.test_worked_examples import _ex11, _ex27
from transforms.engine.classify import classify_events
from transforms.engine.coding import code_facility
from transforms.engine.timeline import build_timeline
from transforms.reference.drugs import load_drug_reference
from transforms.vocab.codes import SETTING_PROFESSIONAL
from transforms.vocab.policy import DEFAULT_POLICY, PROFILES, Policy, load_policy

DAY0 = pd.Timestamp(DAY).date()


def codes_by_day(frame: pd.DataFrame, policy: Policy) -> dict[tuple[int, str], int]:
    out: dict[tuple[int, str], int] = {}
    for row in code_facility(build_timeline(frame, policy), policy, TZ).expected_lines.itertuples(index=False):
        k = ((row.service_date - DAY0).days, code_key(row))
        out[k] = out.get(k, 0) + int(row.units)
    return {k: v for k, v in out.items() if v}


@pytest.mark.parametrize("field, default", [
    ("repeat_infusion", "continuing"), ("concurrent_chemo", "sequential"),
    ("infusion_over_chemo_push", "sequential"), ("hydration_min_volume_ml", 0.0),
])
def test_defaults_keep_the_current_coding_in_every_profile(field, default):
    assert getattr(DEFAULT_POLICY, field) == default
    assert all(getattr(load_policy(name), field) == default for name in PROFILES)


# --- D11: the same drug infused again hours later ------------------------------------
def _ex02_with_rocephin_repeats():
    """Haugen Ex 2 as published: Rocephin 12:22-12:45 on 8/4, then again
    12:23-12:53 and 22:37-23:07 on 8/5; Zithromax charted once each day with
    no stop (a push under the missing-stop policy); lorazepam on 8/5."""
    return events(
        infusion("12:22", "12:45", "ceftriaxone", infusate="R1"),
        ev("12:43", "given", "azithromycin", route="iv_infusion"),
        infusion("+1 12:23", "+1 12:53", "ceftriaxone", infusate="R2"),
        ev("+1 11:07", "given", "azithromycin", route="iv_infusion"),
        ev("+1 13:25", "given", "lorazepam"),
        infusion("+1 22:37", "+1 23:07", "ceftriaxone", infusate="R3"),
    )


@pytest.mark.parametrize("policy, expected", [
    # Continuing time (R-D4): 23 + 30 + 30 = 83 Rocephin minutes, one 96365, no hour.
    (DEFAULT_POLICY, {(0, "96365"): 1, (0, "96375"): 1, (1, "96375"): 1, (1, "96376"): 1}),
    # Haugen's published answer: each later Rocephin run 96376.
    (Policy(repeat_infusion="repeat_push"), {(0, "96365"): 1, (0, "96375"): 1, (1, "96375"): 1, (1, "96376"): 3}),
    (Policy(repeat_infusion="sequential"),
     {(0, "96365"): 1, (0, "96375"): 1, (1, "96375"): 1, (1, "96376"): 1, (1, "96367"): 2}),
], ids=["continuing", "repeat_push", "sequential"])
def test_d11_ex02_rocephin_again_later(policy, expected):
    assert codes_by_day(_ex02_with_rocephin_repeats(), policy) == expected


def test_d11_continuing_adds_the_later_run_to_the_hours():
    frame = events(infusion("08:00", "09:00", "vancomycin", infusate="V1"),
                   infusion("14:00", "15:00", "vancomycin", infusate="V2"))
    assert codes(frame) == {"96365": 1, "96366": 1}  # 120 min
    assert codes(frame, Policy(repeat_infusion="sequential")) == {"96365": 1, "96367": 1}
    assert codes(frame, Policy(repeat_infusion="repeat_push")) == {"96365": 1, "96376": 1}
    # 96376 is facility-only (R-F2): nothing for the repeat on the physician claim.
    assert codes(frame, Policy(repeat_infusion="repeat_push"), SETTING_PROFESSIONAL) == {"96365": 1}


def test_d11_a_new_bag_or_short_restart_continues_under_every_policy():
    # R-D4 / Ex 31: a new bag hung at the stop, and a restart 20 min later, are one service.
    frame = events(infusion("08:00", "09:00", "vancomycin", infusate="V1"),
                   infusion("09:00", "09:40", "vancomycin", infusate="V2"),
                   infusion("10:00", "10:30", "vancomycin", infusate="V3", site="R hand PIV"))
    for policy in ("continuing", "repeat_push", "sequential"):
        assert codes(frame, Policy(repeat_infusion=policy)) == {"96365": 1, "96366": 1}, policy


def test_d11_a_short_later_run_is_a_repeat_push_not_a_new_drug():
    frame = events(infusion("08:00", "09:00", "ondansetron", infusate="Z1"),
                   infusion("14:00", "14:10", "ondansetron", infusate="Z2"))
    assert codes(frame) == {"96365": 1}  # 70 min continuing
    assert codes(frame, Policy(repeat_infusion="sequential")) == {"96365": 1, "96376": 1}


def test_d11_chemo_run_again_later_has_no_repeat_code():
    frame = events(infusion("08:00", "09:00", "oxaliplatin", "chemo", infusate="O1"),
                   infusion("14:00", "15:00", "oxaliplatin", "chemo", infusate="O2"))
    assert codes(frame) == {"96413": 1, "96415": 1}
    assert codes(frame, Policy(repeat_infusion="repeat_push")) == {"96413": 1}
    assert codes(frame, Policy(repeat_infusion="sequential")) == {"96413": 1, "96417": 1}


# --- D13: two chemotherapy drugs running at once on one access ------------------------
def _two_chemo_at_once():
    return events(infusion("09:00", "11:00", "oxaliplatin", "chemo"),
                  infusion("09:30", "11:00", "irinotecan", "chemo"))


def test_d13_concurrent_chemo_default_is_sequential():
    assert codes(_two_chemo_at_once()) == {"96413": 1, "96415": 1, "96417": 1}


def test_d13_concurrent_chemo_as_the_one_concurrent_code():
    policy = Policy(concurrent_chemo="concurrent")
    assert codes(_two_chemo_at_once(), policy) == {"96413": 1, "96415": 1, "96368": 1}
    # Still once per encounter (R-E1): a third overlapping chemo earns nothing by default (D12).
    frame = events(infusion("09:00", "11:00", "oxaliplatin", "chemo"),
                   infusion("09:30", "11:00", "irinotecan", "chemo"),
                   infusion("09:40", "11:00", "fluorouracil", "chemo", infusate="FU"))
    assert codes(frame, policy) == {"96413": 1, "96415": 1, "96368": 1}


def test_d13_chemo_on_two_sites_is_two_initial_services_either_way():
    frame = events(infusion("09:00", "11:00", "oxaliplatin", "chemo", site="port"),
                   infusion("09:30", "11:00", "irinotecan", "chemo", site="L forearm PIV"))
    expected = {"96413": 1, "96415": 1, "96413-XU": 1}
    assert codes(frame) == expected
    assert codes(frame, Policy(concurrent_chemo="concurrent")) == expected


# --- D15: leucovorin overlapping a chemo push --------------------------------------
def test_d15_ex27_leucovorin_during_the_5fu_bolus():
    # Leucovorin 12:15-14:27 (132 min), 5-FU bolus 14:15-14:20 (initial 96409), pump.
    assert codes(_ex27()) == {"96409": 1, "96367": 1, "96366": 1, "96416": 1}
    assert codes(_ex27(), Policy(infusion_over_chemo_push="concurrent")) == {"96409": 1, "96368": 1, "96416": 1}


def test_d15_a_push_given_once_as_given_during_the_infusion():
    frame = events(infusion("12:15", "14:27", "leucovorin"), ev("13:00", "given", "fluorouracil", "chemo"))
    assert codes(frame) == {"96409": 1, "96367": 1, "96366": 1}
    assert codes(frame, Policy(infusion_over_chemo_push="concurrent")) == {"96409": 1, "96368": 1}


def test_d15_push_after_the_infusion_ended_stays_sequential():
    # Ex 11: levoleucovorin 13:20-15:25, 5-FU push at 15:25 after it: sequential either way.
    expected = {"96409": 1, "96375": 1, "96367": 1, "96366": 1}
    assert codes(_ex11()) == expected
    assert codes(_ex11(), Policy(infusion_over_chemo_push="concurrent")) == expected


# --- D16: payer hydration minimum volume --------------------------------------------
@pytest.fixture(scope="module")
def reference():
    return load_drug_reference()


def classified_codes(rows, policy: Policy, reference) -> dict[str, int]:
    return codes(classify_events(mar_of(*rows), reference, policy), policy)


@pytest.mark.parametrize("volume, minimum, expected", [
    (250.0, 0.0, {"96360": 1}),      # default: no minimum
    (250.0, 500.0, {}),              # Trailblazer/Cahaba: 250 mL is not hydration
    (250.0, 250.0, {"96360": 1}),    # Highmark: 250 mL is enough
    (1000.0, 500.0, {"96360": 1}),
    (None, 500.0, {"96360": 1}),     # no volume charted: not judged
], ids=["no-minimum", "500-min", "250-min", "1000ml", "no-volume"])
def test_d16_hydration_minimum_volume(volume, minimum, expected, reference):
    rows = infusion("09:00", "10:30", "sodium chloride 0.9 %", "hydration", volume=volume, rate=500.0)
    assert classified_codes(rows, Policy(hydration_min_volume_ml=minimum), reference) == expected


def test_d16_small_bag_does_not_block_other_hydration_minutes(reference):
    # A 100 mL bag under the minimum is like KVO fluid: the 1000 mL bag's 90 min still count.
    rows = [infusion("09:00", "10:30", "sodium chloride 0.9 %", "hydration", volume=1000.0, rate=700.0,
                     infusate="BIG"),
            infusion("09:00", "10:30", "sodium chloride 0.9 %", "hydration", volume=100.0, rate=70.0,
                     infusate="SMALL", site="R hand PIV")]
    assert classified_codes(rows, Policy(hydration_min_volume_ml=500.0), reference) == {"96360": 1}


def test_d16_minimum_volume_is_validated():
    with pytest.raises(ValueError, match="hydration_min_volume_ml"):
        Policy().replace(hydration_min_volume_ml=-1.0)
