"""Overlapping running intervals on int arrays, for the rule families.

:func:`overlap_pairs` finds the same pairs as
:func:`transforms.frames.overlapping_pairs` (same two sorted searches) on
int64 nanoseconds, without ranking every time with ``np.unique``: the
times of a day of administrations are whole minutes (or seconds) a few days
apart, so ``key * span + (time - earliest) / unit`` already fits in one
int64 and sorts as (key, time). When it does not fit, the ranks are used.
"""

from __future__ import annotations

import numpy as np

#: Combined sort keys stay below this (int64 headroom for the +1 of a search bound).
_KEY_LIMIT = 2**62
#: int64 nanoseconds of NaT: such times are ranked (as frames.overlapping_pairs does).
_NAT = np.iinfo(np.int64).min


def _sort_keys(keys: list[np.ndarray], times: list[np.ndarray]) -> list[np.ndarray]:
    """One int64 per element of each (key, time) pair of arrays that sorts
    and compares exactly as the pair does (key first): times scaled by
    their common divisor, else ranked."""
    time = np.concatenate(times)
    key = np.concatenate(keys).astype(np.int64, copy=False)
    low, high = int(time.min()), int(time.max())
    scaled = None
    if low != _NAT and int(key.min()) >= 0 and high - low < _KEY_LIMIT:
        offset = time - low
        unit = int(np.gcd.reduce(offset)) or 1  # every offset a multiple: dividing keeps the order
        span = (high - low) // unit + 1
        if (int(key.max()) + 1) * span < _KEY_LIMIT:
            scaled = offset // unit
    if scaled is None:  # dense key codes and time ranks: each below len(time) + 1
        key = np.unique(key, return_inverse=True)[1].reshape(-1).astype(np.int64)
        scaled = np.unique(time, return_inverse=True)[1].reshape(-1)
        span = len(time) + 1
    combined = key * np.int64(span) + scaled
    bounds = np.cumsum([0] + [len(t) for t in times])
    return [combined[bounds[i]:bounds[i + 1]] for i in range(len(times))]


def _ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(owner, position)`` for every position in ``[lo[i], hi[i])`` of each owner ``i``."""
    counts = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(len(lo)), counts)
    position = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
    return owner, position


def overlap_pairs(x: tuple[np.ndarray, np.ndarray, np.ndarray],
                  y: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every (x, y) pair of intervals with the same key that overlap for a
    positive time; ``x`` and ``y`` are ``(key, start, end)``: non-negative
    int keys and int64 nanoseconds (no NaT), intervals half-open.

    As :func:`transforms.frames.overlapping_pairs`: each ordered pair once,
    either ``y`` starts within ``x`` or ``x`` starts strictly within ``y``;
    a zero-length ``x`` strictly inside ``y`` is a pair (of no overlap).
    Work proportional to the pairs found plus a sort.

    Returns:
        ``(ix, iy)``: positions into the x and y rows, in no stated order
        (the callers sum or deduplicate them).
    """
    if len(x[0]) == 0 or len(y[0]) == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    xs, xe, ys, ye = _sort_keys([x[0], x[0], y[0], y[0]], [x[1], x[2], y[1], y[2]])
    y_order = np.argsort(ys, kind="stable")
    x_order = np.argsort(xs, kind="stable")
    y_sorted, x_sorted = ys[y_order], xs[x_order]
    # y starting within x: y.start in [x.start, x.end).
    ix_a, iy_a = _ranges(np.searchsorted(y_sorted, xs, "left"), np.searchsorted(y_sorted, xe, "left"))
    # x starting strictly within y: x.start in (y.start, y.end).
    iy_b, ix_b = _ranges(np.searchsorted(x_sorted, ys, "right"), np.searchsorted(x_sorted, ye, "left"))
    return np.concatenate([ix_a, x_order[ix_b]]), np.concatenate([y_order[iy_a], iy_b])
