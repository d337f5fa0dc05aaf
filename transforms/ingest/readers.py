"""Read the MAR and claim extracts and stage them into typed canonical columns.

Two steps, both pure (pandas, pyarrow, numpy, stdlib):

1. :func:`read_extract` reads one file into the RAW frame: every input column,
   names lower-cased and trimmed, values exactly as read (CSV: strings, with
   ``""`` as missing; Parquet: the stored types), plus ``source_row``; the
   loader asks for CSV text as ``Categorical`` columns (same values, one
   small code per cell; ``read_extract(..., categorical=True)``).
   A file that cannot be used at all raises :class:`ExtractError`.
   The CSV and Parquet readers themselves are in
   :mod:`transforms.ingest.file_reading`.
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
      staged with ``compact=True`` (as the loader does), the same cells are
      ``Categorical`` columns of ``str`` (missing: code -1) that
      :func:`transforms.frames.expand_text` turns into exactly those objects;
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

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from transforms.ingest.distinct import CodedText
# ExtractError is raised by the file readers; callers import it from here too.
from transforms.ingest.file_reading import ExtractError, _read_csv, _read_parquet
from transforms.frames import category_cells, is_text_categorical
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
_TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------
def read_extract(path: Path, kind: ExtractKind, *, categorical: bool = False) -> pd.DataFrame:
    """Read one MAR or claims extract into the raw frame.

    The format is chosen by suffix: ``.csv`` / ``.csv.gz`` (UTF-8, optional
    BOM, header row, every column read as a string, empty cells are missing)
    or ``.parquet`` / ``.pq`` (values kept as stored; a stored pandas index is
    discarded).

    Args:
        path: file to read.
        kind: ``"mar"`` or ``"claims"``; selects the required columns
            (``schemas.MAR_REQUIRED`` / ``schemas.CLAIM_REQUIRED``).
        categorical: CSV read by Arrow (:func:`file_reading._csv_body_arrow`) comes back
            as pandas ``Categorical`` columns (categories: the distinct
            ``str`` cells; missing: NaN) instead of ``str`` / ``None``
            objects: the same values in one small integer per cell, and
            :meth:`CodedText.of` takes their codes as they are. For the
            loader, whose raw frame is only staged and quoted in the
            quarantine; other files come back as objects either way.

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
        raw = _read_csv(path, categorical)
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
    return raw if _is_default_index(raw.index) else raw.reset_index(drop=True)


# --------------------------------------------------------------------------
# Value parsing (vectorised, once per distinct text: transforms.ingest.distinct)
# --------------------------------------------------------------------------
def _text(values: pd.Series) -> pd.Series:
    """Exactly :func:`transforms.frames.text`, trimming each distinct value once."""
    return CodedText.of(values).text()


def _lower(values: pd.Series) -> pd.Series:
    """Exactly :func:`transforms.frames.lower` (trimmed, lower case, ``None`` stays ``None``)."""
    return CodedText.of(values).mapped(lambda s: s.str.lower())


def _present(values: pd.Series) -> pd.Series:
    """True where the raw value is given (not null, not blank text)."""
    return pd.Series(CodedText.of(values).present(), index=values.index, dtype=bool)


def _upper(values: pd.Series) -> pd.Series:
    """:func:`transforms.frames.text` in upper case (``None`` stays ``None``)."""
    return CodedText.of(values).mapped(lambda s: s.str.upper())


def _is_number_column(values: pd.Series) -> bool:
    """Numbers as stored (Parquet), parsed as such; bools are text (``"True"``)."""
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)


def _to_float(values: pd.Series, coded: CodedText | None = None) -> pd.Series:
    """Finite float64; unparseable, non-finite or missing -> NaN.

    ``coded``: :meth:`CodedText.of` ``values``, when the caller has it already.
    """
    if _is_number_column(values):
        out = pd.to_numeric(values, errors="coerce").astype("float64")
        return out.where(np.isfinite(out), np.nan)
    coded = coded or CodedText.of(values)
    return pd.Series(coded.floats(), index=values.index, dtype="float64")


