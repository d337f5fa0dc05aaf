"""`explain`: billed beside expected per code with dollars, access sites in words, titles of findings."""

import pandas as pd
import pytest

from transforms.outputs.explain import access_names, code_lines, explain_encounter
from transforms.vocab.findings import TITLE


@pytest.fixture
def run():
    """One encounter as the CLI reads a run folder: every column text."""
    admins = pd.DataFrame({
        "encounter_id": "E1", "admin_id": ["0", "1", "2"], "site_group": ["0", "1", "0"],
        "role": ["hydration_not_reportable", "initial", "push"],
        "drug_label": ["sodium_chloride_0_9", "vancomycin", "ondansetron"],
        "drug_class": ["hydration", "therapeutic", "therapeutic"], "kind": ["hydration", "infusion", "push"],
        "route": "iv", "site": ["L forearm PIV", "R hand PIV", "l forearm piv"],
        "start": ["2026-11-02T09:00:00-0500", "2026-11-02T09:30:00-0500", "2026-11-02T09:10:00-0500"],
        "end": ["2026-11-02T11:00:00-0500", "2026-11-02T10:30:00-0500", "2026-11-02T09:10:00-0500"],
        "minutes": ["120", "60", "0"], "infusates": ["B1", "B2", "S1"], "n_components": "1",
    })
    expected = pd.DataFrame({
        "encounter_id": "E1", "service_date": "2026-11-02", "setting": "facility",
        "hcpcs": ["96365", "96374", "96375"], "units": ["1", "1", "1"], "modifiers": ["", "XU", ""],
        "rule_ids": ["R-A2", "R-B3", "R-F1"], "evidence": ["vancomycin [B2]", "ondansetron [S1]", "x"],
    })
    findings = pd.DataFrame({
        "encounter_id": "E1", "claim_id": "C1", "hcpcs": ["96361", "96374", ""],
        "billed_units": ["2", "0", "0"], "expected_units": ["0", "1", "0"],
        "finding": ["hydration_during_drug", "second_initial_missed", "missing_stop_time"],
        "explanation": ["ran beside vancomycin", "second site", "no stop"],
        "direction": ["over_billed", "under_billed", "documentation"], "severity": ["medium", "medium", "medium"],
        "dollar_impact": ["80.0", "", ""], "setting": "facility", "evidence": "",
    })
    return admins, expected, findings


def test_codes_billed_beside_expected_with_dollars(run):
    _, expected, findings = run
    lines = code_lines("E1", expected, findings)
    assert lines.to_dict("records") == [
        {"code": "96361", "billed": 2, "expected": 0, "difference": "+2", "dollars": "$80.00",
         "findings": "hydration_during_drug"},
        {"code": "96365", "billed": 1, "expected": 1, "difference": "0", "dollars": "", "findings": ""},
        {"code": "96374", "billed": 0, "expected": 1, "difference": "-1", "dollars": "not priced",
         "findings": "second_initial_missed"},
        {"code": "96375", "billed": 1, "expected": 1, "difference": "0", "dollars": "", "findings": ""},
    ]


def test_access_sites_in_words(run):
    admins, _, _ = run
    assert list(access_names(admins)) == ["access 1 (L forearm PIV / l forearm piv)", "access 2 (R hand PIV)",
                                          "access 1 (L forearm PIV / l forearm piv)"]
    assert list(access_names(admins.drop(columns="site_group"))) == list(admins["site"])


def test_explain_text(run):
    text = explain_encounter("E1", *run)
    assert text.startswith("Encounter E1 · claim C1\n")
    assert "site_group" not in text and "access 2 (R hand PIV)" in text
    assert "hydration not reportable" in text and "sodium chloride 0.9 %" in text
    assert "2026-11-02 09:00" in text and "T09:00:00-0500" not in text  # the facility clock, readable
    codes = text.split("Codes, billed beside expected", 1)[1].split("Expected lines", 1)[0]
    assert "+2" in codes and "$80.00" in codes and "not priced" in codes
    assert "dollar impact of this encounter: $80.00" in codes
    assert f"{TITLE['hydration_during_drug']} [hydration_during_drug] (96361, over-billed, medium, $80.00)" in text
    assert f"{TITLE['second_initial_missed']} [second_initial_missed] (96374, under-billed, medium, no dollars; " \
           "not priced" in text
    assert "[missing_stop_time] (no code, documentation, medium, no dollars; no dollars: a documentation" in text
    assert "96374-XU x1  [R-B3]" in text and "from: ondansetron [S1]" in text


def test_explain_without_dollars_and_unknown_encounter(run):
    admins, expected, findings = run
    text = explain_encounter("E1", admins, expected, findings.drop(columns=["dollar_impact", "severity"]))
    assert "$" not in text and "dollar impact" not in text
    with pytest.raises(KeyError):
        explain_encounter("E9", admins, expected, findings)


def test_explain_names_the_policy_profile_and_how_it_differs_from_the_default(run):
    admins, expected, findings = run
    assert "Policy profile" not in explain_encounter("E1", *run)  # a run folder from before payer rules
    cpt = explain_encounter("E1", admins, expected.assign(policy_profile="commercial_cpt"),
                            findings.assign(policy_profile="commercial_cpt"))
    header = cpt.split("\n\n", 1)[0].splitlines()
    assert header[0] == "Encounter E1 · claim C1"
    assert header[1].startswith("Policy profile: commercial_cpt; differs from the default cms_facility in ")
    assert "line_date=start (default threshold)" in header[1]
    cms = explain_encounter("E1", admins, expected.assign(policy_profile="cms_facility"), findings)
    assert "Policy profile: cms_facility (the default)\n" in cms
    custom = explain_encounter("E1", admins, expected, findings.assign(policy_profile="site_rules"))
    assert "Policy profile: site_rules\n" in custom
