"""The question the project starts from, end to end through the pure audit.

Three different drugs in three separate piggy-backs running at the same time
through one multi-lumen line -> 96365 + 96368 x1 (Ex 28, R-E2); the same three
drugs mixed in one bag -> 96365 only (R-D5). Real MAR drug strings, classified
by the drug reference.
"""

import pandas as pd
import pytest

from tests.builders import TZ, at, claim_lines
from transforms.audit import run_audit
from transforms.reference.drugs import load_drug_reference
from transforms.vocab.policy import Policy

DRUGS = [
    "cefTRIAXone (ROCEPHIN) 1 g in sodium chloride 0.9 % 50 mL IVPB",
    "vancomycin 1,250 mg in sodium chloride 0.9 % 250 mL IVPB",
    "azithromycin (ZITHROMAX) 500 mg in sodium chloride 0.9 % 250 mL IVPB",
]


@pytest.fixture(scope="module")
def reference():
    return load_drug_reference()


def mar(one_bag: bool) -> pd.DataFrame:
    rows = []
    for i, drug in enumerate(DRUGS):
        bag = "BAG-1" if one_bag else f"BAG-{i + 1}"
        site = "R IJ triple-lumen CVC" if one_bag else f"R IJ triple-lumen CVC lumen {i + 1}"
        for time, action in (("10:02", "start"), ("10:55", "stop")):
            rows.append({
                "encounter_id": "E1", "patient_id": "P1", "order_id": f"O{i}", "infusate_id": bag,
                "drug": drug, "ndc": None, "drug_class": None, "route": "iv_infusion", "action": action,
                "event_time": at(time), "access_site": site, "rate": 100.0, "rate_unit": "mL/h",
                "dose": None, "dose_unit": None, "volume_ml": None, "primary": None, "source_row": len(rows) + 1,
            })
    frame = pd.DataFrame(rows)
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame


def codes(result) -> dict[str, int]:
    return result.expected_lines.groupby("hcpcs")["units"].sum().to_dict()


def test_three_piggybacks_through_one_multi_lumen_line(reference):
    result = run_audit(mar(False), claim_lines("E1", ("96365", 1), ("96368", 1)), reference, Policy(), TZ)
    assert codes(result) == {"96365": 1, "96368": 1}
    assert result.findings.empty
    assert set(result.administrations["role"]) == {"initial", "concurrent", "concurrent_extra"}


def test_same_three_drugs_mixed_in_one_bag(reference):
    result = run_audit(mar(True), claim_lines("E1", ("96365", 1)), reference, Policy(), TZ)
    assert codes(result) == {"96365": 1}
    assert result.findings.empty


def test_96368_billed_for_the_one_bag_is_a_finding(reference):
    result = run_audit(mar(True), claim_lines("E1", ("96365", 1), ("96368", 1)), reference, Policy(), TZ)
    f = result.findings
    assert f[["hcpcs", "billed_units", "expected_units", "finding", "direction"]].values.tolist() == [
        ["96368", 1, 0, "concurrent_mixed_bag", "over_billed"]
    ]
    assert "BAG-1" in f.loc[0, "explanation"]


def test_96368_billed_twice_for_the_three_piggybacks(reference):
    billed = claim_lines("E1", ("96365", 1), ("96368", 2))
    f = run_audit(mar(False), billed, reference, Policy(), TZ).findings
    assert f[["hcpcs", "billed_units", "expected_units", "finding"]].values.tolist() == [
        ["96368", 2, 1, "concurrent_billed_twice"]
    ]


def test_expected_lines_follow_the_contract(reference):
    lines = run_audit(mar(False), claim_lines("E1"), reference, Policy(), TZ).expected_lines
    assert list(lines.columns) == [  # the contract's columns first and unchanged, then the extension
        "encounter_id", "service_date", "setting", "hcpcs", "units", "modifiers", "rule_ids", "evidence",
        "policy_profile",
    ]
    assert (lines["policy_profile"] == "cms_facility").all()
    assert (lines["setting"] == "facility").all()
    assert (lines["units"] >= 1).all()
    assert lines.loc[lines["hcpcs"] == "96368", "rule_ids"].item().startswith("R-E1")


