"""The Parquet lake: one hive-partitioned dataset per table.

Layout: ``<root>/<dataset>/audit_date=YYYY-MM-DD/part-0.parquet``, where
``audit_date`` is the service date a nightly extract (and its audit) covers.
Writing a day replaces that day's partition and only it
(``existing_data_behavior="delete_matching"``), so a rerun never appends the
same rows twice. Claim lines keep their own line ``service_date`` column.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

DATASETS: tuple[str, ...] = ("mar_events", "claim_lines", "expected_lines", "findings", "quarantine")
PARTITION_KEY = "audit_date"
_PARTITIONING = ds.partitioning(pa.schema([(PARTITION_KEY, pa.date32())]), flavor="hive")


def dataset_path(root: Path, dataset: str) -> Path:
    """Folder of ``dataset`` under the lake ``root``; rejects unknown names."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown lake dataset {dataset!r}; known: {DATASETS}")
    return Path(root) / dataset


def _to_table(frame: pd.DataFrame, schema: pa.Schema | None) -> pa.Table:
    frame = frame.reset_index(drop=True)
    if schema is None:
        # Free-form tables (quarantine keeps the input's original columns):
        # store every column as text so no value is coerced.
        frame = frame.astype("string")
        return pa.Table.from_pandas(frame, preserve_index=False)
    cols = [f.name for f in schema]
    missing = [c for c in cols if c not in frame.columns]
    for c in missing:
        frame[c] = None
    table = pa.Table.from_pandas(frame[cols], schema=schema, preserve_index=False)
    return table.replace_schema_metadata(schema.metadata)  # keep the table's name and version


def write_day(
    frame: pd.DataFrame, root: Path, dataset: str, day: date, schema: pa.Schema | None = None
) -> Path:
    """Replace the ``day`` partition of ``dataset`` with ``frame``.

    Args:
        frame: rows of that day (may be empty: the partition then holds an
            empty file, which records that the day was processed).
        root: lake root folder.
        dataset: one of :data:`DATASETS`.
        day: the audit date.
        schema: pyarrow schema to enforce (columns in that order); ``None``
            stores every column as text.

    Returns:
        The partition folder written.
    """
    table = _to_table(frame, schema)
    table = table.append_column(PARTITION_KEY, pa.array([day] * table.num_rows, pa.date32()))
    base = dataset_path(root, dataset)
    ds.write_dataset(
        table,
        base,
        format="parquet",
        partitioning=_PARTITIONING,
        existing_data_behavior="delete_matching",
        basename_template="part-{i}.parquet",
    )
    part = base / f"{PARTITION_KEY}={day.isoformat()}"
    if table.num_rows == 0:
        # write_dataset writes no file for an empty table: keep an empty one.
        part.mkdir(parents=True, exist_ok=True)
        for old in part.glob("*.parquet"):
            old.unlink()
        pq.write_table(table.drop_columns([PARTITION_KEY]), part / "part-0.parquet")
    return part


def read_days(root: Path, dataset: str, first: date, last: date) -> pd.DataFrame:
    """Rows of ``dataset`` with ``first <= audit_date <= last`` (empty if none)."""
    base = dataset_path(root, dataset)
    if not base.exists():
        return pd.DataFrame()
    data = ds.dataset(base, format="parquet", partitioning=_PARTITIONING)
    field = ds.field(PARTITION_KEY)
    table = data.to_table(filter=(field >= pa.scalar(first, pa.date32())) & (field <= pa.scalar(last, pa.date32())))
    return table.to_pandas()


def days_present(root: Path, dataset: str) -> list[date]:
    """Audit dates that have a partition in ``dataset``, sorted."""
    base = dataset_path(root, dataset)
    if not base.exists():
        return []
    prefix = f"{PARTITION_KEY}="
    return sorted(date.fromisoformat(p.name[len(prefix):]) for p in base.iterdir() if p.name.startswith(prefix))
