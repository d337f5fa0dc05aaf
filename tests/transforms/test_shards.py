"""transforms.shards: contiguous encounter ranges, every row once, results concatenated in order."""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
import pytest

from transforms import shards
from transforms.audit import AuditResult
from transforms.shards import _ranked_distinct, combine_results, encounter_ranges, split_day


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    mar = pd.DataFrame({"encounter_id": ["E3", "E1", "E3", "E2", None, "E5"], "row": range(6)})
    claims = pd.DataFrame({"encounter_id": ["E4", "E1", "E2"], "row": range(3)})
    return mar, claims


def test_ranges_are_contiguous_sorted_and_at_most_the_size():
    ids = pd.Series(["E10", "E2", "E2", None, "E1", "E3"])
    assert encounter_ranges(ids, 2) == [("E1", "E10"), ("E2", "E3")]  # string order, as outputs sort
    assert encounter_ranges(ids, 10) == [("E1", "E3")]
    assert encounter_ranges(pd.Series([], dtype=object), 3) == []
    with pytest.raises(ValueError, match="at least 1"):
        encounter_ranges(ids, 0)


def test_every_row_lands_in_its_encounters_shard_in_order():
    mar, claims = _frames()
    shards = split_day(mar, claims, 2)  # five encounters, at most two a shard: three shards of 1, 2, 2
    assert [(s.first, s.last) for s in shards] == [("E1", "E1"), ("E2", "E3"), ("E4", "E5")]
    assert [s.mar["row"].tolist() for s in shards] == [[1, 4], [0, 2, 3], [5]]  # no id: first shard
    assert [s.claims["row"].tolist() for s in shards] == [[1], [2], [0]]
    assert sum(len(s.mar) for s in shards) == len(mar) and sum(len(s.claims) for s in shards) == len(claims)


def _sizes(count: int, most: int, at_least: tuple[float, ...] = ()) -> list[int]:
    return np.diff(shards._bounds(count, most, at_least)).tolist()


def test_a_day_is_cut_into_as_few_shards_as_the_size_allows_of_near_equal_size():
    assert _sizes(100_000, 50_000) == [50_000, 50_000]
    assert _sizes(51_000, 50_000) == [25_500, 25_500]  # not 50,000 and 1,000: side by side, they end together
    assert _sizes(10, 3) == [2, 3, 2, 3]
    assert _sizes(100_000, 50_000, (1, 1, 1)) == [33_333, 33_333, 33_334]  # helpers started: a day cut finer
    assert _sizes(51_000, 50_000, (1, 1, 1)) == [17_000] * 3
    assert _sizes(50_000, 50_000, (1, 1, 1)) == [50_000]  # a day of one shard stays whole
    assert _sizes(3, 2, (1,) * 5) == [1, 1, 1]  # never more shards than encounters
    assert _sizes(0, 2, (1, 1, 1)) == []
    mar, claims = _frames()
    one_each = list(shards.iter_shards(mar, claims, 4, at_least=(1,) * 5))  # five encounters: one a shard
    assert [(s.first, len(s.mar), len(s.claims)) for s in one_each] == [
        ("E1", 2, 1), ("E2", 1, 1), ("E3", 2, 0), ("E4", 0, 1), ("E5", 1, 0)]  # the row with no id: shard 0
    with pytest.raises(ValueError, match="at least 1"):
        shards._bounds(10, 0)


def test_a_day_cut_finer_than_its_size_asks_is_cut_in_the_proportions_asked():
    assert _sizes(100_000, 50_000, (1.3, 1, 1)) == [39_394, 30_303, 30_303]
    assert _sizes(100_000, 50_000, (1.3, 1.3, 1, 1, 1)) == [23_214, 23_215, 17_857, 17_857, 17_857]
    # The size alone asks for as many shards: near-equal ones, whatever the proportions.
    assert _sizes(120_000, 50_000, (1.3, 1, 1)) == [40_000] * 3
    assert _sizes(100_000, 50_000, (2.5, 1, 1)) == [33_333, 33_333, 33_334]  # one over 50,000
    assert _sizes(3, 2, (0.2, 1, 1)) == [1, 1, 1]  # an empty shard
    assert _sizes(4, 3, (1.5, 1, 1, 1, 1)) == [1, 1, 1, 1]  # fewer encounters than shards asked
    mar, claims = _frames()
    weighted = list(shards.iter_shards(mar, claims, 4, at_least=(1.5, 1, 1)))
    assert [(s.first, s.last) for s in weighted] == [("E1", "E2"), ("E3", "E4"), ("E5", "E5")]
    equal = list(shards.take_shards([mar, claims], 4, at_least=(1, 1, 1)))
    assert [(s.first, s.last) for s in equal] == [("E1", "E1"), ("E2", "E3"), ("E4", "E5")]


