"""Small vectorised helpers shared by the transforms."""

from __future__ import annotations

import numpy as np
import pandas as pd


def join_unique(frame: pd.DataFrame, keys: list[str], column: str, sep: str, *, sort: bool = False) -> pd.Series:
    """Distinct values of ``column`` per ``keys`` group, joined with ``sep``.

    Order is first appearance (or sorted with ``sort=True``). Returns a
    Series indexed like ``frame.groupby(keys).size()`` (groups in order of
    first appearance); groups whose values are all null are absent.

    Single-value groups (the common case) are taken as they are; only groups
    with several values are joined, over plain lists rather than one pandas
    object per group.
    """
    grouped = frame.groupby(keys, sort=False)
    index = grouped.size().index
    sub = pd.DataFrame({"g": grouped.ngroup().to_numpy(), "v": frame[column].to_numpy()})
    sub = sub.dropna().drop_duplicates()
    sub = sub.sort_values(["g", "v"] if sort else ["g"], kind="mergesort")
    if sub.empty:
        return pd.Series([], index=index[:0], name=column, dtype=object)
    codes = sub["g"].to_numpy()
    values = sub["v"].astype(str).to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    out = values[starts].copy()
    for i in np.flatnonzero(ends - starts > 1):
        out[i] = sep.join(values[starts[i]:ends[i]])
    return pd.Series(out, index=index[codes[starts]], name=column, dtype=object)
