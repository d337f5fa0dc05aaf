"""Composition root: the steps of a run, callable with or without Prefect.

The Prefect tasks in :mod:`flows.ingest` and :mod:`flows.audit` call these
functions; the ``infusion-audit audit`` command calls them directly, so a
files-in/files-out audit needs no Prefect server.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import pandas as pd

from expectations.runner import validate_extract
from flows.settings import Settings
from transforms.outputs import lake
from transforms.audit import AuditResult, run_audit
from transforms.reference.drugs import DrugReference, load_drug_reference
from transforms.reference.ncci import EditTables, load_edit_directory
from transforms.reference.fees import FeeSchedule, load_fee_schedule
from transforms.ingest.quarantine import split_quarantine
from transforms.ingest.readers import read_extract, stage_claims, stage_mar
from transforms.outputs.summary import render_markdown, summarise
from transforms.outputs.report_html import render_run_dir, trend_from_findings
from transforms.outputs.worklist import worklist
from transforms.vocab.schemas import (
    CLAIM_ARROW,
    EXPECTED_ARROW,
    EXPECTED_COLUMNS,
    FINDING_COLUMNS,
    FINDINGS_ARROW,
    MAR_ARROW,
    QUARANTINE_COLUMNS,
)

log = logging.getLogger("infusion_audit")

# Event identity across nightly extracts (an encounter spanning two nights
# may be extracted twice): the newest extract wins.
MAR_EVENT_KEY = ["encounter_id", "infusate_id", "drug", "action", "event_time", "access_site"]
CLAIM_LINE_KEY = ["claim_id", "line_number"]


@dataclass(frozen=True)
class ValidatedExtract:
    """One extract after staging and validation.

    ``counts`` always reconciles: rows_in == rows_kept + rows_quarantined.
    """

    kind: str
    kept: pd.DataFrame
    quarantine: pd.DataFrame
    counts: dict[str, int]


@lru_cache(maxsize=4)
def _reference(extra: Path | None) -> DrugReference:
    return load_drug_reference(extra=extra)


def drug_reference(settings: Settings) -> DrugReference:
    """The shipped drug reference plus the user's own list, loaded once."""
    return _reference(settings.drug_list)


def load_and_validate(path: Path, kind: str, settings: Settings, docs_dir: Path | None = None) -> ValidatedExtract:
    """Read, stage and validate one extract; split kept and quarantined rows.

    Raises:
        transforms.ingest.readers.ExtractError: the file cannot be used at all.
    """
    raw = read_extract(Path(path), kind)  # type: ignore[arg-type]
    staged = stage_mar(raw, settings.facility_tz) if kind == "mar" else stage_claims(raw)
    outcome = validate_extract(staged, kind, docs_dir=docs_dir)  # type: ignore[arg-type]
    kept, quarantine = split_quarantine(staged, raw, outcome.failures, kind)  # type: ignore[arg-type]
    counts = {"rows_in": len(raw), "rows_kept": len(kept), "rows_quarantined": len(quarantine)}
    if counts["rows_in"] != counts["rows_kept"] + counts["rows_quarantined"]:
        raise AssertionError(f"{kind}: row counts do not reconcile: {counts}")
    log.info("%s extract: %d rows in, %d kept, %d quarantined", kind, *counts.values())
    return ValidatedExtract(kind=kind, kept=kept, quarantine=quarantine, counts=counts)


@lru_cache(maxsize=4)
def _fees(path: Path | None) -> FeeSchedule:
    return load_fee_schedule(path)


@lru_cache(maxsize=4)
def _edits(directory: Path | None) -> EditTables | None:
    return load_edit_directory(directory) if directory is not None else None


def audit_frames(mar: pd.DataFrame, claims: pd.DataFrame, settings: Settings) -> AuditResult:
    """Run the pure audit on validated frames (fee schedule and NCCI/MUE
    tables from the settings, each loaded once per process)."""
    return run_audit(
        mar, claims, drug_reference(settings), settings.policy, settings.facility_tz,
        edits=_edits(settings.ncci_dir), fees=_fees(settings.fee_schedule),
    )


