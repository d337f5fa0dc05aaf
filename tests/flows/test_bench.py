"""Tests of ``make bench`` (flows.bench): a tiny end-to-end run, and the summary arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows import bench


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    bench.main(["--quick", "--sizes", "300", "--out", str(out)])
    return json.loads(out.read_text(encoding="utf-8")), out


def test_quick_run_writes_every_stage_and_the_floor(results: tuple[dict, Path]) -> None:
    data, out = results
    assert data["repeat"] == 1 and len(data["startup_seconds"]) == 1 and data["startup_seconds"][0] > 0
    assert {"cpu_count", "platform", "python", "pandas", "pyarrow", "date"} <= set(data["machine"])
    (size,) = data["sizes"]
    assert size["encounters"] == 300
    stages = {s["stage"]: s["seconds"] for s in size["stages"]}
    assert set(bench.AUDIT_STAGES) <= set(stages) and all(v > 0 for v in stages.values())
    steps = size["engine_steps"]
    assert {"classify", "timeline", "coding"} <= set(steps)
    assert sum(steps.values()) <= stages["audit"]
    assert size["audit_total_seconds"] == pytest.approx(sum(stages[s] for s in bench.AUDIT_STAGES))
    assert size["floor_seconds"] > 0 and len(size["floor_runs"]) == 1
    assert data["runs"] == 1 and size["runs"] == 1 and size["run_totals"] == [size["audit_total_seconds"]]
    assert size["run_cpu_seconds"] == [size["cpu_seconds"]] and size["cpu_seconds"] > 0  # the one run's
    assert size["ratio_to_floor"] == pytest.approx(size["audit_total_seconds"] / size["floor_seconds"])
    assert size["marginal_seconds_per_10k"] is None and size["marginal_ratio_to_floor"] is None  # one size
    gen = size["generate"]
    assert gen["encounters"] == 300 and gen["mar_rows"] > 300 and gen["claim_lines"] > 300
    assert gen["generate_seconds"] > 0 and gen["write_csv_seconds"] > 0
    assert size["peak_mb"] > 50 and gen["peak_mb"] > 50
    # every kept row reached the audit: the bulk CSV is valid input
    assert size["rows_kept"] == {"mar": gen["mar_rows"], "claims": gen["claim_lines"]}
    assert size["findings"] > 0 and size["expected_lines"] > 0
    md = (out.parent / "results.md").read_text(encoding="utf-8")
    assert "| 300 |" in md and "validate mar (GX)" in md and "audit: timeline" in md
    assert "- 300 encounters: best of 1 run (totals " in md


def test_quick_run_measures_a_backfill_of_one_and_of_two_nights(results: tuple[dict, Path]) -> None:
    data, out = results
    one, two = data["backfill"]
    assert (one["nights"], two["nights"]) == (1, 2) and one["encounters_per_night"] == 60
    assert len(one["rss_after_night_mb"]) == 1 and len(two["rss_after_night_mb"]) == 2
    for run in (one, two):  # each in its own process: a real peak, at least what was resident after a night
        assert run["peak_mb"] >= max(run["rss_after_night_mb"]) > 50
        assert run["seconds"] > 0
        # each night's own peak: at least what it left resident, at most the run's peak
        assert len(run["night_peaks_mb"]) == run["nights"]
        assert all(after <= peak <= run["peak_mb"]
                   for after, peak in zip(run["rss_after_night_mb"], run["night_peaks_mb"]))
    md = (out.parent / "results.md").read_text("utf-8")
    assert "backfill of 2 nights (60 encounters each): peak" in md and "each night's own peak" in md


def test_quick_run_audits_a_night_again_on_its_lake_and_on_the_lake_with_30_nights_of_history(
        results: tuple[dict, Path]) -> None:
    data, out = results
    short, long = data["long_lake"]
    assert (short["nights_in_lake"], long["nights_in_lake"]) == (2, 32)
    for run in (short, long):  # each in its own process
        assert run["peak_mb"] > 50 and run["seconds"] > 0
    assert "one night on a lake of 32 nights: peak" in (out.parent / "results.md").read_text("utf-8")


def _measured(seconds: list[float], floors: list[float], peak: float, cpu: float) -> dict:
    """One measure job's result (:func:`flows.bench.measure_job`) with these stage seconds."""
    stages = [{"stage": name, "seconds": s, "peak_mb_after": peak} for name, s in zip(bench.AUDIT_STAGES, seconds)]
    return {"stages": stages,
            "engine_steps": {"classify": seconds[4] / 2}, "floor_runs": floors, "floor_seconds": min(floors),
            "peak_mb": peak, "cpu_seconds": cpu}


