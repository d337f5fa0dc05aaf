"""A catalogue of bad or awkward inputs, each with the outcome the run must give.

Every case is one row of :data:`CATALOGUE`: a kind (its test id is the kind's
slug), a builder that writes the input files into a temporary folder, and the
expected outcome, one of

* :data:`REFUSED`: the file cannot be used; the stage raises
  :class:`~transforms.ingest.readers.ExtractError` (or an adapter's subclass)
  whose message is ONE line naming the file, where in it (row, line, column)
  and what to do; through the CLI: a non-zero exit, one line on stderr and no
  traceback;
* :data:`QUARANTINED`: the row(s) that cannot be used are set aside with their
  reason, the others kept;
* :data:`PROCESSED`: valid but unusual input, used as is;
* :data:`GATED`: every row was read, but too many were set aside (or a whole
  vocabulary column failed): the run stops before the audit with
  :class:`~transforms.ingest.usability.UnusableExtract` (CLI exit 3), writes
  no findings and leaves ``quarantine.csv`` and ``unusable.txt``.

Cases run in-process through the composition root's stages (``pipeline.load``,
``pipeline.validate``, ``pipeline.audit``; a few through ``audit_files`` or, for
the lake, ``ingest_day`` / ``nightly_day``), and a handful through the CLI in
subprocesses started in the background on first use. For every case that
validates an extract: rows in = kept + quarantined.

The README's "Bad input" table is generated from the catalogue
(:func:`catalogue_markdown`); :func:`test_readme_table_matches_catalogue`
keeps the two in step (``python -m tests.test_bad_inputs`` rewrites it).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows import pipeline
from flows.settings import Settings
from transforms.audit import AuditResult
from transforms.ingest.adapters.x12 import X12Error
from transforms.ingest.readers import ExtractError
from transforms.ingest.usability import UnusableExtract
from transforms.outputs.worklist import worklist

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
README = ROOT / "README.md"
START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"

REFUSED = "file refused"
QUARANTINED = "row quarantined"
PROCESSED = "processed normally"
GATED = "extract refused (exit 3)"

SETTINGS = Settings()
TZ = SETTINGS.facility_tz

# --- a small valid MAR / claims pair, and ways to bend it ------------------------------------

MAR_COLUMNS = ["encounter_id", "patient_id", "order_id", "infusate_id", "drug", "route", "action",
               "event_time", "access_site", "rate", "rate_unit"]
CLAIM_COLUMNS = ["claim_id", "encounter_id", "patient_id", "claim_type", "bill_type", "line_number",
                 "service_date", "hcpcs", "modifiers", "units", "charge", "revenue_code", "claim_frequency"]
DRUG = "cefTRIAXone (ROCEPHIN) 1 g in sodium chloride 0.9 % 100 mL IVPB"


def ev(action: str, time: str, **changes: str) -> dict[str, str]:
    """One MAR event of bag BAG1 on 2026-11-02; ``time`` is ``HH:MM`` (EST) or a full timestamp."""
    stamp = time if "T" in time or "-" in time else f"2026-11-02T{time}:00-05:00"
    row = {"encounter_id": "E1", "patient_id": "P1", "order_id": "O1", "infusate_id": "BAG1", "drug": DRUG,
           "route": "iv_infusion", "action": action, "event_time": stamp, "access_site": "L forearm PIV",
           "rate": "100", "rate_unit": "mL/h"}
    return {**row, **changes}


def line(n: int = 1, hcpcs: str = "96365", units: str = "1", **changes: str) -> dict[str, str]:
    """One institutional claim line of claim C1 (encounter E1, 2026-11-02)."""
    row = {"claim_id": "C1", "encounter_id": "E1", "patient_id": "P1", "claim_type": "institutional",
           "bill_type": "0131", "line_number": str(n), "service_date": "2026-11-02", "hcpcs": hcpcs,
           "modifiers": "", "units": units, "charge": "250.00", "revenue_code": "0260", "claim_frequency": "1"}
    return {**row, **changes}


def base_mar() -> list[dict[str, str]]:
    """A 60-minute infusion: supports 96365 x1 and nothing else."""
    return [ev("start", "10:00"), ev("stop", "11:00")]


def base_claims() -> list[dict[str, str]]:
    return [line()]


def csv_text(rows: list[dict[str, str]], columns: list[str] | None = None) -> str:
    columns = columns or list(rows[0])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def mar_text(rows: list[dict[str, str]] | None = None) -> str:
    return csv_text(base_mar() if rows is None else rows, MAR_COLUMNS)


def claims_text(rows: list[dict[str, str]] | None = None) -> str:
    return csv_text(base_claims() if rows is None else rows, CLAIM_COLUMNS)


Files = dict[str, Path]
Builder = Callable[[Path], Files]


def put(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def mar_file(content: str | bytes | Callable[[], str | bytes], name: str = "mar.csv") -> Builder:
    """A builder of one MAR file."""
    return lambda tmp: {"mar": put(tmp, name, content() if callable(content) else content)}


def claims_file(content: str | bytes | Callable[[], str | bytes], name: str = "claims.csv") -> Builder:
    """A builder of one claims file."""
    return lambda tmp: {"claims": put(tmp, name, content() if callable(content) else content)}


def both(mar: str | bytes, claims: str | bytes) -> Builder:
    return lambda tmp: {"mar": put(tmp, "mar.csv", mar), "claims": put(tmp, "claims.csv", claims)}


def fixture(kind: str, relative: str) -> Builder:
    return lambda tmp: {kind: FIXTURES / relative}


def mar_rows(*rows: dict[str, str]) -> Builder:
    return mar_file(mar_text(list(rows)))


def claim_rows(*rows: dict[str, str]) -> Builder:
    return claims_file(claims_text(list(rows)))


def parquet_bytes(text: str) -> bytes:
    """A CSV text as a Parquet file (every column a string)."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue()