def test_a_small_day_is_one_shard_of_the_frames_themselves():
    mar, claims = _frames()
    (only,) = split_day(mar, claims, 5)
    assert only.mar is mar and only.claims is claims and (only.first, only.last) == ("E1", "E5")


def _result(encounters: list[str], first_admin: int = 0) -> AuditResult:
    admins = pd.DataFrame({"encounter_id": encounters, "admin_id": range(first_admin, first_admin + len(encounters))})
    lines = pd.DataFrame({"encounter_id": encounters, "hcpcs": ["96365"] * len(encounters)})
    return AuditResult(admins, lines, lines.iloc[:0])


def test_combined_results_read_as_the_whole_day():
    whole = _result(["E1", "E1", "E2", "E3"])
    combined = combine_results([_result(["E1", "E1"]), _result(["E2"]), _result(["E3"])])
    pd.testing.assert_frame_equal(combined.administrations, whole.administrations)  # admin_id renumbered
    pd.testing.assert_frame_equal(combined.expected_lines, whole.expected_lines)
    assert combined.findings.empty and list(combined.findings.columns) == ["encounter_id", "hcpcs"]
    single = _result(["E9"])
    assert combine_results([single]) is single
    with pytest.raises(ValueError):
        combine_results([])


def _compact(values: list[str | None], extra: list[str]) -> pd.Categorical:
    """``values`` as a Categorical whose categories also hold ``extra`` ids no row uses
    (a kept frame is a take of the staged rows: quarantined rows' ids stay categories)."""
    categories = pd.Index([*extra, *dict.fromkeys(v for v in values if v is not None)], dtype=object)
    return pd.Categorical(values, categories=categories)


def test_compact_encounter_ids_give_the_same_shards_by_their_codes():
    mar, claims = _frames()
    compact_mar = mar.assign(encounter_id=_compact(mar["encounter_id"].tolist(), ["E0", "E9"]))
    compact_claims = claims.assign(encounter_id=_compact(claims["encounter_id"].tolist(), ["E2b"]))
    for size in (1, 2, 3):
        plain, compact = split_day(mar, claims, size), split_day(compact_mar, compact_claims, size)
        # unused categories (E0, E2b, E9) are no encounters: the same ranges
        assert [(s.first, s.last) for s in compact] == [(s.first, s.last) for s in plain]
        for ours, theirs in zip(compact, plain):
            assert ours.mar["row"].tolist() == theirs.mar["row"].tolist()
            assert ours.claims["row"].tolist() == theirs.claims["row"].tolist()
            assert ours.mar["encounter_id"].dtype == "category"  # cut as codes, expanded by the audit
            assert ours.mar["encounter_id"].astype(object).where(ours.mar["encounter_id"].notna(), None).tolist() \
                == theirs.mar["encounter_id"].tolist()


def test_ids_rank_in_python_string_order_even_beyond_ascii():
    texts = ["e1", "E10", "É1", "E1", "\uffff", "\U0001F600", "E2", "", "Z"]
    rank_of, names = _ranked_distinct(np.array(texts, dtype=object))
    assert list(names) == sorted(texts)  # code points, not UTF-16 units or locale
    assert [names[r] for r in rank_of] == texts
    # A lone surrogate cannot be UTF-8: the fallback still sorts as Python does.
    odd = ["b", "\ud800", "a", "\ue000"]
    assert list(_ranked_distinct(np.array(odd, dtype=object))[1]) == sorted(odd)


def test_distinct_ids_ranked_by_their_text():
    rank_of, names = _ranked_distinct(np.array(["E3", "E10", "E1"], dtype=object))
    assert rank_of.tolist() == [2, 1, 0] and names.tolist() == ["E1", "E10", "E3"]
    rank_of, names = _ranked_distinct(np.array([2, "1", 1], dtype=object))  # 1 and "1": one text, one rank
    assert rank_of.tolist() == [1, 0, 0] and names.tolist() == ["1", "2"]


