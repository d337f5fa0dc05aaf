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

Distributed (``Settings.dask_address``, the CLI's ``--dask``; :mod:`flows.runners`,
docs/distributed.md): the days run in phases, so no answer depends on how
the tasks are scheduled. Phase 1 ingests every day in parallel
(:func:`ingest_day_task`: validate, commit the inputs to the lake); phase 2
audits every day in parallel from the lake (:func:`audit_day_task`): a day's
audit reads only input partitions of days <= it, all committed in phase 1;
phase 3 redraws the recomputed days' report trend, which reads the other
days' findings. Both phases are cached per day with :func:`day_cache_key`
(phase 1 without the lookback extracts, phase 2 with them, each under its own
key version); a day ingested again is always audited again (its ingest
removed its findings), so the lake never holds findings of replaced inputs.
The one-process path and the phased path keep separate cache entries: a
one-process day is one task, a phased day two.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any
from collections.abc import Callable

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE, CachePolicy

from flows import console, pipeline, runners
from flows.pipeline import MissingExtracts, extract_paths
from flows.settings import Settings, content_digest
from transforms.ingest.readers import ExtractError
from transforms.ingest.usability import UnusableExtract
from transforms.outputs import lake

#: Bump to invalidate every cached day at once (e.g. after changing the key).
CACHE_KEY_VERSION = "backfill-day-v2"
#: Key versions of the two phases of a distributed backfill (see module doc).
INGEST_KEY_VERSION = "backfill-ingest-v1"
AUDIT_KEY_VERSION = "backfill-audit-v1"
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
    lookback_inputs: tuple[Path, ...] = (), version: str = CACHE_KEY_VERSION,
) -> str:
    """The cache key of one backfilled day (hex sha256).

    Covers the bytes of the day's two extracts and of the extracts of the
    ``lookback_days`` before it (their lake rows complete the day's
    encounters), :func:`code_version`, every settings field
    (:meth:`Settings.cache_key_parts`: policy, time zone, lookback, lake root,
    and the bytes of the drug list, fee schedule and NCCI tables), and the run
    folder, so a cached result always names files that this configuration wrote.
    ``version`` tells the one-process task and the two distributed phases apart.
    """
    parts: dict[str, Any] = {
        "version": version,
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


def _ingest_key_fn(_ctx: object, params: dict[str, Any]) -> str:
    return day_cache_key(params["day"], params["mar_path"], params["claims_path"], params["settings"],
                         params["run_dir"], version=INGEST_KEY_VERSION)


def _audit_key_fn(_ctx: object, params: dict[str, Any]) -> str:
    return day_cache_key(params["day"], params["mar_path"], params["claims_path"], params["settings"],
                         params["run_dir"], tuple(params["lookback_inputs"]), version=AUDIT_KEY_VERSION)


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
    return _day_result(day, summary, run_dir)


def _day_result(day: date, summary: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """A day's small, JSON-able task result (logged: counts only, no identifiers)."""
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


# --- the distributed path: phases of parallel tasks ---------------------------

_PHASE_TASK = dict(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_on_io_error,
                   persist_result=True, cache_result_in_memory=False)


@task(name="ingest-day", task_run_name="ingest-{day}",
      cache_policy=CachePolicy.from_cache_key_fn(_ingest_key_fn), **_PHASE_TASK)  # type: ignore[call-overload]
def ingest_day_task(
    day: date, mar_path: pipeline.Inputs, claims_path: pipeline.Inputs, settings: Settings, run_dir: Path,
) -> dict[str, Any]:
    """Phase 1: validate one day's extracts and commit them to the lake
    (:func:`flows.pipeline.ingest_day_verdicts`); returns the row counts and usability verdicts."""
    rows, verdicts = pipeline.ingest_day_verdicts(day, mar_path, claims_path, settings, run_dir)
    return {"rows": rows, "set_aside": verdicts}


@task(name="audit-day", task_run_name="audit-{day}",
      cache_policy=CachePolicy.from_cache_key_fn(_audit_key_fn), **_PHASE_TASK)  # type: ignore[call-overload]
def audit_day_task(
    day: date, mar_path: pipeline.Inputs, claims_path: pipeline.Inputs, settings: Settings, run_dir: Path,
    lookback_inputs: tuple[Path, ...], ingested: dict[str, Any],
) -> dict[str, Any]:
    """Phase 2: audit one day from the lake and publish it, without the report's trend
    (:func:`flows.pipeline.audit_day_from_lake`). The extract paths and
    ``lookback_inputs`` only feed the cache key; ``ingested`` is phase 1's result."""
    summary = pipeline.audit_day_from_lake(day, settings, run_dir, ingested["rows"], ingested["set_aside"],
                                           trend=False)
    return _day_result(day, summary, run_dir)


@task(name="report-trend", task_run_name="report-{day}", cache_policy=NO_CACHE, persist_result=False)
def report_trend_task(day: date, settings: Settings, run_dir: Path) -> str:
    """Phase 3: redraw a recomputed day's report with the lake's trend up to it."""
    return str(pipeline.render_report_with_trend(day, settings, run_dir))


def inputs_present(day: date, settings: Settings) -> bool:
    """Whether the lake holds the day's input partitions (else phase 1 is recomputed)."""
    return all((lake.dataset_path(settings.lake_root, name) / f"{lake.PARTITION_KEY}={day.isoformat()}").is_dir()
               for name in ("mar_events", "claim_lines", "quarantine"))


def _finished(futures: dict[date, Any], progress: Callable[[str], None] | None) -> dict[date, Any]:
    """Wait for every future; the final state of each (``progress`` is called with each day done)."""
    from prefect.futures import as_completed

    if progress is not None:
        day_of = {future.task_run_id: day for day, future in futures.items()}
        for future in as_completed(list(futures.values())):
            progress(day_of[future.task_run_id].isoformat())
    states = {}
    for day, future in futures.items():
        future.wait()
        states[day] = future.state
    return states


def _outcome(state: Any, day: date, log: Any) -> dict[str, Any] | None:
    """``None`` for a completed state, else the day's ``failed`` entry (logged)."""
    if state.is_completed():
        return None
    reason = _failure_reason(state)
    log.error("%s failed: %s", day, reason)
    return {"status": "failed", "reason": reason}


def _run_in_phases(
    days: list[date], extracts_root: Path, settings: Settings, force: bool, results_dir: Path,
    progress: Callable[[str], None] | None,
) -> dict[str, dict[str, Any]]:
    """Every day through phase 1 (ingest), then phase 2 (audit), then phase 3 (report trend); see module doc.

    ``progress`` is called once per day and phase done."""
    log = get_run_logger()
    out: dict[str, dict[str, Any]] = {}
    plans: dict[date, tuple[list[Path], list[Path], Path]] = {}
    for day in days:
        try:
            plans[day] = (*extract_paths(extracts_root, day), settings.run_dir(day))
        except MissingExtracts as exc:
            log.warning("skipped %s", exc)
            out[day.isoformat()] = {"status": "skipped", "reason": str(exc)}
            for _phase in range(2 if progress else 0):
                progress(day.isoformat())
    ingest = {day: ingest_day_task.with_options(
        result_storage=results_dir, refresh_cache=force or not inputs_present(day, settings),
    ).submit(day, mar, claims, settings, run_dir) for day, (mar, claims, run_dir) in plans.items()}
    audits, ingested_now = {}, set()
    for day, state in _finished(ingest, progress).items():
        if (failed := _outcome(state, day, log)) is not None:
            out[day.isoformat()] = failed
            if progress is not None:
                progress(day.isoformat())  # no audit phase for this day
            continue
        mar, claims, run_dir = plans[day]
        fresh = state.name != "Cached"  # ingested again: its findings were removed, so audit again
        ingested_now |= {day} if fresh else set()
        audits[day] = audit_day_task.with_options(
            result_storage=results_dir, refresh_cache=force or fresh or not outputs_present(day, settings, run_dir),
        ).submit(day, mar, claims, settings, run_dir, _lookback_inputs(extracts_root, day, settings.lookback_days),
                 state.result())
    recomputed = []
    for day, state in _finished(audits, progress).items():
        if (failed := _outcome(state, day, log)) is not None:
            out[day.isoformat()] = failed
            continue
        cached = state.name == "Cached" and day not in ingested_now
        out[day.isoformat()] = {"status": "cached" if cached else "computed", **state.result()}
        recomputed += [] if cached else [day]
    _finished({day: report_trend_task.submit(day, settings, plans[day][2]) for day in recomputed}, None)
    return {d: out[d] for d in sorted(out)}


def _run_one_by_one(
    days: list[date], extracts_root: Path, settings: Settings, force: bool, results_dir: Path,
    progress: Callable[[str], None] | None,
) -> dict[str, dict[str, Any]]:
    """Every day through the cached one-process task, in date order (``progress`` called per day done)."""
    out: dict[str, dict[str, Any]] = {}
    for day in days:
        out[day.isoformat()] = _run_day(day, extracts_root, settings, force, results_dir)
        if progress is not None:
            progress(day.isoformat())
    return out


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
        progress: one progress bar on standard error (:func:`flows.console.progress`; the CLI's).

    ``settings.dask_address`` set: the days run in phases of parallel tasks
    (see module doc) on this flow's task runner; call :func:`run_backfill`,
    which builds that runner and shares the Prefect API with the workers.

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
    dates = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
    phased = settings.dask_address is not None
    with console.progress(len(dates) * (2 if phased else 1), "backfill", enabled=progress) as advance:
        run = _run_in_phases if phased else _run_one_by_one
        days = run(dates, extracts_root, settings, force, results_dir, advance if progress else None)
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


def run_backfill(
    start: date, end: date, extracts_root: Path, settings: Settings, **options: Any,
) -> Any:
    """:func:`backfill_flow` on the task runner that ``settings.dask_address`` names
    (:func:`flows.runners.task_runner`), with one Prefect API shared by every
    Dask worker (:func:`flows.runners.shared_prefect_api`): the one entry point
    that runs a backfill local or distributed by that one setting.

    ``options``: the flow's other arguments (``force``, ``results_dir``,
    ``progress``) and ``return_state``.

    Raises:
        ValueError: a malformed ``dask_address``.
        RuntimeError: a scheduler address with no ``PREFECT_API_URL``.
    """
    with runners.on_runner(backfill_flow, settings.dask_address) as backfill:
        return backfill(start, end, extracts_root, settings, **options)
