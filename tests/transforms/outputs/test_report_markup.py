"""Vectorised pieces of the report markup (transforms/outputs/report_markup.py) equal their per-value forms."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from transforms.outputs.report_markup import (
    concat_text, day_labels, esc, esc_series, format_numbers, join_by_group, num, to_number,
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