def test_shared_compact_categories_give_the_shards_of_the_plain_ids(monkeypatch):
    # Both frames staged with one category list (the usual day), unsorted, with an unused id.
    mar = pd.DataFrame({"encounter_id": ["É1", "E3", None, "E1", "E3", "e1"], "row": range(6)})
    claims = pd.DataFrame({"encounter_id": ["e1", "E1", "É1", "E3"], "row": range(4)})
    categories = pd.Index(["e1", "E3", "É1", "E9", "E1"], dtype=object)
    compact_mar = mar.assign(encounter_id=pd.Categorical(mar["encounter_id"], categories=categories))
    compact_claims = claims.assign(encounter_id=pd.Categorical(claims["encounter_id"], categories=categories))
    plain = {size: split_day(mar, claims, size) for size in (1, 2, 4)}
    monkeypatch.setattr(shards, "_ranked", None)  # one list of ids for both frames: nothing hashed
    for size in (1, 2, 4):
        compact = split_day(compact_mar, compact_claims, size)
        assert [(s.first, s.last) for s in compact] == [(s.first, s.last) for s in plain[size]]
        for ours, theirs in zip(compact, plain[size]):
            assert ours.mar["row"].tolist() == theirs.mar["row"].tolist()
            assert ours.claims["row"].tolist() == theirs.claims["row"].tolist()
    assert [(s.first, s.last) for s in plain[2]] == [("E1", "E3"), ("e1", "É1")]
    assert [s.claims["row"].tolist() for s in plain[2]] == [[1, 3], [0, 2]]


