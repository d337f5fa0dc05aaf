"""Per-row quarantine (transforms/ingest/quarantine.py) and row reconciliation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expectations.runner import validate_extract
from transforms.vocab import schemas
from transforms.ingest.quarantine import reconcile, split_quarantine
from transforms.frames import expand_text
from transforms.ingest.readers import read_extract, stage_mar

TZ = "America/New_York"
HEADER = "encounter_id,patient_id,order_id,drug,route,action,event_time,access_site,rate,unit_note"


def twenty_rows() -> list[str]:
    """20 valid MAR rows: a push and an infusion start/stop per encounter."""
    rows = []
    for i in range(1, 21):
        enc = f"E{(i - 1) // 4 + 1}"
        minute = f"{10 + i:02d}"
        if i % 2:
            rows.append(f"{enc},MRN{i:03d},O{i},ondansetron,iv_push,given,"
                        f"2026-03-09 09:{minute},port,,")
        else:
            rows.append(f"{enc},MRN{i:03d},O{i},NS 1000 mL,iv_infusion,start,"
                        f"2026-03-09T13:{minute}:00Z,L forearm PIV,125,mL/h")
    return rows


def write_mar(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "mar.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def pipeline(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    raw = read_extract(path, "mar")
    staged = stage_mar(raw, TZ)
    outcome = validate_extract(staged, "mar")
    kept, quarantine = split_quarantine(staged, raw, outcome.failures, "mar")
    return raw, kept, quarantine


def test_categorical_raw_frame_gives_the_same_kept_and_quarantine(tmp_path: Path) -> None:
    """The loader reads canonical CSV as Categorical columns: same kept rows,
    same quarantine (original values as text, "" where missing)."""
    rows = twenty_rows()
    rows[3] = rows[3].replace("iv_infusion", " IV_DRIP ")
    rows[10] = rows[10].replace("MRN011", "")
    rows[14] = rows[13].replace("MRN014", "MRN015")
    path = write_mar(tmp_path, rows)
    _, kept, quarantine = pipeline(path)
    raw = read_extract(path, "mar", categorical=True)
    assert isinstance(raw["route"].dtype, pd.CategoricalDtype)
    staged = stage_mar(raw, TZ)
    coded_kept, coded_quarantine = split_quarantine(staged, raw, validate_extract(staged, "mar").failures, "mar")
    pd.testing.assert_frame_equal(coded_kept, kept)
    pd.testing.assert_frame_equal(coded_quarantine, quarantine)
    assert quarantine["row"].tolist() == [4, 11, 15]
    assert quarantine.set_index("row").loc[11, "patient_id"] == ""
    assert quarantine.set_index("row").loc[4, "route"] == " IV_DRIP "


def test_compact_staged_frame_gives_the_same_kept_and_quarantine(tmp_path: Path) -> None:
    """A compact staging (text as Categorical): the kept rows are a take that
    expands to the plain kept rows; the quarantine, built from the raw frame,
    is the same; with no failure the kept frame shares the staged columns."""
    rows = twenty_rows()
    rows[3] = rows[3].replace("iv_infusion", " IV_DRIP ")
    rows[10] = rows[10].replace("MRN011", "")
    path = write_mar(tmp_path, rows)
    _, kept, quarantine = pipeline(path)
    raw = read_extract(path, "mar", categorical=True)
    staged = stage_mar(raw, TZ, compact=True)
    compact_kept, compact_quarantine = split_quarantine(staged, raw, validate_extract(staged, "mar").failures, "mar")
    assert compact_kept["route"].dtype == "category" and compact_kept["unit_note"].dtype == "category"
    pd.testing.assert_frame_equal(expand_text(compact_kept), kept)
    pd.testing.assert_frame_equal(compact_quarantine, quarantine)
    assert compact_quarantine["row"].tolist() == [4, 11]
    clean = read_extract(write_mar(tmp_path, twenty_rows()), "mar", categorical=True)
    staged = stage_mar(clean, TZ, compact=True)
    all_kept, none = split_quarantine(staged, clean, validate_extract(staged, "mar").failures, "mar")
    assert none.empty and len(all_kept) == 20
    assert all_kept["route"].array is staged["route"].array  # no copy of the compact columns


def test_five_bad_rows_of_twenty(tmp_path: Path) -> None:
    """15 kept, 5 quarantined with their reasons and their original values."""
    rows = twenty_rows()
    rows[3] = rows[3].replace("iv_infusion", " IV_DRIP ")  # row 4: route
    rows[6] = rows[6].replace("2026-03-09 09:17", "9 March 9:17")  # row 7: time
    rows[10] = rows[10].replace("MRN011", "")  # row 11: no patient
    rows[14] = rows[13].replace("MRN014", "MRN015")  # row 15: repeats row 14
    rows[17] = rows[17].replace("2026-03-09T13:28:00Z", "2026-03-08 02:28").replace(
        ",125,", ",-125,"
    )  # row 18: DST gap and negative rate
    raw, kept, quarantine = pipeline(write_mar(tmp_path, rows))

    assert reconcile(raw, kept, quarantine) == {
        "rows_in": 20, "rows_kept": 15, "rows_quarantined": 5
    }
    assert quarantine["row"].tolist() == [4, 7, 11, 15, 18]
    assert set(kept["source_row"]).isdisjoint(quarantine["row"])
    assert list(quarantine.columns[:4]) == ["source", "row", "column", "reason"]
    assert (quarantine["source"] == "mar").all()
    by_row = quarantine.set_index("row")
    assert by_row.loc[4, "column"] == "route"
    assert by_row.loc[4, "reason"].startswith("route not in vocabulary (im_injection,")
    assert by_row.loc[4, "route"] == " IV_DRIP "  # original value, untrimmed
    assert by_row.loc[7, "reason"] == "event_time not parseable (expected ISO-8601 date and time)"
    assert by_row.loc[7, "event_time"] == "9 March 9:17"
    assert by_row.loc[11, "column"] == "patient_id"
    assert by_row.loc[11, "patient_id"] == ""
    assert by_row.loc[15, "reason"].startswith("duplicate of row 14 (same encounter_id,")
    assert by_row.loc[18, "column"] == "event_time;rate"
    assert by_row.loc[18, "reason"] == (
        "event_time is a nonexistent local time (skipped by the daylight-saving change "
        "in the facility time zone); rate negative"
    )
    assert by_row.loc[18, "rate"] == "-125"
    # Every raw column is there, as text; unknown columns too.
    assert list(quarantine.columns[4:]) == HEADER.split(",")
    assert by_row.loc[4, "unit_note"] == "mL/h"
    # Kept rows: staged columns without helpers, extras kept, input order.
    assert not set(schemas.MAR_HELPERS) & set(kept.columns)
    assert "unit_note" in kept.columns
    assert kept["source_row"].tolist() == [r for r in range(1, 21) if r not in {4, 7, 11, 15, 18}]
    assert list(kept.index) == list(range(15))


def test_all_rows_valid_gives_header_only_quarantine(tmp_path: Path) -> None:
    raw, kept, quarantine = pipeline(write_mar(tmp_path, twenty_rows()))
    assert len(kept) == 20 and quarantine.empty
    assert list(quarantine.columns) == ["source", "row", "column", "reason", *HEADER.split(",")]


def small_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.DataFrame(
        {
            "route": ["iv_push", "bad", None, "iv_push"],
            "reason": ["a", "b", "c", "d"],  # clashes with a contract column
            "source_row": np.array([1, 2, 3, 4], dtype="int64"),
        }
    )
    staged = raw.assign(duplicate_of=pd.array([pd.NA] * 4, dtype="Int64"))
    return staged, raw


def failures(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["source_row", "column", "reason"])


def test_reasons_and_columns_are_joined_per_row() -> None:
    staged, raw = small_frames()
    kept, q = split_quarantine(
        staged,
        raw,
        failures([(2, "route", "route not in vocabulary"), (3, "route", "route missing"),
                  (2, "event_time", "event_time missing"), (2, "route", "route again")]),
        "claims",
    )
    assert kept["source_row"].tolist() == [1, 4]
    assert "duplicate_of" not in kept.columns
    assert q["row"].tolist() == [2, 3]
    assert q["column"].tolist() == ["route;event_time", "route"]
    assert q["reason"].tolist() == [
        "route not in vocabulary; event_time missing; route again", "route missing"
    ]
    assert q["raw_reason"].tolist() == ["b", "c"]  # the raw column, renamed
    assert q["route"].tolist() == ["bad", ""]
    assert q["source"].tolist() == ["claims", "claims"]
    assert q["row"].dtype == np.int64


def _buffer(column: pd.Series) -> np.ndarray:
    """The numpy array holding a column's values (inside an extension array, if any)."""
    values = column.array
    return getattr(values, "_ndarray", getattr(values, "_data", None))


