"""Read the MAR and claim extracts and stage them into typed canonical columns.

Two steps, both pure (pandas, pyarrow, numpy, stdlib):

1. :func:`read_extract` reads one file into the RAW frame: every input column,
   names lower-cased and trimmed, values exactly as read (CSV: strings, with
   ``""`` as missing; Parquet: the stored types), plus ``source_row``.
   A file that cannot be used at all raises :class:`ExtractError`.
2. :func:`stage_mar` / :func:`stage_claims` turn the raw frame into the typed
   canonical columns of ``schemas.MAR_ARROW`` / ``schemas.CLAIM_ARROW`` plus
   helper columns (``schemas.MAR_HELPERS`` / ``schemas.CLAIM_HELPERS``) that
   validation uses to explain failures. Staging never drops or rejects a
   row: a value that cannot be parsed becomes null and validation
   (``expectations/``) quarantines the row.

Invariants of every staged frame:
    * same length and order as the raw frame, index ``0..n-1``;
    * ``source_row`` is carried over unchanged (1-based data record number);
    * strings are ``object`` columns holding ``str`` or ``None``, trimmed,
      never ``""`` (except claim ``modifiers``: ``""`` when there are none);
    * timestamps are ``datetime64[ns, UTC]`` (whole microseconds). Text with
      a UTC offset or ``Z`` is that instant; text without one is local wall
      time in the facility zone: a time in the spring-forward gap does not
      exist (null, flagged ``event_time_nonexistent``) and a time in the
      fall-back overlap is taken as its FIRST (daylight-time) occurrence;
    * ``service_date`` holds ``datetime.date`` objects (``object`` dtype,
      ``None`` when missing), matching what pyarrow ``date32`` reads back as;
    * unknown extra input columns follow the canonical and helper columns,
      with their raw values (unless a name clashes with a helper column, in
      which case it stays in the raw frame only).

Error messages name files, rows and columns, never values, because values
may be protected health information.
"""

from __future__ import annotations

import csv
import gzip
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from transforms.frames import text
from transforms.reference.ndc import normalise_ndc
from transforms.vocab import schemas

ExtractKind = Literal["mar", "claims"]