def _to_int(values: pd.Series, coded: CodedText | None = None) -> pd.Series:
    """Whole numbers as nullable Int64 ("2.0" -> 2); "2.5", "x" -> <NA>.

    Text is judged once per distinct value and spread to the rows by code,
    so the only arrays per row are the result's values and mask.
    """
    if _is_number_column(values):
        ints, whole = _whole_numbers(_to_float(values).to_numpy())
        return pd.Series(pd.arrays.IntegerArray(ints, ~whole), index=values.index)
    coded = coded or CodedText.of(values)
    ints, whole = _whole_numbers(np.append(coded.distinct_floats(), np.nan))  # code -1 (missing): the NaN
    return pd.Series(pd.arrays.IntegerArray(ints[coded.codes], ~whole[coded.codes]), index=values.index)


def _int_codes(values: pd.Series, coded: CodedText) -> np.ndarray | None:
    """Codes equal exactly where :func:`_to_int` of the rows is equal, ``-1``
    where it is <NA> (a ready ``pd.factorize`` of the staged column, for
    :func:`_group_ids`), in the type of ``coded``'s own codes (int8 for a
    Categorical of a few distinct texts): judged per distinct text, so no
    int64 array per row is hashed. None for numbers as stored (Parquet)."""
    if _is_number_column(values):
        return None
    ints, whole = _whole_numbers(np.append(coded.distinct_floats(), np.nan))
    table = np.full(len(ints), -1, dtype=np.intp)
    table[whole] = pd.factorize(ints[whole])[0]
    return table.astype(coded.codes.dtype, copy=False)[coded.codes]  # positions fit the codes' own type


def _whole_numbers(as_float: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ints, whole)``: int64 values (0 where not whole) and True where
    ``as_float`` is a whole number below 2**53 in magnitude (NaN: False)."""
    with np.errstate(invalid="ignore"):
        whole = (np.mod(as_float, 1) == 0) & (np.abs(as_float) < 2.0**53)  # NaN -> False
    return np.where(whole, as_float, 0).astype("int64"), whole


def _to_bool(values: pd.Series, coded: CodedText | None = None) -> pd.Series:
    """Nullable boolean from true/false, t/f, yes/no, y/n, 1/0 (any case)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    coded = coded or CodedText.of(values)
    words = pd.Series(coded.distinct, dtype=object).str.lower()
    truth = coded.expand(words.isin(_TRUE_WORDS).to_numpy(), False)
    known = coded.expand((words.isin(_TRUE_WORDS) | words.isin(_FALSE_WORDS)).to_numpy(), False)
    return pd.Series(pd.arrays.BooleanArray(truth, ~known), index=values.index)


def _dates_to_objects(stamps: pd.Series) -> pd.Series:
    """datetime64 Series -> object Series of ``datetime.date`` / None."""
    dates = stamps.dt.date.astype(object)
    return dates.where(stamps.notna(), None)


def _to_date(values: pd.Series, coded: CodedText | None = None) -> pd.Series:
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
    return (coded or CodedText.of(values)).mapped(_text_dates)


def _text_dates(trimmed: pd.Series) -> pd.Series:
    """Trimmed texts (no nulls) -> ``datetime.date`` or None (ISO, then US order)."""
    parsed = pd.to_datetime(trimmed, format="%Y-%m-%d", errors="coerce")
    us = pd.to_datetime(trimmed, format="%m/%d/%Y", errors="coerce")
    return _dates_to_objects(parsed.fillna(us))


