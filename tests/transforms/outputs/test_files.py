"""The run-folder writer (transforms/outputs/files.py): every file, CSV bytes, the report from memory.

The audit is a small synthetic one run through the pure transforms (read,
stage, audit; no Prefect, no validation), with a fee schedule so findings
carry dollars and a ground truth so the summary carries a score.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from transforms.audit import run_audit
from transforms.ingest.readers import read_extract, stage_claims, stage_mar
from transforms.outputs.files import (
    ADMINISTRATION_COLUMNS,
    RUN_FILES,
    as_csv_text,
    write_run_files,
)
from transforms.outputs.report_html import (
    REPORT_INPUTS, drawn_encounters, rank_encounters, reads_every_administration, render_report,
    render_report_parts, render_run_dir, trend_from_findings,
)
from transforms.outputs.summary import render_markdown, summarise
from transforms.outputs.worklist import worklist
from transforms.reference.drugs import load_drug_reference
from transforms.reference.fees import load_fee_schedule
from transforms.synthetic.generator import generate, write_extracts
from transforms.vocab.policy import Policy
from transforms.vocab.schemas import EXPECTED_COLUMNS, FINDING_COLUMNS, QUARANTINE_COLUMNS

TZ = "America/New_York"
CSV_FILES = ("expected_codes.csv", "findings.csv", "worklist.csv", "quarantine.csv", "administrations.csv")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(result, quarantine, summary, trend) of a 2-day synthetic audit."""
    extracts = generate(seed=11, days=2, encounters_per_day=60)
    paths = write_extracts(extracts, tmp_path_factory.mktemp("in"))
    mar = stage_mar(read_extract(paths["mar"], "mar"), TZ)
    claims = stage_claims(read_extract(paths["claims"], "claims"))
    policy = Policy()
    result = run_audit(mar, claims, load_drug_reference(), policy, TZ, fees=load_fee_schedule())
    quarantine = pd.DataFrame({
        "source": ["mar", "claims"], "row": [3, 7], "column": ["event_time", "units"],
        "reason": ["event_time unreadable", "units 0"], "drug": ["=HYPERLINK(\"x\")", None],
    })
    counts = {"mar": {"rows_in": len(mar) + 1, "rows_kept": len(mar), "rows_quarantined": 1},
              "claims": {"rows_in": len(claims) + 1, "rows_kept": len(claims), "rows_quarantined": 1}}
    summary = summarise(result, counts, policy, extracts.truth)
    days = ["2026-11-01", "2026-11-02"]
    trend = trend_from_findings(result.findings.assign(audit_date=days[1]), days=days)
    return result, quarantine, summary, trend


def formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The OWASP rule cell by cell (a slow, obvious reference): ``'`` before text starting with = + - @ TAB CR."""
    return frame.apply(lambda col: col.map(
        lambda v: "'" + v if isinstance(v, str) and v[:1] != "" and v[:1] in "=+-@\t\r" else v).astype(col.dtype))


def plain_csvs(result, quarantine, facility_tz: str) -> dict[str, bytes]:
    """The five CSVs as the pipeline wrote them before the writer existed (plain ``to_csv``), made
    formula-safe cell by cell."""
    findings = result.findings
    admins = result.administrations[list(ADMINISTRATION_COLUMNS)].copy()
    for col in ("start", "end"):
        admins[col] = pd.to_datetime(admins[col], utc=True).dt.tz_convert(facility_tz).dt.strftime(
            "%Y-%m-%dT%H:%M:%S%z")
    q = quarantine if not quarantine.empty else pd.DataFrame(columns=list(QUARANTINE_COLUMNS))
    frames = {
        "expected_codes.csv": result.expected_lines[list(EXPECTED_COLUMNS) + [
            c for c in result.expected_lines.columns if c not in EXPECTED_COLUMNS]],
        "findings.csv": findings[list(FINDING_COLUMNS) + [c for c in findings.columns if c not in FINDING_COLUMNS]],
        "worklist.csv": worklist(findings),
        "quarantine.csv": q,
        "administrations.csv": admins,
    }
    return {name: formula_safe(frame).to_csv(index=False).encode("utf-8") for name, frame in frames.items()}


