"""Backfill: ingest and audit a range of service dates, one cached task per day.

Extract layout (the demo writes exactly this under ``data/demo/extracts/``)::

    <extracts_root>/<YYYY-MM-DD>/mar.csv      (or mar.parquet)
    <extracts_root>/<YYYY-MM-DD>/claims.csv   (or claims.parquet)

Each day is one Prefect task that calls the pure steps of
:mod:`flows.pipeline` (validate, ingest to the lake, audit, write the run
folder ``<lake>/../runs/<date>/``). Its small result dictionary is persisted
and cached, so rerunning a range recomputes only the days whose inputs, code,
policy, time zone or drug list changed. The cache key is
:func:`day_cache_key`; results and cache records live in ``results_dir``
(default ``<lake>/../.prefect-results``), never in ``~/.prefect``.

Days run in date order: the audit of a day reads the ``lookback_days``
before it from the lake, so the earlier days must be ingested first.
"""

from __future__ import annotations

import sys

import hashlib
import json
from dataclasses import asdict
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import CachePolicy

from flows import pipeline
from flows.settings import Settings
from transforms.outputs import lake
from transforms.ingest.readers import ExtractError

EXTRACT_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")
#: Bump to invalidate every cached day at once (e.g. after changing the key).
CACHE_KEY_VERSION = "backfill-day-v1"
#: Libraries whose version can change an output byte.
_KEY_LIBRARIES = ("pandas", "pyarrow", "numpy", "great_expectations")
_PACKAGES_ROOT = Path(__file__).resolve().parents[1]  # site-packages or the checkout


class MissingExtracts(ValueError):
    """A service date whose extract folder or files are missing or ambiguous."""


# --- convention and dates ---------------------------------------------------

def extract_paths(extracts_root: Path, day: date) -> tuple[Path, Path]:
    """The MAR and claims extracts of ``day``: ``<root>/<YYYY-MM-DD>/{mar,claims}.(csv|parquet)``.

    Raises:
        MissingExtracts: no folder for the day, a file missing, or both a
            ``.csv`` and a ``.parquet`` for one kind (the message says which).
    """
    folder = Path(extracts_root) / day.isoformat()
    if not folder.is_dir():
        raise MissingExtracts(f"{day}: no extract folder {folder}")
    found = []
    for kind in ("mar", "claims"):
        hits = [folder / f"{kind}{suffix}" for suffix in EXTRACT_SUFFIXES if (folder / f"{kind}{suffix}").is_file()]
        if not hits:
            raise MissingExtracts(f"{day}: no {kind}.csv or {kind}.parquet in {folder}")
        if len(hits) > 1:
            raise MissingExtracts(f"{day}: both {hits[0].name} and {hits[1].name} in {folder}; keep one")
        found.append(hits[0])
    return found[0], found[1]


def yesterday(facility_tz: str, today: date | None = None) -> date:
    """The day before ``today`` (default: today on the facility's wall clock)."""
    today = today or datetime.now(ZoneInfo(facility_tz)).date()
    return today - timedelta(days=1)


def nightly_yesterday(
    settings: Settings | None = None, extracts_root: Path | None = None, today: date | None = None
) -> date:
    """Yesterday in the facility time zone: the ``nightly`` command's default date.

    Args:
        settings: supplies ``facility_tz`` (default :meth:`Settings.from_env`).
        extracts_root: when given, also check that yesterday's extracts exist
            (raises :class:`MissingExtracts` with the folder it looked in).
        today: the facility-local date to count back from (default: now).
    """
    settings = settings or Settings.from_env()
    day = yesterday(settings.facility_tz, today)
    if extracts_root is not None:
        extract_paths(extracts_root, day)
    return day


def run_dir_for(day: date, settings: Settings) -> Path:
    """The run folder of ``day``: ``<lake>/../runs/<YYYY-MM-DD>`` (as the nightly flow)."""
    return settings.lake_root.parent / "runs" / day.isoformat()


def default_results_dir(settings: Settings) -> Path:
    """Where the backfill persists task results and cache records: ``<lake>/../.prefect-results``."""
    return settings.lake_root.parent / ".prefect-results"


def nightly_for(
    day: date, extracts_root: Path, settings: Settings | None = None, out_dir: Path | None = None
) -> dict[str, object]:
    """Run the nightly flow (ingest + audit, no cache) on ``day``'s extracts found by convention."""
    from flows.audit import nightly_flow

    settings = settings or Settings.from_env()
    mar, claims = extract_paths(extracts_root, day)
    return nightly_flow(day, mar, claims, settings, Path(out_dir) if out_dir else run_dir_for(day, settings))


# --- cache key --------------------------------------------------------------

