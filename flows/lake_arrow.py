"""Arrow's thread pools and memory pool in a run on the lake (a nightly, a backfill, a served
nightly, a Dask worker's days).

Each thread of Arrow's pools keeps the pages freed from its own heap of
pyarrow's allocator (mimalloc), so a process that audits night after night
held more the more threads had worked for it. Measured on nights of 2,000
encounters, ``nightly_day`` night after night in one process (the peak of
3 nights against that of 30):

- Arrow's eight I/O threads: 416-425 against 496-498 MB; one: 419-425
  against 442-452 MB. A night's lake reads are local Parquet files (its
  lookback, the trend), and one thread cost them little (the 30 nights took
  54-57 s with one, 66 s with eight).
- And one CPU thread instead of two: 402-403 against 410-415 MB (three
  pairs), in the same time (56-62 s for the 30 nights). Most of the rest
  was the lookback read, now one file at a time
  (:data:`transforms.outputs.lake.ONE_FILE_AT_A_TIME`): 402-405 against
  404-411 MB.
- And Arrow's jemalloc pool instead of mimalloc for a small day (2026-12-02,
  with the lookback window handed back before the audit): 30 nights 393-396
  against 398-401 MB (by hand), in the same time (``make bench`` with both
  changes: 381 MB for 3 nights, 399 for 30, against 399 and 409). jemalloc hands freed pages back to the system after a
  short decay, where mimalloc kept them in each thread's heap. A big day
  keeps mimalloc: with jemalloc a 1M-encounter audit was 3-7 s slower (pages
  handed back and taken again). The choice is made per day at run time
  (``pa.set_memory_pool``); parts of Arrow take its C++ default pool, fixed
  when pyarrow is imported, and still start mimalloc (about 20 MB more
  resident than ``ARROW_DEFAULT_MEMORY_POOL=jemalloc`` for the whole
  process, which an operator may set for a backfill of small days).
- And that jemalloc pool handing freed pages back at once (decay 0 ms
  instead of Arrow's 1,000; 2026-12-02, by hand, three runs against two):
  30 nights 385-389 against 395-398 MB, the nights' median 382-384 against
  387-389, in the same time; from the third night on the nights' peaks no
  longer rise (the third's 379-382). ``make bench``: 3 nights 380-381 MB,
  30 nights 386-389.

One CPU thread parses a big CSV extract slower (Arrow parses its blocks in
parallel), so only a small day gets one, and jemalloc: fewer than
:data:`SMALL_DAY_ROWS` MAR events and claim lines (about 17,000 encounters).
A files-in, files-out audit keeps Arrow's pools: a 1M-encounter CSV extract
loaded 2-4 s slower with one I/O thread. A user's ``ARROW_IO_THREADS``,
``OMP_NUM_THREADS`` or ``ARROW_DEFAULT_MEMORY_POOL`` (Arrow's own settings)
wins. The pools are the process's: days audited at once in threads of one
process share the last sizing (their speed and memory, never their answers).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

#: Arrow's I/O threads in a run on the lake (Arrow starts eight).
LAKE_IO_THREADS = 1
#: A day with fewer MAR events and claim lines than this runs Arrow's kernels on one CPU thread.
SMALL_DAY_ROWS = 200_000
#: The same for CSV extracts, in bytes: about 152 bytes a row (1M synthetic encounters:
#: 1,775 MB for 11.7M rows). Other formats hold more bytes a row: they count as larger.
SMALL_DAY_BYTES = SMALL_DAY_ROWS * 152
#: Milliseconds jemalloc keeps a small day's freed pages before handing them back (its arenas
#: made from then on; Arrow's default is 1,000).
SMALL_DAY_DECAY_MS = 0
#: Arrow's pools before any sizing here (its defaults: eight I/O threads, or ``ARROW_IO_THREADS``;
#: the cores, or ``OMP_NUM_THREADS``).
DEFAULT_IO_THREADS = pa.io_thread_count()
DEFAULT_CPU_THREADS = pa.cpu_count()
#: Arrow's memory pool before any choice here (mimalloc in pyarrow's Linux wheels, or
#: ``ARROW_DEFAULT_MEMORY_POOL``'s).
DEFAULT_POOL = pa.default_memory_pool()


def is_small_day(day_rows: int | None = None, day_bytes: int | None = None) -> bool:
    """Whether a day is small: ``day_rows`` below :data:`SMALL_DAY_ROWS`, or its extracts'
    ``day_bytes`` below :data:`SMALL_DAY_BYTES`; a day of unknown size is not."""
    return (day_rows is not None and day_rows < SMALL_DAY_ROWS) or (
        day_bytes is not None and day_bytes < SMALL_DAY_BYTES)


def use_lake_arrow(day_rows: int | None = None, day_bytes: int | None = None) -> None:
    """Size Arrow for a day on the lake: :data:`LAKE_IO_THREADS` I/O threads; for a small day
    (:func:`is_small_day`) one CPU thread and :func:`small_day_pool`,
    else :data:`DEFAULT_CPU_THREADS` and :data:`DEFAULT_POOL`."""
    small = is_small_day(day_rows, day_bytes)
    if "ARROW_IO_THREADS" not in os.environ:
        pa.set_io_thread_count(LAKE_IO_THREADS)
    if "OMP_NUM_THREADS" not in os.environ:
        pa.set_cpu_count(1 if small else DEFAULT_CPU_THREADS)
    pa.set_memory_pool(small_day_pool() if small else DEFAULT_POOL)


def small_day_pool() -> pa.MemoryPool:
    """The memory pool of a small day: Arrow's jemalloc pool, its freed pages handed back after
    :data:`SMALL_DAY_DECAY_MS` (set for the whole process's jemalloc arenas made from then on),
    unless the user chose a pool (``ARROW_DEFAULT_MEMORY_POOL``) or pyarrow lacks it
    (:data:`DEFAULT_POOL`, untouched). Buffers allocated from one pool are freed to that pool, so
    a process may switch at any day."""
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ or "jemalloc" not in pa.supported_memory_backends():
        return DEFAULT_POOL
    pa.jemalloc_set_decay_ms(SMALL_DAY_DECAY_MS)
    return pa.jemalloc_memory_pool()


def use_default_arrow() -> None:
    """Give Arrow back its own pools (:data:`DEFAULT_IO_THREADS`, :data:`DEFAULT_CPU_THREADS`,
    :data:`DEFAULT_POOL`) for a files-in, files-out audit, in a process that may have run a small
    day on the lake."""
    pa.set_io_thread_count(DEFAULT_IO_THREADS)
    pa.set_cpu_count(DEFAULT_CPU_THREADS)
    pa.set_memory_pool(DEFAULT_POOL)


def extract_bytes(paths: Sequence[Path | Sequence[Path]]) -> int:
    """Bytes of the extract files at ``paths`` (a file, a folder's files, or a list of them);
    a missing path counts nothing (reading it fails later, with its own message)."""
    total = 0
    for item in paths:
        for path in [Path(item)] if isinstance(item, (str, Path)) else [Path(p) for p in item]:
            if path.is_file():
                total += path.stat().st_size
            elif path.is_dir():
                total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total
