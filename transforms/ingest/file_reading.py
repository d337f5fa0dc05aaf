"""Read one CSV or Parquet extract file into the raw frame.

The format readers behind :func:`transforms.ingest.readers.read_extract`,
which picks one by suffix and checks the required columns:

* CSV / CSV.gz (:func:`_read_csv`): the header is read with the csv module
  (:func:`_csv_header`: duplicate names are seen before pandas mangles
  them); the data records by Arrow's CSV reader in C, dictionary-encoded
  block by block (:func:`_csv_body_arrow` and its helpers), for the files
  Arrow and pandas read alike; every other file falls back to pandas
  (:func:`_csv_body`), whose frame and error messages are the reference.
  Both give the same frame: every cell ``str`` or ``None`` (or, on request,
  ``Categorical`` of the same values), columns named by the header.
* Parquet (:func:`_read_parquet`): values as stored, a stored pandas index
  discarded.

Column names come back lower-cased and trimmed (:func:`_normalise_names`).
A file that cannot be used at all raises :class:`ExtractError`, whose
message names the file and the problem, never a data value (values may be
protected health information).
"""

from __future__ import annotations

import csv
import gzip
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from transforms.vocab import schemas

_MALFORMED = (
    "malformed CSV: {}; check that the file is complete and that cells holding commas, "
    "quotes or line breaks are quoted"
)


class ExtractError(Exception):
    """A file that cannot be used at all (unreadable, corrupt, wrong columns).

    ``str(error)`` is one line, ``"<path>: <problem>"``, fit for standard
    error. It never contains a data value.

    Attributes:
        path: the offending file.
        problem: what is wrong with it.
    """

    def __init__(self, path: Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.path}: {self.problem}")


def _normalise_names(path: Path, names: list[object]) -> list[str]:
    """Lower-case and trim column names; reject collisions and reserved names."""
    out: list[str] = []
    seen: dict[str, str] = {}
    for position, original in enumerate(names, start=1):
        norm = str(original).strip().lower()
        if norm == "":
            norm = f"unnamed_{position}"
        if norm in seen:
            raise ExtractError(
                path,
                f"columns {seen[norm]!r} and {str(original)!r} collide after "
                f"lower-casing and trimming (both become {norm!r}); rename or drop one",
            )
        if norm == schemas.SOURCE_ROW:
            raise ExtractError(
                path, f"column name {schemas.SOURCE_ROW!r} is reserved by the audit; rename that column"
            )
        seen[norm] = str(original)
        out.append(norm)
    return out


@contextmanager
def _file_errors(path: Path) -> Iterator[None]:
    """The file-system errors every reader turns into one-line :class:`ExtractError`s."""
    try:
        yield
    except FileNotFoundError:
        raise ExtractError(path, "file not found") from None
    except IsADirectoryError:
        raise ExtractError(path, "is a directory, not a file") from None
    except PermissionError:
        raise ExtractError(path, "permission denied") from None


def _read_csv(path: Path, categorical: bool = False) -> pd.DataFrame:
    """Read a CSV / CSV.gz as all-string columns; see :func:`read_extract`."""
    compressed = path.name.lower().endswith(".gz")
    try:
        with _file_errors(path):
            names = _csv_header(path, compressed)
            fast = _csv_body_arrow(path, compressed, names, categorical)
            if fast is not None:
                return fast
            frame = _csv_body(path, compressed, len(names))
    except ExtractError:
        raise
    except UnicodeDecodeError as err:
        raise ExtractError(
            path, f"not valid UTF-8 text (undecodable byte at offset {err.start}); "
            "export or save the extract as UTF-8",
        ) from None
    except (gzip.BadGzipFile, EOFError, OSError) as err:
        raise ExtractError(
            path, f"cannot read file ({type(err).__name__}); the file may be cut off: copy or export it again"
        ) from None
    except pd.errors.ParserWarning:  # a data row longer than the header
        raise ExtractError(path, _MALFORMED.format(
            f"a data row has more cells than the header's {len(names)} columns")) from None
    except pd.errors.ParserError as err:
        first_line = str(err).strip().splitlines()[-1] if str(err).strip() else ""
        raise ExtractError(path, _MALFORMED.format(first_line)) from None
    if frame.shape[1] > len(names):
        raise ExtractError(path, _MALFORMED.format(
            f"the header has {len(names)} columns but data rows have {frame.shape[1]}"))
    if frame.shape[1] < len(names):  # every data row is short: cells missing
        for position in range(frame.shape[1], len(names)):
            frame[position] = None
    frame.columns = names
    # Empty cells (and cells of short rows) are missing: None, never "".
    frame = frame.astype(object)
    return frame.where(frame.notna() & frame.ne(""), None)