def parquet_typed(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue()


def many_events(n: int = 20_000) -> str:
    """One encounter, one bag of saline with ``n`` events: start, a rate change every second, stop."""
    first = pd.Timestamp("2026-11-02T06:00:00-05:00")
    stamps = (first + pd.to_timedelta(range(n), unit="s")).strftime("%Y-%m-%dT%H:%M:%S-05:00")
    actions = ["start", *["rate_change"] * (n - 2), "stop"]
    rates = [str(100 + i % 7) for i in range(n)]
    prefix = "E1,P1,O1,BAG1,sodium chloride 0.9 % 1000 mL,iv_infusion,"
    body = "".join(f"{prefix}{a},{t},L forearm PIV,{r},mL/h\n" for a, t, r in zip(actions, stamps, rates))
    return ",".join(MAR_COLUMNS) + "\n" + body


# --- what a case produced -------------------------------------------------------------------

@dataclass
class Run:
    """What one case produced: validated extracts, the audit, files written."""

    tmp: Path
    validated: dict[str, pipeline.ValidatedExtract] = field(default_factory=dict)
    result: AuditResult | None = None
    summary: dict | None = None
    out_dir: Path | None = None
    stderr: str = ""

    def kept(self, kind: str) -> pd.DataFrame:
        return self.validated[kind].kept

    def findings(self) -> list[str]:
        assert self.result is not None
        return list(self.result.findings["finding"])


@dataclass(frozen=True)
class Case:
    """One kind of bad or awkward input and its expected outcome.

    Attributes:
        kind: what is wrong with the input (the test id is its slug).
        build: writes the input files into a folder; returns ``{"mar"|"claims": path}``
            (``runner="lake"``: a list of nights, see :func:`run_lake`).
        outcome: :data:`REFUSED`, :data:`QUARANTINED`, :data:`PROCESSED` or :data:`GATED`.
        quarantined: rows quarantined over the extracts the case builds.
        expect: a text every quarantine reason (or the error message) contains.
        error: the exception type of a refused file.
        audit: also run the audit (the extract not built is the small valid one).
        check: more assertions on the :class:`Run`.
        settings: run settings.
        runner: ``stages`` (in-process load/validate/audit), ``files``
            (``pipeline.audit_files``), ``lake`` (ingest_day / nightly_day),
            ``gate`` (``audit_files`` must stop at the gate), ``cli`` (``infusion-audit audit`` in a subprocess).
        gist: what the README says beyond outcome and count.
    """

    kind: str
    build: Callable[[Path], object]
    outcome: str
    quarantined: int = 0
    expect: str = ""
    error: type[Exception] = ExtractError
    audit: bool = False
    check: Callable[[Run], None] | None = None
    settings: Settings = SETTINGS
    runner: str = "stages"
    gist: str = ""

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.kind.lower()).strip("_")


# --- extra checks -----------------------------------------------------------------------------

def says_set_aside(kind: str, rows: int) -> Callable[[Run], None]:
    """The summary and the report say how many rows of ``kind`` were set aside."""
    def check(run: Run) -> None:
        assert run.summary is not None and run.out_dir is not None
        assert run.summary["set_aside"][kind]["rows"] == rows
        assert "set aside" in (run.out_dir / "report.html").read_text(encoding="utf-8")
    return check


def no_findings(run: Run) -> None:
    assert run.findings() == [], run.result.findings[["finding", "explanation"]].to_dict("records")


def has_finding(key: str, hcpcs: str | None = None, naming: str | None = None) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        f = run.result.findings
        hits = f[f["finding"] == key]
        if hcpcs is not None:
            hits = hits[hits["hcpcs"].astype(str) == hcpcs]
        if naming is not None:
            hits = hits[hits["explanation"].str.contains(naming, regex=False)]
        assert len(hits), f"no {key} finding naming {naming!r}: {f[['finding', 'explanation']].to_dict('records')}"
    return check


def all_of(*checks: Callable[[Run], None]) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        for c in checks:
            c(run)
    return check


