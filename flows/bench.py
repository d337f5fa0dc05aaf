"""``make bench``: time every stage of the composition root on bulk synthetic workloads.

Usage: python -m flows.bench [--sizes 10000,100000,1000000] [--repeat 3] [--runs 3]
                             [--backfill-nights 3,30] [--night-encounters 2000]
                             [--out data/bench/results.json] [--quick]

For each size (encounters), fresh subprocesses, so that the peak
memory belongs to one size and one job:

1. generate: :func:`transforms.synthetic.bulk.bulk_extracts` (copies of one
   seeded base sample, ids rewritten) and :func:`~transforms.synthetic.bulk.write_bulk`
   (canonical CSV); timed, reported apart, not part of the audit.
2. measure, ``--runs`` times, each in a fresh subprocess: the stages of
   :mod:`flows.pipeline` as a run does them: load, validate (Great
   Expectations), audit (each engine step through the ``timer`` hook), write
   the run folder; and the CPU seconds they took (this process and its shard
   helpers, user and system). Then the floor: a plain pyarrow read of the
   same CSV files plus a group-by of MAR events by encounter, best of
   ``--repeat``. A size's figures are those of its fastest run, as the floor
   is its fastest (:func:`best_run`: a virtual machine's stolen time only
   ever adds seconds); every run's total is kept beside them. The peak memory
   reported is the largest of the runs', each the run's with its shard
   helpers' (:class:`flows.tree_memory.TreeMemory`), read before the floor runs.

Then the backfill's memory (:mod:`flows.bench_backfill`): 3 and 30 nights of
2,000 encounters audited one after another in one process, each count in a
fresh subprocess: peak memory and memory after each night. And one night
audited in a fresh subprocess on a lake of 8 nights, then on the same lake
with 1,000 nights of history before them: its peak memory and seconds.

Start-up is the import of :mod:`flows.pipeline` (Great Expectations included)
in a fresh interpreter, best of ``--repeat``. Results go to the JSON file and
a markdown table beside it (``results.md``). A benchmark, not a test: nothing
asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import flows  # noqa: F401  (telemetry off before anything imports GX)
from flows import bench_backfill
from flows.tree_memory import TreeMemory, own_peak_mb

DEFAULT_SIZES: tuple[int, ...] = (10_000, 100_000, 1_000_000)
QUICK_SIZES: tuple[int, ...] = (10_000,)
DEFAULT_OUT = Path("data/bench/results.json")
#: Encounters of the seeded base sample every workload copies (fewer for a smaller workload).
BASE_ENCOUNTERS = 2000
#: Top-level stages whose seconds make the audit's total (CSV in to files out).
AUDIT_STAGES: tuple[str, ...] = ("load mar", "validate mar (GX)", "load claims", "validate claims (GX)",
                                 "audit", "write run folder")
STARTUP_CODE = "import time; t = time.perf_counter(); import flows.pipeline; print(time.perf_counter() - t)"


class StageClock:
    """Seconds (and peak memory so far) per named stage in the order run; engine steps
    summed over shards (:class:`~transforms.audit.StepSeconds`, the audit's ``timer``)."""

    def __init__(self, peak_mb: Callable[[], float] = own_peak_mb) -> None:
        from transforms.audit import StepSeconds  # here: the start-up measured is the child job's own imports

        self.stages: list[dict[str, Any]] = []
        self.steps = StepSeconds()
        self.peak_mb = peak_mb

    def run(self, name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        out = fn()
        self.stages.append({"stage": name, "seconds": time.perf_counter() - t0, "peak_mb_after": self.peak_mb()})
        return out


# --- the child jobs (each in a fresh interpreter) ---------------------------------

def generate_job(encounters: int, directory: Path, base: int) -> dict[str, Any]:
    """Generate and write one workload's CSV extracts into ``directory``; seconds and sizes."""
    from transforms.synthetic.bulk import bulk_extracts, write_bulk

    t0 = time.perf_counter()
    bulk = bulk_extracts(encounters, seed=1, base_encounters=min(base, encounters))
    t1 = time.perf_counter()
    paths = write_bulk(bulk, directory)
    t2 = time.perf_counter()
    return {"encounters": bulk.encounters, "replicas": bulk.replicas, "mar_rows": bulk.mar.num_rows,
            "claim_lines": bulk.claims.num_rows, "generate_seconds": t1 - t0, "write_csv_seconds": t2 - t1,
            "csv_mb": sum(paths[k].stat().st_size for k in ("mar", "claims")) / 1e6, "peak_mb": own_peak_mb()}


def measure_job(directory: Path, repeat: int) -> dict[str, Any]:
    """Every stage of a run on the CSV files in ``directory``, then the pyarrow floor.

    Peak memory is that of this process and the children the audit forks
    (:class:`flows.tree_memory.TreeMemory`), read before the floor runs;
    ``cpu_seconds`` is what the stages cost both (:func:`cpu_seconds`)."""
    cpu_before = cpu_seconds()
    with TreeMemory() as memory:
        measured = _run_stages(directory, StageClock(memory.peak_mb))
        audit_peak = memory.peak_mb()
    cpu = cpu_seconds() - cpu_before  # the helpers have ended (waited for): their seconds are in
    paths = {kind: directory / f"{kind}.csv" for kind in ("mar", "claims")}
    floors = [floor_seconds(paths) for _ in range(repeat)]
    return {**measured, "cpu_seconds": cpu, "floor_seconds": min(floors), "floor_runs": floors,
            "peak_mb": audit_peak, "peak_mb_with_floor": own_peak_mb()}


def cpu_seconds() -> float:
    """User and system CPU seconds of this process and of its children that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _run_stages(directory: Path, clock: StageClock) -> dict[str, Any]:
    """The stages of a run, each timed by ``clock``, as a run does them."""
    import pandas as pd

    from flows import pipeline, shard_audit
    from flows.settings import Settings

    settings = Settings()
    shard_audit.drug_reference(settings)  # read once per process, as every run after the first does
    paths = {kind: directory / f"{kind}.csv" for kind in ("mar", "claims")}
    valid = {}
    with ExitStack() as stack:
        for kind in paths:  # as a run does: each extract loaded, validated, and its raw rows dropped
            loaded = clock.run(f"load {kind}", lambda kind=kind: pipeline.load(paths[kind], kind, settings))
            valid[kind] = clock.run(f"validate {kind} (GX)", lambda loaded=loaded: pipeline.validate(loaded))
            del loaded
            if kind == "mar":  # as pipeline.audit_files: the helpers start while the claims are read
                helpers = stack.enter_context(pipeline.helpers_ahead(valid["mar"].kept, settings))
        counts = {kind: v.counts for kind, v in valid.items()}
        quarantine = pd.concat([v.quarantine for v in valid.values()], ignore_index=True)
        rows_kept = {k: v.counts["rows_kept"] for k, v in valid.items()}
        kept = [valid["mar"].kept, valid["claims"].kept]
        del valid  # as a run does (pipeline.audit_files): the audit takes the kept rows over and frees them
        result = clock.run("audit", lambda: pipeline.audit_taking(kept, settings, timer=clock.steps, helpers=helpers))
    with tempfile.TemporaryDirectory() as out:
        clock.run("write run folder", lambda: pipeline.write(Path(out) / "run", result, quarantine, counts, settings))
    return {"stages": clock.stages, "engine_steps": clock.steps, "rows_kept": rows_kept,
            "findings": len(result.findings), "expected_lines": len(result.expected_lines),
            "audit_processes": settings.audit_processes}


def floor_seconds(paths: dict[str, Path]) -> float:
    """Seconds for the least any audit must do: read both CSVs with pyarrow, count MAR events per encounter."""
    import pyarrow.csv as pacsv

    t0 = time.perf_counter()
    mar = pacsv.read_csv(paths["mar"])
    pacsv.read_csv(paths["claims"])
    mar.group_by("encounter_id").aggregate([("encounter_id", "count")])
    return time.perf_counter() - t0


# --- the parent: one size after another ------------------------------------------

def _child(args: list[str]) -> dict[str, Any]:
    """Run ``python -m flows.bench --job ...`` in a fresh interpreter; its JSON result."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        done = subprocess.run([sys.executable, "-m", "flows.bench", *args, "--result", str(result)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"bench job {args[:2]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(result.read_text(encoding="utf-8"))


def startup_seconds(repeat: int) -> list[float]:
    """Seconds to import :mod:`flows.pipeline` in a fresh interpreter, once per repeat."""
    runs = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", STARTUP_CODE], capture_output=True, text=True, check=True)
        runs.append(float(done.stdout.strip().splitlines()[-1]))
    return runs


def bench_size(encounters: int, repeat: int, base: int, runs: int) -> dict[str, Any]:
    """Generate one workload, then measure it ``runs`` times, each in a fresh subprocess (:func:`best_run`)."""
    with tempfile.TemporaryDirectory(prefix="infusion-bench-") as tmp:
        generated = _child(["--job", "generate", "--size", str(encounters), "--dir", tmp, "--base", str(base)])
        # The CSVs just written are still being flushed to disk: the first run would share the
        # machine with that flush (about 1.8 GB at 1M), the others not.
        os.sync()
        measured = [_child(["--job", "measure", "--dir", tmp, "--repeat", str(repeat)]) for _ in range(runs)]
    return best_run(encounters, generated, measured)


def audit_total(measured: dict[str, Any]) -> float:
    """Seconds of one measured run, CSV in to files out: the sum of :data:`AUDIT_STAGES`."""
    stages = {s["stage"]: s["seconds"] for s in measured["stages"]}
    return sum(stages[name] for name in AUDIT_STAGES)


def best_run(encounters: int, generated: dict[str, Any], measured: list[dict[str, Any]]) -> dict[str, Any]:
    """A size's figures from its measured runs (:func:`measure_job`, at least one).

    Stages, engine steps and CPU seconds are those of the fastest run (the
    least audit total), the floor the least of every floor run, the peak
    memory the largest of the runs'. ``run_totals`` and ``run_cpu_seconds``
    keep every run's, in the order run.
    """
    totals = [audit_total(m) for m in measured]
    total = min(totals)
    floors = [seconds for m in measured for seconds in m["floor_runs"]]
    floor = min(floors)
    return {"encounters": encounters, "generate": generated, **measured[totals.index(total)],
            "audit_total_seconds": total, "runs": len(measured), "run_totals": totals,
            "run_cpu_seconds": [m["cpu_seconds"] for m in measured], "floor_seconds": floor, "floor_runs": floors,
            "peak_mb": max(m["peak_mb"] for m in measured),
            "encounters_per_second": encounters / total, "ratio_to_floor": total / floor}


def backfill_runs(nights: list[int], encounters: int, lake_nights: int,
                  history: int) -> dict[str, list[dict[str, Any]]]:
    """One month of nights generated once, then each count of ``nights`` audited in a fresh
    subprocess, then the last of ``lake_nights`` nights audited again on their lake, without and
    with ``history`` nights before them (:mod:`flows.bench_backfill`)."""
    month = max(*nights, lake_nights)
    with tempfile.TemporaryDirectory(prefix="infusion-bench-nights-") as tmp:
        generated = _child(["--job", "generate-nights", "--dir", tmp, "--nights", str(month),
                            "--size", str(encounters)])
        runs = [{**_child(["--job", "nights", "--dir", tmp, "--nights", str(n)]),
                 "encounters_per_night": encounters, "generate_seconds": generated["generate_seconds"]}
                for n in nights]
        last = str(lake_nights - 1)
        _child(["--job", "build-lake", "--dir", tmp, "--nights", str(lake_nights)])
        lakes = [_child(["--job", "night-on-lake", "--dir", tmp, "--nights", last])]
        _child(["--job", "add-history", "--dir", tmp, "--nights", str(history)])
        lakes.append(_child(["--job", "night-on-lake", "--dir", tmp, "--nights", last]))
    return {"backfill": runs, "long_lake": lakes}


def add_marginals(sizes: list[dict[str, Any]]) -> None:
    """Seconds per 10,000 encounters: average, and marginal (slope from the previous size; None for the first).

    ``marginal_ratio_to_floor``: the same slope over the floor's slope between
    the same sizes (the audit's added seconds per added floor second, start-up
    and fixed costs left out); None for the first size, or when the floor did
    not grow (a noisy floor at small sizes)."""
    previous = None
    for size in sizes:
        size["seconds_per_10k"] = size["audit_total_seconds"] / size["encounters"] * 10_000
        size["marginal_seconds_per_10k"] = size["marginal_ratio_to_floor"] = None
        if previous is not None and size["encounters"] != previous["encounters"]:
            added = size["audit_total_seconds"] - previous["audit_total_seconds"]
            size["marginal_seconds_per_10k"] = added / (size["encounters"] - previous["encounters"]) * 10_000
            floor_added = size.get("floor_seconds", 0.0) - previous.get("floor_seconds", 0.0)
            if floor_added > 0:
                size["marginal_ratio_to_floor"] = added / floor_added
        previous = size


def machine() -> dict[str, Any]:
    """The machine and library versions the numbers belong to."""
    import pandas as pd
    import pyarrow as pa

    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "pandas": pd.__version__, "pyarrow": pa.__version__,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


# --- reporting -------------------------------------------------------------------

def stage_rows(size: dict[str, Any]) -> list[tuple[str, float]]:
    """(stage, seconds) in run order; engine steps indented under ``audit``, with its remainder.

    Steps are summed over shards; when shards ran in several processes at
    once their sum exceeds the audit's seconds: then they are labelled as
    summed over the processes, and no remainder is shown."""
    rows: list[tuple[str, float]] = []
    for stage in size["stages"]:
        rows.append((stage["stage"], stage["seconds"]))
        if stage["stage"] == "audit":
            steps = size["engine_steps"]
            at_once = sum(steps.values()) > stage["seconds"]
            suffix = " (summed over processes)" if at_once else ""
            rows += [(f"  audit: {name}{suffix}", seconds) for name, seconds in steps.items()]
            if not at_once:
                rows.append(("  audit: other (shards, concat)", stage["seconds"] - sum(steps.values())))
    return rows


def print_report(results: dict[str, Any]) -> None:
    """The stage table of each size, then the per-size summary lines."""
    startup = min(results["startup_seconds"])
    for size in results["sizes"]:
        n, total, gen = size["encounters"], size["audit_total_seconds"], size["generate"]
        print(f"\n{n:,} encounters: {gen['mar_rows']:,} MAR events, {gen['claim_lines']:,} claim lines "
              f"({gen['csv_mb']:.0f} MB CSV; generated in {gen['generate_seconds']:.2f} s, "
              f"written in {gen['write_csv_seconds']:.2f} s)")
        print(f"{'stage':36s} {'seconds':>9s} {'encounters/s':>13s} {'share':>6s}")
        for name, seconds in stage_rows(size):
            rate = f"{n / seconds:13,.0f}" if seconds > 0 else f"{'':>13s}"
            print(f"{name:36s} {seconds:9.2f} {rate} {seconds / total:6.1%}")
        marginal, marginal_ratio = size["marginal_seconds_per_10k"], size.get("marginal_ratio_to_floor")
        print(f"{'audit total (CSV in, files out)':36s} {total:9.2f} {size['encounters_per_second']:13,.0f}")
        print(f"  {_runs_text(size)}")
        print(f"  marginal s per 10k encounters: {'n/a' if marginal is None else f'{marginal:.2f}'}"
              f" (average {size['seconds_per_10k']:.2f}); floor {size['floor_seconds']:.2f} s"
              f" (x{size['ratio_to_floor']:.1f}"
              f"{'' if marginal_ratio is None else f'; marginal x{marginal_ratio:.1f}'}); start-up {startup:.2f} s;"
              f" peak memory of the audit {size['peak_mb']:,.0f} MB (generate {gen['peak_mb']:,.0f} MB);"
              f" audit processes {size.get('audit_processes', 1)}")
    for run in results.get("backfill", []):
        print(bench_backfill.summary_line(run))
    for run in results.get("long_lake", []):
        print(bench_backfill.lake_line(run))


def _runs_text(size: dict[str, Any]) -> str:
    """The runs behind a size's figures (:func:`best_run`): how many, every total, the best run's CPU seconds."""
    runs, totals = size["runs"], ", ".join(f"{t:.1f}" for t in size["run_totals"])
    return (f"best of {runs} run{'s' if runs != 1 else ''} (totals {totals} s); "
            f"its CPU {size['cpu_seconds']:.1f} s (the run and its helpers)")


def markdown(results: dict[str, Any]) -> str:
    """``results.md``: a summary table per size and a stage table, for the README."""
    sizes, m = results["sizes"], results["machine"]
    startup = min(results["startup_seconds"])
    lines = [f"Bench of {m['date'][:10]} on {m['cpu_count']} CPUs ({m['platform']}), Python {m['python']}, "
             f"pandas {m['pandas']}, pyarrow {m['pyarrow']}; start-up (import flows.pipeline) {startup:.2f} s.", "",
             "| encounters | MAR events | claim lines | generate + write CSV s | audit total s | encounters/s "
             "| marginal s / 10k | floor s | x floor | marginal x floor | peak MB |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in sizes:
        g, marginal, marginal_ratio = s["generate"], s["marginal_seconds_per_10k"], s.get("marginal_ratio_to_floor")
        lines.append(f"| {s['encounters']:,} | {g['mar_rows']:,} | {g['claim_lines']:,} | "
                     f"{g['generate_seconds']:.1f} + {g['write_csv_seconds']:.1f} | {s['audit_total_seconds']:.1f} | "
                     f"{s['encounters_per_second']:,.0f} | {'n/a' if marginal is None else f'{marginal:.2f}'} | "
                     f"{s['floor_seconds']:.2f} | {s['ratio_to_floor']:.0f} | "
                     f"{'n/a' if marginal_ratio is None else f'{marginal_ratio:.0f}'} | {s['peak_mb']:,.0f} |")
    lines += ["", "| stage | " + " | ".join(f"{s['encounters']:,} s" for s in sizes) + " | share (largest) |",
              "| --- | " + " | ".join("---:" for _ in sizes) + " | ---: |"]
    largest = sizes[-1]
    by_size = [dict(stage_rows(s)) for s in sizes]
    for name, seconds in stage_rows(largest):
        cells = " | ".join(f"{rows[name]:.2f}" if name in rows else "" for rows in by_size)
        lines.append(f"| {name.strip()} | {cells} | {seconds / largest['audit_total_seconds']:.0%} |")
    lines += ["", *(f"- {s['encounters']:,} encounters: {_runs_text(s)}" for s in sizes)]
    if results.get("backfill"):
        lines += ["", *(f"- {bench_backfill.summary_line(run)}" for run in results["backfill"])]
        lines += [f"- {bench_backfill.lake_line(run)}" for run in results.get("long_lake", [])]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="encounters per workload, comma separated (default 10000,100000,1000000)")
    parser.add_argument("--repeat", type=int, default=None, help="runs of the floor and the start-up (default 3)")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs of the pipeline per size, each in a fresh process; the fastest is reported "
                             "(default --repeat)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (results.md beside it)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 10,000 encounters, repeat 1, a backfill of 1 and of 2 small nights")
    parser.add_argument("--backfill-nights", help="nights of the backfill memory runs, comma separated "
                        "(default 3,30; 0: none)")
    parser.add_argument("--night-encounters", type=int, default=None,
                        help=f"encounters per night of those runs (default {bench_backfill.NIGHT_ENCOUNTERS:,})")
    parser.add_argument("--base", type=int, default=BASE_ENCOUNTERS, help=argparse.SUPPRESS)
    # the child jobs (flows.bench runs itself in fresh interpreters)
    for flag in ("--job", "--size", "--dir", "--result", "--nights"):
        parser.add_argument(flag, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    """Run the bench (or, with ``--job``, one child job); returns the results written."""
    args = _parser().parse_args(argv)
    if args.job is not None:
        jobs = {"generate": lambda: generate_job(int(args.size), Path(args.dir), args.base),
                "measure": lambda: measure_job(Path(args.dir), int(args.repeat)),
                "generate-nights": lambda: bench_backfill.generate_nights_job(Path(args.dir), int(args.nights),
                                                                              int(args.size)),
                "nights": lambda: bench_backfill.nights_job(Path(args.dir), int(args.nights)),
                "build-lake": lambda: bench_backfill.build_lake_job(Path(args.dir), int(args.nights)),
                "add-history": lambda: bench_backfill.add_history_job(Path(args.dir), int(args.nights)),
                "night-on-lake": lambda: bench_backfill.night_on_lake_job(Path(args.dir), int(args.nights))}
        Path(args.result).write_text(json.dumps(jobs[args.job]()), encoding="utf-8")
        return None
    default = QUICK_SIZES if args.quick else DEFAULT_SIZES
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(default)
    repeat = args.repeat or (1 if args.quick else 3)
    runs = args.runs or repeat
    results: dict[str, Any] = {"machine": machine(), "repeat": repeat, "runs": runs,
                               "startup_seconds": startup_seconds(repeat), "sizes": []}
    for encounters in sizes:
        print(f"bench: {encounters:,} encounters ...", flush=True)
        results["sizes"].append(bench_size(encounters, repeat, args.base, runs))
        add_marginals(results["sizes"])
        save(results, args.out)  # after every size: a long run stopped later keeps what it measured
    nights = ([int(n) for n in args.backfill_nights.split(",")] if args.backfill_nights
              else bench_backfill.QUICK_NIGHTS if args.quick else bench_backfill.DEFAULT_NIGHTS)
    nights = [n for n in nights if n > 0]
    if nights:
        print(f"bench: backfill memory, {', '.join(map(str, nights))} nights ...", flush=True)
        per_night = args.night_encounters or (bench_backfill.QUICK_NIGHT_ENCOUNTERS if args.quick
                                              else bench_backfill.NIGHT_ENCOUNTERS)
        long_lake = ((bench_backfill.QUICK_LAKE_NIGHTS, bench_backfill.QUICK_HISTORY_NIGHTS) if args.quick
                     else (bench_backfill.LAKE_NIGHTS, bench_backfill.HISTORY_NIGHTS))
        results.update(backfill_runs(nights, per_night, *long_lake))
        save(results, args.out)
    print_report(results)
    print(f"\nwritten: {args.out} and {args.out.parent / 'results.md'}")
    return results


def save(results: dict[str, Any], out: Path) -> None:
    """Write the results JSON and ``results.md`` beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    (out.parent / "results.md").write_text(markdown(results), encoding="utf-8")


if __name__ == "__main__":
    main()
