"""Backfill: ingest and audit a range of service dates, one cached task per day.

Extract layout (the demo writes exactly this under ``data/demo/extracts/``)::

    <extracts_root>/<YYYY-MM-DD>/mar.csv      (or mar.parquet)
    <extracts_root>/<YYYY-MM-DD>/claims.csv   (or claims.parquet)

Each day is one Prefect task that calls :func:`flows.pipeline.nightly_day`
(validate, ingest to the lake, audit, write the run folder
``<lake>/../runs/<date>/``). Its small result dictionary is persisted and
cached, so rerunning a range recomputes only the days whose inputs, code or
settings (policy, time zone, drug list, fee schedule, NCCI tables...) changed. The cache key is
:func:`day_cache_key`; results and cache records live in ``results_dir``
(default ``<lake>/../.prefect-results``), never in ``~/.prefect``.

Days run in date order: the audit of a day reads the ``lookback_days``
before it from the lake, so the earlier days must be ingested first.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import date, timedelta
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import CachePolicy

from flows import pipeline
from flows.pipeline import MissingExtracts, extract_paths
from flows.settings import Settings, content_digest
from transforms.ingest.readers import ExtractError
from transforms.ingest.usability import UnusableExtract
from transforms.outputs import lake

#: Bump to invalidate every cached day at once (e.g. after changing the key).
CACHE_KEY_VERSION = "backfill-day-v2"
#: Libraries whose version can change an output byte.
_KEY_LIBRARIES = ("pandas", "pyarrow", "numpy", "great_expectations")
_PACKAGES_ROOT = Path(__file__).resolve().parents[1]  # site-packages or the checkout


# --- cache key --------------------------------------------------------------

def _code_files() -> list[Path]:
    """Every file whose bytes can change a day's outputs: the transforms and
    expectations packages (reference tables included) and the run wiring."""
    import expectations
    import transforms

    files: list[Path] = []
    for package in (transforms, expectations):
        root = Path(package.__file__).resolve().parent
        files += sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    files += [Path(__file__).resolve().parent / "pipeline.py", Path(__file__).resolve()]
    return files


@lru_cache(maxsize=1)
def code_version() -> str:
    """sha256 of the audit's code and reference data, computed once per process.

    Covers every file of the ``transforms`` and ``expectations`` packages
    (the reference tables included), ``flows/pipeline.py``, this module, and
    the versions of pandas, pyarrow, numpy and great_expectations.
    """
    digest = hashlib.sha256()
    for path in _code_files():
        name = path.relative_to(_PACKAGES_ROOT) if path.is_relative_to(_PACKAGES_ROOT) else path.name
        digest.update(f"{name}\0{content_digest(path)}\n".encode())
    for lib in _KEY_LIBRARIES:
        try:
            version = metadata.version(lib.replace("_", "-"))
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{lib}=={version}\n".encode())
    return digest.hexdigest()


def _inputs_digest(paths: pipeline.Inputs) -> list[tuple[str, str]]:
    """Name and content digest of each input file or folder, in order."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    return [(Path(p).name, content_digest(Path(p))) for p in paths]


