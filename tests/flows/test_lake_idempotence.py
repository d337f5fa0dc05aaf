"""Idempotence of the lake runs (no Prefect: :func:`flows.pipeline.nightly_day`).

Same inputs give byte-identical lake and run-folder files; a corrected day
re-ingested replaces it; a replacement claim (frequency 7) and a void (8)
sent on a later night supersede the earlier claim, in the lake and in the
findings.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows import pipeline
from flows.demo import split_by_night
from flows.settings import Settings
from transforms.outputs import lake
from transforms.outputs.files import RUN_FILES
from transforms.synthetic.generator import generate, write_extracts

D1, D2 = date(2026, 11, 2), date(2026, 11, 3)


def _lake_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*.parquet"))}


def _run_bytes(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in RUN_FILES}


@pytest.fixture(scope="module")
def day1(tmp_path_factory):
    base = tmp_path_factory.mktemp("idem")
    good = write_extracts(generate(seed=31, start=D1, days=1, encounters_per_day=20, bad_row_count=2), base / "good")
    wrong = write_extracts(generate(seed=32, start=D1, days=1, encounters_per_day=14, bad_row_count=1), base / "wrong")
    return good, wrong


def test_same_inputs_give_byte_identical_lake_and_run_files(day1, tmp_path):
    good, _ = day1
    runs = []
    for name in ("a", "b"):
        settings = Settings(lake_root=tmp_path / name / "lake")
        pipeline.nightly_day(D1, good["mar"], good["claims"], settings, tmp_path / name / "run")
        runs.append((_lake_bytes(settings.lake_root), _run_bytes(tmp_path / name / "run")))
    assert runs[0] == runs[1]
    assert len(runs[0][0]) == len(lake.DATASETS)
    # A rerun over the same lake changes no byte either, and leaves no stray file.
    settings = Settings(lake_root=tmp_path / "a" / "lake")
    pipeline.nightly_day(D1, good["mar"], good["claims"], settings, tmp_path / "a" / "run")
    assert (_lake_bytes(settings.lake_root), _run_bytes(tmp_path / "a" / "run")) == runs[0]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["lake", "run"]
    assert not any((settings.lake_root / "_staging").iterdir())
    assert not any((settings.lake_root / "_journal").iterdir())


def test_a_corrected_day_reingested_replaces_it(day1, tmp_path):
    good, wrong = day1
    fresh = Settings(lake_root=tmp_path / "fresh")
    pipeline.nightly_day(D1, good["mar"], good["claims"], fresh, tmp_path / "fresh-run")
    settings = Settings(lake_root=tmp_path / "lake")
    pipeline.nightly_day(D1, wrong["mar"], wrong["claims"], settings, tmp_path / "run")
    # Ingesting alone replaces the inputs and drops the day's now-stale audit, in one transaction.
    pipeline.ingest_day(D1, good["mar"], good["claims"], settings, tmp_path / "ingest-run")
    assert lake.days_present(settings.lake_root, "findings") == []
    assert lake.days_present(settings.lake_root, "expected_lines") == []
    assert _lake_bytes(settings.lake_root)["claim_lines/audit_date=2026-11-02/part-0.parquet"] == \
        _lake_bytes(fresh.lake_root)["claim_lines/audit_date=2026-11-02/part-0.parquet"]
    pipeline.nightly_day(D1, good["mar"], good["claims"], settings, tmp_path / "run")
    assert _lake_bytes(settings.lake_root) == _lake_bytes(fresh.lake_root)
    assert _run_bytes(tmp_path / "run") == _run_bytes(tmp_path / "fresh-run")


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory):
    """Two nights; the second also resends claim X as a one-line replacement and voids claim Y."""
    base = tmp_path_factory.mktemp("supersede")
    x = generate(seed=33, start=D1, days=2, encounters_per_day=20)
    nights = split_by_night(x, "America/New_York")
    first = nights[D1].claims
    multi = first.groupby("claim_id")["line_number"].count()
    replaced, voided = list(multi[multi >= 2].index[:2])
    replacement = first[first["claim_id"] == replaced].head(1).assign(claim_frequency="7", units=9)
    void = first[first["claim_id"] == voided].assign(claim_frequency="8")
    second = nights[D2]
    second = type(second)(mar=second.mar, claims=pd.concat([second.claims, replacement, void], ignore_index=True),
                          truth=second.truth, bad_rows=second.bad_rows, facility_tz=second.facility_tz)
    paths = {D1: write_extracts(nights[D1], base / "d1"), D2: write_extracts(second, base / "d2")}
    encounters = dict(first.drop_duplicates("claim_id").set_index("claim_id")["encounter_id"])
    return paths, replaced, voided, encounters


def test_replacement_and_void_on_a_later_night_supersede_the_claim(two_nights, tmp_path):
    paths, replaced, voided, encounters = two_nights
    settings = Settings(lake_root=tmp_path / "lake", lookback_days=3)
    for day in (D1, D2):
        pipeline.nightly_day(day, paths[day]["mar"], paths[day]["claims"], settings, settings.run_dir(day))

    # The void is recorded in the lake: the second night's quarantine holds the voided lines.
    quarantine = lake.read_days(settings.lake_root, "quarantine", D2, D2)
    assert set(quarantine.loc[quarantine["reason"].str.contains("voided"), "claim_id"]) == {voided}

    # In the lake: the replacement's single line only, the voided claim gone.
    _, claims = pipeline.load_day_from_lake(D2, settings)
    assert claims.loc[claims["claim_id"] == replaced, "units"].tolist() == [9]
    assert voided not in set(claims["claim_id"])

    # In the findings: the second night re-audits both encounters against the current claims.
    findings = lake.read_days(settings.lake_root, "findings", D2, D2)
    expected = lake.read_days(settings.lake_root, "expected_lines", D2, D2)
    assert {encounters[replaced], encounters[voided]} <= set(expected["encounter_id"])
    assert voided not in set(findings["claim_id"].dropna())
    mine = findings[findings["claim_id"] == replaced]
    assert set(mine["billed_units"].dropna()) <= {0, 9}  # no finding on a superseded line
    run_findings = pd.read_csv(settings.run_dir(D2) / "findings.csv", dtype=str, keep_default_na=False)
    assert voided not in set(run_findings["claim_id"])