_CSV_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz")
_PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
_REQUIRED: dict[str, tuple[str, ...]] = {
    "mar": schemas.MAR_REQUIRED,
    "claims": schemas.CLAIM_REQUIRED,
}
# ISO-8601 date + time, optionally followed by a UTC offset or Z (upper-cased
# before matching). Date-only values are not accepted as event times.
_ISO_DATETIME = r"^\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
_OFFSET_SUFFIX = r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_MALFORMED = (
    "malformed CSV: {}; check that the file is complete and that cells holding commas, "
    "quotes or line breaks are quoted"
)
_TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})


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


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------
def read_extract(path: Path, kind: ExtractKind) -> pd.DataFrame:
    """Read one MAR or claims extract into the raw frame.

    The format is chosen by suffix: ``.csv`` / ``.csv.gz`` (UTF-8, optional
    BOM, header row, every column read as a string, empty cells are missing)
    or ``.parquet`` / ``.pq`` (values kept as stored; a stored pandas index is
    discarded).

    Args:
        path: file to read.
        kind: ``"mar"`` or ``"claims"``; selects the required columns
            (``schemas.MAR_REQUIRED`` / ``schemas.CLAIM_REQUIRED``).

    Returns:
        All input columns, named lower-cased and trimmed, in file order (CSV
        values are ``str`` or ``None``), plus ``source_row`` (int64, 1-based
        number of the data record: blank lines are not records and a quoted
        multi-line cell is one record). Index ``0..n-1``.

    Raises:
        ExtractError: unsupported suffix; file missing, unreadable, not
            UTF-8, corrupt or empty without a header; two columns that collide
            after lower-casing and trimming; a column named ``source_row``;
            missing required column(s) (all of them are named).
        ValueError: ``kind`` is not ``"mar"`` or ``"claims"``.
    """
    if kind not in _REQUIRED:
        raise ValueError(f"kind must be 'mar' or 'claims', not {kind!r}")
    path = Path(path)
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        raw = _read_csv(path)
    elif name.endswith(_PARQUET_SUFFIXES):
        raw = _read_parquet(path)
    else:
        raise ExtractError(
            path,
            "unsupported file type (expected .csv, .csv.gz, .parquet or .pq); "
            "export the extract as CSV or Parquet",
        )
    missing = [c for c in _REQUIRED[kind] if c not in raw.columns]
    if missing:
        raise ExtractError(
            path,
            f"missing required column(s) for a {kind} extract: {', '.join(missing)}; "
            "add them, or rename the file's columns to the contract's names",
        )
    raw[schemas.SOURCE_ROW] = np.arange(1, len(raw) + 1, dtype="int64")
    return raw.reset_index(drop=True)


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


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV / CSV.gz as all-string columns; see :func:`read_extract`."""
    compressed = path.name.lower().endswith(".gz")
    try:
        with _file_errors(path):
            names = _csv_header(path, compressed)
            fast = _csv_body_arrow(path, compressed, names)
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


def _csv_body_arrow(path: Path, compressed: bool, names: list[str]) -> pd.DataFrame | None:
    """The data records read by Arrow's CSV reader (in C, no Python per cell), or None.

    The same frame :func:`_read_csv` builds with pandas (every cell ``str``,
    empty -> ``None``, columns ``names``), for the files both read alike: a
    header line without quotes, every record with exactly ``len(names)``
    cells, valid UTF-8, and a last record that is complete
    (:func:`_ends_cleanly`: Arrow, unlike pandas, accepts a file cut inside a
    quoted cell). For any other file it returns None and pandas reads it, so
    edge cases and their error messages stay pandas' own.
    """
    try:
        data = gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile):
        return None  # pandas reports it
    if b'"' in data.split(b"\n", 1)[0] or b"\x00" in data:
        return None  # a quoted header may span lines (skip_rows counts lines); pandas cuts cells at NUL
    labels = [f"c{i}" for i in range(len(names))]
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(data),
            read_options=pa_csv.ReadOptions(column_names=labels, skip_rows=1),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={label: pa.string() for label in labels},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows and not _ends_cleanly(data, table.column(len(labels) - 1)[-1].as_py()):
        return None
    columns = {}
    for position, name in enumerate(names):
        cells = table.column(position)
        values = cells.to_numpy(zero_copy_only=False).astype(object, copy=False)
        values[pc.equal(cells, "").to_numpy(zero_copy_only=False)] = None
        columns[name] = values
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows), columns=names)


def _ends_cleanly(data: bytes, last_cell: str) -> bool:
    """True when the file's last cell (``last_cell``, as Arrow read it) is complete.

    Complete means: an unquoted cell after a comma or line break, or a
    quoted cell closed by its quote, then only line breaks. A cell holding a
    quote or line break is not judged (False): the caller lets pandas read.
    """
    if any(c in last_cell for c in ('"', "\r", "\n")):
        return False
    tail = data.rstrip(b"\r\n")
    cell = last_cell.encode("utf-8")
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


# --------------------------------------------------------------------------
# Value parsing (vectorised)
# --------------------------------------------------------------------------
def _maybe_untrimmed(cells: pa.Array) -> np.ndarray:
    """True for the cells Arrow cannot vouch for: empty, or a first / last byte
    outside printable non-space ASCII (``!``..``~``), so possibly whitespace to
    Python's ``str.strip``; False for nulls. Byte slices and comparisons, no regex."""
    data = cells.cast(pa.binary())
    first, last = pc.binary_slice(data, 0, 1), pc.binary_slice(data, -1)
    odd = pc.or_(pc.or_(pc.less(first, b"!"), pc.greater(first, b"~")),
                 pc.or_(pc.less(last, b"!"), pc.greater(last, b"~")))
    return odd.fill_null(False).to_numpy(zero_copy_only=False)


