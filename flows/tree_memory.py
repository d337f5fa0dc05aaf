"""Peak memory of a process and its helper processes (the bench's memory figure).

``ru_maxrss`` is one process's peak resident set. A day audited with helper
processes (:mod:`flows.shard_workers`) spreads its memory over the run's
process and its helpers, so the bench samples the summed resident sets of
the process tree (Linux ``/proc/<pid>/statm``: a constant-time read, where
``smaps_rollup`` walks every page and, read often, slowed a million-encounter
audit by half). The helpers are fresh interpreters, not forks, so they share
no anonymous memory with the run; the sum counts shared library pages once
per process, so it errs high. :class:`TreeMemory` samples that sum in a
thread; its peak is the larger of the sampled peak and this process's own
exact ``ru_maxrss``, so a run without helpers reports what it did before.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
from pathlib import Path
from types import TracebackType

#: Seconds between samples.
SAMPLE_SECONDS = 0.05
PAGE_KIB = (os.sysconf("SC_PAGE_SIZE") // 1024) if hasattr(os, "sysconf") else 4


def own_peak_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports ru_maxrss in KiB, macOS in bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def reset_own_peak() -> bool:
    """Start this process's peak resident set (``VmHWM``) again from what is resident now,
    so that :func:`peak_since_reset_mb` reports the peak of what follows alone.

    Linux only (4.0 and later: writing ``5`` to ``/proc/self/clear_refs``); False where it
    cannot. :func:`own_peak_mb` is not started again: ``ru_maxrss`` also keeps the peak
    of the process this one was started from, as it was when it started this one.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # not Linux, an old kernel, or not allowed
        return False
    return True


def peak_since_reset_mb() -> float | None:
    """This process's peak resident set since it started or since :func:`reset_own_peak`
    (``VmHWM``), MB; None where ``/proc`` does not tell it."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def rss_kib(pid: int | str) -> int:
    """The resident set of process ``pid``, KiB; 0 once it is gone (or off Linux)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError, ValueError):
        return 0
    return pages * PAGE_KIB


def descendants(pid: int | str) -> list[str]:
    """The live children of ``pid`` (from any of its threads), their children, and so on."""
    found, pending = [], [str(pid)]
    while pending:
        parent = pending.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text().split()
            except FileNotFoundError:
                continue
            found.extend(children)
            pending.extend(children)
    return found


def _cmdline(pid: int | str) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def tree_rss_mb(pid: int | str = "self") -> float:
    """Summed resident sets of ``pid`` and its descendants that run a program of their own, MB.

    A child between its fork and its exec still maps every page of its
    parent, and its resident set says so: counted, it would double the
    parent for a moment. Such a child still has its parent's command line;
    it counts once it runs its own."""
    own = _cmdline(pid)
    children = [c for c in descendants(pid) if _cmdline(c) not in (own, None)]
    return sum(rss_kib(p) for p in [pid, *children]) / 1024


class TreeMemory:
    """A context that samples :func:`tree_rss_mb` of this process every :data:`SAMPLE_SECONDS`."""

    def __init__(self) -> None:
        self._peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="tree-memory", daemon=True)
        self._linux = sys.platform.startswith("linux")

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._peak_mb = max(self._peak_mb, tree_rss_mb())

    def peak_mb(self) -> float:
        """The peak so far: sampled over the tree, and never below this process's own peak."""
        return max(self._peak_mb, own_peak_mb())

    def __enter__(self) -> "TreeMemory":
        if self._linux:
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._linux:
            self._stop.set()
            self._thread.join()
