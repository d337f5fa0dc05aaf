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
from transforms.outputs import lake
from transforms.audit import AuditResult

TOP_FINDINGS = 25


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, persist_result=False)
def load_day(day: date, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MAR events and claim lines of the day's encounters, from the lake."""
    return pipeline.load_day_from_lake(day, settings)


@task(cache_policy=NO_CACHE, persist_result=False)
def audit_day(mar: pd.DataFrame, claims: pd.DataFrame, settings: Settings) -> AuditResult:
    """Recompute the expected lines and compare them with the billed ones."""
    return pipeline.audit_frames(mar, claims, settings)


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, persist_result=False)
def publish(
    result: AuditResult, day: date, settings: Settings, out_dir: Path,
    counts: dict[str, dict[str, int]], truth: pd.DataFrame | None,
) -> dict[str, object]:
    """Write the lake partitions and the run's files; returns the summary."""
    pipeline.audit_to_lake(result, day, settings)
    q = lake.read_days(settings.lake_root, "quarantine", day, day).drop(columns=[lake.PARTITION_KEY], errors="ignore")
    trend = pipeline.lake_trend(settings, day)
    return pipeline.write_outputs(out_dir, result, q, counts, settings, truth, trend)


def top_findings(findings: pd.DataFrame, n: int = TOP_FINDINGS) -> list[dict[str, str]]:
    """The findings to act on first: over-billing, then the largest unit gaps."""
    if findings.empty:
        return []
    f = findings.copy()
    gap = (pd.to_numeric(f["billed_units"]) - pd.to_numeric(f["expected_units"])).abs()
    order = f.assign(_over=f["direction"].eq("over_billed"), _gap=gap)
    if "dollar_impact" in f:
        order["_dollars"] = pd.to_numeric(f["dollar_impact"], errors="coerce").abs().fillna(0)
    else:
        order["_dollars"] = 0.0
    order = order.sort_values(["_over", "_dollars", "_gap"], ascending=False, kind="mergesort").head(n)
    cols = [c for c in ("encounter_id", "hcpcs", "billed_units", "expected_units", "finding", "direction",
                        "severity", "dollar_impact") if c in order]
    return order[cols].astype(str).to_dict(orient="records")


@flow(name="audit", validate_parameters=False)
def audit_flow(
    service_date: date,
    settings: Settings | None = None,
    out_dir: Path | None = None,
    counts: dict[str, dict[str, int]] | None = None,
    truth: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Audit the encounters of ``service_date`` held in the lake.

    Writes ``findings`` and ``expected_lines`` partitions for the day and the
    contract files into ``out_dir`` (default ``<lake>/../runs/<date>``).
    """
    settings = settings or Settings.from_env()
    out_dir = Path(out_dir or settings.lake_root.parent / "runs" / service_date.isoformat())
    mar, claims = load_day(service_date, settings)
    result = audit_day(mar, claims, settings)
    summary = publish(result, service_date, settings, out_dir, counts or {}, truth)
    create_markdown_artifact(
        key=f"audit-{service_date.isoformat()}",
        markdown=(out_dir / "report.md").read_text(encoding="utf-8"),
        description=f"Infusion claim audit for {service_date}",
    )
    create_table_artifact(
        key=f"top-findings-{service_date.isoformat()}",
        table=top_findings(pd.read_csv(out_dir / "findings.csv", dtype=str, keep_default_na=False)),
        description=f"Top findings of {service_date} (encounter ids; no patient identifiers)",
    )
    get_run_logger().info("audit %s: %s findings", service_date, summary["findings"])
    return summary


@flow(name="nightly", validate_parameters=False)
def nightly_flow(
    service_date: date,
    mar_path: Path,
    claims_path: Path,
    settings: Settings | None = None,
    out_dir: Path | None = None,
    truth: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Ingest one night's extracts, then audit that service date."""
    from flows.ingest import ingest_flow

    settings = settings or Settings.from_env()
    out_dir = Path(out_dir or settings.lake_root.parent / "runs" / service_date.isoformat())
    counts = ingest_flow(service_date, mar_path, claims_path, settings, out_dir)
    return audit_flow(service_date, settings, out_dir, counts, truth)
