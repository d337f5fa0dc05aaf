"""The int-coded helpers the coding step runs on agree with the pandas
operations they replace (merge_asof, the interval sweep)."""

import numpy as np
import pandas as pd

from transforms.frames import asof_backward, coverage, coverage_codes, group_codes


def test_asof_backward_matches_merge_asof() -> None:
    rng = np.random.default_rng(7)
    right_group = rng.integers(0, 20, 300)
    right_value = rng.integers(0, 50, 300)
    left_group = rng.integers(0, 25, 500)
    left_value = rng.integers(-5, 60, 500)
    order = np.argsort(right_value, kind="stable")
    right = pd.DataFrame({"g": right_group[order], "v": right_value[order], "pos": order})
    left = pd.DataFrame({"g": left_group, "v": left_value}).reset_index()
    expected = (pd.merge_asof(left.sort_values("v", kind="mergesort"), right, on="v", by="g",
                              direction="backward").set_index("index")["pos"].reindex(left.index))
    got = asof_backward(right_group, right_value, left_group, left_value)
    assert np.array_equal(np.where(expected.isna(), -1, expected.fillna(-1)).astype(int), got)
    assert (got == -1).any() and (got >= 0).any()


def test_group_codes_ascend_with_the_keys() -> None:
    a = np.array([2, 0, 2, 1, 0])
    b = np.array([5, 9, 5, 0, 1])
    codes = group_codes(a, b)
    assert codes.tolist() == [3, 1, 3, 2, 0]


def test_coverage_codes_matches_coverage() -> None:
    rng = np.random.default_rng(3)
    t0 = pd.Timestamp("2026-01-01", tz="UTC")

    def intervals(n: int) -> pd.DataFrame:
        start = t0 + pd.to_timedelta(rng.integers(0, 300, n), unit="min")
        return pd.DataFrame({"encounter_id": rng.integers(0, 6, n),
                             "start": start, "end": start + pd.to_timedelta(rng.integers(0, 90, n), unit="min")})

    first, second = intervals(40), intervals(30)
    expected = coverage(first, second)

    def arrays(f: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (f["encounter_id"].to_numpy(), f["start"].array.asi8, f["end"].array.asi8)

    key, start, end, n1, n2 = coverage_codes(arrays(first), arrays(second))
    assert key.tolist() == expected["encounter_id"].tolist()
    assert start.tolist() == expected["start"].array.asi8.tolist()
    assert end.tolist() == expected["end"].array.asi8.tolist()
    assert n1.tolist() == expected["n_first"].tolist() and n2.tolist() == expected["n_second"].tolist()