def test_every_file_is_written(tmp_path, run):
    result, quarantine, summary, trend = run
    paths = write_run_files(tmp_path / "out", result, quarantine, summary, TZ, trend)
    assert list(paths) == list(RUN_FILES)
    assert all(p.is_file() and p.parent == tmp_path / "out" for p in paths.values())
    assert json.loads(paths["summary.json"].read_text(encoding="utf-8")) == json.loads(
        json.dumps(summary, default=str))
    assert paths["report.md"].read_text(encoding="utf-8") == render_markdown(summary)
    assert "Against the ground truth" in paths["report.html"].read_text(encoding="utf-8")


def test_csvs_are_byte_identical_to_plain_to_csv(tmp_path, run):
    result, quarantine, summary, trend = run
    assert len(result.findings) and result.findings["dollar_impact"].notna().any()
    paths = write_run_files(tmp_path, result, quarantine, summary, TZ, trend)
    expected = plain_csvs(result, quarantine, TZ)
    for name in CSV_FILES:
        assert paths[name].read_bytes() == expected[name], name


def test_empty_quarantine_is_the_contract_header(tmp_path, run):
    result, _, summary, _ = run
    empty = pd.DataFrame(columns=["source", "row", "column", "reason", "drug"])
    paths = write_run_files(tmp_path, result, empty, summary, TZ)
    assert paths["quarantine.csv"].read_text(encoding="utf-8") == ",".join(QUARANTINE_COLUMNS) + "\n"


def test_administration_times_on_the_facility_clock(tmp_path, run):
    result, quarantine, summary, _ = run
    paths = write_run_files(tmp_path, result, quarantine, summary, "America/Chicago")
    admins = pd.read_csv(paths["administrations.csv"], dtype=str, keep_default_na=False)
    assert list(admins.columns) == list(ADMINISTRATION_COLUMNS)
    start = admins["start"]
    assert start.str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}-0[56]00").all()
    # the same instants as the audit's UTC times, only read on the Chicago clock
    assert (pd.to_datetime(start, utc=True) == result.administrations["start"].reset_index(drop=True)).all()


@pytest.mark.parametrize("with_trend", [True, False])
def test_report_from_memory_equals_report_of_the_folder(tmp_path, run, with_trend):
    result, quarantine, summary, trend = run
    trend = trend if with_trend else None
    paths = write_run_files(tmp_path, result, quarantine, summary, TZ, trend)
    assert paths["report.html"].read_text(encoding="utf-8") == render_run_dir(tmp_path, trend=trend)


def test_report_reads_only_the_administrations_of_encounters_with_findings(tmp_path, run):
    # write_run_files hands the report those rows only: the page must be that of every row.
    result, quarantine, summary, _ = run
    write_run_files(tmp_path, result, quarantine, summary, TZ)
    frames = {arg: pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)
              for arg, name in REPORT_INPUTS.items()}
    admins = frames["administrations"]
    drawn = admins[admins["encounter_id"].isin(frames["findings"]["encounter_id"])]
    assert 0 < len(drawn) < len(admins)
    report_summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert not reads_every_administration(report_summary)
    assert render_report(**{**frames, "administrations": drawn}, summary=report_summary) == render_report(
        **frames, summary=report_summary)
    # Without encounters_audited the report counts the administrations' encounters: it needs them all.
    bare = {k: v for k, v in report_summary.items() if k != "encounters_audited"}
    assert reads_every_administration(bare)
    assert render_report(**{**frames, "administrations": drawn}, summary=bare) != render_report(**frames, summary=bare)


def test_administrations_pandas_writes_give_the_same_report(tmp_path, run):
    # An extension dtype the Arrow writer does not model: pandas writes the file, the report is the same.
    result, quarantine, summary, _ = run
    admins = result.administrations.assign(minutes=result.administrations["minutes"].astype("Int64"))
    other = type(result)(admins, result.expected_lines, result.findings)
    paths = write_run_files(tmp_path, other, quarantine, summary, TZ)
    assert paths["administrations.csv"].read_bytes() == plain_csvs(result, quarantine, TZ)["administrations.csv"]
    assert paths["report.html"].read_text(encoding="utf-8") == render_run_dir(tmp_path)


def test_report_without_findings_equals_report_of_the_folder(tmp_path, run):
    result, quarantine, summary, _ = run
    no_findings = type(result)(result.administrations, result.expected_lines, result.findings.iloc[:0])
    paths = write_run_files(tmp_path, no_findings, quarantine, summary, TZ)
    html = paths["report.html"].read_text(encoding="utf-8")
    assert "No findings" in html and html == render_run_dir(tmp_path)


