"""The FHIR MedicationAdministration adapter (transforms/ingest/adapters/fhir.py)
and the synthetic FHIR writer (transforms/synthetic/fhir_export.py).

Fixtures in tests/fixtures/fhir: HL7-example-like resources (a KCl-in-saline
bag), a hospital-style $export, one resource per mapping rule, bad inputs, a
truncated export, and THE QUESTION (tests/fixtures/question) as R4 NDJSON,
R5 NDJSON and a Bundle mixing R4 and R5 resources.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from expectations.runner import validate_extract
from tests.paths import REPO
from transforms.audit import AuditResult, run_audit
from transforms.ingest.adapters import PROVENANCE, MappedExtract
from transforms.ingest.adapters.fhir import ORIGINAL_COLUMN, RXNORM_COLUMN, RXNORM_SYSTEM, looks_like_fhir, read_fhir
from transforms.ingest.quarantine import split_quarantine
from transforms.ingest.readers import read_extract, stage_claims, stage_mar
from transforms.reference.drugs import load_drug_reference
from transforms.synthetic.fhir_export import mar_to_fhir_ndjson
from transforms.synthetic.generator import generate, write_extracts
from transforms.vocab import schemas
from transforms.vocab.policy import Policy

FIXTURES = REPO / "tests" / "fixtures" / "fhir"
QUESTION = REPO / "tests" / "fixtures" / "question"
TZ = "America/New_York"
EXPECTED_KEY = ["encounter_id", "service_date", "setting", "hcpcs", "units", "modifiers"]
FINDING_KEY = ["encounter_id", "claim_id", "hcpcs", "billed_units", "expected_units", "finding"]


@pytest.fixture(scope="module")
def reference():
    return load_drug_reference()


def fixture(name: str) -> Path:
    return FIXTURES / name


def by_infusate(m: MappedExtract, infusate: str) -> pd.DataFrame:
    return m.rows[m.rows["infusate_id"] == infusate].reset_index(drop=True)


def unmapped_reason(m: MappedExtract, record: int) -> str:
    rows = m.unmapped[m.unmapped["source_record"] == record]
    assert len(rows) == 1, f"record {record}: {len(rows)} unmapped rows"
    return str(rows["reason"].iloc[0])


def kept_rows(raw: pd.DataFrame, kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stage, validate and split one raw frame, as the composition root does."""
    staged = stage_mar(raw, TZ) if kind == "mar" else stage_claims(raw)
    outcome = validate_extract(staged, kind)
    return split_quarantine(staged, raw, outcome.failures, kind)


def audit(raw_mar: pd.DataFrame, claims_csv: Path, reference) -> AuditResult:
    kept, _ = kept_rows(raw_mar, "mar")
    claims, _ = kept_rows(read_extract(claims_csv, "claims"), "claims")
    return run_audit(kept, claims, reference, Policy(), TZ)


