"""Prefect ingest flow: one service date's extracts -> validated lake partitions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import pipeline
from flows.settings import Settings


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, persist_result=False)
def ingest_extract(
    path: pipeline.Inputs, kind: str, day: date, settings: Settings, docs_dir: Path
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Validate one extract and write its kept rows to the lake.

    Returns:
        The quarantined rows and the extract's reconciled row counts.
    """
    extract = pipeline.ingest_extract(path, kind, day, settings, docs_dir)
    get_run_logger().info("%s extract: %s", kind, extract.counts)
    return extract.quarantine, extract.counts


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, persist_result=False)
def store_quarantine(quarantine: pd.DataFrame, day: date, settings: Settings) -> int:
    """Replace the day's quarantine partition; returns its row count."""
    pipeline.write_quarantine(quarantine, day, settings)
    return len(quarantine)


@flow(name="ingest", validate_parameters=False)
def ingest_flow(
    service_date: date, mar_path: pipeline.Inputs, claims_path: pipeline.Inputs, settings: Settings,
    run_dir: Path | None = None,
) -> dict[str, dict[str, int]]:
    """Validate both extracts of ``service_date`` and load them into the lake.

    The two extracts are validated as concurrent tasks (the same steps as
    :func:`flows.pipeline.ingest_day`). Returns row counts per extract; each
    reconciles (in = kept + quarantined).
    """
    run_dir = Path(run_dir or settings.run_dir(service_date))
    futures = {
        kind: ingest_extract.submit(path, kind, service_date, settings, run_dir / "validation" / kind)
        for kind, path in zip(pipeline.EXTRACT_KINDS, (mar_path, claims_path))
    }
    counts: dict[str, dict[str, int]] = {}
    quarantined = []
    for kind, future in futures.items():
        quarantine, counts[kind] = future.result()
        quarantined.append(quarantine)
    store_quarantine(pd.concat(quarantined, ignore_index=True), service_date, settings)
    return counts
