"""Small vectorised helpers shared by the transforms."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.sort_keys import LIMIT, scaled_offsets


def join_runs(values: np.ndarray, starts: np.ndarray, sep: str, *, labels: bool = False) -> np.ndarray:
    """Join each run of consecutive ``values`` with ``sep``, with no loop in Python.

    Run ``i`` is ``values[starts[i]:starts[i + 1]]`` (the last one runs to
    the end). ``values`` are ``str`` (object array); ``starts`` strictly
    increasing, the first 0. Every value but the last of its run gets
    ``sep`` appended, then ``np.add.reduceat`` concatenates each run in C.
    ``labels``: the joined texts are few (a drug label, rule ids), each then
    held by one object, not one per run (:func:`select_labels` says why).

    Returns:
        an object array of ``len(starts)`` strings.
    """
    values = np.asarray(values, dtype=object)
    starts = np.asarray(starts, dtype=np.intp)
    if len(starts) == 0:
        return np.empty(0, dtype=object)
    if len(starts) == len(values):  # every run has one value: nothing to join
        return values.copy()
    not_last = np.ones(len(values), dtype=bool)
    not_last[starts[1:] - 1] = False
    not_last[-1] = False
    pieces = values.copy()
    if sep:
        pieces[not_last] = pieces[not_last] + sep
    joined = np.add.reduceat(pieces, starts)
    if labels:  # a run of one value is that value's object already
        several = np.flatnonzero(np.diff(np.r_[starts, len(values)]) > 1)
        code, distinct = pd.factorize(joined[several])
        joined[several] = np.asarray(distinct, dtype=object)[code]
    return joined


def first_rows(codes: np.ndarray) -> np.ndarray:
    """Position of each code's first row, for codes numbered in order of first
    appearance (as ``pd.factorize`` numbers them, no -1): where the running
    maximum of the codes goes up. Row 0, when there is one, is always first."""
    if not len(codes):
        return np.empty(0, dtype=np.int64)
    running = np.maximum.accumulate(codes)
    # one bool per row besides the running maximum (fresh arrays are costly at 5M rows)
    later = np.flatnonzero(running[1:] != running[:-1])
    return np.concatenate(([0], later + 1))


def factorize_shared(values: pd.Series | np.ndarray, *, use_na_sentinel: bool = True,
                     sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values)`` of an object column, fast when equal values
    share one Python object (the readers build text columns so).

    Hashing a text per row costs tens of ns; the pointer of each element
    (what ``id()`` gives in CPython) is hashed as an int instead, then only
    the first element of each distinct object is factorised by value. Equal
    pointers are the same object, so the codes are exactly ``pd.factorize``'s
    (first-appearance order, or sorted with ``sort=True``; missing -1 unless
    ``use_na_sentinel=False``), whether or not the objects are shared. Only
    read, never dereferenced: ``values`` holds every object alive meanwhile.
    Columns of many distinct objects, other dtypes and other Pythons take
    ``pd.factorize`` directly.

    Returns:
        ``(codes, uniques)``: intp code per element, uniques as an array.
    """
    if values.dtype != object or values.ndim != 1 or sys.implementation.name != "cpython" or len(values) == 0:
        codes, uniques = pd.factorize(values, use_na_sentinel=use_na_sentinel, sort=sort)
        return codes, np.asarray(uniques)
    array = np.ascontiguousarray(values.to_numpy() if isinstance(values, pd.Series) else values)
    pointer_code, _ = pd.factorize(np.frombuffer(array, dtype=np.intp))
    first = first_rows(pointer_code)
    if len(first) > len(array) // 4:  # mostly distinct objects: hashing pointers gains nothing
        codes, uniques = pd.factorize(array, use_na_sentinel=use_na_sentinel, sort=sort)
        return codes, np.asarray(uniques, dtype=object)
    object_code, uniques = pd.factorize(array[first], use_na_sentinel=use_na_sentinel, sort=sort)
    return object_code[pointer_code], np.asarray(uniques, dtype=object)


def select_labels(conditions: list[np.ndarray], choices: list[str], default: str) -> np.ndarray:
    """``np.select(conditions, choices, default)`` as an object array whose rows hold
    the ``choices``' own objects, one per label.

    ``np.select`` of text makes a numpy string array, and each of its rows
    becomes a Python object of its own once it is a column (about 60 bytes
    for a label of a dozen characters): held with the results until the run
    folder is written, some 80 MB of labels at a million encounters."""
    labels = np.array([*choices, default], dtype=object)
    return labels[np.select(conditions, np.arange(len(choices)), default=len(choices))]


