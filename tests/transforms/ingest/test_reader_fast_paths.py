"""The readers' fast paths give exactly what the plain pandas paths give.

* CSV: Arrow reads the files both readers read alike; every other file
  (short / long rows, a cut-off quote, NUL bytes, a quoted header) falls back
  to pandas, whose frame and error messages are the reference.
* Text cells: ``_text`` / ``_lower`` / ``_upper`` equal ``frames.text`` /
  ``frames.lower`` on whitespace Python strips and Arrow does not (NBSP,
  ``\\x1c``, ...).
* Event times: parsed once per distinct text, the same as parsed per cell.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transforms.frames import lower, text
from transforms.ingest import readers
from transforms.ingest.readers import ExtractError

HEADER = "a,b,c\n"
CLEAN = {
    "plain": "1,2,3\n4,5,6\n",
    "no final line break": "1,2,3\n4,5,6",
    "empty cells": ",,\n1,,3\n",
    "quoted cells": '"x, y","he said ""hi""","two\nlines"\n1,2,3\n',
    "quoted empty cells": '"",2,""\n',
    "CRLF": "1,2,3\r\n4,5,6\r\n",
    "CR only": "1,2,3\r4,5,6\r",
    "blank lines": "1,2,3\n\n\n4,5,6\n",
    "padded cells": " 1 , 2 ,3 \n",
    "quote inside an unquoted cell": 'ab"c,"d"e,f\n',
    "non-ASCII": "é,\u00a0x\u00a0,日本\n",
    "header only": "",
    "last cell quoted": '1,2,"3"\n',
}
FALL_BACK = {
    "short row": "1,2\n3,4,5\n",
    "long row": "1,2,3,4\n",
    "cut inside a quoted last cell": '1,2,"abc\n',
    "cut inside a quoted cell, no line break": '1,2,"abc',
    "cut right after an opening quote": '1,2,"',
    "NUL byte": "1,\x002,3\n",
    "whitespace-only line": "1,2,3\n   \n4,5,6\n",
}


def pandas_read(path: Path) -> pd.DataFrame | str:
    """The reference: ``_read_csv`` with the Arrow path switched off (a frame, or the error text)."""
    saved = readers._csv_body_arrow
    readers._csv_body_arrow = lambda *args: None
    try:
        return readers._read_csv(path)
    except ExtractError as err:
        return str(err)
    finally:
        readers._csv_body_arrow = saved


def write(tmp_path: Path, body: str, *, bom: bool, gz: bool) -> Path:
    data = (("\ufeff" if bom else "") + HEADER + body).encode("utf-8")
    path = tmp_path / ("x.csv.gz" if gz else "x.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("name", sorted(CLEAN))
def test_arrow_reads_clean_files_like_pandas(tmp_path: Path, name: str, bom: bool, gz: bool) -> None:
    path = write(tmp_path, CLEAN[name], bom=bom, gz=gz)
    fast = readers._csv_body_arrow(path, gz, ["a", "b", "c"])
    assert fast is not None, "the fast path should read this file"
    pd.testing.assert_frame_equal(fast, pandas_read(path))
    pd.testing.assert_frame_equal(readers._read_csv(path), pandas_read(path))


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", sorted(FALL_BACK))
def test_other_files_fall_back_to_pandas(tmp_path: Path, name: str, gz: bool) -> None:
    path = write(tmp_path, FALL_BACK[name], bom=False, gz=gz)
    assert readers._csv_body_arrow(path, gz, ["a", "b", "c"]) is None
    reference = pandas_read(path)
    if isinstance(reference, str):
        with pytest.raises(ExtractError) as err:
            readers._read_csv(path)
        assert str(err.value) == reference
    else:
        pd.testing.assert_frame_equal(readers._read_csv(path), reference)


def test_cut_quoted_cell_is_still_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '1,2,"abc\n', bom=False, gz=False)
    with pytest.raises(ExtractError, match="EOF inside string"):
        readers._read_csv(path)


def tricky_cells(n: int = 5000) -> pd.Series:
    rng = random.Random(0)
    alphabet = ["a", "Z", "1", " ", "\t", "\n", "\x0b", "\x1c", "\x1f", "\xa0", "\u2007", "\u3000", "é", "İ",
                "ß", "-", ",", "\u200b", "\x85", "\r", "\u202f"]
    cells = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5))) for _ in range(n)]
    return pd.Series([*cells, None, np.nan, "abc", " abc ", ""], dtype=object)


def test_text_lower_upper_equal_the_python_rule() -> None:
    cells = tricky_cells()
    pd.testing.assert_series_equal(readers._text(cells), text(cells))
    pd.testing.assert_series_equal(readers._lower(cells), lower(cells))
    trimmed = text(cells)
    pd.testing.assert_series_equal(readers._upper(cells), trimmed.where(trimmed.isna(), trimmed.str.upper()))
    for other in (pd.Series([1.0, np.nan, 2.5]), pd.Series([1, 2]), pd.Series(["a", 1, None], dtype=object),
                  pd.Series([None, None], dtype=object), pd.Series([], dtype=object)):
        pd.testing.assert_series_equal(readers._text(other), text(other))


def test_event_times_parsed_once_per_distinct_text_equal_per_cell() -> None:
    times = ["2026-11-01T01:30:00", "2026-03-08T02:30:00", "2026-11-02T09:03:00-05:00", "2026-11-02 09:03:00 z",
             "2026-11-02T09:03", "2026-11-02", "garbage", None, " 2026-11-02T09:03:00+0000 ",
             "2026-11-02T09:03:00.123456789", "2026-11-02T09:03:00\u00a0-05:00"]
    values = pd.Series(times * 3, dtype=object, index=range(100, 100 + 3 * len(times)))
    utc, nonexistent = readers._to_utc(values, "America/New_York")
    per_cell_utc, per_cell_nonexistent = readers._parse_times(values, "America/New_York")
    pd.testing.assert_series_equal(utc, per_cell_utc)
    pd.testing.assert_series_equal(nonexistent, per_cell_nonexistent)
    assert nonexistent.sum() == 3 and utc.notna().sum() == 3 * 7
