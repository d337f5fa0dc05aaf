"""The per-distinct-value and int-code shortcuts of the engine give what the
plain pandas operations they replace give, on concrete data."""

import numpy as np
import pandas as pd

from transforms.engine.classify import _bag_max
from transforms.engine.coding import evidence_text
from transforms.engine.items import LINE_ITEM_COLUMNS, select_rows
from transforms.engine.line_dates import _sort_key, date_units
from transforms.engine.sites import encounter_codes, group_rows, initial_modifiers
from transforms.frames import distinct_pairs, distinct_rows, factorize_shared, on_distinct
from transforms.vocab.policy import Policy

TZ = "America/New_York"


def test_distinct_rows_numbers_tuples_in_order_of_first_appearance() -> None:
    code, first = distinct_rows(np.array([5, 3, 5, 3, 5]), np.array([1, 1, 1, 2, 1]))
    assert code.tolist() == [0, 1, 0, 2, 0]
    assert first.tolist() == [0, 1, 3]


def test_distinct_pairs_keep_first_appearance_within_each_group() -> None:
    group = np.array([2, 0, 2, 0, 2, 1, 0])
    codes = np.array([7, 4, 3, 4, 7, 9, 1])
    g, c = distinct_pairs(group, codes, sort=False)
    assert list(zip(g.tolist(), c.tolist())) == [(0, 4), (0, 1), (1, 9), (2, 7), (2, 3)]
    g, c = distinct_pairs(group, codes, sort=True)
    assert list(zip(g.tolist(), c.tolist())) == [(0, 1), (0, 4), (1, 9), (2, 3), (2, 7)]


def _same_factorization(values: np.ndarray | pd.Series, **kwargs: bool) -> None:
    codes, uniques = factorize_shared(values, **kwargs)
    want_codes, want_uniques = pd.factorize(values, **kwargs)
    assert codes.tolist() == want_codes.tolist()
    assert pd.Series(uniques, dtype=object).equals(pd.Series(np.asarray(want_uniques, dtype=object), dtype=object))


def test_factorize_shared_gives_pd_factorize_codes_for_shared_and_unshared_texts() -> None:
    # "iv" twice as one object and once as an equal text built apart (not shared).
    iv, push = "iv", "push"
    built = "".join(["i", "v"])
    assert built is not iv
    values = np.array([push, iv, None, iv, np.nan, built, push, "sc", iv, push, iv, push], dtype=object)
    codes, uniques = factorize_shared(values)
    assert codes.tolist() == [0, 1, -1, 1, -1, 1, 0, 2, 1, 0, 1, 0]
    assert uniques.tolist() == ["push", "iv", "sc"]
    for na in (True, False):
        for sort in (True, False):
            _same_factorization(values, use_na_sentinel=na, sort=sort)
            _same_factorization(pd.Series(values), use_na_sentinel=na, sort=sort)


def test_factorize_shared_falls_back_on_distinct_objects_and_other_dtypes() -> None:
    distinct = np.array([f"bag{i % 7}" for i in range(40)], dtype=object)  # equal texts, all distinct objects
    _same_factorization(distinct)
    _same_factorization(distinct, sort=True)
    _same_factorization(np.array([3, 1, 3, 2]))
    _same_factorization(pd.Series(["b", "a", None, "b"], dtype="category"))
    codes, uniques = factorize_shared(np.array([], dtype=object))
    assert codes.tolist() == [] and uniques.tolist() == []

def test_on_distinct_passes_missing_values_too() -> None:
    values = pd.Series(["ML/H", None, "mg", "ML/H"], dtype=object)
    out = on_distinct(values, lambda u: u.fillna("?").str.lower())
    assert out.tolist() == ["ml/h", "?", "mg", "ml/h"]


def test_bag_max_matches_groupby_transform_max() -> None:
    mar = pd.DataFrame({
        "encounter_id": ["E1", "E1", "E2", "E1", None, "E2"],
        "infusate_id": ["B1", "B1", "B1", "B2", "B1", "B1"],
    })
    values = pd.Series([10.0, np.nan, np.nan, 5.0, 99.0, np.nan])
    expected = values.groupby([mar["encounter_id"], mar["infusate_id"]], sort=False).transform("max")
    got = _bag_max(values, mar)
    assert np.array_equal(got, expected.to_numpy(), equal_nan=True)
    assert got.tolist()[:2] == [10.0, 10.0] and np.isnan(got[4]) and np.isnan(got[2])


def test_evidence_text_formats_times_labels_and_missing_values() -> None:
    t = pd.Timestamp("2026-03-01 14:05", tz="UTC")
    admins = pd.DataFrame({
        "drug_label": ["vancomycin", None, "ondansetron", "vancomycin"],
        "infusates": ["B1", "B2", "B3", "B4,B5"],
        "start": [t, t, pd.NaT, t + pd.Timedelta(days=1)],
        "end": [t + pd.Timedelta(minutes=95), t + pd.Timedelta(minutes=95), pd.NaT, t + pd.Timedelta(days=1)],
        "minutes": [95, 95, 0, 0],
    })
    got = evidence_text(admins, TZ)
    assert got.iloc[0] == "vancomycin [B1] 2026-03-01 09:05-10:40 (95 min)"
    assert got.iloc[1] == "None [B2] 2026-03-01 09:05-10:40 (95 min)"
    assert pd.isna(got.iloc[2])
    assert got.iloc[3] == "vancomycin [B4,B5] 2026-03-02 09:05"


