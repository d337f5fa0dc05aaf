"""Raw columns as distinct trimmed texts plus one code per row, so each text is parsed once.

An extract's columns repeat heavily (ids on every event of an encounter,
routes, units, rates, times of one minute), so the staging work (trimming,
case folding, number / date / time parsing) is done on the distinct values
and spread back to the rows with one numpy ``take`` of the codes. Every
function here gives exactly what the same pandas operation gives cell by
cell: the operations are elementwise, and the few whose result type depends
on the whole column (``pd.to_numeric``) are handed the same *set* of values.

Pure (pandas, pyarrow, numpy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.frames import is_text_categorical, text

_TEXT_KINDS = ("string", "empty")


def maybe_untrimmed(cells: pa.Array) -> np.ndarray:
    """True for the cells Arrow cannot vouch for: empty, or a first / last byte
    outside printable non-space ASCII (``!``..``~``), so possibly whitespace to
    Python's ``str.strip``; False for nulls. Byte slices and comparisons, no regex."""
    data = cells.cast(pa.binary())
    first, last = pc.binary_slice(data, 0, 1), pc.binary_slice(data, -1)
    odd = pc.or_(pc.or_(pc.less(first, b"!"), pc.greater(first, b"~")),
                 pc.or_(pc.less(last, b"!"), pc.greater(last, b"~")))
    return odd.fill_null(False).to_numpy(zero_copy_only=False)


def trim_strings(cells: np.ndarray) -> np.ndarray:
    """:func:`transforms.frames.text` of an object array of ``str`` (no nulls):
    trimmed ``str``, blank -> ``None``.

    Arrow checks every cell in one pass; a cell that starts and ends with
    printable non-space ASCII is already trimmed and kept as is, only the
    others go through ``frames.text``.
    """
    try:
        arrow = pa.array(cells, type=pa.string())
    except (pa.ArrowException, TypeError, ValueError):  # e.g. lone surrogates
        return text(pd.Series(cells, dtype=object)).to_numpy(dtype=object)
    odd = maybe_untrimmed(arrow)
    out = cells.astype(object, copy=True)
    if odd.any():
        out[odd] = text(pd.Series(cells[odd], dtype=object)).to_numpy(dtype=object)
    return out


