"""overlapping_pairs_int, the mechanism of frames.overlapping_pairs: pairs by hand, and against
every pair checked one by one, on scaled times and on ranks."""

import numpy as np
import pandas as pd
import pytest

from transforms.frames import overlapping_pairs, overlapping_pairs_int

_MIN = 60_000_000_000
_T0 = pd.Timestamp("2026-11-02 05:00", tz="UTC").value


def _pairs(ix, iy):
    return sorted(zip(np.asarray(ix).tolist(), np.asarray(iy).tolist()))


def _reference(x, y):
    """Every (x, y) pair checked one by one: same key, and y starts within x or x strictly within y."""
    (xk, xs, xe), (yk, ys, ye) = x, y
    return [(i, j) for i in range(len(xk)) for j in range(len(yk))
            if xk[i] == yk[j] and (xs[i] <= ys[j] < xe[i] or ys[j] < xs[i] < ye[j])]


def _series_pairs(x, y):
    """The pairs of the Series API, frames.overlapping_pairs, on the same intervals."""
    def series(k, s, e):
        times = [pd.Series(pd.DatetimeIndex(t.view("datetime64[ns]")).tz_localize("UTC")) for t in (s, e)]
        return pd.Series(k), times[0], times[1]
    (xk, xs, xe), (yk, ys, ye) = series(*x), series(*y)
    return overlapping_pairs(xk, xs, xe, yk, ys, ye)


def _intervals(rng, n, keys, unit):
    start = _T0 + rng.integers(0, 600, n) * unit
    end = start + rng.integers(0, 120, n) * unit  # zero-length intervals included
    return rng.integers(0, keys, n).astype(np.int64), start.astype(np.int64), end.astype(np.int64)


def test_small_case_by_hand():
    # key 0: [0, 10) and [5, 20) overlap; [10, 12) only touches the first; key 1 never meets key 0.
    key = np.array([0, 0, 0, 1])
    start = _T0 + np.array([0, 5, 10, 0]) * _MIN
    end = _T0 + np.array([10, 20, 12, 30]) * _MIN
    got = _pairs(*overlapping_pairs_int((key, start, end), (key, start, end)))
    assert got == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 1), (2, 2), (3, 3)]


@pytest.mark.parametrize("unit", [_MIN, 1_000_000_000, 7])  # whole minutes, seconds, odd nanoseconds
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_pairs_as_checking_every_pair(seed, unit):
    rng = np.random.default_rng(seed)
    x, y = _intervals(rng, 300, 20, unit), _intervals(rng, 200, 20, unit)
    assert _pairs(*overlapping_pairs_int(x, y)) == _reference(x, y)
    assert _pairs(*overlapping_pairs_int(x, x)) == _reference(x, x)
    ix, iy = _series_pairs(x, y)  # the Series API: the same pairs, by x position then y start
    assert _pairs(ix, iy) == _reference(x, y)
    assert np.all(np.diff(ix) >= 0) and np.all((np.diff(y[1][iy]) >= 0) | (np.diff(ix) > 0))


def test_keys_too_wide_for_scaled_times_fall_back_to_ranks():
    rng = np.random.default_rng(5)
    x = _intervals(rng, 200, 4, 1)
    y = _intervals(rng, 200, 4, 1)
    wide = (x[0] * (1 << 50), x[1], x[2]), (y[0] * (1 << 50), y[1], y[2])
    assert _pairs(*overlapping_pairs_int(*wide)) == _reference(x, y)


def test_nat_start_is_ranked_first():
    nat = np.iinfo(np.int64).min
    key = np.array([0, 0])
    start = np.array([nat, _T0 + 5 * _MIN])
    end = np.array([_T0 + 10 * _MIN, _T0 + 20 * _MIN])
    got = _pairs(*overlapping_pairs_int((key, start, end), (key, start, end)))
    assert got == _reference((key, start, end), (key, start, end))
    assert (0, 1) in got and (1, 0) in got


def test_empty_sides():
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))
    one = (np.array([0]), np.array([_T0]), np.array([_T0 + _MIN]))
    for x, y in ((empty, one), (one, empty), (empty, empty)):
        ix, iy = overlapping_pairs_int(x, y)
        assert len(ix) == 0 and len(iy) == 0
