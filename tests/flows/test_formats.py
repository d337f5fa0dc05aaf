"""Every input format reaches the same audit: the question the project starts
from (three piggy-backs on one multi-lumen line versus one mixed bag), as the
canonical CSV, FHIR NDJSON, Epic- and Cerner-style MAR reports and an 837I,
gives the same expected codes and findings through the composition root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from flows.pipeline import audit_files, load
from flows.settings import Settings
from tests.paths import REPO
from transforms.ingest.formats import detect
from transforms.ingest.readers import ExtractError

FIX = REPO / "tests" / "fixtures"
QUESTION = FIX / "question"
CASES = {"three_piggybacks": ({"96365": 1, "96368": 1}, []),
         "one_mixed_bag": ({"96365": 1}, ["concurrent_mixed_bag"])}


def _mar_inputs(case: str) -> dict[str, Path]:
    inputs = {"canonical": QUESTION / f"mar_{case}.csv",
              "epic": FIX / "ehr" / f"epic_{case}.csv",
              "cerner": FIX / "ehr" / f"cerner_{case}.csv"}
    inputs |= {f"fhir:{p.name}": p for p in sorted((FIX / "fhir").glob(f"*question*{case}*")) if p.is_file()}
    return inputs


def _outcome(out: Path) -> tuple[dict[str, int], list[str]]:
    expected = pd.read_csv(out / "expected_codes.csv", dtype={"hcpcs": str})
    findings = pd.read_csv(out / "findings.csv", dtype=str)
    return expected.groupby("hcpcs")["units"].sum().to_dict(), sorted(findings["finding"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_mar_format_gives_the_canonical_answer(case, tmp_path):
    codes, keys = CASES[case]
    inputs = _mar_inputs(case)
    assert any(name.startswith("fhir:") for name in inputs), "FHIR fixtures of the question are missing"
    for name, mar in inputs.items():
        out = tmp_path / name.replace(":", "_")
        # The vendor fixtures are a handful of rows and deliberately carry one
        # word the profile does not know: the share gate is tested elsewhere.
        summary = audit_files(mar, QUESTION / "claims_96365_96368.csv", out, Settings(max_quarantine_share=1.0))
        assert _outcome(out) == (codes, keys), name
        rows = summary["rows"]["mar"]
        assert rows["rows_in"] == rows["rows_kept"] + rows["rows_quarantined"], name


@pytest.mark.parametrize("case", sorted(CASES))
def test_837i_claims_give_the_canonical_answer(case, tmp_path):
    codes, keys = CASES[case]
    # The question's claim C1 carries its account E1 in REF*D9 (CLM01 is the claim id).
    audit_files(QUESTION / f"mar_{case}.csv", FIX / "x12" / "question_837i.x12", tmp_path / "x12",
                Settings(x12_account_ref="REF[D9]"))
    audit_files(QUESTION / f"mar_{case}.csv", QUESTION / "claims_96365_96368.csv", tmp_path / "csv", Settings())
    assert _outcome(tmp_path / "x12") == _outcome(tmp_path / "csv") == (codes, keys)


def test_formats_are_told_from_content_and_can_be_forced(tmp_path):
    groups = detect([QUESTION / "mar_three_piggybacks.csv", FIX / "ehr" / "epic_three_piggybacks.csv"], "mar",
                    profiles=("epic", "cerner"))
    assert {k: [p.name for p in v] for k, v in groups.items()} == {
        "canonical": ["mar_three_piggybacks.csv"], "epic": ["epic_three_piggybacks.csv"]}
    assert list(detect([FIX / "x12" / "question_837i.x12"], "claims")) == ["x12"]
    forced = load(FIX / "ehr" / "epic_three_piggybacks.csv", "mar", Settings(mar_format="epic"))
    assert forced.formats == ("epic",)


def test_several_inputs_and_folders_make_one_extract(tmp_path):
    folder = tmp_path / "mar"
    folder.mkdir()
    for name in ("mar_three_piggybacks.csv", "mar_one_mixed_bag.csv"):
        (folder / name).write_bytes((QUESTION / name).read_bytes())
    loaded = load([folder], "mar", Settings())
    assert len(loaded.raw) == 12 and loaded.raw["source_row"].tolist() == list(range(1, 13))
    assert set(loaded.raw["source_file"]) == {"mar_three_piggybacks.csv", "mar_one_mixed_bag.csv"}


def test_unknown_format_is_one_clear_line(tmp_path):
    odd = tmp_path / "mar.bin"
    odd.write_bytes(b"\x00\x01binary")
    with pytest.raises(ExtractError, match="format not recognised as a mar extract .tried fhir, clif, canonical"):
        detect([odd], "mar")
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "audit", "--mar", str(odd), "--claims",
                           str(QUESTION / "claims_96365_96368.csv"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "mar.bin" in lines[0] and "--mar-format" in lines[0]


def test_formats_command_lists_formats_and_profiles():
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "formats"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0
    for word in ("canonical", "fhir", "clif", "epic", "cerner", "x12", "FILE.toml"):
        assert word in proc.stdout


def test_audit_command_reads_837_and_835(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "audit", "--mar", str(QUESTION / "mar_one_mixed_bag.csv"),
                           "--claims", str(FIX / "x12" / "question_837i.x12"), "--x12-account", "REF[D9]",
                           "--remits", str(FIX / "x12" / "question_835.x12"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    findings = pd.read_csv(out / "findings.csv", dtype=str)
    assert findings["finding"].tolist() == ["concurrent_mixed_bag"]
    assert "835 remittance" in findings["explanation"].iloc[0]
