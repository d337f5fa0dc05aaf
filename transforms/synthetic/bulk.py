"""Bulk synthetic workloads: one seeded base sample tiled into many encounters, vectorised.

:func:`bulk_extracts` generates a base sample once with
:func:`transforms.synthetic.generator.generate` (seeded, labelled truth),
renders it to canonical CSV cells with the generator's own writer
(:func:`~transforms.synthetic.generator.write_extracts`), and tiles those cells
``k`` times with Arrow ``take``. Replica ``r`` of base encounter ``E`` is
encounter ``E-rrrrrr`` (:func:`replica_id`); every other identifier (patient,
claim, order, infusate) gets the same suffix, so replicas share nothing.
``days > 1`` moves replica ``r`` ``r % days`` whole days (24 h) later; its ids
keep the base's date.

Replicas are copies, so the audit of replica ``r`` says exactly what the
audit of the base says, once ids are mapped back (:func:`base_id`) and, for
``days > 1``, dates are moved back: a scale-independence check for free.

:func:`write_bulk` writes ``mar.csv``, ``claims.csv`` and ``truth.csv``
byte for byte as ``write_extracts`` would write the same rows (ISO-8601
``event_time`` with the facility's UTC offset, floats as ``150.0``, empty
cells for nulls), without pandas' per-row writer: one million encounters are
generated and written in seconds.

Nothing here loops per row or per encounter; the loops are over columns,
day shifts and write chunks.
"""

from __future__ import annotations

import csv
import math
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from transforms.synthetic.generator import SyntheticExtracts, generate, write_extracts

#: Columns holding identifiers, per file: replica ``r`` appends :func:`replica_suffix` to each.
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "mar": ("encounter_id", "patient_id", "order_id", "infusate_id"),
    "claims": ("claim_id", "encounter_id", "patient_id"),
    "truth": ("encounter_id",),
}
#: Separator between a base id and its replica number (never in a generated id).
REPLICA_SEPARATOR = "-"
#: Digits of the replica number: at most 10**6 replicas.
REPLICA_DIGITS = 6
#: Rows per chunk when writing: small chunks stay in cache (and bound the extra memory).
WRITE_CHUNK_ROWS = 50_000
_NEEDS_QUOTES = r'[,"\r\n]'


@dataclass(frozen=True)
class BulkExtracts:
    """What :func:`bulk_extracts` returns: every cell as the canonical CSV's text.

    Attributes:
        mar: MAR events, columns of the generator's ``mar.csv``; strings, null
            where the CSV cell is empty.
        claims: claim lines, columns of ``claims.csv``, likewise.
        truth: one row per encounter (``generator.TRUTH_COLUMNS``), likewise.
        encounters: encounters in the workload (rows of ``truth``).
        replicas: copies of the base (the last one may be partial).
        base: the seeded base sample (typed frames, as ``generate`` returned it).
    """

    mar: pa.Table
    claims: pa.Table
    truth: pa.Table
    encounters: int
    replicas: int
    base: SyntheticExtracts


def replica_suffix(replicas: pa.Array | np.ndarray) -> pa.Array:
    """``-000042`` for replica 42: the suffix every identifier of that replica carries."""
    digits = pc.utf8_lpad(pa.array(np.asarray(replicas, dtype=np.int64)).cast(pa.string()), REPLICA_DIGITS, "0")
    return pc.binary_join_element_wise(pa.scalar(REPLICA_SEPARATOR), digits, "")


def replica_id(base_ids: pd.Series, replica: int) -> pd.Series:
    """The ids replica ``replica`` gives to ``base_ids`` (e.g. ``E2611020001`` -> ``E2611020001-000003``)."""
    return base_ids.astype(str) + f"{REPLICA_SEPARATOR}{replica:0{REPLICA_DIGITS}d}"


def base_id(ids: pd.Series) -> pd.DataFrame:
    """Split bulk ids into ``base_id`` (the base sample's id) and ``replica`` (int).

    Inverse of :func:`replica_id`; vectorised (one ``str.rsplit``)."""
    parts = ids.astype(str).str.rsplit(REPLICA_SEPARATOR, n=1, expand=True)
    return pd.DataFrame({"base_id": parts[0], "replica": parts[1].astype("int64")}, index=ids.index)


