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

from collections import deque
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.audit import AuditResult
from transforms.frames import is_text_categorical, text_order
from transforms.memory import release_freed_memory

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


def _ranked(encounter_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rank of each row's encounter among the sorted distinct ids, and those ids.

    One hash of the rows (``pd.factorize``) and one sort of the distinct ids
    only (:func:`_ranked_distinct`).

    Returns:
        ``(rank, names)``: int64 rank ``0..len(names)-1`` per row (-1 for a
        missing id) and the distinct ids as ``str``, ascending (object array).
    """
    codes, uniques = pd.factorize(encounter_ids)
    rank_of, names = _ranked_distinct(np.asarray(uniques, dtype=object))
    rank = np.where(codes >= 0, rank_of[np.maximum(codes, 0)] if len(rank_of) else -1, -1)
    return rank.astype(np.int64, copy=False), names


def _ranked_distinct(uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rank of each of the distinct ids ``uniques`` (object array, no
    missing value) among the sorted distinct ids, and those ids.

    Ids compare as text (Python string order, as ``sort_values`` orders the
    outputs); a non-text id by its ``str``, so two ids of one text (1 and
    "1") share a rank.

    Returns:
        ``(rank_of, names)``: int64 rank per entry of ``uniques`` and the
        distinct ids as ``str``, ascending (object array).
    """
    if pd.api.types.infer_dtype(uniques, skipna=False) in ("string", "empty"):
        order = text_order(uniques)  # Python string order
        if order is None:  # a text UTF-8 cannot hold: numpy compares them one pair at a time
            order = np.argsort(uniques, kind="stable")
        rank_of = np.empty(len(uniques), dtype=np.int64)
        rank_of[order] = np.arange(len(uniques), dtype=np.int64)
        return rank_of, uniques[order]
    # Ids of other types: their text may coincide (1 and "1"), so rank the distinct texts.
    names, rank_of = np.unique(uniques.astype(str).astype(object), return_inverse=True)
    return rank_of.reshape(-1).astype(np.int64), names


def _encounter_codes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of the frame's encounter ids: ``(codes, distinct ids)``,
    -1 where missing, every distinct id used by some row.

    A compact text column (``Categorical`` of ``str``, as staged for the
    audit) is factorised already: its codes are taken as they are, and only
    its categories that some row uses are kept (a kept frame is a take of the
    staged rows, so it may carry categories of quarantined rows only).
    """
    if ENCOUNTER not in frame:
        return np.full(len(frame), -1, dtype=np.intp), np.empty(0, dtype=object)
    ids = frame[ENCOUNTER]
    if not is_text_categorical(ids):
        codes, uniques = pd.factorize(ids.to_numpy(dtype=object))
        return codes, np.asarray(uniques, dtype=object)
    codes = ids.array.codes
    categories = ids.dtype.categories.to_numpy(dtype=object)
    used = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
    if used.all():
        return codes, categories
    renumber = np.full(len(categories) + 1, -1, dtype=np.intp)  # the last entry: code -1
    renumber[np.flatnonzero(used)] = np.arange(int(used.sum()))
    return renumber[codes], categories[used]


def encounters_of(frame: pd.DataFrame) -> int:
    """How many distinct encounters ``frame``'s rows name (missing ids not counted; a compact
    column's categories that no row uses neither)."""
    return len(_encounter_codes(frame)[1])


def _ranked_frames(mar: pd.DataFrame, claims: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both frames' encounter ids as codes into one table of ranks, and the sorted distinct ids.

    Only the distinct ids of each frame are ranked (:func:`_ranked_distinct`),
    so no row's id is hashed or copied as text more than once (a compact
    column's not at all), and a row's rank is one look-up of its code.

    Returns:
        ``(mar_codes, claim_codes, rank_of, names)``: int code per row of each
        frame, ``rank_of[code]`` its encounter's rank among ``names`` (the
        sorted distinct ids; the code -1, a missing id, takes the last entry,
        -1).
    """
    (mar_codes, mar_ids), (claim_codes, claim_ids) = _encounter_codes(mar), _encounter_codes(claims)
    if len(mar_ids) == len(claim_ids) and np.array_equal(mar_ids, claim_ids):
        # The usual day (every encounter charted and billed, both staged alike): one
        # list of distinct ids, nothing to hash; the claims' codes are the MAR's.
        rank_of, names = _ranked_distinct(mar_ids)
    else:
        rank_of, names = _ranked(np.concatenate([mar_ids, claim_ids]))
        claim_codes = np.where(claim_codes >= 0, claim_codes.astype(np.intp) + len(mar_ids), -1)  # after the MAR's ids
    return mar_codes, claim_codes, np.append(rank_of, -1), names


def _bounds(count: int, max_encounters: int, at_least: Sequence[float] = ()) -> np.ndarray:
    """Where each shard of ``count`` sorted encounters starts, and then ``count``: as few shards
    as ``max_encounters`` allows, their sizes differing by at most one; but a day of more than
    one shard that its size would cut into fewer than ``len(at_least)`` is cut into that many
    (never more than ``count``), their sizes in the proportions of ``at_least``.

    Near-equal shards, not full ones and a remainder: processes auditing a day's
    shards side by side finish together (a day of 51,000 encounters in shards of
    50,000 was one process's 50,000 against another's 1,000). ``at_least`` cuts a
    day finer for helper processes started ahead, and gives their shards more
    encounters, since their crossing to them and back is work of the process
    that audits the others (:func:`flows.shard_workers.helper_cut`). Near-equal
    sizes instead when the proportions would leave a shard empty or over
    ``max_encounters``.

    Raises:
        ValueError: ``max_encounters`` below 1.
    """
    if max_encounters < 1:
        raise ValueError(f"max_encounters must be at least 1, not {max_encounters}")
    by_size = -(-count // max_encounters)  # ceil
    shards = min(max(by_size, len(at_least)), count) if by_size > 1 else by_size
    equal = (np.arange(shards + 1, dtype=np.int64) * count) // max(shards, 1)
    if shards <= by_size or shards < len(at_least) or len(set(at_least)) == 1:  # by size, too few, or equal
        return equal
    weights = np.asarray(at_least, dtype=float)
    bounds = np.rint(np.r_[0.0, np.cumsum(weights)] / weights.sum() * count).astype(np.int64)
    sizes = np.diff(bounds)
    return bounds if sizes.min() >= 1 and sizes.max() <= max_encounters else equal


def _cut(names: np.ndarray, bounds: np.ndarray) -> list[tuple[str, str]]:
    """``(first, last)`` of each shard of the sorted distinct ``names`` (``bounds``: :func:`_bounds`)."""
    return [(str(names[s]), str(names[e - 1])) for s, e in zip(bounds[:-1], bounds[1:])]


def encounter_ranges(encounter_ids: pd.Series, max_encounters: int) -> list[tuple[str, str]]:
    """Cut the sorted distinct encounter ids into contiguous ranges of at most ``max_encounters``.

    Args:
        encounter_ids: encounter ids (repeats and nulls allowed; nulls are ignored).
        max_encounters: the most encounters per range, >= 1.

    Returns:
        ``(first, last)`` id of each range, inclusive, in ascending order
        (Python string order, the order ``sort_values`` gives the outputs):
        as few ranges as ``max_encounters`` allows, their sizes differing by at
        most one (:func:`_bounds`); no ids: ``[]``.

    Raises:
        ValueError: ``max_encounters`` below 1.
    """
    names = _ranked(encounter_ids.to_numpy(dtype=object))[1]
    return _cut(names, _bounds(len(names), max_encounters))


def _rows(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """The rows of ``frame`` at ``positions`` (ascending), indexed ``0..n-1``: one
    copy of them, cut column by column as :func:`take_shards` cuts (:func:`_cut_columns`)."""
    names, arrays, _ = _columns(frame)
    return _cut_columns(names, arrays, [positions])[0]


def _shard_positions(shard: np.ndarray, n: int) -> list[np.ndarray]:
    """Per shard ``0..n-1``: the positions of its rows, ascending (one stable argsort
    of the shard numbers, then contiguous slices; a small int dtype sorts by radix)."""
    small = shard.astype(np.int16 if n < 2**15 else np.int64, copy=False)
    order = np.argsort(small, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(small, minlength=n))]
    return [order[bounds[i]:bounds[i + 1]] for i in range(n)]


def _plan(mar: pd.DataFrame, claims: pd.DataFrame, max_encounters: int, at_least: Sequence[float] = ()
          ) -> tuple[list[tuple[str, str]], list[list[np.ndarray]] | None]:
    """The day's encounter ranges (:func:`_bounds`) and, per frame (MAR, claims), each range's
    row positions (ascending); positions None when the day is one shard (at most ``max_encounters``).

    Raises:
        ValueError: ``max_encounters`` below 1.
    """
    mar_codes, claim_codes, rank_of, names = _ranked_frames(mar, claims)
    bounds = _bounds(len(names), max_encounters, at_least)
    ranges = _cut(names, bounds)
    if len(ranges) <= 1:
        return ranges or [("", "")], None
    # A row's shard is the one its encounter's rank falls in (a missing id's: 0), looked up
    # per code in a table of small ints (cache-sized, where a rank per row is 8 bytes a row).
    shard_of = np.searchsorted(bounds[1:], np.maximum(rank_of, 0), side="right")
    shard_of = shard_of.astype(np.int16 if len(ranges) < 2**15 else np.int64)
    return ranges, [_shard_positions(shard_of[codes], len(ranges)) for codes in (mar_codes, claim_codes)]


def iter_shards(mar: pd.DataFrame, claims: pd.DataFrame, max_encounters: int, at_least: Sequence[float] = ()
                ) -> Iterator[Shard]:
    """Split one day's MAR events and claim lines into shards of at most ``max_encounters`` encounters.

    The encounters are those of either frame; a range holds the encounters
    of both frames that fall between its ``first`` and ``last`` id. Every
    row lands in exactly one shard (``sum(len(s.mar)) == len(mar)``, likewise
    claims), keeping its relative order; a row with no encounter id goes to
    shard 0. A day with at most ``max_encounters`` encounters is one shard
    holding the frames unchanged; a larger day is cut into as few shards as
    ``max_encounters`` allows, of near-equal size, but into at least
    ``len(at_least)``, sized in its proportions, when the size asks for fewer
    (:func:`_bounds`). Shards are cut as they are asked for, so only one
    shard's rows are copied at a time (the caller keeps the day's).

    Raises:
        ValueError: ``max_encounters`` below 1.
    """
    ranges, positions = _plan(mar, claims, max_encounters, at_least)
    if positions is None:
        yield Shard(0, *ranges[0], mar, claims)
        return
    for i, (first, last) in enumerate(ranges):
        yield Shard(i, first, last, _rows(mar, positions[0][i]), _rows(claims, positions[1][i]))


def take_shards(frames: list[pd.DataFrame], max_encounters: int,
                left_out: tuple[Collection[str], Collection[str]] = ((), ()), at_least: Sequence[float] = ()
                ) -> Iterator[Shard]:
    """:func:`iter_shards` of ``frames`` (``[mar, claims]``), taking the frames over.

    For a caller that holds the day's rows nowhere else (a files-in run):
    ``frames`` is emptied, and each column is cut into its shards' pieces and
    dropped before the next is cut, so the rows are held once, in the shards,
    and each shard is freed as soon as the caller moves on to the next. A
    day's inputs then shrink while its results grow, where :func:`iter_shards`
    keeps every input row until the last shard. The same shards, row for row
    and dtype for dtype, but for ``left_out``: the columns of the MAR and of
    the claims that no shard gets (the caller never reads them).
    ``at_least``: as :func:`iter_shards`.

    Raises:
        ValueError: ``max_encounters`` below 1 (when the first shard is asked for).
    """
    mar, claims = frames
    frames.clear()
    ranges, positions = _plan(mar, claims, max_encounters, at_least)
    mar_columns, claim_columns = _columns(mar, left_out[0]), _columns(claims, left_out[1])
    del mar, claims  # their columns are now held by the lists alone, which the cut empties
    if positions is None:
        yield Shard(0, *ranges[0], _frame(*mar_columns), _frame(*claim_columns))
        return
    pending = deque(Shard(i, first, last, mar_part, claims_part) for i, ((first, last), mar_part, claims_part)
                    in enumerate(zip(ranges, _cut_columns(*mar_columns[:2], positions[0]),
                                     _cut_columns(*claim_columns[:2], positions[1]))))
    while pending:
        # No local names the shard handed out: once its consumer lets it go (audited, or
        # forked to a child that audits it), it is freed, not kept until the next is asked for.
        yield pending.popleft()


def _columns(frame: pd.DataFrame, left_out: Collection[str] = ()) -> tuple[pd.Index, list, int]:
    """``frame``'s column names and its columns' arrays (views, not copies), but those named
    in ``left_out``, and its number of rows."""
    kept = [i for i, name in enumerate(frame.columns) if name not in left_out]
    return frame.columns[kept], [frame.iloc[:, i].array for i in kept], len(frame)


def _frame(names: pd.Index, arrays: list, n: int) -> pd.DataFrame:
    """A frame of the ``n``-row columns ``arrays`` (not copied), named ``names``, indexed ``0..n-1``."""
    frame = pd.DataFrame(dict(enumerate(arrays)), index=pd.RangeIndex(n), copy=False)
    frame.columns = names
    return frame


def _cut_columns(names: pd.Index, arrays: list, positions: list[np.ndarray]) -> list[pd.DataFrame]:
    """One frame per entry of ``positions``: the rows of the columns ``arrays`` at those
    positions, indexed ``0..n-1``. ``arrays`` is emptied column by column as it is cut,
    so at most one column is held twice."""
    cells: list[list] = [[] for _ in positions]
    for i in range(len(arrays)):
        column, arrays[i] = arrays[i], None
        for part, rows in zip(cells, positions):
            part.append(column.take(rows))
        del column
    arrays.clear()
    return [_frame(names, part, len(rows)) for part, rows in zip(cells, positions)]


def _used_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each categorical column keeping only the categories its rows use
    (in their order); the other columns shared, not copied."""
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = pd.Series(only_used_categories(column.array), index=frame.index, name=name)
        columns[name] = column
    return pd.DataFrame(columns, index=frame.index, copy=False)