def day_cache_key(
    day: date, mar_path: pipeline.Inputs, claims_path: pipeline.Inputs, settings: Settings, run_dir: Path,
    lookback_inputs: tuple[Path, ...] = (),
) -> str:
    """The cache key of one backfilled day (hex sha256).

    Covers the bytes of the day's two extracts and of the extracts of the
    ``lookback_days`` before it (their lake rows complete the day's
    encounters), :func:`code_version`, every settings field
    (:meth:`Settings.cache_key_parts`: policy, time zone, lookback, lake root,
    and the bytes of the drug list, fee schedule and NCCI tables), and the run
    folder, so a cached result always names files that this configuration wrote.
    """
    parts: dict[str, Any] = {
        "version": CACHE_KEY_VERSION,
        "day": day.isoformat(),
        "mar": _inputs_digest(mar_path),
        "claims": _inputs_digest(claims_path),
        "lookback": sorted((Path(p).parent.name + "/" + Path(p).name, content_digest(p)) for p in lookback_inputs),
        "code": code_version(),
        "settings": settings.cache_key_parts(),
        "run_dir": str(Path(run_dir).resolve()),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _cache_key_fn(_ctx: object, params: dict[str, Any]) -> str:
    return day_cache_key(
        params["day"], params["mar_path"], params["claims_path"], params["settings"], params["run_dir"],
        tuple(params.get("lookback_inputs") or ()),
    )


def _retry_on_io_error(_task: object, _task_run: object, state: Any) -> bool:
    """Retry transient I/O failures only; a bad extract fails the same way every time."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)


# --- the per-day task and the flow ------------------------------------------

@task(
    name="backfill-day",
    task_run_name="backfill-{day}",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=_retry_on_io_error,
    cache_policy=CachePolicy.from_cache_key_fn(_cache_key_fn),
    persist_result=True,
    cache_result_in_memory=False,
)
def backfill_day(
    day: date, mar_path: pipeline.Inputs, claims_path: pipeline.Inputs, settings: Settings, run_dir: Path,
    lookback_inputs: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """Ingest and audit one service date (:func:`flows.pipeline.nightly_day`);
    returns a small, JSON-able summary.

    ``lookback_inputs`` only feeds the cache key (see :func:`day_cache_key`).
    """
    summary = pipeline.nightly_day(day, mar_path, claims_path, settings, run_dir)
    get_run_logger().info("%s: %s findings, %s expected lines", day, summary["findings"], summary["expected_lines"])
    return {
        "day": day.isoformat(),
        "findings": int(summary["findings"]),
        "expected_lines": int(summary["expected_lines"]),
        "rows": summary["rows"],
        "outputs": {
            "run_dir": str(run_dir),
            "findings": str(run_dir / "findings.csv"),
            "expected_codes": str(run_dir / "expected_codes.csv"),
            "report": str(run_dir / "report.md"),
            "summary": str(run_dir / "summary.json"),
        },
    }


def outputs_present(day: date, settings: Settings, run_dir: Path) -> bool:
    """Whether the files a cached result points at still exist (else the day is recomputed)."""
    if not all((run_dir / name).is_file() for name in ("findings.csv", "expected_codes.csv", "summary.json")):
        return False
    return all(
        (lake.dataset_path(settings.lake_root, name) / f"{lake.PARTITION_KEY}={day.isoformat()}").is_dir()
        for name in lake.DATASETS
    )


def _failure_reason(state: Any) -> str:
    exc = state.result(raise_on_failure=False)
    # These messages name files, rows and columns, never a data value.
    if isinstance(exc, (ExtractError, OSError, MissingExtracts, UnusableExtract)):
        return f"{type(exc).__name__}: {exc}"
    # Other messages may quote data values: name the type only; details are in the task run log.
    return f"{type(exc).__name__} (see the task run log)" if isinstance(exc, BaseException) else str(state.message)


def _draw_progress(done: int, total: int, label: str, width: int = 30) -> None:
    """One line, redrawn in place: ``[#####.....] 12/30 2026-11-14``."""
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<12s}{end}")
    sys.stderr.flush()


def _lookback_inputs(extracts_root: Path, day: date, lookback_days: int) -> tuple[Path, ...]:
    """The extracts of the ``lookback_days`` before ``day`` that exist (for the cache key)."""
    found: list[Path] = []
    for back in range(1, lookback_days + 1):
        try:
            mar, claims = extract_paths(extracts_root, day - timedelta(days=back))
            found.extend([*mar, *claims])
        except MissingExtracts:
            pass
    return tuple(found)


def _run_day(day: date, extracts_root: Path, settings: Settings, force: bool, results_dir: Path) -> dict[str, Any]:
    """One day through the cached task: ``computed``, ``cached``, ``skipped`` or ``failed``."""
    log = get_run_logger()
    try:
        mar, claims = extract_paths(extracts_root, day)
    except MissingExtracts as exc:
        log.warning("skipped %s", exc)
        return {"status": "skipped", "reason": str(exc)}
    run_dir = settings.run_dir(day)
    refresh = force or not outputs_present(day, settings, run_dir)
    runner = backfill_day.with_options(result_storage=results_dir, refresh_cache=refresh)
    lookback = _lookback_inputs(extracts_root, day, settings.lookback_days)
    state = runner(day, mar, claims, settings, run_dir, lookback, return_state=True)
    if state.is_completed():
        return {"status": "cached" if state.name == "Cached" else "computed", **state.result()}
    reason = _failure_reason(state)
    log.error("%s failed: %s", day, reason)
    return {"status": "failed", "reason": reason}


@flow(name="backfill", flow_run_name="backfill-{start}-{end}", validate_parameters=False)
def backfill_flow(
    start: date,
    end: date,
    extracts_root: Path,
    settings: Settings,
    force: bool = False,
    results_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Ingest and audit every day from ``start`` to ``end`` (inclusive), cached per day.

    Args:
        start, end: first and last service date.
        extracts_root: folder of ``<YYYY-MM-DD>/mar.*`` and ``claims.*``.
        settings: the run's settings.
        force: recompute every day and overwrite its cache entry.
        results_dir: persisted results and cache records
            (default ``<lake>/../.prefect-results``).
        progress: draw a progress bar on standard error (the CLI does).

    Returns:
        JSON-able: ``days`` maps each date to ``status`` (``computed``,
        ``cached``, ``skipped`` or ``failed``) with the task's result or a
        ``reason``; ``computed``, ``cached``, ``skipped``, ``failed`` list the
        dates by outcome. The flow itself completes even when a day fails:
        check ``failed``.
    """
    if end < start:
        raise ValueError(f"backfill: end {end} is before start {start}")
    extracts_root = Path(extracts_root)
    results_dir = Path(results_dir or settings.results_dir).resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    log = get_run_logger()
    days: dict[str, dict[str, Any]] = {}
    total = (end - start).days + 1
    for offset in range(total):
        day = start + timedelta(days=offset)
        if progress:
            _draw_progress(offset, total, day.isoformat())
        days[day.isoformat()] = _run_day(day, extracts_root, settings, force, results_dir)
    if progress:
        _draw_progress(total, total, "done")
    outcome = {s: [d for d, v in days.items() if v["status"] == s] for s in ("computed", "cached", "skipped", "failed")}
    log.info("backfill %s..%s: %s", start, end, {s: len(v) for s, v in outcome.items()})
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "extracts_root": str(extracts_root),
        "lake_root": str(settings.lake_root),
        "results_dir": str(results_dir),
        "force": force,
        "days": days,
        **outcome,
    }
