"""lexsort_ints gives np.lexsort's permutation; _grouped_pairs gives distinct_pairs' pairs."""

import numpy as np
import pytest

from transforms.sort_keys import isin_ints, lexsort_ints
from transforms.engine.timeline_events import _grouped_pairs
from transforms.frames import distinct_pairs

_MIN = 60_000_000_000
_T0 = 1_793_000_000 * 1_000_000_000  # ns, November 2026


def test_small_case_by_hand():
    group = np.array([1, 0, 1, 0, 1])
    time = _T0 + np.array([5, 9, 5, 2, 1]) * _MIN
    # by group, then time; rows 0 and 2 tie and keep their order
    assert lexsort_ints((time, group)).tolist() == [3, 1, 4, 0, 2]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_same_permutation_as_lexsort(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    keys = (
        rng.integers(0, 4, n),                                # action-like code, many ties
        _T0 + rng.integers(0, 300, n) * _MIN,                 # whole minutes
        rng.integers(0, 50, n) * 7 - 100,                     # negative values, divisor 7
        rng.random(n) < 0.5,                                  # bool key
    )
    assert np.array_equal(lexsort_ints(keys), np.lexsort(keys))


def test_ranges_too_wide_fall_back_to_lexsort():
    rng = np.random.default_rng(7)
    nat, last = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    wide = np.array([nat, last, 0, 5, last, nat, 3], dtype=np.int64)
    other = rng.integers(0, 3, len(wide))
    assert np.array_equal(lexsort_ints((wide, other)), np.lexsort((wide, other)))
    big = rng.integers(0, 2**40, 500) * 3 + 1  # spans multiply past 2**62
    assert np.array_equal(lexsort_ints((big, big[::-1].copy())), np.lexsort((big, big[::-1].copy())))


def test_float_keys_and_empty_input_use_lexsort():
    x = np.array([0.5, 0.25, 0.5])
    assert lexsort_ints((x,)).tolist() == [1, 0, 2]
    assert lexsort_ints((np.empty(0, np.int64),)).tolist() == []


@pytest.mark.parametrize("sort", [True, False])
def test_grouped_pairs_match_distinct_pairs(sort):
    rng = np.random.default_rng(11)
    group = np.sort(rng.integers(0, 300, 3000))
    codes = rng.integers(0, 20, 3000)
    got, want = _grouped_pairs(group, codes, sort=sort), distinct_pairs(group, codes, sort=sort)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_grouped_pairs_first_appearance_and_ungrouped_rows_refused():
    g, c = _grouped_pairs(np.array([0, 0, 0, 2, 2]), np.array([5, 1, 5, 3, 0]), sort=False)
    assert g.tolist() == [0, 0, 2, 2] and c.tolist() == [5, 1, 3, 0]
    with pytest.raises(ValueError):
        _grouped_pairs(np.array([1, 0]), np.array([0, 0]), sort=True)


def test_isin_ints_is_np_isin_for_wide_int_keys():
    rng = np.random.default_rng(5)
    wanted = rng.integers(0, 50_000, 400) * (1 << 20) + rng.integers(0, 3, 400)
    values = np.r_[wanted[::3], wanted[::7] + 1, rng.integers(0, 2**40, 300)]
    got = isin_ints(values, wanted)
    assert got.dtype == bool and np.array_equal(got, np.isin(values, wanted))
    assert got[: len(wanted[::3])].all()  # the wanted keys themselves are found
    assert isin_ints(np.array([1, 2]), np.empty(0, np.int64)).tolist() == [False, False]
    assert isin_ints(np.empty(0, np.int64), wanted).tolist() == []