def bulk_extracts(
    encounters: int, seed: int = 1, base_encounters: int = 2000, days: int = 1, *,
    start: date = date(2026, 11, 2), facility_tz: str = "America/New_York",
) -> BulkExtracts:
    """A workload of ``encounters`` encounters: copies of one seeded base sample.

    Args:
        encounters: encounters wanted (>= 1); the last replica keeps the first
            ``encounters - (k - 1) * base_encounters`` base encounters.
        seed: seed of the base sample (same seed, same cells).
        base_encounters: encounters of the base sample, one generator day
            (55 % emergency department, 45 % infusion centre, 15 % with an
            injected error); ``generate`` costs about 0.4 ms each.
        days: replica ``r`` is moved ``r % days`` whole days later (1: none).
            From the default ``start`` no daylight-saving change lies within
            126 days, so the local wall clock is kept.
        start: local date of the base sample.
        facility_tz: facility zone (the CSV's UTC offsets).

    Returns:
        :class:`BulkExtracts`; rows of each table in replica order, then base order.

    Raises:
        ValueError: a count below 1, or more than 10**6 replicas.
    """
    if encounters < 1 or base_encounters < 1 or days < 1:
        raise ValueError("encounters, base_encounters and days must be >= 1")
    k = math.ceil(encounters / base_encounters)
    if k > 10**REPLICA_DIGITS:
        raise ValueError(f"{k} replicas exceed {10**REPLICA_DIGITS}; raise base_encounters")
    base = generate(seed=seed, start=start, days=1, encounters_per_day=base_encounters, facility_tz=facility_tz)
    cells = _base_cells(base)
    rank = pd.Index(base.truth["encounter_id"])
    last = encounters - (k - 1) * len(base.truth)
    suffix = replica_suffix(np.arange(k))
    shifted = {"mar": ("event_time", _shifted_times(base, cells["mar"], min(days, k))),
               "claims": ("service_date", _shifted_dates(base, cells["claims"], min(days, k)))}
    tables = {}
    for kind, table in cells.items():
        encounter_rank = rank.get_indexer(pd.Index(table["encounter_id"].to_pandas()))
        replica, base_row = _tile_rows(encounter_rank, k, last)
        tables[kind] = _tile(table, replica, base_row, suffix, ID_COLUMNS[kind],
                             shifted.get(kind), days)
    return BulkExtracts(tables["mar"], tables["claims"], tables["truth"], encounters, k, base)


def _base_cells(base: SyntheticExtracts) -> dict[str, pa.Table]:
    """The base's CSV cells as the generator writes them (all strings; empty -> null)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_extracts(base, Path(tmp))
        return {kind: _read_cells(paths[kind], kind) for kind in ("mar", "claims", "truth")}


def _read_cells(path: Path, kind: str) -> pa.Table:
    """One written CSV as string cells (an empty cell is null, a quoted one is its text)."""
    with open(path, encoding="utf-8", newline="") as fh:
        names = next(csv.reader(fh))
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                                   null_values=[""], quoted_strings_can_be_null=False)
    table = pacsv.read_csv(path, convert_options=convert)
    for column in ID_COLUMNS[kind]:  # a suffix appended to a quoted id would break its field
        if pc.any(pc.match_substring_regex(table[column], _NEEDS_QUOTES)).as_py():
            raise ValueError(f"base {kind} {column} needs CSV quoting")
    return table


def _tile_rows(encounter_rank: np.ndarray, k: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Replica and base row of every output row: ``k`` copies, the last cut to ``last`` encounters."""
    n = len(encounter_rank)
    replica = np.repeat(np.arange(k, dtype=np.int64), n)
    base_row = np.tile(np.arange(n, dtype=np.int64), k)
    keep = (replica < k - 1) | (encounter_rank[base_row] < last)
    return replica[keep], base_row[keep]


def _tile(
    table: pa.Table, replica: np.ndarray, base_row: np.ndarray, suffix: pa.Array,
    id_columns: tuple[str, ...], shifted: tuple[str, pa.Array] | None, days: int,
) -> pa.Table:
    """Copy base rows ``base_row`` into replicas ``replica``: ids suffixed, times shifted.

    Ids become plain strings; every other column a dictionary over the base's
    cells (the tiling costs one index array, and the writer quotes the
    dictionary, not every cell).
    """
    rows = pa.array(base_row)
    row_suffix = suffix.take(pa.array(replica))
    columns = {}
    for name in table.column_names:
        cells = table[name].combine_chunks()
        if name in id_columns:
            columns[name] = pc.binary_join_element_wise(cells.take(rows), row_suffix, "")
        elif shifted is not None and name == shifted[0]:
            # the text of base row j moved d days sits at d * n + j
            columns[name] = _dictionary(shifted[1], (replica % days) * table.num_rows + base_row)
        else:
            columns[name] = _dictionary(cells, base_row)
    return pa.table(columns)


def _dictionary(cells: pa.Array, positions: np.ndarray) -> pa.DictionaryArray:
    """``cells`` taken at ``positions``, as a dictionary of their distinct values (null where the cell is)."""
    encoded = pc.dictionary_encode(cells)  # a null cell gets a null index
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)[positions]
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, encoded.dictionary)