def map_distinct(values: pd.Series, func: Callable[[Any], Any]) -> pd.Series:
    """``values.map(func)`` with ``func`` called once per distinct value.

    A column has few distinct values among many rows (codes, sites), so the
    Python call per row is replaced by one per distinct value and a take.
    Missing values are passed to ``func`` too, as ``map`` passes them.
    Returns a Series aligned with ``values`` (object dtype unless every
    result is of one numpy kind, as ``map`` infers it).
    """
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    mapped = pd.Series(distinct, dtype=object).map(func)
    return pd.Series(mapped.to_numpy()[codes], index=values.index, name=values.name)


def on_distinct(values: pd.Series | np.ndarray, func: Callable[[pd.Series], Any]) -> np.ndarray:
    """``func`` (vectorised, on a Series) of each distinct value, taken back
    to every row: a column has few distinct values among many rows. Missing
    values are one distinct value and are passed to ``func`` too.

    Returns:
        a numpy array aligned with ``values`` (``func``'s dtype).
    """
    if values.dtype == object:
        codes, distinct = factorize_shared(values, use_na_sentinel=False)
        return np.asarray(func(pd.Series(distinct, dtype=object)))[codes]
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return np.asarray(func(pd.Series(distinct)))[codes]


def distinct_rows(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Code of each row's tuple of ``keys`` (equal-length int arrays) and the
    first row of each code: codes number the distinct tuples ``0..n-1`` in
    order of first appearance. Hash factorisations on ints, no sort.

    Returns:
        ``(code, first)``: int64 code per row, and per code its first row.
    """
    code = np.zeros(len(keys[0]), dtype=np.int64)
    for key in keys:
        part, distinct = pd.factorize(np.asarray(key))
        code = pd.factorize(code * max(len(distinct), 1) + part)[0].astype(np.int64)
    first = np.full(int(code.max()) + 1 if len(code) else 0, len(code), dtype=np.int64)
    np.minimum.at(first, code, np.arange(len(code)))
    return code, first


def run_starts(codes: np.ndarray) -> np.ndarray:
    """Positions where a sorted (grouped) ``codes`` array changes value: the
    start of each run (``[0, ...]``; empty for an empty array)."""
    codes = np.asarray(codes)
    if len(codes) == 0:
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])


def run_starts_multi(keys: np.ndarray) -> np.ndarray:
    """:func:`run_starts` of rows sorted by several key rows at once:
    ``keys`` has one row per key and one column per element."""
    keys = np.asarray(keys)
    if keys.shape[1] == 0:
        return np.empty(0, dtype=np.intp)
    changed = np.any(keys[:, 1:] != keys[:, :-1], axis=0)
    return np.flatnonzero(np.r_[True, changed])


def join_groups(values: pd.Series, by: pd.Series, sep: str) -> pd.Series:
    """All ``values`` of each ``by`` group joined with ``sep``, in row order.

    The vectorised ``values.groupby(by).agg(sep.join)``: rows are stably
    sorted by group and each group's run is joined by :func:`join_runs`.
    ``values`` are ``str``; ``by`` has no nulls and the same length.

    Returns:
        a Series indexed by the distinct ``by`` values (order of first
        appearance), one joined string each.
    """
    codes, uniques = pd.factorize(by)
    if len(codes) == 0:
        return pd.Series([], dtype=object, index=pd.Index(uniques, name=by.name), name=values.name)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = run_starts(sorted_codes)
    joined = join_runs(values.to_numpy(dtype=object)[order], starts, sep)
    index = pd.Index(uniques, name=by.name)[sorted_codes[starts]]
    return pd.Series(joined, index=index, dtype=object, name=values.name)


def distinct_pairs(group: np.ndarray, codes: np.ndarray, *, sort: bool) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (group, code) pairs of two non-negative int arrays, sorted by group.

    Within a group the codes are ascending (``sort=True``) or in order of
    first appearance (``sort=False``). One ``np.unique`` on a combined
    int64 key, no loop.
    """
    group = np.asarray(group, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    width = int(codes.max()) + 1 if len(codes) else 1
    key = group * width + codes
    if sort:
        # A plain sort, then the first of each run (faster than np.unique's hash path).
        key = np.sort(key)
        pair = key[np.r_[True, key[1:] != key[:-1]]] if len(key) else key
        return pair // width, pair % width
    # Hash factorisation keeps first appearance; a stable sort by group
    # (skipped when the rows came grouped) then orders the groups.
    pair = np.asarray(pd.factorize(key)[1], dtype=np.int64)
    pair_group = pair // width
    if len(pair) > 1 and not bool(np.all(pair_group[1:] >= pair_group[:-1])):
        pair = pair[np.argsort(pair_group, kind="stable")]
    return pair // width, pair % width


def join_distinct(group: np.ndarray, values: pd.Series | np.ndarray, sep: str, *,
                  sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distinct non-null ``values`` of each group code, joined with ``sep``.

    ``group`` holds a non-negative int code per row. Values are joined in
    order of first appearance, or in sorted order (``sort=True``, as
    ``sort_values`` orders them); each distinct value is converted with
    ``str`` once.

    Returns:
        ``(groups, joined)``: the group codes that have a value, ascending,
        and their joined text (object array).
    """
    codes, names = factorize_shared(np.asarray(values, dtype=object), sort=sort)
    present = codes >= 0
    g, c = distinct_pairs(np.asarray(group)[present], codes[present], sort=sort)
    if len(g) == 0:
        return g, np.empty(0, dtype=object)
    text = pd.Series(names, dtype=object).astype(str).to_numpy(dtype=object)
    starts = run_starts(g)
    return g[starts], join_runs(text[c], starts, sep)


def join_unique(frame: pd.DataFrame, keys: list[str], column: str, sep: str, *, sort: bool = False) -> pd.Series:
    """Distinct values of ``column`` per ``keys`` group, joined with ``sep``.

    Order is first appearance (or sorted with ``sort=True``). Returns a
    Series indexed like ``frame.groupby(keys).size()`` (groups in order of
    first appearance); groups whose values are all null are absent.
    Vectorised by :func:`join_distinct`.
    """
    grouped = frame.groupby(keys, sort=False)
    index = grouped.size().index
    groups, joined = join_distinct(grouped.ngroup().to_numpy(), frame[column], sep, sort=sort)
    return pd.Series(joined, index=index[groups], name=column, dtype=object)


_MINUTE_NS = 60_000_000_000
_MINUTES_PER_DAY = 1440
#: ``HH:MM`` of each minute of a day.
_CLOCK_TEXT = np.array([f"{m // 60:02d}:{m % 60:02d}" for m in range(_MINUTES_PER_DAY)], dtype=object)


def wall_minutes(times: pd.Series, tz: str) -> np.ndarray:
    """Whole minutes since 1970-01-01 00:00 on the wall clock of ``tz``
    (seconds dropped, as ``strftime("%H:%M")`` drops them), int64.

    ``times`` are tz-aware; NaT gives the smallest int64 (see
    :func:`minute_text`).
    """
    local = times.dt.tz_convert(tz).dt.tz_localize(None).to_numpy("datetime64[ns]").astype("int64")
    nat = local == np.iinfo(np.int64).min
    return np.where(nat, np.iinfo(np.int64).min, local // _MINUTE_NS)


def minute_text(minutes: np.ndarray, *, with_date: bool) -> np.ndarray:
    """``YYYY-MM-DD HH:MM`` (or ``HH:MM``) of :func:`wall_minutes` values.

    Equal to ``strftime`` of the same wall-clock times, but each distinct
    day is formatted once and each minute of the day comes from a table;
    NaT gives NaN. Returns an object array.
    """
    minutes = np.asarray(minutes, dtype=np.int64)
    nat = minutes == np.iinfo(np.int64).min
    safe = np.where(nat, 0, minutes)
    day, minute_of_day = np.divmod(safe, _MINUTES_PER_DAY)
    text = _CLOCK_TEXT[minute_of_day]
    if with_date:
        days, inverse = np.unique(day, return_inverse=True)
        day_text = np.asarray(pd.to_datetime(days, unit="D").strftime("%Y-%m-%d"), dtype=object)
        text = day_text[inverse.reshape(-1)] + " " + text
    out = text.astype(object)
    out[nat] = np.nan
    return out


def overlapping_pairs(
    x_key: pd.Series, x_start: pd.Series, x_end: pd.Series,
    y_key: pd.Series, y_start: pd.Series, y_end: pd.Series,
) -> tuple[np.ndarray, np.ndarray]:
    """Every (x, y) pair of intervals with the same key that overlap for a
    positive time, found by sorted search, never by pairing all intervals
    of a key.

    Intervals are half-open ``[start, end)``, times tz-aware or naive
    timestamps of one kind. Each ordered pair appears once: either ``y``
    starts within ``x`` (``x.start <= y.start < x.end``) or ``x`` starts
    strictly within ``y``. The work is proportional to the number of pairs
    found plus a sort.

    Returns:
        ``(ix, iy)``: positions into the x and y rows (int arrays), ordered
        by x position, then by y start.
    """
    keys, _ = pd.factorize(pd.concat([x_key, y_key], ignore_index=True))
    x_codes, y_codes = keys[: len(x_key)], keys[len(x_key):]
    x_start_ns, x_end_ns, y_start_ns, y_end_ns = (
        t.dt.as_unit("ns").array.asi8 for t in (x_start, x_end, y_start, y_end))
    ix, iy = overlapping_pairs_int((x_codes, x_start_ns, x_end_ns), (y_codes, y_start_ns, y_end_ns))
    order = np.lexsort((y_start_ns[iy], ix))  # a pair's two keys are equal: by y start within x
    return ix[order], iy[order]


def _pair_keys(keys: list[np.ndarray], times: list[np.ndarray]) -> list[np.ndarray]:
    """One int64 per element of each (key, time) pair of arrays that sorts
    and compares exactly as the pair does (key first): times as their scaled
    offsets (:func:`transforms.sort_keys.scaled_offsets`), else ranked (a NaT,
    a range or a key too wide for one int64)."""
    time = np.concatenate(times)
    key = np.concatenate(keys).astype(np.int64, copy=False)
    scaled = scaled_offsets(time) if int(key.min()) >= 0 else None
    if scaled is not None and (int(key.max()) + 1) * scaled[1] < LIMIT:
        values, span = scaled
    else:  # dense key codes and time ranks: each below len(time) + 1
        key = np.unique(key, return_inverse=True)[1].reshape(-1).astype(np.int64)
        values, span = np.unique(time, return_inverse=True)[1].reshape(-1), len(time) + 1
    combined = key * np.int64(span) + values
    bounds = np.cumsum([0] + [len(t) for t in times])
    return [combined[bounds[i]:bounds[i + 1]] for i in range(len(times))]


def overlapping_pairs_int(x: tuple[np.ndarray, np.ndarray, np.ndarray],
                  y: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every (x, y) pair of intervals with the same key that overlap for a
    positive time; ``x`` and ``y`` are ``(key, start, end)``: non-negative
    int keys and int64 nanoseconds (no NaT), intervals half-open.

    The mechanism of :func:`overlapping_pairs`: each ordered pair once,
    either ``y`` starts within ``x`` or ``x`` starts strictly within ``y``;
    a zero-length ``x`` strictly inside ``y`` is a pair (of no overlap).
    Work proportional to the pairs found plus a sort. The times of a day are
    whole minutes (or seconds) a few days apart, so ``key * span + (time -
    earliest) / unit`` fits in one int64 and sorts as (key, time) without
    ranking every time; when it does not fit (or a time is NaT) the ranks are used.

    Returns:
        ``(ix, iy)``: positions into the x and y rows, in no stated order
        (the callers sum or deduplicate them).
    """
    if len(x[0]) == 0 or len(y[0]) == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    xs, xe, ys, ye = _pair_keys([x[0], x[0], y[0], y[0]], [x[1], x[2], y[1], y[2]])
    y_order = np.argsort(ys, kind="stable")
    x_order = np.argsort(xs, kind="stable")
    y_sorted, x_sorted = ys[y_order], xs[x_order]
    # y starting within x: y.start in [x.start, x.end).
    ix_a, iy_a = _ranges(np.searchsorted(y_sorted, xs, "left"), np.searchsorted(y_sorted, xe, "left"))
    # x starting strictly within y: x.start in (y.start, y.end).
    iy_b, ix_b = _ranges(np.searchsorted(x_sorted, ys, "right"), np.searchsorted(x_sorted, ye, "left"))
    return np.concatenate([ix_a, x_order[ix_b]]), np.concatenate([y_order[iy_a], iy_b])


def _ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(owner, position)`` for every position in ``[lo[i], hi[i])`` of each owner ``i``."""
    counts = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(len(lo)), counts)
    position = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
    return owner, position


def coverage(first: pd.DataFrame, second: pd.DataFrame, key: str = "encounter_id") -> pd.DataFrame:
    """Elementary intervals of two interval sets, with how many of each cover them.

    A sweep over the start/end points per ``key``: between consecutive
    distinct points, ``n_first`` intervals of ``first`` and ``n_second`` of
    ``second`` are running. Both inputs have ``key``, ``start``, ``end``.

    Returns:
        ``key``, ``start``, ``end``, ``n_first``, ``n_second``, one row per
        elementary interval of positive length, in time order per key.
    """
    pts = pd.concat(
        [
            pd.DataFrame({key: first[key], "t": first["start"], "d1": 1, "d2": 0}),
            pd.DataFrame({key: first[key], "t": first["end"], "d1": -1, "d2": 0}),
            pd.DataFrame({key: second[key], "t": second["start"], "d1": 0, "d2": 1}),
            pd.DataFrame({key: second[key], "t": second["end"], "d1": 0, "d2": -1}),
        ],
        ignore_index=True,
    ).sort_values([key, "t"], kind="mergesort")
    g = pts.groupby(key, sort=False)
    pts["n_first"] = g["d1"].cumsum()
    pts["n_second"] = g["d2"].cumsum()
    pts["t_next"] = g["t"].shift(-1)
    out = pts[pts["t_next"] > pts["t"]].rename(columns={"t": "start", "t_next": "end"})
    return out[[key, "start", "end", "n_first", "n_second"]].reset_index(drop=True)


def text(values: pd.Series) -> pd.Series:
    """Values as trimmed ``str`` in an object Series; missing or blank -> ``None``.

    A float column whose values are all whole (Parquet integers with nulls)
    gives ``"123"``, not ``"123.0"``; other non-string values use ``str()``.
    The one text normaliser of every reader and adapter.
    """
    index = values.index
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_float_dtype(values.dtype):
        finite = values.dropna()
        if len(finite) and bool(np.all(np.mod(finite.to_numpy(dtype=float), 1) == 0)):
            values = values.astype("Int64")
    present = values.notna().to_numpy()
    out = np.full(len(values), None, dtype=object)
    if present.any():
        out[present] = values[present].astype(str).str.strip().to_numpy(dtype=object)
    result = pd.Series(out, index=index, dtype=object)
    return result.where(result.ne(""), None)


def lower(values: pd.Series) -> pd.Series:
    """:func:`text` in lower case (``None`` stays ``None``)."""
    trimmed = text(values)
    return trimmed.where(trimmed.isna(), trimmed.str.lower())


def asof_backward(right_group: np.ndarray, right_value: np.ndarray,
                  left_group: np.ndarray, left_value: np.ndarray) -> np.ndarray:
    """Backward as-of match on int arrays: for each left row, the position of
    the last right row of the same group whose value is <= the left value
    (-1 when there is none).

    The vectorised ``pd.merge_asof(direction="backward", by=group)`` with
    right rows ordered by value, ties broken by their given order (the last
    one wins, as ``merge_asof`` does). Groups and values are int64 (for
    times: nanoseconds), compared exactly; one ``np.lexsort``, no loop.
    """
    n_right = len(right_group)
    group = np.concatenate([right_group, left_group]).astype(np.int64, copy=False)
    value = np.concatenate([right_value, left_value]).astype(np.int64, copy=False)
    # Right rows sort before left rows of equal value: "<=" matches them.
    is_left = np.r_[np.zeros(n_right, dtype=np.int8), np.ones(len(left_group), dtype=np.int8)]
    order = np.lexsort((is_left, value, group))
    marker = np.where(order < n_right, np.arange(len(order)), -1)
    last = np.maximum.accumulate(marker) if len(marker) else marker
    left_at = np.flatnonzero(order >= n_right)
    hit_sorted = last[left_at]
    same = (hit_sorted >= 0) & (group[order[np.maximum(hit_sorted, 0)]] == group[order[left_at]])
    out = np.full(len(left_group), -1, dtype=np.int64)
    out[order[left_at] - n_right] = np.where(same, order[np.maximum(hit_sorted, 0)], -1)
    return out


def group_codes(*keys: np.ndarray) -> np.ndarray:
    """Dense int64 code of each row's tuple of int ``keys``; codes ascend in
    the lexicographic order of the tuples (first key first), so sorting by
    the code sorts by the keys. One ``np.lexsort``."""
    n = len(keys[0])
    if n == 0:
        return np.empty(0, dtype=np.int64)
    order = np.lexsort(tuple(np.asarray(k) for k in reversed(keys)))
    stacked = np.stack([np.asarray(k, dtype=np.int64)[order] for k in keys])
    is_start = np.zeros(n, dtype=np.int64)
    is_start[run_starts_multi(stacked)] = 1
    out = np.empty(n, dtype=np.int64)
    out[order] = np.cumsum(is_start) - 1
    return out


def take_or(values: np.ndarray, rows: np.ndarray, missing: Any) -> np.ndarray:
    """``values[rows]`` with ``missing`` where ``rows`` is -1 (an index miss)."""
    values = np.asarray(values)
    if len(values) == 0:
        return np.full(len(rows), missing)
    return np.where(rows >= 0, values[np.maximum(rows, 0)], missing)


def coverage_codes(first: tuple[np.ndarray, np.ndarray, np.ndarray],
                   second: tuple[np.ndarray, np.ndarray, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`coverage` of intervals given as int arrays ``(key, start, end)``
    (int64 key codes, times as int64 nanoseconds).

    Returns:
        ``(key, start, end, n_first, n_second)`` arrays, one element per
        elementary interval of positive length, in (key, time) order.
    """
    (k1, s1, e1), (k2, s2, e2) = first, second
    key = np.concatenate([k1, k1, k2, k2]).astype(np.int64, copy=False)
    t = np.concatenate([s1, e1, s2, e2]).astype(np.int64, copy=False)
    n1, n2 = len(k1), len(k2)
    d1 = np.concatenate([np.ones(n1, np.int64), -np.ones(n1, np.int64), np.zeros(2 * n2, np.int64)])
    d2 = np.concatenate([np.zeros(2 * n1, np.int64), np.ones(n2, np.int64), -np.ones(n2, np.int64)])
    order = np.lexsort((t, key))
    key, t = key[order], t[order]
    # Every interval closes within its key, so a running sum over all keys
    # is the running sum within each key.
    n_first, n_second = np.cumsum(d1[order]), np.cumsum(d2[order])
    nxt = np.flatnonzero((key[1:] == key[:-1]) & (t[1:] > t[:-1]))
    return key[nxt], t[nxt], t[nxt + 1], n_first[nxt], n_second[nxt]


def is_text_categorical(values: pd.Series) -> bool:
    """``values`` is a ``Categorical`` whose categories are ``str`` (or none at
    all, object dtype): a compact text column (:func:`expand_text`)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return False
    categories = values.dtype.categories
    # inferred_type is cached on the Index, which every take of the column
    # (a shard, the kept rows) shares: the categories are scanned once.
    return categories.dtype == object and categories.inferred_type in ("string", "empty")


def expand_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every compact text column (:func:`is_text_categorical`)
    as an ``object`` column of ``str``, ``None`` where missing (code -1),
    never NaN; the same rows, order, index and columns otherwise.

    Staged frames hold their text as ``Categorical`` (one small code per
    cell) from staging to the engine; this gives back the ``str`` / ``None``
    columns the engine and Great Expectations expect. One take of the
    categories per column, no hashing. ``frame`` itself (no copy) when it has
    no compact text column; otherwise the other columns are shared, not
    copied.
    """
    compact = [i for i, (_, column) in enumerate(frame.items()) if is_text_categorical(column)]
    if not compact:
        return frame
    columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
    for i in compact:
        values = columns[i]
        columns[i] = pd.Series(category_cells(values.array), index=frame.index, dtype=object, name=values.name)
    out = pd.concat(columns, axis=1, copy=False) if len(columns) > 1 else columns[0].to_frame()
    out.columns = frame.columns
    return out


def category_cells(values: pd.Categorical) -> np.ndarray:
    """The cells of a ``Categorical`` as an object array, ``None`` where the
    code is -1. A take straight from the categories (a shard's column shares
    the whole day's categories: they are not copied per shard)."""
    codes = values.codes
    categories = values.categories.to_numpy(dtype=object)  # no copy for text categories
    if not len(categories):
        return np.full(len(codes), None, dtype=object)
    cells = categories.take(codes)  # -1 takes the last category, replaced below
    missing = codes < 0
    if missing.any():
        cells[missing] = None
    return cells


def text_order(texts: np.ndarray) -> np.ndarray | None:
    """The stable argsort of ``texts`` (object array of ``str``) in Python string
    order, or None when Arrow cannot hold them (a lone surrogate, a non-``str``).

    pyarrow sorts UTF-8 bytes, whose order is the code point order Python
    compares ``str`` by, several times faster than numpy's object sort (a
    Python comparison per pair); the caller picks its own fallback."""
    try:
        return pc.array_sort_indices(pa.array(texts, type=pa.string())).to_numpy().astype(np.intp, copy=False)
    except (pa.ArrowException, TypeError, UnicodeError):
        return None