def test_as_csv_text_is_what_a_csv_reads_back():
    frame = pd.DataFrame({
        "text": ["a, b", 'say "hi"', None, "NA", " padded ", "two\nlines"],
        "int": np.arange(6, dtype="int64"),
        "float": [0.1, 1.0, np.nan, 1e20, -2.5, 1 / 3],
        "nullable": pd.array([1, None, 3, 4, None, 6], dtype="Int64"),
        "flag": [True, False, True, True, False, False],
        "mixed": [1, 2.0, "x", None, np.nan, True],
    }, index=[10, 11, 12, 13, 14, 15])
    back = pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype=str, keep_default_na=False)
    assert_frame_equal(as_csv_text(frame), back)
    empty = frame.iloc[:0]
    assert_frame_equal(as_csv_text(empty), pd.read_csv(io.StringIO(empty.to_csv(index=False)), dtype=str,
                                                       keep_default_na=False), check_index_type=False)


def test_report_reads_only_the_rows_of_its_top_encounters_and_first_dates(tmp_path, run):
    # write_run_files keeps, of the expected lines and administrations, the cells of those rows only.
    result, quarantine, summary, _ = run
    write_run_files(tmp_path, result, quarantine, summary, TZ)
    frames = {arg: pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)
              for arg, name in REPORT_INPUTS.items()}
    report_summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    drawn = drawn_encounters(rank_encounters(frames["findings"]), top_n=3)
    assert len(drawn) == 3 < frames["findings"]["encounter_id"].nunique()
    expected, admins = frames["expected"], frames["administrations"]
    first_dates = ~expected["service_date"].duplicated()
    assert first_dates.sum() > 1  # several service dates (a 2-day audit, some after midnight)
    kept = {"findings": frames["findings"], "expected": expected[expected["encounter_id"].isin(drawn) | first_dates],
            "administrations": admins[admins["encounter_id"].isin(drawn)]}
    assert len(kept["expected"]) < len(expected) and 0 < len(kept["administrations"]) < len(admins)
    whole = render_report(**frames, summary=report_summary, top_n=3)
    assert render_report(**kept, summary=report_summary, top_n=3) == whole
    # The same page piece by piece: the all-findings rows as UTF-8 bytes.
    parts = list(render_report_parts(**frames, summary=report_summary, top_n=3))
    assert any(isinstance(part, memoryview) for part in parts)
    assert "".join(p if isinstance(p, str) else str(p, "utf-8") for p in parts) == whole


def test_small_blocks_give_the_same_files(tmp_path, run, monkeypatch):
    # CSV rows and report table rows made a few at a time: same bytes, same page as the folder's.
    import transforms.outputs.csv_cells as csv_cells
    import transforms.outputs.report_findings_table as report_findings_table

    result, quarantine, summary, trend = run
    monkeypatch.setattr(csv_cells, "ROWS_PER_BLOCK", 7)
    monkeypatch.setattr(report_findings_table, "_TABLE_ROWS_PER_BLOCK", 5)
    paths = write_run_files(tmp_path, result, quarantine, summary, TZ, trend)
    expected = plain_csvs(result, quarantine, TZ)
    for name in CSV_FILES:
        assert paths[name].read_bytes() == expected[name], name
    monkeypatch.setattr(report_findings_table, "_TABLE_ROWS_PER_BLOCK", 10_000)
    assert paths["report.html"].read_text(encoding="utf-8") == render_run_dir(tmp_path, trend=trend)


def test_administrations_the_arrow_writer_cannot_model_are_written_by_pandas(tmp_path):
    # A list-valued cell is no column the Arrow writer models: pandas writes the file, and
    # the report still gets only its drawn encounters' rows, as the file reads back.
    from transforms.outputs.files import _write_administrations

    admins = pd.DataFrame({c: ["E1", "E2"] for c in ADMINISTRATION_COLUMNS})
    for c in ("start", "end"):
        admins[c] = pd.to_datetime(["2026-11-02T15:00Z", "2026-11-02T16:00Z"], utc=True)
    admins["infusates"] = pd.Series([["B1"], ["B2", "B3"]], dtype=object)
    path = tmp_path / "administrations.csv"
    drawn = _write_administrations(admins, "America/New_York", path, np.array(["E2"], dtype=object))
    assert drawn["encounter_id"].tolist() == ["E2"] and drawn["infusates"].tolist() == ["['B2', 'B3']"]
    assert drawn["start"].tolist() == ["2026-11-02T11:00:00-0500"]
    written = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert written["encounter_id"].tolist() == ["E1", "E2"] and list(written.columns) == list(ADMINISTRATION_COLUMNS)