def _to_utc(values: pd.Series, tz: str, coded: CodedText | None = None) -> tuple[pd.Series, pd.Series]:
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
        coded: :meth:`CodedText.of` ``values``, when the caller has it already.

    Returns:
        (UTC timestamps, boolean Series: local time does not exist in ``tz``).
    """
    if _is_datetime_column(values):
        return _parse_times(values, tz)
    # Times repeat (events of one minute): each distinct text is parsed once.
    coded = coded or CodedText.of(values)
    utc_distinct, nonexistent_distinct = _parse_times(pd.Series(coded.distinct, dtype=object), tz)
    utc = pd.Series(utc_distinct.array.take(coded.codes, allow_fill=True), index=values.index)
    nonexistent = coded.expand(nonexistent_distinct.to_numpy(dtype=bool), False)
    return utc, pd.Series(nonexistent, index=values.index, dtype=bool)


def _is_datetime_column(values: pd.Series) -> bool:
    """Timestamps as stored (Parquet), naive or tz-aware."""
    return isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype)


def _event_times(values: pd.Series, tz: str, coded: CodedText) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The MAR's ``event_time`` (:func:`_to_utc` floored to whole microseconds,
    the lake's precision), its ``event_time_nonexistent`` flags and its
    ``service_date`` (``datetime.date`` in ``tz``, None without a time).

    Text is parsed, floored and dated once per distinct value (``coded``).
    """
    if _is_datetime_column(values):
        utc, nonexistent = _parse_times(values, tz)
        utc = utc.dt.floor("us")
        return utc, nonexistent, _dates_to_objects(utc.dt.tz_convert(tz))
    utc_distinct, nonexistent_distinct = _parse_times(pd.Series(coded.distinct, dtype=object), tz)
    utc_distinct = utc_distinct.dt.floor("us")
    dates = _dates_to_objects(utc_distinct.dt.tz_convert(tz)).to_numpy(dtype=object)
    utc = pd.Series(utc_distinct.array.take(coded.codes, allow_fill=True), index=values.index)
    nonexistent = pd.Series(coded.expand(nonexistent_distinct.to_numpy(dtype=bool), False),
                            index=values.index, dtype=bool)
    return utc, nonexistent, coded.series(dates, None)


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


def _stage_ndc(values: pd.Series, coded: CodedText | None = None, compact: bool = False) -> pd.Series:
    """The staged ``ndc``: the 11-digit key where the value is an NDC, else as charted.

    An NDC by the rule of :func:`transforms.reference.ndc.normalise_ndc`
    (the one the classifier looks codes up with) is staged as its 11 digits;
    any other value is kept as charted (trimmed), so the lake and the
    quarantine still show what the nurse entered, and the classifier, which
    normalises again, finds no NDC in it. Values are text first: a numeric
    Parquet column is staged as its decimal digits, leading zeros not
    restored. Each distinct value is normalised once.
    """
    coded = coded or CodedText.of(values)
    return _text_column(coded, _ndc_or_charted(pd.Series(coded.distinct, dtype=object)).to_numpy(dtype=object),
                        None, compact)


def _ndc_or_charted(charted: pd.Series) -> pd.Series:
    key = normalise_ndc(charted)
    return charted.where(key.isna(), key.astype(object))


def _group_ids(columns: list[pd.Series | np.ndarray]) -> tuple[np.ndarray, int]:
    """One int64 id per row, equal exactly where every column is equal
    (nulls equal nulls, as ``groupby(dropna=False)``), and their bound
    (every id is in ``0..bound-1``).

    A column is a Series (factorised here) or ready codes (``-1`` = null),
    e.g. :meth:`CodedText.dense_codes`. The ids are built in place: one
    int64 array besides the codes of the column at hand.
    """
    n = len(columns[0])
    ids, n_ids = np.zeros(n, dtype="int64"), 1
    for column in columns:
        if isinstance(column, np.ndarray):
            codes = column + 1  # the null code -1 becomes a value of its own
            width = int(codes.max()) + 1 if n else 1
        else:
            codes, width = _key_codes(column)
        if n_ids * width >= 2**62:  # renumber densely before the ids could overflow
            ids, distinct_ids = pd.factorize(ids)
            n_ids = len(distinct_ids)
        ids *= width
        ids += codes
        n_ids *= width
        del codes
    return ids, n_ids


