"""The Arrow CSV writer (transforms/outputs/csv_cells.py) writes what pandas' ``to_csv(index=False)`` writes.

Every run CSV must be byte-identical to pandas' output: each case writes a
frame both ways and compares the bytes, with the cells pandas' csv module
quotes (separator, quote, newline; a lone carriage return is not quoted),
floats in numpy's shortest text, missing values of every kind, dates in an
object column, and the frames the writer leaves to pandas.
"""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest

from transforms.outputs.csv_cells import cells_frame, frame_cells, rows_holding, take_cells, write_frame
from transforms.outputs.files import as_csv_text
from transforms.outputs.worklist import neutralise_formulas

TEXTS = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\ronly", "crlf\r\n", "", " lead", "tab\tin",
         "=SUM(A1)", "+1 555", "-3", "@cmd", "\tstart", "\rstart", "é,ü \u00b7 \u2014", None]


def _frame() -> pd.DataFrame:
    n = len(TEXTS)
    return pd.DataFrame({
        "text": pd.Series(TEXTS, dtype=object),
        "ints": np.arange(n, dtype="int64") - 5,
        "floats": pd.Series([0.1, 1.0, -0.0, 1e-05, 1e20, 123456789.123, np.nan, np.inf, 2.5e-07, 3.0, -4.5,
                             0.0, 1e16, 7.25, np.nan, 0.3, 100.0]),
        "bools": np.arange(n) % 2 == 0,
        "dates": pd.Series([dt.date(2026, 11, 2)] * (n - 1) + [None], dtype=object),
        "missing": pd.Series([None, np.nan, pd.NA] + ["x"] * (n - 3), dtype=object),
        "empty": pd.Series([None] * n, dtype=object),
    })


def _pandas_bytes(frame: pd.DataFrame, formula_safe: bool) -> bytes:
    out = io.BytesIO()
    (neutralise_formulas(frame) if formula_safe else frame).to_csv(out, index=False)
    return out.getvalue()


@pytest.mark.parametrize("formula_safe", [True, False])
def test_bytes_equal_pandas_to_csv(tmp_path, formula_safe):
    frame = _frame()
    path = tmp_path / "out.csv"
    cells = write_frame(frame, path, formula_safe=formula_safe)
    assert cells is not None  # written by the Arrow writer, not handed to pandas
    assert path.read_bytes() == _pandas_bytes(frame, formula_safe)


def test_cells_are_what_a_reread_gives(tmp_path):
    frame = _frame()
    cells = write_frame(frame, tmp_path / "out.csv")
    pd.testing.assert_frame_equal(cells_frame(frame.columns, cells), as_csv_text(neutralise_formulas(frame)))
    # A lone carriage return is written unquoted (as pandas does), so read_csv splits its row: leave it out.
    no_cr = frame[~frame["text"].fillna("").str.contains("\r", regex=False)].reset_index(drop=True)
    cells = write_frame(no_cr, tmp_path / "no_cr.csv")
    back = pd.read_csv(tmp_path / "no_cr.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(cells_frame(no_cr.columns, cells), back)


def test_formula_cells_get_a_quote_and_numbers_do_not(tmp_path):
    frame = pd.DataFrame({"text": ["=1+1", "-x", "ok"], "n": [-1, -2, 3]})
    write_frame(frame, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text() == "text,n\n'=1+1,-1\n'-x,-2\nok,3\n"


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"only": ["", "a", None]}),                                  # one column: "" is quoted by csv
    pd.DataFrame({"a": ["x", 1.5], "b": [1, 2]}),                             # text mixed with a float
    pd.DataFrame({"a": pd.to_datetime(["2026-01-01", None]), "b": [1, 2]}),   # datetime column
    pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": ["x", "y"]}),  # extension dtype
])
def test_frames_not_modelled_are_written_by_pandas(tmp_path, frame):
    assert frame_cells(frame) is None
    path = tmp_path / "out.csv"
    assert write_frame(frame, path) is None
    assert path.read_bytes() == _pandas_bytes(frame, True)


def test_header_only_and_quoted_header(tmp_path):
    frame = pd.DataFrame({"a,b": pd.Series([], dtype=object), 'q"': pd.Series([], dtype="int64")})
    path = tmp_path / "out.csv"
    write_frame(frame, path)
    assert path.read_bytes() == _pandas_bytes(frame, True)