def _text(values: pd.Series) -> pd.Series:
    """Exactly :func:`transforms.frames.text`, without Python per cell for text columns.

    A column of ``str`` (CSV cells) is checked by Arrow in one pass: a cell
    that is not empty and starts and ends with printable non-space ASCII is
    already its own trimmed text and is kept as is (no new string); only the
    other cells (empty, edge whitespace, edge non-ASCII) go through
    ``frames.text``. Any other column goes through ``frames.text`` whole.
    """
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return text(values)
    cells = values.to_numpy(dtype=object)
    try:
        arrow = pa.array(cells, type=pa.string(), from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return text(values)
    odd = _maybe_untrimmed(arrow)
    out = cells.copy()
    out[arrow.is_null().to_numpy(zero_copy_only=False)] = None
    if odd.any():
        out[odd] = text(pd.Series(cells[odd], dtype=object)).to_numpy(dtype=object)
    return pd.Series(out, index=values.index, dtype=object)


def _per_distinct(trimmed: pd.Series, convert: str) -> pd.Series:
    """``trimmed.str.<convert>()`` computed once per distinct value (codes, routes,
    units repeat); ``None`` stays ``None``."""
    codes, distinct = pd.factorize(trimmed, use_na_sentinel=True)
    converted = getattr(pd.Series(distinct, dtype=object).str, convert)().to_numpy(dtype=object)
    out = np.full(len(trimmed), None, dtype=object)
    present = codes >= 0
    out[present] = converted[codes[present]]
    return pd.Series(out, index=trimmed.index, dtype=object)


def _lower(values: pd.Series) -> pd.Series:
    """Exactly :func:`transforms.frames.lower` (trimmed, lower case, ``None`` stays ``None``)."""
    return _per_distinct(_text(values), "lower")


def _present(values: pd.Series) -> pd.Series:
    """True where the raw value is given (not null, not blank text)."""
    return _text(values).notna().astype(bool)


def _upper(values: pd.Series) -> pd.Series:
    """:func:`transforms.frames.text` in upper case (``None`` stays ``None``)."""
    return _per_distinct(_text(values), "upper")


def _to_float(values: pd.Series) -> pd.Series:
    """Finite float64; unparseable, non-finite or missing -> NaN."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    ):
        out = pd.to_numeric(values, errors="coerce").astype("float64")
    else:
        out = pd.to_numeric(_text(values), errors="coerce").astype("float64")
    return out.where(np.isfinite(out), np.nan)


def _to_int(values: pd.Series) -> pd.Series:
    """Whole numbers as nullable Int64 ("2.0" -> 2); "2.5", "x" -> <NA>."""
    as_float = _to_float(values)
    whole = as_float.notna() & (np.mod(as_float.fillna(0.0), 1) == 0)
    whole &= as_float.abs().fillna(0.0) < 2.0**53
    return as_float.where(whole, np.nan).astype("Int64")


def _to_bool(values: pd.Series) -> pd.Series:
    """Nullable boolean from true/false, t/f, yes/no, y/n, 1/0 (any case)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    words = _lower(values)
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[words.isin(_TRUE_WORDS)] = True
    out[words.isin(_FALSE_WORDS)] = False
    return out


def _dates_to_objects(stamps: pd.Series) -> pd.Series:
    """datetime64 Series -> object Series of ``datetime.date`` / None."""
    dates = stamps.dt.date.astype(object)
    return dates.where(stamps.notna(), None)


def _to_date(values: pd.Series) -> pd.Series:
    """Calendar dates from ISO ``YYYY-MM-DD`` or ``MM/DD/YYYY`` text, or from
    date / datetime values (Parquet ``date32`` / timestamps, local date)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _dates_to_objects(values)
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "date",
        "datetime",
        "datetime64",
    ):
        return _dates_to_objects(pd.to_datetime(values, errors="coerce"))
    trimmed = _text(values)
    parsed = pd.to_datetime(trimmed, format="%Y-%m-%d", errors="coerce")
    us = pd.to_datetime(trimmed, format="%m/%d/%Y", errors="coerce")
    return _dates_to_objects(parsed.fillna(us))


def _to_utc(values: pd.Series, tz: str) -> tuple[pd.Series, pd.Series]:
    """Parse event times to ``datetime64[ns, UTC]``.

    * ISO-8601 with ``Z`` or a UTC offset -> that instant.
    * ISO-8601 without offset (local wall time) -> read in ``tz``. A time in
      the spring-forward gap does not exist -> NaT, flagged. A time in the
      fall-back overlap is ambiguous -> the FIRST occurrence (daylight time,
      e.g. 01:30 EDT = 05:30Z on 2026-11-01 in America/New_York).
    * Date-only or any other text -> NaT.
    * tz-aware datetime64 -> converted; naive datetime64 -> read in ``tz``.

    Args:
        values: raw event times (text, or datetime64 from Parquet).
        tz: IANA zone name, already checked with ``zoneinfo``. The name (not
            a ``ZoneInfo`` object) is handed to pandas, which localises with
            its compiled tz database code; with ``ZoneInfo`` objects pandas 2
            is about 50x slower (0.7 s per 100,000 rows).

    Returns:
        (UTC timestamps, boolean Series: local time does not exist in ``tz``).
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        return _parse_times(values, tz)
    # Times repeat (events of one minute): each distinct text is parsed once.
    codes, distinct = pd.factorize(_upper(values), use_na_sentinel=True)
    utc_distinct, nonexistent_distinct = _parse_times(pd.Series(distinct, dtype=object), tz)
    utc = pd.Series(utc_distinct.array.take(codes, allow_fill=True), index=values.index)
    flags = nonexistent_distinct.to_numpy(dtype=bool)
    nonexistent = np.zeros(len(codes), dtype=bool)
    nonexistent[codes >= 0] = flags[codes[codes >= 0]]
    return utc, pd.Series(nonexistent, index=values.index, dtype=bool)


def _parse_times(values: pd.Series, tz: str) -> tuple[pd.Series, pd.Series]:
    """:func:`_to_utc` of every cell (text cells trimmed and upper-cased first)."""
    index = values.index
    utc = pd.Series(pd.NaT, index=index, dtype="datetime64[ns, UTC]")
    nonexistent = pd.Series(False, index=index, dtype=bool)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]"), nonexistent
    if pd.api.types.is_datetime64_dtype(values.dtype):
        naive = values.astype("datetime64[ns]")
    else:
        upper = _upper(values)
        has_time = upper.str.match(_ISO_DATETIME, na=False)
        has_offset = has_time & upper.str.contains(
            _ISO_DATETIME + _OFFSET_SUFFIX, regex=True, na=False
        )
        if has_offset.any():
            utc[has_offset] = pd.to_datetime(
                upper[has_offset].str.replace(r"\s+(?=[Z+-]\d*:?\d*$)", "", regex=True),
                format="ISO8601",
                utc=True,
                errors="coerce",
            )
        local = has_time & ~has_offset
        naive = pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
        if local.any():
            naive[local] = pd.to_datetime(
                upper[local], format="ISO8601", errors="coerce"
            ).astype("datetime64[ns]")
    to_localize = naive.notna()
    if to_localize.any():
        localized = naive[to_localize].dt.tz_localize(
            tz,
            nonexistent="NaT",
            ambiguous=np.ones(int(to_localize.sum()), dtype=bool),  # True = DST
        )
        nonexistent[to_localize] = localized.isna().to_numpy()
        utc[to_localize] = localized.dt.tz_convert("UTC")
    return utc, nonexistent