def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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

    Covers ``transforms/*.py``, ``expectations/*.py``, every file under
    ``transforms/reference/tables/``, ``flows/pipeline.py``, this module, and the versions
    of pandas, pyarrow, numpy and great_expectations.
    """
    digest = hashlib.sha256()
    for path in _code_files():
        name = path.relative_to(_PACKAGES_ROOT) if path.is_relative_to(_PACKAGES_ROOT) else path.name
        digest.update(f"{name}\0{_sha256_file(path)}\n".encode())
    for lib in _KEY_LIBRARIES:
        try:
            version = metadata.version(lib.replace("_", "-"))
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{lib}=={version}\n".encode())
    return digest.hexdigest()


def day_cache_key(
    day: date, mar_path: Path, claims_path: Path, settings: Settings, run_dir: Path,
    lookback_inputs: tuple[Path, ...] = (),
) -> str:
    """The cache key of one backfilled day (hex sha256).

    Covers the bytes of the day's two extracts and of the extracts of the
    ``lookback_days`` before it (their lake rows complete the day's
    encounters), :func:`code_version`, the policy (every field), the facility
    time zone, ``lookback_days``, the drug list file's bytes, and where the
    outputs go (lake root and run folder), so a cached result always names
    files that this configuration wrote.
    """
    parts: dict[str, Any] = {
        "version": CACHE_KEY_VERSION,
        "day": day.isoformat(),
        "mar": _sha256_file(mar_path),
        "claims": _sha256_file(claims_path),
        "lookback": sorted((str(Path(p).parent.name) + "/" + Path(p).name, _sha256_file(p)) for p in lookback_inputs),
        "code": code_version(),
        "policy": asdict(settings.policy),
        "facility_tz": settings.facility_tz,
        "lookback_days": settings.lookback_days,
        "drug_list": _sha256_file(settings.drug_list) if settings.drug_list else None,
        "lake_root": str(Path(settings.lake_root).resolve()),
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
    day: date, mar_path: Path, claims_path: Path, settings: Settings, run_dir: Path,
    lookback_inputs: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """Ingest and audit one service date; returns a small, JSON-able summary.

    ``lookback_inputs`` only feeds the cache key (see :func:`day_cache_key`).
    """
    docs = run_dir / "validation"
    mar = pipeline.load_and_validate(mar_path, "mar", settings, docs / "mar")
    claims = pipeline.load_and_validate(claims_path, "claims", settings, docs / "claims")
    for extract in (mar, claims):
        pipeline.ingest_to_lake(extract, day, settings)
    quarantine = pd.concat([mar.quarantine, claims.quarantine], ignore_index=True)
    pipeline.write_quarantine(quarantine, day, settings)
    day_mar, day_claims = pipeline.load_day_from_lake(day, settings)
    result = pipeline.audit_frames(day_mar, day_claims, settings)
    pipeline.audit_to_lake(result, day, settings)
    counts = {"mar": mar.counts, "claims": claims.counts}
    trend = pipeline.lake_trend(settings, day)  # as the nightly flow: the lake's days up to this one
    summary = pipeline.write_outputs(run_dir, result, quarantine, counts, settings, None, trend)
    get_run_logger().info("%s: %s findings, %s expected lines", day, summary["findings"], summary["expected_lines"])
    return {
        "day": day.isoformat(),
        "findings": int(summary["findings"]),
        "expected_lines": int(summary["expected_lines"]),
        "rows": counts,
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
    if isinstance(exc, (ExtractError, OSError, MissingExtracts)):
        return f"{type(exc).__name__}: {exc}"
    # Other messages may quote data values: name the type only; details are in the task run log.
    return f"{type(exc).__name__} (see the task run log)" if isinstance(exc, BaseException) else str(state.message)


def _draw_progress(done: int, total: int, label: str, width: int = 30) -> None:
    """One line, redrawn in place: ``[#####.....] 12/30 2026-11-14``."""
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<12s}{end}")
    sys.stderr.flush()


@flow(name="backfill", flow_run_name="backfill-{start}-{end}", validate_parameters=False)
def backfill_flow(
    start: date,
    end: date,
    extracts_root: Path,
    settings: Settings | None = None,
    force: bool = False,
    results_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Ingest and audit every day from ``start`` to ``end`` (inclusive), cached per day.

    Args:
        start, end: first and last service date.
        extracts_root: folder of ``<YYYY-MM-DD>/mar.*`` and ``claims.*``.
        settings: default :meth:`Settings.from_env`.
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
    settings = settings or Settings.from_env()
    extracts_root = Path(extracts_root)
    results_dir = Path(results_dir or default_results_dir(settings)).resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    log = get_run_logger()
    days: dict[str, dict[str, Any]] = {}
    total = (end - start).days + 1
    day = start
    while day <= end:
        key = day.isoformat()
        if progress:
            _draw_progress(len(days), total, key)
        try:
            mar, claims = extract_paths(extracts_root, day)
        except MissingExtracts as exc:
            log.warning("skipped %s", exc)
            days[key] = {"status": "skipped", "reason": str(exc)}
            day += timedelta(days=1)
            continue
        lookback = []
        for back in range(1, settings.lookback_days + 1):
            try:
                lookback.extend(extract_paths(extracts_root, day - timedelta(days=back)))
            except MissingExtracts:
                pass
        run_dir = run_dir_for(day, settings)
        refresh = force or not outputs_present(day, settings, run_dir)
        runner = backfill_day.with_options(result_storage=results_dir, refresh_cache=refresh)
        state = runner(day, mar, claims, settings, run_dir, tuple(lookback), return_state=True)
        if state.is_completed():
            cached = state.name == "Cached"
            days[key] = {"status": "cached" if cached else "computed", **state.result()}
        else:
            days[key] = {"status": "failed", "reason": _failure_reason(state)}
            log.error("%s failed: %s", key, days[key]["reason"])
        day += timedelta(days=1)
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
