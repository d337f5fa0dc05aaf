"""Sorting by several int keys as by one: :func:`lexsort_ints`, and the scaling
behind it (:func:`scaled_offsets`, also the key of :func:`transforms.frames.overlapping_pairs_int`);
membership of int keys by hashing (:func:`isin_ints`).

The engine sorts by tuples of int keys (codes, int64 nanoseconds, ranks)
over every event, block and administration. ``np.lexsort`` makes one pass
per key; when the keys' ranges fit together in one int64 a single stable
argsort of a combined key gives the same permutation several times faster.
Times fit because they are whole minutes (or seconds) a few days apart:
each key is divided by the common divisor of its offsets from its minimum,
which keeps its order exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Combined keys stay below this (headroom in int64, e.g. for the +1 of a search bound).
LIMIT = 2**62


def scaled_offsets(key: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``key`` as ``0..span-1`` offsets in the same order (divided by their
    common divisor), and ``span``; None when the range does not fit."""
    key = np.asarray(key)
    if key.dtype.kind == "b":
        key = key.astype(np.int64)
    if key.dtype.kind != "i":
        return None
    low, high = int(key.min()), int(key.max())
    if high - low >= LIMIT:
        return None
    offset = key.astype(np.int64) - low
    unit = int(np.gcd.reduce(offset)) or 1
    return offset // unit, (high - low) // unit + 1


def lexsort_ints(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """``np.lexsort(keys)`` (the LAST key is the primary one, ties keep row
    order) for int or bool keys of one length: one stable argsort of a
    combined int64 key when the keys' spans multiply to less than 2**62,
    else ``np.lexsort`` itself. Same permutation either way."""
    if len(keys) == 0 or len(keys[0]) == 0:
        return np.lexsort(keys)
    combined, total = None, 1
    for key in reversed(keys):
        scaled = scaled_offsets(key)
        if scaled is None or total * scaled[1] >= LIMIT:
            return np.lexsort(keys)
        values, span = scaled
        total *= span
        combined = values if combined is None else combined * np.int64(span) + values
    return np.argsort(combined, kind="stable")


def isin_ints(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``np.isin(values, wanted)`` for int keys (codes, combined keys), bool array.

    numpy picks its table method whenever the keys' range fits in memory: a
    bool per integer of the range, tens of MB zeroed for keys such as
    ``encounter * 2**20 + group``, several times slower than one hash of
    ``wanted`` (pandas' ``isin``). Membership of ints is exact either way.
    """
    return pd.Index(np.asarray(values, dtype=np.int64)).isin(np.asarray(wanted, dtype=np.int64))
