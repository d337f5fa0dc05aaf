"""A backfill on a local Dask cluster of two worker processes writes the same bytes
as the one-process backfill, and its per-day cache works across runs.

The days are synthetic nights laid out as the demo lays them out
(flows/demo.py ``split_by_night``: an encounter goes to the night it started,
so a night's audit reads the nights before it from the lake).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from flows.backfill import backfill_flow, run_backfill
from flows.demo import split_by_night
from flows.settings import Settings
from transforms.synthetic.generator import generate, write_extracts

pytest.importorskip("prefect_dask")

START = date(2026, 11, 2)
DAYS = [START + timedelta(days=n) for n in range(3)]
RUN_FILES = ("findings.csv", "expected_codes.csv", "summary.json", "report.html", "quarantine.csv")


def _write_nights(root: Path) -> None:
    extracts = generate(seed=11, start=START, days=len(DAYS), encounters_per_day=30, bad_row_count=2)
    for night, part in split_by_night(extracts, extracts.facility_tz).items():
        if night in DAYS:
            write_extracts(part, root / night.isoformat())


def _lake_files(lake_root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(lake_root)): p.read_bytes() for p in sorted(lake_root.rglob("*.parquet"))}


def _run_files(settings: Settings) -> dict[str, bytes]:
    return {f"{d}/{name}": (settings.run_dir(d) / name).read_bytes() for d in DAYS for name in RUN_FILES}


@pytest.fixture()
def two_worker_processes():
    """A local Dask cluster of two worker processes, one thread each, on loopback.

    Both backfills below connect to it by its scheduler address (the path an
    existing cluster takes); ``local:N`` builds the same cluster for one run
    (:func:`test_local_address_builds_a_process_cluster`). One cluster for
    both runs keeps the test short: its workers import the code once.
    """
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:
        yield cluster.scheduler_address


@pytest.mark.flow
def test_dask_backfill_matches_the_one_process_backfill(prefect_harness, tmp_path, two_worker_processes):
    extracts = tmp_path / "extracts"
    _write_nights(extracts)
    one = Settings(lake_root=tmp_path / "one" / "lake")
    dask = one.with_(lake_root=tmp_path / "dask" / "lake", dask_address=two_worker_processes)
    expected = [d.isoformat() for d in DAYS]

    single = backfill_flow(DAYS[0], DAYS[-1], extracts, one)
    assert single["computed"] == expected and single["failed"] == []

    spread = run_backfill(DAYS[0], DAYS[-1], extracts, dask)
    assert spread["computed"] == expected and spread["failed"] == [] and spread["skipped"] == []
    assert [spread["days"][d]["findings"] for d in expected] == [single["days"][d]["findings"] for d in expected]
    assert sum(single["days"][d]["findings"] for d in expected) > 0
    lake_one, lake_dask = _lake_files(one.lake_root), _lake_files(dask.lake_root)
    assert len(lake_one) >= 6 * len(DAYS) and lake_dask == lake_one  # same files, byte for byte
    assert _run_files(dask) == _run_files(one)

    # Rerun: every day is a cache hit of both phases (results shared by the workers), nothing rewritten.
    before = _run_files(dask)
    again = run_backfill(DAYS[0], DAYS[-1], extracts, dask)
    assert again["cached"] == expected and again["computed"] == []
    assert _run_files(dask) == before and _lake_files(dask.lake_root) == lake_dask


def test_local_address_builds_a_process_cluster():
    """``local:N``: N worker processes of one thread on loopback; a scheduler address: that cluster."""
    from prefect_dask import DaskTaskRunner

    from flows.runners import task_runner

    local = task_runner("local:3")
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs | {"dashboard_address": None} == {
        "n_workers": 3, "threads_per_worker": 1, "processes": True, "host": "127.0.0.1", "dashboard_address": None}
    assert task_runner("tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    assert task_runner(None) is None
    for bad in ("local:0", "local:two", "scheduler-host"):
        with pytest.raises(ValueError):
            task_runner(bad)


def test_a_cluster_without_a_shared_prefect_api_is_refused(monkeypatch):
    """Without PREFECT_API_URL every worker would start a private server: refused for a scheduler address."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.runners import shared_prefect_api

    with temporary_settings({PREFECT_API_URL: None}):
        with pytest.raises(RuntimeError, match="PREFECT_API_URL"):
            with shared_prefect_api("tcp://10.0.0.5:8786"):
                pass
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        monkeypatch.delenv("PREFECT_API_URL", raising=False)
        with shared_prefect_api("tcp://10.0.0.5:8786") as url:
            assert url == "http://127.0.0.1:4200/api"
            import os
            assert os.environ["PREFECT_API_URL"] == url  # the workers started here inherit it
        assert "PREFECT_API_URL" not in os.environ


@pytest.mark.flow
def test_dask_nightly_in_shards_matches_the_one_process_nightly(prefect_harness, tmp_path, two_worker_processes):
    """A health system's night: the day cut into shards of encounters, each shard's audit a task on a
    worker process, writes the same lake and run folder as the night audited whole in one process."""
    from flows.audit import run_nightly

    extracts = tmp_path / "extracts"
    _write_nights(extracts)
    day = DAYS[0]
    mar, claims = extracts / day.isoformat() / "mar.csv", extracts / day.isoformat() / "claims.csv"
    one = Settings(lake_root=tmp_path / "one" / "lake")
    dask = one.with_(lake_root=tmp_path / "dask" / "lake", dask_address=two_worker_processes, shard_encounters=7)
    whole = run_nightly(day, [mar], [claims], one)
    spread = run_nightly(day, [mar], [claims], dask)
    assert whole["encounters_audited"] > 3 * 7 and whole["findings"] > 0  # four shards or more
    assert spread["findings"] == whole["findings"]
    assert _lake_files(dask.lake_root) == _lake_files(one.lake_root)
    for name in RUN_FILES:
        assert (dask.run_dir(day) / name).read_bytes() == (one.run_dir(day) / name).read_bytes(), name