def _key_codes(column: pd.Series) -> tuple[np.ndarray, int]:
    """Codes equal exactly where the cells are equal (nulls equal nulls, as
    ``pd.factorize(column, use_na_sentinel=False)``) and their bound (>= 1).

    Nullable integers and timestamps are hashed as plain int64 into a table
    that grows with the distinct values: pandas sizes its table by the rows
    for those columns (17 MB per 600,000 rows of 16 line numbers).
    """
    array = column.array
    if isinstance(array, (pd.arrays.IntegerArray, pd.arrays.DatetimeArray)):
        # NaT is one int64 value of its own; a null integer gets the code after the others
        missing = pd.isna(array) if isinstance(array, pd.arrays.IntegerArray) else None
        numbers = array.asi8 if missing is None else array.to_numpy(dtype="int64", na_value=0)
        codes, uniques = pd.factorize(numbers, size_hint=1024)
        if missing is not None and missing.any():
            codes[missing] = len(uniques)
            return codes, len(uniques) + 1
        return codes, max(len(uniques), 1)
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    return codes, max(len(uniques), 1)


def _first_occurrence(
    frame: Mapping[str, pd.Series], key: list[str], eligible: pd.Series,
    codes: Mapping[str, np.ndarray] | None = None,
) -> pd.Series:
    """``source_row`` of the first eligible row with the same key, for the
    later rows of the key; <NA> for first occurrences and ineligible rows.

    Nulls in key columns compare equal to each other. ``frame``: a DataFrame
    or a mapping of aligned columns; the result is on ``eligible.index``.
    ``codes``: ready codes of some key columns (:func:`_group_ids`), so
    their text is not hashed again.
    """
    codes = codes or {}
    is_eligible = eligible.to_numpy(dtype=bool)
    values = np.zeros(len(eligible), dtype="int64")
    if is_eligible.any():
        ids, n_ids = _group_ids([codes[c] if c in codes else frame[c] for c in key])
        ids[~is_eligible] = n_ids  # ineligible rows: one id of their own, never compared
        source_row = frame[schemas.SOURCE_ROW].to_numpy(dtype="int64")
        _group_minimum(ids, n_ids + 1, source_row, out=values)
        del ids
        later = is_eligible & (values != source_row)
    else:
        later = is_eligible
    values[~later] = 0
    return pd.Series(pd.arrays.IntegerArray(values, ~later), index=eligible.index)


def _group_minimum(ids: np.ndarray, bound: int, values: np.ndarray, out: np.ndarray) -> None:
    """``out[i]`` = the least of ``values`` over the rows whose id equals
    ``ids[i]`` (ids in ``0..bound-1``; ``ids`` may be renumbered in place).

    Ids from codes are dense enough (claims: claim x line number) for a
    table indexed by the id itself, with no hashing; sparser ids (the MAR's
    event key, times included) are factorised first. The table covers at
    most :func:`_table_slots` ids at a time (one pass over the rows per
    range of ids): a table for every id was 8 bytes per id, 2.8 ids per row
    for claims (0.14 GB at 1M encounters, the load's peak).
    """
    if bound > 4 * len(ids) + 1024:
        ids[:], distinct = pd.factorize(ids)
        bound = len(distinct)
    slots = _table_slots(len(ids))
    if bound <= slots:
        least = np.full(bound, np.iinfo(np.int64).max, dtype="int64")
        np.minimum.at(least, ids, values)
        np.take(least, ids, out=out)
        return
    for low in range(0, bound, slots):
        rows = np.flatnonzero((ids >= low) & (ids < low + slots))
        part = ids[rows] - low
        least = np.full(min(slots, bound - low), np.iinfo(np.int64).max, dtype="int64")
        np.minimum.at(least, part, values[rows])
        out[rows] = least[part]


