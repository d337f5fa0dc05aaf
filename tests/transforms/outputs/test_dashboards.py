"""DuckDB views over the lake (transforms.outputs.dashboards)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from transforms.outputs import lake
from transforms.outputs.dashboards import DATABASE_FILE, SQL_SUFFIX, refresh_views
from transforms.vocab.schemas import AUDITED_ARROW, EXPECTED_ARROW, FINDINGS_ARROW

duckdb = pytest.importorskip("duckdb")

D1, D2 = date(2026, 11, 2), date(2026, 11, 3)


def _finding(encounter: str, claim: str, key: str, direction: str, dollars: float | None) -> dict:
    return {"encounter_id": encounter, "claim_id": claim, "hcpcs": "96367", "billed_units": 1, "expected_units": 0,
            "finding": key, "explanation": "x", "direction": direction, "severity": "high",
            "dollar_impact": dollars, "setting": "facility", "evidence": ""}


def _night(root, day, findings, audited, claims=None):
    tables = {"findings": (pd.DataFrame(findings, columns=FINDINGS_ARROW.names), FINDINGS_ARROW),
              "expected_lines": (pd.DataFrame(columns=EXPECTED_ARROW.names), EXPECTED_ARROW),
              "audited_encounters": (pd.DataFrame({"encounter_id": audited}), AUDITED_ARROW)}
    if claims is not None:
        from transforms.vocab.schemas import CLAIM_ARROW

        tables["claim_lines"] = (pd.DataFrame(claims, columns=CLAIM_ARROW.names), CLAIM_ARROW)
    lake.write_days(root, day, tables)


@pytest.fixture()
def two_nights(tmp_path):
    root = tmp_path / "lake"
    _night(root, D1, [_finding("E1", "C1", "sequential_not_supported", "over_billed", 120.5),
                      _finding("E2", "C2", "concurrent_billed_twice", "over_billed", None)],
           ["E1", "E2", "E3"], claims=[{"claim_id": "C1", "encounter_id": "E1", "line_number": 1, "service_date": D1}])
    # Night 2 audits E1 again (its claim was voided) and finds nothing; E4 is new.
    _night(root, D2, [_finding("E4", "C4", "hydration_not_reportable", "under_billed", -30.0)], ["E1", "E4"])
    return root


def _query(database, sql):
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_current_findings_follow_the_newest_audit_of_each_encounter(two_nights):
    database = refresh_views(two_nights)
    assert database == two_nights / DATABASE_FILE
    current = _query(database, "SELECT encounter_id, audit_date FROM findings ORDER BY encounter_id")
    assert current == [("E2", D1), ("E4", D2)]  # E1's night-1 finding is superseded by its empty night-2 audit
    expected = lake.read_current(two_nights, "findings", D2)
    assert sorted(expected["encounter_id"]) == [e for e, _ in current]
    history = _query(database, "SELECT count(*) FROM findings_history")
    assert history == [(3,)]


def test_daily_summary_counts_lines_dollars_and_unpriced_per_night(two_nights):
    database = refresh_views(two_nights)
    rows = _query(database, "SELECT audit_date, finding, payer_id, lines, encounters, dollars, lines_unpriced "
                            "FROM daily_summary ORDER BY audit_date, finding")
    assert rows == [
        (D1, "concurrent_billed_twice", "unknown", 1, 1, 0.0, 1),
        (D1, "sequential_not_supported", "unknown", 1, 1, 120.5, 0),
        (D2, "hydration_not_reportable", "unknown", 1, 1, -30.0, 0),
    ]


def test_views_exist_on_an_empty_lake_and_see_later_nights_after_refresh(tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    database = refresh_views(root)
    for view in ("findings", "expected_lines", "findings_history", "quarantine", "mar_events", "claim_lines",
                 "audited_encounters", "daily_summary"):
        assert _query(database, f"SELECT count(*) FROM {view}") == [(0,)], view
    _night(root, D1, [_finding("E1", "C1", "sequential_not_supported", "over_billed", 1.0)], ["E1"])
    refresh_views(root)
    assert _query(database, "SELECT count(*) FROM findings") == [(1,)]
    assert not list(root.glob(".*partial"))


def _identity(path):
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def test_a_refresh_with_unchanged_sql_keeps_the_database_and_its_views_see_new_nights(two_nights):
    database = refresh_views(two_nights)
    built = _identity(database)
    assert "read_parquet" in (two_nights / (DATABASE_FILE + SQL_SUFFIX)).read_text(encoding="utf-8")
    d3 = date(2026, 11, 4)
    _night(two_nights, d3, [_finding("E5", "C5", "sequential_not_supported", "over_billed", 10.0)], ["E5"])
    assert refresh_views(two_nights) == database
    assert _identity(database) == built  # not rebuilt: the views read the files by pattern
    assert _query(database, "SELECT encounter_id FROM findings WHERE audit_date = DATE '2026-11-04'") == [("E5",)]
    refresh_views(two_nights, force=True)
    assert _identity(database) != built


def test_the_database_is_rebuilt_when_its_sql_changes_or_a_run_was_killed_mid_refresh(two_nights, tmp_path):
    database = refresh_views(two_nights)
    record = two_nights / (DATABASE_FILE + SQL_SUFFIX)
    assert _query(database, "SELECT count(*) FROM quarantine") == [(0,)]  # no quarantine file yet: an empty view
    lake.write_days(two_nights, D2, {"quarantine": (pd.DataFrame({"row": ["3"], "reason": ["no start time"]}), None)})
    built = _identity(database)
    refresh_views(two_nights)  # the quarantine view now reads files: new SQL
    assert _identity(database) != built
    assert _query(database, "SELECT reason FROM quarantine") == [("no start time",)]
    # Killed after renaming the database, before writing its SQL: the old SQL file stays, so it is rebuilt.
    record.write_text("-- an older build\n", encoding="utf-8")
    built = _identity(database)
    refresh_views(two_nights)
    assert _identity(database) != built and "read_parquet" in record.read_text(encoding="utf-8")
    database.unlink()  # removed by hand: rebuilt although its SQL file is current
    assert _query(refresh_views(two_nights), "SELECT count(*) FROM findings_history") == [(3,)]


def test_a_rebuild_removes_what_a_killed_build_left(two_nights):
    killed = two_nights / f".{DATABASE_FILE}.4242.deadbeef.partial"
    killed.write_bytes(b"half a database")
    (two_nights / f"{killed.name}.wal").write_bytes(b"its log")
    refresh_views(two_nights)
    assert not list(two_nights.glob(".*partial*"))


def test_the_views_are_built_in_a_process_of_their_own_duckdb_never_loaded_here(two_nights):
    import subprocess
    import sys

    code = ("import sys; from transforms.outputs.dashboards import refresh_views; "
            f"refresh_views({str(two_nights)!r}); "
            "print(sorted(m for m in sys.modules if 'duckdb' in m))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"  # the auditing process never imported DuckDB
    assert _query(two_nights / DATABASE_FILE, "SELECT count(*) FROM findings_history") == [(3,)]


def test_a_failed_build_says_why_and_leaves_the_old_database_and_its_sql(two_nights, monkeypatch):
    from transforms.outputs import dashboards

    database = refresh_views(two_nights)
    record = two_nights / (DATABASE_FILE + SQL_SUFFIX)
    built, sql = _identity(database), record.read_text(encoding="utf-8")
    monkeypatch.setattr(dashboards, "view_statements",
                        lambda _root: ["CREATE VIEW broken AS SELECT * FROM no_such_table"])
    with pytest.raises(dashboards.ViewsBuildFailed, match="no_such_table"):
        refresh_views(two_nights)
    assert _identity(database) == built and record.read_text(encoding="utf-8") == sql
    assert _query(database, "SELECT count(*) FROM findings_history") == [(3,)]
    assert [p.name for p in two_nights.glob(".*partial*")] != []  # what it left: removed by the next build
    monkeypatch.undo()
    refresh_views(two_nights, force=True)
    assert not list(two_nights.glob(".*partial*"))


def test_duckdb_installed_but_not_importable_where_the_views_are_built_reads_as_no_duckdb(
        two_nights, tmp_path, monkeypatch):
    # The build's interpreter finds a duckdb that fails to import (PYTHONPATH comes first): the
    # caller hears what `import duckdb` would have said, so a run skips the views as without DuckDB.
    shim = tmp_path / "shim" / "duckdb"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'duckdb'\", name='duckdb')\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(shim.parent))
    with pytest.raises(ModuleNotFoundError) as raised:
        refresh_views(two_nights)
    assert raised.value.name == "duckdb"
    assert not (two_nights / DATABASE_FILE).exists() and not (two_nights / (DATABASE_FILE + SQL_SUFFIX)).exists()


def test_a_moved_lake_gets_views_of_its_new_place(two_nights, tmp_path):
    import shutil

    refresh_views(two_nights)
    moved = tmp_path / "moved"
    shutil.copytree(two_nights, moved)
    shutil.rmtree(two_nights)
    database = refresh_views(moved)
    assert str(moved.resolve()) in (moved / (DATABASE_FILE + SQL_SUFFIX)).read_text(encoding="utf-8")
    assert _query(database, "SELECT count(*) FROM findings_history") == [(3,)]


def test_views_read_the_files_in_place_no_copy(two_nights):
    database = refresh_views(two_nights)
    size = database.stat().st_size
    _night(two_nights, D2, [_finding("E4", "C4", "hydration_not_reportable", "under_billed", -30.0)] * 50, ["E4"])
    assert _query(database, "SELECT count(*) FROM findings_history WHERE audit_date = DATE '2026-11-03'") == [(50,)]
    assert database.stat().st_size == size


def test_every_example_query_in_the_docs_runs(two_nights):
    import re

    from tests.paths import REPO

    text = (REPO / "docs" / "dashboards.md").read_text(encoding="utf-8")
    queries = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    assert len(queries) >= 5
    database = refresh_views(two_nights)
    for sql in queries:
        rows = _query(database, sql)
        assert isinstance(rows, list), sql
    top = _query(database, queries[0])
    assert top[0][0] == "hydration_not_reportable"  # the largest |dollars| among current findings
