"""The lake replaces a day's partition and never appends a day twice."""

from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.outputs import lake

SCHEMA = pa.schema([("encounter_id", pa.string()), ("units", pa.int64())])


def test_rewriting_a_day_replaces_only_that_day(tmp_path):
    d1, d2 = date(2026, 11, 2), date(2026, 11, 3)
    lake.write_day(pd.DataFrame({"encounter_id": ["A", "B"], "units": [1, 2]}), tmp_path, "findings", d1, SCHEMA)
    lake.write_day(pd.DataFrame({"encounter_id": ["C"], "units": [3]}), tmp_path, "findings", d2, SCHEMA)
    # Rewrite day 1 twice: its rows are replaced, never appended.
    for _ in range(2):
        lake.write_day(pd.DataFrame({"encounter_id": ["A"], "units": [5]}), tmp_path, "findings", d1, SCHEMA)
    got = lake.read_days(tmp_path, "findings", d1, d2).sort_values("encounter_id")
    assert got["encounter_id"].tolist() == ["A", "C"]
    assert got["units"].tolist() == [5, 3]
    assert lake.days_present(tmp_path, "findings") == [d1, d2]


def test_empty_day_is_recorded_and_reads_back_empty(tmp_path):
    d = date(2026, 11, 2)
    lake.write_day(pd.DataFrame({"encounter_id": ["A"], "units": [1]}), tmp_path, "findings", d, SCHEMA)
    lake.write_day(pd.DataFrame({"encounter_id": [], "units": []}), tmp_path, "findings", d, SCHEMA)
    assert lake.days_present(tmp_path, "findings") == [d]
    assert lake.read_days(tmp_path, "findings", d, d).empty


def test_free_form_table_keeps_values_as_text(tmp_path):
    d = date(2026, 11, 2)
    q = pd.DataFrame({"source": ["mar"], "row": [7], "reason": ["bad route"], "route": ["iv_drip"]})
    lake.write_day(q, tmp_path, "quarantine", d)
    got = lake.read_days(tmp_path, "quarantine", d, d)
    assert got.loc[0, "row"] == "7" and got.loc[0, "route"] == "iv_drip"


def test_unknown_dataset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown lake dataset"):
        lake.write_day(pd.DataFrame(), tmp_path, "scratch", date(2026, 11, 2))


def test_output_tables_carry_their_schema_version(tmp_path):
    """Dashboards read findings directly: typed columns and a version tag."""
    import pyarrow.dataset as ds

    from transforms.vocab.schemas import FINDINGS_ARROW, OUTPUT_SCHEMA_VERSION

    d = date(2026, 11, 2)
    f = pd.DataFrame({"encounter_id": ["E1"], "claim_id": ["C1"], "hcpcs": ["96368"], "billed_units": [2],
                      "expected_units": [1], "finding": ["concurrent_billed_twice"], "explanation": ["x"],
                      "direction": ["over_billed"], "severity": ["high"], "dollar_impact": [None],
                      "setting": ["facility"], "evidence": [""]})
    lake.write_day(f, tmp_path, "findings", d, FINDINGS_ARROW)
    schema = ds.dataset(tmp_path / "findings", format="parquet", partitioning="hive").schema
    assert schema.field("billed_units").type == pa.int64()
    assert schema.field("dollar_impact").type == pa.float64()
    assert schema.metadata[b"infusion_audit.schema_version"] == OUTPUT_SCHEMA_VERSION.encode()
    got = lake.read_days(tmp_path, "findings", d, d)
    assert got.loc[0, "hcpcs"] == "96368" and got.loc[0, "billed_units"] == 2