def _table_slots(n_rows: int) -> int:
    """Ids that :func:`_group_minimum`'s table covers at once: half the rows
    (4 bytes per row), at least 65,536."""
    return max(n_rows // 2, 1 << 16)


def _source_rows(raw: pd.DataFrame) -> pd.Series:
    """The staged ``source_row``: raw's as int64, sharing raw's array when it
    is int64 already (as the readers make it): the raw frame is only read
    after staging (quarantine, counts), so one array of 8 bytes per row serves
    both frames."""
    return raw[schemas.SOURCE_ROW].astype("int64", copy=False)


def _nones(index: pd.Index) -> pd.Series:
    """An object Series of ``None`` (``pd.Series(None, dtype=object)`` gives NaN)."""
    return pd.Series(np.full(len(index), None, dtype=object), index=index, dtype=object)


def _column(raw: pd.DataFrame, name: str) -> pd.Series:
    """The raw column, or an all-missing object column if absent."""
    if name in raw.columns:
        return raw[name]
    return _nones(raw.index)


class _RawCoded(dict):
    """:meth:`CodedText.of` each raw column (absent: all missing), made on
    first use, so a column used for its value and its ``_raw_present`` flag
    is factorised once."""

    def __init__(self, raw: pd.DataFrame) -> None:
        super().__init__()
        self.raw = raw

    def __missing__(self, name: str) -> CodedText:
        if name in self.raw.columns:
            coded = self[name] = CodedText.of(self.raw[name])
        else:  # what CodedText.of an all-missing column gives, in int8 codes, not intp ones per row
            coded = self[name] = CodedText(codes=np.full(len(self.raw), -1, dtype=np.int8),
                                           distinct=np.array([], dtype=object), index=self.raw.index, unique=True)
        return coded


def _frame(columns: dict[str, pd.Series], raw: pd.DataFrame, known: set[str], compact: bool = False) -> pd.DataFrame:
    """The staged frame: ``columns`` in order, then the raw columns not in
    ``known`` (unknown extra input columns, values as read; ``compact``: text
    as read kept ``Categorical``, :func:`_as_read_compact`), built at once.

    ``copy=False``: the columns are fresh arrays (but ``source_row``, raw's
    own: :func:`_source_rows`), so pandas need not copy them into one block
    per dtype (a second copy of every staged column)."""
    as_read = _as_read_compact if compact else _as_read
    for name in raw.columns:
        if name not in known:
            columns[name] = as_read(raw[name])
    return pd.DataFrame(columns, index=raw.index, copy=False)


def _as_read(values: pd.Series) -> pd.Series:
    """A raw column with its values as read, in an array of its own (the staged
    frame is built without copying): a ``Categorical`` (CSV read with
    ``categorical=True``) as the ``str`` / ``None`` objects of a plain read."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return values.copy()
    return pd.Series(category_cells(values.array), index=values.index, dtype=object)


def _as_read_compact(values: pd.Series) -> pd.Series:
    """:func:`_as_read` for a compact staged frame: a ``Categorical`` of ``str``
    (CSV read with ``categorical=True``) stays one (its codes copied), which
    :func:`transforms.frames.expand_text` turns into exactly :func:`_as_read`'s
    ``str`` / ``None`` objects; any other column as :func:`_as_read` gives it."""
    return values.copy() if is_text_categorical(values) else _as_read(values)


def _code_dtype(n_categories: int) -> type[np.signedinteger]:
    """The smallest signed integer type whose codes reach ``n_categories - 1``
    (what pandas itself picks for a ``Categorical``)."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _text_column(coded: CodedText, per_distinct: np.ndarray, fill: str | None, compact: bool) -> pd.Series:
    """:meth:`CodedText.series` ``(per_distinct, fill)``; with ``compact`` the
    same cells as a ``Categorical`` of ``str`` (missing: code -1), which
    :func:`transforms.frames.expand_text` turns back into exactly those
    ``str`` / ``None`` objects.

    Built from the CodedText's codes, never by hashing the rows: the distinct
    values (plus ``fill``) are factorised, which merges texts that repeat
    among them (``"a"`` and ``" a"`` both trim to ``"a"``; case folding),
    then one take of small codes spreads them to the rows. A unique
    CodedText's own texts are the categories and its codes are used as they
    are. ``per_distinct`` holding anything but ``str`` / ``None``: objects.
    """
    if not compact:
        return coded.series(per_distinct, fill)
    per_distinct = np.asarray(per_distinct, dtype=object)
    if coded.unique and fill is None and per_distinct is coded.distinct:
        categories, codes = per_distinct, coded.codes
    else:
        table = np.append(per_distinct, fill)  # the codes' -1 takes the last entry: fill
        missing = pd.isna(table)
        if any(cell is not None for cell in table[missing]) or \
                pd.api.types.infer_dtype(table[~missing], skipna=False) not in ("string", "empty"):
            return coded.series(per_distinct, fill)
        position, categories = pd.factorize(table, use_na_sentinel=True)  # None -> -1
        codes = position.astype(_code_dtype(len(categories)))[coded.codes]
    categories = pd.Index(np.asarray(categories, dtype=object), dtype=object)
    # Distinct and null-free by construction (factorised, or a unique CodedText's
    # texts): told so, pandas does not hash every category again to check
    # (as transforms.ingest.file_reading does for the raw Categoricals).
    cache = getattr(categories, "_cache", None)
    if isinstance(cache, dict):
        cache.update(is_unique=True, hasnans=False)
    cells = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories), validate=False)
    return pd.Series(cells, index=coded.index)


