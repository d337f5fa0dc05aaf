"""A real ``infusion-audit nightly`` killed (SIGKILL) at random moments while it
overwrites a day already in the lake: the lake stays readable, the day is
entirely old or entirely new across all five datasets, and a rerun gives the
lake an uninterrupted run gives, with no stray files.

The CLI runs against the session's test Prefect server (``PREFECT_API_URL``),
so each process pays its imports but not a temporary server's start. The kill
moments are drawn (seeded) over the measured duration of one run, most of them
around the measured moment of its lake commit, where a kill matters.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows import pipeline
from flows.settings import Settings
from transforms.outputs import lake
from transforms.outputs.files import RUN_FILES
from transforms.synthetic.generator import generate, write_extracts

pytestmark = pytest.mark.flow
DAY = date(2026, 11, 2)
REPO = Path(__file__).resolve().parents[2]
TRIALS = 10


def _env(api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "INFUSION_AUDIT_"))}
    env.update(PREFECT_API_URL=api_url, PREFECT_SERVER_ANALYTICS_ENABLED="false", GX_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="WARNING")
    return env


def _start(paths: dict[str, Path], root: Path, out: Path, env: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "flows.cli", "nightly", "--date", DAY.isoformat(), "--mar", str(paths["mar"]),
           "--claims", str(paths["claims"]), "--lake", str(root), "--out", str(out)]
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def _day_files(root: Path) -> dict[str, bytes]:
    """The day's partition file of every dataset, as bytes (a missing one as ``b""``)."""
    out = {}
    for name in lake.DATASETS:
        part = lake.dataset_path(root, name) / f"{lake.PARTITION_KEY}={DAY.isoformat()}" / "part-0.parquet"
        out[name] = part.read_bytes() if part.exists() else b""
    return out


def _run_files(out: Path) -> dict[str, bytes] | None:
    return {n: (out / n).read_bytes() for n in RUN_FILES if n != "report.html"} if out.is_dir() else None


def _assert_no_strays(root: Path, out: Path) -> None:
    for hidden in (lake.lake_txn.STAGING, lake.lake_txn.JOURNAL):
        assert not (root / hidden).exists() or not any((root / hidden).iterdir()), hidden
    assert not list(root.rglob("*.tmp"))
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no .partial / .old run folder


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """The day's older extracts and the newer ones that overwrite it (other seed, other bad rows)."""
    base = tmp_path_factory.mktemp("kill")
    old = write_extracts(generate(seed=21, start=DAY, days=1, encounters_per_day=12, bad_row_count=2), base / "old")
    new = write_extracts(generate(seed=22, start=DAY, days=1, encounters_per_day=15, bad_row_count=4), base / "new")
    return base, old, new


def test_killed_nightly_leaves_the_day_old_or_new_and_a_rerun_completes(prefect_harness, nights, tmp_path):
    from prefect.settings import PREFECT_API_URL

    base, old, new = nights
    env = _env(PREFECT_API_URL.value())
    settings = Settings.from_env(env)

    # The day as it was: ingested and audited from the older extracts.
    seed_root, seed_out = tmp_path / "seed" / "lake", tmp_path / "seed" / "runs" / DAY.isoformat()
    pipeline.nightly_day(DAY, old["mar"], old["claims"], settings.with_(lake_root=seed_root), seed_out)
    old_files, old_run = _day_files(seed_root), _run_files(seed_out)

    # Calibration: one uninterrupted CLI run over a copy; its lake is the reference.
    ref_root, ref_out = tmp_path / "ref" / "lake", tmp_path / "ref" / "runs" / DAY.isoformat()
    shutil.copytree(seed_root, ref_root)
    shutil.copytree(seed_out, ref_out)
    t0 = time.time()
    proc = _start(new, ref_root, ref_out, env)
    _, err = proc.communicate(timeout=120)
    duration = time.time() - t0
    assert proc.returncode == 0, err.decode()
    new_files, new_run = _day_files(ref_root), _run_files(ref_out)
    commit_at = max(p.stat().st_mtime for p in ref_root.rglob("part-0.parquet")) - t0
    assert all(old_files[n] != new_files[n] for n in lake.DATASETS), "old and new days must be distinguishable"
    _assert_no_strays(ref_root, ref_out)

    rng = random.Random(9)
    outcomes = []
    for trial in range(TRIALS):
        root, out = tmp_path / f"t{trial}" / "lake", tmp_path / f"t{trial}" / "runs" / DAY.isoformat()
        shutil.copytree(seed_root, root)
        shutil.copytree(seed_out, out)
        near_commit = trial % 3 != 0
        at = rng.uniform(commit_at - 0.5, commit_at + 0.2) if near_commit else rng.uniform(0.3, 1.0) * duration
        proc = _start(new, root, out, env)
        time.sleep(max(at, 0.0))
        os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        proc.wait(timeout=30)

        # Right after the kill: every Parquet file under the lake reads.
        for part in root.rglob("*.parquet"):
            pq.read_table(part)
        # Through the lake (which finishes or drops the killed transaction): old or new, never a mix.
        lake.recover(root)
        got = _day_files(root)
        state = "new" if got == new_files else "old" if got == old_files else "mixed"
        assert state != "mixed", f"trial {trial} killed at {at:.2f}s left a mixed day"
        assert _run_files(out) in (old_run, new_run, None)
        outcomes.append(state)

        # A rerun completes, equal to an uninterrupted run, with no stray files (in-process; the
        # first trial reruns the CLI itself).
        if trial == 0:
            proc = _start(new, root, out, env)
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
        else:
            pipeline.nightly_day(DAY, new["mar"], new["claims"], settings.with_(lake_root=root), out)
        assert _day_files(root) == new_files
        assert _run_files(out) == new_run
        _assert_no_strays(root, out)
        shutil.rmtree(tmp_path / f"t{trial}")
    print(f"run {duration:.1f}s, commit at {commit_at:.1f}s, outcomes {outcomes}")
