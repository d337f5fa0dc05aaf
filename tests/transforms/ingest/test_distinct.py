"""Staging once per distinct value gives exactly what the per-cell pandas rules give.

The references below are the per-cell implementations the readers used
before they worked on distinct values (:mod:`transforms.ingest.distinct`);
each is compared on random columns full of repeats, blanks, padding and
values that do not parse.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from transforms.frames import text
from transforms.ingest import readers
from transforms.ingest.distinct import CodedText
from transforms.vocab import schemas

NUMBERS = ["1", "2.0", " 3.5 ", "-0", "1e3", "inf", "nan", "x", "", "  ", "12345678901234567890", "2.5",
           "9007199254740993", "0x10", "1,000", None]
WORDS = ["True", " yes", "N", "0", "1", "maybe", "", "t ", "FALSE", None]
DATES = ["2026-11-02", " 11/02/2026", "2026-13-01", "02/30/2026", "2026-1-2", "", "x", None]


def column(pool: list[str | None], n: int = 3000, seed: int = 0) -> pd.Series:
    rng = random.Random(seed)
    return pd.Series([rng.choice(pool) for _ in range(n)], dtype=object)


def float_per_cell(values: pd.Series) -> pd.Series:
    out = pd.to_numeric(text(values), errors="coerce").astype("float64")
    return out.where(np.isfinite(out), np.nan)


def int_per_cell(values: pd.Series) -> pd.Series:
    as_float = float_per_cell(values)
    whole = as_float.notna() & (np.mod(as_float.fillna(0.0), 1) == 0)
    whole &= as_float.abs().fillna(0.0) < 2.0**53
    return as_float.where(whole, np.nan).astype("Int64")


def bool_per_cell(values: pd.Series) -> pd.Series:
    trimmed = text(values)
    words = trimmed.where(trimmed.isna(), trimmed.str.lower())
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[words.isin(readers._TRUE_WORDS)] = True
    out[words.isin(readers._FALSE_WORDS)] = False
    return out


def date_per_cell(values: pd.Series) -> pd.Series:
    trimmed = text(values)
    parsed = pd.to_datetime(trimmed, format="%Y-%m-%d", errors="coerce")
    us = pd.to_datetime(trimmed, format="%m/%d/%Y", errors="coerce")
    stamps = parsed.fillna(us)
    return stamps.dt.date.astype(object).where(stamps.notna(), None)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parsers_equal_the_per_cell_rules(seed: int) -> None:
    numbers, words, dates = column(NUMBERS, seed=seed), column(WORDS, seed=seed), column(DATES, seed=seed)
    pd.testing.assert_series_equal(readers._to_float(numbers), float_per_cell(numbers))
    pd.testing.assert_series_equal(readers._to_int(numbers), int_per_cell(numbers))
    pd.testing.assert_series_equal(readers._to_bool(words), bool_per_cell(words))
    pd.testing.assert_series_equal(readers._to_date(dates), date_per_cell(dates))
    pd.testing.assert_series_equal(readers._present(numbers), text(numbers).notna())


def test_numbers_parse_alike_with_and_without_missing_cells() -> None:
    """pd.to_numeric's result type depends on the set of values (ints vs ints + a null)."""
    for cells in (["9007199254740993", "1"], ["9007199254740993", "1", None], ["9007199254740993", " "]):
        values = pd.Series(cells * 50, dtype=object)
        pd.testing.assert_series_equal(readers._to_float(values), float_per_cell(values))


def test_coded_text_invariants() -> None:
    values = pd.Series([" a", "a", None, "", " ", "b ", "a"], dtype=object, index=range(10, 17))
    coded = CodedText.of(values)
    assert list(coded.present()) == [True, True, False, False, False, True, True]
    pd.testing.assert_series_equal(coded.text(), text(values))
    dense = coded.dense_codes()
    assert dense[0] == dense[1] == dense[6] != dense[5] and dense[2] == dense[3] == -1
    other = CodedText.of(pd.Series(["x", "y", "z", None, "a", "q", "r"], dtype=object, index=values.index))
    merged = coded.or_else(other).text()
    assert list(merged) == ["a", "a", "z", None, "a", "b", "a"]



