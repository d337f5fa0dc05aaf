"""Documented separate visits inside one encounter (contract visit_id; R-B5, D10)."""

import pandas as pd

from tests.builders import ev, events, expected_lines, infusion
from transforms.vocab.policy import Policy


def lines(mar: pd.DataFrame, policy: Policy = Policy()) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in expected_lines(mar, policy).itertuples():
        key = r.hcpcs + (f"-{r.modifiers}" if r.modifiers else "")
        out[key] = out.get(key, 0) + int(r.units)
    return out


def with_visits(mar: pd.DataFrame, visits: list[str | None]) -> pd.DataFrame:
    return mar.assign(visit_id=visits)


def morning_and_afternoon() -> pd.DataFrame:
    return events(
        infusion("09:00", "10:00", "vancomycin"),
        infusion("14:00", "15:00", "ceftriaxone"),
    )


def test_no_or_empty_visit_ids_are_one_visit():
    mar = morning_and_afternoon()
    one = {"96365": 1, "96367": 1}
    assert lines(mar) == one
    assert lines(with_visits(mar, [None] * 4)) == one
    assert lines(with_visits(mar, [""] * 4)) == one
    assert lines(with_visits(mar, ["V1"] * 4)) == one


def test_undocumented_rows_join_the_one_documented_visit():
    assert lines(with_visits(morning_and_afternoon(), [None, None, "V1", "V1"])) == {"96365": 1, "96367": 1}


def test_a_separate_visit_gets_its_own_initial_with_the_policy_modifier():
    mar = with_visits(morning_and_afternoon(), ["V1", "V1", "V2", "V2"])
    assert lines(mar) == {"96365": 1, "96365-59": 1}
    assert lines(mar, Policy().replace(separate_visit_modifier="XE")) == {"96365": 1, "96365-XE": 1}


def test_visit_order_follows_time_not_the_id():
    mar = with_visits(morning_and_afternoon(), ["Z", "Z", "A", "A"])
    got = expected_lines(mar, Policy())
    first = got.sort_values("site_group").iloc[0]
    assert (first.modifiers, got["site_group"].max()) == ("", 1)


def test_hydration_alone_in_a_later_visit_is_its_initial():
    mar = with_visits(events(
        infusion("09:00", "10:00", "vancomycin"),
        infusion("14:00", "15:00", "normal_saline", "hydration"),
    ), ["V1", "V1", "V2", "V2"])
    assert lines(mar) == {"96365": 1, "96360-59": 1}


def test_a_second_site_within_a_later_visit_still_carries_xu():
    mar = with_visits(events(
        infusion("09:00", "10:00", "vancomycin"),
        infusion("14:00", "15:00", "ceftriaxone"),
        infusion("14:10", "15:00", "acyclovir", site="R forearm PIV"),
    ), ["V1", "V1", "V2", "V2", "V2", "V2"])
    assert lines(mar) == {"96365": 1, "96365-59": 1, "96365-XU": 1}
