"""The X12 adapter (transforms/ingest/adapters/x12.py) and the 837 writer (transforms/synthetic/x12_export.py).

Fixtures: tests/fixtures/x12 (written by build_fixtures.py there; one
segment per line, so pyx12's ``Line:N`` is the editor line).
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone

import pandas as pd
import pytest

from expectations.runner import validate_extract
from tests.paths import REPO
from transforms.audit import run_audit
from transforms.ingest.adapters import PROVENANCE, x12
from transforms.ingest.quarantine import split_quarantine
from transforms.ingest.readers import ExtractError, read_extract, stage_claims, stage_mar
from transforms.reference.drugs import load_drug_reference
from transforms.synthetic.generator import generate
from transforms.synthetic.x12_export import claims_to_837
from transforms.vocab import schemas
from transforms.vocab.policy import Policy

X12 = REPO / "tests" / "fixtures" / "x12"
QUESTION = REPO / "tests" / "fixtures" / "question"
TZ = "America/New_York"
# payer_id: the 837 carries the payer (NM1*PR), a canonical CSV of these tests does not.
CANONICAL = [c for c in schemas.CLAIM_ARROW.names if c not in (schemas.SOURCE_ROW, "payer_id")]
# Identifiers that appear in the fixtures and must never reach an exception or a log line.
IDENTIFIERS = ("MEMBER0001", "MEMBER7731", "MRN7731", "DOE", "JANE", "19430501")


def read(name: str, account_ref: str = "CLM01") -> x12.MappedExtract:
    return x12.read_837([X12 / name], account_ref=account_ref)


def staged_canonical(raw: pd.DataFrame) -> pd.DataFrame:
    """The staged canonical columns (typed), for comparing two routes to the same lines."""
    return stage_claims(raw)[CANONICAL].reset_index(drop=True)


# --------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------
def test_looks_like_x12(tmp_path):
    assert x12.looks_like_x12(X12 / "question_837i.x12")
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf \r\n" + (X12 / "question_837i.x12").read_bytes())
    assert x12.looks_like_x12(bom)
    assert not x12.looks_like_x12(QUESTION / "claims_96365_96368.csv")
    assert not x12.looks_like_x12(tmp_path / "missing.x12")


def test_bom_and_leading_whitespace_are_read(tmp_path):
    bom = tmp_path / "bom.x12"
    bom.write_bytes(b"\xef\xbb\xbf\n  " + (X12 / "question_837i.x12").read_bytes())
    assert len(x12.read_837([bom]).rows) == 2


# --------------------------------------------------------------------------
# The question
# --------------------------------------------------------------------------
def test_question_837i_maps_to_the_canonical_claim_lines():
    mapped = read("question_837i.x12", account_ref="REF[D9]")
    assert mapped.kind == "claims" and mapped.format == "x12" and mapped.unmapped.empty
    canonical = read_extract(QUESTION / "claims_96365_96368.csv", "claims")
    pd.testing.assert_frame_equal(staged_canonical(mapped.rows), staged_canonical(canonical))
    assert list(mapped.rows.columns) == [*schemas.CLAIM_COLUMNS, "payer_id", *PROVENANCE, schemas.SOURCE_ROW]
    assert mapped.rows["payer_id"].tolist() == ["PAYER01", "PAYER01"]
    assert mapped.rows["source_file"].tolist() == ["question_837i.x12"] * 2
    assert mapped.rows["source_record"].tolist() == [1, 2]


@pytest.fixture(scope="module")
def reference():
    return load_drug_reference()


def kept_claims(raw: pd.DataFrame) -> pd.DataFrame:
    staged = stage_claims(raw)
    kept, quarantine = split_quarantine(staged, raw, validate_extract(staged, "claims").failures, "claims")
    assert quarantine.empty
    return kept


def audit(claims: pd.DataFrame, scenario: str, reference) -> tuple[dict, list]:
    """(expected units per code, findings) of a question MAR against kept claim lines."""
    raw = read_extract(QUESTION / f"mar_{scenario}.csv", "mar")
    staged = stage_mar(raw, TZ)
    kept, quarantine = split_quarantine(staged, raw, validate_extract(staged, "mar").failures, "mar")
    assert quarantine.empty
    result = run_audit(kept, claims, reference, Policy(), TZ)
    codes = result.expected_lines.groupby("hcpcs")["units"].sum().to_dict()
    findings = result.findings[["encounter_id", "claim_id", "hcpcs", "billed_units", "expected_units",
                                "finding"]].values.tolist()
    return codes, findings


@pytest.mark.parametrize(("scenario", "codes", "findings"), [
    ("three_piggybacks", {"96365": 1, "96368": 1}, []),
    ("one_mixed_bag", {"96365": 1}, [["E1", "C1", "96368", 1, 0, "concurrent_mixed_bag"]]),
])
def test_the_question_through_the_whole_chain(scenario, codes, findings, reference):
    from_x12 = kept_claims(read("question_837i.x12", account_ref="REF[D9]").rows)
    from_csv = kept_claims(read_extract(QUESTION / "claims_96365_96368.csv", "claims"))
    assert audit(from_x12, scenario, reference) == audit(from_csv, scenario, reference) == (codes, findings)


# --------------------------------------------------------------------------
# Mapping rules
# --------------------------------------------------------------------------
def test_837i_ed_claims_mapping_rules():
    rows = read("ed_837i.x12").rows
    first, second = rows[rows["claim_id"] == "756048Q"], rows[rows["claim_id"] == "756049R"]
    # encounter_id: CLM01 by default; patient_id: REF*EA, else the subscriber's member id.
    assert set(first["encounter_id"]) == {"756048Q"} and set(first["patient_id"]) == {"MRN7731"}
    assert set(second["patient_id"]) == {"MEMBER8842"}
    # payer per subscriber loop (2010BB); bill type 0 + CLM05-1 + CLM05-3.
    assert set(first["payer_id"]) == {"PAYER01"} and set(second["payer_id"]) == {"PAYER02"}
    assert set(rows["bill_type"]) == {"0131"} and set(rows["claim_frequency"]) == {"1"}
    assert set(rows["claim_type"]) == {"institutional"} and rows["place_of_service"].isna().all()
    assert first["line_number"].tolist() == ["1", "2", "3", "4"]
    assert first["revenue_code"].tolist() == ["0450", "0260", "0636", "0260"]
    assert first["hcpcs"].tolist() == ["99284", "96374", "J2405", "96375"]
    assert first["modifiers"].tolist() == ["25", None, "JZ,KX", None]
    assert first["charge"].tolist() == ["1200", "260", "40.5", "80"]
    assert first["units"].tolist() == ["1", "1", "4", "1"]
    # D8 as is; RD8 -> first date; no line date -> the statement period's first date (DTP*434).
    assert first["service_date"].tolist() == ["2026-11-01", "2026-11-01", "2026-11-02", "2026-11-01"]
    assert rows["source_record"].tolist() == [1, 2, 3, 4, 5]
    assert rows[schemas.SOURCE_ROW].tolist() == [1, 2, 3, 4, 5]


def test_837p_office_claim_mapping_rules():
    rows = read("office_837p.x12").rows
    assert set(rows["claim_type"]) == {"professional"}
    assert rows["bill_type"].isna().all() and rows["revenue_code"].isna().all()
    # CLM05-1 is the claim's place of service; SV105 overrides it on its line.
    assert rows["place_of_service"].tolist() == ["11", "22", "11"]
    assert rows["hcpcs"].tolist() == ["99213", "96365", "96366"]
    assert rows["modifiers"].tolist() == ["25", None, "59,XU"]
    assert rows["charge"].tolist() == ["100", "200", "140"]
    assert rows["units"].tolist() == ["1", "1", "1"]
    assert set(rows["service_date"]) == {"2026-11-02"}
    # Dependent patient (loop 2000C, no id in 5010): the subscriber's member id.
    assert set(rows["patient_id"]) == {"JS00111223333"}
    assert set(rows["payer_id"]) == {"999996666"}
    assert set(rows["encounter_id"]) == {"26463774"}


def test_account_ref_choices():
    assert set(read("question_837i.x12", "REF[EA]").rows["encounter_id"]) == {"P1"}
    assert set(read("question_837i.x12", "REF[D9]").rows["encounter_id"]) == {"E1"}
    assert set(read("question_837i.x12").rows["encounter_id"]) == {"C1"}
    with pytest.raises(ValueError, match="account_ref"):
        read("question_837i.x12", "REF[XX]")
    # A claim without the chosen REF: every line unmapped, with the reason.
    mapped = read("ed_837i.x12", "REF[D9]")
    assert mapped.rows.empty and len(mapped.unmapped) == 5
    assert set(mapped.unmapped["column"]) == {"encounter_id"}
    assert mapped.unmapped["reason"].str.contains("REF*D9", regex=False).all()


def test_replacement_and_void_frequencies_through_staging():
    replacement = read("question_837i_replacement.x12", "REF[D9]").rows
    void = read("question_837i_void.x12", "REF[D9]").rows
    assert set(replacement["claim_frequency"]) == {"7"} and set(replacement["bill_type"]) == {"0137"}
    assert set(void["claim_frequency"]) == {"8"} and set(void["bill_type"]) == {"0138"}
    both = x12.read_837([X12 / "question_837i.x12", X12 / "question_837i_replacement.x12"], "REF[D9]")
    staged = stage_claims(both.rows)
    assert staged["superseded_reason"].tolist() == [schemas.SUPERSEDED_BY_REPLACEMENT] * 2 + [None]
    voided = stage_claims(x12.read_837([X12 / "question_837i.x12", X12 / "question_837i_void.x12"],
                                       "REF[D9]").rows)
    assert voided["superseded_reason"].eq(schemas.VOIDED).all()


# --------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [
    ("bad_missing_cl1.x12", ['Line:22 SEG:3', 'Mandatory segment "Institutional Claim Code" (CL1) missing']),
    ("bad_repeated_dmg.x12", ["Line:19 SEG:5", "Segment DMG exceeded max count"]),
    ("bad_truncated.x12", ["Line:3 ST:2", 'Mandatory segment "Transaction Set Trailer" missing']),
])
def test_structurally_bad_files_are_refused_whole(name, expected):
    with pytest.raises(x12.X12Error) as info:
        x12.read_837([X12 / "question_837i.x12", X12 / name])
    message = str(info.value)
    assert isinstance(info.value, ExtractError) and info.value.path == X12 / name
    assert message.startswith(f"{X12 / name}: rejected by X12 validation: ")
    for text in expected:
        assert text in message
    assert "\n" not in message and not any(i in message for i in IDENTIFIERS)


def test_not_x12_and_wrong_transaction_are_refused(tmp_path):
    with pytest.raises(x12.X12Error, match="does not start with an ISA"):
        x12.read_837([QUESTION / "claims_96365_96368.csv"])
    with pytest.raises(x12.X12Error, match="file not found"):
        x12.read_837([tmp_path / "missing.x12"])
    with pytest.raises(x12.X12Error, match=r"not an 837I/837P claim file \(GS08 005010X221A1\)") as info:
        x12.read_837([X12 / "question_835.x12"])
    assert info.value.path == X12 / "question_835.x12"
    with pytest.raises(x12.X12Error, match="not an 835"):
        x12.read_835([X12 / "question_837i.x12"])


def test_line_with_missing_units_is_unmapped_with_position():
    mapped = read("bad_line_missing_units.x12")
    assert mapped.rows["hcpcs"].tolist() == ["96365"]
    bad = mapped.unmapped.iloc[0]
    assert bad["source"] == "claims" and bad["row"] == 2 and bad["column"] == "units"
    assert bad["source_record"] == 2 and bad["hcpcs"] == "96368" and bad["units"] is None
    assert "service line has no unit count (SV205)" in bad["reason"]
    assert 'Line:31 ELE:1 - Mandatory data element "Service Unit Count" (SV205) is missing' in bad["reason"]
    assert bad[x12.SEGMENTS_COLUMN].startswith("LX*2~SV2*0260*HC:96368*250*UN~")
    assert mapped.rows_in == 2


def test_line_with_non_numeric_units_is_unmapped_without_the_value():
    bad = read("bad_units_837i.x12").unmapped.iloc[0]
    assert bad["column"] == "units" and "unit count (SV205) is not a number" in bad["reason"]
    assert "Line:31 ELE:6" in bad["reason"] and "(X)" not in bad["reason"]


def test_line_without_procedure_is_unmapped():
    mapped = read("no_procedure_837i.x12")
    assert len(mapped.rows) == 1 and mapped.unmapped["column"].tolist() == ["hcpcs"]
    assert mapped.unmapped["reason"].tolist() == ["service line has no procedure code (SV202-2)"]


def test_element_error_on_a_claim_segment_unmaps_its_lines(tmp_path):
    text = (X12 / "question_837i.x12").read_text().replace("DTP*434*RD8*20261102-20261102", "DTP*434*RD8*2026")
    path = tmp_path / "bad_claim_date.x12"
    path.write_text(text)
    mapped = x12.read_837([path])
    assert mapped.rows.empty and len(mapped.unmapped) == 2
    assert mapped.unmapped["reason"].str.startswith("claim: Line:21 ELE:").all()
    assert not mapped.unmapped["reason"].str.contains("2026", regex=False).any()


def test_element_error_outside_claims_is_a_warning(tmp_path, caplog):
    text = (X12 / "question_837i.x12").read_text().replace("N4*CENTERVILLE*PA*171111234", "N4*CENTERVILLE*PA*17111")
    path = tmp_path / "bad_zip.x12"
    path.write_text(text)
    with caplog.at_level(logging.WARNING, logger=x12.__name__):
        mapped = x12.read_837([path])
    assert len(mapped.rows) == 2 and mapped.unmapped.empty
    warnings = [r.getMessage() for r in caplog.records if r.name == x12.__name__]
    assert len(warnings) == 1 and "Line:11 ELE:" in warnings[0] and "17111" not in warnings[0]
    assert not any("17111" in r.getMessage() for r in caplog.records)  # pyx12's raw text stays inside


def test_pyx12_logger_is_restored():
    logger = logging.getLogger("pyx12")
    before = (logger.level, logger.propagate, list(logger.handlers))
    read("bad_line_missing_units.x12")
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


def test_rows_reconcile_over_several_files():
    files = ["question_837i.x12", "bad_line_missing_units.x12", "no_procedure_837i.x12", "office_837p.x12"]
    mapped = x12.read_837([X12 / f for f in files])
    assert mapped.rows_in == 2 + 2 + 2 + 3
    assert mapped.rows[schemas.SOURCE_ROW].tolist() == list(range(1, len(mapped.rows) + 1))
    assert mapped.unmapped["row"].tolist() == list(range(len(mapped.rows) + 1, mapped.rows_in + 1))
    both = pd.concat([mapped.rows[list(PROVENANCE)], mapped.unmapped[list(PROVENANCE)]])
    assert not both.duplicated().any()
    assert both.groupby("source_file")["source_record"].max().to_dict() == {
        "question_837i.x12": 2, "bad_line_missing_units.x12": 2, "no_procedure_837i.x12": 2, "office_837p.x12": 3}


def test_scrub_removes_values():
    assert x12.scrub('Line:11 ELE:7 - Data element "Zip" with a value of (17111) failed to match '
                     'the regular expression "[0-9]{9}" (17111)') == (
        'Line:11 ELE:7 - Data element "Zip" with its value failed to match the regular expression "<value>"')
    assert x12.scrub('Line:5 ELE:3 - Data element "Date" (DMG02) contains an invalid date (19430599)') == (
        'Line:5 ELE:3 - Data element "Date" (DMG02) contains an invalid date')
    assert x12.scrub("Line:20 SEG:1 - Segment CLM*C77 not found. Started at /ISA_LOOP") == (
        "Line:20 SEG:1 - Segment CLM not found. Started at /ISA_LOOP")
    assert x12.scrub('Segment "NM1*IL*1*DOE" is empty') == 'Segment "<value>" is empty'


# --------------------------------------------------------------------------
# 835 remittances and matching
# --------------------------------------------------------------------------
def test_read_835_paid_lines():
    remits = x12.read_835([X12 / "question_835.x12"])
    assert list(remits.columns) == list(x12.REMIT_COLUMNS)
    assert remits["claim_id"].tolist() == ["C1", "C1"] and set(remits["claim_status"]) == {"1"}
    assert remits["hcpcs"].tolist() == ["96365", "96368"] and remits["modifiers"].isna().all()
    assert remits["charge"].tolist() == [250.0, 250.0]
    assert remits["paid_amount"].tolist() == [250.0, 150.0]
    assert remits["units_paid"].tolist() == [1, 1]
    assert remits["service_date"].tolist() == ["2026-11-02", "2026-11-02"]
    assert remits["adjustment_amount"].tolist() == [0.0, 100.0]
    assert remits["adjustments"].tolist() == [None, "CO-45:90;PR-2:10"]
    assert remits["line_order"].tolist() == [1, 2] and remits["source_record"].tolist() == [1, 2]
    assert remits["payer_claim_id"].tolist() == ["PAYERICN0001"] * 2 and remits["problem"].isna().all()


def test_835_element_error_marks_the_line_and_matching_skips_it(tmp_path):
    path = tmp_path / "bad_svc.x12"
    text = (X12 / "question_835.x12").read_text()
    path.write_text(text.replace("SVC*HC:96368*250*150**1", "SVC*HC:96368*250*1X0**1"))
    remits = x12.read_835([path])
    assert remits["problem"].isna().tolist() == [True, False]
    assert remits["problem"].iloc[1].startswith("Line:18 ELE:6") and "1X0" not in remits["problem"].iloc[1]
    claims = read("question_837i.x12").rows
    assert x12.match_remits(claims, remits)["remit_matched"].tolist() == [True, False]


def test_match_remits_attaches_paid_amounts():
    claims = kept_claims(read("question_837i.x12", "REF[D9]").rows)
    matched = x12.match_remits(claims, x12.read_835([X12 / "question_835.x12"]))
    assert len(matched) == len(claims) and matched.index.equals(claims.index)
    assert matched["remit_matched"].tolist() == [True, True]
    assert matched["paid_amount"].tolist() == [250.0, 150.0]
    assert matched["remit_adjustment_amount"].tolist() == [0.0, 100.0]
    assert matched["remit_adjustments"].tolist() == [None, "CO-45:90;PR-2:10"]
    assert matched["remit_status"].tolist() == ["1", "1"]


def remit(**values) -> dict:
    base = {c: None for c in x12.REMIT_COLUMNS}
    base.update(claim_id="C1", claim_status="1", hcpcs="96368", service_date="2026-11-02", paid_amount=10.0,
                units_paid=1, adjustment_amount=0.0)
    base.update(values)
    return base


def test_match_remits_by_key_and_order():
    claims = pd.DataFrame({
        "claim_id": ["C1"] * 4, "line_number": [4, 2, 3, 1], "hcpcs": ["96368", "96368", "96365", "96367"],
        "modifiers": ["", None, "59", None], "service_date": ["2026-11-02"] * 4,
    }, index=[10, 11, 12, 13])
    remits = pd.DataFrame([
        remit(paid_amount=1.0), remit(paid_amount=2.0),          # two 96368: line 2 then line 4
        remit(hcpcs="96365", modifiers="59", paid_amount=3.0),
        remit(hcpcs="96367", claim_status="22", paid_amount=-9.0),  # a reversal is not a payment
    ], columns=list(x12.REMIT_COLUMNS))
    matched = x12.match_remits(claims, remits)
    assert matched.index.tolist() == [10, 11, 12, 13]
    assert matched["paid_amount"].tolist()[:3] == [2.0, 1.0, 3.0] and pd.isna(matched["paid_amount"].iloc[3])
    assert matched["remit_matched"].tolist() == [True, True, True, False]
    other_date = x12.match_remits(claims.assign(service_date="2026-11-03"), remits)
    assert not other_date["remit_matched"].any()


def test_match_remits_with_no_remittance():
    claims = read("question_837i.x12").rows
    matched = x12.match_remits(claims, x12.read_835([]))
    assert not matched["remit_matched"].any() and matched["paid_amount"].isna().all()


# --------------------------------------------------------------------------
# Writing 837s from canonical lines
# --------------------------------------------------------------------------
def test_generated_claims_round_trip_through_837(tmp_path):
    extracts = generate(seed=3, days=1, encounters_per_day=60)
    # The generator's deliberately malformed rows (bad_rows: hcpcs "9636", units 0) exist to
    # exercise validation, not the writer; none are requested here, and any would be dropped.
    claims = extracts.claims.drop(index=extracts.bad_rows["row"].astype(int).tolist())
    professional = claims.assign(claim_type="professional", bill_type=None, revenue_code=None,
                                 place_of_service="11")
    professional.loc[professional.index[1], "place_of_service"] = "22"
    created = datetime(2026, 11, 3, 6, 0, tzinfo=timezone.utc)
    for frame, kind in ((claims, "institutional"), (professional, "professional")):
        path = claims_to_837(frame, tmp_path / f"{kind}.x12", kind, created=created)
        assert x12.validate_x12(path, path.read_text()) == []  # pyx12 accepts it
        mapped = x12.read_837([path], account_ref="REF[D9]")
        assert mapped.unmapped.empty and len(mapped.rows) == len(frame)
        expected = staged_canonical(frame.assign(source_row=range(1, len(frame) + 1)))
        pd.testing.assert_frame_equal(staged_canonical(mapped.rows), expected)


def test_claims_to_837_arguments(tmp_path):
    claims = read_extract(QUESTION / "claims_96365_96368.csv", "claims")
    with pytest.raises(ValueError, match="kind"):
        claims_to_837(claims, tmp_path / "x.x12", "dental")
    with pytest.raises(ValueError, match="no professional"):
        claims_to_837(claims, tmp_path / "x.x12", "professional")
    same = claims.assign(encounter_id="C1")
    path = claims_to_837(same, tmp_path / "clm01.x12", "institutional", account_ref="CLM01")
    assert "REF*D9" not in path.read_text()
    assert set(x12.read_837([path]).rows["encounter_id"]) == {"C1"}


def test_fixtures_are_reproducible(tmp_path):
    """build_fixtures.py writes exactly the committed fixtures."""
    copy = tmp_path / "x12"
    shutil.copytree(X12, copy)
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_fixtures", copy / "build_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    for path in X12.glob("*.x12"):
        assert (copy / path.name).read_text() == path.read_text(), path.name
