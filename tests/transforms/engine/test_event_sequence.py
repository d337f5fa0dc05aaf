"""The sequence of one bag's MAR events (issue 9): every infusion event is used
by the timeline or listed in ``Timeline.unused_events`` with its issue, and
reported as a ``mar_event_not_used`` documentation finding; never nothing.

Small MARs on 2026-11-02 (America/New_York), default policy (missing stop
``derive``). Minutes are active minutes of the administration.
"""

from __future__ import annotations

import pandas as pd

from tests.builders import TZ, at, claim_lines, ev, events, expected_lines, infusion, mar_of
from transforms.audit import run_audit
from transforms.engine.timeline import UNUSED_EVENT_COLUMNS, build_timeline
from transforms.reference.drugs import load_drug_reference
from transforms.vocab.policy import Policy

POLICY = Policy()


def timeline(*rows):
    return build_timeline(events(*rows), POLICY)


def minutes(tl) -> dict[str, int]:
    """``{drug_label: minutes}`` of the administrations that ran (have blocks)."""
    ad = tl.administrations[tl.administrations["has_blocks"]]
    return dict(zip(ad["drug_label"], ad["minutes"].astype(int)))


def unused(tl) -> list[tuple[str, str, str, str]]:
    """``(infusate, action, local HH:MM, issue)`` of each unused event."""
    u = tl.unused_events
    local = u["event_time"].dt.tz_convert(TZ).dt.strftime("%H:%M")
    return list(zip(u["infusate_id"], u["action"], local, u["issue"]))


def lines_of(*rows) -> list[tuple[str, int]]:
    ex = expected_lines(events(*rows), POLICY)
    return sorted(zip(ex["hcpcs"], ex["units"].astype(int)))


def test_valid_mar_has_no_unused_events_and_the_frame_has_its_columns():
    tl = timeline(infusion("09:00", "10:00", "vancomycin"))
    assert list(tl.unused_events.columns) == UNUSED_EVENT_COLUMNS
    assert tl.unused_events.empty
    assert minutes(tl) == {"vancomycin": 60}


def test_stop_without_start_is_listed_and_changes_nothing_else():
    base = [infusion("09:00", "10:00", "vancomycin")]
    tl = timeline(*base, ev("11:00", "stop", "ceftriaxone"))
    assert unused(tl) == [("ceftriaxone", "stop", "11:00", "stop with no start before it")]
    assert tl.unused_events["source_row"].tolist() == [3]
    assert tl.unused_events["drug_label"].tolist() == ["ceftriaxone"]
    assert minutes(tl) == {"vancomycin": 60}
    assert tl.missing_stops.empty
    assert lines_of(*base, ev("11:00", "stop", "ceftriaxone")) == lines_of(*base) == [("96365", 1)]


def test_stop_before_start_is_listed_and_the_start_has_no_stop():
    tl = timeline(ev("08:00", "stop", "ceftriaxone"), ev("09:00", "start", "ceftriaxone"))
    assert unused(tl) == [("ceftriaxone", "stop", "08:00", "stop charted before the infusate's start")]
    assert tl.missing_stops["infusate_id"].tolist() == ["ceftriaxone"]
    assert tl.missing_stops["start"].tolist() == [at("09:00")]
    # No volume/rate to derive a stop from: a push at the start (R-C8 c).
    assert tl.administrations["kind"].tolist() == ["push"]


def test_second_stop_at_a_different_time_keeps_the_first():
    tl = timeline(infusion("09:00", "10:00", "vancomycin"), ev("10:40", "stop", "vancomycin"))
    assert unused(tl) == [("vancomycin", "stop", "10:40", "infusate already stopped")]
    assert minutes(tl) == {"vancomycin": 60}
    assert tl.missing_stops.empty