def _stage_ndc(values: pd.Series) -> pd.Series:
    """The staged ``ndc``: the 11-digit key where the value is an NDC, else as charted.

    An NDC by the rule of :func:`transforms.reference.ndc.normalise_ndc`
    (the one the classifier looks codes up with) is staged as its 11 digits;
    any other value is kept as charted (trimmed), so the lake and the
    quarantine still show what the nurse entered, and the classifier, which
    normalises again, finds no NDC in it. Values are text first: a numeric
    Parquet column is staged as its decimal digits, leading zeros not
    restored.
    """
    charted = _text(values)
    key = normalise_ndc(charted)
    return charted.where(key.isna(), key.astype(object))


def _first_occurrence(frame: pd.DataFrame, key: list[str], eligible: pd.Series) -> pd.Series:
    """``source_row`` of the first eligible row with the same key, for the
    later rows of the key; <NA> for first occurrences and ineligible rows.

    Nulls in key columns compare equal to each other (``dropna=False``).
    """
    out = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    sub = frame.loc[eligible, [*key, schemas.SOURCE_ROW]]
    if sub.empty:
        return out
    first = sub.groupby(key, dropna=False, sort=False)[schemas.SOURCE_ROW].transform("min")
    dup = first.ne(sub[schemas.SOURCE_ROW])
    out.loc[first.index[dup]] = first[dup].to_numpy()
    return out


