"""The Parquet lake: one hive-partitioned dataset per table.

Layout: ``<root>/<dataset>/audit_date=YYYY-MM-DD/part-0.parquet``, where
``audit_date`` is the service date a nightly extract (and its audit) covers.
Writing a day replaces that day's partitions and only them, so a rerun never
appends the same rows twice. Claim lines keep their own line ``service_date``
column.

Every write is a transaction (:mod:`transforms.outputs.lake_txn`): the new
files are staged, a journal commits them, then they are renamed into place.
:func:`write_days` replaces several datasets of one day at once, so a run
killed at any moment leaves the day entirely old or entirely new. Every entry
point here takes the lake's lock and first finishes or drops what a killed run
left (:func:`recover`). The files are written with fixed Parquet options: the
same rows give the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from transforms.outputs import lake_files, lake_txn
from transforms.outputs.lake_claims import current_audit_rows
from transforms.outputs.lake_txn import LakeBusy, day_lock  # noqa: F401  (re-exported)

DATASETS: tuple[str, ...] = (
    "mar_events", "claim_lines", "expected_lines", "findings", "quarantine", "audited_encounters",
)
PARTITION_KEY = lake_files.PARTITION_KEY
_PARTITIONING = ds.partitioning(pa.schema([(PARTITION_KEY, pa.date32())]), flavor="hive")

#: One dataset's new rows for :func:`write_days`: ``(frame, schema)``; ``None`` removes the day.
DayTable = tuple[pd.DataFrame, pa.Schema | None] | None


def dataset_path(root: Path, dataset: str) -> Path:
    """Folder of ``dataset`` under the lake ``root``; rejects unknown names."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown lake dataset {dataset!r}; known: {DATASETS}")
    return Path(root) / dataset


#: Input datasets: an extract's unknown extra columns are kept in them (the
#: contract: "kept in the lake but ignored by the audit"), as text after the
#: schema's columns.
INPUT_DATASETS: tuple[str, ...] = ("mar_events", "claim_lines")


def _to_table(frame: pd.DataFrame, schema: pa.Schema | None, keep_extra: bool = False) -> pa.Table:
    frame = frame.reset_index(drop=True)
    if schema is None:
        # Free-form tables (quarantine keeps the input's original columns):
        # store every column as text so no value is coerced.
        frame = frame.astype("string")
        return pa.Table.from_pandas(frame, preserve_index=False)
    cols = [f.name for f in schema]
    for c in cols:
        if c not in frame.columns:
            frame[c] = None  # a missing column is stored empty
    table = pa.Table.from_pandas(frame[cols], schema=schema, preserve_index=False)
    extra = [c for c in frame.columns if c not in cols and c != PARTITION_KEY] if keep_extra else []
    for c in extra:
        table = table.append_column(pa.field(str(c), pa.string()), pa.array(frame[c].astype("string"), pa.string()))
    return table.replace_schema_metadata(schema.metadata)  # keep the table's name and version


def as_stored(frame: pd.DataFrame, schema: pa.Schema | None = None, keep_extra: bool = False) -> pd.DataFrame:
    """``frame`` as :func:`read_days` would return it once written (columns, dtypes; no partition column).

    Lets a run use a day it has not committed yet exactly as if it read it back.
    ``keep_extra``: as for an input dataset (:data:`INPUT_DATASETS`).
    """
    return _to_table(frame, schema, keep_extra).to_pandas()


def recover(root: Path) -> None:
    """Finish or drop the transaction a killed run left, under the lake's lock."""
    if Path(root).is_dir():
        with lake_txn.lake_lock(root):
            lake_txn.recover(root)


def write_days(root: Path, day: date, tables: Mapping[str, DayTable]) -> None:
    """Replace the ``day`` partition of every dataset in ``tables`` in ONE transaction.

    Args:
        root: lake root folder (created if missing).
        day: the audit date.
        tables: dataset name -> ``(frame, schema)``, or ``None`` to remove the
            day's partition of that dataset. An empty frame is stored as an
            empty file, which records that the day was processed. ``schema``
            ``None`` stores every column as text.

    Raises:
        ValueError: an unknown dataset (nothing is written).
    """
    for dataset in tables:
        dataset_path(root, dataset)
    arrow = {name: None if t is None else _to_table(*t, keep_extra=name in INPUT_DATASETS) for name, t in tables.items()}
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with lake_txn.lake_lock(root):
        lake_txn.recover(root)
        lake_txn.commit(root, day, arrow, PARTITION_KEY)


