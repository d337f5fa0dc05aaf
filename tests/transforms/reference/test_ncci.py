"""NCCI MUE / PTP loaders (published layouts); the checks are tests/transforms/findings/test_claim_edits.py."""

import csv
import io

import numpy as np
import pandas as pd
import pytest

from transforms.reference.ncci import FIXTURE_DIR, load_mue, load_ptp

MUE_PRA = FIXTURE_DIR / "MCR_MUE_PractitionerServices_FIXTURE.csv"
MUE_OPH = FIXTURE_DIR / "MCR_MUE_OutpatientHospitalServices_FIXTURE.csv"
PTP_OPH = FIXTURE_DIR / "ccioph-fixture-f1.txt"
PTP_PRA = FIXTURE_DIR / "ccipra-fixture-f1.txt"


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
