"""The compare step on int encounter codes (transforms.audit): same frames as on the ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.builders import TZ, claim_lines, ev, events, infusion
from transforms.audit import _compared, _compared_on, _decoded, _encounter_codes, _expected_lines, _in_order
from transforms.engine.classify import classify_events
from transforms.engine.coding import code_facility
from transforms.engine.timeline import build_timeline
from transforms.findings.matching import is_drug_admin
from transforms.reference.drugs import load_drug_reference
from transforms.vocab.policy import Policy


def test_codes_follow_the_text_order_of_the_ids_and_leave_the_frames_alone():
    first = pd.DataFrame({"encounter_id": ["E2", "E10", "E10", "E2"], "x": [1, 2, 3, 4]})
    second = pd.DataFrame({"encounter_id": ["E1", "E10"], "y": ["a", "b"]})
    (a, b), names = _encounter_codes([first, second])
    assert names.tolist() == ["E1", "E10", "E2"]  # string order, as sort_values orders ids
    assert a["encounter_id"].tolist() == [2, 1, 1, 2] and b["encounter_id"].tolist() == [0, 1]
    assert a["x"].tolist() == [1, 2, 3, 4] and b["y"].tolist() == ["a", "b"]
    assert first["encounter_id"].tolist() == ["E2", "E10", "E10", "E2"]  # the input is not changed
    back = _decoded(a, names)
    assert back["encounter_id"].tolist() == ["E2", "E10", "E10", "E2"] and back["encounter_id"].dtype == object
    assert _decoded(a.iloc[:0], names)["encounter_id"].dtype == object
    assert _decoded(pd.DataFrame({"encounter_id": pd.Series([0, None], dtype=object)}), names)["encounter_id"].tolist() == ["E1", None]


def test_no_codes_for_a_missing_or_non_text_id():
    assert _encounter_codes([pd.DataFrame({"encounter_id": ["E1", None]})]) is None
    assert _encounter_codes([pd.DataFrame({"encounter_id": ["E1"]}), pd.DataFrame({"x": [1]})]) is None
    assert _encounter_codes([pd.DataFrame({"encounter_id": ["E1"]}), pd.DataFrame({"encounter_id": [7]})]) is None
    (empty,), names = _encounter_codes([pd.DataFrame({"encounter_id": pd.Series([], dtype=object)})])
    assert empty.empty and len(names) == 0


def test_in_order_compares_key_by_key():
    frame = pd.DataFrame({"a": ["E1", "E1", "E2", "E2"], "b": ["x", "y", "a", "a"]})
    assert _in_order(frame, ["a", "b"])
    assert not _in_order(frame.iloc[[1, 0, 2, 3]], ["a", "b"])  # a tie on "a" broken the wrong way by "b"
    assert not _in_order(frame.iloc[[2, 0, 1, 3]], ["a"])
    assert not _in_order(pd.DataFrame({"a": ["E1", np.nan, "E2"]}), ["a"])  # a missing key: the sort decides
    assert not _in_order(pd.DataFrame({"a": ["E1", 3]}), ["a"])  # no order between text and a number


def _lines(rows: list[tuple[str, str, str]], setting: str) -> pd.DataFrame:
    return pd.DataFrame({
        "encounter_id": [r[0] for r in rows], "service_date": [r[1] for r in rows], "setting": setting,
        "hcpcs": [r[2] for r in rows], "units": 1, "modifiers": "", "site_group": 0, "rule_ids": "R",
        "evidence": "ev",
    })


def test_expected_lines_are_sorted_as_before():
    facility = _lines([("E2", "d1", "96365"), ("E1", "d1", "96366"), ("E1", "d1", "96365")], "x")
    professional = _lines([("E1", "d1", "96365")], "professional")
    whole = _expected_lines(facility, professional)
    assert list(zip(whole["encounter_id"], whole["setting"], whole["hcpcs"])) == [
        ("E1", "facility", "96365"), ("E1", "facility", "96366"), ("E1", "professional", "96365"),
        ("E2", "facility", "96365")]
    alone = _expected_lines(facility, professional.iloc[:0])
    assert alone["hcpcs"].tolist() == ["96365", "96366", "96365"] and alone.index.tolist() == [0, 1, 2]
    assert set(alone["setting"]) == {"facility"} and alone["units"].dtype == np.int64


@pytest.fixture(scope="module")
def reference():
    return load_drug_reference()


def test_compare_on_codes_gives_the_frames_of_the_ids(reference):
    # E10 sorts before E2 as text (not as a number); E2 and E1 bill on physician claims.
    mar = events(*[infusion("10:00", "10:50", "vancomycin 1 g", encounter=e, infusate=f"B{e}") for e in
                   ("E2", "E10", "E1")], ev("11:00", "push", "ondansetron 4 mg", route="iv_push", encounter="E10"))
    claims = pd.concat([claim_lines("E10", ("96365", 2)),
                        claim_lines("E2", ("96365", 1), ("96366", 1), claim_type="professional",
                                    place_of_service="11"),
                        claim_lines("E1", ("96365", 1), claim_type="professional", place_of_service="23"),
                        claim_lines("E7", ("96374", 1))], ignore_index=True)
    policy = Policy()
    timeline = build_timeline(classify_events(mar, reference, policy), policy)
    coding = code_facility(timeline, policy, TZ)
    coded = _compared(timeline, coding, claims, policy, TZ, None, None)
    as_ids = _compared_on(timeline, coding, claims, policy, TZ, None, None)
    for got, want in zip(coded, as_ids):
        pd.testing.assert_frame_equal(got, want)
    findings = coded[0]
    assert set(findings["encounter_id"]) == {"E1", "E10", "E2", "E7"}
    assert findings["encounter_id"].tolist() == sorted(findings["encounter_id"])
    assert {"facility", "professional"} <= set(findings["setting"])
    assert "professional_in_facility_pos" in set(findings["finding"])
    assert coded[1]["encounter_id"].tolist() == ["E2"]  # the physician coding ran on codes too


def test_drug_admin_mask_tests_each_code_as_the_code_rule():
    hcpcs = pd.Series(["96365", "J1100", "96379", "C8957", "96365", "99285", "96549", "96380"], dtype=object)
    assert is_drug_admin(hcpcs).tolist() == [True, False, True, True, True, False, True, False]
    assert is_drug_admin(pd.Series([], dtype=object)).tolist() == []
