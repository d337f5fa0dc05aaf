"""transforms.memory: freed heap pages go back to the system, live data stays."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

from transforms import memory


def _resident_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's; elsewhere only Arrow's pool")
def test_freed_heap_pages_are_returned_and_live_arrays_kept():
    assert memory.MALLOC_TRIM is not None
    # 300 MB of 64 KB arrays (below glibc's mmap threshold: on the heap), then every one
    # but each 16th freed: the heap is fragmented, its free pages still resident.
    arrays = [np.full(8192, i, dtype=np.int64) for i in range(4800)]
    kept = arrays[::16]
    del arrays
    before = _resident_bytes()
    memory.release_freed_memory()
    after = _resident_bytes()
    assert before - after > 150e6  # most of the ~280 MB freed is handed back
    assert all(int(a[0]) == 16 * i and int(a[-1]) == 16 * i for i, a in enumerate(kept))  # live data intact


def test_release_without_glibc_still_releases_arrows_pool(monkeypatch):
    monkeypatch.setattr(memory, "MALLOC_TRIM", None)
    memory.release_freed_memory()  # Arrow's pool only: no error