def write_day(
    frame: pd.DataFrame, root: Path, dataset: str, day: date, schema: pa.Schema | None = None
) -> Path:
    """Replace the ``day`` partition of one ``dataset`` with ``frame`` (:func:`write_days`).

    Returns:
        The partition folder written.
    """
    write_days(root, day, {dataset: (frame, schema)})
    return dataset_path(root, dataset) / f"{PARTITION_KEY}={day.isoformat()}"


def _bounds(first: date, last: date) -> ds.Expression:
    field = ds.field(PARTITION_KEY)
    return (field >= pa.scalar(first, pa.date32())) & (field <= pa.scalar(last, pa.date32()))


def _unified(base: Path, first: date | None = None, last: date | None = None) -> ds.Dataset:
    """The nights ``first`` .. ``last`` of the dataset at ``base`` (every night when not given),
    with every night's columns (caller holds the lake's lock).

    Nights may hold different columns: input extras, or an output column
    added in a later version (read as null on older days): a read has the
    columns of every night, whatever its range. Only the range's files are
    scanned; the other nights' schemas come from :mod:`transforms.outputs.lake_files`.
    """
    every = lake_files.night_files(base)
    if not every:
        return ds.dataset(base, format="parquet", partitioning=_PARTITIONING)
    return _files_dataset(base, lake_files.of_nights(every, first, last), _every_nights_schema(base, every))


def _every_nights_schema(base: Path, every: list[Path]) -> pa.Schema:
    """The schema of the dataset at ``base`` whose files are ``every``: as ``pyarrow.dataset``
    infers it (its first file's, then the partition column), unified with every file's."""
    first_file = _files_dataset(base, every[:1]).schema
    return pa.unify_schemas([first_file, *lake_files.distinct_schemas(every)])


def _files_dataset(base: Path, files: list[Path], schema: pa.Schema | None = None) -> ds.Dataset:
    return ds.dataset([str(path) for path in files], format="parquet", partitioning=_PARTITIONING,
                      partition_base_dir=str(base), schema=schema)


#: Most nights :func:`summarise_nights` reads at once (a month: its memory, whatever the lake's length).
NIGHTS_PER_READ = 31


def summarise_nights(
    root: Path, dataset: str, first: date, last: date,
    summarise: Callable[[list[date], pd.DataFrame], pd.DataFrame], columns: Sequence[str],
) -> dict[date, pd.DataFrame]:
    """One row per night of ``dataset`` in ``first`` .. ``last`` that has a file, in night order:
    ``summarise(nights, rows)`` gives the rows of ``nights`` (in their order) from ``rows``,
    those nights' ``columns`` (and the partition column).

    Memory: :data:`NIGHTS_PER_READ` nights' rows at a time (an integer column
    holding a null on one of them reads as float64 for all, as in
    :func:`read_days`). Each night's row is kept by this process
    (:func:`transforms.outputs.lake_files.keep`, keyed by the summariser, the
    columns read and the night's files' identity), so night N of a backfill
    reads one night for its trend, not N.
    """
    base = dataset_path(root, dataset)
    if not base.exists():
        return {}
    with lake_txn.lake_lock(root):
        lake_txn.recover(root)
        every = lake_files.night_files(base)
        if not every:
            return {}
        schema = _every_nights_schema(base, every)
        names = [n for n in schema.names if n in {*columns, PARTITION_KEY}]
        read_as = [f"{name}: {schema.field(name).type}" for name in names]  # a night's rows, as read
        nights: dict[date, list[Path]] = {}
        for path in lake_files.of_nights(every, first, last):
            nights.setdefault(lake_files.night_of(path), []).append(path)
        summaries = {night: lake_files.recall(summarise, read_as, files) for night, files in nights.items()}
        pending = [night for night, known in summaries.items() if known is None]
        for start in range(0, len(pending), NIGHTS_PER_READ):
            chunk = pending[start:start + NIGHTS_PER_READ]
            rows = _files_dataset(base, [p for night in chunk for p in nights[night]], schema).to_table(columns=names)
            summary = summarise(chunk, rows.to_pandas())
            for position, night in enumerate(chunk):
                summaries[night] = summary.iloc[[position]].reset_index(drop=True)
                lake_files.keep(summarise, read_as, nights[night], summaries[night])
        return summaries


#: A filtered read's scan: one file and one batch in flight, not Arrow's default of 4 files and
#: 16 batches. A filtered read (a night's lookback window) keeps few of each file's rows, so
#: decoding files ahead only raised the peak with the window's length: a 30-night backfill
#: peaked at 417-421 MB against 398-404 for 3 nights with the default, 404-411 against
#: 392-405 with this, in the same time. Whole reads (a night's own files) keep the default.
ONE_FILE_AT_A_TIME = {"fragment_readahead": 1, "batch_readahead": 1}


