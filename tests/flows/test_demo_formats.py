"""The demo's nights written as FHIR NDJSON and X12 837I/837P audit to the same
score as the canonical CSV: every injected error found, no correctly billed
encounter flagged, the same findings."""

from __future__ import annotations

import pandas as pd

from flows.pipeline import audit_files
from flows.settings import Settings
from transforms.outputs.summary import score
from transforms.synthetic.generator import generate, write_extracts


def test_demo_data_scores_the_same_through_fhir_and_837(tmp_path):
    x = generate(seed=7, days=3, encounters_per_day=120, bad_row_count=6)
    canonical = write_extracts(x, tmp_path / "canonical")
    other = write_extracts(x, tmp_path / "fhir_x12", mar_format="fhir", claims_format="x12")
    # The demo bills on hospital (institutional) claims only: one 837I file.
    assert other["mar"].suffix == ".ndjson" and [p.name for p in other["claims"].iterdir()] == ["837i.x12"]
    results = {}
    for name, paths, settings in (("canonical", canonical, Settings()),
                                  ("fhir_x12", other, Settings(x12_account_ref="REF[D9]"))):
        summary = audit_files(paths["mar"], paths["claims"], tmp_path / f"out_{name}", settings)
        findings = pd.read_csv(tmp_path / f"out_{name}" / "findings.csv", dtype=str, keep_default_na=False)
        results[name] = (score(findings, x.truth), findings, summary)
    (base, base_findings, _), (same, other_findings, other_summary) = results["canonical"], results["fhir_x12"]
    assert base["recall"] >= 0.99 and base["clean_encounters_flagged"] == 0
    assert {k: same[k] for k in ("injected", "detected", "clean_encounters_flagged")} == {
        k: base[k] for k in ("injected", "detected", "clean_encounters_flagged")}
    key = ["encounter_id", "hcpcs", "finding", "billed_units", "expected_units"]
    # The deliberately malformed rows are quarantined either way; the findings are the same.
    assert base_findings[key].sort_values(key).values.tolist() == other_findings[key].sort_values(key).values.tolist()
    for kind in ("mar", "claims"):
        rows = other_summary["rows"][kind]
        assert rows["rows_in"] == rows["rows_kept"] + rows["rows_quarantined"]