def comparable(result: AuditResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Expected lines and findings without evidence (infusate ids and rows differ by design)."""
    exp = result.expected_lines[EXPECTED_KEY].astype(str).sort_values(EXPECTED_KEY).reset_index(drop=True)
    fnd = result.findings[FINDING_KEY].astype(str).sort_values(FINDING_KEY).reset_index(drop=True)
    return exp, fnd


# --------------------------------------------------------------------------
# THE QUESTION: FHIR gives the same codes and findings as the canonical CSV
# --------------------------------------------------------------------------
QUESTION_CASES = [
    ("mar_three_piggybacks.csv", "question_three_piggybacks_r4.ndjson", {"96365": 1, "96368": 1}, set()),
    ("mar_three_piggybacks.csv", "question_three_piggybacks_bundle.json", {"96365": 1, "96368": 1}, set()),
    ("mar_one_mixed_bag.csv", "question_one_mixed_bag_r4.ndjson", {"96365": 1}, {"concurrent_mixed_bag"}),
    ("mar_one_mixed_bag.csv", "question_one_mixed_bag_r5.ndjson", {"96365": 1}, {"concurrent_mixed_bag"}),
]


@pytest.mark.parametrize(("csv_name", "fhir_name", "codes", "findings"), QUESTION_CASES)
def test_question_fhir_audits_like_canonical_csv(reference, csv_name, fhir_name, codes, findings):
    claims = QUESTION / "claims_96365_96368.csv"
    canonical = audit(read_extract(QUESTION / csv_name, "mar"), claims, reference)
    mapped = read_fhir([fixture(fhir_name)])
    assert mapped.unmapped.empty
    from_fhir = audit(mapped.rows, claims, reference)

    assert from_fhir.expected_lines.groupby("hcpcs")["units"].sum().to_dict() == codes
    assert set(from_fhir.findings["finding"]) == findings
    exp_csv, fnd_csv = comparable(canonical)
    exp_fhir, fnd_fhir = comparable(from_fhir)
    pd.testing.assert_frame_equal(exp_fhir, exp_csv)
    pd.testing.assert_frame_equal(fnd_fhir, fnd_csv)


# The RxCUIs below are made up (the shipped reference has none): a user's list
# maps them, as it would map the codes of its own formulary.
RXNORM_CASES = {"MA-PB-1": ("9900001", "ceftriaxone"), "MA-PB-2": ("9900002", "vancomycin"),
                "MA-PB-3": ("9900003", "azithromycin")}  # fmt: skip


def test_rxnorm_code_in_a_user_list_codes_unknown_text(tmp_path, reference):
    """THE QUESTION's piggy-backs charted as "Med 1234x" with an RxNorm coding:
    the text is unknown to the reference, the user's list knows the codes."""
    lines = fixture("question_three_piggybacks_r4.ndjson").read_text(encoding="utf-8").splitlines()
    resources = [json.loads(line) for line in lines]
    for r in resources:
        code = RXNORM_CASES[r["id"]][0]
        r["medicationCodeableConcept"] = {"coding": [{"system": RXNORM_SYSTEM, "code": code, "display": f"Med {code}"}],
                                          "text": f"Med {code[-5:]} 1 g IVPB"}  # fmt: skip
    path = tmp_path / "coded.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in resources) + "\n", encoding="utf-8")
    shipped = reference.drugs.set_index("drug_key")
    user_rows = pd.DataFrame([{**shipped.loc[key].to_dict(), "drug_key": key, "rxnorm": code}
                              for code, key in RXNORM_CASES.values()])  # fmt: skip
    user_list = tmp_path / "my_drugs.csv"
    user_rows.assign(hormonal=user_rows["hormonal"].map(str).str.lower()).to_csv(user_list, index=False)

    mapped = read_fhir([path])
    assert mapped.unmapped.empty and set(mapped.rows[RXNORM_COLUMN]) == {"9900001", "9900002", "9900003"}
    claims = QUESTION / "claims_96365_96368.csv"
    with_list = audit(mapped.rows, claims, load_drug_reference(extra=user_list))
    assert with_list.expected_lines.groupby("hcpcs")["units"].sum().to_dict() == {"96365": 1, "96368": 1}
    canonical = audit(read_extract(QUESTION / "mar_three_piggybacks.csv", "mar"), claims, reference)
    for got, want in zip(comparable(with_list), comparable(canonical), strict=True):
        pd.testing.assert_frame_equal(got, want)
    without = audit(mapped.rows, claims, reference)  # same resources, shipped reference: not coded
    assert not without.expected_lines["hcpcs"].isin(["96365", "96368"]).any()


def test_mixed_bag_is_one_infusate_with_three_components():
    for name in ("question_one_mixed_bag_r4.ndjson", "question_one_mixed_bag_r5.ndjson"):
        rows = read_fhir([fixture(name)]).rows
        assert rows["infusate_id"].nunique() == 1
        assert rows.groupby("action")["drug"].nunique().to_dict() == {"start": 3, "stop": 3}
        assert set(rows["source_record"]) == {1}


def test_bundle_picks_the_model_per_resource():
    """One Bundle, entry 1 in R4 (context, effectivePeriod), entries 2-3 in R5."""
    m = read_fhir([fixture("question_three_piggybacks_bundle.json")])
    assert m.unmapped.empty
    assert list(m.rows["source_record"]) == [1, 1, 2, 2, 3, 3]
    assert set(m.rows["encounter_id"]) == {"E1"}
    assert list(m.rows["access_site"].unique()) == [f"R IJ triple-lumen CVC lumen {i}" for i in (1, 2, 3)]


# --------------------------------------------------------------------------
# Mapping rules
# --------------------------------------------------------------------------
def test_period_gives_start_and_stop_with_rate_on_start_and_offset_kept():
    rows = read_fhir([fixture("question_three_piggybacks_r4.ndjson")]).rows
    first = rows[rows["infusate_id"] == "MA-PB-1"]
    assert list(first["action"]) == ["start", "stop"]
    assert list(first["event_time"]) == ["2026-11-02T10:02:00-05:00", "2026-11-02T10:55:00-05:00"]
    assert list(first["rate"]) == ["100", None] and list(first["rate_unit"]) == ["mL/h", None]
    assert set(first["route"]) == {"iv_infusion"}
    assert set(first["order_id"]) == {"O0"} and set(first["patient_id"]) == {"P1"}


def test_kcl_in_saline_bag_from_hl7_example():
    m = read_fhir([fixture("hl7_kcl_in_saline_r4.json")])
    rows = m.rows
    assert m.unmapped.empty and set(rows["infusate_id"]) == {"medadmin0304"}
    start = rows[rows["action"] == "start"]
    assert list(start["drug"]) == ["Potassium Chloride", "Sodium Chloride 0.9% injectable solution"]
    assert list(start[RXNORM_COLUMN]) == ["204520", "313002"]
    assert list(start["dose"]) == ["20", "1000"] and list(start["dose_unit"]) == ["mEq", "mL"]
    assert set(start["volume_ml"]) == {"1000"}
    assert set(start["rate"]) == {"250"} and set(start["rate_unit"]) == {"mL/h"}
    assert set(rows["access_site"]) == {"Left upper arm structure"}
    assert set(rows["encounter_id"]) == {"f001"} and set(rows["order_id"]) == {"medrx0317"}
    stop = rows[rows["action"] == "stop"]
    assert set(stop["event_time"]) == {"2015-01-16T02:03:00+01:00"}
    assert stop[["rate", "dose", "volume_ml"]].isna().all().all()


def test_hl7_examples_in_progress_im_sc():
    m = read_fhir([fixture("hl7_examples_r4.ndjson")])
    vanco = by_infusate(m, "medadmin0301")
    assert list(vanco["action"]) == ["start"]  # in-progress: no stop, missing-stop policy applies
    assert vanco.loc[0, "route"] == "iv_infusion"
    assert (vanco.loc[0, "rate"], vanco.loc[0, "rate_unit"]) == ("1000", "mg/h")  # 500 mg / 30 min
    assert vanco.loc[0, "ndc"] == "0409-6531-02"
    assert vanco.loc[0, "drug"] == "Vancomycin Hydrochloride (VANCOMYCIN HYDROCHLORIDE)"
    im = by_infusate(m, "medadmin0305")
    assert (im.loc[0, "route"], im.loc[0, "action"]) == ("im_injection", "given")
    assert im.loc[0, "event_time"] == "2015-01-15T10:05:00+00:00"
    assert im.loc[0, "drug"] == "cefTRIAXone (ROCEPHIN) injection 1 g" and im.loc[0, RXNORM_COLUMN] == "1665005"
    assert (im.loc[0, "dose"], im.loc[0, "dose_unit"]) == ("1", "g")
    sc = by_infusate(m, "medadmin0306")
    assert (sc.loc[0, "route"], sc.loc[0, "action"]) == ("sc_injection", "given")


@pytest.mark.parametrize(("infusate", "route", "actions"), [
    ("push-by-datetime", "iv_push", ["given"]),
    ("push-by-method", "iv_push", ["given"]),
    ("piggyback-given", "iv_infusion", ["given"]),
    ("route-by-text", "iv_infusion", ["start", "stop"]),
    ("sc-infusion", "sc_infusion", ["start", "stop"]),
    ("pump-in-progress", "pump", ["start"]),
    ("bedside-pump-not-pump-route", "iv_infusion", ["start", "stop"]),
    ("stopped", "iv_infusion", ["start", "stop"]),
    ("im-with-period", "im_injection", ["given"]),
    ("rate-ratio-per-minute", "iv_infusion", ["start", "stop"]),
    ("medication-reference-display", "iv_push", ["given"]),
])
def test_route_and_action_rules(infusate, route, actions):
    rows = by_infusate(read_fhir([fixture("mapping_rules_r4.ndjson")]), infusate)
    assert set(rows["route"]) == {route}
    assert list(rows["action"]) == actions


def test_rule_details():
    m = read_fhir([fixture("mapping_rules_r4.ndjson")])
    assert m.unmapped.empty
    assert by_infusate(m, "piggyback-given").loc[0, "volume_ml"] == "50"  # dose in mL -> volume
    assert by_infusate(m, "push-by-datetime").loc[0, "dose"] == "4"
    ratio = by_infusate(m, "rate-ratio-per-minute").loc[0]
    assert (ratio["rate"], ratio["rate_unit"]) == ("166.6667", "mL/h")  # 250 mL / 90 min
    pump = by_infusate(m, "pump-in-progress").loc[0]
    assert (pump["order_id"], pump["access_site"], pump["rate"]) == ("ORD-PUMP", "port", "2")
    assert by_infusate(m, "medication-reference-display").loc[0, "drug"] == "pantoprazole (PROTONIX) injection 40 mg"
    # on-hold piece and its resumed piece (partOf): one infusate, one order, a gap between
    held = by_infusate(m, "on-hold")
    assert list(held["action"]) == ["start", "stop", "start", "stop"]
    assert list(held["source_record"]) == [9, 9, 10, 10] and set(held["order_id"]) == {"R1"}
    assert list(held["rate"]) == ["50", None, "100", None]


def test_hospital_export_absolute_references_and_local_route_codes():
    m = read_fhir([fixture("hospital_export_r4.ndjson")])
    assert m.unmapped.empty
    assert set(m.rows["encounter_id"]) == {"eEnc.7791", "eEnc.8802"}
    assert set(m.rows["patient_id"]) == {"eP.30211", "eP.40877"}
    assert m.rows.groupby("route")["source_record"].nunique().to_dict() == {
        "iv_push": 1, "iv_infusion": 2, "im_injection": 1, "sc_injection": 1}
    bolus = m.rows[m.rows["source_record"] == 2]
    assert list(bolus["rate_unit"]) == ["mL/hr", None]
    assert bolus["event_time"].iloc[0] == "2026-11-03T13:10:00+00:00"


# --------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------
BAD_REASONS = {
    2: "not a valid FHIR R4B MedicationAdministration: effectivePeriod.start (value_error)",
    3: "route code 26643006 (http://snomed.info/sct) is not a drug-administration route",
    4: "status not-done: not administered",
    5: "status entered-in-error: charted in error",
    6: "status unknown: not known to have been administered",
    7: "status 'finished' is not a MedicationAdministration status",
    8: "dosage.route missing",
    9: "medication reference to a Medication that is not contained in the resource",
    10: "resourceType Patient is not MedicationAdministration",
    11: "record is not a FHIR resource (no resourceType)",
}


def test_bad_inputs_are_unmapped_with_reasons():
    m = read_fhir([fixture("bad_inputs_r4.ndjson")])
    assert list(m.rows["source_record"]) == [1]
    for record, reason in BAD_REASONS.items():
        assert unmapped_reason(m, record) == reason
    lines = fixture("bad_inputs_r4.ndjson").read_text().splitlines()
    assert list(m.unmapped[ORIGINAL_COLUMN]) == lines[1:]
    # No patient value leaks into a reason: ids, names, the refusal text.
    reasons = " ".join(m.unmapped["reason"])
    for value in ("P9", "E9", "Doe", "Jane", "refused", "yesterday"):
        assert value not in reasons
    assert set(m.unmapped["source"]) == {"mar"}
    assert list(m.unmapped["row"]) == list(range(2, 12))  # after the last source_row (1)


def test_truncated_export_keeps_the_whole_lines():
    m = read_fhir([fixture("truncated_export_r4.ndjson")])
    assert list(m.rows["infusate_id"]) == ["whole-1", "whole-2"]
    assert unmapped_reason(m, 3) == "line is not valid JSON (truncated or corrupt record)"
    assert m.unmapped[ORIGINAL_COLUMN].iloc[0].startswith('{"resourceType":"MedicationAdministration"')


def test_unreadable_file_raises_extract_error(tmp_path):
    from transforms.ingest.readers import ExtractError
    bad = tmp_path / "latin1.ndjson"
    bad.write_bytes(b'{"resourceType":"MedicationAdministration","note":"\xe9"}\n')
    with pytest.raises(ExtractError, match="latin1.ndjson"):
        read_fhir([bad])


# --------------------------------------------------------------------------
# Reconciliation, provenance, sniffing
# --------------------------------------------------------------------------
def record_count(path: Path) -> int:
    text = path.read_text()
    if path.suffix == ".json":
        doc = json.loads(text)
        return len(doc["entry"]) if doc.get("resourceType") == "Bundle" else 1
    return sum(1 for line in text.splitlines() if line.strip())


def test_every_record_is_mapped_or_unmapped_once():
    paths = sorted(FIXTURES.iterdir())
    m = read_fhir(paths)
    mapped = set(map(tuple, m.rows[list(PROVENANCE)].drop_duplicates().to_numpy()))
    unmapped = list(map(tuple, m.unmapped[list(PROVENANCE)].to_numpy()))
    assert len(unmapped) == len(set(unmapped)) and not mapped & set(unmapped)
    assert len(mapped) + len(unmapped) == sum(record_count(p) for p in paths)
    assert m.rows_in == len(m.rows) + len(m.unmapped)
    assert (m.kind, m.format) == ("mar", "fhir")
    assert list(m.rows[schemas.SOURCE_ROW]) == list(range(1, len(m.rows) + 1))
    assert list(m.unmapped["row"]) == list(range(len(m.rows) + 1, m.rows_in + 1))
    assert set(m.rows["source_file"]) | set(m.unmapped["source_file"]) == {p.name for p in paths}
    assert list(m.rows.columns) == [*schemas.MAR_COLUMNS, *PROVENANCE, schemas.SOURCE_ROW, RXNORM_COLUMN]
    assert list(m.unmapped.columns) == [*schemas.QUARANTINE_COLUMNS, *PROVENANCE, ORIGINAL_COLUMN]


def test_mapped_rows_stage_and_validate_cleanly():
    # one version of each question (the others repeat the same resource ids)
    paths = [p for p in sorted(FIXTURES.iterdir())
             if not p.name.startswith(("bad", "truncated")) and "_r5" not in p.name and "bundle" not in p.name]
    kept, quarantine = kept_rows(read_fhir(paths).rows, "mar")
    assert quarantine.empty, quarantine[["row", "reason"]].to_string()
    assert kept["event_time"].notna().all()


def test_same_resources_in_two_files_are_quarantined_as_duplicates():
    """The R4 NDJSON and the Bundle hold the same piggy-backs (same ids): the
    second copy of each event is a duplicate for validation, not a new bag."""
    m = read_fhir([fixture("question_three_piggybacks_r4.ndjson"), fixture("question_three_piggybacks_bundle.json")])
    kept, quarantine = kept_rows(m.rows, "mar")
    assert len(kept) == 6 and len(quarantine) == 6
    assert quarantine["reason"].str.startswith("duplicate of row").all()


def test_looks_like_fhir(tmp_path):
    for path in FIXTURES.iterdir():
        assert looks_like_fhir(path), path.name
    assert not looks_like_fhir(QUESTION / "mar_three_piggybacks.csv")
    patients = tmp_path / "Patient.ndjson"
    patients.write_text('{"resourceType":"Patient","id":"x"}\n')
    assert not looks_like_fhir(patients)
    empty_bundle = tmp_path / "bundle.json"
    empty_bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}, indent=2))
    assert not looks_like_fhir(empty_bundle)
    assert not looks_like_fhir(tmp_path / "missing.ndjson")