def test_coded_text_of_a_categorical_uses_its_codes() -> None:
    cells = [" a", "a", None, "", " ", "b ", "a", "2.5", "2.5"] * 20  # 180 rows: int8 codes
    values = pd.Series(cells, dtype=object, index=range(5, 185))
    categorical = values.astype("category")
    assert categorical.cat.codes.dtype == np.int8
    coded, reference = CodedText.of(categorical), CodedText.of(values)
    assert coded.codes.dtype == np.int8  # the Categorical's own codes, not a copy per row
    pd.testing.assert_series_equal(coded.text(), reference.text())
    pd.testing.assert_series_equal(coded.text(), text(values))
    assert np.array_equal(coded.present(), reference.present())
    assert np.array_equal(coded.floats(), reference.floats(), equal_nan=True)
    assert np.array_equal(pd.factorize(coded.dense_codes())[0], pd.factorize(reference.dense_codes())[0])
    # or_else with int8 codes on both sides: the fallback's positions do not overflow
    wide = pd.Series([f"x{i}" if i % 3 else None for i in range(180)], index=values.index).astype("category")
    assert len(wide.cat.categories) == 120 and wide.cat.codes.dtype == np.int8
    merged = CodedText.of(wide).or_else(coded).text()
    expected = pd.Series([f"x{i}" if i % 3 else t for i, t in enumerate(text(values))], index=values.index,
                         dtype=object)
    pd.testing.assert_series_equal(merged, expected)
    numbers = pd.Series([1, 2, None]).astype("category")  # not text: printed like frames.text does
    pd.testing.assert_series_equal(CodedText.of(numbers).text(), text(numbers))

def first_occurrence_per_group(frame: pd.DataFrame, key: list[str], eligible: pd.Series) -> pd.Series:
    out = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    sub = frame.loc[eligible, [*key, schemas.SOURCE_ROW]]
    if sub.empty:
        return out
    first = sub.groupby(key, dropna=False, sort=False)[schemas.SOURCE_ROW].transform("min")
    dup = first.ne(sub[schemas.SOURCE_ROW])
    out.loc[first.index[dup]] = first[dup].to_numpy()
    return out


def test_first_occurrence_equals_groupby() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame({
        "a": pd.Series(rng.choice(["x", "y", None], n), dtype=object),
        "b": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 4, n)), dtype="Int64"),
        schemas.SOURCE_ROW: rng.permutation(n) + 1,
    })
    eligible = pd.Series(rng.random(n) < 0.8)
    pd.testing.assert_series_equal(
        readers._first_occurrence(frame, ["a", "b"], eligible), first_occurrence_per_group(frame, ["a", "b"], eligible)
    )


