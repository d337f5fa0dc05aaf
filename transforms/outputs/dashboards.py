"""A DuckDB database of views over the lake, for dashboards and analysts.

``<lake>/audit.duckdb`` holds only views: every query reads the lake's
Parquet files where they lie (no copy, always current), so a BI tool or a
notebook opens one file and sees every night. The views:

==========================  ==================================================
``findings``                each encounter's current findings (its newest audit)
``expected_lines``          each encounter's current expected lines
``findings_history``        every night's findings, as that night reported them
``expected_lines_history``  every night's expected lines
``audited_encounters``      the encounters each night audited
``quarantine``              rows set aside, with their reasons, per night
``mar_events``              the validated MAR events, per extract night
``claim_lines``             the validated claim lines, per extract night
``daily_summary``           per night, key, direction, severity and payer:
                            lines, encounters and dollars (as reported that night)
==========================  ==================================================

Every view has the partition column ``audit_date`` (DATE). "Current" follows
:func:`transforms.outputs.lake.read_current`: a later night that audits an
encounter again (a void, a replacement, a late MAR event) supersedes its
earlier rows, even when the later audit found nothing.

Each run calls :func:`refresh_views`, which rebuilds the database only when
its SQL changed (``<lake>/audit.duckdb.sql`` holds the SQL it was built
from): a view reads its dataset's files by pattern and DuckDB binds it when
it is queried, so a new night needs no rebuild. Rebuilding on every run cost
a long backfill time and memory that grew with the lake (on a lake of 1,030
nights, 2.5 s and 180 MB per rebuild, against 0.2 s and 106 MB at 30
nights). A rebuild is written to a temporary file renamed into place, so a
reader never sees it half-written, and by a process of its own
(:mod:`transforms.outputs.dashboards_build`): DuckDB, once loaded, stays
resident (44 MB), and a backfill's process that built the views on its
first night would hold it through every later night. The views store the
lake's absolute path: moving the lake changes the SQL, and the next run
rebuilds them. DuckDB is an optional dependency
(``pip install 'infusion-audit[duckdb]'``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pyarrow as pa

from transforms.outputs import dashboards_build
from transforms.outputs.lake import PARTITION_KEY
from transforms.outputs.lake_txn import lake_lock, write_file_atomic
from transforms.vocab.schemas import (
    AUDITED_ARROW, CLAIM_ARROW, EXPECTED_ARROW, FINDINGS_ARROW, MAR_ARROW, QUARANTINE_COLUMNS,
)

#: The database file in the lake root.
DATABASE_FILE = "audit.duckdb"
#: Appended to the database's name: the file of the SQL its views were built from.
SQL_SUFFIX = ".sql"
#: The script that builds the database in a process of its own (:func:`_build`).
_BUILD_SCRIPT = Path(dashboards_build.__file__)


class ViewsBuildFailed(RuntimeError):
    """DuckDB could not build the views database (the lake itself is untouched)."""


#: Lake dataset -> its Arrow schema (``None``: every column text, e.g. quarantine).
_DATASETS: dict[str, pa.Schema | None] = {
    "mar_events": MAR_ARROW, "claim_lines": CLAIM_ARROW, "expected_lines": EXPECTED_ARROW,
    "findings": FINDINGS_ARROW, "quarantine": None, "audited_encounters": AUDITED_ARROW,
}
#: Dataset -> the view of all its nights (the current views are built on these).
_VIEW_NAMES = {"findings": "findings_history", "expected_lines": "expected_lines_history"}

_DUCKDB_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN",
                 pa.date32(): "DATE", pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ"}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _empty_select(schema: pa.Schema | None) -> str:
    """A typed, empty SELECT for a dataset with no file yet (so every view exists from the first night)."""
    if schema is None:  # a free-form table (quarantine): its fixed columns, as text
        fields = [f"NULL::VARCHAR AS {name}" for name in QUARANTINE_COLUMNS]
    else:
        fields = [f"NULL::{_DUCKDB_TYPES.get(f.type, 'VARCHAR')} AS {f.name}" for f in schema]
    return f"SELECT {', '.join([*fields, f'NULL::DATE AS {PARTITION_KEY}'])} WHERE false"


def _dataset_select(lake_root: Path, dataset: str) -> str:
    """SELECT over every night's Parquet file of ``dataset`` (hive partition column ``audit_date``)."""
    base = lake_root / dataset
    if not any(base.glob(f"{PARTITION_KEY}=*/*.parquet")):
        return _empty_select(_DATASETS[dataset])
    pattern = _quote(str(base / f"{PARTITION_KEY}=*" / "*.parquet"))
    return (f"SELECT * FROM read_parquet({pattern}, hive_partitioning = true, union_by_name = true, "
            f"hive_types = {{'{PARTITION_KEY}': DATE}})")


def _current(history: str) -> str:
    """Rows of ``history`` from each encounter's newest audit (the newest night in it or in audited_encounters)."""
    return f"""
        WITH audits AS (
            SELECT encounter_id, {PARTITION_KEY} FROM {history}
            UNION ALL SELECT encounter_id, {PARTITION_KEY} FROM audited_encounters
        ), newest AS (
            SELECT encounter_id, max({PARTITION_KEY}) AS {PARTITION_KEY} FROM audits GROUP BY encounter_id
        )
        SELECT h.* FROM {history} AS h JOIN newest USING (encounter_id, {PARTITION_KEY})"""