def _nones(index: pd.Index) -> pd.Series:
    """An object Series of ``None`` (``pd.Series(None, dtype=object)`` gives NaN)."""
    return pd.Series(np.full(len(index), None, dtype=object), index=index, dtype=object)


def _column(raw: pd.DataFrame, name: str) -> pd.Series:
    """The raw column, or an all-missing object column if absent."""
    if name in raw.columns:
        return raw[name]
    return _nones(raw.index)


def _with_extras(staged: pd.DataFrame, raw: pd.DataFrame, known: set[str]) -> pd.DataFrame:
    """``staged`` followed by the raw columns not in ``known`` (unknown extra input
    columns); ``staged`` itself when there are none (no copy of every column)."""
    extras = [c for c in raw.columns if c not in known]
    return pd.concat([staged, raw[extras]], axis=1) if extras else staged


def _check_raw(raw: pd.DataFrame) -> pd.DataFrame:
    if schemas.SOURCE_ROW not in raw.columns:
        raise ValueError("raw frame has no source_row column; use read_extract()")
    return raw.reset_index(drop=True)


# --------------------------------------------------------------------------
# Staging
# --------------------------------------------------------------------------
def stage_mar(raw: pd.DataFrame, facility_tz: str) -> pd.DataFrame:
    """Type the raw MAR frame into the canonical columns (no row dropped).

    Args:
        raw: frame from ``read_extract(path, "mar")``.
        facility_tz: IANA zone (e.g. ``"America/New_York"``) in which local
            wall times without a UTC offset are read.

    Returns:
        Columns ``schemas.MAR_ARROW`` names in that order (strings: object
        with None; ``event_time``: ``datetime64[ns, UTC]``, floored to whole
        microseconds (the lake's precision); ``rate``, ``dose``,
        ``volume_ml``: float64; ``primary``: nullable boolean;
        ``service_date``: ``datetime.date`` of ``event_time`` in
        ``facility_tz``), then ``schemas.MAR_HELPERS``:

        * ``<c>_raw_present`` (bool) for ``c`` in ``schemas.MAR_PARSED``:
          a value was given, so a null ``c`` means "not parseable";
        * ``event_time_nonexistent`` (bool): a local wall time in the
          spring-forward gap (``event_time`` is null);
        * ``duplicate_of`` (Int64): ``source_row`` of the first row with
          the same ``schemas.MAR_EVENT_KEY``; null for first occurrences and
          for rows without a parsed ``event_time``;

        then unknown extra columns. ``infusate_id`` defaults to ``order_id``;
        ``route``, ``action``, ``drug_class`` are lower-cased; ``ndc`` is the
        11-digit key where the value is an NDC by
        :func:`transforms.reference.ndc.normalise_ndc`, else the charted text
        (see :func:`_stage_ndc`). Same length, order and ``source_row`` as
        ``raw``.

    Raises:
        ValueError: unknown ``facility_tz``, or ``raw`` lacks ``source_row``.
    """
    try:
        ZoneInfo(facility_tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"unknown facility time zone {facility_tz!r}; set INFUSION_AUDIT_TZ to an IANA zone "
            "such as America/New_York"
        ) from None
    raw = _check_raw(raw)
    staged, nonexistent = _mar_canonical(raw, facility_tz)
    for name in schemas.MAR_PARSED:
        staged[f"{name}_raw_present"] = _present(_column(raw, name))
    staged["event_time_nonexistent"] = nonexistent
    staged["duplicate_of"] = _first_occurrence(
        staged, list(schemas.MAR_EVENT_KEY), staged["event_time"].notna()
    )
    known = set(schemas.MAR_ARROW.names) | set(schemas.MAR_HELPERS)
    return _with_extras(staged, raw, known)