def test_rate_change_after_stop_invents_no_minutes():
    base = [infusion("09:00", "10:00", "vancomycin", rate=250.0, volume=500.0)]
    late = ev("10:30", "rate_change", "vancomycin", rate=250.0, volume=500.0)
    tl = timeline(*base, late)
    assert unused(tl) == [("vancomycin", "rate_change", "10:30", "rate change on a stopped bag")]
    # Before issue 9 the rate change restarted the bag and a stop was derived
    # from the volume left (250 of 500 mL at 250 mL/h: 10:30-11:30), so 120
    # minutes, 96365 + 96366 x1.
    assert minutes(tl) == {"vancomycin": 60}
    assert tl.missing_stops.empty
    assert lines_of(*base, late) == lines_of(*base) == [("96365", 1)]


def test_pause_and_rate_change_on_a_stopped_bag_are_listed():
    tl = timeline(infusion("09:00", "10:00", "vancomycin"), ev("10:10", "pause", "vancomycin"),
                  ev("10:20", "rate_change", "vancomycin", rate=100.0), ev("10:30", "stop", "vancomycin"))
    assert unused(tl) == [
        ("vancomycin", "pause", "10:10", "pause on a stopped bag"),
        ("vancomycin", "rate_change", "10:20", "rate change on a stopped bag"),
        ("vancomycin", "stop", "10:30", "infusate already stopped"),
    ]
    assert minutes(tl) == {"vancomycin": 60}


def test_events_before_the_first_start_are_listed():
    tl = timeline(ev("08:30", "rate_change", "vancomycin", rate=100.0), ev("08:40", "pause", "vancomycin"),
                  ev("08:50", "resume", "vancomycin"), infusion("09:00", "10:00", "vancomycin"))
    assert unused(tl) == [
        ("vancomycin", "rate_change", "08:30", "rate change before the bag was started"),
        ("vancomycin", "pause", "08:40", "pause before the bag was started"),
        ("vancomycin", "resume", "08:50", "resume before the bag was started"),
    ]
    assert minutes(tl) == {"vancomycin": 60}


def test_resume_after_stop_is_a_restart_of_the_same_service():
    # R-D4 / Ex 31: the same drug restarted continues the same service.
    tl = timeline(infusion("09:00", "09:40", "vancomycin"), ev("10:00", "resume", "vancomycin"),
                  ev("10:30", "stop", "vancomycin"))
    assert tl.unused_events.empty
    assert minutes(tl) == {"vancomycin": 70}


def test_pause_without_resume_ends_the_running_time():
    tl = timeline(ev("09:00", "start", "vancomycin"), ev("09:50", "pause", "vancomycin"))
    assert tl.unused_events.empty
    assert tl.missing_stops.empty
    assert minutes(tl) == {"vancomycin": 50}


def test_resume_while_running_has_no_effect_but_is_used():
    rows = [ev("09:00", "start", "vancomycin"), ev("09:30", "resume", "vancomycin"), ev("10:30", "stop", "vancomycin")]
    tl = timeline(*rows)
    assert tl.unused_events.empty
    assert minutes(tl) == {"vancomycin": 90}
    assert len(tl.blocks) == 1


def test_rate_change_during_a_pause_does_not_restart_the_bag():
    tl = timeline(ev("09:00", "start", "vancomycin"), ev("09:30", "pause", "vancomycin"),
                  ev("09:40", "rate_change", "vancomycin", rate=50.0), ev("10:00", "resume", "vancomycin"),
                  ev("10:30", "stop", "vancomycin"))
    assert tl.unused_events.empty
    assert minutes(tl) == {"vancomycin": 60}


