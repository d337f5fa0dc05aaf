"""A lake dataset's files by night, and their Parquet schemas, read once per process.

A read of a few nights (a night's lookback window) must not open every
night's file. Building a ``pyarrow.dataset`` of the whole dataset and asking
each fragment its schema did: a night's reads cost time and memory that grew
with the lake (one night of 2,000 encounters audited on a lake of 1,030
nights: 621 MB and 9.7 s, against 415 MB and 6.2 s on 30 nights). Here a read
lists the partition folders by name, opens only its own nights' files, and
takes every other file's schema from a cache of this process, keyed by the
file's identity: the lake replaces a file by renaming a new one into place
and never edits one, so a rewritten night has a new inode and mtime.

The cache holds each distinct schema once and, per file, its path and
identity: about 200 bytes a file (6,000 files, three years of six datasets,
about 1 MB).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

#: The hive partition column (as :data:`transforms.outputs.lake.PARTITION_KEY`, which imports this module).
PARTITION_KEY = "audit_date"
_PREFIX = f"{PARTITION_KEY}="
#: Names ``pyarrow.dataset`` skips when it lists a folder (its ``selector_ignore_prefixes``).
_IGNORED = (".", "_")

#: Files whose schemas are read at once (their Parquet metadata is held meanwhile).
_SCHEMAS_PER_READ = 64
#: File path -> (its identity when read, the index of its schema in :data:`_DISTINCT`).
_SCHEMA_OF: dict[str, tuple[tuple[int, int, int], int]] = {}
#: Each distinct schema seen (metadata included), in the order first seen.
_DISTINCT: list[pa.Schema] = []
#: Guards :data:`_DISTINCT`: threads reading different lakes (each read holds its own lake's lock) share it.
_DISTINCT_LOCK = threading.Lock()
#: (summariser, columns, files) -> (the files' identities when summarised, the summary): :func:`recall`, :func:`keep`.
_SUMMARY_OF: dict[tuple[str, tuple[str, ...], tuple[str, ...]], tuple[tuple[tuple[int, int, int], ...], Any]] = {}


def night_files(base: Path, first: date | None = None, last: date | None = None) -> list[Path]:
    """The files of the dataset at ``base`` of the nights ``first`` .. ``last`` (every night
    when not given), in the order ``pyarrow.dataset`` lists them: by path."""
    with os.scandir(base) as entries:
        folders = sorted(entry.name for entry in entries if entry.is_dir() and entry.name.startswith(_PREFIX))
    files: list[Path] = []
    for folder in folders:
        night = date.fromisoformat(folder[len(_PREFIX):])
        if (first is not None and night < first) or (last is not None and night > last):
            continue
        with os.scandir(base / folder) as entries:
            names = sorted(e.name for e in entries if e.is_file() and not e.name.startswith(_IGNORED))
        files += [base / folder / name for name in names]
    return files


def _identity(path: Path) -> tuple[int, int, int]:
    stat = os.stat(path)
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _index_of(schema: pa.Schema) -> int:
    """The index of ``schema`` in :data:`_DISTINCT` (added if new: one per schema version and
    set of extra input columns, a handful)."""
    with _DISTINCT_LOCK:
        for index, seen in enumerate(_DISTINCT):
            if seen.equals(schema, check_metadata=True):
                return index
        _DISTINCT.append(schema)
        return len(_DISTINCT) - 1


def distinct_schemas(files: list[Path]) -> list[pa.Schema]:
    """The Parquet schemas of ``files`` (as their dataset fragments' ``physical_schema``), each
    distinct one once, in the order of the first file holding it. A file's schema is read once
    per identity of the file; the unread ones :data:`_SCHEMAS_PER_READ` at a time (about 0.2 ms
    a file; 6,000 files in 1.2 s)."""
    identities = [_identity(path) for path in files]
    unread = [(path, identity) for path, identity in zip(files, identities)
              if _SCHEMA_OF.get(str(path), (None,))[0] != identity]
    for start in range(0, len(unread), _SCHEMAS_PER_READ):  # a fragment holds its file's metadata: a few at once
        batch = unread[start:start + _SCHEMAS_PER_READ]
        fragments = ds.dataset([str(path) for path, _ in batch], format="parquet").get_fragments()
        for (path, identity), fragment in zip(batch, fragments):
            _SCHEMA_OF[str(path)] = (identity, _index_of(fragment.physical_schema))
    order = dict.fromkeys(_SCHEMA_OF[str(path)][1] for path in files)
    return [_DISTINCT[index] for index in order]


def night_of(path: Path) -> date:
    """The night of a file listed by :func:`night_files` (from its partition folder's name)."""
    return date.fromisoformat(path.parent.name[len(_PREFIX):])


def of_nights(files: list[Path], first: date | None, last: date | None) -> list[Path]:
    """Those of ``files`` (listed by :func:`night_files`) of the nights ``first`` .. ``last``."""
    if first is None and last is None:
        return files
    return [path for path in files if (first is None or night_of(path) >= first) and
            (last is None or night_of(path) <= last)]


def _summary_key(summarise: Callable[..., Any], columns: Sequence[str], files: Sequence[Path]) -> tuple:
    return f"{summarise.__module__}.{summarise.__qualname__}", tuple(columns), tuple(str(p) for p in files)


def recall(summarise: Callable[..., Any], columns: Sequence[str], files: Sequence[Path]) -> Any | None:
    """The summary :func:`keep` kept of ``columns`` of one night's ``files`` by ``summarise``,
    if the files are the same ones (identity) still; else None."""
    known = _SUMMARY_OF.get(_summary_key(summarise, columns, files))
    if known is not None and known[0] == tuple(_identity(path) for path in files):
        return known[1]
    return None


def keep(summarise: Callable[..., Any], columns: Sequence[str], files: Sequence[Path], value: Any) -> None:
    """Keep ``value``, the summary by ``summarise`` of ``columns`` of one night's ``files`` (small:
    a trend row per night), for :func:`recall` while the files keep their identity."""
    _SUMMARY_OF[_summary_key(summarise, columns, files)] = (tuple(_identity(path) for path in files), value)