def test_rows_holding_finds_ascii_only():
    import pyarrow as pa
    cells = pa.array(["a,b", "", "é", "x\ny", "plain", '"'], type=pa.large_string())
    assert rows_holding(cells, ',"\n').tolist() == [True, False, False, True, False, True]
    assert rows_holding(cells.slice(2), ',"\n').tolist() == [False, True, False, True]


def test_take_cells_are_the_cells_of_the_rows_taken():
    frame = _frame()
    cells = frame_cells(frame)
    order = np.array([5, 0, 16, 3, 3])
    taken = take_cells(cells, order)
    rows = frame.iloc[order].reset_index(drop=True)
    pd.testing.assert_frame_equal(cells_frame(frame.columns, taken), as_csv_text(neutralise_formulas(rows)))
    mask = np.arange(len(frame)) % 3 == 0  # a bool mask keeps those rows, in order
    pd.testing.assert_frame_equal(cells_frame(frame.columns, take_cells(cells, mask)),
                                  as_csv_text(neutralise_formulas(frame[mask].reset_index(drop=True))))
    assert len(take_cells(cells, np.zeros(len(frame), dtype=bool))[0].cells) == 0


def test_rows_written_in_blocks_are_the_same_bytes(tmp_path, monkeypatch):
    import transforms.outputs.csv_cells as csv_cells

    frame = _frame()
    monkeypatch.setattr(csv_cells, "ROWS_PER_BLOCK", 4)  # 17 rows: four full blocks and one of a row
    write_frame(frame, tmp_path / "blocks.csv")
    assert (tmp_path / "blocks.csv").read_bytes() == _pandas_bytes(frame, True)


def test_column_sources_make_each_block_as_the_whole_column_would():
    from transforms.outputs.csv_cells import column_cells, frame_sources

    frame = _frame()
    whole = frame_cells(frame)
    sources = frame_sources(frame)
    for source, column in zip(sources, whole):
        blocks = [source(a, min(a + 5, len(frame))) for a in range(0, len(frame), 5)]
        assert sum((b.cells.to_pylist() for b in blocks), []) == column.cells.to_pylist()
    # Columns picked by position, in another order: no reordered copy needed, same cells.
    picked = frame_sources(frame, positions=[4, 0])
    assert picked[0](0, len(frame)).cells.to_pylist() == column_cells(frame["dates"]).cells.to_pylist()
    assert picked[1](0, len(frame)).cells.to_pylist() == whole[0].cells.to_pylist()
    assert frame_sources(frame, positions=[1]) is None  # one column: pandas writes it


def test_write_blocks_returns_the_cells_of_the_rows_kept(tmp_path, monkeypatch):
    import transforms.outputs.csv_cells as csv_cells

    frame = _frame()
    monkeypatch.setattr(csv_cells, "ROWS_PER_BLOCK", 4)  # the kept rows come from several blocks
    keep = np.isin(np.arange(len(frame)), [1, 2, 9, 16])
    kept = csv_cells.write_blocks(list(frame.columns), csv_cells.frame_sources(frame), len(frame),
                                  tmp_path / "out.csv", keep)
    assert (tmp_path / "out.csv").read_bytes() == _pandas_bytes(frame, True)
    pd.testing.assert_frame_equal(cells_frame(frame.columns, kept),
                                  as_csv_text(neutralise_formulas(frame[keep].reset_index(drop=True))))
    every = csv_cells.write_blocks(list(frame.columns), csv_cells.frame_sources(frame), len(frame),
                                   tmp_path / "all.csv")
    pd.testing.assert_frame_equal(cells_frame(frame.columns, every), as_csv_text(neutralise_formulas(frame)))
    empty = frame.iloc[:0]
    none = csv_cells.write_blocks(list(frame.columns), csv_cells.frame_sources(empty), 0, tmp_path / "empty.csv")
    assert (tmp_path / "empty.csv").read_bytes() == _pandas_bytes(empty, True) and len(none[0].cells) == 0


def test_first_of_each_marks_the_first_row_of_each_distinct_cell():
    import pyarrow as pa

    from transforms.outputs.csv_cells import first_of_each

    cells = pa.array(["b", "a", "b", "", "a", "c", ""], type=pa.large_string())
    assert first_of_each(cells).tolist() == [True, True, False, True, False, True, False]
    assert first_of_each(pa.array([], type=pa.large_string())).tolist() == []