def _check_raw(raw: pd.DataFrame) -> pd.DataFrame:
    if schemas.SOURCE_ROW not in raw.columns:
        raise ValueError("raw frame has no source_row column; use read_extract()")
    return raw if _is_default_index(raw.index) else raw.reset_index(drop=True)


def _is_default_index(index: pd.Index) -> bool:
    """``index`` is ``0..n-1`` (nothing to reset, so no copy of every column)."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


# --------------------------------------------------------------------------
# Staging
# --------------------------------------------------------------------------
def stage_mar(raw: pd.DataFrame, facility_tz: str, *, compact: bool = False) -> pd.DataFrame:
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

        ``compact=True`` (the loader's): every string column, and each
        unknown extra column read as a ``Categorical`` of ``str``, is a
        ``Categorical`` of ``str`` instead (missing: code -1): the same
        cells, one small code each. :func:`transforms.frames.expand_text`
        gives back exactly the ``object`` columns of ``compact=False``.

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
    coded = _RawCoded(raw)
    columns, nonexistent, key_codes = _mar_canonical(raw, facility_tz, coded, compact)
    for name in schemas.MAR_PARSED:
        columns[f"{name}_raw_present"] = pd.Series(coded[name].present(), index=raw.index, dtype=bool)
    columns["event_time_nonexistent"] = nonexistent
    columns["duplicate_of"] = _first_occurrence(
        columns, list(schemas.MAR_EVENT_KEY), columns["event_time"].notna(), key_codes
    )
    return _frame(columns, raw, set(schemas.MAR_ARROW.names) | set(schemas.MAR_HELPERS), compact)


def _mar_canonical(
    raw: pd.DataFrame, tz: str, coded: _RawCoded | None = None, compact: bool = False,
) -> tuple[dict[str, pd.Series], pd.Series, dict[str, np.ndarray]]:
    """The ``schemas.MAR_ARROW`` columns of :func:`stage_mar`, in order, the
    ``event_time_nonexistent`` flags (``tz``: a valid IANA zone name) and the
    :meth:`CodedText.dense_codes` of the text columns of ``schemas.MAR_EVENT_KEY``.

    ``coded``: the raw columns as :class:`CodedText` (made here if not given);
    ``compact``: string columns as :func:`_text_column` ``Categorical`` s.
    """
    coded = _RawCoded(raw) if coded is None else coded
    staged = {name: coded[name] for name in (
        "encounter_id", "patient_id", "order_id", "drug", "access_site", "rate_unit", "dose_unit", "visit_id")}
    staged["infusate_id"] = coded["infusate_id"].or_else(coded["order_id"])  # defaults to the order
    for name in ("drug_class", "route", "action"):
        staged[name] = coded[name].converted(lambda s: s.str.lower())
    text = {name: _text_column(column, column.distinct, None, compact) for name, column in staged.items()}
    text["ndc"] = _stage_ndc(_column(raw, "ndc"), coded["ndc"], compact)
    event_time, nonexistent, service_date = _event_times(_column(raw, "event_time"), tz, coded["event_time"])
    parsed = {"event_time": event_time, "service_date": service_date,
              "primary": _to_bool(_column(raw, "primary"), coded["primary"]),
              schemas.SOURCE_ROW: _source_rows(raw)}
    for name in ("rate", "dose", "volume_ml"):
        parsed[name] = _to_float(_column(raw, name), coded[name])
    every = {**text, **parsed}
    key_codes = {name: staged[name].dense_codes() for name in schemas.MAR_EVENT_KEY if name in staged}
    return {name: every[name] for name in schemas.MAR_ARROW.names}, nonexistent, key_codes


def stage_claims(raw: pd.DataFrame, *, compact: bool = False) -> pd.DataFrame:
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
        ``raw``. ``compact=True``: string columns as ``Categorical`` s, as
        for :func:`stage_mar` (a default, ``modifiers``' ``""`` or
        ``claim_frequency``'s ``"1"``, is a category; ``superseded_reason``
        stays ``object``).

    Raises:
        ValueError: ``raw`` lacks ``source_row``.
    """
    raw = _check_raw(raw)
    coded = _RawCoded(raw)
    columns = _claim_canonical(raw, coded, compact)
    for name in schemas.CLAIM_PARSED:
        columns[f"{name}_raw_present"] = pd.Series(coded[name].present(), index=raw.index, dtype=bool)
    claim_codes = coded["claim_id"].dense_codes()
    columns["superseded_reason"] = _superseded_reason(columns, claim_codes)
    key_codes = {"claim_id": claim_codes, "line_number": _int_codes(_column(raw, "line_number"), coded["line_number"])}
    columns["duplicate_of"] = _first_occurrence(
        columns,
        list(schemas.CLAIM_LINE_KEY),
        columns["superseded_reason"].isna()
        & (claim_codes >= 0)
        & columns["line_number"].notna(),
        {name: codes for name, codes in key_codes.items() if codes is not None},
    )
    columns = {name: columns[name] for name in (*schemas.CLAIM_ARROW.names, *schemas.CLAIM_HELPERS)}
    return _frame(columns, raw, set(schemas.CLAIM_ARROW.names) | set(schemas.CLAIM_HELPERS), compact)