def _payer_column() -> str:
    # Claims carry a payer identifier only once the contract column exists
    # (an optional column added at the end of the claim schema).
    return "c.payer_id" if "payer_id" in CLAIM_ARROW.names else "NULL::VARCHAR"


def _daily_summary() -> str:
    """Per night, key, direction, severity and payer: lines, encounters and dollars."""
    return f"""
        WITH payers AS (
            SELECT DISTINCT claim_id, {_payer_column()} AS payer_id FROM claim_lines AS c
        )
        SELECT f.{PARTITION_KEY}, f.finding, f.direction, f.severity,
               coalesce(p.payer_id, 'unknown') AS payer_id,
               count(*) AS lines, count(DISTINCT f.encounter_id) AS encounters,
               sum(coalesce(f.dollar_impact, 0)) AS dollars,
               count(*) FILTER (WHERE f.dollar_impact IS NULL) AS lines_unpriced
        FROM findings_history AS f
        LEFT JOIN (SELECT claim_id, any_value(payer_id) AS payer_id FROM payers GROUP BY claim_id) AS p
            USING (claim_id)
        GROUP BY ALL ORDER BY ALL"""


def view_statements(lake_root: Path) -> list[str]:
    """The CREATE VIEW statements for the lake at ``lake_root`` (absolute paths), in dependency order."""
    lake_root = Path(lake_root).resolve()
    statements = [f"CREATE OR REPLACE VIEW {_VIEW_NAMES.get(name, name)} AS {_dataset_select(lake_root, name)}"
                  for name in _DATASETS]
    statements += [f"CREATE OR REPLACE VIEW {name} AS {_current(history)}" for name, history in _VIEW_NAMES.items()]
    statements.append(f"CREATE OR REPLACE VIEW daily_summary AS {_daily_summary()}")
    return statements


def views_sql(statements: list[str]) -> str:
    """The text of the SQL file beside the database: the :func:`view_statements` it was built
    from, headed by DuckDB's version (a new DuckDB rebuilds the database too).

    Raises:
        ModuleNotFoundError: DuckDB is not installed (an optional extra).
    """
    try:
        duckdb_version = version("duckdb")
    except PackageNotFoundError:  # as ``import duckdb`` would fail (the callers skip the views on it)
        raise ModuleNotFoundError("No module named 'duckdb'", name="duckdb") from None
    return f"-- the views of {DATABASE_FILE}, built by DuckDB {duckdb_version}\n" + ";\n".join(statements) + ";\n"


def refresh_views(lake_root: Path, database: Path | None = None, *, force: bool = False) -> Path:
    """Build the views database of the lake unless it holds the current SQL already
    (:func:`views_sql`; ``force``: build it anyway); returns its path (default
    ``<lake>/audit.duckdb``).

    Under the lake's lock, so the SQL (which datasets have files) matches the
    lake's commits, and the database and its SQL file (``<database>.sql``) are
    replaced together: two runs refreshing at once cannot leave the newer SQL
    beside an older database. A rebuild is written next to the database, then
    renamed over it: a dashboard holding the old file open keeps reading it
    until it reopens. A run killed between the two renames leaves the old SQL
    file, so the next refresh rebuilds.

    Raises:
        ModuleNotFoundError: DuckDB is not installed (an optional extra).
        ViewsBuildFailed: DuckDB could not build the database (the old one, if any, stays).
    """
    lake_root = Path(lake_root)
    database = Path(database or lake_root / DATABASE_FILE)
    record = database.with_name(database.name + SQL_SUFFIX)
    with lake_lock(lake_root):
        statements = view_statements(lake_root)
        sql = views_sql(statements)
        if not force and database.exists() and record.exists() and record.read_text(encoding="utf-8") == sql:
            return database
        _build(statements, database)
        write_file_atomic(record, lambda tmp: tmp.write_text(sql, encoding="utf-8"))
    return database


def _build(statements: list[str], database: Path) -> None:
    """Run ``statements`` in a new database file next to ``database``, then rename it over it
    (the caller holds the lake's lock), in a fresh interpreter (:mod:`.dashboards_build`):
    DuckDB never enters this process, which may go on auditing night after night.

    Raises:
        ModuleNotFoundError: DuckDB cannot be imported there (as ``import duckdb`` here would).
        ViewsBuildFailed: the build failed (DuckDB's message, no data in it: the SQL holds paths only).
    """
    request = json.dumps({"statements": statements, "database": str(database)})
    # -P: the script's folder (this package's modules) is not put on the child's path, so none of
    # them can shadow a module that the script or DuckDB imports.
    done = subprocess.run([sys.executable, "-P", str(_BUILD_SCRIPT)], input=request, capture_output=True,
                          text=True, check=False)
    if done.returncode == dashboards_build.NO_DUCKDB:  # installed (its metadata is) but not importable
        raise ModuleNotFoundError("No module named 'duckdb'", name="duckdb")
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise ViewsBuildFailed(f"building {database.name} failed: {lines[-1]}")