def _with_unfiltered_dtypes(
    frame: pd.DataFrame, table: pa.Table, data: ds.Dataset, bounds: ds.Expression
) -> pd.DataFrame:
    """``frame`` with the dtypes of the unfiltered read of ``bounds``.

    ``to_pandas`` makes an integer column float64 and a boolean one object
    when the column holds a null, so a filtered read could otherwise differ
    in dtype from the unfiltered one. Only those columns of the range are
    read, batch by batch (memory: one batch, whatever the range).
    """
    nullable = [f.name for f in table.schema if f.name in frame and table.column(f.name).null_count == 0
                and (pa.types.is_integer(f.type) or pa.types.is_boolean(f.type))]
    with_nulls: set[str] = set()
    for batch in data.to_batches(columns=nullable, filter=bounds, **ONE_FILE_AT_A_TIME) if nullable else ():
        with_nulls |= {name for name in nullable if batch.column(name).null_count}
        if len(with_nulls) == len(nullable):
            break
    for name in with_nulls:
        boolean = pa.types.is_boolean(table.schema.field(name).type)
        frame[name] = frame[name].astype(object if boolean else "float64")
    return frame


def read_days(
    root: Path, dataset: str, first: date, last: date,
    where: ds.Expression | None = None, columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows of ``dataset`` with ``first <= audit_date <= last`` (empty if none), in partition order.

    Args:
        where: a further row filter (a ``pyarrow.dataset`` expression, e.g.
            ``ds.field("encounter_id").isin(ids)``) applied while reading, so
            the rows left out are dropped batch by batch, never gathered.
        columns: read only these (the partition column may be named; a name
            the dataset lacks is left out).

    The columns (their order) and dtypes are those of the read without
    ``where`` and ``columns``, restricted: the schema is unified over every
    fragment, and an integer or boolean column holding a null in any row of
    the range is float64 / object even if the rows kept hold none. Rows keep
    their order.
    """
    base = dataset_path(root, dataset)
    if not base.exists():
        return pd.DataFrame()
    with lake_txn.lake_lock(root):
        lake_txn.recover(root)
        data = _unified(base, first, last)
        bounds = _bounds(first, last)
        names = None if columns is None else [n for n in data.schema.names if n in set(columns)]
        if where is None:
            table = data.to_table(columns=names, filter=bounds)
        else:
            table = data.scanner(columns=names, filter=bounds & where, **ONE_FILE_AT_A_TIME).to_table()
        frame = table.to_pandas()
        if where is not None:
            frame = _with_unfiltered_dtypes(frame, table, data, bounds)
    return frame


def column_names(root: Path, dataset: str) -> list[str]:
    """Columns :func:`read_days` returns for ``dataset`` (every fragment's; ``[]`` if it has none)."""
    base = dataset_path(root, dataset)
    if not base.exists():
        return []
    with lake_txn.lake_lock(root):
        lake_txn.recover(root)
        return list(_unified(base).schema.names)


def count_rows(root: Path, dataset: str, first: date, last: date) -> int:
    """Number of rows of ``dataset`` with ``first <= audit_date <= last`` (from the files' metadata)."""
    base = dataset_path(root, dataset)
    if not base.exists():
        return 0
    with lake_txn.lake_lock(root):
        lake_txn.recover(root)
        files = lake_files.night_files(base, first, last)
        return _files_dataset(base, files).count_rows(filter=_bounds(first, last)) if files else 0


def days_present(root: Path, dataset: str) -> list[date]:
    """Audit dates that have a partition in ``dataset``, sorted."""
    base = dataset_path(root, dataset)
    if not base.exists():
        return []
    recover(root)
    prefix = f"{PARTITION_KEY}="
    return sorted(date.fromisoformat(p.name[len(prefix):]) for p in base.iterdir() if p.name.startswith(prefix))


def read_current(root: Path, dataset: str, last: date) -> pd.DataFrame:
    """The current rows of ``findings`` or ``expected_lines`` as of ``last``: each encounter's newest audit.

    Each night's partition is a snapshot of the encounters it audited; an
    encounter audited again later (a void, a replacement, a late event) is
    represented by that later audit only (:func:`lake_claims.current_audit_rows`).
    """
    if dataset not in ("findings", "expected_lines"):
        raise ValueError(f"read_current reads findings or expected_lines, not {dataset!r}")
    days = [d for d in days_present(root, dataset) if d <= last]
    if not days:
        return pd.DataFrame()
    rows = read_days(root, dataset, days[0], last)
    audited = read_days(root, "audited_encounters", days[0], last)
    if audited.empty:
        audited = pd.DataFrame({"encounter_id": pd.Series(dtype=object), PARTITION_KEY: pd.Series(dtype=object)})
    return current_audit_rows(rows, audited, PARTITION_KEY).reset_index(drop=True)
