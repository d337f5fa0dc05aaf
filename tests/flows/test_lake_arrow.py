"""A run on the lake sizes Arrow's thread pools and picks its memory pool (:func:`flows.lake_arrow.use_lake_arrow`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from flows import lake_arrow, pipeline
from flows.settings import Settings


@pytest.fixture()
def arrow_pools(monkeypatch):
    """Arrow's thread counts and memory pool, restored after the test (they are the process's);
    no user settings."""
    for name in ("ARROW_IO_THREADS", "OMP_NUM_THREADS", "ARROW_DEFAULT_MEMORY_POOL"):
        monkeypatch.delenv(name, raising=False)
    before = pa.io_thread_count(), pa.cpu_count(), pa.default_memory_pool()
    yield
    pa.set_io_thread_count(before[0])
    pa.set_cpu_count(before[1])
    pa.set_memory_pool(before[2])


needs_jemalloc = pytest.mark.skipif("jemalloc" not in pa.supported_memory_backends(),
                                    reason="this pyarrow was built without jemalloc")


def test_a_lake_run_reads_with_one_io_thread(arrow_pools) -> None:
    pa.set_io_thread_count(8)  # Arrow's own default
    lake_arrow.use_lake_arrow()
    assert pa.io_thread_count() == lake_arrow.LAKE_IO_THREADS == 1


def test_a_small_day_gets_one_cpu_thread_and_a_large_one_arrows_default(arrow_pools, monkeypatch) -> None:
    monkeypatch.setattr(lake_arrow, "DEFAULT_CPU_THREADS", 4)
    lake_arrow.use_lake_arrow(day_bytes=3_600_000)  # a night of 2,000 encounters
    assert pa.cpu_count() == 1
    lake_arrow.use_lake_arrow(day_bytes=lake_arrow.SMALL_DAY_BYTES)  # the next day of the backfill is large
    assert pa.cpu_count() == 4
    lake_arrow.use_lake_arrow(day_rows=lake_arrow.SMALL_DAY_ROWS - 1)
    assert pa.cpu_count() == 1
    lake_arrow.use_lake_arrow()  # size unknown: Arrow's default
    assert pa.cpu_count() == 4


@needs_jemalloc
def test_a_small_day_allocates_from_jemalloc_and_a_large_one_from_arrows_default_pool(arrow_pools) -> None:
    assert lake_arrow.DEFAULT_POOL.backend_name == "mimalloc"  # pyarrow's Linux wheels
    lake_arrow.use_lake_arrow(day_bytes=3_600_000)
    assert pa.default_memory_pool().backend_name == "jemalloc"
    small = pa.array(range(100_000))  # allocated from jemalloc's pool...
    assert pa.jemalloc_memory_pool().bytes_allocated() >= 800_000
    lake_arrow.use_lake_arrow(day_rows=lake_arrow.SMALL_DAY_ROWS)  # the next day of the backfill is large
    assert pa.default_memory_pool().backend_name == "mimalloc"
    assert small.sum().as_py() == sum(range(100_000))  # ...and still read after the switch
    lake_arrow.use_lake_arrow(day_rows=10)
    lake_arrow.use_default_arrow()  # a files-in audit after a small night
    assert pa.default_memory_pool().backend_name == lake_arrow.DEFAULT_POOL.backend_name == "mimalloc"


@needs_jemalloc
def test_a_small_days_jemalloc_hands_freed_pages_back_at_once_and_other_pools_are_left_alone(
        arrow_pools, monkeypatch) -> None:
    decays: list[int] = []
    monkeypatch.setattr(pa, "jemalloc_set_decay_ms", lambda ms: decays.append(ms))
    lake_arrow.use_lake_arrow(day_rows=lake_arrow.SMALL_DAY_ROWS)  # a big day: mimalloc, untouched
    lake_arrow.use_default_arrow()
    assert decays == []
    lake_arrow.use_lake_arrow(day_bytes=3_600_000)
    assert decays == [lake_arrow.SMALL_DAY_DECAY_MS] == [0]
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")  # the user's pool: the user's settings
    lake_arrow.use_lake_arrow(day_bytes=3_600_000)
    assert decays == [0]


@needs_jemalloc
def test_the_users_arrow_settings_win(arrow_pools, monkeypatch) -> None:
    monkeypatch.setenv("ARROW_IO_THREADS", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")
    pa.set_io_thread_count(3)  # as Arrow sets them from the variables when it starts the pools
    pa.set_cpu_count(2)
    lake_arrow.use_lake_arrow(day_rows=10)
    assert (pa.io_thread_count(), pa.cpu_count()) == (3, 2)
    assert pa.default_memory_pool().backend_name == lake_arrow.DEFAULT_POOL.backend_name == "mimalloc"


def test_extract_bytes_counts_files_folders_and_lists_and_nothing_for_a_missing_path(tmp_path: Path) -> None:
    (tmp_path / "mar.csv").write_bytes(b"x" * 10)
    folder = tmp_path / "claims"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "part.csv").write_bytes(b"y" * 7)
    (folder / "b.csv").write_bytes(b"z" * 5)
    assert lake_arrow.extract_bytes([tmp_path / "mar.csv", folder]) == 22
    assert lake_arrow.extract_bytes([[tmp_path / "mar.csv", folder / "b.csv"], tmp_path / "none.csv"]) == 15


def test_a_files_in_audit_gives_arrow_back_its_own_pools(arrow_pools, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lake_arrow, "DEFAULT_CPU_THREADS", 4)
    monkeypatch.setattr(lake_arrow, "DEFAULT_IO_THREADS", 8)
    lake_arrow.use_lake_arrow(day_rows=10)  # a small night earlier in this process
    assert (pa.io_thread_count(), pa.cpu_count()) == (1, 1)
    from transforms.ingest.file_reading import ExtractError

    with pytest.raises(ExtractError, match="no such file"):  # the pools are sized before the first read fails
        pipeline.audit_files(tmp_path / "none.csv", tmp_path / "none.csv", tmp_path / "run", Settings())
    assert (pa.io_thread_count(), pa.cpu_count()) == (8, 4)
    assert pa.default_memory_pool().backend_name == lake_arrow.DEFAULT_POOL.backend_name == "mimalloc"


class _Sized(Exception):
    """Raised by the stand-in for use_lake_arrow: the entry point called it before anything else."""


@pytest.mark.parametrize("entry", ["nightly_day", "ingest_day_verdicts", "audit_day_from_lake"])
def test_every_lake_entry_point_sizes_the_pools_first_by_its_days_size(entry, monkeypatch, tmp_path: Path) -> None:
    sizes = []

    def sized(**size: int) -> None:
        sizes.append(size)
        raise _Sized

    monkeypatch.setattr(pipeline, "use_lake_arrow", sized)
    settings = Settings(lake_root=tmp_path / "lake")
    (tmp_path / "mar.csv").write_bytes(b"m" * 100)
    (tmp_path / "claims.csv").write_bytes(b"c" * 20)
    day = date(2026, 11, 2)
    args = {"nightly_day": (day, tmp_path / "mar.csv", tmp_path / "claims.csv", settings, tmp_path / "run"),
            "ingest_day_verdicts": (day, tmp_path / "mar.csv", tmp_path / "claims.csv", settings, tmp_path / "run"),
            "audit_day_from_lake": (day, settings, tmp_path / "run", {})}[entry]
    with pytest.raises(_Sized):
        getattr(pipeline, entry)(*args)
    assert not (tmp_path / "lake").exists() and not (tmp_path / "run").exists()  # nothing was done before it
    assert sizes == [{"day_rows": 0} if entry == "audit_day_from_lake" else {"day_bytes": 120}]