def _csv_header(path: Path, compressed: bool) -> list[str]:
    """The normalised column names of the header row (I/O errors propagate).

    The header is read with the csv module so that duplicate names are seen
    before pandas mangles them ("a", "a.1").
    """
    if compressed:
        fh = gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    else:
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
    with fh:
        header = next(csv.reader(fh), None)
    if header is None or all(h.strip() == "" for h in header):
        raise ExtractError(path, "empty file: no header row; export the extract again with its header row")
    return _normalise_names(path, list(header))


def _csv_body_arrow(
    path: Path, compressed: bool, names: list[str], categorical: bool = False,
) -> pd.DataFrame | None:
    """The data records read by Arrow's CSV reader (in C, no Python per cell), or None.

    The same frame :func:`_read_csv` builds with pandas (every cell ``str``,
    empty -> ``None``, columns ``names``), for the files both read alike: a
    header line without quotes, every record with exactly ``len(names)``
    cells, valid UTF-8, and a last record that is complete
    (:func:`_ends_cleanly`: Arrow, unlike pandas, accepts a file cut inside a
    quoted cell). For any other file it returns None and pandas reads it, so
    edge cases and their error messages stay pandas' own. ``categorical``:
    the same values as ``Categorical`` columns (:func:`_cell_categorical`).
    """
    cells = _arrow_columns(path, compressed, len(names))
    if cells is None:
        return None
    n_rows = len(cells[0])
    convert = _cell_categorical if categorical else _cell_objects
    try:
        converted = _converted_columns(cells, convert)
    except pa.ArrowException:  # e.g. more than 2 GiB of distinct text in one column
        return None
    columns = dict(zip(names, converted))
    pa.default_memory_pool().release_unused()  # hand them back for the staging that follows
    # dtype=object: the cells are str / None already, nothing to infer per column.
    # copy=False: the columns are fresh arrays; a copy of every code array
    # beside the originals was 0.14 GB at 1M encounters (and heap left fragmented).
    return pd.DataFrame(columns, index=pd.RangeIndex(n_rows), columns=names,
                        dtype=None if categorical else object, copy=False)


def _arrow_columns(path: Path, compressed: bool, n_names: int) -> list[pa.ChunkedArray] | None:
    """The records of a file :func:`_csv_body_arrow` reads, as one string column
    per header name, dictionary-encoded block by block (each chunk has its own
    dictionary; empty cells, quoted or not, are null); None for any other file.

    A plain file is checked in blocks and parsed by Arrow from disk, so its
    bytes are never held whole beside the table (1.1 GB at 1M encounters).
    """
    try:
        data = gzip.decompress(path.read_bytes()) if compressed else None
        if not _arrow_can_read(_blocks(path, data)):
            return None
    except (OSError, EOFError, gzip.BadGzipFile):
        return None  # pandas reports it
    labels = [f"c{i}" for i in range(n_names)]
    blocks: list[list[pa.DictionaryArray]] = [[] for _ in labels]
    try:
        reader = pa_csv.open_csv(
            pa.BufferReader(data) if data is not None else pa.OSFile(str(path)),
            # one thread: no read-ahead of blocks waiting to be encoded
            read_options=pa_csv.ReadOptions(column_names=labels, skip_rows=1, block_size=_BLOCK, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={label: pa.string() for label in labels},
                null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
            ),
        )
        _encode_blocks(reader, blocks)
    except (pa.ArrowException, ValueError, OSError):
        return None
    columns = [pa.chunked_array(column, type=_ENCODED) for column in blocks]
    # The parsed blocks' text is freed but still held by the allocator (partly
    # in heaps of the encoding threads, now gone, that no other thread
    # reuses): hand it back before the columns are unified on other threads,
    # or their allocations add to it (the read's peak: 445 -> 385 MB at 100k encounters).
    pa.default_memory_pool().release_unused()
    if len(columns[0]):
        last_cell = columns[-1][-1].as_py() or ""
        end = data if data is not None else _file_end(path, len(last_cell.encode("utf-8")) + 3)
        if not _ends_cleanly(end, last_cell):
            return None
    return columns


_BLOCK = 1 << 24  # 16 MiB: a file is checked and parsed a block at a time
_ENCODED = pa.dictionary(pa.int32(), pa.string())  # a column of :func:`_arrow_columns`
# Threads that encode / convert columns side by side: Arrow's kernels release
# the GIL, and the machine the audit is sized for has 2 cores.
_WORKERS = 2


