"""``make bench``: time each stage of the composition root on a synthetic workload.

Usage: python -m flows.bench [--days 30] [--encounters 400]

Runs the stages of :mod:`flows.pipeline` exactly as a run does (load,
validate, audit with its engine steps, write) and prints seconds and rows per
second for each. A benchmark, not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

import flows  # noqa: F401  (telemetry off)
from flows import pipeline
from flows.settings import Settings
from transforms.synthetic.generator import generate, write_extracts


class StageClock:
    """Seconds per named stage, in the order the stages ran."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, int]] = []

    def run(self, name: str, rows: int, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        self.rows.append((name, time.perf_counter() - t0, rows))
        return out

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """A context manager per engine step (handed to :func:`flows.pipeline.audit`)."""
        t0 = time.perf_counter()
        yield
        self.rows.append((f"  audit: {name}", time.perf_counter() - t0, 0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--encounters", type=int, default=400, help="encounters per day")
    args = parser.parse_args(argv)
    settings = Settings()
    clock = StageClock()
    x = clock.run("generate synthetic extracts", 0,
                  lambda: generate(seed=1, days=args.days, encounters_per_day=args.encounters))
    n_mar, n_claims = len(x.mar), len(x.claims)
    pipeline.drug_reference(settings)  # load once, outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        paths = clock.run("write CSV extracts", n_mar + n_claims, lambda: write_extracts(x, Path(tmp) / "in"))
        loaded = {kind: clock.run(f"load {kind}", n, lambda kind=kind: pipeline.load(paths[kind], kind, settings))
                  for kind, n in (("mar", n_mar), ("claims", n_claims))}
        valid = {kind: clock.run(f"validate {kind} (GX)", len(loaded[kind].raw),
                                 lambda kind=kind: pipeline.validate(loaded[kind]))
                 for kind in loaded}
        result = clock.run("audit", n_mar, lambda: pipeline.audit(valid["mar"].kept, valid["claims"].kept,
                                                                   settings, timer=clock.step))
        counts = {kind: v.counts for kind, v in valid.items()}
        quarantine = pd.concat([v.quarantine for v in valid.values()], ignore_index=True)
        clock.run("write run folder", len(result.findings),
                  lambda: pipeline.write(Path(tmp) / "out", result, quarantine, counts, settings))
    encounters = x.truth["encounter_id"].nunique()
    print(f"workload: {encounters} encounters, {n_mar} MAR events, {n_claims} claim lines")
    print(f"{'stage':40s} {'seconds':>8s} {'rows/s':>10s}")
    for name, seconds, rows in clock.rows:
        rate = f"{rows / seconds:10.0f}" if rows and seconds else f"{'':>10s}"
        print(f"{name:40s} {seconds:8.2f} {rate}")
    audit_seconds = next(s for n, s, _ in clock.rows if n == "audit")
    print(f"{'audit total':40s} {audit_seconds:8.2f} {encounters / audit_seconds:10.0f} encounters/s")


if __name__ == "__main__":
    main()