def test_no_files_gives_empty_extract():
    m = read_fhir([])
    assert m.rows_in == 0 and list(m.rows.columns)[:len(schemas.MAR_COLUMNS)] == list(schemas.MAR_COLUMNS)


# --------------------------------------------------------------------------
# Synthetic writer: canonical -> FHIR -> canonical audits identically
# --------------------------------------------------------------------------
def round_trip(tmp_path: Path, reference, **kwargs) -> tuple[AuditResult, AuditResult, MappedExtract, object]:
    extracts = generate(**kwargs)
    paths = write_extracts(extracts, tmp_path)
    canonical = audit(read_extract(paths["mar"], "mar"), paths["claims"], reference)
    ndjson = mar_to_fhir_ndjson(extracts.mar, tmp_path / "mar.ndjson", facility_tz=TZ)
    mapped = read_fhir([ndjson])
    return canonical, audit(mapped.rows, paths["claims"], reference), mapped, extracts


def test_synthetic_round_trip_audits_identically(tmp_path, reference):
    canonical, from_fhir, mapped, extracts = round_trip(tmp_path, reference, seed=3, days=1, encounters_per_day=60)
    assert mapped.unmapped.empty
    lines = [json.loads(line) for line in (tmp_path / "mar.ndjson").read_text().splitlines()]
    # the writer's features are exercised: pieces of one bag, mixed bags, pumps
    assert any("partOf" in r for r in lines)
    assert any(len(r.get("contained", [{}])[0].get("ingredient", [])) > 1 for r in lines)
    assert any(r["dosage"].get("method", {}).get("text") == "ambulatory infusion pump" for r in lines)
    exp_csv, fnd_csv = comparable(canonical)
    exp_fhir, fnd_fhir = comparable(from_fhir)
    assert len(exp_csv) > 0
    pd.testing.assert_frame_equal(exp_fhir, exp_csv)
    pd.testing.assert_frame_equal(fnd_fhir, fnd_csv)
    assert set(extracts.mar["encounter_id"]) == set(mapped.rows["encounter_id"])