def _mixed_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A MAR with every kind of column the staged extracts hold (compact text, times, floats,
    nullable booleans and ints, dates as objects) and a claim frame, over five encounters."""
    ids = ["E3", "E1", "E3", "E2", None, "E5", "E4", "E1"]
    mar = pd.DataFrame({
        "encounter_id": pd.Categorical(ids), "row": range(8),
        "event_time": pd.date_range("2026-11-02 08:00", periods=8, freq="7min", tz="UTC"),
        "rate": [1.5, None, 2.0, 3.0, 4.0, None, 5.0, 6.0], "dose": np.arange(8, dtype=float),
        "primary": pd.array([True, None, False, True, True, False, None, True], dtype="boolean"),
        "drug": ["a", None, "c", "d", "e", "f", "g", "h"],
    })
    claims = pd.DataFrame({"encounter_id": ["E4", "E1", "E2", "E5"], "units": pd.array([1, None, 3, 4], dtype="Int64")})
    return mar, claims


def test_taken_shards_are_the_shards_of_the_frames():
    mar, claims = _mixed_frames()
    for size in (1, 2, 3, 10):
        expected = split_day(mar, claims, size)
        frames = [mar.copy(), claims.copy()]
        taken = list(shards.take_shards(frames, size))
        assert frames == []  # taken over
        assert [(s.index, s.first, s.last) for s in taken] == [(s.index, s.first, s.last) for s in expected]
        for ours, theirs in zip(taken, expected):
            pd.testing.assert_frame_equal(ours.mar, theirs.mar)
            pd.testing.assert_frame_equal(ours.claims, theirs.claims)


def test_taken_frames_and_each_audited_shard_are_freed():
    mar, claims = _mixed_frames()
    day = weakref.ref(mar)
    shard_iter = shards.take_shards([mar, claims], 2)
    del mar, claims
    first = next(shard_iter)
    assert day() is None  # the day's frame is gone once cut: its rows live in the shards alone
    first_rows = weakref.ref(first.mar)
    del first
    second = next(shard_iter)
    assert first_rows() is None and second.index == 1  # a shard is freed when the next is taken
    with pytest.raises(ValueError, match="at least 1"):
        next(shards.take_shards([*_mixed_frames()], 0))


def _shard_results() -> list[AuditResult]:
    """Three shards' results (and an empty one) whose columns differ in dtype between shards:
    ints in one and floats with a gap in another, categories that differ."""
    def part(ids: list[str], hours: list[float | None], kind: str) -> AuditResult:
        admins = pd.DataFrame({"encounter_id": ids, "admin_id": range(len(ids)), "hours": hours,
                               "kind": pd.Categorical([kind] * len(ids))})
        lines = pd.DataFrame({"encounter_id": ids, "units": [1] * len(ids)})
        return AuditResult(admins, lines, lines.iloc[:0])

    return [part(["E1", "E1"], [1, 2], "push"), part([], [], "push"), part(["E2"], [None], "push"),
            part(["E3"], [0.5], "infusion")]


def test_taken_results_are_the_shards_concatenated_and_free_them():
    parts = _shard_results()
    held = weakref.ref(parts[0].administrations)
    taken = shards.take_results(parts)
    assert parts == [] and held() is None  # taken over, and each shard's frames dropped
    again = _shard_results()
    admins = pd.concat([p.administrations for p in again if len(p.administrations)], ignore_index=True)
    admins["admin_id"] = [0, 1, 2, 3]  # numbered as the whole day numbers them
    pd.testing.assert_frame_equal(taken.administrations, admins)
    assert taken.administrations["hours"].tolist()[:2] == [1.0, 2.0] and taken.administrations["kind"].dtype == object
    lines = pd.concat([p.expected_lines for p in again if len(p.expected_lines)], ignore_index=True)
    pd.testing.assert_frame_equal(taken.expected_lines, lines)
    assert taken.findings.empty and list(taken.findings.columns) == ["encounter_id", "units"]
    for name in shards.RESULT_FRAMES:
        pd.testing.assert_frame_equal(getattr(combine_results(_shard_results()), name), getattr(taken, name))


def test_taken_shards_leave_out_the_columns_asked_for():
    mar, claims = _mixed_frames()
    for size in (2, 10):  # several shards, and one
        expected = split_day(mar, claims, size)
        taken = list(shards.take_shards([mar.copy(), claims.copy()], size, (("rate", "drug"), ("units",))))
        for ours, theirs in zip(taken, expected, strict=True):
            pd.testing.assert_frame_equal(ours.mar, theirs.mar.drop(columns=["rate", "drug"]))
            pd.testing.assert_frame_equal(ours.claims, theirs.claims.drop(columns=["units"]))


def test_a_compact_shard_has_the_same_values_and_only_its_own_categories():
    day = ["E1", "E2", "E3", "E4"]
    mar = pd.DataFrame({"encounter_id": pd.Categorical(["E3", "E2", "E3"], categories=day),
                        "drug": pd.Categorical(["b", "a", "b"], categories=["a", "b", "c"]), "dose": [1.0, 2.0, 3.0]})
    claims = pd.DataFrame({"encounter_id": pd.Categorical(["E2"], categories=day), "units": [1]})
    shard = shards.Shard(3, "E2", "E3", mar, claims)
    small = shards.compact_shard(shard)
    assert (small.index, small.first, small.last) == (3, "E2", "E3")
    assert list(small.mar["encounter_id"].cat.categories) == ["E2", "E3"]  # the day's order, used ones only
    assert list(small.mar["drug"].cat.categories) == ["a", "b"]
    assert list(small.claims["encounter_id"].cat.categories) == ["E2"]
    for before, after in ((mar, small.mar), (claims, small.claims)):
        pd.testing.assert_frame_equal(after.astype(object), before.astype(object))  # the same values
    assert np.shares_memory(small.mar["dose"].to_numpy(), mar["dose"].to_numpy())  # not copied
    assert list(shard.mar["encounter_id"].cat.categories) == day  # the shard itself is unchanged


@pytest.mark.parametrize("values, categories, ordered", [
    (["c", None, "a", "c"], ["a", "b", "c", "d"], False),  # unused ones, a null
    (["b", "b"], ["a", "b", "c"], True),  # ordered
    ([None, None], ["a", "b"], False),  # every code null: no category used
    ([], ["a", "b"], False),  # no rows
    ([None], [], False),  # no categories at all
    (["x", "y"], ["x", "y"], False),  # every one used
    ([pd.Timestamp("2026-11-02"), None], [pd.Timestamp("2026-11-01"), pd.Timestamp("2026-11-02")], False),
])
def test_only_used_categories_equals_pandas_remove_unused(values, categories, ordered):
    column = pd.Categorical(values, categories=categories, ordered=ordered)
    ours, theirs = shards.only_used_categories(column), column.remove_unused_categories()
    assert ours.dtype == theirs.dtype
    assert list(ours.categories) == list(theirs.categories)
    np.testing.assert_array_equal(ours.codes, theirs.codes)
    assert ours.codes.dtype == theirs.codes.dtype


def test_only_used_categories_of_a_large_day_renumbers_like_pandas():
    day = [f"E{i:06d}" for i in range(40_000)]  # more than int8 codes hold: int16
    column = pd.Categorical(["E039999", "E000007", "E039999"], categories=day)
    ours, theirs = shards.only_used_categories(column), column.remove_unused_categories()
    assert list(ours.categories) == ["E000007", "E039999"]
    np.testing.assert_array_equal(ours.codes, theirs.codes)
    assert ours.codes.dtype == theirs.codes.dtype
