"""``make bench``: time each stage on a larger synthetic workload.

Usage: python -m flows.bench [--days 30] [--encounters 400]

Prints seconds and rows per second for reading + staging + validating the
extracts (Great Expectations), classifying drugs, rebuilding the timeline,
coding and comparing. A benchmark, not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import flows  # noqa: F401  (telemetry off)
from flows.pipeline import drug_reference, load_and_validate
from flows.settings import Settings
from transforms.engine.classify import classify_events
from transforms.engine.coding import code_facility, evidence_text
from transforms.findings.compare import compare
from transforms.synthetic.generator import generate, write_extracts
from transforms.engine.timeline import build_timeline


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--encounters", type=int, default=400, help="encounters per day")
    args = parser.parse_args(argv)
    settings = Settings()
    timings: list[tuple[str, float, int]] = []

    def step(name: str, rows: int, fn):
        t0 = time.perf_counter()
        out = fn()
        timings.append((name, time.perf_counter() - t0, rows))
        return out

    x = step("generate synthetic extracts", 0, lambda: generate(seed=1, days=args.days,
                                                                encounters_per_day=args.encounters))
    n_mar, n_claims = len(x.mar), len(x.claims)
    with tempfile.TemporaryDirectory() as tmp:
        paths = step("write CSV extracts", n_mar + n_claims, lambda: write_extracts(x, Path(tmp)))
        drug_reference(settings)  # load once, outside the timings
        mar = step("read + stage + validate MAR (GX)", n_mar, lambda: load_and_validate(paths["mar"], "mar", settings))
        claims = step("read + stage + validate claims (GX)", n_claims,
                      lambda: load_and_validate(paths["claims"], "claims", settings))
    events = step("classify drugs", n_mar, lambda: classify_events(mar.kept, drug_reference(settings), settings.policy))
    tl = step("rebuild timeline", n_mar, lambda: build_timeline(events, settings.policy))
    coding = step("code expected lines", len(tl.administrations),
                  lambda: code_facility(tl, settings.policy, settings.facility_tz))
    admins = tl.administrations.merge(coding.roles, on=["admin_id", "encounter_id"])
    admins["evidence"] = evidence_text(admins, settings.facility_tz)
    step("compare with billed lines", n_claims,
         lambda: compare(coding.expected_lines, claims.kept, admins, coding.hydration, tl.missing_stops, tl.blocks,
                         min_overlap_minutes=settings.policy.concurrent_min_overlap_minutes))

    encounters = x.truth["encounter_id"].nunique()
    print(f"workload: {encounters} encounters, {n_mar} MAR events, {n_claims} claim lines")
    print(f"{'step':40s} {'seconds':>8s} {'rows/s':>10s}")
    for name, seconds, rows in timings:
        rate = f"{rows / seconds:10.0f}" if rows and seconds else f"{'':>10s}"
        print(f"{name:40s} {seconds:8.2f} {rate}")
    engine = sum(s for n, s, _ in timings if n in {"classify drugs", "rebuild timeline", "code expected lines",
                                                     "compare with billed lines"})
    print(f"{'engine total (classify..compare)':40s} {engine:8.2f} {encounters / engine:10.0f} encounters/s")


if __name__ == "__main__":
    main()
