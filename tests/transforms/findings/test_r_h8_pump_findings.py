"""R-H8 findings: a pump start billed as a push or infusion hours, and a
prolonged-infusion code with no pump start charted, through the whole pure
audit (``run_audit``) with drug names the reference classifies."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.builders import TZ, claim_lines, ev, infusion, mar_of
from transforms.audit import run_audit
from transforms.reference.drugs import load_drug_reference
from transforms.reference.fees import load_fee_schedule
from transforms.vocab.policy import Policy

MISBILLED = "pump_start_billed_as_push_or_hours"
NO_PUMP = "pump_code_without_pump_start"


@pytest.fixture(scope="module")
def reference():
    return load_drug_reference()


def keyed(rows, billed, reference, policy: Policy = Policy()) -> dict[str, tuple[int, int, str]]:
    f = run_audit(mar_of(*rows), billed, reference, policy, TZ, fees=load_fee_schedule()).findings
    return {r.hcpcs: (int(r.billed_units), int(r.expected_units), r.finding) for r in f.itertuples()}


def fu_pump(start: str = "14:37") -> dict:
    """A 5-FU pump left running: the disconnect is not in this encounter."""
    return ev(start, "start", "fluorouracil", infusate="PUMP", route="pump", site="port", rate=2.0, volume=96.0)


def abx_pump() -> dict:
    return ev("10:00", "start", "ceftriaxone", infusate="PUMP", route="pump", site="PICC")


def test_r_h8_chemo_pump_start_billed_96416_has_no_finding(reference):
    rows = [ev("14:15", "given", "fluorouracil", infusate="BOLUS"), fu_pump()]
    assert keyed(rows, claim_lines("E1", ("96409", 1), ("96416", 1)), reference) == {}


def test_r_h8_chemo_pump_start_billed_as_a_push(reference):
    rows = [ev("14:15", "given", "fluorouracil", infusate="BOLUS"), fu_pump()]
    got = keyed(rows, claim_lines("E1", ("96409", 1), ("96411", 1)), reference)
    assert got == {"96411": (1, 0, MISBILLED), "96416": (0, 1, MISBILLED)}


def test_r_h8_chemo_pump_start_billed_as_hours_of_infusion(reference):
    # Oxaliplatin 120 min (96413 + 96415 x1); the pump's 46 h billed as 96415 hours.
    rows = [infusion("09:00", "11:00", "oxaliplatin", infusate="OX"), fu_pump("11:10")]
    got = keyed(rows, claim_lines("E1", ("96413", 1), ("96415", 46)), reference)
    assert got == {"96415": (46, 1, MISBILLED), "96416": (0, 1, MISBILLED)}


def test_r_h8_non_chemo_pump_start_billed_c8957_has_no_finding(reference):
    assert keyed([abx_pump()], claim_lines("E1", ("C8957", 1)), reference) == {}


def test_r_h8_non_chemo_pump_start_billed_as_a_push_or_an_infusion_hour(reference):
    got = keyed([abx_pump()], claim_lines("E1", ("96374", 1)), reference)
    assert got == {"96374": (1, 0, MISBILLED), "C8957": (0, 1, MISBILLED)}
    got = keyed([abx_pump()], claim_lines("E1", ("96365", 1), ("96366", 20)), reference)
    assert got == {"96365": (1, 0, MISBILLED), "96366": (20, 0, MISBILLED), "C8957": (0, 1, MISBILLED)}


def test_r_h8_c8957_on_the_physician_claim_is_not_supported(reference):
    billed = claim_lines("E1", ("C8957", 1), claim_type="professional", place_of_service="11")
    assert keyed([abx_pump()], billed, reference) == {"C8957": (1, 0, "code_not_supported")}


@pytest.mark.parametrize("code", ["96416", "C8957"])
def test_r_h8_prolonged_infusion_code_with_no_pump_start(reference, code):
    rows = [infusion("09:00", "09:40", "ceftriaxone")]
    got = keyed(rows, claim_lines("E1", ("96365", 1), (code, 1)), reference)
    assert got == {code: (1, 0, NO_PUMP)}


def test_r_h8_96416_for_a_pump_disconnected_within_8_hours_has_no_pump_start(reference):
    rows = [infusion("09:00", "12:00", "fluorouracil", infusate="PUMP", route="pump")]
    got = keyed(rows, claim_lines("E1", ("96416", 1)), reference)
    assert got["96416"] == (1, 0, NO_PUMP)


def test_r_h8_disconnect_in_the_next_encounter_is_no_finding(reference):
    rows = [fu_pump(), ev("+2 12:37", "stop", "fluorouracil", infusate="PUMP", route="pump", site="port",
                          encounter="E2")]
    billed = pd.concat([claim_lines("E1", ("96416", 1)), claim_lines("E2", ("99211", 1))], ignore_index=True)
    assert keyed(rows, billed, reference) == {}


def test_r_h8_refill_billed_96521(reference):
    rows = [fu_pump(), {**fu_pump("+1 14:00"), "infusate_id": "PUMP2"}]
    assert keyed(rows, claim_lines("E1", ("96416", 1), ("96521", 1)), reference) == {}
    assert keyed(rows, claim_lines("E1", ("96416", 2)), reference) == {
        "96416": (2, 1, "code_not_supported"), "96521": (0, 1, "code_missed")}
