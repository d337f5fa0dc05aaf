"""Shards of one day: audit a huge day in contiguous ranges of encounters.

The engine and the findings work encounter by encounter (no row of one
encounter changes another's lines or findings), and every output frame of
:func:`transforms.audit.run_audit` is sorted with ``encounter_id`` as its first
key. So a day cut into contiguous ranges of the *sorted* encounter ids, each
range audited on its own and the results concatenated in range order, gives
the same frames, row for row, as the whole day audited at once, while the
engine only ever holds one shard's intermediate frames (bounded memory).

Pure: pandas and numpy only, no Prefect.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.audit import AuditResult

ENCOUNTER = "encounter_id"


@dataclass(frozen=True)
class Shard:
    """One shard of a day: the MAR events and claim lines of a contiguous range of encounters.

    Attributes:
        index: 0-based position of the shard (shards come in encounter order).
        first, last: the smallest and largest encounter id of the range (inclusive).
        mar, claims: the rows of those encounters, in their original relative order.
    """

    index: int
    first: str
    last: str
    mar: pd.DataFrame
    claims: pd.DataFrame


def encounter_ranges(encounter_ids: pd.Series, max_encounters: int) -> list[tuple[str, str]]:
    """Cut the sorted distinct encounter ids into contiguous ranges of at most ``max_encounters``.

    Args:
        encounter_ids: encounter ids (repeats and nulls allowed; nulls are ignored).
        max_encounters: the most encounters per range, >= 1.

    Returns:
        ``(first, last)`` id of each range, inclusive, in ascending order
        (Python string order, the order ``sort_values`` gives the outputs).
        Every range but the last holds exactly ``max_encounters`` ids; no ids: ``[]``.

    Raises:
        ValueError: ``max_encounters`` below 1.
    """
    if max_encounters < 1:
        raise ValueError(f"max_encounters must be at least 1, not {max_encounters}")
    ids = np.sort(pd.unique(encounter_ids.dropna().astype(str)))
    starts = np.arange(0, len(ids), max_encounters)
    ends = np.minimum(starts + max_encounters, len(ids)) - 1
    return [(str(ids[s]), str(ids[e])) for s, e in zip(starts, ends)]


def _shard_of(encounter_ids: pd.Series, firsts: np.ndarray) -> np.ndarray:
    """The shard index of each row (vectorised: a binary search of the range starts).

    A row with no encounter id goes to shard 0, so no row is lost.
    """
    known = encounter_ids.notna().to_numpy()
    ids = encounter_ids.astype(object).where(encounter_ids.notna(), "").astype(str).to_numpy()
    index = np.searchsorted(firsts, ids, side="right") - 1
    return np.where(known, np.maximum(index, 0), 0)


def iter_shards(mar: pd.DataFrame, claims: pd.DataFrame, max_encounters: int) -> Iterator[Shard]:
    """Split one day's MAR events and claim lines into shards of at most ``max_encounters`` encounters.

    The encounters are those of either frame; a range holds the encounters
    of both frames that fall between its ``first`` and ``last`` id. Every
    row lands in exactly one shard (``sum(len(s.mar)) == len(mar)``, likewise
    claims), keeping its relative order; a day with at most
    ``max_encounters`` encounters is one shard holding the frames unchanged.
    Shards are cut as they are asked for, so only one shard's rows are
    copied at a time.

    Raises:
        ValueError: ``max_encounters`` below 1.
    """
    ids = pd.concat([mar.get(ENCOUNTER, pd.Series(dtype=object)),
                     claims.get(ENCOUNTER, pd.Series(dtype=object))], ignore_index=True)
    ranges = encounter_ranges(ids, max_encounters)
    if len(ranges) <= 1:
        first, last = ranges[0] if ranges else ("", "")
        yield Shard(0, first, last, mar, claims)
        return
    firsts = np.array([first for first, _ in ranges], dtype=object).astype(str)
    groups = [_shard_of(frame[ENCOUNTER], firsts) if ENCOUNTER in frame else np.zeros(len(frame), dtype=int)
              for frame in (mar, claims)]
    for i, (first, last) in enumerate(ranges):
        yield Shard(i, first, last, mar[groups[0] == i].reset_index(drop=True),
                    claims[groups[1] == i].reset_index(drop=True))


def split_day(mar: pd.DataFrame, claims: pd.DataFrame, max_encounters: int) -> list[Shard]:
    """Every shard of :func:`iter_shards` at once.

    Raises:
        ValueError: ``max_encounters`` below 1.
    """
    return list(iter_shards(mar, claims, max_encounters))


def _concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Shard outputs in shard order. Empty shards are left out: an empty frame's
    columns may carry placeholder dtypes that would upcast the others'."""
    kept = [f for f in frames if not f.empty]
    return pd.concat(kept, ignore_index=True) if kept else frames[0]


def _renumbered(administrations: Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    """Each shard's ``admin_id`` offset by the administrations of the shards before it.

    The engine numbers a day's administrations 0..n-1 in encounter order, so
    shard k's local numbers plus the count of shards 0..k-1 are the numbers
    the whole day would have given them.
    """
    out, offset = [], 0
    for frame in administrations:
        if "admin_id" in frame and offset:
            frame = frame.assign(admin_id=frame["admin_id"] + offset)
        out.append(frame)
        offset += len(frame)
    return out


def combine_results(parts: Sequence[AuditResult]) -> AuditResult:
    """Concatenate the audits of a day's shards, in shard (encounter) order.

    ``admin_id`` (the engine's running number of the day's administrations)
    is renumbered as the whole day would number it (:func:`_renumbered`).
    Each frame is concatenated and then stably sorted by ``encounter_id``:
    the shards already come in encounter order, so the sort changes nothing
    for outputs sorted by encounter, and is the ONE place that makes the
    combined order deterministic should an output ever not be.

    Raises:
        ValueError: no parts.
    """
    if not parts:
        raise ValueError("combine_results needs at least one shard's result")
    if len(parts) == 1:
        return parts[0]

    def combined(name: str) -> pd.DataFrame:
        frames = [getattr(p, name) for p in parts]
        if name == "administrations":
            frames = _renumbered(frames)
        frame = _concat(frames)
        if ENCOUNTER in frame and not frame.empty:
            frame = frame.sort_values(ENCOUNTER, kind="mergesort").reset_index(drop=True)
        return frame

    return AuditResult(administrations=combined("administrations"), expected_lines=combined("expected_lines"),
                       findings=combined("findings"))