def test_synthetic_round_trip_with_malformed_rows(tmp_path, reference):
    """The generator's deliberately malformed MAR rows (unknown route,
    unparseable time, missing encounter) cannot round-trip as events: FHIR has
    no resource for them. They are excluded from the comparison explicitly,
    and must be unmapped (route, time) or quarantined (no encounter), never
    mapped into the audit."""
    canonical, from_fhir, mapped, extracts = round_trip(
        tmp_path, reference, seed=3, days=1, encounters_per_day=60, bad_row_count=3)
    bad = extracts.bad_rows[extracts.bad_rows["source"] == "mar"]
    assert len(bad) == 3
    assert len(mapped.unmapped) == 2
    assert set(mapped.unmapped["column"]) == {"dosage.route", "resource"}
    bad_encounters = set(bad["encounter_id"].dropna())
    exp_csv, fnd_csv = comparable(canonical)
    exp_fhir, fnd_fhir = comparable(from_fhir)
    assert not bad_encounters & set(exp_fhir["encounter_id"])
    keep = ~exp_csv["encounter_id"].isin(bad_encounters)
    pd.testing.assert_frame_equal(exp_fhir, exp_csv[keep].reset_index(drop=True))
    keep_f = ~fnd_csv["encounter_id"].isin(bad_encounters)
    keep_f2 = ~fnd_fhir["encounter_id"].isin(bad_encounters)
    pd.testing.assert_frame_equal(fnd_fhir[keep_f2].reset_index(drop=True), fnd_csv[keep_f].reset_index(drop=True))