def _shifted_times(base: SyntheticExtracts, cells: pa.Table, days: int) -> pa.Array:
    """``event_time`` text of every base event moved 0..days-1 days (shift-major).

    Rendered like the generator's writer (local time, ``+HH:MM`` offset);
    shift 0 must equal the generator's own cells, checked here.
    """
    utc = pd.DatetimeIndex(base.mar["event_time"])
    moved = pd.DatetimeIndex(np.concatenate([(utc + pd.Timedelta(days=d)).asi8 for d in range(days)])
                             ).tz_localize("UTC").tz_convert(base.facility_tz)
    text = pd.Series(moved.strftime("%Y-%m-%dT%H:%M:%S%z")).str.replace(
        r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True)
    return _checked(pa.array(text, type=pa.string()), cells["event_time"], "event_time")


def _shifted_dates(base: SyntheticExtracts, cells: pa.Table, days: int) -> pa.Array:
    """``service_date`` text of every base claim line moved 0..days-1 days (shift-major)."""
    dates = pd.DatetimeIndex(pd.to_datetime(base.claims["service_date"]))
    moved = pd.DatetimeIndex(np.concatenate([(dates + pd.Timedelta(days=d)).asi8 for d in range(days)]))
    return _checked(pa.array(moved.strftime("%Y-%m-%d"), type=pa.string()), cells["service_date"], "service_date")


def _checked(text: pa.Array, written: pa.ChunkedArray, column: str) -> pa.Array:
    """``text``, once its unshifted part is seen to equal what the generator wrote."""
    if not text.slice(0, len(written)).equals(written.combine_chunks()):
        raise AssertionError(f"bulk {column} text differs from the generator's CSV; update bulk.py")
    return text


def write_bulk(bulk: BulkExtracts, directory: Path) -> dict[str, Path]:
    """Write ``mar.csv``, ``claims.csv`` and ``truth.csv`` in the generator's CSV layout.

    Args:
        bulk: what :func:`bulk_extracts` returned.
        directory: created if missing; existing files of those names are replaced.

    Returns:
        Paths keyed ``mar``, ``claims``, ``truth``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: directory / f"{kind}.csv" for kind in ("mar", "claims", "truth")}
    for kind, table in (("mar", bulk.mar), ("claims", bulk.claims), ("truth", bulk.truth)):
        # ids were checked on the base (_read_cells) and a suffix adds only "-" and digits
        write_csv_cells(table, paths[kind], unquoted=ID_COLUMNS[kind])
    return paths


def write_csv_cells(
    table: pa.Table, path: Path, unquoted: tuple[str, ...] = (), chunk_rows: int = WRITE_CHUNK_ROWS,
) -> None:
    """Write a table of CSV cell text as pandas' ``to_csv`` would (minimal quoting, ``\\n`` lines).

    Args:
        table: string or dictionary-of-string columns; null is an empty cell.
        path: the file written.
        unquoted: columns the caller knows never need quoting (not checked).
        chunk_rows: rows joined at a time (bounds the extra memory).

    A cell holding a comma, a double quote or a line break is quoted with its
    quotes doubled (a dictionary column is quoted once per distinct value).
    Each chunk of rows is joined into one Arrow string array whose bytes are
    written as they are.
    """
    # a dictionary column's values are quoted once, not once per chunk
    escaped = {name: _field(column.chunk(0).dictionary, name not in unquoted)
               for name, column in zip(table.column_names, table.columns)
               if pa.types.is_dictionary(column.type) and column.num_chunks == 1}
    with open(path, "wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode("utf-8"))
        for offset in range(0, table.num_rows, chunk_rows):
            chunk = table.slice(offset, chunk_rows)
            cells = []
            for name in table.column_names:
                column = chunk[name].combine_chunks()
                cells.append(pc.fill_null(escaped[name].take(column.indices), "") if name in escaped
                             else _field(column, name not in unquoted))
            lines = pc.binary_join_element_wise(*cells, ",")
            lines = pc.binary_join_element_wise(lines, pa.scalar("\n"), "")  # each line's ending
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
            fh.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])


def _field(cells: pa.Array, check: bool) -> pa.Array:
    """CSV field text of ``cells``: quoted when needed (if ``check``), empty for null."""
    if isinstance(cells, pa.DictionaryArray):
        return pc.fill_null(_field(cells.dictionary, check).take(cells.indices), "")
    if check:
        quoted = pc.binary_join_element_wise(
            pa.scalar('"'), pc.replace_substring(cells, '"', '""'), pa.scalar('"'), "")
        cells = pc.if_else(pc.match_substring_regex(cells, _NEEDS_QUOTES), quoted, cells)
    return pc.fill_null(cells, "")
