"""GX suites on staged frames: one passing and one failing frame per rule.

Each failing case changes ONE value of a valid 3-row frame and expects exactly
one failure: that row, that column, that reason. The suites are built once
per process (``functools.cache``), so these tests share them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from expectations.runner import ValidationOutcome, validate_extract
from expectations.suites import claims_suite, mar_suite
from transforms.vocab import schemas
from transforms.ingest.readers import stage_claims, stage_mar

TZ = "America/New_York"
ROUTE_VOCAB = (
    "im_injection, intra_arterial, iv_infusion, iv_push, pump, sc_infusion, sc_injection"
)
MAR_KEY_TEXT = "encounter_id, infusate_id, drug, action, event_time, access_site"


def mar_raw() -> pd.DataFrame:
    """Three valid MAR events, as a reader would return them (all text)."""
    return pd.DataFrame(
        {
            "encounter_id": ["E1", "E1", "E1"],
            "patient_id": ["MRN-0042", "MRN-0042", "MRN-0042"],
            "order_id": ["O1", "O1", "O2"],
            "drug": ["vancomycin 1 g", "vancomycin 1 g", "ondansetron"],
            "drug_class": ["therapeutic", None, None],
            "route": ["iv_infusion", "iv_infusion", "iv_push"],
            "action": ["start", "stop", "given"],
            "event_time": ["2026-03-09 10:00", "2026-03-09T15:05:00Z", "2026-03-09 11:30"],
            "rate": ["250", None, None],
            "volume_ml": ["250", None, None],
            "dose": ["1", None, "4"],
            "primary": ["true", None, None],
            "source_row": np.array([1, 2, 3], dtype="int64"),
        }
    )


def claims_raw() -> pd.DataFrame:
    """Three valid claim lines (all text)."""
    return pd.DataFrame(
        {
            "claim_id": ["C1", "C1", "C1"],
            "encounter_id": ["E1", "E1", "E1"],
            "patient_id": ["MRN-0042", "MRN-0042", "MRN-0042"],
            "claim_type": ["institutional"] * 3,
            "line_number": ["1", "2", "3"],
            "service_date": ["2026-03-09", "2026-03-09", "03/09/2026"],
            "hcpcs": ["96365", "96375", "J3490"],
            "units": ["1", "1", "2"],
            "charge": ["400", "120.50", None],
            "claim_frequency": [None, "1", "1"],
            "source_row": np.array([1, 2, 3], dtype="int64"),
        }
    )


def run_mar(raw: pd.DataFrame, **kwargs: object) -> ValidationOutcome:
    return validate_extract(stage_mar(raw, TZ), "mar", **kwargs)  # type: ignore[arg-type]


def run_claims(raw: pd.DataFrame, **kwargs: object) -> ValidationOutcome:
    return validate_extract(stage_claims(raw), "claims", **kwargs)  # type: ignore[arg-type]


def failures_of(outcome: ValidationOutcome) -> list[tuple[int, str, str]]:
    f = outcome.failures
    return list(zip(f["source_row"].tolist(), f["column"].tolist(), f["reason"].tolist()))


def test_suites_are_built_once() -> None:
    assert mar_suite() is mar_suite()
    assert claims_suite() is claims_suite()
    for suite in (mar_suite(), claims_suite()):
        for e in suite.expectations:
            assert e.meta["column"] and e.meta["reason"] and e.meta["rule"]
            assert e.description


def test_valid_mar_frame_passes() -> None:
    outcome = run_mar(mar_raw())
    assert outcome.success
    assert outcome.failures.empty
    assert list(outcome.failures.columns) == ["source_row", "column", "reason"]
    assert outcome.statistics["rows_checked"] == 3
    assert outcome.statistics["rows_failing"] == 0
    assert outcome.statistics["unsuccessful_expectations"] == 0
    assert outcome.docs_dir is None and outcome.results_json is None


def set_value(column: str, value: object, row: int = 1) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        frame.loc[row, column] = value

    return change


def copy_row(frame: pd.DataFrame, source: int, target: int) -> None:
    """Make ``target`` a copy of ``source`` except for its source_row."""
    row = frame.loc[target, "source_row"]
    frame.loc[target] = frame.loc[source]
    frame.loc[target, "source_row"] = row


MAR_CASES: list[tuple[str, Callable[[pd.DataFrame], None], int, str, str]] = [
    ("bad route", set_value("route", "iv_drip"), 2, "route",
     f"route not in vocabulary ({ROUTE_VOCAB})"),
    ("bad action", set_value("action", "hung"), 2, "action",
     "action not in vocabulary (given, pause, rate_change, resume, start, stop)"),
    ("bad drug_class", set_value("drug_class", "antibiotic"), 2, "drug_class",
     "drug_class not in vocabulary (chemo, diluent, hydration, therapeutic)"),
    ("unparseable time", set_value("event_time", "9 March 10am"), 2, "event_time",
     "event_time not parseable (expected ISO-8601 date and time)"),
    ("missing time", set_value("event_time", None), 2, "event_time", "event_time missing"),
    ("nonexistent local time", set_value("event_time", "2026-03-08 02:15"), 2, "event_time",
     "event_time is a nonexistent local time (skipped by the daylight-saving change in "
     "the facility time zone)"),
    ("missing encounter_id", set_value("encounter_id", None), 2, "encounter_id",
     "encounter_id missing"),
    ("blank patient_id", set_value("patient_id", "   "), 2, "patient_id", "patient_id missing"),
    ("missing order_id", set_value("order_id", None), 2, "order_id", "order_id missing"),
    ("missing drug", set_value("drug", None), 2, "drug", "drug missing"),
    ("missing route", set_value("route", None), 2, "route", "route missing"),
    ("rate not a number", set_value("rate", "fast"), 2, "rate", "rate not a number"),
    ("negative rate", set_value("rate", "-5"), 2, "rate", "rate negative"),
    ("negative volume", set_value("volume_ml", "-250"), 2, "volume_ml", "volume_ml negative"),
    ("dose not a number", set_value("dose", "1 g"), 2, "dose", "dose not a number"),
    ("primary not a boolean", set_value("primary", "maybe"), 2, "primary",
     "primary not a boolean (true/false)"),
    ("duplicate event", lambda f: copy_row(f, 0, 2), 3,
     "encounter_id+infusate_id+drug+action+event_time+access_site",
     f"duplicate of row 1 (same {MAR_KEY_TEXT})"),
]


@pytest.mark.parametrize(
    ("change", "row", "column", "reason"),
    [case[1:] for case in MAR_CASES],
    ids=[case[0] for case in MAR_CASES],
)
def test_mar_rule_fails_exactly_the_changed_row(
    change: Callable[[pd.DataFrame], None], row: int, column: str, reason: str
) -> None:
    raw = mar_raw()
    change(raw)
    outcome = run_mar(raw)
    assert not outcome.success
    assert failures_of(outcome) == [(row, column, reason)]
    assert outcome.statistics["rows_failing"] == 1


def test_duplicate_event_reports_first_row_number() -> None:
    """Row 3 repeats row 1 (same instant written differently): 'duplicate of row 1'."""
    raw = mar_raw()
    raw.loc[2] = raw.loc[0]
    raw.loc[2, "event_time"] = "2026-03-09T14:00:00+00:00"  # = 10:00 EDT
    raw.loc[2, "source_row"] = 3
    outcome = run_mar(raw)
    assert failures_of(outcome) == [
        (3, "encounter_id+infusate_id+drug+action+event_time+access_site",
         f"duplicate of row 1 (same {MAR_KEY_TEXT})")
    ]


def test_several_failures_of_one_row_come_in_suite_order() -> None:
    raw = mar_raw()
    raw.loc[0, ["route", "event_time", "patient_id"]] = ["drip", "later", None]
    outcome = run_mar(raw)
    assert [(r, c) for r, c, _ in failures_of(outcome)] == [
        (1, "patient_id"), (1, "event_time"), (1, "route")
    ]


def test_valid_claims_frame_passes() -> None:
    outcome = run_claims(claims_raw())
    assert outcome.success, failures_of(outcome)
    assert outcome.failures.empty


CLAIM_CASES: list[tuple[str, Callable[[pd.DataFrame], None], int, str, str]] = [
    ("4-digit hcpcs", set_value("hcpcs", "9636"), 2, "hcpcs",
     "hcpcs not a CPT/HCPCS code (5 characters, e.g. 96365 or J1100)"),
    ("units zero", set_value("units", "0"), 2, "units", "units less than 1"),
    ("units fraction", set_value("units", "2.5"), 2, "units", "units not a whole number"),
    ("units text", set_value("units", "x"), 2, "units", "units not a whole number"),
    ("units missing", set_value("units", None), 2, "units", "units missing"),
    ("bad claim_type", set_value("claim_type", "dental"), 2, "claim_type",
     "claim_type not in vocabulary (institutional, professional)"),
    ("bad claim_frequency", set_value("claim_frequency", "5"), 2, "claim_frequency",
     "claim_frequency not in vocabulary (1, 7, 8)"),
    ("missing claim_id", set_value("claim_id", None), 2, "claim_id", "claim_id missing"),
    ("missing patient_id", set_value("patient_id", None), 2, "patient_id", "patient_id missing"),
    ("missing hcpcs", set_value("hcpcs", None), 2, "hcpcs", "hcpcs missing"),
    ("line_number text", set_value("line_number", "two"), 2, "line_number",
     "line_number not a whole number"),
    ("bad service_date", set_value("service_date", "2026-02-30"), 2, "service_date",
     "service_date not a date (YYYY-MM-DD or MM/DD/YYYY)"),
    ("missing service_date", set_value("service_date", None), 2, "service_date",
     "service_date missing"),
    ("charge text", set_value("charge", "$120"), 2, "charge", "charge not a number"),
    ("duplicate line", set_value("line_number", "1", row=2), 3, "claim_id+line_number",
     "duplicate of row 1 (same claim_id and line_number)"),
]


@pytest.mark.parametrize(
    ("change", "row", "column", "reason"),
    [case[1:] for case in CLAIM_CASES],
    ids=[case[0] for case in CLAIM_CASES],
)
def test_claim_rule_fails_exactly_the_changed_row(
    change: Callable[[pd.DataFrame], None], row: int, column: str, reason: str
) -> None:
    raw = claims_raw()
    change(raw)
    outcome = run_claims(raw)
    assert not outcome.success
    assert failures_of(outcome) == [(row, column, reason)]


def test_superseded_and_voided_lines_fail_with_their_reason() -> None:
    """Rows 1-2 replaced by rows 4-5 (frequency 7); claim C2 voided (8)."""
    raw = pd.concat([claims_raw().iloc[:2]] * 2 + [claims_raw().iloc[:2]], ignore_index=True)
    raw["claim_frequency"] = ["1", "1", "7", "7", "1", "8"]
    raw["claim_id"] = ["C1", "C1", "C1", "C1", "C2", "C2"]
    raw["source_row"] = np.arange(1, 7, dtype="int64")
    outcome = run_claims(raw)
    replaced = "superseded by replacement claim (frequency 7)"
    voided = "voided (frequency 8)"
    assert failures_of(outcome) == [
        (1, "claim_frequency", replaced),
        (2, "claim_frequency", replaced),
        (5, "claim_frequency", voided),
        (6, "claim_frequency", voided),
    ]


def test_docs_and_result_json_are_written_without_patient_ids(tmp_path: Path) -> None:
    raw = claims_raw()
    raw.loc[1, "hcpcs"] = "9636"
    raw.loc[2, "patient_id"] = None
    docs = tmp_path / "validation" / "claims"
    outcome = run_claims(raw, docs_dir=docs)
    assert outcome.docs_dir == docs and (docs / "index.html").is_file()
    assert outcome.results_json == docs / "validation_claims.json"
    result = json.loads(outcome.results_json.read_text())
    assert result["success"] is False
    assert result["statistics"]["unsuccessful_expectations"] == 2
    for path in docs.rglob("*"):
        if path.suffix in {".html", ".json"}:
            assert "MRN-0042" not in path.read_text(encoding="utf-8"), path


def test_unstaged_frame_is_rejected() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        validate_extract(pd.DataFrame({"source_row": [1]}), "mar")
    staged = stage_mar(mar_raw(), TZ)
    staged["source_row"] = 1
    with pytest.raises(ValueError, match="duplicate source_row"):
        validate_extract(staged, "mar")


def test_source_rows_out_of_order_are_checked_for_repeats() -> None:
    """Rows not numbered in increasing order are hashed: unique ones pass, a repeat is refused."""
    staged = stage_mar(mar_raw(), TZ)
    staged["source_row"] = np.array([3, 1, 2], dtype="int64")
    assert validate_extract(staged, "mar").statistics["rows_checked"] == 3
    staged["source_row"] = np.array([3, 1, 3], dtype="int64")
    with pytest.raises(ValueError, match="duplicate source_row"):
        validate_extract(staged, "mar")


def test_mar_suite_on_helper_rows_only_reports_source_rows_of_the_frame() -> None:
    raw = mar_raw()
    raw["source_row"] = np.array([10, 20, 30], dtype="int64")
    raw.loc[2, "route"] = "oral"
    outcome = run_mar(raw)
    assert outcome.failures["source_row"].tolist() == [30]
    assert outcome.failures["source_row"].dtype == np.int64
    assert set(schemas.MAR_HELPERS) <= set(stage_mar(raw, TZ).columns)
