"""Backfill: one cached task per day; reruns recompute only what changed.

The cache lives under ``tmp_path`` (``<lake>/../.prefect-results``), so a
second pytest session starts cold (../shared/stack/prefect-gx-notes.md 1.8).
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from flows.backfill import backfill_flow, day_cache_key
from flows.pipeline import MissingExtracts, audit_files, extract_paths, yesterday
from flows.settings import Settings
from transforms.synthetic.generator import generate, write_extracts

DAYS = [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)]


def _write_days(root: Path, days: list[date], encounters: int = 30) -> dict[date, dict[str, Path]]:
    return {
        day: write_extracts(generate(seed=40 + i, start=day, days=1, encounters_per_day=encounters),
                            root / day.isoformat())
        for i, day in enumerate(days)
    }


def _task_states(flow_state, expected: int) -> Counter:
    """State names of the flow run's task runs, read back from the API."""
    return Counter(r.state.name for r in _task_runs(flow_state, expected))


def _task_runs(flow_state, expected: int, timeout: float = 30.0) -> list:
    """The flow run's finished task runs, read back from the API.

    Task-run states reach the database through the event pipeline, a little
    after the flow returns: poll until all ``expected`` runs are terminal.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    run_id = flow_state.state_details.flow_run_id
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        done = [r for r in runs if r.state is not None and r.state.is_final()]
        if len(done) >= expected or time.monotonic() > deadline:
            return done
        time.sleep(0.5)


def _findings(settings: Settings) -> dict[date, bytes]:
    return {d: (settings.run_dir(d) / "findings.csv").read_bytes() for d in DAYS}


@pytest.mark.flow
def test_backfill_reruns_only_changed_days(prefect_harness, tmp_path):
    extracts = tmp_path / "extracts"
    paths = _write_days(extracts, DAYS)
    settings = Settings(lake_root=tmp_path / "lake")
    start, end = DAYS[0] - timedelta(days=1), DAYS[-1]  # the day before has no folder

    state = backfill_flow(start, end, extracts, settings, return_state=True)
    first = state.result()
    assert first["computed"] == [d.isoformat() for d in DAYS]
    assert first["skipped"] == [start.isoformat()] and "no extract folder" in first["days"][start.isoformat()]["reason"]
    assert first["failed"] == [] and first["cached"] == []
    assert _task_states(state, 3) == Counter({"Completed": 3})
    results = Path(first["results_dir"])
    assert results == (tmp_path / ".prefect-results").resolve() and len(list(results.iterdir())) >= 3
    before = _findings(settings)
    # The backfilled day matches the lake-free files-in/files-out audit.
    audit_files(paths[DAYS[0]]["mar"], paths[DAYS[0]]["claims"], tmp_path / "direct", settings)
    assert before[DAYS[0]] == (tmp_path / "direct" / "findings.csv").read_bytes()
    day = first["days"][DAYS[0].isoformat()]
    assert day["findings"] > 0 and Path(day["outputs"]["findings"]).exists()

    # Unchanged rerun: every day from the cache, nothing rewritten.
    state = backfill_flow(start, end, extracts, settings, return_state=True)
    again = state.result()
    assert again["cached"] == [d.isoformat() for d in DAYS] and again["computed"] == []
    assert _task_states(state, 3) == Counter({"Cached": 3})
    assert _findings(settings) == before
    assert again["days"][DAYS[0].isoformat()]["findings"] == day["findings"]

    # Last day's claims change, and day 2's run folder is gone: only those two recompute.
    claims = paths[DAYS[2]]["claims"]
    lines = claims.read_text().splitlines(keepends=True)
    claims.write_text("".join(lines[:-1]))  # drop one billed line
    shutil.rmtree(settings.run_dir(DAYS[1]))
    state = backfill_flow(start, end, extracts, settings, return_state=True)
    changed = state.result()
    assert changed["computed"] == [DAYS[1].isoformat(), DAYS[2].isoformat()]
    assert changed["cached"] == [DAYS[0].isoformat()]
    assert _task_states(state, 3) == Counter({"Completed": 2, "Cached": 1})
    after = _findings(settings)
    assert after[DAYS[0]] == before[DAYS[0]] and after[DAYS[1]] == before[DAYS[1]]

    # force: every day recomputed (same bytes: the audit is deterministic).
    state = backfill_flow(start, end, extracts, settings, force=True, return_state=True)
    forced = state.result()
    assert forced["computed"] == [d.isoformat() for d in DAYS] and forced["cached"] == []
    assert _task_states(state, 3) == Counter({"Completed": 3})
    assert _findings(settings) == after


@pytest.mark.flow
def test_backfill_reports_bad_and_incomplete_days(prefect_harness, tmp_path):
    extracts = tmp_path / "extracts"
    paths = _write_days(extracts, DAYS[:2], encounters=10)
    (paths[DAYS[1]]["claims"]).write_text("claim_id,line_number\nC1,1\n")  # required columns missing
    partial = extracts / DAYS[2].isoformat()
    partial.mkdir()
    shutil.copy(paths[DAYS[0]]["mar"], partial / "mar.csv")  # no claims file
    settings = Settings(lake_root=tmp_path / "lake")

    state = backfill_flow(DAYS[0], DAYS[2], extracts, settings, return_state=True)
    out = state.result()
    assert state.is_completed()
    assert out["computed"] == [DAYS[0].isoformat()]
    assert out["failed"] == [DAYS[1].isoformat()]
    assert out["days"][DAYS[1].isoformat()]["reason"].startswith("ExtractError:")
    assert out["skipped"] == [DAYS[2].isoformat()]
    assert "no claims.csv, claims.parquet" in out["days"][DAYS[2].isoformat()]["reason"]
    runs = {r.name: r for r in _task_runs(state, 2)}
    assert {n: r.state.name for n, r in runs.items()} == {
        f"backfill-{DAYS[0]}": "Completed", f"backfill-{DAYS[1]}": "Failed"}
    assert runs[f"backfill-{DAYS[1]}"].run_count == 1, "a bad extract is not retried"


# --- no Prefect run needed -----------------------------------------------------

def test_extract_paths_convention(tmp_path):
    day = DAYS[0]
    with pytest.raises(MissingExtracts, match="no extract folder"):
        extract_paths(tmp_path, day)
    folder = tmp_path / day.isoformat()
    folder.mkdir()
    (folder / "mar.parquet").write_bytes(b"x")
    with pytest.raises(MissingExtracts, match="no claims.csv"):
        extract_paths(tmp_path, day)
    (folder / "claims.csv").write_text("x")
    assert extract_paths(tmp_path, day) == ([folder / "mar.parquet"], [folder / "claims.csv"])
    (folder / "mar.ndjson").write_text("{}")  # another format of the same kind: one more input
    (folder / "claims").mkdir()
    assert extract_paths(tmp_path, day) == ([folder / "mar.ndjson", folder / "mar.parquet"],
                                            [folder / "claims", folder / "claims.csv"])
    (folder / "claims.parquet").write_bytes(b"x")
    with pytest.raises(MissingExtracts, match="both"):
        extract_paths(tmp_path, day)


def test_day_cache_key_covers_what_changes_outputs(tmp_path):
    paths = _write_days(tmp_path / "extracts", DAYS[:2], encounters=5)
    drugs = tmp_path / "drugs.csv"
    drugs.write_text("a\n")
    settings = Settings(lake_root=tmp_path / "lake", drug_list=drugs)
    run = tmp_path / "runs" / DAYS[1].isoformat()
    mar, claims = paths[DAYS[1]]["mar"], paths[DAYS[1]]["claims"]
    lookback = (paths[DAYS[0]]["mar"], paths[DAYS[0]]["claims"])

    def key(**kw):
        args = {"day": DAYS[1], "mar_path": mar, "claims_path": claims, "settings": settings, "run_dir": run,
                "lookback_inputs": lookback, **kw}
        return day_cache_key(**args)

    base = key()
    assert key() == base and len(base) == 64
    variants = {
        "policy": key(settings=settings.with_(policy=replace(settings.policy, concurrent_min_overlap_minutes=31))),
        "tz": key(settings=settings.with_(facility_tz="America/Chicago")),
        "lookback_days": key(settings=settings.with_(lookback_days=3)),
        "lake": key(settings=settings.with_(lake_root=tmp_path / "other")),
        "run_dir": key(run_dir=tmp_path / "elsewhere"),
        "no_lookback": key(lookback_inputs=()),
    }
    assert len(set(variants.values()) | {base}) == len(variants) + 1, variants
    drugs.write_text("b\n")
    assert key() != base
    drugs.write_text("a\n")
    paths[DAYS[0]]["claims"].write_text(paths[DAYS[0]]["claims"].read_text() + "\n")  # an earlier day's input
    assert key() != base


def test_yesterday_uses_facility_time_zone():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    assert yesterday("Pacific/Kiritimati", today=date(2026, 3, 1)) == date(2026, 2, 28)
    assert yesterday("Pacific/Kiritimati") == datetime.now(ZoneInfo("Pacific/Kiritimati")).date() - timedelta(days=1)


def test_only_transient_io_errors_are_retried():
    from prefect.states import Failed

    from flows.backfill import _retry_on_io_error
    from transforms.ingest.readers import ExtractError

    def retried(exc: BaseException) -> bool:
        return _retry_on_io_error(None, None, Failed(data=exc))

    assert retried(OSError("stale NFS handle")) and retried(TimeoutError())
    assert not retried(FileNotFoundError("gone")) and not retried(ExtractError(Path("x.csv"), "corrupt"))
    assert not retried(ValueError("bad value"))


def test_each_backfill_path_has_its_own_cache_key(tmp_path):
    """One-process day, phase-1 ingest and phase-2 audit never answer for one another."""
    from flows.backfill import AUDIT_KEY_VERSION, CACHE_KEY_VERSION, INGEST_KEY_VERSION

    paths = _write_days(tmp_path / "extracts", DAYS[:1], encounters=5)
    settings = Settings(lake_root=tmp_path / "lake")
    args = (DAYS[0], paths[DAYS[0]]["mar"], paths[DAYS[0]]["claims"], settings, tmp_path / "runs")
    keys = {v: day_cache_key(*args, version=v) for v in (CACHE_KEY_VERSION, INGEST_KEY_VERSION, AUDIT_KEY_VERSION)}
    assert len(set(keys.values())) == 3 and keys[CACHE_KEY_VERSION] == day_cache_key(*args)
    # How a day executes is not part of its key: a sharded or Dask run reuses it.
    assert day_cache_key(DAYS[0], *args[1:3], settings.with_(shard_encounters=3, dask_address="local:2"),
                         args[4]) == keys[CACHE_KEY_VERSION]
