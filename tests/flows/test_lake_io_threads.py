"""A run on the lake sizes Arrow's I/O thread pool (:func:`flows.pipeline.use_lake_io_threads`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from flows import pipeline
from flows.settings import Settings


@pytest.fixture()
def io_threads():
    """Arrow's I/O thread count, restored after the test (it is the process's)."""
    before = pa.io_thread_count()
    yield
    pa.set_io_thread_count(before)


def test_a_lake_run_reads_with_one_io_thread(io_threads, monkeypatch) -> None:
    monkeypatch.delenv("ARROW_IO_THREADS", raising=False)
    pa.set_io_thread_count(8)  # Arrow's own default
    pipeline.use_lake_io_threads()
    assert pa.io_thread_count() == pipeline.LAKE_IO_THREADS == 1


def test_the_users_arrow_io_threads_win(io_threads, monkeypatch) -> None:
    monkeypatch.setenv("ARROW_IO_THREADS", "3")
    pa.set_io_thread_count(3)  # as Arrow sets it from the variable when it starts the pool
    pipeline.use_lake_io_threads()
    assert pa.io_thread_count() == 3


class _Sized(Exception):
    """Raised by the stand-in for use_lake_io_threads: the entry point called it before anything else."""


@pytest.mark.parametrize("entry", ["nightly_day", "ingest_day_verdicts", "audit_day_from_lake"])
def test_every_lake_entry_point_sizes_the_pool_first(entry, monkeypatch, tmp_path: Path) -> None:
    def sized() -> None:
        raise _Sized

    monkeypatch.setattr(pipeline, "use_lake_io_threads", sized)
    settings = Settings(lake_root=tmp_path / "lake")
    day = date(2026, 11, 2)
    args = {"nightly_day": (day, tmp_path / "mar.csv", tmp_path / "claims.csv", settings, tmp_path / "run"),
            "ingest_day_verdicts": (day, tmp_path / "mar.csv", tmp_path / "claims.csv", settings, tmp_path / "run"),
            "audit_day_from_lake": (day, settings, tmp_path / "run", {})}[entry]
    with pytest.raises(_Sized):
        getattr(pipeline, entry)(*args)
    assert not (tmp_path / "lake").exists() and not (tmp_path / "run").exists()  # nothing was done before it