def _claim_canonical(raw: pd.DataFrame, coded: _RawCoded | None = None, compact: bool = False) -> dict[str, pd.Series]:
    """The ``schemas.CLAIM_ARROW`` columns of :func:`stage_claims`, in order.

    ``coded``: the raw columns as :class:`CodedText` (made here if not given);
    ``compact``: string columns as :func:`_text_column` ``Categorical`` s.
    """
    coded = _RawCoded(raw) if coded is None else coded

    def text(name: str, convert: Callable[[pd.Series], pd.Series] | None = None, fill: str | None = None) -> pd.Series:
        column = coded[name]
        distinct = column.distinct if convert is None else \
            convert(pd.Series(column.distinct, dtype=object)).to_numpy(dtype=object)
        return _text_column(column, distinct, fill, compact)

    out = {name: text(name) for name in (
        "claim_id", "encounter_id", "patient_id", "bill_type", "place_of_service", "revenue_code", "payer_id")}
    out["claim_type"] = text("claim_type", lambda s: s.str.lower())
    out["line_number"] = _to_int(_column(raw, "line_number"), coded["line_number"])
    out["service_date"] = _to_date(_column(raw, "service_date"), coded["service_date"])
    out["hcpcs"] = text("hcpcs", lambda s: s.str.upper())
    out["modifiers"] = text(  # "" when none
        "modifiers", lambda s: s.str.upper().str.replace(r"[\s,;]+", ",", regex=True).str.strip(","), fill=""
    )
    out["units"] = _to_int(_column(raw, "units"), coded["units"])
    out["charge"] = _to_float(_column(raw, "charge"), coded["charge"])
    out["claim_frequency"] = text("claim_frequency", fill="1")  # defaults to an original claim
    out[schemas.SOURCE_ROW] = _source_rows(raw)
    return {name: out[name] for name in schemas.CLAIM_ARROW.names}


