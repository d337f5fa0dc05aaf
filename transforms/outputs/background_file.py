"""A file written on a second thread, one piece behind its producer.

Writing a run folder grows faster than its size: the kernel's copy into
~1.5 GB of new page-cache pages (1M encounters) cost ~3.4 s of system time
in ``write()`` on the 1M run (~430 MB/s), against ~0.14 s for the 150 MB of
100k (>1 GB/s); how much depends on the machine's free memory. ``write()``
holds no GIL while in the kernel, so the next block of rows can be converted
on the other core meanwhile: :class:`BackgroundFile` hands each piece to one
writer thread and returns.

Invariants:

- the bytes reach the file in the order of the calls (one thread, one piece
  in flight at a time);
- at most ONE piece waits or is being written while the producer makes the
  next: memory grows by one piece (one block of rows, one part of the
  report), never by a copy of the file;
- an error of the writer thread is raised in the producer, at its next
  :meth:`BackgroundFile.write` or at :meth:`BackgroundFile.close`; the file is
  closed in every case.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType


class BackgroundFile:
    """A binary file opened for writing (truncated) whose writes happen on a second thread.

    Use as a context manager; the pieces given to :meth:`write` must not be
    changed by the caller afterwards (they are written later).
    """

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-file")
        self._pending: Future | None = None

    def write(self, data: bytes | memoryview) -> None:
        """Queue ``data`` (bytes-like) after the previous piece, once that one is written."""
        self._wait()
        self._pending = self._thread.submit(self._file.write, data)

    def _wait(self) -> None:
        """Wait for the piece in flight; raises its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the last piece, then close the file and stop the thread (errors raised)."""
        try:
            self._wait()
        finally:
            self._thread.shutdown(wait=True)
            self._file.close()

    def __enter__(self) -> BackgroundFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.close()
            return
        # The producer failed: its error is the one to raise; the piece in flight is still
        # finished (or failed) before the file is closed, so no thread writes a closed file.
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the producer's error wins
            pass