def _mar_canonical(raw: pd.DataFrame, tz: str) -> tuple[pd.DataFrame, pd.Series]:
    """The ``schemas.MAR_ARROW`` columns of :func:`stage_mar`, in order, and
    the ``event_time_nonexistent`` flags (``tz``: a valid IANA zone name)."""
    out = pd.DataFrame(index=raw.index)
    for name in ("encounter_id", "patient_id", "order_id", "drug", "access_site",
                 "rate_unit", "dose_unit"):
        out[name] = _text(_column(raw, name))
    infusate = _text(_column(raw, "infusate_id"))
    out["infusate_id"] = infusate.where(infusate.notna(), out["order_id"])
    out["ndc"] = _stage_ndc(_column(raw, "ndc"))
    for name in ("drug_class", "route", "action"):
        out[name] = _lower(_column(raw, name))
    event_time, nonexistent = _to_utc(_column(raw, "event_time"), tz)
    # Microseconds are the lake's precision (schemas.MAR_ARROW).
    event_time = event_time.dt.floor("us")
    out["event_time"] = event_time
    for name in ("rate", "dose", "volume_ml"):
        out[name] = _to_float(_column(raw, name))
    out["primary"] = _to_bool(_column(raw, "primary"))
    out[schemas.SOURCE_ROW] = raw[schemas.SOURCE_ROW].astype("int64")
    out["service_date"] = _dates_to_objects(event_time.dt.tz_convert(tz))
    out["visit_id"] = _text(_column(raw, "visit_id"))
    return out[list(schemas.MAR_ARROW.names)].copy(), nonexistent


def stage_claims(raw: pd.DataFrame) -> pd.DataFrame:
    """Type the raw claims frame into the canonical columns (no row dropped).

    Args:
        raw: frame from ``read_extract(path, "claims")``.

    Returns:
        Columns ``schemas.CLAIM_ARROW`` names in that order (strings: object
        with None; ``line_number``, ``units``: nullable Int64, whole numbers
        only, so ``"2.0"`` -> 2 and ``"2.5"`` -> null; ``charge``: float64;
        ``service_date``: ``datetime.date`` from ``YYYY-MM-DD`` or
        ``MM/DD/YYYY``; ``hcpcs`` upper-cased; ``modifiers`` upper-cased,
        comma-separated without spaces, ``""`` when none; ``claim_type``
        lower-cased; ``claim_frequency`` defaults to ``"1"``), then
        ``schemas.CLAIM_HELPERS``:

        * ``<c>_raw_present`` (bool) for ``c`` in ``schemas.CLAIM_PARSED``;
        * ``superseded_reason`` (str/None): ``schemas.VOIDED`` on every line
          of a ``claim_id`` that has a frequency-8 line (the void included);
          otherwise ``schemas.SUPERSEDED_BY_REPLACEMENT`` on the lines of a
          ``claim_id`` with a frequency-7 line that are not part of its
          latest replacement. Rows are ordered by ``source_row`` (later =
          newer); a replacement is a run of consecutive frequency-7 lines of
          the claim, and a new run starts where ``line_number`` goes down;
        * ``duplicate_of`` (Int64): ``source_row`` of the first not-superseded
          line with the same ``(claim_id, line_number)``;

        then unknown extra columns. Same length, order and ``source_row`` as
        ``raw``.

    Raises:
        ValueError: ``raw`` lacks ``source_row``.
    """
    raw = _check_raw(raw)
    staged = _claim_canonical(raw)
    for name in schemas.CLAIM_PARSED:
        staged[f"{name}_raw_present"] = _present(_column(raw, name))
    staged["superseded_reason"] = _superseded_reason(staged)
    staged["duplicate_of"] = _first_occurrence(
        staged,
        list(schemas.CLAIM_LINE_KEY),
        staged["superseded_reason"].isna()
        & staged["claim_id"].notna()
        & staged["line_number"].notna(),
    )
    staged = staged[[*schemas.CLAIM_ARROW.names, *schemas.CLAIM_HELPERS]]
    known = set(schemas.CLAIM_ARROW.names) | set(schemas.CLAIM_HELPERS)
    return _with_extras(staged, raw, known)


