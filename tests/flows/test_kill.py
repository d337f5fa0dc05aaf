"""A real nightly run killed (SIGKILL to its process group) at chosen moments while
it overwrites a day already in the lake: the lake stays readable, the day is
entirely old or entirely new across all six datasets, and a rerun gives the
lake an uninterrupted run gives, with no stray files.

The killed runs are :func:`flows.pipeline.nightly_day` (the composition root's
nightly: the stages the CLI's ``nightly`` runs as tasks of its Prefect flow),
each a child forked by one warm Python
(:mod:`tests.flows.warm_nightly`), so a trial pays the run but not the
imports. One uninterrupted run, watched from here, calibrates the phases of a
run from what it leaves on disk (:class:`Watch`): validation (until the claims
data docs exist), audit (until ``_staging`` holds the day), staging (until the
journal, the commit point, exists), the commit window (until the journal is
gone: the renames) and the run folder (until the run ends). Each trial aims at
one phase: it waits for the event that opens it and kills after a seeded
share of the phase's calibrated length. What the lake held right after the
kill tells where the kill really landed (a journal: inside the commit window;
staging without a journal: before the commit point); at least one kill must
land inside the commit window, where a kill matters most. One rerun goes
through the CLI (Prefect flow, the session's test server), so the CLI's
nightly must give the same bytes as the composition root's.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows import pipeline
from flows.settings import Settings
from tests.paths import REPO
from transforms.outputs import lake
from transforms.outputs.files import RUN_FILES, partial_dir

pytestmark = pytest.mark.flow
DAY = date(2026, 11, 2)
#: The phase each trial aims at, in order: several in each, most where a kill matters (>= 10 trials).
PLAN = ("commit", "staging", "validation", "audit", "run folder",
        "commit", "staging", "validation", "audit", "commit")
#: Phases at least one kill must land in: after the commit point before the last rename, and staged
#: but not committed (to be rolled back).
MUST_LAND = ("commit", "staging")
#: Spare attempts, for a run that ended before its kill or a phase of MUST_LAND no kill has landed in yet.
SPARE = 4
#: (event that opens the phase, shares of its calibrated length to kill after)
#: (Shares stay well under 1: the load of a shared machine changes, so a phase may run shorter than calibrated.)
AIM = {"validation": ("start", 0.1, 0.8), "audit": ("docs", 0.05, 0.6), "staging": ("staged", 0.0, 0.3),
       "commit": ("journal", 0.0, 0.2), "run folder": ("committed", 0.05, 0.6)}
#: Events of a run, in the order they happen; the phase that follows each.
EVENTS = ("start", "docs", "staged", "journal", "committed", "exit")
POLL = 0.0005  # seconds between looks at the lake: the commit window lasts milliseconds
RUN_TIMEOUT = 300.0  # seconds a run may take before the test gives up on it


def _env(api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "INFUSION_AUDIT_"))}
    env.update(PREFECT_API_URL=api_url, PREFECT_SERVER_ANALYTICS_ENABLED="false", GX_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="WARNING")
    return env


class WarmNightly:
    """Client of :mod:`tests.flows.warm_nightly`: fork a nightly run, see it end."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.flows.warm_nightly"], env=env, cwd=REPO,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        self._buffer = b""
        self.running: int | None = None  # the pid of the run under way

    def _line(self, timeout: float) -> str | None:
        """The next protocol line, or ``None`` if none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if not select.select([self.proc.stdout], [], [], max(left, 0.0))[0]:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            assert chunk, f"the warm nightly server died:\n{self.log.read_text()[-3000:]}"
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def ready(self) -> None:
        assert self._line(180) == "ready", self.log.read_text()[-3000:]

    def start(self, new: dict[str, Path], root: Path, out: Path) -> int:
        request = {"day": DAY.isoformat(), "mar": str(new["mar"]), "claims": str(new["claims"]),
                   "lake": str(root), "out": str(out)}
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        line = self._line(30)
        assert line and line.startswith("pid "), line
        self.running = int(line.split()[1])
        return self.running

    def exit_code(self, pid: int, timeout: float = 0.0) -> int | None:
        """The run's exit code (-9: SIGKILL) once it ended, else ``None`` after ``timeout`` seconds."""
        line = self._line(timeout)
        if line is None:
            return None
        assert line.startswith(f"exit {pid} "), line
        self.running = None
        return int(line.split()[2])

    def run(self, new: dict[str, Path], root: Path, out: Path) -> None:
        """One uninterrupted run, which must succeed."""
        pid = self.start(new, root, out)
        assert self.exit_code(pid, RUN_TIMEOUT) == 0, self.log.read_text()[-3000:]

    def close(self) -> None:
        """Stop the server, and the run under way if a failed check left one."""
        if self.running is not None:
            try:
                os.killpg(self.running, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


class Watch:
    """What a run of ``DAY`` shows on disk: which events of :data:`EVENTS` it has passed."""

    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.out = root, out
        self.findings = root / "findings" / f"{lake.PARTITION_KEY}={DAY.isoformat()}" / lake.lake_txn.PART_FILE
        self.seed_inode = self.findings.stat().st_ino

    def journal(self) -> bool:
        """A committed transaction not rolled forward yet (``*.json``; ``*.json.tmp`` is not committed)."""
        folder = self.root / lake.lake_txn.JOURNAL
        return folder.is_dir() and any(n.endswith(".json") for n in os.listdir(folder))

    def staged(self) -> bool:
        folder = self.root / lake.lake_txn.STAGING
        return folder.is_dir() and bool(os.listdir(folder))

    def committed(self) -> bool:
        """The day's findings partition was replaced (a new inode) and no journal is left."""
        try:
            return self.findings.stat().st_ino != self.seed_inode and not self.journal()
        except FileNotFoundError:
            return False

    def docs(self) -> bool:
        return (partial_dir(self.out) / "validation" / "claims" / "index.html").exists()

    def passed(self, event: str) -> bool:
        """``event`` or a later one happened (a later one proves the earlier, even between two looks)."""
        later = EVENTS[EVENTS.index(event):-1]
        return event == "start" or any(getattr(self, e)() for e in later if e != "start")


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


def _calibrate(server: WarmNightly, new: dict[str, Path], root: Path, out: Path) -> dict[str, float]:
    """One uninterrupted run, watched: seconds from its start to each event of :data:`EVENTS`."""
    watch = Watch(root, out)
    pid = server.start(new, root, out)
    t0 = time.monotonic()
    marks = {"start": 0.0}
    while (code := server.exit_code(pid, POLL)) is None:
        assert time.monotonic() - t0 < RUN_TIMEOUT, server.log.read_text()[-3000:]
        for event in EVENTS[1:-1]:
            if event not in marks and getattr(watch, event)():
                marks[event] = time.monotonic() - t0
    marks["exit"] = time.monotonic() - t0
    assert code == 0, server.log.read_text()[-3000:]
    assert list(marks) == list(EVENTS), f"events seen, in order: {marks}"
    return marks


def _kill_in(server: WarmNightly, watch: Watch, pid: int, phase: str, share: float,
             marks: dict[str, float]) -> int | None:
    """Wait for the event opening ``phase``, then SIGKILL the run's process group after ``share`` of the
    phase's calibrated length. Returns the run's exit code (-9 once killed), or ``None`` if it ended first."""
    event = AIM[phase][0]
    length = marks[EVENTS[EVENTS.index(event) + 1]] - marks[event]
    opened, t0 = None, time.monotonic()
    while (code := server.exit_code(pid, POLL)) is None:
        now = time.monotonic()
        assert now - t0 < RUN_TIMEOUT, server.log.read_text()[-3000:]
        if opened is None and watch.passed(event):
            opened = now
        if opened is not None and now >= opened + share * length:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # ended and reaped just now: its exit code says so
            code = server.exit_code(pid, 30)
            break
    return None if code == 0 else code  # 0: the run ended before the kill


def _landed(watch: Watch, got: dict[str, bytes], old_files: dict[str, bytes]) -> str:
    """Where the kill landed, from what the lake and the run folder held right after it."""
    if watch.journal():
        return "commit"  # after the commit point, before the last rename
    if watch.staged():
        return "staging" if got == old_files else "after commit"  # staging is deleted after the journal
    if got != old_files:
        return "run folder" if watch.committed() else "unknown"
    return "audit" if watch.docs() else "validation"


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """The day's older extracts and the newer ones that overwrite it (other seed, other bad rows)."""
    from transforms.synthetic.generator import generate, write_extracts

    base = tmp_path_factory.mktemp("kill")
    old = write_extracts(generate(seed=21, start=DAY, days=1, encounters_per_day=12, bad_row_count=2), base / "old")
    new = write_extracts(generate(seed=22, start=DAY, days=1, encounters_per_day=15, bad_row_count=4), base / "new")
    return base, old, new


def _copy(seed: tuple[Path, Path], folder: Path) -> tuple[Path, Path]:
    root, out = folder / "lake", folder / "runs" / DAY.isoformat()
    shutil.copytree(seed[0], root)
    shutil.copytree(seed[1], out)
    return root, out


def _rerun_cli(new: dict[str, Path], root: Path, out: Path, env: dict[str, str]) -> None:
    """Run the day again through the CLI's nightly (its Prefect flow, on the session's test server)."""
    cmd = [sys.executable, "-m", "flows.cli", "nightly", "--date", DAY.isoformat(), "--mar", str(new["mar"]),
           "--claims", str(new["claims"]), "--lake", str(root), "--out", str(out)]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@dataclass(frozen=True)
class Reference:
    """The seeded lake and run folder (the old day), and the day's files before and after an uninterrupted run."""

    seed: tuple[Path, Path]
    old_files: dict[str, bytes]
    old_run: dict[str, bytes] | None
    new_files: dict[str, bytes]
    new_run: dict[str, bytes] | None


def test_killed_nightly_leaves_the_day_old_or_new_and_a_rerun_completes(prefect_harness, nights, tmp_path):
    from prefect.settings import PREFECT_API_URL

    _, old, new = nights
    env = _env(PREFECT_API_URL.value())
    settings = Settings.from_env(env)
    server = WarmNightly(env, tmp_path / "warm-nightly.log")
    try:
        # The day as it was, ingested and audited from the older extracts, while the server warms up.
        seed = tmp_path / "seed" / "lake", tmp_path / "seed" / "runs" / DAY.isoformat()
        pipeline.nightly_day(DAY, old["mar"], old["claims"], settings.with_(lake_root=seed[0]), seed[1])
        server.ready()

        # Calibration: one uninterrupted, watched run over a copy; its lake and run folder are the reference.
        ref_root, ref_out = _copy(seed, tmp_path / "ref")
        marks = _calibrate(server, new, ref_root, ref_out)
        ref = Reference(seed, _day_files(seed[0]), _run_files(seed[1]), _day_files(ref_root), _run_files(ref_out))
        assert all(ref.old_files[n] != ref.new_files[n] for n in lake.DATASETS), \
            "old and new days must be distinguishable"
        _assert_no_strays(ref_root, ref_out)
        outcomes = _trials(server, marks, ref, new, env, tmp_path)
    finally:
        server.close()
    landed = Counter(where for where, _ in outcomes)
    print(f"events {({k: round(v, 3) for k, v in marks.items()})}; landed {dict(landed)}")
    assert len(outcomes) >= len(PLAN) >= 10
    assert landed["commit"] >= 1, f"no kill landed inside the commit window: {outcomes}"
    assert landed["staging"] >= 1, f"no kill landed between staging and the commit point: {outcomes}"
    assert {state for _, state in outcomes} == {"old", "new"}, outcomes


def _trials(server: WarmNightly, marks: dict[str, float], ref: Reference, new: dict[str, Path],
            env: dict[str, str], tmp_path: Path) -> list[tuple[str, str]]:
    """Kill one run per phase of :data:`PLAN` (then of :data:`MUST_LAND`, while one has no kill yet);
    each time check the lake, recover, rerun, compare. Returns (where the kill landed, the day after
    recovery) per trial."""
    rng = random.Random(9)
    outcomes: list[tuple[str, str]] = []
    seconds: list[tuple[float, float]] = []  # per trial: to the kill and its checks, the rerun
    for attempt in range(len(PLAN) + SPARE):
        missing = [p for p in MUST_LAND if p not in {where for where, _ in outcomes}]
        if len(outcomes) >= len(PLAN) and not missing:
            break
        phase, folder = PLAN[len(outcomes)] if len(outcomes) < len(PLAN) else missing[0], tmp_path / f"t{attempt}"
        root, out = _copy(ref.seed, folder)
        watch, share = Watch(root, out), rng.uniform(*AIM[phase][1:])
        t0 = time.monotonic()
        code = _kill_in(server, watch, server.start(new, root, out), phase, share, marks)
        if code is None:  # the run ended before the kill: not a trial
            shutil.rmtree(folder)
            continue
        assert code == -signal.SIGKILL, server.log.read_text()[-3000:]

        # Right after the kill: every Parquet file under the lake reads.
        for part in root.rglob("*.parquet"):
            pq.read_table(part)
        where = _landed(watch, _day_files(root), ref.old_files)
        # Through the lake (which finishes or drops the killed transaction): old or new, never a mix.
        lake.recover(root)
        got = _day_files(root)
        state = "new" if got == ref.new_files else "old" if got == ref.old_files else "mixed"
        assert state != "mixed", f"trial {attempt} ({phase}, {share:.2f}) landed in {where} and left a mixed day"
        assert _run_files(out) in (ref.old_run, ref.new_run, None)
        assert where != "commit" or state == "new", "a committed transaction was not rolled forward"
        outcomes.append((where, state))

        # A rerun completes, equal to an uninterrupted run, with no stray files (a warm child; the
        # first trial reruns through the CLI, whose Prefect flow must give the same bytes).
        t1 = time.monotonic()
        if len(outcomes) == 1:
            _rerun_cli(new, root, out, env)
        else:
            server.run(new, root, out)
        seconds.append((round(t1 - t0, 1), round(time.monotonic() - t1, 1)))
        assert _day_files(root) == ref.new_files
        assert _run_files(out) == ref.new_run
        _assert_no_strays(root, out)
        shutil.rmtree(folder)
    print(f"outcomes {outcomes}; seconds (kill, rerun) {seconds}")
    return outcomes
