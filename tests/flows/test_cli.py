"""`infusion-audit audit`: files in, files out, no Prefect server."""

import html
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from transforms.synthetic.generator import generate, write_extracts

EXE = [sys.executable, "-m", "flows.cli"]


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extracts")
    x = generate(seed=11, days=1, encounters_per_day=60, bad_row_count=4)
    return write_extracts(x, folder), x


def run(*args, env=None):
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


def test_audit_writes_the_contract_files_and_reconciles(extracts, tmp_path):
    paths, x = extracts
    out = tmp_path / "out"
    proc = run("audit", "--mar", paths["mar"], "--claims", paths["claims"], "--out", out, "--truth", paths["truth"])
    assert proc.returncode == 0, proc.stderr
    for name, columns in {
        "expected_codes.csv": ["encounter_id", "service_date", "setting", "hcpcs", "units", "modifiers",
                               "rule_ids", "evidence"],
        "findings.csv": ["encounter_id", "claim_id", "hcpcs", "billed_units", "expected_units", "finding",
                         "explanation"],
        "quarantine.csv": ["source", "row", "column", "reason"],
    }.items():
        frame = pd.read_csv(out / name, dtype=str, keep_default_na=False)
        assert list(frame.columns[: len(columns)]) == columns, name
    summary = json.loads((out / "summary.json").read_text())
    for kind, source in (("mar", x.mar), ("claims", x.claims)):
        c = summary["rows"][kind]
        assert c["rows_in"] == len(source) == c["rows_kept"] + c["rows_quarantined"]
    quarantine = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    assert len(quarantine) == len(x.bad_rows) == 4
    assert (quarantine["reason"] != "").all()
    assert summary["score"]["recall"] >= 0.99
    assert summary["score"]["clean_encounters_flagged"] == 0
    # No Prefect server was needed: nothing about one on the output.
    assert "temporary server" not in proc.stdout + proc.stderr


def test_missing_required_column_is_one_clear_line_and_exit_2(extracts, tmp_path):
    paths, _ = extracts
    mar = pd.read_csv(paths["mar"], dtype=str).drop(columns=["action"])
    bad = tmp_path / "mar_no_action.csv"
    mar.to_csv(bad, index=False)
    proc = run("audit", "--mar", bad, "--claims", paths["claims"], "--out", tmp_path / "out")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "mar_no_action.csv" in lines[0] and "action" in lines[0]


def test_unreadable_file_is_a_clear_error(tmp_path, extracts):
    paths, _ = extracts
    junk = tmp_path / "claims.parquet"
    junk.write_bytes(b"not parquet at all")
    proc = run("audit", "--mar", paths["mar"], "--claims", junk, "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert "claims.parquet" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_help_names_every_command():
    proc = run("--help")
    for command in ("audit", "ingest", "nightly", "demo"):
        assert command in proc.stdout


def test_explain_prints_timeline_lines_rules_and_findings(extracts, tmp_path):
    paths, x = extracts
    out = tmp_path / "out"
    assert run("audit", "--mar", paths["mar"], "--claims", paths["claims"], "--out", out).returncode == 0
    findings = pd.read_csv(out / "findings.csv", dtype=str, keep_default_na=False)
    encounter = findings["encounter_id"].iloc[0]
    proc = run("explain", encounter, "--run", out)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert f"Encounter {encounter}" in text and "Timeline" in text
    assert "[R-" in text and "from: " in text            # rule ids and MAR evidence per line
    assert findings["finding"].iloc[0] in text
    # Drugs as the MAR charted them, in the timeline and in the report (issue 11).
    mar = pd.read_csv(paths["mar"], dtype=str, keep_default_na=False)
    charted = pd.read_csv(out / "administrations.csv", dtype=str, keep_default_na=False)
    of_encounter = charted.loc[charted["encounter_id"] == encounter, "drug_as_charted"]
    assert set(mar.loc[mar["encounter_id"] == encounter, "drug"]) >= set(of_encounter)
    assert of_encounter.iloc[0] in text
    page = (out / "report.html").read_text()
    assert any(html.escape(drug, quote=False) in page for drug in set(charted["drug_as_charted"]))
    assert run("explain", "NO-SUCH-ENCOUNTER", "--run", out).returncode == 1


@pytest.mark.parametrize("argv, option", [
    (["nightly", "--date", "11/02/2026"], "--date"),
    (["ingest", "--date", "2026-02-30", "--mar", "m.csv", "--claims", "c.csv"], "--date"),
    (["backfill", "--start", "2026-11-2x", "--end", "2026-11-03"], "--start"),
    (["report", "--run", ".", "--until", "yesterday"], "--until"),
])
def test_a_bad_date_names_the_option_and_the_format(argv, option):
    proc = run(*argv)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert f"argument {option}:" in last and "YYYY-MM-DD" in last
    assert "Traceback" not in proc.stderr


def test_backfill_end_before_start_is_refused_before_any_server_starts(tmp_path):
    proc = run("backfill", "--start", "2026-11-05", "--end", "2026-11-02", "--lake", tmp_path / "lake")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith("argument --end: 2026-11-02 is before --start 2026-11-05")
    assert "server" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "lake").exists()


def test_nightly_console_is_quiet_and_the_logs_go_to_the_run_folder(extracts, tmp_path):
    paths, _ = extracts
    out = tmp_path / "run"
    proc = run("nightly", "--date", "2026-11-02", "--mar", paths["mar"], "--claims", paths["claims"],
               "--lake", tmp_path / "lake", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no Prefect or GX line, no warning
    assert f"log:      {out / 'run.log'}" in proc.stdout
    log = (out / "run.log").read_text(encoding="utf-8")
    assert "Starting temporary server" in log and "Finished in state Completed" in log
    assert "HTTP Request" not in log
    verbose = run("nightly", "-v", "--date", "2026-11-02", "--mar", paths["mar"], "--claims", paths["claims"],
                  "--lake", tmp_path / "lake", "--out", out)
    assert verbose.returncode == 0 and "Finished in state Completed" in verbose.stderr


def test_a_long_audit_shows_one_progress_bar_on_a_terminal(extracts, tmp_path):
    """On a terminal, ``audit`` draws one rich bar naming each step as it starts; piped, it prints none."""
    import os
    import pty

    from flows.pipeline import AUDIT_FILES_STEPS

    paths, _ = extracts
    argv = [*EXE, "audit", "--mar", str(paths["mar"]), "--claims", str(paths["claims"]), "--out", str(tmp_path / "o")]
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=follower, text=True, env=env, timeout=300)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: everything was read
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    text = drawn.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    assert "audit" in text and f"{len(AUDIT_FILES_STEPS)}/{len(AUDIT_FILES_STEPS)}" in text
    assert all(step in text for step in AUDIT_FILES_STEPS[1:])
    assert "findings:" in proc.stdout                       # the summary still goes to standard output
    piped = run("audit", "--mar", paths["mar"], "--claims", paths["claims"], "--out", tmp_path / "p")
    assert piped.returncode == 0 and piped.stderr == ""
