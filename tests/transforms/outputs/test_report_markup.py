"""Vectorised pieces of the report markup (transforms/outputs/report_markup.py) equal their per-value forms."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

import pyarrow as pa

from transforms.outputs.report_markup import (
    as_text, by_distinct, concat_text, day_labels, esc, esc_series, esc_text, format_numbers, join_by_group, num,
    to_number,
)


def test_esc_series_is_esc_of_each_value():
    values = pd.Series(["a&b", "<i>", '"q"', "it's", None, np.nan, "plain", "&amp;"], index=list("abcdefgh"))
    assert esc_series(values).tolist() == [esc(v) for v in values]
    assert esc_series(values).index.equals(values.index)
    mixed = pd.Series([1, 2.5, True, None, "<x>"], dtype=object)
    assert esc_series(mixed).tolist() == ["1", "2.5", "True", "", "&lt;x&gt;"]
    assert esc_series(pd.Series(["x'y"])).iloc[0] == html.escape("x'y", quote=True)


def test_format_numbers_keeps_negative_zero_and_nan():
    values = np.array([0.0, -0.0, 1.5, np.nan, 0.0, 1234.5])
    assert list(format_numbers(values, "+g")) == [format(v, "+g") for v in values]
    assert list(format_numbers(values, ",.2f")) == [format(v, ",.2f") for v in values]
    assert list(format_numbers(np.array([]), "g")) == []


def test_num_and_to_number_parse_each_distinct_text_the_same():
    text = pd.Series(["1", "2.5", "", "x", "1", None, "-3"], index=range(10, 17))
    assert to_number(text).tolist()[:2] == [1.0, 2.5]
    pd.testing.assert_series_equal(num(text), pd.to_numeric(text, errors="coerce").fillna(0.0).astype(float))


def test_day_labels_per_distinct_value():
    values = pd.Series(["2026-11-02", "2026-11-03", "2026-11-02", "not a date"])
    d = pd.to_datetime(values, errors="coerce")
    assert day_labels(values) == list(np.where(d.notna(), d.dt.strftime("%Y-%m-%d"), values))


def test_concat_text_and_join_by_group():
    a, b = pd.Series(["x", "y", "z"]), np.array(["1", "2", "3"], dtype=object)
    assert concat_text(["<", a, "|", b, ">"]) == "<x|1><y|2><z|3>"
    assert concat_text(["<", pd.Series([], dtype=object), ">"]) == ""
    assert join_by_group(np.array(["a", "b", "c", "d"], dtype=object), np.array([1, 0, 1, 0]), 3) == ["bd", "ac", ""]


def test_esc_text_is_esc_series_as_arrow_and_concat_takes_it():
    values = pd.Series(["a&b", None, "<i>", "x'y"], index=[7, 3, 5, 1])
    text = esc_text(values)
    assert isinstance(text, pa.Array) and text.null_count == 0
    assert text.to_pylist() == esc_series(values).tolist() == ["a&amp;b", "", "&lt;i&gt;", "x&#x27;y"]
    small = pa.array(["1", "2", "3", "4"])  # 32-bit offsets: widened for the join
    assert concat_text(["[", text, "|", small, "]"]) == "[a&amp;b|1][|2][&lt;i&gt;|3][x&#x27;y|4]"


def test_by_distinct_equals_building_every_row():
    calls = []

    def build(s: pd.Series) -> pd.Series:
        calls.append(len(s))
        return "<" + s.astype(str) + ">"

    keys = pd.Series(["b", "a", "b", "b", "c", "a"], index=list("uvwxyz"))
    out = by_distinct(keys, build)
    assert out.tolist() == ["<b>", "<a>", "<b>", "<b>", "<c>", "<a>"] and out.index.equals(keys.index)
    assert calls == [3]  # built for the three distinct keys only
    # hash-equal values that print differently, or a missing value: built row by row
    mixed = pd.Series([1, True, 1.0, None], dtype=object)
    assert by_distinct(mixed, build).tolist() == ["<1>", "<True>", "<1.0>", "<None>"]
    assert calls[-1] == 4


def test_as_text_is_astype_str_without_copying_text():
    text = pd.Series(["E1", "E2"], index=[4, 2])
    assert as_text(text) is text
    for other in (pd.Series(["E1", None]), pd.Series([1, 2]), pd.Series(["E1", 3], dtype=object)):
        pd.testing.assert_series_equal(as_text(other), other.astype(str))


def test_concat_utf8_is_the_utf8_of_concat_text():
    from transforms.outputs.report_markup import concat_utf8

    a = pd.Series(["é", "x", "\u2014"])
    pieces = ["<", a, "|", esc_text(pd.Series(["a&b", None, "z"])), ">"]
    assert bytes(concat_utf8(pieces)) == "<é|a&amp;b><x|><\u2014|z>".encode("utf-8")
    assert bytes(concat_utf8(["only ", "constants"])) == b"only constants"
    assert bytes(concat_utf8(["<", pd.Series([], dtype=object), ">"])) == b""
