"""flows.tree_memory: the bench's peak memory counts helper processes too."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from flows.tree_memory import TreeMemory, descendants, own_peak_mb, rss_kib

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# A child that holds 300 MB (touched, so resident) until told to stop.
HOLD = "import sys; block = bytearray(300 * 2**20); sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"


def test_the_peak_includes_a_child_processs_memory() -> None:
    base_mb = rss_kib("self") / 1024
    with TreeMemory() as memory:
        child = subprocess.Popen([sys.executable, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert child.stdout is not None and child.stdout.readline() == b"ready\n"
            assert str(child.pid) in descendants("self")
            assert rss_kib(child.pid) > 290 * 1024
            time.sleep(0.3)  # a few samples
        finally:
            child.communicate(b"")
    assert memory.peak_mb() >= base_mb + 290  # the child's 300 MB, on top of this process's own
    assert rss_kib(child.pid) == 0 and str(child.pid) not in descendants("self")  # gone: nothing counted


ALONE = ("import time; from flows.tree_memory import TreeMemory, own_peak_mb\n"
         "with TreeMemory() as memory:\n    time.sleep(0.3)\nprint(memory.peak_mb(), own_peak_mb())")


def test_without_children_the_peak_is_the_processs_own() -> None:
    # In a fresh process: this one may have children of other tests' (a Prefect server).
    out = subprocess.run([sys.executable, "-c", ALONE], capture_output=True, text=True, check=True).stdout
    peak, own = map(float, out.split())
    assert peak == pytest.approx(own, abs=1)  # its resident set never exceeds its own peak


def test_a_child_not_yet_running_a_program_of_its_own_is_not_counted_twice() -> None:
    import os

    from flows.tree_memory import tree_rss_mb

    own_mb, before_mb = rss_kib("self") / 1024, tree_rss_mb()  # other tests' children (a Prefect server) too
    pid = os.fork()  # as Popen does before its exec: the child maps every page of this process
    if pid == 0:
        time.sleep(1.0)
        os._exit(0)
    try:
        time.sleep(0.1)
        assert str(pid) in descendants("self") and rss_kib(pid) > 0.5 * own_mb * 1024
        assert tree_rss_mb() < before_mb + own_mb * 0.2 + 20  # this process once, not twice
    finally:
        os.waitpid(pid, 0)


# Holds 300 MB, frees it, starts its peak again, and prints the peak before and after the reset.
RESET = ("from flows.tree_memory import peak_since_reset_mb, reset_own_peak\n"
         "block = bytearray(300 * 2**20); del block\n"
         "before = peak_since_reset_mb(); done = reset_own_peak()\n"
         "small = bytearray(20 * 2**20)\n"
         "print(before, done, peak_since_reset_mb())")


def test_reset_own_peak_starts_the_peak_again_from_what_is_resident() -> None:
    # In a fresh process, started from this one (whose own peak may be larger: see reset_own_peak).
    out = subprocess.run([sys.executable, "-c", RESET], capture_output=True, text=True, check=True).stdout
    before, done, after = out.split()
    assert done == "True"
    assert float(before) > 300  # the 300 MB held before
    assert 20 < float(after) < float(before) - 250  # only what followed the reset: 20 MB on the imports