def test_first_of_each_skips_cells_seen_in_earlier_blocks():
    import pyarrow as pa

    from transforms.outputs.csv_cells import first_of_each

    seen: set[str] = set()
    first = pa.array(["d1", "d2", "d1"], type=pa.large_string())
    second = pa.array(["d2", "d3", "d1", "d3"], type=pa.large_string())
    assert first_of_each(first, seen).tolist() == [True, True, False]
    assert first_of_each(second, seen).tolist() == [False, True, False, False]  # d1, d2 came before
    assert seen == {"d1", "d2", "d3"}


def test_write_text_blocks_keeps_rows_asked_block_by_block(tmp_path, monkeypatch):
    import transforms.outputs.csv_cells as csv_cells

    frame = _frame()
    monkeypatch.setattr(csv_cells, "ROWS_PER_BLOCK", 4)  # 17 rows: five blocks
    asked = []

    def keep(block):  # the rows whose ints are even, told block by block
        asked.append(len(block[0].cells))
        return np.array([int(c) % 2 == 0 for c in block[1].cells.to_pylist()])
    kept = csv_cells.write_text_blocks(frame.columns, csv_cells.frame_sources(frame), len(frame),
                                       tmp_path / "out.csv", keep)
    assert (tmp_path / "out.csv").read_bytes() == _pandas_bytes(frame, True)
    assert asked == [4, 4, 4, 4, 1]
    rows = frame[frame["ints"] % 2 == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, as_csv_text(neutralise_formulas(rows)))
    every = csv_cells.write_text_blocks(frame.columns, csv_cells.frame_sources(frame), len(frame),
                                        tmp_path / "all.csv")
    pd.testing.assert_frame_equal(every, as_csv_text(neutralise_formulas(frame)))
    none = csv_cells.write_text_blocks(frame.columns, csv_cells.frame_sources(frame.iloc[:0]), 0,
                                       tmp_path / "empty.csv")
    assert list(none.columns) == list(frame.columns) and len(none) == 0
    assert (tmp_path / "empty.csv").read_bytes() == _pandas_bytes(frame.iloc[:0], True)


def test_blocks_follow_the_bytes_per_row(tmp_path, monkeypatch):
    import transforms.outputs.csv_cells as csv_cells

    frame = pd.DataFrame({"wide": ["x" * 90] * 50, "n": np.arange(50)})  # 95 bytes per row
    monkeypatch.setattr(csv_cells, "_FIRST_BLOCK_ROWS", 5)
    monkeypatch.setattr(csv_cells, "BLOCK_BYTES", 950)  # ten rows' text per block
    sizes = []
    blocks = csv_cells._written_blocks(list(frame.columns), csv_cells.frame_sources(frame), len(frame),
                                       tmp_path / "out.csv")
    for block, start in blocks:
        sizes.append((start, len(block[0].cells)))
    assert sizes == [(0, 5), (5, 10), (15, 10), (25, 10), (35, 10), (45, 5)]
    assert (tmp_path / "out.csv").read_bytes() == _pandas_bytes(frame, True)


def test_taken_text_source_writes_written_cells_in_another_order(tmp_path, monkeypatch):
    import transforms.outputs.csv_cells as csv_cells

    frame = _frame()
    monkeypatch.setattr(csv_cells, "ROWS_PER_BLOCK", 3)  # the rows taken in several blocks
    text = csv_cells.write_text_blocks(frame.columns, csv_cells.frame_sources(frame), len(frame),
                                       tmp_path / "out.csv")
    order = np.array([16, 2, 2, 0, 9, 3, 1])  # written again in another order: the worklist's way
    sources = [csv_cells.taken_text_source(text.iloc[:, i].to_numpy(), order) for i in range(frame.shape[1])]
    csv_cells.write_blocks(list(frame.columns), sources, len(order), tmp_path / "taken.csv", returns=False)
    assert (tmp_path / "taken.csv").read_bytes() == _pandas_bytes(frame.iloc[order], True)


def test_release_freed_memory_trims_and_keeps_cells_intact(tmp_path):
    import transforms.outputs.csv_cells as csv_cells

    frame = _frame()
    kept = csv_cells.write_text_blocks(frame.columns, csv_cells.frame_sources(frame), len(frame),
                                       tmp_path / "out.csv")
    csv_cells.release_freed_memory()  # returned cells are not freed memory: still readable, unchanged
    pd.testing.assert_frame_equal(kept, as_csv_text(neutralise_formulas(frame)))
