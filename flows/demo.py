"""The demo: synthetic nights audited by the nightly flow on ephemeral Prefect.

Layout under the demo folder (all derived, reproducible from the seed):

    extracts/<date>/mar.csv, claims.csv, truth.csv   one night's extracts
    lake/<dataset>/audit_date=<date>/                the Parquet lake
    runs/<date>/                                     each night's outputs
    summary.md                                       totals over all nights
"""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from flows.settings import Settings
from transforms.outputs.summary import score
from transforms.synthetic.generator import SyntheticExtracts, generate, write_extracts


def split_by_night(extracts: SyntheticExtracts, facility_tz: str) -> dict[date, SyntheticExtracts]:
    """One extract per night: each encounter goes to the night it started.

    The deliberately malformed rows (an unparseable time, say) go to the first
    night, so its quarantine shows them.
    """
    times = pd.to_datetime(extracts.mar["event_time"], utc=True, errors="coerce")
    first = times.groupby(extracts.mar["encounter_id"]).min().dt.tz_convert(facility_tz).dt.date
    opening = first.dropna().min()
    first = first.fillna(opening)
    nights: dict[date, SyntheticExtracts] = {}
    claim_night = extracts.claims["encounter_id"].map(first).fillna(opening)
    mar_night = extracts.mar["encounter_id"].map(first).fillna(opening)  # no id: opening night
    for night in sorted(set(first)):
        ids = set(first[first == night].index)
        nights[night] = SyntheticExtracts(
            mar=extracts.mar[mar_night == night].reset_index(drop=True),
            claims=extracts.claims[claim_night == night].reset_index(drop=True),
            truth=extracts.truth[extracts.truth["encounter_id"].isin(ids)].reset_index(drop=True),
            bad_rows=extracts.bad_rows,
            facility_tz=facility_tz,
        )
    return nights


def run_demo(out: Path, *, days: int = 3, encounters_per_day: int = 120, seed: int = 7,
             settings: Settings | None = None, start: date = date(2026, 11, 2), bad_rows: int = 6) -> int:
    """Generate, ingest and audit ``days`` nights; print where the reports are.

    Returns 0 when the audit found at least 99 % of the injected errors and
    raised nothing on correctly billed encounters, 1 otherwise.
    """
    from flows.audit import nightly_flow

    t0 = time.perf_counter()
    settings = (settings or Settings()).with_(lake_root=Path(out) / "lake")
    extracts = generate(seed=seed, start=start, days=days, encounters_per_day=encounters_per_day,
                        facility_tz=settings.facility_tz, bad_row_count=bad_rows)
    # The nights can be written as FHIR NDJSON and X12 837 instead of the canonical CSV.
    formats = {"mar_format": "fhir" if settings.mar_format == "fhir" else "canonical",
               "claims_format": "x12" if settings.claims_format == "x12" else "canonical"}
    if formats["claims_format"] == "x12":
        settings = settings.with_(x12_account_ref="REF[D9]")  # where the writer puts the encounter
    all_findings = []
    runs = []
    for night, part in split_by_night(extracts, settings.facility_tz).items():
        if night >= start + timedelta(days=days):
            continue
        paths = write_extracts(part, Path(out) / "extracts" / night.isoformat(), **formats)
        run_dir = settings.run_dir(night)
        summary = nightly_flow(night, paths["mar"], paths["claims"], settings, run_dir, part.truth)
        all_findings.append(pd.read_csv(run_dir / "findings.csv", dtype=str, keep_default_na=False))
        runs.append((night, run_dir, summary))
    findings = pd.concat(all_findings, ignore_index=True)
    total = score(findings, extracts.truth)
    elapsed = time.perf_counter() - t0

    lines = ["# Demo: synthetic nights audited", ""]
    for night, run_dir, summary in runs:
        lines.append(f"- {night}: {summary['findings']} findings on {summary['encounters_with_findings']} of "
                     f"{summary['encounters_audited']} encounters -> {run_dir / 'report.html'}")
    rows = {k: sum(s["rows"][k]["rows_quarantined"] for _, _, s in runs) for k in ("mar", "claims")}
    lines += ["", f"Quarantined rows (malformed on purpose): MAR {rows['mar']}, claims {rows['claims']};"
              f" each night reconciles rows in = kept + quarantined.", "", "## Findings by key (all nights)", ""]
    by_key = findings["finding"].value_counts().sort_index()
    lines += [f"- {k}: {n}" for k, n in by_key.items()]
    lines += ["", "## Against the injected errors", "",
              f"- injected errors found: {total['detected']} of {total['injected']} (recall {total['recall']:.1%})",
              f"- correctly billed encounters with a finding: {total['clean_encounters_flagged']} of "
              f"{total['clean_encounters']}",
              f"- elapsed: {elapsed:.0f} s"]
    text = "\n".join(lines) + "\n"
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "summary.md").write_text(text, encoding="utf-8")
    (Path(out) / "score.json").write_text(json.dumps(total, indent=2, default=str), encoding="utf-8")
    print(text)
    print(f"demo summary: {Path(out) / 'summary.md'}")
    print(f"last night's report: {runs[-1][1] / 'report.html'}" if runs else "no nights generated")
    ok = total["recall"] >= 0.99 and total["clean_encounters_flagged"] == 0
    return 0 if ok else 1
