"""Tests of the vectorised helpers of :mod:`transforms.frames` added for speed:
each is checked against the plain pandas / Python computation it replaces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transforms.frames import (
    expand_text,
    first_rows,
    distinct_pairs,
    is_text_categorical,
    text_order,
    join_distinct,
    join_groups,
    join_runs,
    join_unique,
    minute_text,
    overlapping_pairs,
    run_starts,
    run_starts_multi,
    select_labels,
    wall_minutes,
)


def test_join_runs_joins_each_run_and_keeps_single_values() -> None:
    values = np.array(["a", "b", "c", "d", "e"], dtype=object)
    assert join_runs(values, np.array([0, 2, 3]), "+").tolist() == ["a+b", "c", "d+e"]
    assert join_runs(values, np.arange(5), "+").tolist() == values.tolist()
    assert join_runs(values[:0], np.array([], dtype=int), "+").tolist() == []


def test_run_starts_single_and_multi_key() -> None:
    assert run_starts(np.array([1, 1, 2, 2, 2, 5])).tolist() == [0, 2, 5]
    assert run_starts(np.array([])).tolist() == []
    keys = np.array([[0, 0, 0, 1], [3, 3, 4, 4]])
    assert run_starts_multi(keys).tolist() == [0, 2, 3]


def test_distinct_pairs_sorted_and_first_appearance() -> None:
    group = np.array([1, 0, 1, 1, 0])
    codes = np.array([5, 2, 3, 5, 2])
    g, c = distinct_pairs(group, codes, sort=True)
    assert list(zip(g.tolist(), c.tolist())) == [(0, 2), (1, 3), (1, 5)]
    g, c = distinct_pairs(group, codes, sort=False)
    assert list(zip(g.tolist(), c.tolist())) == [(0, 2), (1, 5), (1, 3)]


@pytest.mark.parametrize("sort", [False, True])
def test_join_distinct_and_join_unique_match_plain_pandas(sort: bool) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "k": rng.choice(["x", "y", "z", "w"], 200),
        "v": rng.choice(["b", "a", "c", None, "d"], 200).astype(object),
    })
    got = join_unique(frame, ["k"], "v", ",", sort=sort)
    want = {}
    for key, part in frame.groupby("k", sort=False):
        vals = list(dict.fromkeys(part["v"].dropna()))
        if vals:
            want[key] = ",".join(sorted(vals) if sort else vals)
    assert got.to_dict() == want
    assert list(got.index) == [k for k in frame["k"].drop_duplicates() if k in want]


def test_join_groups_is_groupby_join_in_row_order() -> None:
    values = pd.Series(["p", "q", "r", "s", "t"], dtype=object)
    by = pd.Series(["e2", "e1", "e2", "e1", "e3"], name="encounter_id")
    got = join_groups(values, by, " | ")
    assert got.to_dict() == values.groupby(by).agg(" | ".join).to_dict()
    assert list(got.index) == ["e2", "e1", "e3"]


def test_minute_text_equals_strftime_across_dst_and_nat() -> None:
    times = pd.Series(pd.to_datetime(
        ["2026-11-01 05:30:59", "2026-11-01 06:30:00", "2026-03-08 07:05:00", None, "1969-12-31 23:59:00"],
        utc=True))
    tz = "America/New_York"
    local = times.dt.tz_convert(tz)
    minutes = wall_minutes(times, tz)
    with_date = minute_text(minutes, with_date=True)
    clock = minute_text(minutes, with_date=False)
    assert with_date[:3].tolist() + [with_date[4]] == local.dt.strftime("%Y-%m-%d %H:%M").dropna().tolist()
    assert clock[:3].tolist() + [clock[4]] == local.dt.strftime("%H:%M").dropna().tolist()
    assert pd.isna(with_date[3]) and pd.isna(clock[3])


def test_overlapping_pairs_equals_all_pairs_check() -> None:
    rng = np.random.default_rng(0)

    def intervals(n: int) -> pd.DataFrame:
        start = pd.to_datetime(rng.integers(0, 40, n) * 60, unit="s", utc=True)
        return pd.DataFrame({"k": rng.integers(0, 3, n).astype(str), "s": start,
                             "e": start + pd.to_timedelta(rng.integers(1, 15, n) * 60, unit="s")})

    for _ in range(50):
        x, y = intervals(int(rng.integers(0, 12))), intervals(int(rng.integers(0, 12)))
        ix, iy = overlapping_pairs(x["k"], x["s"], x["e"], y["k"], y["s"], y["e"])
        want = sorted((i, j) for i in range(len(x)) for j in range(len(y))
                      if x["k"][i] == y["k"][j] and x["s"][i] < y["e"][j] and y["s"][j] < x["e"][i])
        assert sorted(zip(ix.tolist(), iy.tolist())) == want
        assert len(set(zip(ix.tolist(), iy.tolist()))) == len(want)  # each pair once


def test_map_distinct_equals_map_and_calls_once_per_distinct_value() -> None:
    from transforms.frames import map_distinct

    calls: list[object] = []

    def is_code(value: object) -> bool:
        calls.append(value)
        return isinstance(value, str) and value.startswith("96")

    values = pd.Series(["96365", "J1100", None, "96365", "96413", None], index=[9, 7, 5, 3, 1, 0], name="hcpcs")
    got = map_distinct(values, is_code)
    assert len(calls) == 4  # three texts and the missing value, each once
    pd.testing.assert_series_equal(got.astype(bool), values.map(is_code).astype(bool))


@pytest.mark.parametrize(("codes", "first"), [
    ([], []), ([0], [0]), ([0, 0, 1, 0, 2, 1, 3], [0, 2, 4, 6]), ([0, 1, 2], [0, 1, 2]),
])
def test_first_rows_of_codes_in_order_of_appearance(codes: list[int], first: list[int]) -> None:
    assert first_rows(np.array(codes, dtype=np.int64)).tolist() == first


def _compact(codes: list[int], categories: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(np.array(codes, dtype=np.int8), categories=pd.Index(categories, dtype=object))


def test_expand_text_gives_str_and_none_objects_in_the_same_order() -> None:
    frame = pd.DataFrame({
        "route": _compact([1, -1, 0, 1], ["iv_push", "iv_infusion"]),
        "rate": [1.5, np.nan, 3.0, 4.0],
        "note": np.array(["a", None, "b", None], dtype=object),
        "empty": _compact([-1, -1, -1, -1], []),
    }, index=[7, 3, 9, 1])
    out = expand_text(frame)
    assert list(out.columns) == ["route", "rate", "note", "empty"]
    assert out.index.tolist() == [7, 3, 9, 1]
    assert out["route"].dtype == object and out["empty"].dtype == object
    assert out["route"].tolist() == ["iv_infusion", None, "iv_push", "iv_infusion"]
    assert out["route"].iloc[1] is None and all(v is None for v in out["empty"])  # None, never NaN
    assert out["rate"].dtype == np.float64 and out["rate"].iloc[2] == 3.0
    assert out["note"].tolist() == ["a", None, "b", None]
    assert frame["route"].dtype == "category"  # the input is not changed


def test_expand_text_returns_the_frame_itself_when_nothing_is_compact() -> None:
    frame = pd.DataFrame({"a": ["x", None], "b": [1, 2]})
    assert expand_text(frame) is frame
    numbers = pd.DataFrame({"n": pd.Categorical([1, 2, 1])})  # categories are not text: left alone
    assert expand_text(numbers) is numbers
    assert is_text_categorical(pd.Series(_compact([0], ["a"])))
    assert not is_text_categorical(numbers["n"]) and not is_text_categorical(frame["a"])


def test_expand_text_keeps_duplicate_column_names_in_place() -> None:
    frame = pd.DataFrame([[0, 0], [1, 1]], columns=["x", "x"])
    frame.isetitem(0, pd.Series(_compact([0, -1], ["t"])))
    out = expand_text(frame)
    assert list(out.columns) == ["x", "x"]
    assert out.iloc[:, 0].tolist() == ["t", None] and out.iloc[:, 1].tolist() == [0, 1]


def test_text_order_is_python_string_order_and_none_where_arrow_cannot_hold_the_text():
    texts = ["e1", "E10", "É1", "E1", "\uffff", "\U0001F600", "E2", "", "Z", "E1"]
    order = text_order(np.array(texts, dtype=object))
    assert [texts[i] for i in order] == sorted(texts)  # code points, not UTF-16 units or locale
    assert list(order[:2]) == [texts.index(""), 3]  # stable: the first "E1" comes first among equals
    assert [i for i in order if texts[i] == "E1"] == [3, 9]
    assert text_order(np.array(["b", "\ud800"], dtype=object)) is None


def test_select_labels_is_np_select_with_one_object_per_label() -> None:
    x = np.arange(12)
    conditions = [x % 3 == 0, x % 3 == 1]
    labels = select_labels(conditions, ["high", "medium"], "low")
    assert labels.dtype == object
    assert labels.tolist() == np.select(conditions, ["high", "medium"], "low").tolist()
    assert len({id(v) for v in labels}) == 3  # numpy's own select: one object per row once a column
    assert select_labels([np.zeros(0, dtype=bool)], ["a"], "b").tolist() == []


def test_join_runs_of_labels_holds_one_object_per_joined_text() -> None:
    values = np.array(["ns", "kcl", "vanco", "ns", "kcl", "ns", "kcl", "cefepime"], dtype=object)
    starts = np.array([0, 2, 3, 5, 7])
    plain, labels = join_runs(values, starts, "+"), join_runs(values, starts, "+", labels=True)
    assert labels.tolist() == plain.tolist() == ["ns+kcl", "vanco", "ns+kcl", "ns+kcl", "cefepime"]
    assert len({id(v) for v in plain[[0, 2, 3]]}) == 3  # reduceat makes one object per run
    assert labels[0] is labels[2] is labels[3] and labels[1] is values[2]