def _encode_blocks(reader: pa_csv.CSVStreamingReader, blocks: list[list[pa.DictionaryArray]]) -> None:
    """Append each record batch's columns, dictionary-encoded, to ``blocks``
    (one list of chunks per column, in file order).

    Each block's text is encoded as soon as it is parsed: only codes and
    distinct texts are kept, never every cell's text (1.5 GB at 1M
    encounters). The columns of block k are encoded on :data:`_WORKERS`
    threads while this thread parses block k+1, so at most two blocks' text
    (2 x ``_BLOCK`` of CSV) is held at once. Arrow errors propagate.
    """
    with ThreadPoolExecutor(_WORKERS) as pool:
        pending: list[Future[pa.DictionaryArray]] = []
        for batch in reader:
            submitted = [pool.submit(pc.dictionary_encode, cells) for cells in batch.columns]
            for column, encoded in zip(blocks, pending):
                column.append(encoded.result())
            pending = submitted
        for column, encoded in zip(blocks, pending):
            column.append(encoded.result())


def _converted_columns(
    cells: list[pa.ChunkedArray | None], convert: Callable[[np.ndarray, np.ndarray], object],
) -> list:
    """``convert(codes, distinct)`` of each column of ``cells`` (see
    :func:`_dictionary_codes`), in the order of ``cells``.

    The Arrow half (:func:`_unified`, which releases the GIL) runs on
    :data:`_WORKERS` threads, the columns with the most dictionary entries
    first (the ids: millions of texts at 1M encounters, so they are unified
    side by side); the Python half (``str`` objects, numpy, pandas) runs on
    this thread, column by column as the Arrow halves come in: numpy's
    allocations stay in this thread's heap rather than in arenas of
    short-lived threads. Each slot of ``cells`` is cleared as its column is
    handed over, so a column's chunks are freed once it is unified. Errors
    propagate.
    """
    entries = [sum(len(chunk.dictionary) for chunk in column.chunks) for column in cells]
    out: list = [None] * len(cells)
    running: dict[Future[tuple[pa.Array, pa.Array]], int] = {}

    def convert_done() -> None:
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for unified in done:
            out[running.pop(unified)] = convert(*_as_numpy(*unified.result()))

    with ThreadPoolExecutor(_WORKERS) as pool:
        for position in sorted(range(len(cells)), key=lambda p: -entries[p]):
            running[pool.submit(_unified, cells[position])] = position
            cells[position] = None
            if len(running) == _WORKERS:  # unified columns do not pile up waiting
                convert_done()
        while running:
            convert_done()
    return out


def _blocks(path: Path, data: bytes | None) -> Iterator[bytes]:
    """``data`` whole, or else the file's bytes in consecutive blocks."""
    if data is not None:
        yield data
        return
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            yield block


def _arrow_can_read(blocks: Iterator[bytes]) -> bool:
    """False for a header line holding a quote (a quoted header may span lines,
    and ``skip_rows`` counts lines), for a NUL byte anywhere (pandas cuts cells
    at NUL), and for a first block without a line break that is not the whole
    file (a header that long is left to pandas)."""
    first = True
    for block in blocks:
        if first:
            header_end = block.find(b"\n")  # not split(): that would copy the whole body
            if header_end < 0 and len(block) == _BLOCK:
                return False
            if b'"' in (block if header_end < 0 else block[:header_end]):
                return False
            first = False
        if b"\x00" in block:
            return False
    return True


def _file_end(path: Path, need: int) -> bytes:
    """The file's last bytes, enough for :func:`_ends_cleanly`: ``need`` bytes
    after trailing line breaks are cut (the whole file when it ends in 64 KiB
    of line breaks)."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - need - 65536))
        end = fh.read()
        if len(end.rstrip(b"\r\n")) < need and len(end) < size:
            fh.seek(0)
            end = fh.read()
    return end


def _dictionary_codes(cells: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """One column of :func:`_arrow_columns` as (codes, distinct): ``distinct``
    an object array of the column's distinct ``str`` (unique, no nulls, in
    order of first appearance), ``codes`` (int32) a position in it per cell,
    ``-1`` where the cell is null."""
    return _as_numpy(*_unified(cells))


def _unified(cells: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """The Arrow half of :func:`_dictionary_codes` (no Python object per
    value): int32 codes (``-1`` for null) into one string dictionary."""
    unified = pa.Table.from_arrays([cells], names=["cells"]).unify_dictionaries().column(0)
    encoded = unified.combine_chunks()  # one dictionary now: the indices are concatenated
    codes, dictionary = encoded.indices.fill_null(-1), encoded.dictionary
    del unified, encoded
    # Run on a worker thread, whose allocator heap does not reuse what the
    # other threads free: hand back its own freed transients (the indices
    # copied three times) at once, so columns unified side by side do not pile them up.
    pa.default_memory_pool().release_unused()
    return codes, dictionary


def _as_numpy(codes: pa.Array, dictionary: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_unified`'s arrays as numpy: the codes (no copy), the texts as ``str`` objects."""
    return (codes.to_numpy(zero_copy_only=False),
            dictionary.to_numpy(zero_copy_only=False).astype(object, copy=False))