def test_kept_frame_without_failures_holds_the_staged_columns_without_a_copy() -> None:
    """No failed row: kept is the staged frame minus helpers, its columns the staged arrays themselves."""
    staged, raw = small_frames()
    staged = staged.assign(when=pd.to_datetime(["2026-03-09"] * 4, utc=True), rate=[1.0, np.nan, 2.0, 3.0])
    kept, q = split_quarantine(staged, raw, failures([]), "mar")
    assert q.empty
    assert list(kept.columns) == ["route", "reason", "source_row", "when", "rate"]  # duplicate_of dropped
    assert isinstance(kept.index, pd.RangeIndex) and list(kept.index) == [0, 1, 2, 3]
    expected = staged.drop(columns="duplicate_of")
    pd.testing.assert_frame_equal(kept, expected)
    for name in kept.columns:
        assert np.shares_memory(_buffer(kept[name]), _buffer(staged[name])), name
    # the same frame as taking every row (the path with failures)
    taken, _ = split_quarantine(staged, raw, failures([(3, "route", "route missing")]), "mar")
    pd.testing.assert_frame_equal(taken, expected.drop(index=2).reset_index(drop=True))


def test_kept_frame_of_a_frame_with_a_non_default_index_is_renumbered() -> None:
    staged, raw = small_frames()
    staged.index = pd.Index([10, 11, 12, 13])
    kept, _ = split_quarantine(staged, raw, failures([]), "claims")
    assert list(kept.index) == [0, 1, 2, 3]
    assert kept["source_row"].tolist() == [1, 2, 3, 4]
    assert staged.index.tolist() == [10, 11, 12, 13]  # the staged frame is left as it was