@dataclass(frozen=True, eq=False)  # arrays: no elementwise ==
class CodedText:
    """One column's trimmed text (:func:`transforms.frames.text`) as ``distinct[codes]``.

    Invariants: ``codes`` is a signed integer array (intp, or the smaller
    codes of a ``Categorical``), one per row of ``index``, ``-1`` where the
    text is missing (null, or blank after trimming), else a position in
    ``distinct``; ``distinct`` is an object array of non-empty trimmed
    ``str`` (a text may appear twice: ``"a"`` and ``" a"`` both trim to
    ``"a"``, so equal codes mean equal texts but not the reverse, unless
    ``unique``: then no text appears twice).
    """

    codes: np.ndarray
    distinct: np.ndarray
    index: pd.Index
    unique: bool = False

    @classmethod
    def of(cls, values: pd.Series) -> CodedText:
        """Factorise ``values`` once and trim each distinct value.

        A column of ``str`` (CSV cells) is trimmed per distinct value; any
        other column (Parquet numbers, mixed objects) goes through
        ``frames.text`` whole first, because values that factorise as equal
        (``1``, ``1.0``, ``True``) do not print alike. A ``Categorical`` of
        ``str`` is factorised already: its codes and categories are used as
        they are (no hashing of the cells).
        """
        if is_text_categorical(values):
            # int8..int32 as pandas stores them (-1 where missing, as factorize): no copy per row
            codes = values.cat.codes.to_numpy()
            return cls._trimmed(codes, values.cat.categories.to_numpy(dtype=object), values.index)
        if values.dtype == object:
            try:
                codes, uniques = pd.factorize(values.to_numpy(), use_na_sentinel=True)
            except TypeError:  # unhashable cells
                uniques = None
            if uniques is not None and pd.api.types.infer_dtype(uniques, skipna=True) in _TEXT_KINDS:
                return cls._trimmed(codes, uniques.astype(object, copy=False), values.index)
        trimmed = text(values)
        codes, uniques = pd.factorize(trimmed.to_numpy(dtype=object), use_na_sentinel=True)
        return cls(codes=codes.astype(np.intp, copy=False), distinct=uniques.astype(object), index=values.index)

    @classmethod
    def _trimmed(cls, codes: np.ndarray, uniques: np.ndarray, index: pd.Index) -> CodedText:
        """Codes of raw distinct ``str`` values -> codes of their trimmed text."""
        trimmed = trim_strings(uniques)
        blank = pd.isna(trimmed)
        if blank.any():  # blank texts become missing: their codes -> -1
            remap = np.append(np.where(blank, -1, np.arange(len(trimmed))), -1)
            codes = remap.astype(codes.dtype, copy=False)[codes]  # positions fit the codes' own type
        # factorised values are distinct; they stay so when trimming changed none of them
        unique = bool(np.all(trimmed == uniques))
        return cls(codes=codes, distinct=trimmed, index=index, unique=unique)

    def expand(self, per_distinct: np.ndarray, fill: object) -> np.ndarray:
        """``per_distinct[codes]`` with ``fill`` where the text is missing."""
        per_distinct = np.asarray(per_distinct)
        table = np.empty(len(per_distinct) + 1, dtype=per_distinct.dtype)
        table[:-1] = per_distinct
        table[-1] = fill
        return table[self.codes]

    def present(self) -> np.ndarray:
        """True where a (non-blank) text was given."""
        return self.codes >= 0

    def has_missing(self) -> bool:
        """True when some row has no text."""
        return bool(len(self.codes)) and bool(self.codes.min() < 0)

    def text(self) -> pd.Series:
        """The trimmed text: object Series of ``str`` / ``None``."""
        return self.series(self.distinct, None)

    def series(self, per_distinct: np.ndarray, fill: object) -> pd.Series:
        """:meth:`expand` as an object Series on ``index``."""
        return pd.Series(self.expand(per_distinct, fill), index=self.index, dtype=object)

    def dense_codes(self) -> np.ndarray:
        """Codes equal exactly where the texts are equal (repeated distinct
        texts merged), ``-1`` where missing: a ready ``pd.factorize``."""
        if self.unique:
            return self.codes
        merged, _ = pd.factorize(self.distinct)
        return np.append(merged.astype(np.intp), -1)[self.codes]

    def or_else(self, other: CodedText) -> CodedText:
        """This text where present, else ``other``'s (a column of the same rows)."""
        if not self.has_missing():
            return self
        fallback = np.where(other.codes >= 0, other.codes.astype(np.intp) + len(self.distinct), -1)
        return CodedText(codes=np.where(self.codes >= 0, self.codes, fallback),
                         distinct=np.concatenate([self.distinct, other.distinct]), index=self.index)

    def converted(self, convert: Callable[[pd.Series], pd.Series]) -> CodedText:
        """The column after ``convert``, an elementwise Series function that
        maps non-empty text to non-empty text (case folding)."""
        distinct = convert(pd.Series(self.distinct, dtype=object)).to_numpy(dtype=object)
        return CodedText(codes=self.codes, distinct=distinct, index=self.index)

    def mapped(self, convert: Callable[[pd.Series], pd.Series], fill: object = None) -> pd.Series:
        """``convert`` (a vectorised, elementwise Series function) of the
        distinct texts, spread to the rows; ``fill`` where there is no text."""
        converted = convert(pd.Series(self.distinct, dtype=object)).to_numpy(dtype=object)
        return self.series(converted, fill)

    def floats(self) -> np.ndarray:
        """``pd.to_numeric(text, errors="coerce")`` as finite float64 (else NaN)."""
        return self.expand(self.distinct_floats(), np.nan)

    def distinct_floats(self) -> np.ndarray:
        """:meth:`floats` of each distinct text (float64, one per ``distinct``),
        for work done per distinct value before it is spread to the rows.

        ``pd.to_numeric`` picks its result type from the whole set of values
        (a missing value among integers gives floats), so the distinct texts
        are parsed together with a ``None`` when the column has missing rows.
        """
        distinct = self.distinct
        if self.has_missing():
            distinct = np.append(distinct, None)
        parsed = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce").astype("float64")
        values = parsed.to_numpy()[: len(self.distinct)]
        return np.where(np.isfinite(values), values, np.nan)
