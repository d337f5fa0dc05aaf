"""An 835's paid amount replaces the fee schedule's estimate in the dollar
impact of an over-billed, paid line, and the finding says so."""

from __future__ import annotations

import pandas as pd

from expectations.runner import validate_extract
from tests.paths import REPO
from transforms.audit import run_audit
from transforms.findings.remits import REMIT_NOTE, apply_remits, paid_per_unit
from transforms.ingest.adapters import x12
from transforms.ingest.quarantine import split_quarantine
from transforms.ingest.readers import read_extract, stage_claims, stage_mar
from transforms.reference.drugs import load_drug_reference
from transforms.reference.fees import load_fee_schedule
from transforms.vocab.policy import Policy

FIX = REPO / "tests" / "fixtures"
TZ = "America/New_York"


def _kept(raw: pd.DataFrame, kind: str) -> pd.DataFrame:
    staged = stage_mar(raw, TZ) if kind == "mar" else stage_claims(raw)
    return split_quarantine(staged, raw, validate_extract(staged, kind).failures, kind)[0]


def _audit(claims: pd.DataFrame) -> pd.DataFrame:
    mar = _kept(read_extract(FIX / "question" / "mar_one_mixed_bag.csv", "mar"), "mar")
    return run_audit(mar, claims, load_drug_reference(), Policy(), TZ, fees=load_fee_schedule()).findings


def test_paid_amount_prices_the_over_billed_concurrent_line():
    claims = _kept(x12.read_837([FIX / "x12" / "question_837i.x12"], account_ref="REF[D9]").rows, "claims")
    remits = x12.read_835([FIX / "x12" / "question_835.x12"])
    paid = x12.match_remits(claims, remits)
    per_unit = paid_per_unit(paid).set_index("hcpcs")["paid_per_unit"]
    estimate = _audit(claims).set_index("hcpcs")
    priced = _audit(paid).set_index("hcpcs")
    assert list(priced["finding"]) == ["concurrent_mixed_bag"]
    assert priced.loc["96368", "dollar_impact"] == per_unit["96368"] * 1
    assert priced.loc["96368", "dollar_impact"] != estimate.loc["96368", "dollar_impact"]
    assert priced.loc["96368", "explanation"].endswith(REMIT_NOTE)
    assert priced.loc["96368", "price_basis"] == "remittance_835"
    assert estimate.loc["96368", "price_basis"] != "remittance_835"
    assert not estimate.loc["96368", "explanation"].endswith(REMIT_NOTE)


def test_unpaid_or_under_billed_rows_keep_the_fee_schedule_estimate():
    findings = pd.DataFrame({
        "claim_id": ["C1", "C1", "C2"], "hcpcs": ["96368", "96366", "96365"],
        "billed_units": [2, 0, 1], "expected_units": [1, 1, 0],
        "dollar_impact": [100.0, -45.0, 205.0], "explanation": ["a.", "b.", "c."],
        "price_basis": ["fee_schedule"] * 3,
    })
    claims = pd.DataFrame({"claim_id": ["C1", "C1"], "hcpcs": ["96368", "96368"], "units": [1, 1],
                           "paid_amount": [60.0, 60.0], "remit_matched": [True, True]})
    out = apply_remits(findings, claims)
    assert out["dollar_impact"].tolist() == [60.0, -45.0, 205.0]
    assert out["explanation"].tolist() == ["a." + REMIT_NOTE, "b.", "c."]
    assert out["price_basis"].tolist() == ["remittance_835", "fee_schedule", "fee_schedule"]
    assert apply_remits(findings, claims.drop(columns=["remit_matched"])).equals(findings)