def test_unknown_failure_row_is_rejected() -> None:
    staged, raw = small_frames()
    with pytest.raises(ValueError, match="not in the input"):
        split_quarantine(staged, raw, failures([(9, "route", "x")]), "mar")


def test_staged_and_raw_must_match() -> None:
    staged, raw = small_frames()
    with pytest.raises(ValueError, match="same rows"):
        split_quarantine(staged.iloc[:3], raw, failures([]), "mar")


def test_reconcile_detects_lost_rows() -> None:
    assert reconcile(5, 3, 2) == {"rows_in": 5, "rows_kept": 3, "rows_quarantined": 2}
    with pytest.raises(AssertionError, match="rows in 5"):
        reconcile(5, 3, 1)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=30),
    data=st.data(),
)
def test_kept_plus_quarantined_is_rows_in(n: int, data: st.DataObject) -> None:
    """For any set of failing rows (repeated, any order) the counts reconcile."""
    raw = pd.DataFrame({"x": [str(i) for i in range(n)],
                        "source_row": np.arange(1, n + 1, dtype="int64")})
    bad = data.draw(st.lists(st.integers(1, n), max_size=3 * n)) if n else []
    f = failures([(r, "x", f"reason {i % 3}") for i, r in enumerate(bad)])
    kept, q = split_quarantine(raw.copy(), raw, f, "mar")
    assert len(kept) + len(q) == n
    assert set(q["row"]) == set(bad)
    assert set(kept["source_row"]).isdisjoint(q["row"])