def kept_time(kind: str, index: int, utc: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        assert run.kept(kind)["event_time"].iloc[index] == pd.Timestamp(utc)
    return check


def kept_value(kind: str, column: str, value: object, index: int = 0) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        assert run.kept(kind)[column].iloc[index] == value
    return check


def quarantine_column(kind: str, column: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        assert set(run.validated[kind].quarantine["column"]) == {column}
    return check


def worklist_is_formula_safe(run: Run) -> None:
    assert run.result is not None and len(run.result.findings), "the case needs findings"
    sheet = worklist(run.result.findings)
    text = sheet.select_dtypes(include=["object", "string"]).astype("string")
    risky = text.apply(lambda col: col.str.contains(r"^[=+\-@\t\r]", regex=True, na=False))
    assert not risky.any().any(), sheet[risky.any(axis=1)].to_dict("records")
    assert sheet["encounter_id"].str.startswith("'=").all()


def nothing_written_outside(run: Run) -> None:
    """Identifiers with ``../`` are data, never paths: every file written is inside the run folder."""
    assert run.out_dir is not None
    written = {p for p in run.tmp.rglob("*") if p.is_file()}
    inputs = {run.tmp / "mar.csv", run.tmp / "claims.csv"}
    stray = [p for p in written - inputs if run.out_dir not in p.parents]
    assert stray == []
    assert not (run.tmp.parent / "etc").exists()
    quarantine = pd.read_csv(run.out_dir / "quarantine.csv")
    assert quarantine.empty
    assert (run.out_dir / "findings.csv").is_file()


def all_events_used(run: Run, n: int) -> None:
    """Every event kept; 5.6 hours of saline coded as hydration, initial hour plus additional hours."""
    assert len(run.kept("mar")) == n
    expected = run.result.expected_lines.set_index("hcpcs")["units"].to_dict()
    assert expected == {"96360": 1, "96361": 5}, expected


def lake_claim_units(units: list[int]) -> Callable[[Run], None]:
    """The lake's claim lines of the last night's day hold exactly these units (the older copy replaced)."""
    def check(run: Run) -> None:
        from transforms.outputs import lake

        day = run.summary["day"]
        stored = lake.read_days(run.tmp / "lake", "claim_lines", day, day)
        assert sorted(stored["units"].tolist()) == units
    return check


def finding_rows(expected: list[tuple[str, str]]) -> Callable[[Run], None]:
    """The last night's findings are exactly these (finding, hcpcs) pairs."""
    def check(run: Run) -> None:
        f = run.result.findings
        got = sorted(zip(f["finding"], f["hcpcs"].astype(str)))
        assert got == sorted(expected), f[["claim_id", "finding", "hcpcs", "billed_units", "expected_units"]]
    return check


# --- the catalogue -----------------------------------------------------------------------------

H = ",".join(MAR_COLUMNS) + "\n"
BASE_MAR = mar_text()
BASE_CLAIMS = claims_text()
DAY1, DAY2 = date(2026, 11, 2), date(2026, 11, 3)

CATALOGUE: list[Case] = [
    # --- columns ------------------------------------------------------------------------------
    Case("MAR required column missing", mar_file(BASE_MAR.replace(",action", "").replace(",start", "")
                                                  .replace(",stop", "")),
         REFUSED, expect="missing required column(s) for a mar extract: action; add them"),
    Case("MAR column renamed (event_ts)", mar_file(BASE_MAR.replace("event_time", "event_ts", 1)),
         REFUSED, expect="missing required column(s) for a mar extract: event_time"),
    Case("claims required column missing (units)",
         claims_file(csv_text(base_claims(), [c for c in CLAIM_COLUMNS if c != "units"])),
         REFUSED, expect="for a claims extract: units"),
    Case("two columns collide after lower-casing", mar_file(BASE_MAR.replace("drug,", "drug,DRUG ,", 1)
                                                            .replace(f"{DRUG},", f"{DRUG},x,")),
         REFUSED, expect="collide after lower-casing and trimming"),
    Case("column named source_row (reserved)", mar_file(BASE_MAR.replace("\n", ",source_row\n", 1)
                                                         .replace("mL/h\n", "mL/h,1\n")),
         REFUSED, expect="'source_row' is reserved"),
    Case("column names in other case and padded", mar_file(BASE_MAR.replace(
        "encounter_id,patient_id", " Encounter_ID ,PATIENT_ID", 1)), PROCESSED),
    Case("unknown extra column", mar_file(BASE_MAR.replace("\n", ",bed\n", 1).replace("mL/h\n", "mL/h,4N\n")),
         PROCESSED, check=kept_value("mar", "bed", "4N")),
    # --- types ---------------------------------------------------------------------------------
    Case("non-numeric rate", mar_rows(ev("start", "10:00", rate="fast"), ev("stop", "11:00")),
         QUARANTINED, 1, "rate not a number"),
    Case("non-numeric units", claim_rows(line(units="two")), QUARANTINED, 1, "units not a whole number"),
    Case("fractional units", claim_rows(line(units="1.5")), QUARANTINED, 1, "units not a whole number"),
    Case("negative units", claim_rows(line(units="-1")), QUARANTINED, 1, "units less than 1"),
    Case("zero units", claim_rows(line(units="0")), QUARANTINED, 1, "units less than 1"),
    Case("units 2.0 (a whole number written as decimal)", claim_rows(line(units="2.0")), PROCESSED,
         check=kept_value("claims", "units", 2)),
    Case("negative rate", mar_rows(ev("start", "10:00", rate="-100"), ev("stop", "11:00")),
         QUARANTINED, 1, "rate negative"),
    Case("line_number not a whole number", claim_rows(line(line_number="1a")), QUARANTINED, 1,
         "line_number not a whole number"),
    Case("charge with a currency sign", claim_rows(line(charge="$250.00")), QUARANTINED, 1,
         "charge not a number"),
    Case("Parquet with wrong stored types (float units, epoch event time)",
         lambda tmp: {"claims": put(tmp, "claims.parquet", parquet_typed(
             pd.read_csv(io.StringIO(claims_text([line(), line(2, "96366")])), dtype=str)
             .assign(units=[1.0, 2.5], line_number=[1, 2]))),
             "mar": put(tmp, "mar.parquet", parquet_typed(
                 pd.read_csv(io.StringIO(BASE_MAR), dtype=str).assign(event_time=[1793631600, 1793635200])))},
         QUARANTINED, 3, "not", gist="units not a whole number; event_time not parseable"),
    Case("required value empty (encounter_id)", mar_rows(ev("start", "10:00", encounter_id=""), ev("stop", "11:00")),
         QUARANTINED, 1, "encounter_id missing", check=quarantine_column("mar", "encounter_id")),
    # --- dates and times --------------------------------------------------------------------------
    Case("impossible date (2026-02-30)", mar_rows(ev("start", "2026-02-30T10:00:00-05:00"), ev("stop", "11:00")),
         QUARANTINED, 1, "event_time not parseable"),
    Case("unparseable event time", mar_rows(ev("start", "10:00"), ev("stop", "yesterday at ten")),
         QUARANTINED, 1, "event_time not parseable"),
    Case("date without time as event time", mar_rows(ev("start", "2026-11-02"), ev("stop", "11:00")),
         QUARANTINED, 1, "event_time not parseable"),
    Case("impossible service date (11/31/2026)", claim_rows(line(service_date="11/31/2026")),
         QUARANTINED, 1, "service_date not a date"),
    Case("service date in US format (MM/DD/YYYY)", claim_rows(line(service_date="11/02/2026")), PROCESSED,
         check=kept_value("claims", "service_date", date(2026, 11, 2))),
    Case("local time in the spring-forward gap (02:30 on 2026-03-08)",
         mar_rows(ev("start", "2026-03-08T01:30:00"), ev("stop", "2026-03-08T02:30:00")),
         QUARANTINED, 1, "nonexistent local time"),
    Case("local time in the repeated fall-back hour (01:30 on 2026-11-01)",
         mar_rows(ev("start", "2026-11-01T01:30:00"), ev("stop", "2026-11-01T02:30:00")), PROCESSED,
         check=all_of(kept_time("mar", 0, "2026-11-01T05:30:00Z"), kept_time("mar", 1, "2026-11-01T07:30:00Z")),
         gist="first (daylight-time) occurrence"),
    Case("naive timestamps, no zone configured (default facility zone)",
         mar_rows(ev("start", "2026-11-02T10:00:00"), ev("stop", "2026-11-02T11:00:00")), PROCESSED,
         check=kept_time("mar", 0, "2026-11-02T15:00:00Z"), gist=f"read as wall time in {TZ}"),
    Case("naive timestamps with an empty facility zone setting",
         mar_rows(ev("start", "2026-11-02T10:00:00"), ev("stop", "2026-11-02T11:00:00")), REFUSED,
         expect="unknown facility time zone", error=ValueError, settings=Settings(facility_tz=""),
         gist="setting refused: unknown facility time zone"),
    Case("timestamps with Z and other offsets mixed",
         mar_rows(ev("start", "2026-11-02T15:00:00Z"), ev("stop", "2026-11-02T12:00:00-04:00")), PROCESSED,
         check=kept_time("mar", 1, "2026-11-02T16:00:00Z")),
    # --- event sequences ------------------------------------------------------------------------------
    Case("pause without resume", mar_rows(ev("start", "10:00"), ev("pause", "10:40"), ev("stop", "11:00")),
         PROCESSED, audit=True, check=no_findings, gist="minutes end at the pause"),
    Case("resume without pause", mar_rows(ev("start", "10:00"), ev("resume", "10:30"), ev("stop", "11:00")),
         PROCESSED, audit=True, check=no_findings),
    Case("events out of order", mar_rows(ev("stop", "11:00"), ev("start", "10:00")), PROCESSED, audit=True,
         check=no_findings, gist="sorted by time"),
    Case("exact duplicate event", mar_rows(ev("start", "10:00"), ev("start", "10:00"), ev("stop", "11:00")),
         QUARANTINED, 1, "duplicate of row 1"),
    Case("duplicate claim line", claim_rows(line(), line()), QUARANTINED, 1, "duplicate of row 1"),
    Case("conflicting duplicate claim line (same claim and line, other code)",
         claim_rows(line(), line(hcpcs="96374")), QUARANTINED, 1, "duplicate of row 1"),
    # --- codes and vocabularies ------------------------------------------------------------------------
    Case("malformed HCPCS", claim_rows(line(hcpcs="9636")), QUARANTINED, 1, "hcpcs not a CPT/HCPCS code"),
    Case("malformed modifier", claim_rows(line(modifiers="XUU")), QUARANTINED, 1, "modifiers not 2-character"),
    Case("modifiers with spaces and lower case", claim_rows(line(hcpcs="96374", modifiers=" xu ; 59")),
         PROCESSED, check=kept_value("claims", "modifiers", "XU,59")),
    Case("unknown route", mar_rows(ev("start", "10:00", route="oral"), ev("stop", "11:00")),
         QUARANTINED, 1, "route not in vocabulary"),
    Case("unknown action", mar_rows(ev("start", "10:00"), ev("bolus", "10:30"), ev("stop", "11:00")),
         QUARANTINED, 1, "action not in vocabulary"),
    Case("unknown drug_class", mar_file(mar_text().replace("\n", ",drug_class\n", 1).replace("mL/h\n", "mL/h,vitamin\n")),
         QUARANTINED, 2, "drug_class not in vocabulary"),
    Case("unknown claim_type", claim_rows(line(claim_type="dental")), QUARANTINED, 1, "claim_type not in vocabulary"),
    Case("unknown claim_frequency", claim_rows(line(claim_frequency="5")), QUARANTINED, 1,
         "claim_frequency not in vocabulary"),
    # --- empty, truncated, corrupt files -----------------------------------------------------------------
    Case("empty MAR file (0 bytes)", mar_file(b""), REFUSED, expect="empty file: no header row; export"),
    Case("empty claims file (0 bytes)", claims_file(b""), REFUSED, expect="empty file: no header row"),
    Case("header-only MAR", mar_file(H), PROCESSED, audit=True,
         check=all_of(has_finding("no_administration_charted", "96365")),
         gist="0 rows; the billed lines get no_administration_charted"),
    Case("truncated CSV (last row cut mid-row)", mar_file(BASE_MAR[:-60]), QUARANTINED, 1, "event_time",
         gist="the cut row: required values missing (event_time, ...)"),
    Case("truncated CSV (cut inside a quoted cell)", mar_file(H + f'E1,P1,O1,BAG1,"{DRUG[:20]}'), REFUSED,
         expect="EOF inside string"),
    Case("truncated CSV.gz", mar_file(lambda: gzip.compress(BASE_MAR.encode())[:40], "mar.csv.gz"), REFUSED,
         expect="cannot read file"),
    Case("truncated Parquet", mar_file(lambda: parquet_bytes(BASE_MAR)[:-40], "mar.parquet"), REFUSED,
         expect="not a readable Parquet file"),
    Case("truncated FHIR NDJSON", fixture("mar", "fhir/truncated_export_r4.ndjson"), QUARANTINED, 1,
         "not valid JSON"),
    Case("truncated X12 837", fixture("claims", "x12/bad_truncated.x12"), REFUSED, error=X12Error,
         expect="Trailer\" missing"),
    Case("non-UTF-8 bytes (Latin-1)", mar_file(BASE_MAR.replace("PIV", "P\xcdV").encode("latin-1")), REFUSED,
         expect="not valid UTF-8 text (undecodable byte at offset"),
    Case("unsupported file type", mar_file(b"PK\x03\x04", "mar.xlsx"), REFUSED,
         expect="format not recognised as a mar extract"),
    Case("X12 claims file that is empty", claims_file(b"", "claims.x12"), REFUSED,
         expect="format not recognised as a claims extract (tried x12, canonical); name it"),
    # --- CSV dialect ------------------------------------------------------------------------------------------
    Case("byte-order mark before the header", mar_file(b"\xef\xbb\xbf" + BASE_MAR.encode()), PROCESSED),
    Case("CRLF line ends", mar_file(BASE_MAR.replace("\n", "\r\n")), PROCESSED,
         check=kept_value("mar", "rate_unit", "mL/h", 1)),
    Case("quoted commas and newlines in a cell",
         mar_rows(ev("start", "10:00", drug="vancomycin 1,250 mg\nin NS 250 mL"),
                  ev("stop", "11:00", drug="vancomycin 1,250 mg\nin NS 250 mL")), PROCESSED,
         check=kept_value("mar", "drug", "vancomycin 1,250 mg\nin NS 250 mL")),
    Case("blank lines between rows", mar_file(BASE_MAR.replace("\n", "\n\n")), PROCESSED,
         check=kept_value("mar", "source_row", 2, 1)),
    Case("first row with its trailing empty cells left off",
         mar_file(H + BASE_MAR.splitlines()[1].removesuffix(",100,mL/h") + "\n" + BASE_MAR.splitlines()[2] + "\n"),
         PROCESSED, gist="short rows padded with empty cells"),
    Case("row with more cells than the header", mar_file(BASE_MAR + "E1,P1,O1,BAG1,x,iv_push,given,"
                                                         "2026-11-02T12:00:00-05:00,PIV,1,mL/h,extra\n"),
         REFUSED, expect="Expected 11 fields in line 4, saw 12"),
    Case("values padded with spaces", mar_file(BASE_MAR.replace(",iv_infusion,", ",  IV_Infusion ,")),
         PROCESSED, check=kept_value("mar", "route", "iv_infusion")),
    # --- hostile text ------------------------------------------------------------------------------------------
    Case("identifiers with path characters (../)",
         both(mar_text([ev("start", "10:00", encounter_id="../../etc/E1", infusate_id="../BAG1"),
                        ev("stop", "11:00", encounter_id="../../etc/E1", infusate_id="../BAG1")]),
              claims_text([line(encounter_id="../../etc/E1", claim_id="..\\C1", units="2")])),
         PROCESSED, runner="files", check=nothing_written_outside, gist="kept as text; never a path"),
    Case("spreadsheet formulas in text fields",
         both(mar_text([ev("start", "10:00", encounter_id="=1+2", drug="=HYPERLINK(\"x\")", access_site="@SUM(1)"),
                        ev("stop", "11:00", encounter_id="=1+2", drug="=HYPERLINK(\"x\")", access_site="@SUM(1)")]),
              claims_text([line(encounter_id="=1+2", claim_id="+C1", units="2")])),
         PROCESSED, audit=True, check=worklist_is_formula_safe, gist="worklist cells prefixed with '"),
    # --- encounters and volume ----------------------------------------------------------------------------------
    Case("claims with no MAR", both(mar_text(base_mar()), claims_text([line(encounter_id="E2", claim_id="C2")])),
         PROCESSED, audit=True, check=all_of(has_finding("no_administration_charted", "96365"),
                                             has_finding("administration_not_billed", "96365")),
         gist="findings no_administration_charted (and administration_not_billed for the MAR alone)"),
    Case("MAR with no claims (header-only claims)", claims_file(",".join(CLAIM_COLUMNS) + "\n"), PROCESSED,
         audit=True, check=has_finding("administration_not_billed", "96365"),
         gist="finding administration_not_billed"),
    Case("one encounter with 20,000 events", mar_file(many_events), PROCESSED, audit=True,
         check=lambda run: all_events_used(run, 20_000), gist="kept, audited in seconds"),
    # --- claim frequency -----------------------------------------------------------------------------------------
    Case("replacement claim (frequency 7) in the same file",
         claim_rows(line(units="2"), line(units="1", claim_frequency="7", bill_type="0137")),
         QUARANTINED, 1, "superseded by replacement claim", check=kept_value("claims", "units", 1)),
    Case("void claim (frequency 8) in the same file",
         claim_rows(line(), line(claim_frequency="8", bill_type="0138")), QUARANTINED, 2, "voided (frequency 8)"),
    Case("837 replacement claim", fixture("claims", "x12/question_837i_replacement.x12"), PROCESSED),
    Case("837 void claim", fixture("claims", "x12/question_837i_void.x12"), QUARANTINED, 2, "voided"),
    # --- other formats ----------------------------------------------------------------------------------------------
    Case("FHIR resource that fails validation", lambda tmp: {"mar": put(
        tmp, "mar.ndjson", (FIXTURES / "fhir/bad_inputs_r4.ndjson").read_text().splitlines()[1] + "\n")},
         QUARANTINED, 1, "not a valid FHIR R4B MedicationAdministration"),
    Case("837 with a missing segment (CL1)", fixture("claims", "x12/bad_missing_cl1.x12"), REFUSED, error=X12Error,
         expect="(CL1) missing"),
    Case("837 with a repeated segment (DMG)", fixture("claims", "x12/bad_repeated_dmg.x12"), REFUSED,
         error=X12Error, expect="Segment DMG exceeded max count"),
    Case("837 line with non-numeric units", fixture("claims", "x12/bad_units_837i.x12"), QUARANTINED, 1,
         "unit count (SV205) is not a number"),
    # --- through the CLI (subprocess: exit code and one line on stderr) -----------------------------------------------
    Case("CLI: empty MAR file", both(b"", BASE_CLAIMS), REFUSED, runner="cli", expect="empty file: no header row"),
    Case("CLI: truncated Parquet claims", lambda tmp: {"mar": put(tmp, "mar.csv", BASE_MAR),
                                                       "claims": put(tmp, "claims.parquet",
                                                                     parquet_bytes(BASE_CLAIMS)[:-40])},
         REFUSED, runner="cli", expect="not a readable Parquet file"),
    Case("CLI: 837 with a missing segment", lambda tmp: {"mar": put(tmp, "mar.csv", BASE_MAR),
                                                         "claims": FIXTURES / "x12/bad_missing_cl1.x12"},
         REFUSED, runner="cli", expect="(CL1) missing"),
    # --- the engine's unused events and the lake's cross-night rules ------------------------------------------
    Case("stop without start", mar_rows(ev("start", "10:00"), ev("stop", "11:00"),
                                        ev("stop", "12:00", infusate_id="BAG2")),
         PROCESSED, audit=True, check=has_finding("mar_event_not_used", naming="BAG2"),
         gist="kept; mar_event_not_used finding"),
    Case("stop before start", mar_rows(ev("stop", "09:00"), ev("start", "10:00"), ev("stop", "11:00")),
         PROCESSED, audit=True, check=has_finding("mar_event_not_used", naming="BAG1"),
         gist="kept; mar_event_not_used finding"),
    Case("duplicate stop at another time", mar_rows(ev("start", "10:00"), ev("stop", "11:00"), ev("stop", "11:20")),
         PROCESSED, audit=True, check=has_finding("mar_event_not_used", naming="BAG1"),
         gist="kept; mar_event_not_used finding"),
    Case("rate change on a stopped bag",
         mar_rows(ev("start", "10:00"), ev("stop", "11:00"), ev("rate_change", "11:30", rate="50")),
         PROCESSED, audit=True, check=has_finding("mar_event_not_used", naming="BAG1"),
         gist="kept; mar_event_not_used finding"),
    Case("same day ingested twice with corrections",
         lambda tmp: [(DAY1, BASE_MAR, claims_text([line(units="2")]), "ingest"),
                      (DAY1, BASE_MAR, BASE_CLAIMS, "nightly")],
         PROCESSED, runner="lake", check=all_of(finding_rows([]), lake_claim_units([1])),
         gist="the later extract replaces the day's rows"),
    Case("replacement claim across two days",
         lambda tmp: [(DAY1, BASE_MAR, claims_text([line(units="2")]), "ingest"),
                      (DAY2, H, claims_text([line(units="1", claim_frequency="7", bill_type="0137")]), "nightly")],
         PROCESSED, runner="lake", check=finding_rows([]), gist="the replacement supersedes the earlier lines"),
    Case("void claim across two days",
         lambda tmp: [(DAY1, BASE_MAR, BASE_CLAIMS, "ingest"),
                      (DAY2, H, claims_text([line(claim_frequency="8", bill_type="0138")]), "nightly")],
         PROCESSED, runner="lake", quarantined=1, check=finding_rows([("administration_not_billed", "96365")]),
         gist="the void removes the claim's lines from the day's audit"),
    # --- extracts read row by row but unusable as a whole: the gate ------------------------------------------
    Case("MAR with another EHR's action words (New Bag, Stopped)",
         both(mar_text([ev("New Bag", "10:00"), ev("Stopped", "11:00"), ev("New Bag", "12:00", infusate_id="BAG2"),
                        ev("Stopped", "13:00", infusate_id="BAG2")]), claims_text()),
         GATED, quarantined=4, expect="action", runner="gate",
         gist="action not in vocabulary for every row: the run stops, no findings; map it with a profile"),
    Case("MAR event times in US format (11/02/2026 03:12)",
         both(mar_text([ev("start", "11/02/2026 10:00"), ev("stop", "11/02/2026 11:00")]), claims_text()),
         GATED, quarantined=2, expect="event_time", runner="gate",
         gist="event_time not parseable for every row: the run stops, no findings"),
    Case("a quarter of the claim lines unusable (over the 5 % share)",
         both(mar_text(), claims_text([line(1), line(2, hcpcs="9636"), line(3, units="1"), line(4, units="1")])),
         GATED, quarantined=1, expect="hcpcs", runner="gate",
         gist="1 of 4 claim lines set aside: over max_quarantine_share, the run stops"),
    Case("the same quarter with max_quarantine_share 0.5",
         both(mar_text(), claims_text([line(1), line(2, hcpcs="9636"), line(3, units="1"), line(4, units="1")])),
         QUARANTINED, quarantined=1, expect="hcpcs", runner="files", settings=SETTINGS.with_(max_quarantine_share=0.5),
         check=says_set_aside("claims", 1),
         gist="under the setting: audited; console, summary and report say 1 row was set aside"),
    Case("nightly: a broken re-extract of a day already in the lake",
         lambda tmp: [(DAY1, BASE_MAR, BASE_CLAIMS, "nightly"),
                      (DAY1, mar_text([ev("New Bag", "10:00"), ev("Stopped", "11:00")]), BASE_CLAIMS, "nightly")],
         GATED, quarantined=2, expect="action", runner="lake",
         gist="refused before the lake: the day keeps its earlier inputs and findings"),
]


# --- running a case ----------------------------------------------------------------------------

_BASE: dict[str, pipeline.ValidatedExtract] = {}


def base_extract(kind: str, tmp: Path) -> pipeline.ValidatedExtract:
    """The small valid extract of ``kind`` (validated once per process)."""
    if kind not in _BASE:
        path = put(tmp / "base", f"{kind}.csv", BASE_MAR if kind == "mar" else BASE_CLAIMS)
        _BASE[kind] = pipeline.validate(pipeline.load(path, kind, SETTINGS))
    return _BASE[kind]


def assert_one_line(message: str, where: str) -> None:
    assert message and "\n" not in message.strip(), message
    assert "Traceback" not in message
    assert where in message, f"{where!r} not named in {message!r}"


def run_stages(case: Case, tmp: Path) -> Run:
    files = case.build(tmp)
    run = Run(tmp)
    for kind in ("mar", "claims"):
        if kind not in files:
            continue
        if case.outcome == REFUSED:
            with pytest.raises(case.error) as caught:
                pipeline.load(files[kind], kind, case.settings)
            message = str(caught.value)
            assert case.expect in message
            assert_one_line(message, "" if case.error is ValueError else files[kind].name)
            assert "; " in message, f"no 'what to do' after the problem: {message!r}"
            return run
        run.validated[kind] = pipeline.validate(pipeline.load(files[kind], kind, case.settings), docs_dir=None)
    if case.audit:
        mar = run.validated["mar"] if "mar" in run.validated else base_extract("mar", tmp)
        claims = run.validated["claims"] if "claims" in run.validated else base_extract("claims", tmp)
        run.result = pipeline.audit(mar.kept, claims.kept, case.settings)
    return run


def run_files(case: Case, tmp: Path) -> Run:
    files = case.build(tmp)
    run = Run(tmp, out_dir=tmp / "out")
    run.summary = pipeline.audit_files(files["mar"], files["claims"], run.out_dir, case.settings)
    for kind, counts in run.summary["rows"].items():
        run.validated[kind] = pipeline.ValidatedExtract(kind, pd.DataFrame(), pd.DataFrame(), counts)
    return run


def run_lake(case: Case, tmp: Path) -> Run:
    """Nights ``(day, mar_text, claims_text, "ingest"|"nightly")`` in order, in one lake.

    ``ingest``: load, validate and commit the day's inputs (``commit_inputs``);
    ``nightly``: :func:`flows.pipeline.nightly_day`, whose findings.csv is the
    run's result."""
    settings = case.settings.with_(lake_root=tmp / "lake")
    run = Run(tmp)
    for n, (day, mar, claims, how) in enumerate(case.build(tmp)):
        folder = tmp / f"night{n}"
        m, c = put(folder, "mar.csv", mar), put(folder, "claims.csv", claims)
        if how == "ingest":  # an earlier night's ingest: the stages, then the day's lake transaction
            staged = pipeline.StagedDay(day, *(pipeline.validate(pipeline.load(path, kind, settings))
                                               for kind, path in (("mar", m), ("claims", c))))
            pipeline.commit_inputs(staged, settings)
            counts = staged.counts
        elif case.outcome == GATED and n == len(case.build(tmp)) - 1:  # the last night is refused
            before = {p: p.read_bytes() for p in sorted(settings.lake_root.rglob("*.parquet"))}
            with pytest.raises(UnusableExtract) as caught:
                pipeline.nightly_day(day, m, c, settings, folder / "run")
            assert_refused_folder(folder / "run", str(caught.value), case.expect)
            assert {p: p.read_bytes() for p in sorted(settings.lake_root.rglob("*.parquet"))} == before
            staged = [pipeline.validate(pipeline.load(path, kind, settings)) for kind, path in (("mar", m), ("claims", c))]
            counts = {v.kind: v.counts for v in staged}
        else:
            summary = pipeline.nightly_day(day, m, c, settings, folder / "run")
            counts = summary["rows"]
            findings = pd.read_csv(folder / "run" / "findings.csv", dtype={"hcpcs": str})
            run.result = AuditResult(pd.DataFrame(), pd.DataFrame(), findings)
            run.summary = {**summary, "day": day}
        for kind, c_ in counts.items():
            run.validated[kind] = pipeline.ValidatedExtract(kind, pd.DataFrame(), pd.DataFrame(), c_)
    return run


def assert_refused_folder(out_dir: Path, message: str, expect: str) -> None:
    """A gated run: the message names the column, its folder holds the reason and the quarantine, no findings."""
    assert expect in message, message
    assert (out_dir / pipeline.UNUSABLE_FILE).read_text(encoding="utf-8").strip() == message.strip()
    assert (out_dir / "quarantine.csv").exists()
    assert not (out_dir / "findings.csv").exists() and not (out_dir / "worklist.csv").exists()


def run_gate(case: Case, tmp: Path) -> Run:
    """``audit_files`` must stop at the gate; the rows are counted by validating each extract again."""
    files = case.build(tmp)
    run = Run(tmp, out_dir=tmp / "out")
    with pytest.raises(UnusableExtract) as caught:
        pipeline.audit_files(files["mar"], files["claims"], run.out_dir, case.settings)
    assert_refused_folder(run.out_dir, str(caught.value), case.expect)
    for kind, path in files.items():
        run.validated[kind] = pipeline.validate(pipeline.load(path, kind, case.settings))
    quarantine = pd.read_csv(run.out_dir / "quarantine.csv", dtype=str)
    assert len(quarantine) == sum(v.counts["rows_quarantined"] for v in run.validated.values())
    return run


# --- CLI cases: started together in the background on first use ---------------------------------

_CLI: dict[str, subprocess.Popen] = {}


def _start_cli(case: Case, tmp: Path) -> subprocess.Popen:
    files = case.build(tmp)
    env = {**os.environ, "INFUSION_AUDIT_LAKE": str(tmp / "lake"), "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [sys.executable, "-m", "flows.cli", "audit", "--mar", str(files["mar"]), "--claims",
            str(files["claims"]), "--out", str(tmp / "out")]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module", autouse=True)
def cli_runs(request, tmp_path_factory) -> dict[str, subprocess.Popen]:
    """Start every selected CLI case at once, before the in-process cases (each
    is a ~5 s interpreter start, run in the background meanwhile)."""
    selected = {item.callspec.id for item in request.session.items if hasattr(item, "callspec")}
    for case in CATALOGUE:
        if case.runner == "cli" and case.slug in selected and case.slug not in _CLI:
            _CLI[case.slug] = _start_cli(case, tmp_path_factory.mktemp(case.slug))
    yield _CLI
    for proc in _CLI.values():
        if proc.poll() is None:
            proc.kill()


def run_cli(case: Case, procs: dict[str, subprocess.Popen]) -> Run:
    proc = procs[case.slug]
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert_one_line(lines[0], "infusion-audit: ")
    assert case.expect in lines[0]
    return Run(Path("."), stderr=stderr)


# --- the tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CATALOGUE, ids=[c.slug for c in CATALOGUE])
def test_bad_input(case: Case, tmp_path: Path, request) -> None:
    if case.runner == "cli":
        run_cli(case, request.getfixturevalue("cli_runs"))
        return
    runner = {"stages": run_stages, "files": run_files, "lake": run_lake, "gate": run_gate}[case.runner]
    run = runner(case, tmp_path)
    if case.outcome == REFUSED:
        assert run.validated == {}
        return
    assert run.validated, "a case that is not refused validates at least one extract"
    quarantined = 0
    for kind, extract in run.validated.items():
        counts = extract.counts
        assert counts["rows_in"] == counts["rows_kept"] + counts["rows_quarantined"], (kind, counts)
        quarantined += counts["rows_quarantined"]
        if case.runner == "stages":
            assert len(extract.kept) == counts["rows_kept"] and len(extract.quarantine) == quarantined_of(extract)
            if case.expect and len(extract.quarantine):
                assert extract.quarantine["reason"].str.contains(case.expect, regex=False).all(), \
                    extract.quarantine[["row", "column", "reason"]].to_dict("records")
    assert quarantined == case.quarantined
    if case.outcome == PROCESSED and case.runner == "stages":
        assert quarantined == 0
    if case.check is not None:
        case.check(run)


def quarantined_of(extract: pipeline.ValidatedExtract) -> int:
    return extract.counts["rows_quarantined"]


def test_catalogue_is_complete() -> None:
    """At least 45 kinds, unique ids, at most four CLI cases, each outcome used."""
    slugs = [c.slug for c in CATALOGUE]
    assert len(CATALOGUE) >= 45
    assert len(set(slugs)) == len(slugs)
    assert sum(c.runner == "cli" for c in CATALOGUE) <= 4
    assert {c.outcome for c in CATALOGUE} == {REFUSED, QUARANTINED, PROCESSED, GATED}
    assert all(c.quarantined == 0 for c in CATALOGUE if c.outcome == REFUSED)
    assert all(c.quarantined > 0 for c in CATALOGUE if c.outcome == QUARANTINED)


# --- the README table ------------------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalogue_markdown() -> str:
    """The README's "Bad input" table: kind | outcome | rows quarantined | gist."""
    rows = ["| kind | outcome | rows quarantined | message or reason |", "| --- | --- | --- | --- |"]
    for case in CATALOGUE:
        kind = case.kind
        gist = case.gist or case.expect
        if case.runner == "cli":
            gist = f"non-zero exit, one stderr line, no traceback: …{case.expect}…"
        elif case.outcome == REFUSED and not case.gist:
            gist = f"{case.error.__name__}: …{case.expect}…" if case.expect else case.error.__name__
        count = "-" if case.outcome == REFUSED else str(case.quarantined)
        rows.append(f"| {_cell(kind)} | {case.outcome} | {count} | {_cell(gist)} |")
    return "\n".join(rows)


def readme_block(text: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n")


def test_readme_table_matches_catalogue() -> None:
    assert readme_block(README.read_text(encoding="utf-8")) == catalogue_markdown(), \
        "README's Bad input table is stale: run `python -m tests.test_bad_inputs`"


def write_readme() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    README.write_text(text[:start] + "\n" + catalogue_markdown() + "\n" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    write_readme()
