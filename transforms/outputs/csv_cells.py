"""Run CSVs byte for byte as pandas' ``to_csv(index=False)`` writes them, built in Arrow.

The bytes of every run CSV are the contract: they must equal
``DataFrame.to_csv(path, index=False)`` with pandas' defaults. pandas hands
every row to Python's ``csv`` module; here a block of rows at a time, each
column of the block becomes one Arrow string array of its cells
(:func:`column_source`) and the rows are joined in C (:func:`write_blocks`),
so only one block's cells are ever converted at once. The cell text is
pandas' own:

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
from typing import Callable, Iterator, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.memory import release_freed_memory
from transforms.outputs.background_file import BackgroundFile
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
#: Most rows joined and written at a time by :func:`write_blocks`.
ROWS_PER_BLOCK = 65_536
#: Bytes of text aimed at per block of rows (:func:`_written_blocks`): a few MB, two blocks alive at once.
BLOCK_BYTES = 8 << 20
#: Rows of the first block of a file, before its bytes per row are known.
_FIRST_BLOCK_ROWS = 16_384
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
    source = column_source(values, formula_safe=formula_safe)
    return source(0, len(values)) if source is not None else None


#: The cells of rows ``start:stop`` of one column (:func:`column_source`).
CellSource = Callable[[int, int], CsvColumn]


def column_source(values: pd.Series, *, formula_safe: bool = True) -> CellSource | None:
    """How the cells of ``values`` are made, rows ``start:stop`` at a time (as :func:`column_cells`).

    What the column is (its dtype, what its objects are) is decided once for
    the whole column, so every block of rows is converted the same way; the
    cells of a block depend on that block's values only. None for a column
    this module does not model.
    """
    dtype = values.dtype
    if not isinstance(dtype, np.dtype):
        return None
    array = values.to_numpy()
    if dtype.kind == "f":  # pandas' own text of a float column: numpy's, element by element
        return lambda a, b: CsvColumn(
            pa.array(np.where(np.isnan(array[a:b]), "", array[a:b].astype(str)), type=_TEXT), False, None)
    if dtype.kind in "iu":
        return lambda a, b: CsvColumn(pc.cast(pa.array(array[a:b]), _TEXT), False, None)
    if dtype.kind == "b":
        return lambda a, b: CsvColumn(pa.array(np.where(array[a:b], "True", "False"), type=_TEXT), False, None)
    if dtype.kind != "O":
        return None
    inferred = pd.api.types.infer_dtype(array, skipna=True)
    if inferred in _STR_IS_CSV_TEXT:
        # e.g. datetime.date: the csv module writes str() of it; one str() per distinct value.
        codes, distinct = pd.factorize(array)
        texts = np.array([str(value) for value in distinct] + [""], dtype=object)
        return lambda a, b: _given_text(texts[codes[a:b]])
    if inferred not in ("string", "empty"):
        return None
    return lambda a, b: _object_text(array[a:b], formula_safe)


def _given_text(text: np.ndarray) -> CsvColumn:
    """The cells of a column whose text is ``text`` already (never a formula: not text)."""
    return CsvColumn(pa.array(text, type=_TEXT), False, text)


def _object_text(array: np.ndarray, formula_safe: bool) -> CsvColumn:
    """The cells of an object array of text and missing values."""
    arrow = pa.array(array, type=_TEXT, from_pandas=True)  # None, NaN and pd.NA become null
    column = text_cells(arrow, formula_safe=formula_safe)
    unchanged = column.cells is arrow  # no missing value, no formula: the values are the cells
    return column._replace(text=array) if unchanged else column


def text_cells(text: pa.Array, *, formula_safe: bool = True) -> CsvColumn:
    """The :class:`CsvColumn` of an Arrow text column (``large_string``; nulls are written empty)."""
    cells = text.fill_null("") if text.null_count else text
    return CsvColumn(_formula_safe(cells) if formula_safe else cells, True, None)


def frame_sources(frame: pd.DataFrame, *, formula_safe: bool = True,
                  positions: list[int] | None = None) -> list[CellSource] | None:
    """:func:`column_source` of every column of ``frame`` in order (of the columns at ``positions``,
    in that order, when given: no reordered copy of the frame is made); None when one is not
    modelled or there are fewer than two columns (then pandas writes it)."""
    positions = list(range(frame.shape[1])) if positions is None else positions
    if len(positions) < 2:
        return None
    sources = []
    for position in positions:  # one decision per column; the cells are made per block
        source = column_source(frame.iloc[:, position], formula_safe=formula_safe)
        if source is None:
            return None
        sources.append(source)
    return sources


def frame_cells(frame: pd.DataFrame, *, formula_safe: bool = True) -> list[CsvColumn] | None:
    """:func:`column_cells` of every column of ``frame`` in order; None when one is not modelled
    or the frame has fewer than two columns (then pandas writes it)."""
    sources = frame_sources(frame, formula_safe=formula_safe)
    return [source(0, len(frame)) for source in sources] if sources is not None else None


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


#: Given the cells of one block of rows (all columns, in file order), which of its rows a caller
#: keeps (a bool mask). Called once per block, in file order, so it may remember earlier blocks.
KeepRows = Callable[[list["CsvColumn"]], np.ndarray]


def write_blocks(columns: list[str], sources: list[CellSource], n_rows: int, path: Path,
                 keep: np.ndarray | KeepRows | None = None, *, returns: bool = True) -> list[CsvColumn] | None:
    """Write the header ``columns`` and ``n_rows`` rows whose cells ``sources`` make, as ``to_csv`` does.

    A block of rows at a time (:func:`_written_blocks`): at most two blocks' text
    is in memory, not the file's.
    Returns the cells of the rows ``keep`` keeps (a bool mask of the ``n_rows``
    rows, or a :data:`KeepRows` asked block by block), every row when None, in
    file order: what a caller (the report) reads of the file; None, and no block
    kept, when not ``returns``.
    """
    kept = [_kept_rows(block, keep, start) for block, start in _written_blocks(columns, sources, n_rows, path)
            if returns]
    joined = _joined(kept) if returns else None
    del kept
    release_freed_memory()  # the memory of this file's blocks is not held while the next is made
    return joined


def write_text_blocks(columns: pd.Index, sources: list[CellSource], n_rows: int, path: Path,
                      keep: np.ndarray | KeepRows | None = None) -> pd.DataFrame:
    """:func:`write_blocks`, returning :func:`cells_frame` of the rows kept.

    Each block's kept cells become Python text as soon as the block is written,
    so no Arrow copy of the kept rows is held (nor joined: a second copy) while
    the rest of the file is written.
    """
    parts = [_text_of(_kept_rows(block, keep, start))
             for block, start in _written_blocks(list(columns), sources, n_rows, path)]
    release_freed_memory()  # as write_blocks
    return _text_frame(columns, [parts[0][i] if len(parts) == 1 else np.concatenate([p[i] for p in parts])
                                 for i in range(len(columns))])


def taken_text_source(text: np.ndarray, rows: np.ndarray) -> CellSource:
    """The cells of rows ``rows[start:stop]`` of a column written before, given as its text
    (``text``: an object array of the cells, e.g. a column of :func:`write_text_blocks`' frame).

    Nothing is converted again but into Arrow (about as fast as taking the rows of Arrow cells,
    without holding those). Every cell counts as text for quoting: a cell that needs quotes gets
    them whatever its column held, as the ``csv`` module quotes by content.
    """
    return lambda a, b: CsvColumn(pa.array(text[rows[a:b]], type=_TEXT), True, None)


def _text_of(cells: list[CsvColumn]) -> list[np.ndarray]:
    """The cells as object arrays of text (as :func:`cells_frame` reads them)."""
    return [c.text if c.text is not None else c.cells.to_numpy(zero_copy_only=False) for c in cells]


def _kept_rows(block: list[CsvColumn], keep: np.ndarray | KeepRows | None, start: int) -> list[CsvColumn]:
    """The cells of the rows of ``block`` (its first row is row ``start``) that ``keep`` keeps."""
    if keep is None:
        return block
    rows = keep(block) if callable(keep) else keep[start:start + len(block[0].cells)]
    return take_cells(block, rows)


def _written_blocks(columns: list[str], sources: list[CellSource], n_rows: int, path: Path
                    ) -> Iterator[tuple[list[CsvColumn], int]]:
    """Write the header and rows (see :func:`write_blocks`); yields each block's cells and first row.

    A block's cells are made, quoted, joined and handed to a writer thread
    (:class:`transforms.outputs.background_file.BackgroundFile`) before the
    next, so the kernel's copy of one block overlaps making the next. Blocks
    hold about :data:`BLOCK_BYTES` of text (at most :data:`ROWS_PER_BLOCK`
    rows), sized by the bytes per row of the block before: a file of wide rows
    holds no more text at once than one of narrow rows. A file without rows
    yields one empty block.
    """
    head = SEPARATOR.join(_quoted_text(str(name)) for name in columns) + LINE_END
    start, size = 0, min(ROWS_PER_BLOCK, _FIRST_BLOCK_ROWS)
    with BackgroundFile(path) as out:
        out.write(head.encode("utf-8"))
        while True:  # a few dozen blocks per file
            stop = min(start + size, n_rows)
            block = [source(start, stop) for source in sources]
            if stop > start:
                lines = _lines([_quoted(c.cells) if c.is_text else c.cells for c in block])
                out.write(lines)
                size = max(1, min(ROWS_PER_BLOCK, BLOCK_BYTES * (stop - start) // max(1, len(lines))))
                del lines
            yield block, start
            del block
            start = stop
            if start >= n_rows:
                break


def first_of_each(cells: pa.Array, seen: set[str] | None = None) -> np.ndarray:
    """Bool mask of the rows of ``cells`` holding a cell for the first time (one row per distinct cell).

    ``seen``: cells of earlier rows (e.g. earlier blocks of the same column): their rows are not
    first; the cells of ``cells`` are added to it.
    """
    encoded = pc.dictionary_encode(cells)  # its dictionary: the distinct cells in order of first appearance
    first = np.unique(encoded.indices.to_numpy(zero_copy_only=False), return_index=True)[1]
    rows = np.zeros(len(cells), dtype=bool)
    if seen is None:
        rows[first] = True
        return rows
    distinct = encoded.dictionary.to_pylist()  # a few distinct cells (e.g. service dates)
    rows[first[[i for i, cell in enumerate(distinct) if cell not in seen]]] = True
    seen.update(distinct)
    return rows


def _joined(blocks: list[list[CsvColumn]]) -> list[CsvColumn]:
    """The cells of consecutive blocks of rows as one list of columns (``text`` kept when every block has it)."""
    if len(blocks) == 1:
        return blocks[0]
    joined = []
    for parts in zip(*blocks):
        texts = [p.text for p in parts]
        joined.append(CsvColumn(pa.concat_arrays([p.cells for p in parts]), parts[0].is_text,
                                np.concatenate(texts) if all(t is not None for t in texts) else None))
    return joined


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
    return _text_frame(columns, _text_of(cells))


def _text_frame(columns: pd.Index, texts: list[np.ndarray]) -> pd.DataFrame:
    """A frame of the object arrays ``texts`` (one per column, equal lengths), named ``columns``, index ``0..n-1``."""
    out = pd.DataFrame(dict(enumerate(texts)), index=pd.RangeIndex(len(texts[0])), dtype=object)
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


def write_frame(frame: pd.DataFrame, path: Path, *, formula_safe: bool = True,
                keep: np.ndarray | None = None) -> list[CsvColumn] | None:
    """Write ``frame`` as ``to_csv(path, index=False)`` would (formula-safe by default); returns the
    cells of the rows ``keep`` keeps (every row when None; see :func:`write_blocks`), or None when
    pandas wrote it (a frame :func:`frame_sources` does not model)."""
    sources = frame_sources(frame, formula_safe=formula_safe)
    if sources is None:
        (neutralise_formulas(frame) if formula_safe else frame).to_csv(path, index=False)
        return None
    return write_blocks(list(frame.columns), sources, len(frame), path, keep)