def test_writer_splits_a_paused_bag_into_pieces_of_one_infusate(tmp_path):
    t = pd.Timestamp("2026-11-02T15:00:00Z")
    base = {c: None for c in schemas.MAR_COLUMNS}
    rows = [
        {**base, "encounter_id": "E1", "patient_id": "P1", "order_id": "O1", "infusate_id": "B1",
         "drug": drug, "route": "iv_infusion", "action": action, "event_time": t + pd.Timedelta(minutes=m),
         "access_site": "port", "rate": rate}
        for action, m, rate in (("start", 0, 100.0), ("rate_change", 20, 50.0), ("pause", 40, None),
                                ("resume", 55, 50.0), ("stop", 90, None))
        for drug in ("drug A 1 g", "drug B 2 g")
    ]
    path = mar_to_fhir_ndjson(pd.DataFrame(rows), tmp_path / "x.ndjson", facility_tz=TZ)
    resources = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["effectivePeriod"] for r in resources] == [
        {"start": "2026-11-02T10:00:00-05:00", "end": "2026-11-02T10:20:00-05:00"},
        {"start": "2026-11-02T10:20:00-05:00", "end": "2026-11-02T10:40:00-05:00"},
        {"start": "2026-11-02T10:55:00-05:00", "end": "2026-11-02T11:30:00-05:00"},
    ]
    assert [r.get("partOf") for r in resources[1:]] == [[{"reference": f"MedicationAdministration/{resources[0]['id']}"}]] * 2
    back = read_fhir([path]).rows
    assert back["infusate_id"].nunique() == 1 and set(back["drug"]) == {"drug A 1 g", "drug B 2 g"}
    assert list(back.loc[back["drug"] == "drug A 1 g", "rate"]) == ["100", None, "50", None, "50", None]
