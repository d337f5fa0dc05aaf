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
from transforms.ingest import file_reading, readers
from transforms.ingest.file_reading import ExtractError

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
    saved = file_reading._csv_body_arrow
    file_reading._csv_body_arrow = lambda *args: None
    try:
        return file_reading._read_csv(path)
    except ExtractError as err:
        return str(err)
    finally:
        file_reading._csv_body_arrow = saved


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
    fast = file_reading._csv_body_arrow(path, gz, ["a", "b", "c"])
    assert fast is not None, "the fast path should read this file"
    pd.testing.assert_frame_equal(fast, pandas_read(path))
    pd.testing.assert_frame_equal(file_reading._read_csv(path), pandas_read(path))


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", sorted(FALL_BACK))
def test_other_files_fall_back_to_pandas(tmp_path: Path, name: str, gz: bool) -> None:
    path = write(tmp_path, FALL_BACK[name], bom=False, gz=gz)
    assert file_reading._csv_body_arrow(path, gz, ["a", "b", "c"]) is None
    reference = pandas_read(path)
    if isinstance(reference, str):
        with pytest.raises(ExtractError) as err:
            file_reading._read_csv(path)
        assert str(err.value) == reference
    else:
        pd.testing.assert_frame_equal(file_reading._read_csv(path), reference)


def test_cut_quoted_cell_is_still_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '1,2,"abc\n', bom=False, gz=False)
    with pytest.raises(ExtractError, match="EOF inside string"):
        file_reading._read_csv(path)


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


# --- Categorical raw frames (the loader's) and block-wise reading -------------
QUESTION = Path(__file__).resolve().parents[2] / "fixtures" / "question"


def as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """A categorical raw frame as the plain read gives it: ``str`` / ``None`` objects."""
    return pd.DataFrame({c: readers._as_read(frame[c]) for c in frame.columns}, index=frame.index)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", sorted(CLEAN))
def test_categorical_read_holds_the_same_cells(tmp_path: Path, name: str, gz: bool) -> None:
    path = write(tmp_path, CLEAN[name], bom=True, gz=gz)
    coded = file_reading._read_csv(path, categorical=True)
    plain = file_reading._read_csv(path)
    assert all(isinstance(coded[c].dtype, pd.CategoricalDtype) for c in coded.columns)
    assert all(coded[c].cat.categories.is_unique and "" not in set(coded[c].cat.categories) for c in coded)
    pd.testing.assert_frame_equal(as_objects(coded), plain)


def test_categorical_falls_back_to_objects_where_arrow_does_not_read(tmp_path: Path) -> None:
    path = write(tmp_path, FALL_BACK["short row"], bom=False, gz=False)
    coded = file_reading._read_csv(path, categorical=True)
    assert list(coded.dtypes) == [object] * 3
    pd.testing.assert_frame_equal(coded, pandas_read(path))


def test_blocks_keep_one_code_per_text_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [f"E{i % 7},{'' if i % 5 == 0 else f' v{i % 3} '},\"x, {i % 11}\"\n" for i in range(400)]
    path = write(tmp_path, "".join(rows), bom=False, gz=False)
    monkeypatch.setattr(file_reading, "_BLOCK", 256)  # about 16 blocks, each with its own dictionary
    columns = file_reading._arrow_columns(path, False, 3)
    assert columns is not None and columns[0].num_chunks > 10
    codes, distinct = file_reading._dictionary_codes(columns[1])
    assert sorted(distinct) == [" v0 ", " v1 ", " v2 "] and codes.dtype == np.int32
    assert (codes == -1).sum() == 80 and list(distinct[codes[1:4]]) == [" v1 ", " v2 ", " v0 "]
    coded = file_reading._read_csv(path, categorical=True)
    assert len(coded["a"].cat.categories) == 7 and len(coded["c"].cat.categories) == 11
    pd.testing.assert_frame_equal(as_objects(coded), pandas_read(path))
    pd.testing.assert_frame_equal(file_reading._read_csv(path), pandas_read(path))


def test_encode_blocks_keeps_file_order_and_each_blocks_own_dictionary() -> None:
    import pyarrow as pa  # the batches a CSV reader yields, here built by hand

    batches = [pa.record_batch([pa.array([f"r{b}-{i % 3}" if i % 4 else None for i in range(9)]),
                                pa.array([str(b * 9 + i) for i in range(9)])], names=["c0", "c1"])
               for b in range(12)]
    blocks: list[list[pa.DictionaryArray]] = [[], []]
    file_reading._encode_blocks(iter(batches), blocks)  # type: ignore[arg-type]
    assert [len(column) for column in blocks] == [12, 12]
    for b, (batch, first, second) in enumerate(zip(batches, *blocks)):
        assert first.equals(batch.column(0).dictionary_encode())
        assert first.dictionary.to_pylist() == [f"r{b}-1", f"r{b}-2", f"r{b}-0"]  # this block's texts only
        assert second.dictionary_decode().equals(batch.column(1))
    assert [int(s) for column in blocks[1] for s in column.dictionary.to_pylist()] == list(range(108))


