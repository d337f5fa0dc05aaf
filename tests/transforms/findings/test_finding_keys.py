"""Every finding key of the vocabulary, produced from MAR events and billed lines
through the whole pure audit (``run_audit``), with real drug names that the
drug reference classifies (the builders' ``drug_class`` is dropped, so the
class comes from the text, as in production).

Each case asserts the exact key, code, billed / expected units and direction
of the finding it is about; ``test_every_key_has_a_case`` keeps the table and
:data:`transforms.vocab.findings.FINDING_KEYS` in step.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import pandas as pd
import pytest

from tests.builders import TZ, claim_lines, ev, infusion, mar_of
from transforms.audit import run_audit
from transforms.vocab.findings import FINDING_KEYS
from transforms.reference.drugs import load_drug_reference
from transforms.reference.ncci import load_edit_directory
from transforms.reference.fees import load_fee_schedule
from transforms.vocab.policy import Policy

NS = "sodium chloride 0.9 %"


@pytest.fixture(scope="module")
def reference():
    return load_drug_reference()


@pytest.fixture(scope="module")
def edits():
    return load_edit_directory()  # the shipped FIXTURES (invented values)


class Case(NamedTuple):
    rows: Callable[[], list]
    billed: Callable[[], pd.DataFrame]
    hcpcs: str
    billed_units: int
    expected_units: int


def fac(*lines: tuple[str, int]) -> Callable[[], pd.DataFrame]:
    return lambda: claim_lines("E1", *lines)


def pro(*lines: tuple[str, int], pos: str = "11") -> Callable[[], pd.DataFrame]:
    return lambda: claim_lines("E1", *lines, claim_type="professional", place_of_service=pos)


def three_piggybacks() -> list:
    return [infusion("10:00", "10:50", d, infusate=f"BAG{i}", site=f"R IJ CVC lumen {i}")
            for i, d in enumerate(["ceftriaxone", "vancomycin", "azithromycin"], start=1)]


CASES: dict[str, Case] = {
    # 96368 billed with no overlap at all (the second drug starts after the first stops).
    "concurrent_no_overlap": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone"), infusion("10:00", "11:00", "vancomycin")],
        fac(("96365", 1), ("96367", 1), ("96368", 1)), "96368", 1, 0),
    # Three drugs mixed in one bag (R-D5).
    "concurrent_mixed_bag": Case(
        lambda: [infusion("09:00", "09:50", d, infusate="BAG1") for d in ("ceftriaxone", "vancomycin")],
        fac(("96365", 1), ("96368", 1)), "96368", 1, 0),
    # A piggyback running inside a hydration bag: the only overlap is with hydration.
    "concurrent_with_hydration": Case(
        lambda: [infusion("09:00", "11:00", NS, rate=250), infusion("09:30", "10:10", "ceftriaxone")],
        fac(("96365", 1), ("96361", 1), ("96368", 1)), "96368", 1, 0),
    # Two drugs at the same time through two separate PIVs: two initial services.
    "concurrent_different_sites": Case(
        lambda: [infusion("09:00", "10:00", "vancomycin"), infusion("09:30", "10:30", "ceftriaxone", site="R AC PIV")],
        fac(("96365", 1), ("96368", 1)), "96368", 1, 0),
    # Two chemo infusions overlapping on one line: never 96368 (D13).
    "concurrent_not_supported": Case(
        lambda: [infusion("09:00", "11:00", "rituximab"), infusion("09:30", "10:30", "oxaliplatin")],
        fac(("96413", 1), ("96415", 1), ("96368", 1)), "96368", 1, 0),
    "concurrent_billed_twice": Case(three_piggybacks, fac(("96365", 1), ("96368", 2)), "96368", 2, 1),
    "concurrent_missed": Case(three_piggybacks, fac(("96365", 1)), "96368", 0, 1),
    # Vancomycin in two consecutive bags: one service of 130 min, not a new drug.
    "sequential_same_drug": Case(
        lambda: [infusion("10:00", "11:00", "vancomycin", infusate="V1"),
                 infusion("11:00", "12:10", "vancomycin", infusate="V2")],
        fac(("96365", 1), ("96367", 1)), "96367", 1, 0),
    "sequential_not_supported": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone")], fac(("96365", 1), ("96367", 1)), "96367", 1, 0),
    "sequential_missed": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone"), infusion("10:00", "11:00", "vancomycin")],
        fac(("96365", 1)), "96367", 0, 1),
    # An IV restarted in the other arm after the first drug ended: still one site at a time.
    "second_initial_without_second_site": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone"), infusion("10:00", "10:40", "vancomycin", site="R AC PIV")],
        fac(("96365", 2)), "96365", 2, 1),
    "second_initial_missed": Case(
        lambda: [infusion("09:00", "10:00", "vancomycin"), infusion("09:30", "10:30", "ceftriaxone", site="R AC PIV")],
        fac(("96365", 1)), "96365", 1, 2),
    # Ex 16 in one encounter: a documented afternoon visit's initial push billed without 59 / XE (R-B5).
    "separate_visit_without_modifier": Case(
        lambda: [[{**e, "visit_id": "AM"} for e in infusion("09:00", "10:00", "vancomycin")],
                 {**ev("14:05", "given", "ondansetron"), "visit_id": "PM"}],
        fac(("96365", 1), ("96374", 1)), "96374", 1, 1),
    # A push first in clock order does not make the push the initial service (R-A2).
    "initial_wrong_family": Case(
        lambda: [ev("09:00", "given", "ondansetron"), infusion("09:10", "09:50", "ceftriaxone")],
        fac(("96374", 1), ("96367", 1)), "96374", 1, 0),
    "infusion_under_16_minutes": Case(
        lambda: [infusion("09:00", "09:10", "ceftriaxone")], fac(("96365", 1)), "96365", 1, 0),
    "additional_hours_overcounted": Case(
        lambda: [infusion("09:00", "10:40", "iron sucrose")], fac(("96365", 1), ("96366", 2)), "96366", 2, 1),
    "additional_hours_undercounted": Case(
        lambda: [infusion("09:00", "11:40", "vancomycin")], fac(("96365", 1), ("96366", 1)), "96366", 1, 2),
    # 180 clock minutes of NS, 60 of them while ceftriaxone ran: 120 creditable -> 96361 x2.
    "hydration_during_drug": Case(
        lambda: [infusion("09:00", "12:00", NS, rate=250), infusion("09:30", "10:30", "ceftriaxone")],
        fac(("96365", 1), ("96361", 3)), "96361", 3, 2),
    "hydration_under_31_minutes": Case(
        lambda: [infusion("09:00", "09:20", NS, rate=250)], fac(("96360", 1)), "96360", 1, 0),
    "repeat_push_within_30_minutes": Case(
        lambda: [ev("09:00", "given", "ondansetron"), ev("09:20", "given", "ondansetron")],
        fac(("96374", 1), ("96376", 1)), "96376", 1, 0),
    "repeat_push_not_supported": Case(
        lambda: [ev("09:00", "given", "ondansetron")], fac(("96374", 1), ("96376", 1)), "96376", 1, 0),
    "push_not_supported": Case(
        lambda: [ev("09:00", "given", "ondansetron")], fac(("96374", 1), ("96375", 1)), "96375", 1, 0),
    "push_missed": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone"), ev("10:00", "given", "ondansetron")],
        fac(("96365", 1)), "96375", 0, 1),
    # A 5-FU pump left running (disconnect charted later): 96416, not a chemo push (R-H8).
    "pump_start_billed_as_push_or_hours": Case(
        lambda: [ev("14:37", "start", "fluorouracil", infusate="PUMP", route="pump", site="port")],
        fac(("96409", 1)), "96416", 0, 1),
    "pump_code_without_pump_start": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone")], fac(("96365", 1), ("96416", 1)), "96416", 1, 0),
    "code_not_supported": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone")], fac(("96365", 1), ("96372", 1)), "96372", 1, 0),
    "code_missed": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone"), ev("10:00", "given", "enoxaparin", route="sc_injection")],
        fac(("96365", 1)), "96372", 0, 1),
    "administration_not_billed": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone")], fac(("99284", 1)), "96365", 0, 1),
    "no_administration_charted": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone", encounter="E0")], fac(("96365", 1)), "96365", 1, 0),
    "professional_in_facility_pos": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone")], pro(("96365", 1), pos="23"), "96365", 1, 0),
    "facility_only_code_on_professional": Case(
        lambda: [ev("09:00", "given", "ondansetron"), ev("10:00", "given", "ondansetron")],
        pro(("96374", 1), ("96376", 1)), "96376", 1, 0),
    # Facility MUE fixture: 96368 = 1 per date (MAI 2).
    "mue_exceeded": Case(three_piggybacks, fac(("96365", 1), ("96368", 2)), "96368", 2, 1),
    # PTP fixture: 96365 / 96523 (port flush), modifier indicator 0.
    "ptp_pair_without_modifier": Case(
        lambda: [infusion("09:00", "09:40", "ceftriaxone")], fac(("96365", 1), ("96523", 1)), "96523", 1, 0),
    "missing_stop_time": Case(
        lambda: [ev("09:00", "start", "ceftriaxone", rate=100, volume=50)], fac(("96365", 1)), "", 0, 0),
    "drug_not_classified": Case(
        lambda: [infusion("09:00", "09:40", "zorblaxumab 30 mg in sodium chloride 0.9 % 100 mL")],
        fac(("96365", 1)), "", 0, 0),
}


def audit(case: Case, reference, edits) -> pd.DataFrame:
    return run_audit(mar_of(*case.rows()), case.billed(), reference, Policy(), TZ, edits=edits,
                     fees=load_fee_schedule()).findings


def test_every_key_has_a_case():
    assert set(CASES) == set(FINDING_KEYS)


@pytest.mark.parametrize("key", sorted(CASES))
def test_key_is_produced(key, reference, edits):
    case = CASES[key]
    f = audit(case, reference, edits)
    hit = f[(f["finding"] == key) & (f["hcpcs"] == case.hcpcs)]
    assert len(hit) == 1, f[["hcpcs", "billed_units", "expected_units", "finding"]].to_string()
    row = hit.iloc[0]
    assert (row["hcpcs"], int(row["billed_units"]), int(row["expected_units"])) == (
        case.hcpcs, case.billed_units, case.expected_units)
    # The key's direction, turned by the line's units (the displaced code of an over-billing key is under).
    keyed = FINDING_KEYS[key][0]
    if keyed != "documentation" and case.billed_units != case.expected_units:
        keyed = "over_billed" if case.billed_units > case.expected_units else "under_billed"
    assert row["direction"] == keyed
    assert row["severity"] in {"high", "medium", "low"}
    assert row["explanation"]


def findings_of(rows, billed, reference, edits=None) -> pd.DataFrame:
    return run_audit(mar_of(*rows), billed, reference, Policy(), TZ, edits=edits, fees=load_fee_schedule()).findings


def keyed(f: pd.DataFrame) -> dict[str, tuple[int, int, str]]:
    return {r.hcpcs: (r.billed_units, r.expected_units, r.finding) for r in f.itertuples()}


def test_infusion_under_16_minutes_pairs_the_infusion_with_the_push_it_displaced(reference):
    f = findings_of([infusion("09:00", "09:10", "ceftriaxone")], claim_lines("E1", ("96365", 1)), reference)
    assert keyed(f) == {"96365": (1, 0, "infusion_under_16_minutes"), "96374": (0, 1, "infusion_under_16_minutes")}
    # The infusion billed is over-billed; the push it displaced is the under-billed side of the same finding.
    assert dict(zip(f["hcpcs"], f["direction"])) == {"96365": "over_billed", "96374": "under_billed"}
    assert "09:00-09:10 (10 min)" in f.iloc[0]["explanation"]
    # The pair nets to the price difference of the two codes (sample schedule: 205 - 120).
    assert f["dollar_impact"].sum() == pytest.approx(85.0)


def test_chemo_infusion_under_16_minutes(reference):
    f = findings_of([infusion("09:00", "09:12", "fluorouracil")], claim_lines("E1", ("96413", 1)), reference)
    assert keyed(f) == {"96413": (1, 0, "infusion_under_16_minutes"), "96409": (0, 1, "infusion_under_16_minutes")}


def test_concurrent_under_the_overlap_minimum_is_no_overlap(reference):
    # 10 minutes of overlap on one line: below the 16-minute policy minimum (D4).
    rows = [infusion("09:00", "09:40", "ceftriaxone"), infusion("09:30", "10:30", "vancomycin")]
    f = findings_of(rows, claim_lines("E1", ("96365", 1), ("96367", 1), ("96368", 1)), reference)
    assert keyed(f) == {"96368": (1, 0, "concurrent_no_overlap")}
    assert "16 min" in f.iloc[0]["explanation"]


def test_concurrent_different_sites_names_both_sites_and_times(reference):
    case = CASES["concurrent_different_sites"]
    f = findings_of(case.rows(), case.billed(), reference)
    row = f[f["finding"] == "concurrent_different_sites"].iloc[0]
    for text in ("l forearm piv", "r ac piv", "09:00-10:00", "09:30-10:30", "vancomycin", "ceftriaxone"):
        assert text in row["explanation"]
    assert row["severity"] == "high"
    assert row["dollar_impact"] == 0.0  # 96368 is packaged (N) in the sample facility schedule


def test_mixed_bag_evidence_names_the_bag(reference):
    case = CASES["concurrent_mixed_bag"]
    f = findings_of(case.rows(), case.billed(), reference)
    assert "BAG1" in f.iloc[0]["evidence"] and "one bag" in f.iloc[0]["explanation"]


def test_hydration_during_drug_states_the_minutes(reference):
    case = CASES["hydration_during_drug"]
    f = findings_of(case.rows(), case.billed(), reference)
    text = f.iloc[0]["explanation"]
    assert "ran 180 min, of which 60 min while another infusion ran" in text
    assert f.iloc[0]["dollar_impact"] == pytest.approx(40.0)


def test_repeat_push_more_than_30_minutes_later_is_supported(reference):
    rows = [ev("09:00", "given", "ondansetron"), ev("09:45", "given", "ondansetron")]
    assert findings_of(rows, claim_lines("E1", ("96374", 1), ("96376", 1)), reference).empty


def test_correct_claim_has_no_finding_even_with_edits(reference, edits):
    rows = three_piggybacks()
    assert findings_of(rows, claim_lines("E1", ("96365", 1), ("96368", 1)), reference, edits).empty


def test_severity_rule(reference):
    case = CASES["additional_hours_undercounted"]
    f = findings_of(case.rows(), case.billed(), reference)
    assert f.iloc[0]["severity"] == "low"
    case = CASES["additional_hours_overcounted"]
    assert findings_of(case.rows(), case.billed(), reference).iloc[0]["severity"] == "medium"
    case = CASES["concurrent_no_overlap"]
    assert findings_of(case.rows(), case.billed(), reference).iloc[0]["severity"] == "high"
    case = CASES["missing_stop_time"]
    doc = findings_of(case.rows(), case.billed(), reference)
    assert doc.iloc[0]["severity"] == "medium" and pd.isna(doc.iloc[0]["dollar_impact"])


def test_findings_columns_extend_the_contract(reference):
    case = CASES["push_missed"]
    f = findings_of(case.rows(), case.billed(), reference)
    assert list(f.columns) == ["encounter_id", "claim_id", "hcpcs", "billed_units", "expected_units", "finding",
                               "explanation", "direction", "severity", "dollar_impact", "setting", "evidence",
                               "policy_profile", "price_basis"]


# Issue 9: a rate change charted after the bag was stopped is left out of the
# minutes (it used to restart the bag) and reported; the claim itself is right.
CASES["mar_event_not_used"] = Case(
    lambda: [infusion("09:00", "10:00", "vancomycin"), ev("10:30", "rate_change", "vancomycin", rate=100)],
    fac(("96365", 1)), "", 0, 0)


def test_mar_event_not_used_names_the_event(reference):
    case = CASES["mar_event_not_used"]
    f = findings_of(case.rows(), case.billed(), reference)
    assert f["finding"].tolist() == ["mar_event_not_used"]
    row = f.iloc[0]
    assert row["severity"] == "medium" and pd.isna(row["dollar_impact"])
    assert "rate change on a stopped bag" in row["explanation"] and "vancomycin" in row["evidence"]


def test_mar_event_not_used_key_is_produced(reference, edits):
    # ``test_key_is_produced`` is parametrized before this case is appended to CASES: run its check here.
    test_key_is_produced("mar_event_not_used", reference, edits)


def test_dollars_follow_the_direction_on_every_line(reference):
    """A wrong initial code is two lines: the code billed (over, positive dollars) and the code it
    displaced (under, negative dollars); no line has dollars against its direction (issue 11)."""
    case = CASES["initial_wrong_family"]
    f = findings_of(case.rows(), case.billed(), reference)
    mine = f[f["finding"] == "initial_wrong_family"]
    assert set(mine["direction"]) == {"over_billed", "under_billed"}
    for row in mine.itertuples():
        assert (row.direction == "over_billed") == (row.billed_units > row.expected_units)
    priced = f[f["dollar_impact"].notna() & (f["dollar_impact"] != 0)]
    assert ((priced["dollar_impact"] > 0) == (priced["direction"] == "over_billed")).all()
    assert (priced.loc[priced["direction"] == "under_billed", "dollar_impact"] < 0).all()
