"""``make bench``'s backfill memory: nights audited one after another in one process.

A backfill's tasks call :func:`flows.pipeline.nightly_day` once per night,
one process running night after night (locally; on Dask, each worker). The
bench does the same for the first N nights of a synthetic month
(:func:`transforms.synthetic.generator.generate`, split by night as the demo
does), each N in a fresh interpreter with a lake of its own, and reports
that process's peak resident memory (``ru_maxrss``), its resident memory
after each night, and each night's own peak (the process's peak started
again before each night). Issue 10's target: the peak of 30 nights no more
than that of 3. The nights' own peaks tell growth from spread: a run's peak
is the highest of its nights', so thirty nights give a high one more chances
than three even when no night costs more than the one before.

Then one night on a long lake: a lake of the first :data:`LAKE_NIGHTS`
nights (:func:`build_lake_job`), whose last night is audited again in a
fresh process (:func:`night_on_lake_job`), once as it is and once after :data:`HISTORY_NIGHTS` earlier
nights were added (:func:`add_history_job`: hard links to its nights' files, no disk used):
what a night costs must not grow with the years of history before it.
A benchmark, not a test: nothing asserts a size.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from flows.tree_memory import own_peak_mb, peak_since_reset_mb, reset_own_peak, rss_kib

if TYPE_CHECKING:  # imported by the jobs only: the bench's parent process stays light
    from flows.settings import Settings

#: Nights compared (the issue's 3 against 30) and the encounters of each night.
DEFAULT_NIGHTS: tuple[int, ...] = (3, 30)
NIGHT_ENCOUNTERS = 2000
#: The same for ``make bench --quick`` (a smoke run).
QUICK_NIGHTS: tuple[int, ...] = (1, 2)
QUICK_NIGHT_ENCOUNTERS = 60
#: The first night of the synthetic month.
FIRST_NIGHT = date(2026, 10, 1)
#: Nights of the long lake's own (its last night's lookback window full) and the history added
#: before them (about three years); ``--quick``: 2 nights and 30.
LAKE_NIGHTS = 8
HISTORY_NIGHTS = 1000
QUICK_LAKE_NIGHTS = 2
QUICK_HISTORY_NIGHTS = 30


def night_folder(directory: Path, night: int) -> Path:
    """The extracts folder of the ``night``-th night (0-based) under ``directory``."""
    return directory / "extracts" / (FIRST_NIGHT + timedelta(days=night)).isoformat()


def generate_nights_job(directory: Path, nights: int, encounters: int) -> dict[str, Any]:
    """Write ``nights`` nights of canonical CSV extracts under ``directory``; seconds taken."""
    from flows.demo import split_by_night
    from flows.settings import Settings
    from transforms.synthetic.generator import generate, write_extracts

    t0 = time.perf_counter()
    month = generate(seed=4, start=FIRST_NIGHT, days=nights, encounters_per_day=encounters)
    by_night = split_by_night(month, Settings().facility_tz)
    for number in range(nights):
        write_extracts(by_night[FIRST_NIGHT + timedelta(days=number)], night_folder(directory, number))
    return {"nights": nights, "encounters_per_night": encounters, "generate_seconds": time.perf_counter() - t0}


def audit_night(directory: Path, night: int, settings: Settings, run_dir: Path) -> None:
    """:func:`flows.pipeline.nightly_day` of the ``night``-th night (0-based) under ``directory``."""
    from flows import pipeline

    folder = night_folder(directory, night)
    pipeline.nightly_day(FIRST_NIGHT + timedelta(days=night), folder / "mar.csv", folder / "claims.csv",
                         settings, run_dir)


def nights_job(directory: Path, nights: int) -> dict[str, Any]:
    """Audit the first ``nights`` nights under ``directory`` through a new lake, in this process;
    its peak memory (MB), its resident memory after each night (MB) and each night's own peak
    (MB: the peak is started again before each night, :func:`reset_own_peak`; None where it
    cannot be)."""
    from flows.settings import Settings

    after_night: list[float] = []
    night_peaks: list[float] = []
    peak, resets = own_peak_mb(), True  # before the first night: the imports'
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="infusion-bench-lake-") as lake:
        settings = Settings(lake_root=Path(lake) / "lake")
        for number in range(nights):
            resets = reset_own_peak() and resets
            audit_night(directory, number, settings, Path(lake) / "runs" / str(number))
            night_peaks.append(peak_since_reset_mb() or own_peak_mb())
            after_night.append(rss_kib(os.getpid()) / 1024)
    return {"nights": nights, "peak_mb": max(peak, *night_peaks), "rss_after_night_mb": after_night,
            "night_peaks_mb": night_peaks if resets else None, "seconds": time.perf_counter() - t0}


def build_lake_job(directory: Path, nights: int) -> dict[str, Any]:
    """Audit the first ``nights`` nights under ``directory`` into ``directory/long-lake``."""
    from flows.settings import Settings

    t0 = time.perf_counter()
    settings = Settings(lake_root=directory / "long-lake")
    for number in range(nights):
        audit_night(directory, number, settings, directory / "long-lake-runs" / str(number))
    return {"nights": nights, "seconds": time.perf_counter() - t0}


def add_history_job(directory: Path, history: int) -> dict[str, Any]:
    """Give the lake of :func:`build_lake_job` ``history`` nights before its first: each dataset's
    partitions of its nights, hard-linked again and again under the earlier dates."""
    from transforms.outputs import lake

    root = directory / "long-lake"
    for dataset in lake.DATASETS:
        own = sorted((root / dataset).glob(f"{lake.PARTITION_KEY}=*"))
        for back in range(1, history + 1) if own else ():
            source = own[back % len(own)]
            target = source.with_name(f"{lake.PARTITION_KEY}={(FIRST_NIGHT - timedelta(days=back)).isoformat()}")
            target.mkdir()
            for file in source.iterdir():
                os.link(file, target / file.name)
    return {"history_nights": history}


def night_on_lake_job(directory: Path, night: int) -> dict[str, Any]:
    """Audit the ``night``-th night (0-based) again on ``directory/long-lake``, in this process:
    its seconds and this process's peak memory (MB)."""
    from flows.settings import Settings
    from transforms.outputs import lake

    t0 = time.perf_counter()
    audit_night(directory, night, Settings(lake_root=directory / "long-lake"), directory / "long-lake-runs" / "again")
    nights_in_lake = len(lake.days_present(directory / "long-lake", "findings"))
    return {"nights_in_lake": nights_in_lake, "peak_mb": own_peak_mb(), "seconds": time.perf_counter() - t0}


