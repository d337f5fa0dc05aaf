"""NCCI claim-edit checks (MUE units, PTP pairs) against the shipped FIXTURE tables."""

import datetime as dt

import pandas as pd
import pytest

from tests.builders import claim_lines
from transforms.findings.claim_edits import check_edits, mue_findings, ptp_findings
from transforms.reference.ncci import EditTables, load_edit_directory


@pytest.fixture(scope="module")
def tables() -> EditTables:
    return load_edit_directory()


def lines(*rows, claim_type="institutional", day="2026-11-02", encounter="E1") -> pd.DataFrame:
    """Claim lines ``(hcpcs, units[, modifiers])``."""
    frame = claim_lines(encounter, *[(r[0], r[1]) for r in rows], claim_type=claim_type, day=day)
    frame["modifiers"] = [r[2] if len(r) > 2 else "" for r in rows]
    return frame


# --- MUE checks ------------------------------------------------------------------------
def test_mue_line_edit_is_checked_per_line(tables):
    # Facility 96372: MUE 3, MAI 1. Two lines of 2 units pass; one line of 4 fails.
    assert mue_findings(lines(("96372", 2), ("96372", 2)), tables.mue).empty
    f = mue_findings(lines(("96372", 4), ("96372", 1)), tables.mue)
    assert f[["hcpcs", "billed_units", "expected_units", "finding", "direction"]].values.tolist() == [
        ["96372", 4, 3, "mue_exceeded", "over_billed"]]
    assert "line 1 (4 units)" in f.iloc[0]["evidence"]


def test_mue_date_edit_adds_up_the_lines_of_the_date(tables):
    # Facility 96375: MUE 6, MAI 3. 4 + 3 on one date exceeds; on two dates it does not.
    f = mue_findings(lines(("96375", 4), ("96375", 3)), tables.mue)
    assert f[["hcpcs", "billed_units", "expected_units"]].values.tolist() == [["96375", 7, 6]]
    assert "appeal" in f.iloc[0]["explanation"]
    two_days = pd.concat([lines(("96375", 4)), lines(("96375", 3), day="2026-11-03")], ignore_index=True)
    assert mue_findings(two_days, tables.mue).empty


def test_mue_mai_2_cannot_be_appealed_and_settings_differ(tables):
    f = mue_findings(lines(("96368", 1), ("96368", 1)), tables.mue)
    assert f["billed_units"].tolist() == [2] and "cannot be appealed" in f.iloc[0]["explanation"]
    # 96365 x2: facility MUE 2 passes, practitioner MUE 1 fails.
    assert mue_findings(lines(("96365", 2)), tables.mue).empty
    prof = mue_findings(lines(("96365", 2), claim_type="professional"), tables.mue)
    assert prof[["setting", "expected_units"]].values.tolist() == [["professional", 1]]


def test_unpublished_mue_value_is_not_checked(tables):
    assert mue_findings(lines(("96379", 50)), tables.mue).empty


# --- PTP checks ----------------------------------------------------------------------
@pytest.mark.parametrize("mods, fires", [
    (("", ""), True), (("", "XU"), False), (("59", ""), False), (("", "XS,RT"), False),
    (("", "25"), True), (("", "X"), True),
])
def test_ptp_indicator_1_is_bypassed_by_59_or_x_modifiers(tables, mods, fires):
    claim = lines(("96365", 1, mods[0]), ("96360", 1, mods[1]))
    f = ptp_findings(claim, tables.ptp)
    assert (not f.empty) == fires
    if fires:
        assert f[["hcpcs", "billed_units", "expected_units", "finding"]].values.tolist() == [
            ["96360", 1, 0, "ptp_pair_without_modifier"]]
        assert "column 1 96365" in f.iloc[0]["explanation"]


def test_ptp_indicator_0_is_never_bypassed(tables):
    f = ptp_findings(lines(("96365", 1, "59"), ("96523", 1, "XU")), tables.ptp)
    assert f["hcpcs"].tolist() == ["96523"] and "no modifier can bypass" in f.iloc[0]["explanation"]


def test_ptp_indicator_9_and_deleted_edits_do_not_fire(tables):
    assert ptp_findings(lines(("96366", 1), ("96361", 1)), tables.ptp).empty          # indicator 9
    assert ptp_findings(lines(("96365", 1), ("96361", 1)), tables.ptp).empty          # deleted 2015-01-01
    before = ptp_findings(lines(("96365", 1), ("96361", 1), day="2014-12-31"), tables.ptp)
    assert before["hcpcs"].tolist() == ["96361"]                                      # still active then


def test_ptp_needs_one_claim_one_date_and_the_setting_table(tables):
    split = pd.concat([lines(("96365", 1)), lines(("96360", 1), day="2026-11-03")], ignore_index=True)
    assert ptp_findings(split, tables.ptp).empty
    other_claim = pd.concat([lines(("96365", 1)), lines(("96360", 1), encounter="E2")], ignore_index=True)
    assert ptp_findings(other_claim, tables.ptp).empty
    # 96374 / 96372 is only in the practitioner fixture.
    assert ptp_findings(lines(("96374", 1), ("96372", 1)), tables.ptp).empty
    prof = ptp_findings(lines(("96374", 1), ("96372", 1), claim_type="professional"), tables.ptp)
    assert prof[["hcpcs", "setting"]].values.tolist() == [["96372", "professional"]]


def test_check_edits_combines_both(tables):
    f = check_edits(lines(("96365", 1), ("96360", 1), ("96368", 2)), tables)
    assert sorted(zip(f["hcpcs"], f["finding"])) == [("96360", "ptp_pair_without_modifier"),
                                                     ("96368", "mue_exceeded")]
    assert (f["setting"] == "facility").all()
    assert check_edits(lines(("99284", 1)), tables).empty
    assert isinstance(f.iloc[0]["evidence"], str) and dt.date(2026, 11, 2).isoformat() in f.iloc[0]["evidence"]
