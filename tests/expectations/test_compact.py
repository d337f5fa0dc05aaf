"""Verdict classes: GX checks one row per class, and the results read as if it checked every row.

The equivalence tests run the same suite with Great Expectations on the whole
staged frame (the reference) and compare every expectation's result, the
statistics and the failure rows with what ``validate_extract`` reports.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import great_expectations as gx
import great_expectations.expectations as gxe
import pytest

from expectations.compact import read_columns, verdict_classes
from expectations.runner import RESULT_FORMAT, validate_extract
from expectations.suites import claims_suite, mar_suite
from transforms.ingest.readers import stage_claims, stage_mar
from tests.expectations.test_suites import (
    CLAIM_CASES, MAR_CASES, TZ, claims_raw, mar_raw,
)


def test_classes_compare_value_columns_by_value_and_null_columns_by_nullness() -> None:
    frame = pd.DataFrame({
        "route": ["iv", "iv", "po", "iv", None, "iv"],
        "patient_id": ["A", "B", "C", None, "D", "E"],
        "other": [1, 2, 3, 4, 5, 6],
    })
    classes = verdict_classes(frame, ["route"], ["patient_id"])
    # rows 0, 1, 5: route "iv" with a patient id; row 3: "iv" without one.
    assert classes.of_row.tolist() == [0, 0, 1, 2, 3, 0]
    assert classes.representatives.tolist() == [0, 2, 3, 4]
    assert classes.weights.tolist() == [3, 1, 1, 1]


def test_object_column_with_non_strings_keeps_every_row_apart() -> None:
    """1, 1.0 and True hash alike but a regex reads them differently: no sharing."""
    frame = pd.DataFrame({"code": pd.Series([1, 1.0, True, "1"], dtype=object)})
    classes = verdict_classes(frame, ["code"], [])
    assert classes.of_row.tolist() == [0, 1, 2, 3]


def test_empty_frame_has_no_classes() -> None:
    classes = verdict_classes(pd.DataFrame({"a": pd.Series([], dtype=object)}), ["a"], [])
    assert len(classes.representatives) == 0 and len(classes.weights) == 0


def test_suite_columns_read_by_value_include_row_conditions() -> None:
    value, null = read_columns(list(mar_suite().expectations))
    assert {"route", "action", "drug_class", "rate", "rate_raw_present", "primary_raw_present"} <= set(value)
    assert {"encounter_id", "patient_id", "event_time", "duplicate_of"} <= set(null)
    assert not set(value) & set(null)
    value, null = read_columns(list(claims_suite().expectations))
    assert {"hcpcs", "modifiers", "units", "charge_raw_present"} <= set(value)
    assert "claim_id" in null and "hcpcs" not in null


@pytest.mark.parametrize("expectation", [
    gxe.ExpectColumnValuesToBeUnique(column="order_id"),
    gxe.ExpectTableRowCountToBeBetween(min_value=1),
    gxe.ExpectColumnValuesToBeInSet(column="route", value_set=["iv"], mostly=0.9),
    gxe.ExpectColumnMeanToBeBetween(column="rate", min_value=0),
], ids=["unique", "row count", "mostly", "mean"])
def test_expectations_that_read_other_rows_are_refused(expectation: gxe.Expectation) -> None:
    with pytest.raises(ValueError, match="cannot be judged per class"):
        read_columns([expectation])


def _many_failures(raw: Callable[[], pd.DataFrame], cases: list, copies: int = 3) -> pd.DataFrame:
    """Every case's changed frame, several times, as one extract (distinct encounters)."""
    parts = []
    for copy in range(copies):
        for number, case in enumerate(cases):
            frame = raw()
            case[1](frame)
            frame["encounter_id"] = frame["encounter_id"].where(frame["encounter_id"].isna(), f"E{copy}-{number}")
            parts.append(frame)
    out = pd.concat(parts, ignore_index=True)
    out["source_row"] = np.arange(1, len(out) + 1, dtype="int64")
    return out


