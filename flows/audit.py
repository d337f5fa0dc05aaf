"""Prefect audit flow: one service date from the lake -> expected lines and findings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows import pipeline
from flows.settings import Settings
from transforms.audit import AuditResult
from transforms.outputs.worklist import top_findings


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, persist_result=False)
def load_day(day: date, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MAR events and claim lines of the day's encounters, from the lake."""
    return pipeline.load_day_from_lake(day, settings)


@task(cache_policy=NO_CACHE, persist_result=False)
def audit_day(mar: pd.DataFrame, claims: pd.DataFrame, settings: Settings) -> AuditResult:
    """Recompute the expected lines and compare them with the billed ones."""
    return pipeline.audit(mar, claims, settings)


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, persist_result=False)
def publish(
    result: AuditResult, day: date, settings: Settings, out_dir: Path,
    counts: dict[str, dict[str, int]], truth: pd.DataFrame | None,
) -> dict[str, object]:
    """Write the lake partitions and the run's files; returns the summary."""
    return pipeline.publish_day(result, day, settings, out_dir, counts, truth)


def _artifacts(day: date, out_dir: Path, findings: pd.DataFrame) -> None:
    """The run's report and its top findings as Prefect artifacts (encounter ids only)."""
    create_markdown_artifact(
        key=f"audit-{day.isoformat()}",
        markdown=(out_dir / "report.md").read_text(encoding="utf-8"),
        description=f"Infusion claim audit for {day}",
    )
    create_table_artifact(
        key=f"top-findings-{day.isoformat()}",
        table=top_findings(findings),
        description=f"Top findings of {day} (encounter ids; no patient identifiers)",
    )


@flow(name="audit", validate_parameters=False)
def audit_flow(
    service_date: date,
    settings: Settings,
    out_dir: Path | None = None,
    counts: dict[str, dict[str, int]] | None = None,
    truth: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Audit the encounters of ``service_date`` held in the lake.

    Writes ``findings`` and ``expected_lines`` partitions for the day and the
    run folder into ``out_dir`` (default :meth:`Settings.run_dir`).
    """
    out_dir = Path(out_dir or settings.run_dir(service_date))
    mar, claims = load_day(service_date, settings)
    result = audit_day(mar, claims, settings)
    summary = publish(result, service_date, settings, out_dir, counts or {}, truth)
    _artifacts(service_date, out_dir, pd.read_csv(out_dir / "findings.csv", dtype=str, keep_default_na=False))
    get_run_logger().info("audit %s: %s findings", service_date, summary["findings"])
    return summary


@flow(name="nightly", validate_parameters=False)
def nightly_flow(
    service_date: date,
    mar_path: pipeline.Inputs,
    claims_path: pipeline.Inputs,
    settings: Settings,
    out_dir: Path | None = None,
    truth: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Ingest one night's extracts, then audit that service date (as :func:`flows.pipeline.nightly_day`)."""
    from flows.ingest import ingest_flow

    out_dir = Path(out_dir or settings.run_dir(service_date))
    counts = ingest_flow(service_date, mar_path, claims_path, settings, out_dir)
    return audit_flow(service_date, settings, out_dir, counts, truth)
