"""A separate visit's second initial code and its 59 / XE modifier (R-B5, D10)."""

import pandas as pd
import pytest

from tests.builders import claim_lines, ev, events, infusion
from tests.transforms.findings.test_compare import findings_for
from transforms.findings.separate_visits import visit_modifier_findings
from transforms.vocab.policy import Policy


def two_visits(visits: bool = True) -> pd.DataFrame:
    """Ex 16 in one encounter: chemo in the morning visit, a push and hydration in the afternoon."""
    mar = events(
        infusion("09:00", "10:00", "cyclophosphamide", "chemo"),
        infusion("14:00", "15:00", "normal_saline", "hydration"),
        ev("14:05", "given", "lorazepam"),
    )
    mar["visit_id"] = ["AM", "AM", "PM", "PM", "PM"] if visits else None
    return mar


def billed(modifier: str) -> pd.DataFrame:
    lines = claim_lines("E1", ("96413", 1), ("96374", 1), ("96361", 1))
    lines.loc[lines["hcpcs"] == "96374", "modifiers"] = modifier
    return lines


@pytest.mark.parametrize("modifier", ["59", "XE"])
@pytest.mark.parametrize("policy", [Policy(), Policy().replace(separate_visit_modifier="XE")])
def test_second_initial_with_either_visit_modifier_has_no_finding(modifier, policy):
    assert findings_for(two_visits(), billed(modifier), policy).empty


def test_second_initial_without_the_modifier_is_found():
    f = findings_for(two_visits(), billed(""))
    assert list(f["finding"]) == ["separate_visit_without_modifier"]
    row = f.iloc[0]
    assert (row.hcpcs, row.billed_units, row.expected_units) == ("96374", 1, 1)
    assert row.direction == "over_billed" and row.severity == "high"


def test_second_initial_with_an_unrelated_modifier_is_found():
    assert list(findings_for(two_visits(), billed("XU"))["finding"]) == ["separate_visit_without_modifier"]


def test_without_visit_ids_a_second_initial_is_one_too_many():
    # No visit documented: one initial for the encounter (R-B1), the push is 96375.
    f = findings_for(two_visits(visits=False), billed("59"))
    assert dict(zip(f["hcpcs"], f["finding"])) == {
        "96374": "second_initial_without_second_site", "96375": "push_missed"}


def test_no_separate_visit_line_no_rows():
    expected = pd.DataFrame({"encounter_id": ["E1"], "hcpcs": ["96365"], "modifiers": [""], "units": [1],
                             "evidence": ["x"]})
    out = visit_modifier_findings(expected, claim_lines("E1", ("96365", 1)), pd.Series({"E1": "C-E1"}))
    assert out.empty