def _items(rows: list[dict]) -> pd.DataFrame:
    base = {"encounter_id": "E1", "site_group": 0, "modifiers": "", "units": 1, "first_minute": 0,
            "step_minutes": 0, "anchor": pd.Timestamp("2026-03-01 15:00", tz="UTC"), "_enc": 0}
    return pd.DataFrame([base | r for r in rows])[LINE_ITEM_COLUMNS]


def test_date_units_joins_only_lines_of_several_items() -> None:
    items = _items([
        {"timing_id": 0, "hcpcs": "96375", "rule_ids": "R-F1;R-F4", "evidence": "a"},
        {"timing_id": 1, "hcpcs": "96375", "rule_ids": "R-F5;R-F1", "evidence": "b"},
        {"timing_id": 2, "hcpcs": "96365", "rule_ids": "R-C2;R-A2;R-C2", "evidence": None},
        {"timing_id": 3, "hcpcs": "96374", "rule_ids": "R-A2", "evidence": "c", "units": 2},
    ])
    timing = pd.DataFrame({"timing_id": pd.Series([], dtype="int64"),
                           "start": pd.Series([], dtype="datetime64[ns, UTC]"),
                           "end": pd.Series([], dtype="datetime64[ns, UTC]")})
    lines = date_units(items, timing, Policy(), TZ).set_index("hcpcs")
    assert lines.loc["96375", "units"] == 2
    assert lines.loc["96375", "rule_ids"] == "R-F1;R-F4;R-F5"
    assert lines.loc["96375", "evidence"] == "a | b"
    # One item: its own rule ids, distinct and sorted; no evidence stays missing.
    assert lines.loc["96365", "rule_ids"] == "R-A2;R-C2"
    assert pd.isna(lines.loc["96365", "evidence"])
    assert (lines.loc["96374", "units"], lines.loc["96374", "evidence"]) == (2, "c")


def test_sort_key_sorts_as_the_tuples_or_declines() -> None:
    a, b = np.array([3, 1, 3, 2, 1]), np.array([-4, 7, -9, 0, 7])
    key = _sort_key(a, b)
    assert np.array_equal(np.argsort(key, kind="stable"), np.lexsort((b, a)))
    big = np.array([0, 2**40])
    assert _sort_key(big, big) is None


def test_select_rows_copies_only_the_named_columns() -> None:
    frame = pd.DataFrame({"kind": pd.Categorical(["push", "infusion", "push"]), "x": [1, 2, 3], "y": ["a", "b", "c"]},
                         index=[10, 11, 12])
    got = select_rows(frame, frame["kind"] == "push", ["kind", "y"])
    assert got.index.tolist() == [10, 12] and list(got.columns) == ["kind", "y"]
    assert isinstance(got["kind"].dtype, pd.CategoricalDtype) and got["y"].tolist() == ["a", "c"]


def test_encounter_codes_equal_sorted_factorize_whether_sorted_or_not() -> None:
    for ids in (["E1", "E1", "E2", "E3", "E3"], ["E3", "E1", "E3", "E2"], ["E1", None, "E1"]):
        series = pd.Series(ids, dtype=object)
        code, names = encounter_codes(series)
        expected_code, expected_names = pd.factorize(series, sort=True)
        assert code.tolist() == expected_code.tolist()
        assert list(names) == list(expected_names)
    assert encounter_codes(pd.Series(["E1", "E1", "E2"]))[0].dtype == np.int64


def test_group_rows_finds_first_row_of_each_pair_by_position() -> None:
    enc = np.array([0, 0, 0, 1, 2, 2, 0])
    group = np.array([0, 2, 2, 0, 1, 0, 0])  # encounter 0 skips group 1
    find_enc = np.array([0, 0, 0, 1, 1, 2, 2, 3, -1, 0])
    find_group = np.array([0, 1, 2, 0, 1, 1, 0, 0, 0, -1])
    want = [0, -1, 1, 3, -1, 4, 5, -1, -1, -1]
    assert group_rows(enc, group, find_enc, find_group).tolist() == want
    # A negative group takes the hashed path: the same rows, and (0, -1) is now found.
    assert group_rows(enc, np.r_[group[:-1], -1], find_enc, find_group).tolist() == [*want[:-1], 6]
    assert group_rows(enc[:0], group[:0], find_enc, find_group).tolist() == [-1] * len(find_enc)


def test_initial_modifiers_read_the_first_admin_of_each_encounter_and_group() -> None:
    admins = pd.DataFrame({
        "_enc": [0, 0, 1, 1, 2], "site_group": [0, 1, 0, 1, 0],
        "separate_site": [False, True, False, False, False], "visit_group": [0, 0, 0, 1, 0],
    })
    frame = pd.DataFrame({"_enc": [0, 0, 1, 1, 2, 2], "site_group": [0, 1, 0, 1, 0, 3]})
    got = initial_modifiers(frame, admins, Policy(separate_visit_modifier="XE"))
    # Group 3 of encounter 2 has no administration: a group > 0 is a separate site.
    assert got.tolist() == ["", "XU", "", "XE", "", "XU"]
