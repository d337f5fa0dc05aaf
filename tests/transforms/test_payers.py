"""Payer maps: loading, their errors, each encounter's profile, and each profile's policy."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from transforms.payers import (
    PayerMap,
    PayerMapError,
    encounter_profiles,
    load_payer_map,
    policy_differences,
    profile_policies,
)
from transforms.vocab.policy import Policy, load_policy


def write(tmp_path, body: str, name: str = "payers.csv"):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_loads_payers_and_the_default_row(tmp_path):
    body = "Payer_ID , Policy_Profile\nMEDICARE,cms_facility\n ACME01 , commercial_cpt \n*,commercial_cpt\n"
    path = write(tmp_path, body)
    payer_map = load_payer_map(path)
    assert dict(payer_map.profiles) == {"MEDICARE": "cms_facility", "ACME01": "commercial_cpt"}
    assert payer_map.default == "commercial_cpt" and payer_map.source == str(path)
    assert payer_map.default_profile(Policy()) == "commercial_cpt"


def test_without_a_default_row_unmapped_payers_use_the_run_policy(tmp_path):
    payer_map = load_payer_map(write(tmp_path, "payer_id,policy_profile\nACME01,commercial_cpt\n"))
    assert payer_map.default is None
    assert payer_map.default_profile(load_policy("commercial_cpt")) == "commercial_cpt"
    assert payer_map.default_profile(Policy()) == "cms_facility"


@pytest.mark.parametrize("body, message", [
    ("payer_id,policy_profile\nMEDICARE,cms_facility\nACME01,cpt_literal\n",
     r"payers\.csv: row 2: unknown policy profile 'cpt_literal' for payer 'ACME01'; known: \['cms_facility'"),
    ("payer_id,policy_profile\n,cms_facility\n", r"payers\.csv: row 1: empty payer_id"),
    ("payer_id,policy_profile\nACME01,cms_facility\nACME01,commercial_cpt\n",
     r"payers\.csv: row 2: payer 'ACME01' is listed twice"),
    ("payer_id,policy_profile\n*,cms_facility\n*,commercial_cpt\n", r"payers\.csv: row 2: payer '\*' is listed twice"),
    ("payer,profile\nACME01,cms_facility\n", r"payers\.csv: missing column\(s\) payer_id, policy_profile"),
    ("payer_id,policy_profile\nACME01,\n", r"payers\.csv: row 1: unknown policy profile ''"),
])
def test_a_bad_map_is_refused_naming_the_file_and_row(tmp_path, body, message):
    with pytest.raises(PayerMapError, match=message):
        load_payer_map(write(tmp_path, body))


def test_an_unreadable_map_names_the_file(tmp_path):
    with pytest.raises(PayerMapError, match=r"missing\.csv: cannot read the payer map"):
        load_payer_map(tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("payer_id,policy_profile\nCAF\xc9,cms_facility\n".encode("latin-1"))
    with pytest.raises(PayerMapError, match=r"latin\.csv: cannot read the payer map"):
        load_payer_map(latin)


def test_a_map_built_in_code_is_checked_too():
    with pytest.raises(PayerMapError, match="unknown policy profile 'nope'"):
        PayerMap({"ACME01": "nope"})
    with pytest.raises(PayerMapError, match="payer '\\*': unknown policy profile 'nope'"):
        PayerMap({}, default="nope")


def claims(*rows: tuple[str, str, str | None, str]) -> pd.DataFrame:
    """Claim lines ``(encounter_id, claim_id, payer_id, service_date)``."""
    return pd.DataFrame([
        {"encounter_id": e, "claim_id": c, "payer_id": p, "service_date": date.fromisoformat(d), "line_number": 1}
        for e, c, p, d in rows
    ])


def test_each_encounter_gets_its_payers_profile_and_the_first_claim_decides():
    payer_map = PayerMap({"MEDICARE": "cms_facility", "ACME01": "commercial_cpt"})
    billed = claims(
        ("E1", "C1", "MEDICARE", "2026-11-02"),
        # E2: two payers; the claim for the earliest date of service decides, whatever the file order.
        ("E2", "C3", "MEDICARE", "2026-11-03"),
        ("E2", "C2", " ACME01 ", "2026-11-02"),
        ("E3", "C4", "OTHER", "2026-11-02"),       # not in the map: the default
        ("E4", "C5", None, "2026-11-02"),          # no payer: left to the default
        ("E4", "C6", "  ", "2026-11-01"),          # blank is no payer either
    )
    profiles = encounter_profiles(billed, payer_map, "cms_facility")
    assert profiles.to_dict() == {"E1": "cms_facility", "E2": "commercial_cpt", "E3": "cms_facility"}
    reordered = encounter_profiles(billed.iloc[::-1], payer_map, "commercial_cpt")
    assert reordered.to_dict() == {"E1": "cms_facility", "E2": "commercial_cpt", "E3": "commercial_cpt"}


def test_no_map_or_no_payer_column_gives_no_profiles():
    billed = claims(("E1", "C1", "ACME01", "2026-11-02"))
    assert encounter_profiles(billed, None, "cms_facility").empty
    assert encounter_profiles(billed.drop(columns="payer_id"), PayerMap({"ACME01": "commercial_cpt"}),
                              "cms_facility").empty


def test_each_profile_is_its_preset_plus_the_runs_own_changes():
    run = load_policy("cms_facility", overrides={"kvo_max_rate_ml_h": "20"})
    policies = profile_policies(PayerMap({"ACME01": "commercial_cpt"}), run)
    assert sorted(policies) == ["cms_facility", "commercial_cpt"]
    assert policies["cms_facility"] is run
    commercial = policies["commercial_cpt"]
    assert commercial.name == "commercial_cpt" and commercial.line_date == "start"
    assert commercial.kvo_max_rate_ml_h == 20.0
    # Two profiles differ exactly where their presets do.
    presets = policy_differences(load_policy("commercial_cpt"), load_policy("cms_facility"))
    assert presets["line_date"] == ("start", "threshold")
    assert policy_differences(commercial, run) == presets
    assert profile_policies(None, run) == {"cms_facility": run}
