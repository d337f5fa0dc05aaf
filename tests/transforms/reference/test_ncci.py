"""NCCI MUE / PTP loaders (published layouts) and the claim-edit checks."""

import csv
import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest

from tests.builders import claim_lines
from transforms.reference.ncci import (
    FIXTURE_DIR,
    EditTables,
    check_edits,
    load_edit_directory,
    load_mue,
    load_ptp,
    mue_findings,
    ptp_findings,
)

MUE_PRA = FIXTURE_DIR / "MCR_MUE_PractitionerServices_FIXTURE.csv"
MUE_OPH = FIXTURE_DIR / "MCR_MUE_OutpatientHospitalServices_FIXTURE.csv"
PTP_OPH = FIXTURE_DIR / "ccioph-fixture-f1.txt"
PTP_PRA = FIXTURE_DIR / "ccipra-fixture-f1.txt"


@pytest.fixture(scope="module")
def tables() -> EditTables:
    return load_edit_directory()


def lines(*rows, claim_type="institutional", day="2026-11-02", encounter="E1") -> pd.DataFrame:
    """Claim lines ``(hcpcs, units[, modifiers])``."""
    frame = claim_lines(encounter, *[(r[0], r[1]) for r in rows], claim_type=claim_type, day=day)
    frame["modifiers"] = [r[2] if len(r) > 2 else "" for r in rows]
    return frame


# --- loaders -------------------------------------------------------------------
def test_fixture_files_have_the_published_quirks():
    raw = MUE_PRA.read_bytes()
    rows = list(csv.reader(io.StringIO(raw.decode("latin-1"), newline="")))
    assert "\n" in rows[0][0] and "FIXTURE" in rows[0][0]       # preamble: one quoted cell with a line break
    assert rows[1][0] == "HCPCS/\r\nCPT Code"                   # header cells with embedded newlines
    assert rows[1][1] == "Practitioner\r\nServices MUE Values"
    assert "FIXTURE" in PTP_OPH.read_text(encoding="latin-1").splitlines()[0]


def test_mue_loader_reads_the_published_layout():
    mue = load_mue(MUE_PRA)
    assert (mue["setting"] == "professional").all()
    row = mue.set_index("hcpcs").loc["96372"]
    assert (row["mue"], row["mai"], row["mai_label"], row["rationale"]) == (
        2.0, 1, "1 Line Edit", "Nature of Service/Procedure")
    assert mue.set_index("hcpcs").loc["96368", "mai_label"] == "2 Date of Service Edit: Policy"
    assert mue.set_index("hcpcs").loc["96361", "mai"] == 3
    # An empty published value is "unknown", never "no edit": kept as NaN.
    assert np.isnan(mue.set_index("hcpcs").loc["96379", "mue"])
    assert "96360" in set(mue["hcpcs"]) and "FIXTURE" not in " ".join(mue["hcpcs"])
    assert (load_mue(MUE_OPH)["setting"] == "facility").all()


def test_mue_loader_handles_an_own_export_and_rejects_dme(tmp_path):
    path = tmp_path / "mue.csv"
    with path.open("w", newline="", encoding="latin-1") as fh:
        w = csv.writer(fh)
        w.writerow(["CPT codes and descriptions only are copyright AMA.\nAll rights reserved.", "", "", ""])
        w.writerow(["HCPCS/\nCPT Code", "Outpatient Hospital\nServices MUE Values", "MUE Adjudication Indicator",
                    "MUE Rationale"])
        w.writerow(["96374", "3", "3 Date of Service Edit: Clinical", "Clinical: Data"])
    assert load_mue(path)[["hcpcs", "setting", "mue", "mai"]].values.tolist() == [["96374", "facility", 3.0, 3]]
    dme = tmp_path / "dme.csv"
    dme.write_text('"preamble",,,\n"HCPCS/\nCPT Code","DME Supplier Services MUE Values",'
                   'MUE Adjudication Indicator,MUE Rationale\n')
    with pytest.raises(ValueError, match="setting"):
        load_mue(dme)
    bad = tmp_path / "bad_mai.csv"
    bad.write_text('"p",,,\nHCPCS/CPT Code,Practitioner Services MUE Values,MUE Adjudication Indicator,'
                   'MUE Rationale\n96374,1,Line,CMS Policy\n')
    with pytest.raises(ValueError, match="bad_mai.csv: data row 1"):
        load_mue(bad)


def test_ptp_loader_reads_the_published_layout():
    ptp = load_ptp(PTP_OPH)
    assert (ptp["setting"] == "facility").all()
    assert (load_ptp(PTP_PRA)["setting"] == "professional").all()
    assert not (ptp["column1"] == "").any()                      # legend rows dropped
    by = ptp.set_index(["column1", "column2"])
    first = by.loc[("96365", "96360")]
    assert (first["effective"], first["modifier_indicator"], first["prior_1996"]) == (
        pd.Timestamp("2009-01-01"), "1", False)
    assert pd.isna(first["deletion"])                           # '*' = not deleted
    assert by.loc[("96365", "96361"), "deletion"] == pd.Timestamp("2015-01-01")
    assert by.loc[("96366", "96361"), "modifier_indicator"] == "9"
    assert bool(by.loc[("96409", "36000"), "prior_1996"])
    assert by.loc[("96365", "96523"), "rationale"] == "Standards of medical / surgical practice"


def test_ptp_loader_needs_a_setting_and_valid_rows(tmp_path):
    path = tmp_path / "edits.txt"
    path.write_text(PTP_OPH.read_text(encoding="latin-1"), encoding="latin-1")
    with pytest.raises(ValueError, match="setting"):
        load_ptp(path)
    assert len(load_ptp(path, setting="facility")) == len(load_ptp(PTP_OPH))
    bad = tmp_path / "ccipra-bad.txt"
    bad.write_text("Column 1\tColumn 2\t*\tEffective Date\tDeletion Date\tModifier\tPTP Edit Rationale\n"
                   "96365\t96360\t\t2009-01-01\t*\t1\tx\n")
    with pytest.raises(ValueError, match="ccipra-bad.txt: row 1 after the header: effective date"):
        load_ptp(bad)


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