def only_used_categories(values: pd.Categorical) -> pd.Categorical:
    """``values`` with only the categories its codes use, in their order: what
    ``remove_unused_categories`` gives, found by counting the codes, not sorting them.

    A shard's column has a few hundred thousand codes into the day's
    categories (a million encounter ids at 1M encounters): pandas sorts the
    codes (``np.unique``); counting them and renumbering through a table is
    linear, about half the time of compacting a shard."""
    codes, categories = values.codes, values.categories
    if not len(categories):
        return values.copy()
    null = codes < 0
    used = np.bincount(codes[~null] if null.any() else codes, minlength=len(categories)) > 0
    renumbered = (np.cumsum(used) - 1).astype(codes.dtype, copy=False).take(codes)
    renumbered[null] = -1
    dtype = pd.CategoricalDtype(categories[used], ordered=values.ordered)
    return pd.Categorical.from_codes(renumbered, dtype=dtype, validate=False)


def compact_shard(shard: Shard) -> Shard:
    """``shard`` for sending to another process: the same rows and values, but each
    categorical column carries only its own rows' categories.

    A shard cut from a day shares the day's categories (at a million
    encounters, every encounter, bag and claim id of the day in each shard's
    dtype): pickled whole, a 50,000-encounter shard of such a day is 167 MB
    and takes about 3 s; compacted, 49 MB and 0.1 s. The audit reads the
    values, never the unused categories, so its result is the same."""
    return Shard(shard.index, shard.first, shard.last, _used_categories(shard.mar), _used_categories(shard.claims))


