"""What a files-in, files-out run holds while it audits and writes.

At a million encounters the validated MAR and claim frames are about 2 GB
and the audit's result about 1.4 GB: :func:`flows.pipeline.audit_files`
hands the kept frames over to the audit (:func:`flows.pipeline.audit_taking`),
which cuts them into shards and lets each shard go once audited, so the
day's inputs are gone before its last shard is audited, and long before
the run folder is written."""

from __future__ import annotations

import gc
import weakref
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows import pipeline, shard_audit
from flows.settings import Settings
from transforms.audit import UNREAD_INPUT_COLUMNS
from transforms.synthetic.generator import generate, write_extracts


def _extracts(tmp_path: Path) -> dict[str, Path]:
    return write_extracts(generate(seed=5, start=date(2026, 11, 2), days=1, encounters_per_day=40), tmp_path)


def test_audit_files_frees_the_kept_extracts_during_the_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    day: list[weakref.ref[pd.DataFrame]] = []
    shard_rows: list[weakref.ref[pd.DataFrame]] = []
    alive_at_shard: list[list[bool]] = []
    alive_at_write: list[bool] = []
    real_taking, real_run, real_write = pipeline.audit_taking, shard_audit.run_audit, pipeline.write_run_files

    def audit_taking(kept, settings, timer=None, helpers=None):  # type: ignore[no-untyped-def]
        day.extend(weakref.ref(frame) for frame in kept)
        return real_taking(kept, settings, timer, helpers)

    def run_audit(mar, claims, *args, **kwargs):  # type: ignore[no-untyped-def]
        gc.collect()
        alive_at_shard.append([ref() is not None for ref in (*day, *shard_rows)])
        shard_rows.append(weakref.ref(mar))
        return real_run(mar, claims, *args, **kwargs)

    def write(*args, **kwargs):  # type: ignore[no-untyped-def]
        gc.collect()
        alive_at_write.extend(ref() is not None for ref in (*day, *shard_rows))
        return real_write(*args, **kwargs)

    monkeypatch.setattr(pipeline, "audit_taking", audit_taking)
    monkeypatch.setattr(shard_audit, "run_audit", run_audit)
    monkeypatch.setattr(pipeline, "write_run_files", write)
    paths = _extracts(tmp_path)
    # In this process (the records above are this process's; tests/flows/test_forks.py: the forked map's own).
    settings = Settings(shard_encounters=15, audit_processes=1)
    summary = pipeline.audit_files(paths["mar"], paths["claims"], tmp_path / "run", settings)
    assert len(day) == 2 and len(shard_rows) == 3  # ~40 encounters: three shards
    # Each shard's audit holds neither the day's frames nor an earlier shard's rows.
    assert alive_at_shard == [[False, False], [False, False, False], [False, False, False, False]]
    assert alive_at_write == [False] * 5
    assert (tmp_path / "run" / "findings.csv").is_file() and summary["rows"]["mar"]["rows_kept"] > 0


def test_audit_taking_gives_the_result_of_audit_without_the_unread_columns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _extracts(tmp_path)
    settings = Settings(shard_encounters=15, audit_processes=1)  # the shards audited in this process, seen here
    mar, claims = (pipeline.load_and_validate(paths[kind], kind, settings).kept for kind in ("mar", "claims"))
    assert {"patient_id", "order_id"} <= set(mar.columns) and "patient_id" in claims.columns
    whole = pipeline.audit(mar, claims, settings.with_(shard_encounters=1000))  # every column, one shard
    seen: list[tuple[set[str], set[str]]] = []
    real_run = shard_audit.run_audit

    def run_audit(mar, claims, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((set(mar.columns), set(claims.columns)))
        return real_run(mar, claims, *args, **kwargs)

    monkeypatch.setattr(shard_audit, "run_audit", run_audit)
    kept = [mar.copy(), claims.copy()]
    taken = pipeline.audit_taking(kept, settings)
    assert kept == [] and len(seen) == 3
    unread = UNREAD_INPUT_COLUMNS
    assert all(m == set(mar.columns) - set(unread["mar"]) and c == set(claims.columns) - set(unread["claims"])
               for m, c in seen)  # the shards lacked the columns the audit never reads...
    assert len(whole.administrations) > 40 and len(whole.findings) > 0
    for name in ("administrations", "expected_lines", "findings"):  # ...and it gave the same frames
        pd.testing.assert_frame_equal(getattr(taken, name), getattr(whole, name))
