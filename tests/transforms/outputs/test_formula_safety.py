"""Every CSV of a run folder is safe to open in a spreadsheet (OWASP CSV injection), numbers stay numbers.

A MAR drug name ``=HYPERLINK(...)`` and a claim id ``+1...`` come from
outside; wherever a run-folder CSV carries them at the start of a cell
(findings, worklist, quarantine; administrations label an unclassified drug
``?<text>``) the cell starts with ``'``, and no text cell of any CSV starts
like a formula. Columns of numbers
(units, minutes, dollars, row numbers), negative ones included, are written
exactly as before.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from transforms.audit import run_audit
from transforms.ingest.quarantine import split_quarantine
from transforms.ingest.readers import read_extract, stage_claims, stage_mar
from transforms.outputs.files import write_run_files
from transforms.outputs.summary import summarise
from transforms.outputs.worklist import neutralise_formulas
from transforms.reference.drugs import load_drug_reference
from transforms.reference.fees import load_fee_schedule
from transforms.synthetic.generator import generate, write_extracts
from transforms.vocab.policy import Policy

TZ = "America/New_York"
DRUG = '=HYPERLINK("http://evil.example/x","click")'
CLAIM = "+1-800-EVIL"
CSV_FILES = ("expected_codes.csv", "findings.csv", "worklist.csv", "quarantine.csv", "administrations.csv")
FORMULA_FIRST = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder whose MAR drug text and claim ids carry formulas; one MAR and one claim row quarantined."""
    extracts = generate(seed=5, days=1, encounters_per_day=40)
    mar, claims = extracts.mar.copy(), extracts.claims.copy()
    encounter = claims.loc[claims["hcpcs"].astype(str).str.startswith("963"), "encounter_id"].iloc[0]
    mar.loc[mar["encounter_id"].eq(encounter), "drug"] = DRUG
    claims.loc[claims["encounter_id"].eq(encounter), "claim_id"] = CLAIM
    claims.loc[claims["encounter_id"].eq(encounter), "units"] = 9  # over-billed: a finding with that claim id
    paths = write_extracts(dataclasses.replace(extracts, mar=mar, claims=claims), tmp_path_factory.mktemp("in"))
    raw_mar, raw_claims = read_extract(paths["mar"], "mar"), read_extract(paths["claims"], "claims")
    staged_mar, staged_claims = stage_mar(raw_mar, TZ), stage_claims(raw_claims)
    bad_mar = int(staged_mar.loc[staged_mar["drug"].eq(DRUG), "source_row"].iloc[0])
    bad_claim = int(staged_claims.loc[staged_claims["claim_id"].eq(CLAIM), "source_row"].iloc[0])
    kept_mar, q_mar = split_quarantine(staged_mar, raw_mar, pd.DataFrame(
        {"source_row": [bad_mar], "column": ["rate"], "reason": ["rate negative"]}), "mar")
    kept_claims, q_claims = split_quarantine(staged_claims, raw_claims, pd.DataFrame(
        {"source_row": [bad_claim], "column": ["units"], "reason": ["units less than 1"]}), "claims")
    policy = Policy()
    result = run_audit(kept_mar, kept_claims, load_drug_reference(), policy, TZ, fees=load_fee_schedule())
    quarantine = pd.concat([q_mar, q_claims], ignore_index=True)
    counts = {"mar": {"rows_in": len(raw_mar), "rows_kept": len(kept_mar), "rows_quarantined": 1},
              "claims": {"rows_in": len(raw_claims), "rows_kept": len(kept_claims), "rows_quarantined": 1}}
    out = tmp_path_factory.mktemp("run")
    write_run_files(out, result, quarantine, summarise(result, counts, policy), TZ)
    return out, result, quarantine


def read_back(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_no_text_cell_starts_like_a_formula(run_dir):
    out, _, _ = run_dir
    for name in CSV_FILES:
        frame = read_back(out / name)
        assert len(frame), name
        for column in frame.columns:
            cells = frame[column]
            is_number = pd.to_numeric(cells, errors="coerce").notna()  # "-45.0" is a number, not a formula
            assert not (cells.str.startswith(FORMULA_FIRST) & ~is_number).any(), (name, column)


@pytest.mark.parametrize(("name", "column", "value"), [
    ("quarantine.csv", "drug", DRUG),
    ("findings.csv", "claim_id", CLAIM),
    ("worklist.csv", "claim_id", CLAIM),
    ("quarantine.csv", "claim_id", CLAIM),
])
def test_outside_text_is_neutralised_where_it_is_written(run_dir, name, column, value):
    out, _, _ = run_dir
    cells = read_back(out / name)[column]
    assert cells.eq("'" + value).any(), (name, column)
    assert not cells.eq(value).any(), (name, column)


def test_numbers_are_written_unchanged(run_dir):
    out, result, quarantine = run_dir
    findings = read_back(out / "findings.csv")
    assert findings["claim_id"].eq("'" + CLAIM).any()
    for column in ("billed_units", "expected_units"):
        assert findings[column].astype("int64").tolist() == result.findings[column].tolist()
    dollars = pd.to_numeric(findings["dollar_impact"].replace("", None))
    assert dollars.fillna(-1.0).tolist() == result.findings["dollar_impact"].fillna(-1.0).tolist()
    admins = read_back(out / "administrations.csv")
    assert admins["minutes"].astype("int64").tolist() == result.administrations["minutes"].tolist()
    assert read_back(out / "quarantine.csv")["row"].astype("int64").tolist() == quarantine["row"].tolist()


def test_negative_numbers_and_non_text_cells_are_not_formulas():
    frame = pd.DataFrame({
        "dollar_impact": [-45.5, 3.0],
        "units": [-1, 2],
        "mixed": [-3, "-3"],  # an object column: only the text cell is neutralised
        "service_date": [pd.Timestamp("2026-11-02").date(), None],
        "note": ["", "@SUM(A1)"],
    })
    out = neutralise_formulas(frame)
    assert out["dollar_impact"].tolist() == [-45.5, 3.0] and out["dollar_impact"].dtype == "float64"
    assert out["units"].tolist() == [-1, 2] and out["units"].dtype == "int64"
    assert out["mixed"].tolist() == [-3, "'-3"]
    assert out["service_date"].tolist() == frame["service_date"].tolist()
    assert out["note"].tolist() == ["", "'@SUM(A1)"]
