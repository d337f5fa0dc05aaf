"""Facility wall-clock text of administrations.csv (transforms/outputs/wall_text.py) equals strftime's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transforms.outputs.wall_text import wall_time_cells, wall_time_text

INSTANTS = ["2026-11-01 05:59:59.9Z", "2026-11-01 06:00:00Z", "2026-03-08 06:59:00Z", "2026-03-08 07:00:00Z",
            None, "1850-01-01 12:00Z", "1969-12-31 23:59:59.5Z", "2262-04-10 12:00Z", "1700-01-01 12:00Z"]


def _strftime(stamps: pd.Series, tz: str) -> list[object]:
    """The definition: strftime of each instant on the facility clock, NaN when missing."""
    local = stamps.dt.tz_convert(tz)
    return [t.strftime("%Y-%m-%dT%H:%M:%S%z") if not pd.isna(t) else np.nan for t in local]


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata", "UTC", "America/St_Johns", "Pacific/Chatham"])
def test_equals_strftime(tz):
    stamps = pd.Series(pd.to_datetime(INSTANTS, utc=True, format="mixed"), index=[9, 3, 1, 2, 4, 8, 7, 6, 5])
    text = wall_time_text(stamps, tz)
    assert text.index.equals(stamps.index)
    got, want = text.tolist(), _strftime(stamps, tz)
    assert [g if isinstance(g, str) else "NA" for g in got] == [w if isinstance(w, str) else "NA" for w in want]
    assert wall_time_cells(stamps, tz).null_count == 1


def test_dst_fall_back_keeps_both_offsets():
    stamps = pd.Series(pd.to_datetime(["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"], utc=True))
    assert wall_time_text(stamps, "America/New_York").tolist() == [
        "2026-11-01T01:30:00-0400", "2026-11-01T01:30:00-0500"]


def test_text_input_and_years_outside_four_digits():
    text = pd.Series(["2026-11-02T14:03:00Z", None])
    assert wall_time_text(text, "America/New_York").iloc[0] == "2026-11-02T09:03:00-0500"
    far = pd.Series(np.array(["0999-06-01T00:00:00"], dtype="datetime64[s]")).dt.tz_localize("UTC")
    assert wall_time_text(far, "UTC").tolist() == ["0999-06-01T00:00:00+0000"]
    assert wall_time_text(pd.Series([], dtype="datetime64[ns, UTC]"), "UTC").empty


def test_repeated_instants_each_row_its_own_text():
    # Each distinct instant is formatted once: every row must still get the text of its own instant.
    base = pd.to_datetime(["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-03-08T07:00:00Z"], utc=True)
    stamps = pd.Series(base[[2, 0, 1, 0, 2, 2]].append(pd.DatetimeIndex([pd.NaT], tz="UTC")), index=range(20, 27))
    text = wall_time_text(stamps, "America/New_York")
    assert text.iloc[:6].tolist() == ["2026-03-08T03:00:00-0400", "2026-11-01T01:30:00-0400",
                                      "2026-11-01T01:30:00-0500", "2026-11-01T01:30:00-0400",
                                      "2026-03-08T03:00:00-0400", "2026-03-08T03:00:00-0400"]
    assert pd.isna(text.iloc[6]) and text.index.equals(stamps.index)
    assert wall_time_cells(pd.Series([None, None], dtype=object), "UTC").null_count == 2


def test_codes_and_distinct_text_give_the_cells_of_any_rows():
    from transforms.outputs.wall_text import time_cells, wall_time_codes

    stamps = pd.Series(pd.to_datetime(["2026-11-01T05:30:00Z", None, "2026-11-01T06:30:00Z",
                                       "2026-11-01T05:30:00Z"], utc=True))
    codes, text = wall_time_codes(stamps, "America/New_York")
    assert codes.tolist() == [0, -1, 1, 0] and len(text) == 2  # each distinct instant formatted once
    assert time_cells(codes, text).to_pylist() == wall_time_cells(stamps, "America/New_York").to_pylist()
    assert time_cells(codes[2:], text).to_pylist() == ["2026-11-01T01:30:00-0500", "2026-11-01T01:30:00-0400"]