def test_findings_written_before_price_basis_read_back_with_it_empty(tmp_path):
    """A column added to the findings schema (price_basis, last) leaves older days readable."""
    from transforms.vocab.schemas import FINDINGS_ARROW

    old_schema = FINDINGS_ARROW.remove(FINDINGS_ARROW.get_field_index("price_basis"))
    row = {"encounter_id": ["E1"], "claim_id": ["C1"], "hcpcs": ["96368"], "billed_units": [2],
           "expected_units": [1], "finding": ["concurrent_billed_twice"], "explanation": ["x"],
           "direction": ["over_billed"], "severity": ["high"], "dollar_impact": [0.0],
           "setting": ["facility"], "evidence": [""], "policy_profile": ["default"]}
    lake.write_day(pd.DataFrame(row), tmp_path, "findings", date(2026, 11, 2), old_schema)
    lake.write_day(pd.DataFrame({**row, "price_basis": ["no_separate_payment"]}), tmp_path, "findings",
                   date(2026, 11, 3), FINDINGS_ARROW)
    got = lake.read_days(tmp_path, "findings", date(2026, 11, 2), date(2026, 11, 3))
    assert len(got) == 2 and got["price_basis"].isna().tolist() == [True, False]
    assert got["price_basis"].iloc[1] == "no_separate_payment"


# --- transactions: commit, rollback, recovery, locks -------------------------------

import threading  # noqa: E402
import time  # noqa: E402

from transforms.outputs import lake_txn  # noqa: E402

DAY = date(2026, 11, 2)
FIVE = ("mar_events", "claim_lines", "expected_lines", "findings", "quarantine")


def _tables(tag: str) -> dict:
    return {name: (pd.DataFrame({"encounter_id": [f"{tag}-{name}"], "units": [len(tag)]}), SCHEMA) for name in FIVE}


def _day(root) -> dict:
    """The day's encounter id per dataset (None: no partition)."""
    out = {}
    for name in FIVE:
        got = lake.read_days(root, name, DAY, DAY)
        out[name] = None if got.empty else got["encounter_id"].tolist()[0]
    return out


def _state(root) -> str:
    got = {v.split("-")[0] for v in _day(root).values()}
    assert len(got) == 1, f"mixed day: {_day(root)}"
    return got.pop()


def _assert_clean(root) -> None:
    for hidden in (lake_txn.STAGING, lake_txn.JOURNAL):
        assert not (root / hidden).exists() or not any((root / hidden).iterdir()), hidden
    assert not list(root.rglob("*.tmp"))
    for name in FIVE:
        assert [p.name for p in (root / name / f"audit_date={DAY}").iterdir()] == ["part-0.parquet"]


def test_write_days_commits_every_dataset_and_leaves_no_journal(tmp_path):
    lake.write_days(tmp_path, DAY, _tables("old"))
    lake.write_days(tmp_path, DAY, _tables("new"))
    assert _state(tmp_path) == "new"
    _assert_clean(tmp_path)


def test_none_removes_a_partition_in_the_same_transaction(tmp_path):
    lake.write_days(tmp_path, DAY, _tables("old"))
    lake.write_days(tmp_path, DAY, {"findings": None, "claim_lines": _tables("new")["claim_lines"]})
    assert lake.days_present(tmp_path, "findings") == []
    assert lake.read_days(tmp_path, "claim_lines", DAY, DAY)["encounter_id"].tolist() == ["new-claim_lines"]


class Crash(Exception):
    """A simulated kill."""


def _crash_on(monkeypatch, name: str, call: int) -> None:
    """Make ``lake_txn.<name>`` raise on its ``call``-th call (1-based)."""
    real, seen = getattr(lake_txn, name), []

    def wrapper(*args, **kwargs):
        seen.append(1)
        if len(seen) == call:
            raise Crash(f"{name} #{call}")
        return real(*args, **kwargs)

    monkeypatch.setattr(lake_txn, name, wrapper)


