"""Prefect audit flow: one service date from the lake -> expected lines and findings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows import pipeline, runners
from flows.settings import Settings
from transforms.audit import AuditResult
from transforms.outputs import lake
from transforms.outputs.files import begin_run_dir
from transforms.shards import combine_results, iter_shards


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, persist_result=False)
def load_day(
    day: date, settings: Settings, staged: pipeline.StagedDay | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MAR events and claim lines of the day's encounters, from the lake (and ``staged``, the new day in memory)."""
    return pipeline.load_day_from_lake(day, settings, staged)


@task(cache_policy=NO_CACHE, persist_result=False)
def audit_day(mar: pd.DataFrame, claims: pd.DataFrame, settings: Settings) -> AuditResult:
    """Recompute the expected lines and compare them with the billed ones."""
    return pipeline.audit(mar, claims, settings)


def audit_on_runner(mar: pd.DataFrame, claims: pd.DataFrame, settings: Settings) -> AuditResult:
    """The day's audit as one task; on Dask (``settings.dask_address``, a health
    system's whole day) one task per shard of ``settings.shard_encounters``
    encounters, run by the cluster's workers and combined in shard order.

    Same frames either way (:mod:`transforms.shards`: an encounter's lines
    and findings never depend on another's)."""
    if settings.dask_address is None:
        return audit_day(mar, claims, settings)
    futures = [audit_day.submit(shard.mar, shard.claims, settings)
               for shard in iter_shards(mar, claims, settings.shard_encounters)]
    return combine_results([future.result() for future in futures])


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, persist_result=False)
def publish(
    result: AuditResult, day: date, settings: Settings, out_dir: Path,
    counts: dict[str, dict[str, int]], truth: pd.DataFrame | None, staged: pipeline.StagedDay | None = None,
    audited: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Commit the day's lake partitions in one transaction, then write the run's files; returns the summary."""
    return pipeline.publish_day(result, day, settings, out_dir, counts, truth, staged, audited)


def _findings_table(findings: pd.DataFrame) -> list[dict[str, str]]:
    """Findings counted by key, direction and code: no encounter id, claim id or patient id.

    Artifacts live in the Prefect database and UI, which are not meant for
    coders: the encounters to work are in the run folder's worklist.csv.
    """
    if findings.empty:
        return []
    groups = [c for c in ("finding", "direction", "hcpcs") if c in findings]
    table = findings.groupby(groups, sort=True).agg(
        lines=("finding", "size"), encounters=("encounter_id", "nunique")
    ).reset_index()
    return table.sort_values("lines", ascending=False, kind="mergesort").astype(str).to_dict(orient="records")


def _artifacts(day: date, out_dir: Path, findings: pd.DataFrame) -> None:
    """The run's report and its findings counted by key as Prefect artifacts (no identifiers)."""
    create_markdown_artifact(
        key=f"audit-{day.isoformat()}",
        markdown=(out_dir / "report.md").read_text(encoding="utf-8"),
        description=f"Infusion claim audit for {day}",
    )
    create_table_artifact(
        key=f"top-findings-{day.isoformat()}",
        table=_findings_table(findings),
        description=f"Findings of {day} by key and code (the encounters are in worklist.csv)",
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
    summary = publish(result, service_date, settings, out_dir, counts or {}, truth,
                      audited=pipeline.audited_encounters(mar, claims))
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
    """Ingest one night's extracts, then audit that service date (as :func:`flows.pipeline.nightly_day`).

    The extracts are validated as concurrent tasks and kept in memory; the
    day's five lake datasets are committed in ONE transaction by ``publish``,
    so a run killed at any moment leaves the day entirely old or entirely new.
    A broken extract is refused before the audit (``check_day``): the lake is
    unchanged, no findings are published and the run folder says why.

    Raises:
        transforms.outputs.lake.LakeBusy: another run of the day is under way.
        transforms.ingest.usability.UnusableExtract: the day was refused.
    """
    from flows.ingest import check_day, stage_extracts

    out_dir = Path(out_dir or settings.run_dir(service_date))
    with lake.day_lock(settings.lake_root, service_date):
        partial = begin_run_dir(out_dir)  # validation docs go with the new run folder
        staged = stage_extracts(service_date, mar_path, claims_path, settings, partial / "validation")
        check_day(staged, settings, out_dir)
        mar, claims = load_day(service_date, settings, staged)
        result = audit_on_runner(mar, claims, settings)
        summary = publish(result, service_date, settings, out_dir, staged.counts, truth, staged,
                          pipeline.audited_encounters(mar, claims))
    _artifacts(service_date, out_dir, pd.read_csv(out_dir / "findings.csv", dtype=str, keep_default_na=False))
    get_run_logger().info("nightly %s: %s findings", service_date, summary["findings"])
    return summary


def run_nightly(
    service_date: date, mar_path: pipeline.Inputs, claims_path: pipeline.Inputs, settings: Settings,
    out_dir: Path | None = None, truth: pd.DataFrame | None = None,
) -> dict[str, object]:
    """:func:`nightly_flow` on the task runner ``settings.dask_address`` names
    (:func:`flows.runners.task_runner`), with one Prefect API shared by every
    Dask worker: a night runs local or distributed by that one setting, as a
    backfill does (:func:`flows.backfill.run_backfill`).

    Raises:
        ValueError: a malformed ``dask_address``.
        RuntimeError: a scheduler address with no ``PREFECT_API_URL``.
    """
    with runners.on_runner(nightly_flow, settings.dask_address) as nightly:
        return nightly(service_date, mar_path, claims_path, settings, out_dir, truth)


# Prefect records every flow-run parameter in its database (flow_run.parameters,
# shown in the UI). The demo and tests pass the synthetic ground truth as a
# DataFrame of encounter ids: record any DataFrame as "<DataFrame: N rows>".
def _frames_as_placeholders(serialize):  # type: ignore[no-untyped-def]
    def serialize_parameters(parameters: dict[str, object]) -> dict[str, object]:
        return serialize({k: f"<DataFrame: {len(v)} rows>" if isinstance(v, pd.DataFrame) else v
                          for k, v in parameters.items()})
    return serialize_parameters


for _flow in (audit_flow, nightly_flow):
    _flow.serialize_parameters = _frames_as_placeholders(_flow.serialize_parameters)  # type: ignore[method-assign]