def test_converted_columns_keeps_column_order_and_hands_each_column_over() -> None:
    import pyarrow as pa

    encoded = pa.dictionary(pa.int32(), pa.string())
    chunks = [pa.array(["x", "y", "x", None]).dictionary_encode(), pa.array(["z", "x"]).dictionary_encode()]
    big = pa.chunked_array([pa.array([f"id{i}" for i in range(50)]).dictionary_encode()], type=encoded)
    cells = [pa.chunked_array(chunks, type=encoded), big, pa.chunked_array(chunks[1:], type=encoded)]
    out = file_reading._converted_columns(cells, file_reading._cell_objects)  # type: ignore[arg-type]
    assert cells == [None, None, None]  # handed over: nothing keeps the Arrow buffers
    assert list(out[0]) == ["x", "y", "x", None, "z", "x"] and list(out[2]) == ["z", "x"]
    assert list(out[1]) == [f"id{i}" for i in range(50)]
    with pytest.raises(ZeroDivisionError):
        file_reading._converted_columns([big], lambda codes, distinct: 1 / 0)  # type: ignore[list-item]


def test_arrow_can_read_checks_header_quotes_and_nul_in_every_block() -> None:
    assert file_reading._arrow_can_read(iter([b"a,b\n1,2\n", b"3,4\n"]))
    assert file_reading._arrow_can_read(iter([b"a,b"]))  # header only, no line break
    assert not file_reading._arrow_can_read(iter([b'"a",b\n1,2\n']))
    assert file_reading._arrow_can_read(iter([b'a,b\n"1",2\n']))  # quotes below the header are Arrow's
    assert not file_reading._arrow_can_read(iter([b"a,b\n1,2\n", b"3,\x004\n"]))
    assert not file_reading._arrow_can_read(iter([b"a" * file_reading._BLOCK, b"\n"]))  # header longer than a block


def test_file_end_reads_enough_of_the_end(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 50_000)
    end = file_reading._file_end(path, 4)
    assert len(end) == 4 + 65536 and path.read_bytes().endswith(end)
    assert file_reading._ends_cleanly(end, "2")
    path.write_bytes(b"a,b\n1,\"22\"" + b"\r\n" * 40_000)  # the last cell is 80 KB before the end
    end = file_reading._file_end(path, 5)
    assert end == path.read_bytes() and file_reading._ends_cleanly(end, "22")
    assert not file_reading._ends_cleanly(file_reading._file_end(path, 5), "2")


@pytest.mark.parametrize("kind, name", [("mar", "mar_one_mixed_bag.csv"), ("claims", "claims_96365_96368.csv")])
def test_staging_a_categorical_raw_frame_equals_staging_objects(kind: str, name: str) -> None:
    path = QUESTION / name
    coded = readers.read_extract(path, kind, categorical=True)  # type: ignore[arg-type]
    plain = readers.read_extract(path, kind)  # type: ignore[arg-type]
    assert isinstance(coded["encounter_id"].dtype, pd.CategoricalDtype)
    extra = "note"  # an unknown extra column stays str / None in the staged frame
    coded[extra] = pd.Categorical([None if i % 2 else f" n{i % 3}" for i in range(len(coded))])
    plain[extra] = [None if i % 2 else f" n{i % 3}" for i in range(len(plain))]
    if kind == "mar":
        staged, reference = readers.stage_mar(coded, "America/New_York"), readers.stage_mar(plain, "America/New_York")
    else:
        staged, reference = readers.stage_claims(coded), readers.stage_claims(plain)
    assert len(staged) > 1 and staged[extra].dtype == object
    pd.testing.assert_frame_equal(staged, reference)
    # built without copying, yet no staged column of values is the raw frame's own array;
    # source_row is: the raw frame is only read after staging, so one int64 array serves both
    assert not np.shares_memory(reference[extra].to_numpy(), plain[extra].to_numpy())
    assert np.shares_memory(reference["source_row"].to_numpy(), plain["source_row"].to_numpy())
    assert np.shares_memory(staged["source_row"].to_numpy(), coded["source_row"].to_numpy())
