"""Ingest and audit flows under a temporary Prefect server."""

from datetime import date

import pandas as pd
import pytest

from flows.audit import audit_flow, nightly_flow
from flows.ingest import ingest_flow
from flows.settings import Settings
from transforms.outputs import lake
from transforms.synthetic.generator import generate, write_extracts

pytestmark = pytest.mark.flow
DAY = date(2026, 11, 2)


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    folder = tmp_path_factory.mktemp("night")
    x = generate(seed=5, start=DAY, days=1, encounters_per_day=40, bad_row_count=3)
    return write_extracts(x, folder), x


def test_nightly_flow_ingests_audits_and_reruns_idempotently(prefect_harness, night, tmp_path):
    paths, x = night
    settings = Settings(lake_root=tmp_path / "lake")
    out = tmp_path / "run"
    summary = nightly_flow(DAY, paths["mar"], paths["claims"], settings, out, x.truth)
    assert summary["score"]["recall"] >= 0.99
    assert summary["score"]["clean_encounters_flagged"] == 0
    for kind, frame in (("mar", x.mar), ("claims", x.claims)):
        c = summary["rows"][kind]
        assert c["rows_in"] == len(frame) == c["rows_kept"] + c["rows_quarantined"]
    for dataset in lake.DATASETS:
        assert lake.days_present(settings.lake_root, dataset) == [DAY], dataset
    findings = lake.read_days(settings.lake_root, "findings", DAY, DAY)
    assert len(findings) == summary["findings"]
    assert len(lake.read_days(settings.lake_root, "quarantine", DAY, DAY)) == len(x.bad_rows)

    # The run publishes a markdown summary and a table of the top findings.
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_artifacts()}
    assert f"audit-{DAY.isoformat()}" in artifacts
    table = artifacts[f"top-findings-{DAY.isoformat()}"]
    assert table.type == "table" and "finding" in str(table.data)
    assert "MRN" not in str(table.data)  # no patient identifiers
    worklist = pd.read_csv(out / "worklist.csv", dtype=str, keep_default_na=False)
    assert len(worklist) == summary["findings"]

    # Rewriting the day replaces its partitions: nothing is appended twice.
    again = nightly_flow(DAY, paths["mar"], paths["claims"], settings, out, x.truth)
    assert again["findings"] == summary["findings"]
    assert len(lake.read_days(settings.lake_root, "findings", DAY, DAY)) == len(findings)
    assert len(lake.read_days(settings.lake_root, "mar_events", DAY, DAY)) == summary["rows"]["mar"]["rows_kept"]


def test_ingest_then_audit_as_separate_flows(prefect_harness, night, tmp_path):
    paths, x = night
    settings = Settings(lake_root=tmp_path / "lake")
    counts = ingest_flow(DAY, paths["mar"], paths["claims"], settings, tmp_path / "run")
    assert counts["mar"]["rows_quarantined"] + counts["claims"]["rows_quarantined"] == len(x.bad_rows)
    summary = audit_flow(DAY, settings, tmp_path / "run", counts)
    expected = pd.read_csv(tmp_path / "run" / "expected_codes.csv", dtype=str)
    assert summary["expected_lines"] == len(expected) > 0
    assert (tmp_path / "run" / "validation" / "mar" / "index.html").exists()