def test_professional_claim_in_facility_place_of_service(reference):
    billed = claim_lines("E1", ("96365", 1), claim_type="professional", place_of_service="23")
    f = run_audit(mar(False), billed, reference, Policy(), TZ).findings
    assert f["finding"].tolist() == ["professional_in_facility_pos"]


def test_unknown_drug_is_reported_not_guessed(reference):
    frame = mar(False).iloc[:2].assign(drug="zorblaxumab 30 mg in sodium chloride 0.9 % 100 mL")
    result = run_audit(frame, claim_lines("E1", ("96365", 1)), reference, Policy(), TZ)
    assert result.expected_lines.empty
    assert "drug_not_classified" in set(result.findings["finding"])


def test_kvo_bag_with_rate_only_on_its_start_is_not_hydration(reference):
    """R-G3: a 30 mL/h keep-vein-open bag whose stop row has no rate."""
    frame = mar(False).iloc[:2].copy()
    kvo = frame.copy().assign(drug="sodium chloride 0.9 % infusion 1,000 mL", infusate_id="KVO-1",
                              order_id="O-KVO", rate=[20.0, None])
    kvo["event_time"] = [at("09:00"), at("12:00")]
    result = run_audit(pd.concat([frame, kvo], ignore_index=True), claim_lines("E1", ("96365", 1)),
                       reference, Policy(), TZ)
    assert codes(result) == {"96365": 1}
    assert result.findings.empty


def test_step_seconds_times_every_engine_step_even_while_empty(reference):
    from transforms.audit import StepSeconds

    steps = StepSeconds()  # empty, so falsy: still the timer, not "no timer"
    run_audit(mar(one_bag=False), claim_lines(("96365", 1)), reference, Policy(), TZ, timer=steps)
    assert set(steps) == {"classify", "timeline", "coding", "compare"} and all(s > 0 for s in steps.values())
    other = StepSeconds({"classify": 1.5, "write": 2.0})  # e.g. a shard audited in a helper process
    before = dict(steps)
    steps.add(other)
    assert steps["classify"] == pytest.approx(before["classify"] + 1.5) and steps["write"] == 2.0
    assert steps["coding"] == before["coding"]


#: Result columns of labels: few distinct values, each held by one object, not one per row
#: (at a million encounters the labels made per row held some 110 MB until the outputs were written).
#: ``role`` and ``route`` are left out: a few of their values still come as several objects
#: (at 100k encounters 2,861 objects for 12 roles, 4,904 for 5 routes: under 0.5 MB).
LABEL_COLUMNS = {
    "administrations": ("service_key", "drug_label", "drug_class", "kind", "drug_as_charted"),
    "expected_lines": ("hcpcs", "modifiers", "rule_ids"),
    "findings": ("hcpcs", "finding", "direction", "severity", "price_basis"),
}


def test_the_results_labels_hold_one_object_per_distinct_value(reference):
    encounters = [f"E{i}" for i in range(12)]
    events = pd.concat([mar(i % 2 == 0).assign(encounter_id=e) for i, e in enumerate(encounters)],
                       ignore_index=True)
    billed = pd.concat([claim_lines(e, ("96365", 1), ("96368", 2), ("96361", 1)) for e in encounters],
                       ignore_index=True)
    result = run_audit(events, billed, reference, Policy(), TZ)
    assert len(result.findings) >= 2 * len(encounters)
    for name, columns in LABEL_COLUMNS.items():
        frame = getattr(result, name)
        for column in columns:
            values = frame[column]
            assert len({id(v) for v in values}) == values.nunique(dropna=False), (name, column)