@pytest.mark.parametrize(("step", "call", "expect"), [
    ("write_parquet_atomic", 1, "old"),   # staging the first file
    ("write_parquet_atomic", 4, "old"),   # staging, three files staged
    ("write_file_atomic", 6, "old"),      # writing the journal (5 parquet files went before it)
    ("_roll_forward", 1, "new"),          # journal committed, nothing moved yet
    ("_apply", 1, "new"),                 # roll-forward: first move
    ("_apply", 3, "new"),                 # roll-forward: half the datasets moved (raw files are mixed)
    ("_apply", 5, "new"),                 # roll-forward: the last move
    ("_fsync_dir", 12, "new"),            # journal deleted, staging not yet
])
def test_a_crash_at_any_step_recovers_to_old_or_new(tmp_path, monkeypatch, step, call, expect):
    lake.write_days(tmp_path, DAY, _tables("old"))
    with monkeypatch.context() as m:
        _crash_on(m, step, call)
        with pytest.raises(Crash):
            lake.write_days(tmp_path, DAY, _tables("new"))
    for part in tmp_path.rglob("*.parquet"):  # every file under the lake reads, before any recovery
        pq.read_table(part)
    lake.recover(tmp_path)
    assert _state(tmp_path) == expect
    _assert_clean(tmp_path)
    lake.write_days(tmp_path, DAY, _tables("next"))  # the next run completes
    assert _state(tmp_path) == "next"
    _assert_clean(tmp_path)


def test_readers_finish_a_committed_transaction_first(tmp_path, monkeypatch):
    lake.write_days(tmp_path, DAY, _tables("old"))
    with monkeypatch.context() as m:
        _crash_on(m, "_apply", 3)
        with pytest.raises(Crash):
            lake.write_days(tmp_path, DAY, _tables("new"))
    assert any((tmp_path / lake_txn.JOURNAL).iterdir())
    assert _state(tmp_path) == "new"  # read_days recovered before reading


def test_same_rows_give_the_same_bytes(tmp_path):
    for root in (tmp_path / "a", tmp_path / "b"):
        lake.write_days(root, DAY, _tables("same"))
        lake.write_day(pd.DataFrame({"source": ["mar"], "row": [1]}), root, "quarantine", DAY)
    for part in (tmp_path / "a").rglob("*.parquet"):
        assert part.read_bytes() == (tmp_path / "b" / part.relative_to(tmp_path / "a")).read_bytes()


def test_a_second_run_of_the_same_day_is_refused_with_a_clear_message(tmp_path):
    with lake.day_lock(tmp_path, DAY):
        with pytest.raises(lake.LakeBusy, match=r"another run of 2026-11-02 .*wait for it to finish"):
            with lake.day_lock(tmp_path, DAY):
                pass
        with pytest.raises(lake.LakeBusy):
            with lake.day_lock(tmp_path, DAY, wait=True, timeout=0.2):
                pass
        with lake.day_lock(tmp_path, date(2026, 11, 3)):  # another day runs
            pass
    with lake.day_lock(tmp_path, DAY):  # released: the next run goes ahead
        pass


def test_writers_wait_for_the_lake_lock(tmp_path):
    released = []

    def hold():
        with lake_txn.lake_lock(tmp_path):
            time.sleep(0.4)
            released.append(time.monotonic())

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(0.1)
    lake.write_days(tmp_path, DAY, _tables("new"))
    done = time.monotonic()
    t.join()
    assert released and done >= released[0]
    assert _state(tmp_path) == "new"


