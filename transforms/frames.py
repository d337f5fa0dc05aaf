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
