"""Expected vs billed -> findings with the right stable key."""

import pandas as pd
import pytest

from tests.builders import TZ, claim_lines, ev, events, infusion
from transforms.engine.coding import code_facility
from transforms.findings.compare import compare
from transforms.vocab.findings import FINDING_KEYS
from transforms.vocab.policy import Policy
from transforms.engine.timeline import build_timeline


def findings_for(mar: pd.DataFrame, billed: pd.DataFrame, policy: Policy = Policy()) -> pd.DataFrame:
    tl = build_timeline(mar, policy)
    coding = code_facility(tl, policy, TZ)
    return compare(coding.expected_lines, billed, coding.administrations, coding.hydration, tl.missing_stops)


def three_piggybacks(same_bag: bool) -> pd.DataFrame:
    drugs = ["ceftriaxone", "vancomycin", "azithromycin"]
    rows = []
    for i, d in enumerate(drugs):
        bag = "BAG1" if same_bag else f"BAG{i + 1}"
        site = "R IJ CVC" if same_bag else f"R IJ CVC lumen {i + 1}"
        rows += infusion("10:00", "10:50", d, infusate=bag, site=site)
    return events(rows)


def keyed(f: pd.DataFrame) -> dict[str, tuple[int, int, str]]:
    return {r.hcpcs: (r.billed_units, r.expected_units, r.finding) for r in f.itertuples()}


def test_correct_billing_has_no_finding():
    f = findings_for(three_piggybacks(False), claim_lines("E1", ("96365", 1), ("96368", 1), ("99284", 1)))
    assert f.empty


def test_concurrent_billed_for_a_mixed_bag():
    f = findings_for(three_piggybacks(True), claim_lines("E1", ("96365", 1), ("96368", 1)))
    assert keyed(f) == {"96368": (1, 0, "concurrent_mixed_bag")}
    assert "one bag" in f.loc[0, "explanation"]
    assert "BAG1" in f.loc[0, "explanation"]


def test_concurrent_billed_twice_on_two_lines():
    billed = claim_lines("E1", ("96365", 1), ("96368", 1), ("96368", 1))
    assert keyed(findings_for(three_piggybacks(False), billed)) == {"96368": (2, 1, "concurrent_billed_twice")}


def test_concurrent_missed():
    f = findings_for(three_piggybacks(False), claim_lines("E1", ("96365", 1)))
    assert keyed(f) == {"96368": (0, 1, "concurrent_missed")}
    assert (f["direction"] == "under_billed").all()


def test_sequential_billed_for_a_new_bag_of_the_same_drug():
    mar = events(
        infusion("10:00", "11:00", "vancomycin", infusate="V1"),
        infusion("11:00", "12:10", "vancomycin", infusate="V2"),
    )
    # 130 active minutes: 96365 + 96366 x1; billed as a new sequential drug.
    f = findings_for(mar, claim_lines("E1", ("96365", 1), ("96367", 1)))
    assert keyed(f) == {
        "96366": (0, 1, "additional_hours_undercounted"),
        "96367": (1, 0, "sequential_same_drug"),
    }


def test_hydration_billed_on_clock_minutes_while_a_drug_ran():
    mar = events(
        infusion("09:00", "12:00", "sodium_chloride", "hydration", rate=250),
        infusion("09:30", "10:30", "ceftriaxone"),
    )
    # 180 clock minutes, 120 creditable: secondary 96361 x2 (not x3).
    f = findings_for(mar, claim_lines("E1", ("96365", 1), ("96361", 3)))
    assert keyed(f) == {"96361": (3, 2, "hydration_during_drug")}


def test_clock_order_initial_is_the_wrong_family():
    mar = events(ev("09:00", "given", "ondansetron"), infusion("09:10", "09:50", "ceftriaxone"))
    f = findings_for(mar, claim_lines("E1", ("96374", 1), ("96367", 1)))
    got = keyed(f)
    assert got["96374"][2] == "initial_wrong_family"
    assert got["96365"] == (0, 1, "initial_wrong_family")
    assert got["96375"] == (0, 1, "push_missed")


def test_second_initial_without_a_second_site():
    mar = events(infusion("09:00", "09:40", "ceftriaxone"), infusion("10:00", "10:40", "vancomycin", site="R AC PIV"))
    f = findings_for(mar, claim_lines("E1", ("96365", 2)))
    got = keyed(f)
    assert got["96365"] == (2, 1, "second_initial_without_second_site")
    assert got["96367"] == (0, 1, "sequential_missed")


def test_additional_hours_overcounted():
    mar = events(infusion("09:00", "10:40", "iron_sucrose"))  # 100 min -> 96365 + 96366 x1
    f = findings_for(mar, claim_lines("E1", ("96365", 1), ("96366", 2)))
    assert keyed(f) == {"96366": (2, 1, "additional_hours_overcounted")}


def test_nothing_billed_and_nothing_charted():
    mar = events(infusion("09:00", "09:40", "ceftriaxone"))
    billed = claim_lines("E2", ("96365", 1))
    f = findings_for(mar, billed)
    assert set(zip(f["encounter_id"], f["finding"])) == {
        ("E1", "administration_not_billed"),
        ("E2", "no_administration_charted"),
    }


def test_missing_stop_is_always_a_finding():
    mar = events(ev("09:00", "start", "ceftriaxone", rate=100, volume=50))
    f = findings_for(mar, claim_lines("E1", ("96365", 1)))
    assert f["finding"].tolist() == ["missing_stop_time"]
    assert "derived" in f.loc[0, "explanation"]


def test_every_key_is_documented_with_a_direction():
    assert all(d in {"over_billed", "under_billed", "documentation"} for d, _ in FINDING_KEYS.values())


@pytest.mark.parametrize("shuffle_seed", [1, 2, 3])
def test_row_order_does_not_change_findings(shuffle_seed):
    mar = three_piggybacks(False)
    billed = claim_lines("E1", ("96365", 1), ("96368", 2))
    base = findings_for(mar, billed)
    shuffled = findings_for(mar.sample(frac=1, random_state=shuffle_seed), billed.sample(frac=1, random_state=1))
    pd.testing.assert_frame_equal(base, shuffled)


def test_compare_leaves_its_input_frames_unchanged():
    # encounter_facts and annotate work on shallow copies: every column they set is a new array.
    policy = Policy()
    tl = build_timeline(three_piggybacks(True), policy)
    coding = code_facility(tl, policy, TZ)
    billed = claim_lines("E1", ("96365", 1), ("96368", 2))
    admins, expected = coding.administrations, coding.expected_lines
    before = [admins.copy(deep=True), expected.copy(deep=True), billed.copy(deep=True)]
    f = compare(expected, billed, admins, coding.hydration, tl.missing_stops)
    assert "concurrent_billed_twice" in set(f["finding"]) or "concurrent_mixed_bag" in set(f["finding"])
    for frame, copy in zip([admins, expected, billed], before):
        pd.testing.assert_frame_equal(frame, copy)
