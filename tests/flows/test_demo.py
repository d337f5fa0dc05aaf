"""The demo's figures: on its default data the audit finds >= 99 % of the
injected errors and raises nothing on correctly billed encounters, and every
night's findings, expected codes, worklist and timeline are byte-identical to
the golden digests (tests/golden/README.md)."""

import json

import pytest

from flows.demo import run_demo
from tests.golden.digests import mismatches

pytestmark = pytest.mark.flow


def test_demo_default_data_scores(prefect_harness, tmp_path):
    assert run_demo(tmp_path) == 0
    score = json.loads((tmp_path / "score.json").read_text())
    assert score["injected"] >= 40
    assert score["detected"] / score["injected"] >= 0.99
    assert score["clean_encounters_flagged"] == 0
    summary = (tmp_path / "summary.md").read_text()
    assert "recall" in summary and "Findings by key" in summary
    for night in ("2026-11-02", "2026-11-03", "2026-11-04"):
        assert (tmp_path / "runs" / night / "report.md").exists()
        assert (tmp_path / "runs" / night / "findings.csv").exists()
    assert mismatches("demo_runs", tmp_path / "runs") == []