def test_the_lock_of_a_killed_holder_is_released(tmp_path):
    import subprocess
    import sys

    code = ("import sys, time; from datetime import date; from transforms.outputs import lake\n"
            f"with lake.day_lock(sys.argv[1], date(2026, 11, 2)):\n    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(lake.LakeBusy):
            with lake.day_lock(tmp_path, DAY):
                pass
    finally:
        proc.kill()
        proc.wait()
    with lake.day_lock(tmp_path, DAY):
        pass


def test_unknown_extra_input_columns_are_kept_as_text_across_nights(tmp_path):
    """Contract: unknown extra columns are kept in the lake (and ignored by the audit)."""
    from transforms.vocab.schemas import CLAIM_ARROW, FINDINGS_ARROW

    def claims(unit: str, **extra: str) -> pd.DataFrame:
        return pd.DataFrame([{"claim_id": f"C{unit}", "encounter_id": "E1", "line_number": 1,
                              "service_date": date(2026, 11, 2), "hcpcs": "96365", "units": 1, **extra}])

    d1, d2, d3 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)
    lake.write_day(claims("1", unit_location="ICU 4"), tmp_path, "claim_lines", d1, CLAIM_ARROW)
    lake.write_day(claims("2"), tmp_path, "claim_lines", d2, CLAIM_ARROW)
    lake.write_day(claims("3", ward="7B", unit_location="ER"), tmp_path, "claim_lines", d3, CLAIM_ARROW)
    rows = lake.read_days(tmp_path, "claim_lines", d1, d3).sort_values("claim_id")
    assert list(rows["unit_location"].fillna("")) == ["ICU 4", "", "ER"]
    assert list(rows["ward"].fillna("")) == ["", "", "7B"]
    stored = pq.read_table(next((tmp_path / "claim_lines").glob("audit_date=2026-11-02/*.parquet")))
    assert stored.schema.names[: len(CLAIM_ARROW)] == CLAIM_ARROW.names  # the contract's columns first
    assert stored.schema.field("unit_location").type == pa.string()
    # Output tables keep exactly their schema.
    finding = pd.DataFrame([{"encounter_id": "E1", "finding": "x", "scratch": "not stored"}])
    lake.write_day(finding, tmp_path, "findings", d1, FINDINGS_ARROW)
    assert "scratch" not in lake.read_days(tmp_path, "findings", d1, d1)


def _three_nights(root) -> tuple[date, date, date]:
    """Claim lines of encounters A, B, C over three nights; B's units are null on night 2."""
    from transforms.vocab.schemas import CLAIM_ARROW

    days = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)
    rows = {days[0]: [("A", "C1", 1), ("B", "C2", 2)], days[1]: [("B", "C2", None), ("C", "C3", 3)],
            days[2]: [("A", "C4", 4), ("C", "C3", 5)]}
    for day, lines in rows.items():
        frame = pd.DataFrame([{"encounter_id": e, "claim_id": c, "line_number": 1, "units": u, "hcpcs": "96365"}
                              for e, c, u in lines]).astype({"units": "Int64"})
        lake.write_day(frame, root, "claim_lines", day, CLAIM_ARROW)
    return days


def test_a_filtered_read_holds_only_the_asked_rows_across_nights_in_partition_order(tmp_path):
    import pyarrow.dataset as ds

    d1, d2, d3 = _three_nights(tmp_path)
    got = lake.read_days(tmp_path, "claim_lines", d1, d3, where=ds.field("encounter_id").isin(["A", "C"]))
    assert list(zip(got["encounter_id"], got["claim_id"], got[lake.PARTITION_KEY])) == [
        ("A", "C1", d1), ("C", "C3", d2), ("A", "C4", d3), ("C", "C3", d3)]
    assert got["units"].tolist() == [1, 3, 4, 5]
    # Outside [first, last] nothing is read, filter or not.
    assert lake.read_days(tmp_path, "claim_lines", d2, d2, where=ds.field("encounter_id") == "A").empty


def test_a_filtered_read_has_the_dtypes_and_columns_of_the_whole_read(tmp_path):
    """B's null units on night 2 make the whole read's units float64: so must a read that leaves B out."""
    import pyarrow.dataset as ds

    d1, d2, d3 = _three_nights(tmp_path)
    whole = lake.read_days(tmp_path, "claim_lines", d1, d3)
    only_a = lake.read_days(tmp_path, "claim_lines", d1, d3, where=ds.field("encounter_id") == "A")
    assert whole["units"].dtype == "float64" and only_a["units"].dtype == "float64"
    assert list(only_a.columns) == list(whole.columns)
    pd.testing.assert_frame_equal(only_a, whole[whole["encounter_id"] == "A"].reset_index(drop=True))
    # Night 3 alone has no null: int64 there, filtered or not; an empty result keeps the columns.
    night3 = lake.read_days(tmp_path, "claim_lines", d3, d3, where=ds.field("encounter_id") == "A")
    assert night3["units"].dtype == "int64"
    none = lake.read_days(tmp_path, "claim_lines", d1, d3, where=ds.field("encounter_id") == "Z")
    assert none.empty and list(none.columns) == list(whole.columns) and none["units"].dtype == "float64"