def summary_line(run: dict[str, Any]) -> str:
    """One printed line per run of nights."""
    after = run["rss_after_night_mb"]
    return (f"backfill of {run['nights']} nights ({run['encounters_per_night']:,} encounters each): "
            f"peak {run['peak_mb']:,.0f} MB{_night_peaks_text(run.get('night_peaks_mb'))}; resident after "
            f"each night {min(after):,.0f}-{max(after):,.0f} MB (after the last {after[-1]:,.0f} MB); "
            f"{run['seconds']:.0f} s")


def _night_peaks_text(peaks: list[float] | None) -> str:
    """The nights' own peaks in a few words: their range and median, and with more than
    six nights those of the first three and of the last three (growth with the nights shows)."""
    if not peaks:
        return ""
    text = f"; each night's own peak {min(peaks):,.0f}-{max(peaks):,.0f} MB (median {median(peaks):,.0f}"
    if len(peaks) > 6:
        text += (f"; first three {', '.join(f'{p:,.0f}' for p in peaks[:3])}, "
                 f"last three {', '.join(f'{p:,.0f}' for p in peaks[-3:])}")
    return text + ")"


def lake_line(run: dict[str, Any]) -> str:
    """One printed line per night on a lake (:func:`night_on_lake_job`)."""
    return (f"one night on a lake of {run['nights_in_lake']:,} nights: peak {run['peak_mb']:,.0f} MB, "
            f"{run['seconds']:.1f} s")