def _superseded_reason(staged: Mapping[str, pd.Series], claim_codes: np.ndarray | None = None) -> pd.Series:
    """Reason a claim line must not be used (replacement / void), else None.

    See :func:`stage_claims`. Rows without ``claim_id`` are left alone (they
    fail validation anyway). Input order is file order. ``claim_codes``:
    :meth:`CodedText.dense_codes` of ``claim_id``, if at hand. The rows of each
    claim are brought together by one stable sort of the claim codes; the
    per-claim facts are run boundaries, cumulative sums and ``reduceat``s.
    """
    claim_id = staged["claim_id"]
    reason = np.full(len(claim_id), None, dtype=object)
    if claim_codes is None:
        claim_codes = pd.factorize(claim_id.to_numpy(), use_na_sentinel=True)[0]
    frequency = staged["claim_frequency"]
    is7, is8 = _equals(frequency, "7"), _equals(frequency, "8")
    # Only a claim with a frequency-7 or -8 line has superseded lines: the
    # sort and run arithmetic below see only those claims' rows (few, in a
    # night's extract), not a dozen arrays over every row (0.5 GB at 1M encounters).
    rows = _rows_of_claims_with(claim_codes, is7 | is8)
    if not len(rows):
        return pd.Series(reason, index=claim_id.index, dtype=object)
    claim = claim_codes[rows]
    by_claim = np.argsort(claim, kind="stable")  # rows of one claim together, in file order
    order, claim = rows[by_claim], claim[by_claim]
    is7, is8 = is7[order], is8[order]
    line = staged["line_number"].to_numpy(dtype="float64", na_value=np.nan)[order]
    starts_claim = np.r_[True, claim[1:] != claim[:-1]]
    bounds = np.flatnonzero(starts_claim)
    per_claim = np.cumsum(starts_claim) - 1  # claim position of each sorted row
    voided = np.logical_or.reduceat(is8, bounds)[per_claim]
    replaced = np.logical_or.reduceat(is7, bounds)[per_claim]
    prev_is7 = np.r_[False, is7[:-1]] & ~starts_claim
    with np.errstate(invalid="ignore"):
        went_down = np.r_[False, line[1:] < line[:-1]] & ~starts_claim  # NaN compares False
    version_starts = is7 & (~prev_is7 | went_down)
    running = np.cumsum(version_starts)
    version = running - (running - version_starts)[bounds][per_claim]  # cumsum within the claim
    latest = np.maximum.reduceat(version, bounds)[per_claim]
    superseded = replaced & ~voided & (~is7 | (version < latest))
    reason[order[superseded]] = schemas.SUPERSEDED_BY_REPLACEMENT
    reason[order[voided]] = schemas.VOIDED
    return pd.Series(reason, index=claim_id.index, dtype=object)


def _rows_of_claims_with(claim_codes: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Positions (ascending) of the rows whose claim (``claim_codes``, ``-1``:
    none, never selected) has at least one ``flagged`` row."""
    with_claim = flagged & (claim_codes >= 0)
    if not with_claim.any():
        return np.flatnonzero(with_claim)
    chosen = np.zeros(int(claim_codes.max()) + 2, dtype=bool)  # the last slot: code -1, never chosen
    chosen[claim_codes[with_claim]] = True
    chosen[-1] = False
    return np.flatnonzero(chosen[claim_codes])


def _equals(values: pd.Series, word: str) -> np.ndarray:
    """``values == word`` per row (bool array); a compact text column
    compares its categories once and takes the answer by code."""
    if is_text_categorical(values):
        per_category = values.dtype.categories.to_numpy(dtype=object) == word
        return np.append(per_category, False)[values.array.codes]  # code -1 (missing): False
    return values.to_numpy() == word
