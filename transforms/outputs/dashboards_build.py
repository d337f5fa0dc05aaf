"""Build a views database from CREATE VIEW statements, in a process of its own.

:func:`transforms.outputs.dashboards.refresh_views` runs this file as a
script (``python -P dashboards_build.py``, the statements and the database's
path as JSON on stdin). DuckDB stays resident in whatever process loads it
(about 44 MB, measured: 14 MB to import it, 30 MB to connect and build), and
Python cannot unload an extension module; a backfill's process builds the
views on its first night and would hold DuckDB through every later night.
So the build runs in a process that ends with it. The file imports nothing
of this project's and nothing heavy at module level (``-P``: its own folder,
this package's modules, is not on the script's path); a run imports it only
for :data:`NO_DUCKDB`."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

#: Exit status when DuckDB cannot be imported here (the caller skips the views, as without DuckDB).
NO_DUCKDB = 3


def build(statements: list[str], database: Path) -> None:
    """Run ``statements`` in a new database file next to ``database``, then rename it over it
    (the caller holds the lake's lock, so no other build runs now)."""
    import duckdb

    # A killed build's leftovers: no other build runs now (the caller holds the lake's lock).
    for leftover in database.parent.glob(f".{database.name}.*.partial*"):  # DuckDB's .wal beside one too
        leftover.unlink(missing_ok=True)
    partial = database.with_name(f".{database.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
    with duckdb.connect(str(partial)) as con:
        for statement in statements:
            con.execute(statement)
    os.replace(partial, database)


def main() -> int:
    """Read ``{"statements": [...], "database": "..."}`` from stdin and :func:`build` it; 0,
    :data:`NO_DUCKDB`, or 1 with the error's first line (DuckDB's own message, e.g.
    "Catalog Error: ...") as the last line on stderr, for the caller to quote."""
    request = json.load(sys.stdin)
    try:
        build(list(request["statements"]), Path(request["database"]))
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the caller, which raises
        if isinstance(exc, ModuleNotFoundError) and exc.name == "duckdb":
            return NO_DUCKDB
        first_line = (str(exc).strip().splitlines() or [""])[0]
        print(f"{type(exc).__name__}: {first_line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