def write_outputs(
    out_dir: Path,
    result: AuditResult,
    quarantine: pd.DataFrame,
    counts: dict[str, dict[str, int]],
    settings: Settings,
    truth: pd.DataFrame | None = None,
    trend: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Write the contract files and a summary into ``out_dir``.

    Files: ``expected_codes.csv``, ``findings.csv``, ``quarantine.csv``
    (contract section 3), ``worklist.csv`` (the findings ordered for
    action, safe to open in a spreadsheet), ``administrations.csv`` (the reconstructed
    timeline), ``summary.json``, ``report.md`` and ``report.html`` (one
    self-contained page; ``trend`` adds the days of the lake).

    Returns:
        The summary dictionary (also written to ``summary.json``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    expected = result.expected_lines[list(EXPECTED_COLUMNS)]
    expected.to_csv(out_dir / "expected_codes.csv", index=False)
    findings = result.findings
    findings[list(FINDING_COLUMNS) + [c for c in findings.columns if c not in FINDING_COLUMNS]].to_csv(
        out_dir / "findings.csv", index=False
    )
    worklist(findings).to_csv(out_dir / "worklist.csv", index=False)
    q = quarantine if not quarantine.empty else pd.DataFrame(columns=list(QUARANTINE_COLUMNS))
    q.to_csv(out_dir / "quarantine.csv", index=False)
    admin_cols = ["encounter_id", "admin_id", "site_group", "role", "drug_label", "drug_class", "kind", "route",
                  "site", "start", "end", "minutes", "infusates", "n_components"]
    admins = result.administrations[admin_cols].copy()
    for col in ("start", "end"):  # facility wall time with its offset, like the evidence
        admins[col] = pd.to_datetime(admins[col], utc=True).dt.tz_convert(settings.facility_tz).dt.strftime(
            "%Y-%m-%dT%H:%M:%S%z")
    admins.to_csv(out_dir / "administrations.csv", index=False)
    summary = summarise(result, counts, settings.policy, truth)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    (out_dir / "report.md").write_text(render_markdown(summary), encoding="utf-8")
    (out_dir / "report.html").write_text(render_run_dir(out_dir, trend=trend), encoding="utf-8")
    return summary


def lake_trend(settings: Settings, last: date) -> pd.DataFrame | None:
    """Findings per audit date over every day in the lake up to ``last``."""
    days = [d for d in lake.days_present(settings.lake_root, "findings") if d <= last]
    if not days:
        return None
    findings = lake.read_days(settings.lake_root, "findings", days[0], last)
    return trend_from_findings(findings, days=days)


def audit_files(
    mar_path: Path, claims_path: Path, out_dir: Path, settings: Settings, truth: pd.DataFrame | None = None
) -> dict[str, object]:
    """Files in, files out: validate both extracts, audit, write outputs."""
    out_dir = Path(out_dir)
    docs = out_dir / "validation"
    mar = load_and_validate(mar_path, "mar", settings, docs / "mar")
    claims = load_and_validate(claims_path, "claims", settings, docs / "claims")
    result = audit_frames(mar.kept, claims.kept, settings)
    quarantine = pd.concat([mar.quarantine, claims.quarantine], ignore_index=True)
    return write_outputs(out_dir, result, quarantine, {"mar": mar.counts, "claims": claims.counts}, settings, truth)


# --- lake steps (used by the Prefect flows) ------------------------------

def ingest_to_lake(extract: ValidatedExtract, day: date, settings: Settings) -> None:
    """Replace ``day``'s partition of the extract's lake dataset."""
    if extract.kind == "mar":
        lake.write_day(extract.kept, settings.lake_root, "mar_events", day, MAR_ARROW)
    else:
        lake.write_day(extract.kept, settings.lake_root, "claim_lines", day, CLAIM_ARROW)


def write_quarantine(quarantine: pd.DataFrame, day: date, settings: Settings) -> None:
    """Replace ``day``'s quarantine partition (both sources in one table)."""
    lake.write_day(quarantine, settings.lake_root, "quarantine", day)


def load_day_from_lake(day: date, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MAR events and claim lines of the encounters of ``day``.

    The encounters of a day are those in that day's MAR or claim partition;
    their rows are read from the ``lookback_days`` before it too, so an
    encounter that spans midnight is complete. Rows extracted on several
    nights are kept once (the newest).
    """
    first = day - timedelta(days=settings.lookback_days)
    mar = lake.read_days(settings.lake_root, "mar_events", first, day)
    claims = lake.read_days(settings.lake_root, "claim_lines", first, day)
    if mar.empty and claims.empty:
        raise FileNotFoundError(f"no lake partitions for {day} under {settings.lake_root}")
    today = set()
    for frame in (mar, claims):
        if not frame.empty:
            today |= set(frame.loc[frame[lake.PARTITION_KEY] == day, "encounter_id"])
    out = []
    for frame, key in ((mar, MAR_EVENT_KEY), (claims, CLAIM_LINE_KEY)):
        if frame.empty:
            out.append(frame)
            continue
        frame = frame[frame["encounter_id"].isin(today)]
        frame = frame.sort_values(lake.PARTITION_KEY).drop_duplicates(key, keep="last")
        out.append(frame.drop(columns=[lake.PARTITION_KEY]).reset_index(drop=True))
    mar, claims = out
    if "event_time" in mar:
        mar["event_time"] = pd.to_datetime(mar["event_time"], utc=True)
    return mar, claims


def audit_to_lake(result: AuditResult, day: date, settings: Settings) -> None:
    """Replace ``day``'s expected-lines and findings partitions."""
    lake.write_day(result.expected_lines, settings.lake_root, "expected_lines", day, EXPECTED_ARROW)
    lake.write_day(result.findings, settings.lake_root, "findings", day, FINDINGS_ARROW)
