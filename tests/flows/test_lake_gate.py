"""The broken-extract gate on the lake path, and findings superseded by a later night.

A night whose extract is unusable (:mod:`transforms.ingest.usability`) must
publish no findings and leave the lake exactly as it was; a later night that
re-audits an encounter (here: it voids the encounter's claim) supersedes the
earlier night's findings for it (:func:`transforms.outputs.lake.read_current`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows import pipeline
from flows.backfill import backfill_flow
from flows.demo import split_by_night
from flows.settings import Settings
from transforms.ingest.usability import UnusableExtract
from transforms.outputs import lake
from transforms.synthetic.generator import generate, write_extracts

D1, D2 = date(2026, 11, 2), date(2026, 11, 3)


def _lake_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*.parquet"))}


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """A good night, and the same night re-extracted with Epic's action words (every start unusable)."""
    base = tmp_path_factory.mktemp("gate")
    x = generate(seed=41, start=D1, days=1, encounters_per_day=20)
    good = write_extracts(x, base / "good")
    epic = x.mar.assign(action=x.mar["action"].replace({"start": "New Bag", "stop": "Stopped", "given": "Given"}))
    broken = write_extracts(type(x)(mar=epic, claims=x.claims, truth=x.truth, bad_rows=x.bad_rows,
                                    facility_tz=x.facility_tz), base / "broken")
    return good, broken


def _assert_refused_folder(run: Path) -> None:
    names = {p.name for p in run.iterdir()}
    assert {"unusable.txt", "quarantine.csv", "validation"} <= names
    assert not names & {"findings.csv", "worklist.csv", "expected_codes.csv", "report.html"}
    text = (run / "unusable.txt").read_text()
    assert "action" in text and "MRN" not in text
    quarantine = pd.read_csv(run / "quarantine.csv", dtype=str)
    assert len(quarantine) > 0
    assert not any(p.name.endswith(".partial") for p in run.parent.iterdir())


def test_nightly_day_refuses_a_broken_extract_and_leaves_the_lake_as_it_was(nights, tmp_path):
    good, broken = nights
    settings = Settings(lake_root=tmp_path / "lake")
    run = tmp_path / "run"
    pipeline.nightly_day(D1, good["mar"], good["claims"], settings, run)
    before = _lake_bytes(settings.lake_root)
    assert (run / "findings.csv").exists()
    with pytest.raises(UnusableExtract, match="action"):
        pipeline.nightly_day(D1, broken["mar"], broken["claims"], settings, run)
    assert _lake_bytes(settings.lake_root) == before
    _assert_refused_folder(run)


def test_a_refused_first_night_publishes_nothing(nights, tmp_path):
    _, broken = nights
    settings = Settings(lake_root=tmp_path / "lake")
    with pytest.raises(UnusableExtract):
        pipeline.nightly_day(D1, broken["mar"], broken["claims"], settings, tmp_path / "run")
    for dataset in lake.DATASETS:
        assert lake.days_present(settings.lake_root, dataset) == [], dataset
    _assert_refused_folder(tmp_path / "run")


def test_ingest_day_refuses_before_the_commit(nights, tmp_path):
    good, broken = nights
    settings = Settings(lake_root=tmp_path / "lake")
    pipeline.ingest_day(D1, good["mar"], good["claims"], settings, tmp_path / "ingest")
    before = _lake_bytes(settings.lake_root)
    with pytest.raises(UnusableExtract):
        pipeline.ingest_day(D1, broken["mar"], broken["claims"], settings, tmp_path / "ingest")
    assert _lake_bytes(settings.lake_root) == before
    assert (tmp_path / "ingest" / "unusable.txt").exists()


def test_the_threshold_is_a_setting(nights, tmp_path):
    _, broken = nights
    settings = Settings(lake_root=tmp_path / "lake", max_quarantine_share=1.0)
    summary = pipeline.nightly_day(D1, broken["mar"], broken["claims"], settings, tmp_path / "run")
    mar = summary["set_aside"]["mar"]
    assert mar["rows"] > 0.05 * mar["of"] and mar["usable"]
    assert lake.days_present(settings.lake_root, "findings") == [D1]


def test_nightly_summary_says_how_many_rows_were_set_aside(tmp_path):
    x = generate(seed=42, start=D1, days=1, encounters_per_day=30, bad_row_count=2)
    paths = write_extracts(x, tmp_path / "in")
    settings = Settings(lake_root=tmp_path / "lake")
    summary = pipeline.nightly_day(D1, paths["mar"], paths["claims"], settings, tmp_path / "run")
    set_aside = summary["set_aside"]
    assert sum(v["rows"] for v in set_aside.values()) == len(x.bad_rows)
    assert "set aside" in (tmp_path / "run" / "report.html").read_text()