def _claim_canonical(raw: pd.DataFrame) -> pd.DataFrame:
    """The ``schemas.CLAIM_ARROW`` columns of :func:`stage_claims`, in order."""
    out = pd.DataFrame(index=raw.index)
    for name in ("claim_id", "encounter_id", "patient_id", "bill_type",
                 "place_of_service", "revenue_code"):
        out[name] = _text(_column(raw, name))
    out["claim_type"] = _lower(_column(raw, "claim_type"))
    out["line_number"] = _to_int(_column(raw, "line_number"))
    out["service_date"] = _to_date(_column(raw, "service_date"))
    out["hcpcs"] = _upper(_column(raw, "hcpcs"))
    modifiers = _upper(_column(raw, "modifiers"))
    modifiers = modifiers.str.replace(r"[\s,;]+", ",", regex=True).str.strip(",")
    out["modifiers"] = modifiers.where(modifiers.notna(), "").astype(object)
    out["units"] = _to_int(_column(raw, "units"))
    out["charge"] = _to_float(_column(raw, "charge"))
    frequency = _text(_column(raw, "claim_frequency"))
    out["claim_frequency"] = frequency.where(frequency.notna(), "1")
    out[schemas.SOURCE_ROW] = raw[schemas.SOURCE_ROW].astype("int64")
    out["payer_id"] = _text(_column(raw, "payer_id"))
    return out[list(schemas.CLAIM_ARROW.names)].copy()


def _superseded_reason(staged: pd.DataFrame) -> pd.Series:
    """Reason a claim line must not be used (replacement / void), else None.

    See :func:`stage_claims`. Rows without ``claim_id`` are left alone (they
    fail validation anyway). Input order is file order.
    """
    reason = _nones(staged.index)
    has_id = staged["claim_id"].notna()
    if not has_id.any():
        return reason
    sub = staged.loc[has_id, ["claim_id", "claim_frequency", "line_number"]]
    claim = sub["claim_id"]
    is7 = sub["claim_frequency"].eq("7")
    is8 = sub["claim_frequency"].eq("8")
    voided = is8.groupby(claim, sort=False).transform("any").astype(bool)
    replaced_claim = is7.groupby(claim, sort=False).transform("any").astype(bool)
    prev_is7 = is7.groupby(claim, sort=False).shift(1, fill_value=False).astype(bool)
    prev_line = sub["line_number"].groupby(claim, sort=False).shift(1)
    line_went_down = (sub["line_number"] < prev_line).fillna(False).astype(bool)
    starts = is7 & (~prev_is7 | line_went_down)
    version = starts.astype("int64").groupby(claim, sort=False).cumsum()
    latest = version.groupby(claim, sort=False).transform("max")
    superseded = replaced_claim & ~voided & (~is7 | (version < latest))
    reason.loc[sub.index[superseded]] = schemas.SUPERSEDED_BY_REPLACEMENT
    reason.loc[sub.index[voided]] = schemas.VOIDED
    return reason
