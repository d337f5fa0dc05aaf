"""Verdict classes: the rows of a staged frame that every expectation of a suite
must judge alike, so GX checks one representative row per class.

A column-map expectation judges a row from the row's values in the columns it
reads (its ``column`` and the columns of its ``row_condition``) and nothing
else. Two rows therefore get the same verdict from every expectation of the
suite when they agree on:

* every *value column*: a column some expectation reads other than by a null
  test (value sets, regexes, ranges, row conditions), compared by value;
* every *null column*: a column read only by ``expect_column_values_to_(not_)be_null``,
  compared by nullness alone (``pd.isna``, the test GX's pandas engine uses).

Rows that agree on all of these form one class. GX validates the first row of
each class (a real row of the frame, all columns as staged), and the verdict
of every other row is its class's verdict. Table-level expectations read
column names only, which the representatives share with the frame.

Classes are exact, never approximate: values are compared with
``pd.factorize`` (hash equality; a text column's cells are grouped by the
object they hold first, so each distinct object is hashed once; a compact
text column, a ``Categorical`` of distinct ``str``, by its codes). For object columns that holds only if
equal-hashing values are judged alike, which is true of strings but not of
mixed Python objects (``1``, ``1.0`` and ``True`` hash alike, yet print
differently for a regex), so an object column with any non-string value puts
every row in a class of its own (correct, just not compact).

Nothing here runs GX; the runner does. No file or network I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from transforms.frames import factorize_shared, first_rows, is_text_categorical

#: Expectation types that read their column by nullness only.
NULL_TESTS = frozenset({"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"})
#: Column-map expectation types whose verdict on a row depends on that row's value
#: alone (not on other rows, their order or their number): only these may be
#: judged on one row per class. Uniqueness, monotonicity or a ``mostly`` below
#: 1 depend on the other rows and are refused.
ROW_WISE_TESTS = NULL_TESTS | frozenset({
    "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_between", "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex", "expect_column_values_to_match_regex_list",
    "expect_column_values_to_not_match_regex_list", "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal",
})
#: Table-level expectation types that read column names only (the classes'
#: representatives keep every column); row counts and the like are refused.
NAME_TESTS = frozenset({
    "expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list",
    "expect_column_to_exist", "expect_table_column_count_to_equal",
    "expect_table_column_count_to_be_between",
})
# Mixed-radix keys are re-factorized before they could leave int64.
_KEY_LIMIT = np.iinfo(np.int64).max // 2


@dataclass(frozen=True)
class VerdictClasses:
    """Rows of a frame grouped into verdict classes.

    Attributes:
        representatives: position (0-based, ascending) of each class's first
            row in the frame; class ``c`` is represented by row
            ``representatives[c]``.
        of_row: class of every row of the frame (int64, length = rows).
        weights: rows per class (int64, sums to the frame's row count).
    """

    representatives: np.ndarray
    of_row: np.ndarray
    weights: np.ndarray


def condition_columns(condition: Any) -> set[str]:
    """Columns read by a GX 1.x row condition (``Column(...) == v``, nullity, and/or trees)."""
    if condition is None:
        return set()
    if hasattr(condition, "conditions"):  # AndCondition / OrCondition
        return set().union(*(condition_columns(c) for c in condition.conditions))
    column = getattr(condition, "column", None)
    if column is None or not hasattr(column, "name"):
        raise ValueError(f"row condition {condition!r} is not one verdict classes understand")
    return {column.name}


def read_columns(expectations: list[Any]) -> tuple[list[str], list[str]]:
    """(value columns, null columns) of a suite's expectations, in suite order, no repeats.

    A column some expectation reads by value is a value column even if another
    expectation only tests its nullness (value classes are finer than
    nullness).

    Raises:
        ValueError: an expectation is neither in :data:`ROW_WISE_TESTS` (with
            ``mostly`` 1 or unset) nor in :data:`NAME_TESTS`, so one row per
            class could not stand for the rest.
    """
    value: dict[str, None] = {}
    null: dict[str, None] = {}
    for expectation in expectations:
        kind = expectation.expectation_type
        if kind in NAME_TESTS:
            continue  # reads column names only
        if kind not in ROW_WISE_TESTS or getattr(expectation, "mostly", 1) not in (None, 1):
            raise ValueError(f"{kind} (mostly={getattr(expectation, 'mostly', None)}) cannot be judged per class")
        for name in sorted(condition_columns(getattr(expectation, "row_condition", None))):
            value[name] = None
        (null if kind in NULL_TESTS else value)[expectation.column] = None
    return list(value), [c for c in null if c not in value]


def _value_codes(values: pd.Series) -> np.ndarray:
    """Codes equal exactly when two values are judged alike (nulls share code -1).

    The codes' numbers are arbitrary (only equality between rows counts).
    ``bool`` columns (never null) are their own codes; ``object`` columns are
    grouped by object first (:func:`_object_codes`); a compact text column
    (``Categorical`` of ``str``, :func:`transforms.frames.is_text_categorical`)
    is factorised already: its categories are distinct texts, so its codes
    (-1 where missing) are the codes, with no pass over the rows.
    """
    if values.dtype == bool:
        return values.to_numpy().view(np.int8)
    if is_text_categorical(values):
        return values.array.codes
    if isinstance(values.dtype, pd.CategoricalDtype):  # categories of other types: judged as their objects
        return _object_codes(values.to_numpy(dtype=object))
    if values.dtype == object:
        return _object_codes(values.to_numpy())
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes


def _object_codes(cells: np.ndarray) -> np.ndarray:
    """Value codes of an object array, each distinct object hashed once.

    Staged text columns hold one Python object per distinct text, shared by
    its rows (the readers build them so): :func:`transforms.frames.factorize_shared`
    groups the cells by object first, then compares one object per group by
    value, so the classes equal those of factorizing every cell. Mixed
    objects: every row apart (see the module docstring).
    """
    codes, distinct = factorize_shared(cells, use_na_sentinel=True)
    if len(distinct) and pd.api.types.infer_dtype(distinct, skipna=True) != "string":
        return np.arange(len(cells), dtype=np.int64)  # mixed objects: no sharing (see module doc)
    return codes


def _combined(key: np.ndarray, size: int, codes: np.ndarray, radix: int, offset: int) -> tuple[np.ndarray, int]:
    """Mixed-radix join ``key * radix + codes + offset`` of ``key`` (values <
    ``size``; an array of this module's own, updated in place) with ``codes``
    (``0 <= codes + offset < radix``)."""
    if size * radix > _KEY_LIMIT:
        key, distinct = pd.factorize(key)
        key = key.astype(np.int64, copy=False)
        size = len(distinct)
    key *= radix
    key += codes
    if offset:
        key += offset
    return key, size * radix


def verdict_classes(frame: pd.DataFrame, value_columns: list[str], null_columns: list[str]) -> VerdictClasses:
    """Group ``frame``'s rows into verdict classes (see the module docstring).

    Cost: one factorize per value column (of object addresses for text
    columns, none for ``bool`` ones) and one ``isna`` per null column over all
    rows, then in-place work on one int64 key.
    """
    key = np.zeros(len(frame), dtype=np.int64)
    size = 1
    for name in value_columns:
        codes = _value_codes(frame[name])
        key, size = _combined(key, size, codes, int(codes.max(initial=-1)) + 2, 1)  # nulls: -1
    for name in null_columns:  # nullness: one bit of the key
        key, size = _combined(key, size, frame[name].isna().to_numpy(), 2, 0)
    of_row, distinct = pd.factorize(key)
    del key
    of_row = of_row.astype(np.int64, copy=False)
    # factorize numbers classes in order of first appearance.
    representatives = first_rows(of_row)
    return VerdictClasses(
        representatives=representatives.astype(np.int64, copy=False),
        of_row=of_row,
        weights=np.bincount(of_row, minlength=len(distinct)).astype(np.int64, copy=False),
    )
