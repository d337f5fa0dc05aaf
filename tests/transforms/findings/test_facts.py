"""Per-encounter timeline facts (transforms.findings.facts) on small hand-made timelines."""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.findings.facts import _holds, _hydration_minutes, _overlaps, _repeat_push_facts
from transforms.vocab.classes import DILUENT, HYDRATION, THERAPEUTIC


def _t(clock: str) -> pd.Timestamp:
    return pd.Timestamp(f"2026-11-02 {clock}", tz="UTC")


def test_holds_finds_a_part_in_text_and_in_missing_values_as_str_does():
    text = pd.Series(["BAG1-000,BAG2-000", "BAG3-000", "x,"], dtype=object, index=[5, 6, 7])
    assert _holds(text, ",").tolist() == [True, False, True]
    assert _holds(text, ",").index.tolist() == [5, 6, 7]
    mixed = pd.Series(["a+b", np.nan, None, "c", 12], dtype=object)
    assert _holds(mixed, "+").tolist() == [True, False, False, False, False]
    assert _holds(mixed, "1").tolist() == [False, False, False, False, True]  # a number as its str()
    assert _holds(mixed, "n").tolist() == [False, True, True, False, False]  # a missing value reads "nan"


def test_hydration_minutes_on_the_clock_and_free_of_other_infusions():
    b = pd.DataFrame({
        "enc": [0, 0, 1, 2, 2],
        "kind": ["hydration", "infusion", "infusion", "hydration", "infusion"],
        "drug_class": [HYDRATION, THERAPEUTIC, THERAPEUTIC, HYDRATION, DILUENT],
        "start": [_t("10:00"), _t("10:30"), _t("10:00"), _t("09:00"), _t("09:00")],
        "end": [_t("11:00"), _t("10:45:30"), _t("10:50"), _t("09:40:59"), _t("09:30")],
    })
    got = _hydration_minutes(b, 4)
    # Encounter 0: 60 min of hydration, 15.5 of them with a drug (whole minutes floored);
    # 1: no hydration; 2: a diluent is no other infusion; 3: nothing charted.
    assert got["hyd_clock"].tolist() == [60, 0, 40, 0]
    assert got["hyd_free"].tolist() == [44, 0, 40, 0]
    assert got["hyd_clock"].dtype == "int64"


def test_repeat_push_is_the_first_pair_of_one_group_within_30_minutes():
    a = pd.DataFrame({
        "encounter_id": ["E1", "E1", "E1", "E2", "E2", "E3", "E3", "E4", "E4"],
        "grp": ["0"] * 9,
        "service_key": ["ondansetron"] * 7 + ["ondansetron", "famotidine"],
        "kind": ["push"] * 9,
        "drug_class": [THERAPEUTIC] * 9,
        "start": [_t("10:00"), _t("10:20"), _t("10:40"), _t("10:00"), _t("10:45"), _t("10:00"), pd.NaT,
                  _t("10:00"), _t("10:05")],
        "admin_id": np.arange(9),
        "ev": [f"ev{i}" for i in range(9)],
    })
    facts = pd.DataFrame(index=pd.Index(["E1", "E2", "E3", "E4"], name="encounter_id"))
    _repeat_push_facts(facts, a)
    # E2 is 45 min apart, E3 has no second time, E4's pushes are two drugs.
    assert facts["fast_repeat"].tolist() == [True, False, False, False]
    assert facts.loc["E1", "fast_ev"] == "ev0 | ev1"
    assert facts.loc["E1", "fast_text"] == "ev0 and ev1 are 20 min apart"
    assert facts["fast_text"].isna().tolist() == [False, True, True, True]


def test_overlaps_sums_whole_minutes_per_pair_with_only_the_read_attributes():
    blocks = pd.DataFrame({
        # Admin 0 runs in two blocks (a pause 10:40-10:45); E2's admin 3 shares E1's clock only.
        "encounter_id": ["E1", "E1", "E1", "E1", "E2"],
        "admin_id": [0, 0, 1, 2, 3],
        "start": [_t("10:00"), _t("10:45"), _t("10:30"), _t("10:59:30"), _t("10:00")],
        "end": [_t("10:40"), _t("11:00"), _t("11:30"), _t("11:10"), _t("11:00")],
        "grp": ["0", "0", "1", "0", "0"],
        "ev": ["a", "a2", "b", "c", "d"],
        "site": ["L arm", "L arm", "R arm", "L arm", "L arm"],
        "route": ["IV"] * 5,
    })
    got = _overlaps(blocks, blocks, distinct=True)
    # 0-1: 10 + 15 min over both blocks; 0-2: 30 s, no whole minute; 1-2: 10.5 min floored.
    assert got.columns.tolist() == ["encounter_id", "admin_id_x", "admin_id_y", "grp_x", "grp_y",
                                    "ev_x", "ev_y", "site_x", "site_y", "minutes"]
    assert got[["admin_id_x", "admin_id_y", "minutes"]].values.tolist() == [[0, 1, 25], [1, 2, 10]]
    assert got["encounter_id"].tolist() == ["E1", "E1"]
    assert got["ev_x"].tolist() == ["a", "b"] and got["site_y"].tolist() == ["R arm", "L arm"]
    assert got["minutes"].dtype == "int64"
    both = _overlaps(blocks, blocks, distinct=False)  # each ordered pair
    assert sorted(map(tuple, both[["admin_id_x", "admin_id_y"]].values.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