def superseded_per_group(staged: pd.DataFrame) -> pd.Series:
    reason = pd.Series(np.full(len(staged), None, dtype=object), index=staged.index)
    has_id = staged["claim_id"].notna()
    sub = staged.loc[has_id, ["claim_id", "claim_frequency", "line_number"]]
    claim = sub["claim_id"]
    is7, is8 = sub["claim_frequency"].eq("7"), sub["claim_frequency"].eq("8")
    voided = is8.groupby(claim, sort=False).transform("any").astype(bool)
    replaced_claim = is7.groupby(claim, sort=False).transform("any").astype(bool)
    prev_is7 = is7.groupby(claim, sort=False).shift(1, fill_value=False).astype(bool)
    prev_line = sub["line_number"].groupby(claim, sort=False).shift(1)
    line_went_down = (sub["line_number"] < prev_line).fillna(False).astype(bool)
    starts = is7 & (~prev_is7 | line_went_down)
    version = starts.astype("int64").groupby(claim, sort=False).cumsum()
    latest = version.groupby(claim, sort=False).transform("max")
    superseded = replaced_claim & ~voided & (~is7 | (version < latest))
    reason.loc[sub.index[superseded]] = schemas.SUPERSEDED_BY_REPLACEMENT
    reason.loc[sub.index[voided]] = schemas.VOIDED
    return reason


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_superseded_reason_equals_groupby(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    staged = pd.DataFrame({
        # ~5 lines per claim, so some claims are voided, some replaced (once or more), some neither
        "claim_id": pd.Series(rng.choice([*(f"C{k}" for k in range(600)), None], n), dtype=object),
        "claim_frequency": pd.Series(rng.choice(["1", "7", "8"], n, p=[0.6, 0.38, 0.02]), dtype=object),
        "line_number": pd.array(np.where(rng.random(n) < 0.05, None, rng.integers(1, 5, n)), dtype="Int64"),
    })
    expected = superseded_per_group(staged)
    assert set(expected.dropna()) == {schemas.SUPERSEDED_BY_REPLACEMENT, schemas.VOIDED}
    assert expected.isna().any()
    pd.testing.assert_series_equal(readers._superseded_reason(staged), expected)


@pytest.mark.parametrize("frequencies", [[0.97, 0.02, 0.01], [1.0, 0.0, 0.0]])
def test_superseded_reason_with_few_or_no_replaced_claims(frequencies: list[float]) -> None:
    """Only claims with a frequency-7/8 line are worked on; every other line stays None."""
    rng = np.random.default_rng(7)
    n = 3000
    staged = pd.DataFrame({
        "claim_id": pd.Series(rng.choice([*(f"C{k}" for k in range(600)), None], n), dtype=object),
        "claim_frequency": pd.Series(rng.choice(["1", "7", "8"], n, p=frequencies), dtype=object),
        "line_number": pd.array(np.where(rng.random(n) < 0.05, None, rng.integers(1, 5, n)), dtype="Int64"),
    })
    expected = superseded_per_group(staged)
    assert expected.notna().any() == (frequencies[0] < 1)
    pd.testing.assert_series_equal(readers._superseded_reason(staged), expected)


def test_rows_of_claims_with_a_flagged_row() -> None:
    codes = np.array([0, 1, -1, 2, 0, 1, -1, 3], dtype=np.int8)
    flagged = np.array([False, True, True, False, False, False, False, False])
    # claim 1 has a flagged row; the flagged row without a claim (-1) selects nothing
    assert readers._rows_of_claims_with(codes, flagged).tolist() == [1, 5]
    assert readers._rows_of_claims_with(codes, np.zeros(8, dtype=bool)).tolist() == []


def test_int_codes_group_rows_as_the_staged_whole_numbers() -> None:
    values = pd.Series(["1", "1.0", " 2", "2.5", "x", None, "", "2", "1"] * 20, dtype=object).astype("category")
    coded = CodedText.of(values)
    codes = readers._int_codes(values, coded)
    staged = readers._to_int(values, coded)
    assert codes.dtype == coded.codes.dtype == np.int8  # one small code per row
    assert np.array_equal(codes < 0, staged.isna().to_numpy())
    # one code per staged value and the reverse ("1" and "1.0" share one)
    pairs = set(zip(codes.tolist(), [None if pd.isna(v) else int(v) for v in staged]))
    assert pairs == {(codes[0], 1), (codes[2], 2), (-1, None)}
    assert codes[0] != codes[2] and codes[2] >= 0
    assert readers._int_codes(pd.Series([1, 2]), CodedText.of(pd.Series([1, 2]))) is None  # numbers as stored


def test_key_codes_equal_factorize_without_na_sentinel() -> None:
    rng = np.random.default_rng(3)
    ints = pd.Series(pd.array(np.where(rng.random(500) < 0.2, None, rng.integers(0, 9, 500)), dtype="Int64"))
    stamps = pd.Series(pd.to_datetime(rng.choice(["2026-11-01 01:30", "2026-11-01 02:00", None], 500)), dtype="datetime64[ns]")
    stamps_utc = stamps.dt.tz_localize("UTC")
    for column in (ints, stamps, stamps_utc, pd.Series(rng.choice(["a", None], 500), dtype=object)):
        codes, bound = readers._key_codes(column)
        reference, uniques = pd.factorize(column, use_na_sentinel=False)
        assert bound == len(uniques) and codes.min() >= 0 and codes.max() < bound
        assert np.array_equal(pd.factorize(codes)[0], pd.factorize(reference)[0])


@pytest.mark.parametrize("slots", [None, 7])
def test_group_minimum_in_one_table_or_by_ranges_of_ids(monkeypatch: pytest.MonkeyPatch, slots: int | None) -> None:
    if slots is not None:  # a table of 7 ids at a time: many passes over the rows
        monkeypatch.setattr(readers, "_table_slots", lambda n_rows: slots)
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 60, 400)
    values = rng.permutation(400).astype("int64") + 1
    out = np.zeros(400, dtype="int64")
    readers._group_minimum(ids.copy(), 60, values, out)
    expected = pd.Series(values).groupby(ids).transform("min").to_numpy()
    assert np.array_equal(out, expected)
    sparse = ids * 10**12  # a bound far above the rows: factorised first
    out[:] = 0
    readers._group_minimum(sparse.copy(), 60 * 10**12, values, out)
    assert np.array_equal(out, expected)


def test_first_occurrence_of_claim_lines_by_ranges_of_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "_table_slots", lambda n_rows: 5)
    rng = np.random.default_rng(1)
    n = 2000
    frame = pd.DataFrame({
        "a": pd.Series(rng.choice([*(f"C{k}" for k in range(50)), None], n), dtype=object),
        "b": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 6, n)), dtype="Int64"),
        schemas.SOURCE_ROW: np.arange(1, n + 1),
    })
    eligible = pd.Series(rng.random(n) < 0.9)
    codes = {"a": CodedText.of(frame["a"]).dense_codes()}
    result = readers._first_occurrence(frame, ["a", "b"], eligible, codes)
    pd.testing.assert_series_equal(result, first_occurrence_per_group(frame, ["a", "b"], eligible))
    assert result.notna().sum() > 100


def test_an_absent_raw_column_codes_like_an_all_missing_one() -> None:
    raw = pd.DataFrame({"a": [" x", None, "y"], schemas.SOURCE_ROW: [1, 2, 3]})
    absent = readers._RawCoded(raw)["b"]
    reference = CodedText.of(pd.Series([None] * 3, dtype=object))
    assert absent.codes.dtype == np.int8 and absent.codes.tolist() == reference.codes.tolist() == [-1] * 3
    assert absent.distinct.tolist() == reference.distinct.tolist() == [] and absent.unique and reference.unique
    pd.testing.assert_series_equal(absent.text(), reference.text())
    assert np.array_equal(absent.floats(), reference.floats(), equal_nan=True)
    assert readers._RawCoded(raw)["a"].text().tolist() == ["x", None, "y"]