def test_a_boolean_column_with_a_null_elsewhere_reads_as_object(tmp_path):
    import pyarrow.dataset as ds

    from transforms.vocab.schemas import MAR_ARROW

    d = date(2026, 11, 2)
    frame = pd.DataFrame({"encounter_id": ["A", "B"], "primary": [True, None]})
    lake.write_day(frame, tmp_path, "mar_events", d, MAR_ARROW)
    only_a = lake.read_days(tmp_path, "mar_events", d, d, where=ds.field("encounter_id") == "A")
    assert only_a["primary"].dtype == object and only_a["primary"].tolist() == [True]
    assert lake.read_days(tmp_path, "mar_events", d, d)["primary"].dtype == object


def test_read_days_columns_reads_only_those_and_skips_unknown_names(tmp_path):
    d1, d2, d3 = _three_nights(tmp_path)
    got = lake.read_days(tmp_path, "claim_lines", d1, d3, columns=["units", "claim_id", "no_such", lake.PARTITION_KEY])
    assert list(got.columns) == ["claim_id", "units", lake.PARTITION_KEY]  # the dataset's order
    assert got["claim_id"].tolist() == ["C1", "C2", "C2", "C3", "C4", "C3"]


def test_count_rows_and_column_names(tmp_path):
    d1, d2, d3 = _three_nights(tmp_path)
    assert [lake.count_rows(tmp_path, "claim_lines", a, b) for a, b in ((d1, d3), (d2, d2), (d3, d1))] == [6, 2, 0]
    assert lake.count_rows(tmp_path, "mar_events", d1, d3) == 0  # no such dataset yet
    assert lake.column_names(tmp_path, "mar_events") == []
    names = lake.column_names(tmp_path, "claim_lines")
    assert names == list(lake.read_days(tmp_path, "claim_lines", d1, d3).columns)
    assert names[-1] == lake.PARTITION_KEY and "units" in names


def _numbers_nights(root, nights: int) -> None:
    """``nights`` nights of MAR rows: 10,000 rows of 12 random floats a night (not compressible)."""
    import numpy as np

    rng = np.random.default_rng(0)
    for night in range(nights):
        rows = pd.DataFrame({f"number_{c}": rng.random(10_000) for c in range(12)})
        rows["encounter_id"] = [f"E{night}-{i // 10}" for i in range(len(rows))]
        lake.write_day(rows, root, "mar_events", date(2026, 1, 1 + night))


def _arrow_peak_of_a_filtered_read(root, nights: int) -> float:
    """Arrow's peak allocation (MB) in a fresh process reading ``nights`` nights filtered on 20,000 ids."""
    import subprocess
    import sys

    code = ("import sys; from datetime import date; import pyarrow as pa, pyarrow.dataset as ds\n"
            "from transforms.outputs import lake\n"
            "ids = pa.array([f'X{i}' for i in range(20_000)])\n"
            f"lake.read_days(sys.argv[1], 'mar_events', date(2026, 1, 1), date(2026, 1, {nights}),"
            " where=ds.field('encounter_id').isin(ids))\n"
            "print(pa.default_memory_pool().max_memory() / 2**20)\n")
    out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def test_a_filtered_reads_memory_does_not_grow_with_its_nights(tmp_path):
    # A filtered read (a night's lookback window) decodes one file at a time
    # (lake.ONE_FILE_AT_A_TIME). Arrow's default scan decoded up to 4 files and
    # 16 batches ahead: 8 nights peaked at 18-20 MB against 7 MB for one night.
    one, eight = tmp_path / "one", tmp_path / "eight"
    _numbers_nights(one, 1)
    _numbers_nights(eight, 8)
    assert _arrow_peak_of_a_filtered_read(eight, 8) < 2 * _arrow_peak_of_a_filtered_read(one, 1)