def split_day(mar: pd.DataFrame, claims: pd.DataFrame, max_encounters: int) -> list[Shard]:
    """Every shard of :func:`iter_shards` at once.

    Raises:
        ValueError: ``max_encounters`` below 1.
    """
    return list(iter_shards(mar, claims, max_encounters))


#: The frames of an :class:`~transforms.audit.AuditResult`, in order.
RESULT_FRAMES: tuple[str, ...] = ("administrations", "expected_lines", "findings")


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Shard outputs in shard order (``frames`` is emptied). Empty shards are left out: an
    empty frame's columns may carry placeholder dtypes that would upcast the others'."""
    kept = [f for f in frames if not f.empty]
    first = frames[0]
    frames.clear()
    return pd.concat(kept, ignore_index=True) if kept else first


def _renumbered(administrations: Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    """Each shard's ``admin_id`` offset by the administrations of the shards before it.

    The engine numbers a day's administrations 0..n-1 in encounter order, so
    shard k's local numbers plus the count of shards 0..k-1 are the numbers
    the whole day would have given them.
    """
    out, offset = [], 0
    for frame in administrations:
        if "admin_id" in frame and offset:
            # A shallow copy with the one new column (``assign`` would copy every column).
            frame = frame.copy(deep=False)
            frame["admin_id"] = frame["admin_id"] + offset
        out.append(frame)
        offset += len(frame)
    return out


def _combined(name: str, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One output frame of the day from its shards' (``frames``, in shard order; emptied)."""
    if name == "administrations":
        frames[:] = _renumbered(frames)
    frame = _concat(frames)
    # Already in encounter order (the usual case): a stable sort would only copy every column.
    if ENCOUNTER in frame and not frame.empty and not frame[ENCOUNTER].is_monotonic_increasing:
        frame = frame.sort_values(ENCOUNTER, kind="mergesort").reset_index(drop=True)
    return frame


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
    return AuditResult(**{name: _combined(name, [getattr(p, name) for p in parts]) for name in RESULT_FRAMES})


def take_results(parts: list[AuditResult]) -> AuditResult:
    """:func:`combine_results` of ``parts``, taking them over: ``parts`` is emptied, and
    each frame's shard pieces are dropped as soon as that frame is concatenated, so at
    the end of the audit the day's administrations, expected lines and findings are
    never all held twice at once.

    Raises:
        ValueError: no parts.
    """
    if len(parts) <= 1:
        return combine_results(parts)
    by_name = {name: [getattr(p, name) for p in parts] for name in RESULT_FRAMES}
    parts.clear()
    combined = {}
    for name in RESULT_FRAMES:
        # The shards' freed working memory (and then the pieces just combined) back to the
        # system first, or the combined frames are counted on top of it (0.4 GB at 1M encounters).
        release_freed_memory()
        combined[name] = _combined(name, by_name.pop(name))
    return AuditResult(**combined)