def _cell_objects(codes: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """One column's cells (``codes`` and ``distinct`` as :func:`_dictionary_codes`)
    as an object array of ``str`` / ``None``: each distinct text is one
    Python ``str`` that its rows share."""
    return np.append(distinct, None)[codes]  # code -1: the appended None


def _cell_categorical(codes: np.ndarray, distinct: np.ndarray) -> pd.Categorical:
    """One column's cells (empty ones null; ``codes`` and ``distinct`` as
    :func:`_dictionary_codes`) as a pandas ``Categorical`` of ``str``.

    Categories are the distinct texts (unique, in order of first
    appearance, object dtype); null cells have code ``-1`` (NaN). Pandas
    stores the codes in the smallest integer type that holds them.
    """
    categories = pd.Index(distinct, dtype=object)
    # Arrow's dictionary is unique and null-free by construction. pandas
    # checks both (cached on the Index) before it accepts categories; hashing
    # a million distinct ids again took 1.5 s per column at 1M encounters.
    cache = getattr(categories, "_cache", None)
    if isinstance(cache, dict):
        cache.update(is_unique=True, hasnans=False)
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories), validate=False)


def _ends_cleanly(data: bytes, last_cell: str) -> bool:
    """True when the file's last cell (``last_cell``, as Arrow read it) is complete.

    Complete means: an unquoted cell after a comma or line break, or a
    quoted cell closed by its quote, then only line breaks. A cell holding a
    quote or line break is not judged (False): the caller lets pandas read.
    """
    if any(c in last_cell for c in ('"', "\r", "\n")):
        return False
    cell = last_cell.encode("utf-8")
    window = data[-(len(cell) + 65536):]  # the end of the file: no copy of all of it
    tail = window.rstrip(b"\r\n")
    if len(tail) < len(cell) + 3 and len(window) < len(data):  # 64 KiB of line breaks at the end
        tail = data.rstrip(b"\r\n")
    quoted = b'"' + cell + b'"'
    if tail.endswith(quoted):
        return tail[-len(quoted) - 1:-len(quoted)] in (b",", b"\n", b"\r")
    return tail.endswith(cell) and tail[len(tail) - len(cell) - 1:len(tail) - len(cell)] in (b",", b"\n", b"\r")


def _csv_body(path: Path, compressed: bool, n_names: int) -> pd.DataFrame:
    """The data records as strings, columns numbered ``0..`` (I/O errors propagate)."""
    # header=None + skiprows + one name per header column: short rows (even
    # the first one) are padded with empty cells; index_col=False: pandas must
    # not take a first row one field longer than the header as an index; it
    # warns (ParserWarning, turned into an error here) and a later long row
    # is a ParserError, so no cell is ever dropped.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                path,
                header=None,
                skiprows=1,
                names=list(range(n_names)),
                index_col=False,
                dtype=str,
                keep_default_na=False,
                na_values=[],
                encoding="utf-8-sig",
                compression="gzip" if compressed else None,
            )
    except pd.errors.EmptyDataError:  # header only
        return pd.DataFrame({i: pd.Series([], dtype=object) for i in range(n_names)})


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read a Parquet file with values as stored; see :func:`read_extract`."""
    try:
        with _file_errors(path):
            table = pq.read_table(path)
    except ExtractError:
        raise
    except (pa.ArrowException, OSError, ValueError) as err:
        detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise ExtractError(
            path, f"not a readable Parquet file ({type(err).__name__}: {detail}); "
            "it may be cut off or not Parquet: export it again",
        ) from None
    # ignore_metadata: a stored pandas index becomes a plain column (named
    # index) or "__index_level_N__" (unnamed, dropped): rows stay 0..n-1.
    frame = table.to_pandas(ignore_metadata=True)
    frame = frame.drop(
        columns=[c for c in frame.columns if str(c).startswith("__index_level_")]
    )
    frame.columns = _normalise_names(path, list(frame.columns))
    return frame.reset_index(drop=True)
