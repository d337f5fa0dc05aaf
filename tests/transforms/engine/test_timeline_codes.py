"""The timeline works on int codes (issue 10): texts are ranked once and the
outputs must be what sorting and grouping on the texts gives.

Small MARs on 2026-11-02 (America/New_York), default policy unless said.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.builders import ev, events, infusion
from transforms.engine.timeline import build_timeline, unusable_events
from transforms.engine.timeline_events import _text_codes
from transforms.vocab.policy import Policy

POLICY = Policy()


def test_text_codes_number_texts_as_python_sorts_them() -> None:
    values = pd.Series(["b", "B", "é", "a", None, "b", "ab", "Z", "e"], dtype=object)
    codes, distinct = _text_codes(values)
    expected = sorted({v for v in values if v is not None})
    assert list(distinct) == expected
    assert [distinct[c] if c >= 0 else None for c in codes] == list(values)


def test_text_codes_fall_back_to_pandas_for_values_that_are_not_text() -> None:
    codes, distinct = _text_codes(pd.Series([3, 1, 2, 1]))
    assert list(codes) == [2, 0, 1, 0]
    assert list(distinct) == [1, 2, 3]


def _mixed_mar() -> pd.DataFrame:
    """Two encounters: a mixed bag paused and resumed, a bag with a stop
    before its start, a bag never stopped (derived from volume and rate), one
    never stopped with no rate (a push), a pump left running, a dose charted
    twice at one minute on two routes, and a piggyback charted once."""
    return events(
        ev("09:00", "start", "vancomycin", infusate="BAG1", rate=125.0, volume=250.0),
        ev("09:00", "start", "sodium chloride", "hydration", infusate="BAG1", rate=125.0, volume=250.0),
        ev("09:30", "pause", "vancomycin", infusate="BAG1"),
        ev("09:45", "resume", "vancomycin", infusate="BAG1"),
        ev("10:30", "stop", "vancomycin", infusate="BAG1"),
        ev("08:00", "stop", "cefazolin", infusate="BAG2"),
        *infusion("08:30", "09:10", "cefazolin", infusate="BAG2"),
        ev("11:00", "start", "ceftriaxone", infusate="BAG3", rate=100.0, volume=100.0),
        ev("12:00", "start", "pantoprazole", infusate="BAG4"),
        ev("07:00", "start", "fluorouracil", "chemo", infusate="PUMP1", route="pump", encounter="E2"),
        ev("09:00", "given", "ondansetron", infusate="SYR1", route="sc_injection", encounter="E2"),
        ev("09:00", "given", "ondansetron", infusate="SYR1", route="iv_push", encounter="E2"),
        ev("10:00", "given", "cefazolin", infusate="PB1", route="iv_infusion", encounter="E2"),
        *infusion("10:00", "11:00", "rituximab", "chemo", infusate="BAG9", encounter="E2"),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_row_order_never_changes_the_timeline(seed: int) -> None:
    mar = _mixed_mar()
    want = build_timeline(mar, POLICY)
    shuffled = mar.sample(frac=1, random_state=seed).reset_index(drop=True)
    got = build_timeline(shuffled, POLICY)
    for name in ("blocks", "administrations", "missing_stops", "unused_events"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True, obj=name)


def test_mixed_mar_is_resolved_as_the_rules_say() -> None:
    tl = build_timeline(_mixed_mar(), POLICY)
    missing = dict(zip(tl.missing_stops["infusate_id"], tl.missing_stops["resolution"]))
    # The pump left running is a pump start, not a missing stop; a piggyback
    # charted once has no stop either and is a push.
    assert missing == {"BAG3": "derived", "BAG4": "push", "PB1@20261102T150000": "push"}
    assert list(tl.unused_events["issue"]) == ["stop charted before the infusate's start"]
    ad = tl.administrations.set_index("infusates")
    assert ad.loc["BAG1", "minutes"] == 75  # 09:00-10:30 less the 15 paused minutes
    assert ad.loc["BAG1", "service_key"] == "sodium chloride+vancomycin#therapeutic"
    assert ad.loc["BAG3", "minutes"] == 60  # 100 mL at 100 mL/h
    assert ad.loc["PUMP1", "kind"] == "pump"
    # One dose charted twice at a minute is one dose, the push kept over the injection.
    assert ad.loc["SYR1", "route"] == "iv_push"
    assert "PB1@20261102T150000" in ad.index  # a piggyback charted once is a dose of its own
    assert list(tl.administrations["admin_id"]) == list(range(len(tl.administrations)))


def test_block_route_is_the_first_route_charted() -> None:
    mar = events(
        *infusion("09:00", "10:00", "vancomycin", infusate="A"),
        *infusion("09:30", "10:30", "vancomycin", infusate="B"),
    )
    mar.loc[mar["infusate_id"] == "A", "route"] = None
    tl = build_timeline(mar, POLICY)
    assert list(tl.blocks["route"]) == ["iv_infusion"]
    assert list(tl.administrations["route"]) == ["iv_infusion"]
    assert list(tl.blocks["infusates"]) == ["A,B"]
    alone = build_timeline(mar[mar["infusate_id"] == "A"].reset_index(drop=True), POLICY)
    assert list(alone.blocks["route"]) == [None]


def test_simultaneous_doses_of_one_service_are_ordered_by_their_infusates() -> None:
    mar = events(
        ev("09:00", "given", "ondansetron", infusate="B2"),
        ev("09:00", "given", "ondansetron", infusate="B10"),
    )
    assert list(build_timeline(mar, POLICY).administrations["infusates"]) == ["B10", "B2"]


def test_repeat_runs_rename_the_service_and_keep_the_key_order() -> None:
    mar = events(
        *infusion("09:00", "09:40", "vancomycin"),
        *infusion("11:00", "11:40", "vancomycin"),
        *infusion("10:00", "10:40", "acyclovir"),
    )
    tl = build_timeline(mar, Policy(repeat_infusion="sequential"))
    ad = tl.administrations
    assert list(ad["service_key"]) == ["vancomycin#therapeutic", "acyclovir#therapeutic", "vancomycin#therapeutic~2"]
    assert list(tl.blocks["service_key"]) == ["acyclovir#therapeutic", "vancomycin#therapeutic",
                                              "vancomycin#therapeutic~2"]


def test_unusable_events_reads_a_sorted_frame() -> None:
    timed = pd.DataFrame({
        "encounter_id": ["E1"] * 5,
        "infusate_id": ["A", "A", "A", "B", "B"],
        "action": ["stop", "start", "stop", "rate_change", "stop"],
        "route": ["iv_infusion", "iv_infusion", "iv_infusion", "iv_infusion", "pump"],
    })
    issues = unusable_events(timed)
    assert list(issues) == [
        "stop charted before the infusate's start", "", "",
        "rate change before the bag was started",
        "pump disconnect with no pump start in this encounter (included in the pump start, R-H8)",
    ]
    assert issues.index.equals(timed.index)
    assert np.array_equal(unusable_events(timed, pd.Series(["never", "never", "running", "never", "never"])), issues)
