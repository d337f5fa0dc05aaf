"""Crash-safe transactions on the Parquet lake: stage, journal, roll forward.

A transaction replaces (or removes) some partitions of one day at once::

    <lake>/_staging/<txn>/<dataset>/audit_date=<day>/part-0.parquet   1. staged, fsynced
    <lake>/_journal/<txn>.json                                        2. the commit point
    <lake>/<dataset>/audit_date=<day>/part-0.parquet                  3. os.replace of each staged file
    (journal and staging deleted)                                     4. done

Invariants:

* A journal exists only once every file it names is complete and fsynced, and
  it is written atomically (tmp file, fsync, ``os.replace``, fsync of the folder).
* Before the journal exists the transaction has changed nothing the readers
  see; once it exists, :func:`recover` finishes it (every step is idempotent:
  a file already moved is not moved again). So a run killed at any moment
  leaves each day either as it was or as the transaction makes it, once
  recovered, and recovery leaves no stray file.
* Every ``*.parquet`` under the lake is a whole file: files are written as
  ``*.tmp`` and renamed when complete.
* Everything that touches the lake (readers too) runs under :func:`lake_lock`
  and recovers first, so no reader sees a half-applied transaction and no
  recovery deletes the staging of a transaction still being written.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

STAGING = "_staging"
JOURNAL = "_journal"
LOCK_FILE = "_lock"
DAY_LOCKS = "_locks"
PART_FILE = "part-0.parquet"

#: Parquet options fixed so that the same table always gives the same bytes.
WRITE_OPTIONS: dict[str, object] = {"compression": "snappy", "write_statistics": True, "use_dictionary": True}


class LakeBusy(RuntimeError):
    """Another run holds the lock of the same day."""


def _fsync_dir(path: Path) -> None:
    """Make renames and unlinks inside ``path`` durable (a rename is only as durable as its folder)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomic(path: Path, write) -> None:
    """Call ``write(tmp_path)``, fsync the file, then rename it onto ``path``.

    A reader (or a crash) sees either no file / the old one, or the whole new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` whole or not at all, with :data:`WRITE_OPTIONS` (deterministic bytes)."""
    write_file_atomic(path, lambda tmp: pq.write_table(table, tmp, **WRITE_OPTIONS))


# --- locks -----------------------------------------------------------------------
# fcntl.flock by hand rather than a lock package: it is in the standard library
# (no new dependency), and the kernel drops the lock when the holder dies, even
# on SIGKILL, so a killed run never leaves a stale lock behind. Each call opens
# its own file description, so two holders in one process exclude each other too.

@contextmanager
def _flock(path: Path, wait: bool, busy: str, timeout: float | None = None) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait or (deadline is not None and time.monotonic() >= deadline):
                    raise LakeBusy(busy) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def lake_lock(root: Path, timeout: float | None = 600.0) -> Iterator[None]:
    """Hold the lake's lock (``<lake>/_lock``) for a short read, commit or recovery; waits for it."""
    root = Path(root)
    msg = f"the lake {root} stayed locked by another process for {timeout} s"
    with _flock(root / LOCK_FILE, wait=True, busy=msg, timeout=timeout):
        yield


@contextmanager
def day_lock(root: Path, day: date, wait: bool = False, timeout: float | None = None) -> Iterator[None]:
    """Hold the run lock of ``day`` for a whole run (``<lake>/_locks/<day>.lock``).

    Raises:
        LakeBusy: another run of the same day holds it (``wait=False``, or
            ``timeout`` seconds passed).
    """
    path = Path(root) / DAY_LOCKS / f"{day.isoformat()}.lock"
    msg = (f"another run of {day} is already writing the lake {root} (it holds {path}); "
           "wait for it to finish, then run again")
    with _flock(path, wait=wait, busy=msg, timeout=timeout):
        yield


# --- transactions ----------------------------------------------------------------

def partition_dir(root: Path, dataset: str, key: str, day: date) -> Path:
    """``<root>/<dataset>/<key>=<day>``: the folder of one partition."""
    return Path(root) / dataset / f"{key}={day.isoformat()}"


def commit(root: Path, day: date, tables: Mapping[str, pa.Table | None], key: str) -> None:
    """Replace the ``day`` partition of every dataset in ``tables`` in one transaction.

    ``tables`` maps a dataset name to its new table (without the partition
    column), or to ``None`` to remove that day's partition. The caller holds
    :func:`lake_lock` and has run :func:`recover`.
    """
    root = Path(root)
    txn = f"{day.isoformat()}-{uuid.uuid4().hex[:12]}"
    ops = []
    for dataset, table in tables.items():
        target = partition_dir(root, dataset, key, day).relative_to(root)
        staged = None
        if table is not None:
            staged = Path(STAGING) / txn / target / PART_FILE
            write_parquet_atomic(table, root / staged)
        ops.append({"target": str(target), "staged": None if staged is None else str(staged)})
    journal = root / JOURNAL / f"{txn}.json"
    body = json.dumps({"txn": txn, "day": day.isoformat(), "ops": ops}, indent=1)
    write_file_atomic(journal, lambda tmp: tmp.write_text(body, encoding="utf-8"))  # the commit point
    _roll_forward(root, journal)


def _apply(root: Path, op: Mapping[str, str | None]) -> None:
    """One journal entry, idempotently: the staged file becomes the partition's only file."""
    target = root / str(op["target"])
    if op["staged"] is None:
        if target.exists():
            shutil.rmtree(target)
            _fsync_dir(target.parent)
        return
    staged = root / str(op["staged"])
    target.mkdir(parents=True, exist_ok=True)
    if staged.exists():  # else: moved by an earlier, interrupted roll-forward
        os.replace(staged, target / PART_FILE)
    for other in target.iterdir():  # files of an older layout (part-1...) or a foreign writer
        if other.name != PART_FILE:
            shutil.rmtree(other) if other.is_dir() else other.unlink()
    _fsync_dir(target)


def _roll_forward(root: Path, journal: Path) -> None:
    """Finish a committed transaction, then delete its journal and staging."""
    entry = json.loads(journal.read_text(encoding="utf-8"))
    for op in entry["ops"]:
        _apply(root, op)
    journal.unlink()
    _fsync_dir(journal.parent)
    shutil.rmtree(root / STAGING / entry["txn"], ignore_errors=True)


def recover(root: Path) -> None:
    """Finish every committed transaction and drop every uncommitted one (caller holds :func:`lake_lock`).

    Afterwards ``_journal`` and ``_staging`` are empty: no stray file is left.
    """
    root = Path(root)
    journals = root / JOURNAL
    if journals.is_dir():
        for tmp in journals.glob("*.tmp"):  # a journal never committed
            tmp.unlink()
        for journal in sorted(journals.glob("*.json")):
            _roll_forward(root, journal)
    staging = root / STAGING
    if staging.is_dir():
        for txn in staging.iterdir():  # staged but never committed: roll back
            shutil.rmtree(txn) if txn.is_dir() else txn.unlink()