def _reference(staged: pd.DataFrame, suite: gx.ExpectationSuite) -> dict:
    """GX on the whole frame, every row (what the compact run must reproduce)."""
    context = gx.get_context(mode="ephemeral")
    batch = (context.data_sources.add_pandas("ref").add_dataframe_asset("ref")
             .add_batch_definition_whole_dataframe("ref").get_batch(batch_parameters={"dataframe": staged}))
    return batch.validate(suite, result_format=RESULT_FORMAT).to_json_dict()


def _assert_same_as_every_row(staged: pd.DataFrame, kind: str, suite: gx.ExpectationSuite, tmp_path: Path) -> None:
    outcome = validate_extract(staged, kind, docs_dir=tmp_path)  # type: ignore[arg-type]
    ours = json.loads(outcome.results_json.read_text())
    reference = _reference(staged, suite)
    assert ours["statistics"] == reference["statistics"]
    assert ours["success"] == reference["success"] is False
    by_rule = {r["expectation_config"]["meta"]["rule"]: r for r in reference["results"]}
    for result in ours["results"]:
        expected = by_rule[result["expectation_config"]["meta"]["rule"]]
        assert result["success"] == expected["success"]
        assert result["result"] == expected["result"], result["expectation_config"]["meta"]["rule"]
    failed_rows = sorted({row for r in reference["results"] for entry in r["result"].get("unexpected_index_list") or []
                          for row in entry["source_row"]})
    assert sorted(set(outcome.failures["source_row"])) == failed_rows
    assert outcome.statistics["rows_failing"] == len(failed_rows)
    shared = validate_extract(staged, kind)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(shared.failures, outcome.failures)


def test_mar_results_equal_gx_on_every_row(tmp_path: Path) -> None:
    staged = stage_mar(_many_failures(mar_raw, MAR_CASES), TZ)
    _assert_same_as_every_row(staged, "mar", mar_suite(), tmp_path)


def test_claims_results_equal_gx_on_every_row(tmp_path: Path) -> None:
    staged = stage_claims(_many_failures(claims_raw, CLAIM_CASES))
    _assert_same_as_every_row(staged, "claims", claims_suite(), tmp_path)


def test_text_cells_are_compared_by_value_not_by_object() -> None:
    """Equal texts held in distinct objects share a class; None and NaN are both null."""
    iv_a, iv_b = "".join(["i", "v"]), "".join(["i", "v"])
    assert iv_a is not iv_b
    cells = np.array([iv_a, "po", iv_b, None, np.nan, iv_a, "po"], dtype=object)
    frame = pd.DataFrame({"route": pd.Series(cells, dtype=object)})
    classes = verdict_classes(frame, ["route"], [])
    assert classes.of_row.tolist() == [0, 1, 0, 2, 2, 0, 1]
    assert classes.representatives.tolist() == [0, 1, 3]
    assert classes.weights.tolist() == [3, 2, 2]


def test_object_column_of_shared_non_string_objects_keeps_rows_apart() -> None:
    """The mixed-object rule holds when rows share their objects, too."""
    one = 1
    frame = pd.DataFrame({"code": pd.Series(np.array([one, one, "1", True], dtype=object), dtype=object)})
    assert verdict_classes(frame, ["code"], []).of_row.tolist() == [0, 1, 2, 3]


def test_bool_and_null_columns_split_classes() -> None:
    frame = pd.DataFrame({
        "given": np.array([True, False, True, True, False]),
        "rate": [1.0, 1.0, np.nan, 1.0, 1.0],
        "patient_id": ["A", None, "B", "C", None],
        "when": pd.to_datetime(["2026-03-09", None, "2026-03-09", None, None], utc=True),
    })
    classes = verdict_classes(frame, ["given", "rate"], ["patient_id", "when"])
    assert classes.of_row.tolist() == [0, 1, 2, 3, 1]
    assert classes.weights.tolist() == [1, 2, 1, 1]