def test_best_run_reports_the_fastest_run_the_least_floor_and_the_largest_peak() -> None:
    slow = _measured([2, 1, 1, 1, 6, 3], floors=[0.5, 0.4], peak=900, cpu=20)  # 14 s
    fast = _measured([1, 1, 1, 1, 5, 2], floors=[0.6, 0.45], peak=800, cpu=17)  # 11 s
    size = bench.best_run(100_000, {"encounters": 100_000}, [slow, fast])
    assert size["audit_total_seconds"] == 11 and size["run_totals"] == [14, 11] and size["runs"] == 2
    assert size["stages"] == fast["stages"] and size["engine_steps"] == {"classify": 2.5}
    assert size["cpu_seconds"] == 17 and size["run_cpu_seconds"] == [20, 17]
    assert size["floor_seconds"] == 0.4 and size["floor_runs"] == [0.5, 0.4, 0.6, 0.45]
    assert size["peak_mb"] == 900  # memory: the largest, not the fastest run's
    assert size["ratio_to_floor"] == pytest.approx(11 / 0.4)
    assert size["encounters_per_second"] == pytest.approx(100_000 / 11)
    one = bench.best_run(10, {}, [slow])
    assert one["audit_total_seconds"] == 14 and one["run_totals"] == [14] and one["floor_seconds"] == 0.4


def test_marginal_is_the_slope_between_sizes() -> None:
    sizes = [{"encounters": 10_000, "audit_total_seconds": 12.0},
             {"encounters": 100_000, "audit_total_seconds": 39.0}]
    bench.add_marginals(sizes)
    assert sizes[0]["marginal_seconds_per_10k"] is None
    assert sizes[0]["seconds_per_10k"] == pytest.approx(12.0)
    assert sizes[1]["marginal_seconds_per_10k"] == pytest.approx(3.0)
    assert sizes[1]["seconds_per_10k"] == pytest.approx(3.9)
    assert sizes[0]["marginal_ratio_to_floor"] is None and sizes[1]["marginal_ratio_to_floor"] is None  # no floor


def test_marginal_ratio_is_the_added_seconds_over_the_floor_added() -> None:
    sizes = [{"encounters": 100_000, "audit_total_seconds": 7.0, "floor_seconds": 0.3},
             {"encounters": 1_000_000, "audit_total_seconds": 52.0, "floor_seconds": 3.3},
             {"encounters": 2_000_000, "audit_total_seconds": 100.0, "floor_seconds": 3.2}]
    bench.add_marginals(sizes)
    assert sizes[0]["marginal_ratio_to_floor"] is None
    assert sizes[1]["marginal_ratio_to_floor"] == pytest.approx(15.0)  # 45 s more over 3 s more
    assert sizes[2]["marginal_ratio_to_floor"] is None  # the floor shrank: no ratio, rather than a negative one


def test_stage_rows_put_engine_steps_under_the_audit() -> None:
    size = {"stages": [{"stage": "load mar", "seconds": 1.0}, {"stage": "audit", "seconds": 5.0},
                       {"stage": "write run folder", "seconds": 2.0}],
            "engine_steps": {"classify": 1.0, "timeline": 2.5}}
    rows = bench.stage_rows(size)
    assert [name for name, _ in rows] == ["load mar", "audit", "  audit: classify", "  audit: timeline",
                                          "  audit: other (shards, concat)", "write run folder"]
    assert dict(rows)["  audit: other (shards, concat)"] == pytest.approx(1.5)


def test_steps_of_shards_audited_at_once_are_labelled_as_summed() -> None:
    size = {"stages": [{"stage": "audit", "seconds": 5.0}], "engine_steps": {"classify": 2.0, "timeline": 4.0}}
    rows = bench.stage_rows(size)  # 6 s of steps in a 5 s audit: a helper process audited shards meanwhile
    assert [name for name, _ in rows] == ["audit", "  audit: classify (summed over processes)",
                                          "  audit: timeline (summed over processes)"]  # and no negative remainder


def test_summary_line_tells_the_nights_own_peaks_first_and_last_three_from_seven_nights() -> None:
    from flows.bench_backfill import summary_line

    run = {"nights": 7, "encounters_per_night": 2000, "peak_mb": 412.0, "seconds": 14.2,
           "rss_after_night_mb": [355.0, 360.0, 362.0, 364.0, 363.0, 366.0, 365.0],
           "night_peaks_mb": [376.0, 401.0, 392.0, 405.0, 412.0, 399.0, 404.0]}
    assert summary_line(run) == (
        "backfill of 7 nights (2,000 encounters each): peak 412 MB; each night's own peak 376-412 MB "
        "(median 401; first three 376, 401, 392, last three 412, 399, 404); resident after each night "
        "355-366 MB (after the last 365 MB); 14 s")
    three = {**run, "nights": 3, "night_peaks_mb": [376.0, 401.0, 392.0], "rss_after_night_mb": [355.0, 360.0, 362.0]}
    assert "each night's own peak 376-401 MB (median 392);" in summary_line(three)
    assert "own peak" not in summary_line({**run, "night_peaks_mb": None})  # where the peak cannot be reset
