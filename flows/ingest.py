"""Prefect ingest flow: one service date's extracts -> validated lake partitions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import pipeline
from flows.settings import Settings
from transforms.outputs import lake
from transforms.outputs.files import begin_run_dir, publish_run_dir


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, persist_result=False)
def ingest_extract(
    path: pipeline.Inputs, kind: str, day: date, settings: Settings, docs_dir: Path
) -> pipeline.ValidatedExtract:
    """Validate one extract (nothing is written to the lake: the day's transaction does)."""
    extract = pipeline.ingest_extract(path, kind, day, settings, docs_dir)
    get_run_logger().info("%s extract: %s", kind, extract.counts)
    return extract


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, persist_result=False)
def commit_inputs(staged: pipeline.StagedDay, settings: Settings) -> int:
    """Replace the day's input and quarantine partitions in one transaction; returns the quarantine's row count."""
    pipeline.commit_inputs(staged, settings)
    return len(staged.quarantine)


@task(cache_policy=NO_CACHE, persist_result=False)
def check_day(staged: pipeline.StagedDay, settings: Settings, out_dir: Path) -> None:
    """The gate: refuse a broken extract before it reaches the lake (:func:`flows.pipeline.check_day`)."""
    pipeline.check_day(staged, settings, out_dir)


def stage_extracts(
    service_date: date, mar_path: pipeline.Inputs, claims_path: pipeline.Inputs, settings: Settings, docs_dir: Path,
) -> pipeline.StagedDay:
    """Validate both extracts as concurrent tasks (inside a flow); validation docs under ``docs_dir/<kind>``."""
    futures = {
        kind: ingest_extract.submit(path, kind, service_date, settings, docs_dir / kind)
        for kind, path in zip(pipeline.EXTRACT_KINDS, (mar_path, claims_path))
    }
    return pipeline.StagedDay(service_date, futures["mar"].result(), futures["claims"].result())


@flow(name="ingest", validate_parameters=False)
def ingest_flow(
    service_date: date, mar_path: pipeline.Inputs, claims_path: pipeline.Inputs, settings: Settings,
    run_dir: Path | None = None,
) -> dict[str, dict[str, int]]:
    """Validate both extracts of ``service_date`` and load them into the lake.

    The same steps as :func:`flows.pipeline.ingest_day`: the two extracts are
    validated as concurrent tasks, then committed in one lake transaction
    (which also removes the day's now-stale expected lines and findings).
    Returns row counts per extract; each reconciles (in = kept + quarantined).
    A broken extract is refused before the commit (``check_day``): the lake
    is unchanged and the run folder says why.

    Raises:
        transforms.outputs.lake.LakeBusy: another run of the day is under way.
        transforms.ingest.usability.UnusableExtract: the day was refused.
    """
    run_dir = Path(run_dir or settings.run_dir(service_date))
    with lake.day_lock(settings.lake_root, service_date):
        partial = begin_run_dir(run_dir)
        staged = stage_extracts(service_date, mar_path, claims_path, settings, partial / "validation")
        check_day(staged, settings, run_dir)
        commit_inputs(staged, settings)
        publish_run_dir(partial, run_dir)
    return staged.counts