def test_classes_equal_those_of_factorizing_every_cell_on_a_large_frame() -> None:
    """Many rows and a key wider than one int64 step: the same partition as
    grouping the rows by their tuple of (value, ..., nullness, ...)."""
    rng = np.random.default_rng(7)
    rows = 20_000
    texts = np.array(["iv_push", "iv_infusion", "im", None, "".join(["i", "m"])], dtype=object)
    frame = pd.DataFrame({
        "route": pd.Series(texts[rng.integers(0, 5, rows)], dtype=object),
        "code": pd.Series(np.array([f"C{i}" for i in rng.integers(0, 3000, rows)], dtype=object)),
        "rate": np.where(rng.random(rows) < 0.1, np.nan, rng.integers(0, 4, rows).astype(float)),
        "flag": rng.random(rows) < 0.5,
        **{f"n{i}": pd.Series(np.where(rng.random(rows) < 0.2, None, "x"), dtype=object) for i in range(50)},
    })
    value, null = ["route", "code", "rate", "flag"], [f"n{i}" for i in range(50)]
    classes = verdict_classes(frame, value, null)
    expected = pd.DataFrame({
        **{c: frame[c].astype(object).where(frame[c].notna(), "<null>").astype(str) for c in value},
        **{c: frame[c].isna() for c in null},
    })
    reference, _ = pd.factorize(pd.MultiIndex.from_frame(expected))
    assert classes.of_row.tolist() == reference.tolist()
    assert classes.weights.sum() == rows
    assert classes.representatives.tolist() == sorted(pd.Series(reference).drop_duplicates().index.tolist())


def _as_read_categorical(raw: pd.DataFrame) -> pd.DataFrame:
    """``raw`` with its text columns as ``Categorical`` (as the loader reads CSV)."""
    return raw.astype({c: "category" for c in raw.columns if raw[c].dtype == object})


@pytest.mark.parametrize("kind", ["mar", "claims"])
def test_compact_staged_frame_validates_exactly_as_the_plain_one(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Categorical text: the same classes (codes as factorisation, nulls
    included), the same failures, statistics and docs; GX sees no Categorical."""
    from expectations import runner

    if kind == "mar":
        raw, suite = _many_failures(mar_raw, MAR_CASES), mar_suite()
        plain, compact = stage_mar(raw, TZ), stage_mar(_as_read_categorical(raw), TZ, compact=True)
    else:
        raw, suite = _many_failures(claims_raw, CLAIM_CASES), claims_suite()
        plain, compact = stage_claims(raw), stage_claims(_as_read_categorical(raw), compact=True)
    assert compact["patient_id"].dtype == "category" and compact["patient_id"].isna().any()
    value, null = read_columns(list(suite.expectations))
    ours, reference = verdict_classes(compact, value, null), verdict_classes(plain, value, null)
    for field in ("of_row", "representatives", "weights"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(reference, field))
    seen: list[pd.Series] = []
    shared = runner._run_shared

    def spy(kind_: str, frame: pd.DataFrame):
        seen.append(frame.dtypes)
        return shared(kind_, frame)

    monkeypatch.setattr(runner, "_run_shared", spy)
    expected, got = validate_extract(plain, kind), validate_extract(compact, kind)  # type: ignore[arg-type]
    assert not got.failures.empty
    pd.testing.assert_frame_equal(got.failures, expected.failures)
    assert got.statistics == expected.statistics
    pd.testing.assert_series_equal(seen[1], seen[0])  # GX got the same dtypes: objects, not Categorical
    assert "category" not in {str(d) for d in seen[1]}
    runs = [validate_extract(f, kind, docs_dir=tmp_path / name)  # type: ignore[arg-type]
            for name, f in (("plain", plain), ("compact", compact))]
    docs = [json.loads(run.results_json.read_text()) for run in runs]  # type: ignore[union-attr]
    for doc in docs:  # each docs run has a fresh context, which numbers the expectations anew
        for result in doc["results"]:
            result["expectation_config"].pop("id", None)
    assert docs[0]["results"] == docs[1]["results"] and docs[0]["statistics"] == docs[1]["statistics"]


def test_categorical_of_non_text_is_compared_as_objects() -> None:
    frame = pd.DataFrame({"code": pd.Categorical([1, 2, 1, None])})
    classes = verdict_classes(frame, ["code"], [])
    assert classes.of_row.tolist() == [0, 1, 2, 3]  # not text: every row apart, as for objects
