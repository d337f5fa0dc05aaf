"""Payer-specific rules through the pure audit: one run audits each encounter by
its payer's policy profile (transforms/payers.py), and says which profile decided.

The two shipped profiles differ in ``line_date`` (D2): ``cms_facility`` dates
each unit on the day the minute that earned it fell, ``commercial_cpt`` puts
every unit on the service's start date. A vancomycin infusion from 22:30 to
01:00 (150 minutes: 96365 + 96366 x1, the additional hour earned at 00:31)
therefore gives 96366 on the next day under CMS and on the start day under CPT.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tests.builders import TZ, at, claim_lines
from transforms.audit import run_audit
from transforms.payers import PayerMap
from transforms.reference.drugs import load_drug_reference
from transforms.vocab.policy import Policy, load_policy
from transforms.vocab.schemas import EXPECTED_OUTPUT_COLUMNS, FINDING_AUDIT_COLUMNS

VANCOMYCIN = "vancomycin 1,250 mg in sodium chloride 0.9 % 250 mL IVPB"
START_DAY, NEXT_DAY = dt.date(2026, 11, 2), dt.date(2026, 11, 3)
PAYERS = PayerMap({"MEDICARE": "cms_facility", "ACME01": "commercial_cpt"})


@pytest.fixture(scope="module")
def reference():
    return load_drug_reference()


def overnight(encounter: str) -> list[dict]:
    """One vancomycin bag from 22:30 to 01:00 the next day (150 active minutes)."""
    return [{
        "encounter_id": encounter, "patient_id": "P1", "order_id": "O1", "infusate_id": f"BAG-{encounter}",
        "drug": VANCOMYCIN, "ndc": None, "drug_class": None, "route": "iv_infusion", "action": action,
        "event_time": at(time), "access_site": "L forearm PIV", "rate": 100.0, "rate_unit": "mL/h",
        "dose": None, "dose_unit": None, "volume_ml": None, "primary": None, "source_row": 0,
    } for time, action in (("22:30", "start"), ("+1 01:00", "stop"))]


def mar_of(*encounters: str) -> pd.DataFrame:
    frame = pd.DataFrame([row for e in encounters for row in overnight(e)])
    frame["source_row"] = range(1, len(frame) + 1)
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame


def billed(payers: dict[str, str | None], hours: int = 2) -> pd.DataFrame:
    """Each encounter billed 96365 x1 + 96366 x``hours`` (all on the start day) to its payer."""
    lines = pd.concat([claim_lines(e, ("96365", 1), ("96366", hours)) for e in payers], ignore_index=True)
    return lines.assign(payer_id=lines["encounter_id"].map(payers))


def dates(result, encounter: str, code: str) -> list[dt.date]:
    e = result.expected_lines
    return e.loc[(e["encounter_id"] == encounter) & (e["hcpcs"] == code), "service_date"].tolist()


def test_each_payers_encounter_is_coded_and_compared_by_its_own_profile(reference):
    # 96366 x2 billed where 150 minutes support x1: one over-billing finding on each encounter.
    result = run_audit(mar_of("E1", "E2"), billed({"E1": "MEDICARE", "E2": "ACME01"}), reference, Policy(), TZ,
                       payer_map=PAYERS)
    assert dates(result, "E1", "96366") == [NEXT_DAY]      # CMS: the day the unit was earned
    assert dates(result, "E2", "96366") == [START_DAY]     # CPT: the service's start date
    assert list(result.expected_lines.columns) == list(EXPECTED_OUTPUT_COLUMNS)
    profile = result.expected_lines.groupby("encounter_id")["policy_profile"].agg(set).to_dict()
    assert profile == {"E1": {"cms_facility"}, "E2": {"commercial_cpt"}}
    f = result.findings
    assert list(f.columns) == list(FINDING_AUDIT_COLUMNS)
    assert f[["encounter_id", "hcpcs", "billed_units", "expected_units", "policy_profile"]].values.tolist() == [
        ["E1", "96366", 2, 1, "cms_facility"], ["E2", "96366", 2, 1, "commercial_cpt"]]


def test_a_split_run_equals_each_profile_run_on_its_own_encounters(reference):
    """Same rows, order and admin ids as single-profile runs would give, interleaved by encounter."""
    payers = {"E1": "ACME01", "E2": "MEDICARE", "E3": "ACME01", "E4": None}
    mar, claims = mar_of(*payers), billed(payers)
    result = run_audit(mar, claims, reference, Policy(), TZ, payer_map=PAYERS)
    cms = run_audit(mar, claims, reference, Policy(), TZ)
    cpt = run_audit(mar, claims, reference, load_policy("commercial_cpt"), TZ)
    of = {"E1": cpt, "E2": cms, "E3": cpt, "E4": cms}   # E4 names no payer: the run's policy
    for name in ("expected_lines", "findings"):
        want = pd.concat([getattr(r, name).query("encounter_id == @e") for e, r in of.items()], ignore_index=True)
        pd.testing.assert_frame_equal(getattr(result, name), want, check_dtype=False)
    # The timeline does not depend on line dating: identical to the one-profile run, admin ids included.
    pd.testing.assert_frame_equal(result.administrations, cms.administrations)


def test_an_encounter_billed_to_two_payers_is_audited_by_its_first_claims_payer(reference):
    first = billed({"E1": "ACME01"})
    later = first.assign(claim_id="C-E1-b", payer_id="MEDICARE", service_date=NEXT_DAY, line_number=[3, 4],
                         hcpcs=["J3490", "J3490"])
    result = run_audit(mar_of("E1"), pd.concat([later, first], ignore_index=True), reference, Policy(), TZ,
                       payer_map=PAYERS)
    assert set(result.expected_lines["policy_profile"]) == {"commercial_cpt"}
    assert dates(result, "E1", "96366") == [START_DAY]


def test_without_a_map_or_with_one_profile_the_run_is_the_plain_run(reference):
    payers = {"E1": "MEDICARE", "E2": "ACME01"}
    plain = run_audit(mar_of(*payers), billed(payers), reference, Policy(), TZ)
    assert set(plain.expected_lines["policy_profile"]) == set(plain.findings["policy_profile"]) == {"cms_facility"}
    all_cms = PayerMap({"MEDICARE": "cms_facility"}, default="cms_facility")
    mapped = run_audit(mar_of(*payers), billed(payers), reference, Policy(), TZ, payer_map=all_cms)
    for name in ("administrations", "expected_lines", "findings"):
        pd.testing.assert_frame_equal(getattr(mapped, name), getattr(plain, name))
    # The map's `*` row sends unmapped payers (and encounters without one) to its profile.
    to_cpt = run_audit(mar_of(*payers), billed(payers), reference, Policy(), TZ,
                       payer_map=PayerMap({"MEDICARE": "cms_facility"}, default="commercial_cpt"))
    assert to_cpt.expected_lines.groupby("encounter_id")["policy_profile"].first().to_dict() == {
        "E1": "cms_facility", "E2": "commercial_cpt"}
