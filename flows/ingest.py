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
    path: Path, kind: str, day: date, settings: Settings, docs_dir: Path
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Validate one extract and write its kept rows to the lake.

    Returns:
        The quarantined rows and the extract's reconciled row counts.
    """
    extract = pipeline.load_and_validate(path, kind, settings, docs_dir)
    pipeline.ingest_to_lake(extract, day, settings)
    get_run_logger().info("%s extract: %s", kind, extract.counts)
    return extract.quarantine, extract.counts


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, persist_result=False)
def store_quarantine(quarantine: pd.DataFrame, day: date, settings: Settings) -> int:
    """Replace the day's quarantine partition; returns its row count."""
    pipeline.write_quarantine(quarantine, day, settings)
    return len(quarantine)


@flow(name="ingest", validate_parameters=False)
def ingest_flow(
    service_date: date,
    mar_path: Path,
    claims_path: Path,
    settings: Settings | None = None,
    run_dir: Path | None = None,
) -> dict[str, dict[str, int]]:
    """Validate both extracts of ``service_date`` and load them into the lake.

    Returns:
        Row counts per extract; each reconciles (in = kept + quarantined).
    """
    settings = settings or Settings.from_env()
    run_dir = Path(run_dir or settings.lake_root.parent / "runs" / service_date.isoformat())
    futures = {
        kind: ingest_extract.submit(Path(path), kind, service_date, settings, run_dir / "validation" / kind)
        for kind, path in (("mar", mar_path), ("claims", claims_path))
    }
    counts: dict[str, dict[str, int]] = {}
    quarantined = []
    for kind, future in futures.items():
        quarantine, counts[kind] = future.result()
        quarantined.append(quarantine)
    store_quarantine(pd.concat(quarantined, ignore_index=True), service_date, settings)
    return counts
