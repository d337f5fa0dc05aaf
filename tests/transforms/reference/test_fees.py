"""Fee schedule loading and dollar impact of findings."""

import numpy as np
import pandas as pd
import pytest

from tests.builders import TZ, claim_lines, infusion
from tests.builders import mar_of
from transforms.audit import run_audit
from transforms.reference.drugs import load_drug_reference
from transforms.reference.fees import SAMPLE_PATH, dollar_impact, load_fee_schedule, price_basis
from transforms.vocab.policy import Policy

CODES = [str(c) for c in (*range(96360, 96362), *range(96365, 96378), 96379,
                          96401, 96402, 96405, 96406, 96409, 96411, 96413, 96415, 96416, 96417)]


def finding(hcpcs: str, billed: int, expected: int, setting: str = "facility", direction: str = "over_billed"):
    return pd.DataFrame({"hcpcs": [hcpcs], "setting": [setting], "billed_units": [billed],
                         "expected_units": [expected], "direction": [direction]})


def test_sample_covers_every_code_in_both_settings_and_says_it_is_illustrative():
    fees = load_fee_schedule()
    assert fees.illustrative and fees.source == SAMPLE_PATH
    for setting in ("facility", "professional"):
        assert set(CODES) <= set(fees.table.loc[fees.table["setting"] == setting, "hcpcs"])
    assert "NOT OFFICIAL CMS RATES" in SAMPLE_PATH.read_text()


def test_amounts_multiply_by_the_unit_difference():
    fees = load_fee_schedule()
    over = dollar_impact(finding("96366", 3, 1), fees)  # sample facility 96366 = 45.00
    under = dollar_impact(finding("96366", 0, 2, direction="under_billed"), fees)
    assert over.item() == pytest.approx(90.0) and under.item() == pytest.approx(-90.0)
    assert dollar_impact(finding("96365", 2, 1, setting="professional"), fees).item() == pytest.approx(70.0)


def test_status_n_packaged_add_on_is_zero_dollars(tmp_path):
    assert dollar_impact(finding("96368", 2, 1), load_fee_schedule()).item() == 0.0
    # Even when the user's file gives the packaged code an amount.
    own = tmp_path / "opps.csv"
    own.write_text("hcpcs,setting,amount,status_indicator\n96368,facility,55.10,N\n96368,professional,20,A\n")
    fees = load_fee_schedule(own)
    assert dollar_impact(finding("96368", 2, 1), fees).item() == 0.0
    assert dollar_impact(finding("96368", 2, 1, setting="professional"), fees).item() == pytest.approx(20.0)


def test_user_file_replaces_the_sample(tmp_path):
    own = tmp_path / "mine.csv"
    own.write_text("HCPCS,Setting,Amount,Status_Indicator\n96365,facility,$1,000.50,S\n".replace(
        "$1,000.50", '"$1,000.50"'))
    fees = load_fee_schedule(own)
    assert not fees.illustrative
    assert fees.table["hcpcs"].tolist() == ["96365"]
    assert dollar_impact(finding("96365", 1, 0), fees).item() == pytest.approx(1000.5)
    assert np.isnan(dollar_impact(finding("96366", 2, 1), fees).item())  # not in the user's file


def test_documentation_and_unpriced_findings_have_no_dollars():
    fees = load_fee_schedule()
    assert np.isnan(dollar_impact(finding("", 0, 0, direction="documentation"), fees).item())
    assert np.isnan(dollar_impact(finding("96379", 1, 0, setting="professional"), fees).item())  # carrier priced
    assert np.isnan(dollar_impact(finding("96365", 1, 0), None).item())


@pytest.mark.parametrize("body, message", [
    ("hcpcs,setting,amount\n96365,facility,1\n", "status_indicator"),
    ("hcpcs,setting,amount,status_indicator\n96365,facility,1,S\n96366,office,2,A\n", "data row 2"),
    ("hcpcs,setting,amount,status_indicator\n96365,facility,-1,S\n", "amount"),
    ("hcpcs,setting,amount,status_indicator\n96365,facility,1,S\n96365,facility,2,S\n", "duplicate"),
])
def test_bad_files_name_the_file_and_row(tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(ValueError, match=message) as err:
        load_fee_schedule(path)
    assert "bad.csv" in str(err.value)


def test_run_audit_prices_findings_only_with_a_schedule():
    mar = mar_of(infusion("09:00", "10:40", "iron sucrose"))
    billed = claim_lines("E1", ("96365", 1), ("96366", 2))
    ref = load_drug_reference()
    priced = run_audit(mar, billed, ref, Policy(), TZ, fees=load_fee_schedule()).findings
    assert priced["dollar_impact"].tolist() == [45.0]
    unpriced = run_audit(mar, billed, ref, Policy(), TZ).findings
    assert unpriced["dollar_impact"].isna().all()


def test_price_basis_says_why_each_amount_is_what_it_is(tmp_path):
    """Every empty or $0 dollar figure carries its reason (PRICE_BASES), read from the schedule."""
    own = tmp_path / "opps.csv"
    own.write_text("hcpcs,setting,amount,status_indicator\n96365,facility,200,S\n96368,facility,55.10,N\n"
                   "96366,facility,,S\n96365,professional,0,A\n")
    rows = pd.concat([finding("96365", 2, 1), finding("96368", 2, 1), finding("96366", 2, 1),
                      finding("96367", 1, 0), finding("96365", 2, 1, setting="professional"),
                      finding("", 0, 0, direction="documentation")], ignore_index=True)
    fees = load_fee_schedule(own)
    assert price_basis(rows, fees).tolist() == ["fee_schedule", "no_separate_payment", "not_in_fee_schedule",
                                                "not_in_fee_schedule", "fee_schedule", "not_priced"]
    assert dollar_impact(rows, fees).tolist()[:2] == [200.0, 0.0]  # the basis matches the figure
    assert dollar_impact(rows, fees).iloc[4] == 0.0  # $0 from the schedule's own amount: fee_schedule
    assert price_basis(rows, None).tolist() == ["no_fee_schedule"] * 5 + ["not_priced"]


def test_run_audit_writes_the_price_basis_of_every_finding():
    mar = mar_of(infusion("09:00", "10:40", "iron sucrose"))
    billed = claim_lines("E1", ("96365", 1), ("96366", 2), ("96368", 1))
    ref = load_drug_reference()
    priced = run_audit(mar, billed, ref, Policy(), TZ, fees=load_fee_schedule()).findings.set_index("hcpcs")
    assert priced["price_basis"].to_dict() == {"96366": "fee_schedule", "96368": "no_separate_payment"}
    assert priced.loc["96368", "dollar_impact"] == 0.0  # sample: 96368 facility is status N
    assert list(priced.columns[-2:]) == ["policy_profile", "price_basis"]
    unpriced = run_audit(mar, billed, ref, Policy(), TZ).findings
    assert set(unpriced["price_basis"]) == {"no_fee_schedule"}