def test_events_out_of_order_in_the_file_are_sorted():
    rows = [ev("10:40", "stop", "vancomycin"), ev("10:00", "stop", "vancomycin"), ev("09:30", "pause", "vancomycin"),
            ev("08:00", "stop", "vancomycin"), ev("09:40", "resume", "vancomycin"), ev("09:00", "start", "vancomycin")]
    tl = timeline(*rows)
    assert unused(tl) == [
        ("vancomycin", "stop", "08:00", "stop charted before the infusate's start"),
        ("vancomycin", "stop", "10:40", "infusate already stopped"),
    ]
    assert tl.unused_events["source_row"].tolist() == [4, 1]
    assert minutes(tl) == {"vancomycin": 50}
    ordered = timeline(*sorted(rows, key=lambda r: r["event_time"]))
    pd.testing.assert_frame_equal(ordered.unused_events.drop(columns="source_row"),
                                  tl.unused_events.drop(columns="source_row"))
    pd.testing.assert_frame_equal(ordered.administrations, tl.administrations)


def test_each_encounter_and_infusate_is_its_own_sequence():
    rows = [infusion("09:00", "10:00", "vancomycin", encounter="E1"), ev("10:30", "stop", "vancomycin", encounter="E2"),
            infusion("09:00", "09:40", "ceftriaxone", encounter="E2"),
            ev("09:50", "stop", "ceftriaxone", encounter="E1")]
    u = timeline(*rows).unused_events
    assert sorted(zip(u["encounter_id"], u["infusate_id"], u["issue"])) == [
        ("E1", "ceftriaxone", "stop with no start before it"),
        ("E2", "vancomycin", "stop with no start before it"),
    ]


# --- findings ------------------------------------------------------------------------------------------


def findings(rows, billed) -> pd.DataFrame:
    return run_audit(mar_of(*rows), billed, load_drug_reference(), POLICY, TZ).findings


def test_unused_event_is_a_documentation_finding_naming_it():
    rows = [infusion("09:00", "10:00", "vancomycin"), ev("10:30", "rate_change", "vancomycin", rate=100.0)]
    f = findings(rows, claim_lines("E1", ("96365", 1)))  # the claim is right
    assert f["finding"].tolist() == ["mar_event_not_used"]
    row = f.iloc[0]
    assert (row["hcpcs"], int(row["billed_units"]), int(row["expected_units"])) == ("", 0, 0)
    assert (row["direction"], row["severity"], row["claim_id"]) == ("documentation", "medium", "C-E1")
    assert pd.isna(row["dollar_impact"])
    for text in ("rate change", "vancomycin", "2026-11-02T15:30Z", "rate change on a stopped bag"):
        assert text in row["explanation"]
    assert row["evidence"] == "vancomycin [infusate vancomycin] rate_change 2026-11-02T15:30Z (source row 3)"


def test_stop_before_start_gives_both_findings():
    rows = [ev("08:00", "stop", "ceftriaxone"), ev("09:00", "start", "ceftriaxone")]
    f = findings(rows, claim_lines("E1", ("96374", 1)))
    assert sorted(f["finding"]) == ["mar_event_not_used", "missing_stop_time"]
    text = f.loc[f["finding"] == "mar_event_not_used", "explanation"].iloc[0]
    assert "stop charted before the infusate's start" in text and "2026-11-02T13:00Z" in text


def test_encounter_with_only_an_unusable_event_is_still_reported():
    f = findings([ev("10:00", "stop", "vancomycin", encounter="E7")], claim_lines("E1", ("96365", 1)).iloc[0:0])
    assert f[["encounter_id", "finding"]].values.tolist() == [["E7", "mar_event_not_used"]]
    assert pd.isna(f.iloc[0]["claim_id"])


def test_one_dose_charted_twice_with_two_routes_codes_the_same_in_any_row_order():
    """A dose charted twice at the same minute is one dose; when the copies disagree on the
    route, the push is kept over the injection (R-A2), whatever the row order."""
    from tests.builders import codes

    copies = [ev("04:58", "given", "ondansetron", route="im_injection"), ev("04:58", "given", "ondansetron")]
    forward, backward = events(*copies), events(*reversed(copies))
    assert codes(forward) == codes(backward) == {"96374": 1}
    admins = build_timeline(backward, Policy()).administrations
    assert admins[["kind", "route", "drug_as_charted"]].values.tolist() == [["push", "iv_push", "ondansetron"]]
