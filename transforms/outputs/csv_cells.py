"""Run CSVs byte for byte as pandas' ``to_csv(index=False)`` writes them, built in Arrow.

The bytes of every run CSV are the contract: they must equal
``DataFrame.to_csv(path, index=False)`` with pandas' defaults. pandas hands
every row to Python's ``csv`` module; here each column becomes one Arrow
string array of its cells (:func:`frame_cells`) and the rows are joined in C
(:func:`write_cells`). The cell text is pandas' own:

- a float column: numpy's ``astype(str)`` (``1.0``, ``1e-05``, ``inf``), which
  is what pandas writes when no ``float_format`` is given;
- an integer column: its decimal digits; a bool column: ``True`` / ``False``;
- an object column of text: the text itself;
- a missing value (``None``, NaN, ``pd.NA``): empty.

Quoting is the ``csv`` module's ``QUOTE_MINIMAL`` as pandas drives it: a cell
holding the separator ``,``, the quote ``"`` or a character of the line
terminator (``os.linesep``) is put in double quotes with its quotes doubled;
nothing else is quoted (on POSIX a lone ``\\r`` is not). Lines end with
``os.linesep``.

What this module does not model is left to pandas (:func:`frame_cells`
returns None): a frame of one column (the ``csv`` module writes its empty
cell as ``""``), an extension or datetime dtype, and an object column
holding anything but text, dates, integers or booleans (``str()`` of a
float differs from the ``csv`` module's ``repr`` for numpy floats).

The same cells, unquoted, are what a re-read with ``read_csv(dtype=str,
keep_default_na=False)`` gives back (:func:`cells_frame`), so the HTML report
is drawn from them without a second conversion.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.outputs.worklist import FORMULA_FIRST_CHARACTERS, neutralise_formulas

#: The field separator and quote character of every run CSV (pandas' defaults).
SEPARATOR = ","
QUOTE = '"'
#: Line terminator of every run CSV: pandas' default (``os.linesep``).
LINE_END = os.linesep
#: A cell holding any of these characters is quoted (``csv.QUOTE_MINIMAL`` with :data:`LINE_END`).
QUOTED_IF_HOLDING = "".join(sorted({SEPARATOR, QUOTE, *LINE_END}))
#: ``infer_dtype`` kinds of object columns whose cells the csv module writes as ``str()`` (never a
#: formula: not text). Floats are not among them (the csv module writes ``repr`` of a float).
_STR_IS_CSV_TEXT = frozenset({"date", "integer", "boolean"})
#: Rows joined and written at a time by :func:`write_cells` (a few MB of text per block).
ROWS_PER_BLOCK = 65_536
#: Arrow text type of the cells: 64-bit offsets, so a file of several GB is still one array.
_TEXT = pa.large_string()


class CsvColumn(NamedTuple):
    """One column as a run CSV holds it.

    ``cells``: the text of each cell (unquoted, formula-safe when asked,
    missing as ``""``), a null-free Arrow array. ``is_text``: the column
    holds text (only text can need quotes). ``text``: the same cells as an
    object array when the column's own values already are them (text with
    nothing changed), else None (:func:`cells_frame` converts ``cells``).
    """

    cells: pa.Array
    is_text: bool
    text: np.ndarray | None


def _bytes_of(cells: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (``n + 1``, into the data) and UTF-8 bytes of a null-free ``large_string`` array."""
    buffers = cells.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[cells.offset:cells.offset + len(cells) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return offsets, data


def _byte_table(characters: str) -> np.ndarray:
    """A 256-entry lookup: True at the byte of each (ASCII) character."""
    table = np.zeros(256, dtype=bool)
    table[list(characters.encode("ascii"))] = True
    return table


def rows_holding(cells: pa.Array, characters: str) -> np.ndarray:
    """Whether each cell holds any of the ASCII ``characters``.

    Most columns hold none of them: one byte search per character over the
    whole text answers that; only a column with a hit is scanned byte by
    byte. UTF-8 bytes of non-ASCII characters are all >= 0x80, so no ASCII
    character is ever found inside one.
    """
    offsets, data = _bytes_of(cells)
    text = data[offsets[0]:offsets[-1]]
    found = np.zeros(len(cells), dtype=bool)
    raw = text.tobytes()
    if not any(character.encode("ascii") in raw for character in characters):
        return found
    hit = np.zeros(len(text), dtype=bool)
    for character in characters.encode("ascii"):  # a handful of characters
        hit |= text == character
    found[np.searchsorted(offsets, np.flatnonzero(hit) + offsets[0], side="right") - 1] = True
    return found


def rows_starting_with(cells: pa.Array, characters: str) -> np.ndarray:
    """Whether each cell starts with one of the ASCII ``characters`` (an empty cell does not)."""
    offsets, data = _bytes_of(cells)
    if len(data) == 0:  # every cell empty
        return np.zeros(len(cells), dtype=bool)
    # The byte at each cell's start (an empty cell's, clamped into the buffer, is discarded).
    first = data[np.minimum(offsets[:-1], len(data) - 1)]
    return _byte_table(characters)[first] & (offsets[1:] > offsets[:-1])


def _formula_safe(cells: pa.Array) -> pa.Array:
    """``cells`` with ``'`` before each cell a spreadsheet would run as a formula
    (:data:`transforms.outputs.worklist.FORMULA_FIRST_CHARACTERS`)."""
    risky = rows_starting_with(cells, "".join(FORMULA_FIRST_CHARACTERS))
    if not risky.any():
        return cells
    quote, nothing = pa.scalar("'", _TEXT), pa.scalar("", _TEXT)
    return pc.if_else(pa.array(risky), pc.binary_join_element_wise(quote, cells, nothing), cells)


def column_cells(values: pd.Series, *, formula_safe: bool = True) -> CsvColumn | None:
    """The text ``to_csv`` writes for each cell of ``values`` (unquoted, missing as ``""``).

    Args:
        values: one column.
        formula_safe: text cells starting like a spreadsheet formula get a
            leading ``'`` (as :func:`transforms.outputs.worklist.neutralise_formulas`).

    Returns:
        The column's :class:`CsvColumn`; None for a column this module does not model.
    """
    dtype = values.dtype
    if not isinstance(dtype, np.dtype):
        return None
    array = values.to_numpy()
    if dtype.kind == "f":
        text = array.astype(str)  # pandas' own text of a float column
        return CsvColumn(pa.array(np.where(np.isnan(array), "", text), type=_TEXT), False, None)
    if dtype.kind in "iu":
        return CsvColumn(pc.cast(pa.array(array), _TEXT), False, None)
    if dtype.kind == "b":
        return CsvColumn(pa.array(np.where(array, "True", "False"), type=_TEXT), False, None)
    if dtype.kind != "O":
        return None
    inferred = pd.api.types.infer_dtype(array, skipna=True)
    if inferred in _STR_IS_CSV_TEXT:
        # e.g. datetime.date: the csv module writes str() of it; one str() per distinct value.
        codes, distinct = pd.factorize(array)
        text = np.array([str(value) for value in distinct] + [""], dtype=object)[codes]
        return CsvColumn(pa.array(text, type=_TEXT), False, text)
    if inferred not in ("string", "empty"):
        return None
    arrow = pa.array(array, type=_TEXT, from_pandas=True)  # None, NaN and pd.NA become null
    column = text_cells(arrow, formula_safe=formula_safe)
    unchanged = column.cells is arrow  # no missing value, no formula: the values are the cells
    return column._replace(text=array) if unchanged else column


def text_cells(text: pa.Array, *, formula_safe: bool = True) -> CsvColumn:
    """The :class:`CsvColumn` of an Arrow text column (``large_string``; nulls are written empty)."""
    cells = text.fill_null("") if text.null_count else text
    return CsvColumn(_formula_safe(cells) if formula_safe else cells, True, None)


def frame_cells(frame: pd.DataFrame, *, formula_safe: bool = True) -> list[CsvColumn] | None:
    """:func:`column_cells` of every column of ``frame`` in order; None when one is not modelled
    or the frame has fewer than two columns (then pandas writes it)."""
    if frame.shape[1] < 2:
        return None
    cells = []
    for position in range(frame.shape[1]):  # one pass per column; the cells are converted in bulk
        column = column_cells(frame.iloc[:, position], formula_safe=formula_safe)
        if column is None:
            return None
        cells.append(column)
    return cells


def _quoted(cells: pa.Array) -> pa.Array:
    """``cells`` with :data:`QUOTE` around each cell that needs it and its quotes doubled.

    Only the cells that need it are rewritten (usually a few); they are put
    back in place by one gather.
    """
    needs = np.flatnonzero(rows_holding(cells, QUOTED_IF_HOLDING))
    if len(needs) == 0:
        return cells
    if len(needs) == len(cells):  # e.g. explanations, each holding a comma: quote the column as it is
        return _quote_all(cells)
    quoted = _quote_all(cells.take(pa.array(needs)))
    position = np.arange(len(cells))
    position[needs] = len(cells) + np.arange(len(needs))  # the quoted copies follow the cells
    return pa.concat_arrays([cells, quoted]).take(pa.array(position))


def _quote_all(cells: pa.Array) -> pa.Array:
    """Every cell in :data:`QUOTE` with its quotes doubled."""
    quote, nothing = pa.scalar(QUOTE, _TEXT), pa.scalar("", _TEXT)
    return pc.binary_join_element_wise(quote, pc.replace_substring(cells, QUOTE, QUOTE + QUOTE), quote, nothing)


def _quoted_text(text: str) -> str:
    """One header cell, quoted as :func:`_quoted` quotes a cell."""
    if any(character in text for character in QUOTED_IF_HOLDING):
        return QUOTE + text.replace(QUOTE, QUOTE + QUOTE) + QUOTE
    return text


def write_cells(columns: list[str], cells: list[CsvColumn], path: Path) -> None:
    """Write the header ``columns`` and the rows of ``cells`` (:func:`frame_cells`) as ``to_csv`` does.

    Each row is its cells joined by :data:`SEPARATOR` plus :data:`LINE_END`,
    built as one Arrow array whose character buffer is the file body.
    """
    head = SEPARATOR.join(_quoted_text(str(name)) for name in columns) + LINE_END
    with open(path, "wb") as out:
        out.write(head.encode("utf-8"))
        fields = [_quoted(c.cells) if c.is_text else c.cells for c in cells]
        # A block of rows at a time: the joined text of one block (not of the file) is in memory,
        # and it is written while still in cache. Slices of Arrow arrays are views.
        for start in range(0, len(cells[0].cells), ROWS_PER_BLOCK):  # a few blocks per file
            out.write(_lines([f.slice(start, ROWS_PER_BLOCK) for f in fields]))


def _lines(fields: list[pa.Array]) -> memoryview:
    """The UTF-8 bytes of the rows of ``fields`` (quoted cells): cells joined by :data:`SEPARATOR`,
    each row ended by :data:`LINE_END`."""
    # The line end joins the last cell (a copy of one column), not the joined rows (of all).
    last = pc.binary_join_element_wise(fields[-1], pa.scalar("", _TEXT), pa.scalar(LINE_END, _TEXT))
    lines = pc.binary_join_element_wise(*fields[:-1], last, pa.scalar(SEPARATOR, _TEXT))
    offsets, data = _bytes_of(lines)
    return memoryview(data)[offsets[0]:offsets[-1]]


def cells_frame(columns: pd.Index, cells: list[CsvColumn]) -> pd.DataFrame:
    """The unquoted cells as a frame of text, as ``read_csv(dtype=str, keep_default_na=False)``
    reads the file back: same columns, index ``0..n-1``, empty text for missing values."""
    out = pd.DataFrame({i: c.text if c.text is not None else c.cells.to_numpy(zero_copy_only=False)
                        for i, c in enumerate(cells)}, index=pd.RangeIndex(len(cells[0].cells)), dtype=object)
    out.columns = columns
    return out


def take_cells(cells: list[CsvColumn], rows: np.ndarray) -> list[CsvColumn]:
    """The rows of ``cells`` at positions ``rows`` (int positions, or a bool mask of the rows), in that order.

    A cell's text depends on its own value only, so the cells of some rows
    of a frame are those rows of its cells: no column is converted again.
    """
    rows = np.asarray(rows)
    picked = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64, copy=False)
    at = pa.array(picked, type=pa.int64())
    return [CsvColumn(c.cells.take(at), c.is_text, c.text[picked] if c.text is not None else None)
            for c in cells]


def write_frame(frame: pd.DataFrame, path: Path, *, formula_safe: bool = True) -> list[CsvColumn] | None:
    """Write ``frame`` as ``to_csv(path, index=False)`` would (formula-safe by default); returns its
    cells, or None when pandas wrote it (a frame :func:`frame_cells` does not model)."""
    cells = frame_cells(frame, formula_safe=formula_safe)
    if cells is None:
        (neutralise_formulas(frame) if formula_safe else frame).to_csv(path, index=False)
        return None
    write_cells(list(frame.columns), cells, path)
    return cells