def test_backfill_reports_the_refusal(prefect_harness, nights, tmp_path):
    _, broken = nights
    root = tmp_path / "extracts" / D1.isoformat()
    root.mkdir(parents=True)
    for kind in ("mar", "claims"):
        (root / Path(broken[kind]).name).write_bytes(Path(broken[kind]).read_bytes())
    settings = Settings(lake_root=tmp_path / "lake")
    result = backfill_flow(D1, D1, tmp_path / "extracts", settings, results_dir=tmp_path / "results")
    assert result["failed"] == [D1.isoformat()]
    reason = result["days"][D1.isoformat()]["reason"]
    assert reason.startswith("UnusableExtract: ") and "action" in reason
    assert lake.days_present(settings.lake_root, "findings") == []


def test_a_void_on_a_later_night_supersedes_the_earlier_findings(tmp_path):
    x = generate(seed=43, start=D1, days=2, encounters_per_day=20)
    split = split_by_night(x, "America/New_York")
    first = split[D1].claims
    # A claim with findings on night 1 (an injected error), voided on night 2.
    settings = Settings(lake_root=tmp_path / "lake", lookback_days=3)
    p1 = write_extracts(split[D1], tmp_path / "d1")
    pipeline.nightly_day(D1, p1["mar"], p1["claims"], settings, tmp_path / "r1")
    night1 = lake.read_days(settings.lake_root, "findings", D1, D1)
    voided = night1["claim_id"].dropna().loc[lambda s: s.ne("")].iloc[0]
    encounter = first.loc[first["claim_id"] == voided, "encounter_id"].iloc[0]
    second = split[D2]
    void = first[first["claim_id"] == voided].assign(claim_frequency="8")
    second = type(second)(mar=second.mar, claims=pd.concat([second.claims, void], ignore_index=True),
                          truth=second.truth, bad_rows=second.bad_rows, facility_tz=second.facility_tz)
    p2 = write_extracts(second, tmp_path / "d2")
    pipeline.nightly_day(D2, p2["mar"], p2["claims"], settings, tmp_path / "r2")

    # Night 1's partition is a snapshot and keeps its rows; the current view does not.
    assert voided in set(lake.read_days(settings.lake_root, "findings", D1, D1)["claim_id"])
    current = lake.read_current(settings.lake_root, "findings", D2)
    assert voided not in set(current["claim_id"].dropna())
    mine = current[current["encounter_id"] == encounter]
    assert set(mine[lake.PARTITION_KEY]) <= {D2}
    audited = lake.read_days(settings.lake_root, "audited_encounters", D2, D2)
    assert encounter in set(audited["encounter_id"])
    # As of night 1 the current view is night 1's.
    assert voided in set(lake.read_current(settings.lake_root, "findings", D1)["claim_id"])
    expected_now = lake.read_current(settings.lake_root, "expected_lines", D2)
    assert expected_now.groupby("encounter_id")[lake.PARTITION_KEY].nunique().max() == 1


def test_prefect_nightly_and_ingest_flows_refuse_before_the_lake(prefect_harness, nights, tmp_path):
    from flows.audit import nightly_flow
    from flows.ingest import ingest_flow

    good, broken = nights
    settings = Settings(lake_root=tmp_path / "lake")
    nightly_flow(D1, good["mar"], good["claims"], settings, tmp_path / "run")
    before = _lake_bytes(settings.lake_root)
    with pytest.raises(UnusableExtract, match="action"):
        nightly_flow(D1, broken["mar"], broken["claims"], settings, tmp_path / "run")
    _assert_refused_folder(tmp_path / "run")
    with pytest.raises(UnusableExtract, match="action"):
        ingest_flow(D1, broken["mar"], broken["claims"], settings, tmp_path / "ingest")
    assert _lake_bytes(settings.lake_root) == before


def test_each_night_refreshes_the_dashboard_views(nights, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    good, _ = nights
    settings = Settings(lake_root=tmp_path / "lake")
    pipeline.nightly_day(D1, good["mar"], good["claims"], settings, tmp_path / "run")
    findings = pd.read_csv(tmp_path / "run" / "findings.csv", dtype=str)
    with duckdb.connect(str(settings.lake_root / "audit.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM findings").fetchone() == (len(findings),)
        assert con.execute("SELECT sum(lines) FROM daily_summary").fetchone() == (len(findings),)
