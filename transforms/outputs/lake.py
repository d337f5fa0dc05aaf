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

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from transforms.outputs import lake_txn
from transforms.outputs.lake_claims import current_audit_rows
from transforms.outputs.lake_txn import LakeBusy, day_lock  # noqa: F401  (re-exported)

DATASETS: tuple[str, ...] = (
    "mar_events", "claim_lines", "expected_lines", "findings", "quarantine", "audited_encounters",
)
PARTITION_KEY = "audit_date"
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


def read_days(root: Path, dataset: str, first: date, last: date) -> pd.DataFrame:
    """Rows of ``dataset`` with ``first <= audit_date <= last`` (empty if none)."""
    base = dataset_path(root, dataset)
    if not base.exists():
        return pd.DataFrame()
    with lake_txn.lake_lock(root):
        lake_txn.recover(root)
        data = ds.dataset(base, format="parquet", partitioning=_PARTITIONING)
        # Nights may hold different columns: input extras, or an output column
        # added in a later version (read as null on older days): read them all.
        schemas = [fragment.physical_schema for fragment in data.get_fragments()]
        if schemas:
            unified = pa.unify_schemas([data.schema, *schemas])
            data = ds.dataset(base, format="parquet", partitioning=_PARTITIONING, schema=unified)
        field = ds.field(PARTITION_KEY)
        bounds = (field >= pa.scalar(first, pa.date32())) & (field <= pa.scalar(last, pa.date32()))
        table = data.to_table(filter=bounds)
    return table.to_pandas()


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
