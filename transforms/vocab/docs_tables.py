"""The generated tables of ``docs/``: columns, accepted values, schemas, policy fields.

Every table in ``docs/inputs.md``, ``outputs.md``, ``policies.md`` and
``lake.md`` that lists something the code defines is rendered here from the
code itself (``schemas``, ``classes``, ``policy``, the readers, the adapters,
the run-folder writer, the lake) and sits between two markers::

    <!-- generated:NAME:start -->
    ...rendered by TABLES[NAME]...
    <!-- generated:NAME:end -->

``python -m transforms.vocab.docs_tables`` rewrites those regions in place
(``--check`` only reports drift); ``tests/transforms/vocab/test_docs_tables.py``
fails when a committed doc differs from what this module renders, so the docs
cannot drift from the code.

The short texts below (what a column means, an example value) are the only
hand-written parts; each is keyed by the name the code uses, and a column,
file, field or key the code gains without a text here raises ``KeyError``
while rendering, so the test fails until it is documented. Labels are our
own: no AMA CPT descriptor is reproduced.

Pure: reads package data (mapping profiles) and ``flows/cli.py`` as text; no
Prefect, no Great Expectations, nothing written except by :func:`main`.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from importlib import resources
from pathlib import Path

import pandas as pd
import pyarrow as pa

from transforms.ingest import readers
from transforms.ingest.adapters import PROVENANCE, clif, fhir, mapping, x12
from transforms.ingest.quarantine import reconcile
from transforms.ingest.usability import Reason, Usability
from transforms.outputs import files, lake, worklist
from transforms.outputs.summary import score, summarise
from transforms.vocab import classes, policy, schemas
from transforms.vocab.findings import PRICE_BASES

#: Repository root (``transforms/vocab/docs_tables.py`` -> three levels up).
REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = REPO_ROOT / "docs"
CLI_SOURCE = REPO_ROOT / "flows" / "cli.py"
MARKER = re.compile(
    r"<!-- generated:(?P<name>[a-z0-9_]+):start -->\n.*?<!-- generated:(?P=name):end -->", re.S
)
#: The file a refused run writes (``flows.pipeline.UNUSABLE_FILE``; not imported: flows import Prefect).
UNUSABLE_FILE = "unusable.txt"
#: Contract columns the canonical reader does not stage yet, with the adapter constant naming them.
CONTRACT_ONLY: dict[str, tuple[str, ...]] = {"mar": (mapping.VISIT,), "claims": (x12.PAYER_COLUMN,)}


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------
def _cell(value: object) -> str:
    """One table cell: one line, ``|`` escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (no trailing newline)."""
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _codes(values: Iterable[object]) -> str:
    """Values as inline code, comma-separated, in the order given."""
    return ", ".join(f"`{v}`" for v in values)


# --------------------------------------------------------------------------
# Inputs: the contract's columns
# --------------------------------------------------------------------------
_TYPE_NAMES: dict[pa.DataType, str] = {
    pa.string(): "text", pa.float64(): "number", pa.int64(): "whole number", pa.bool_(): "true/false",
    pa.timestamp("us", tz="UTC"): "date and time", pa.date32(): "date",
}


def _mar_accepted() -> dict[str, tuple[str, str]]:
    """MAR column -> (accepted values, example)."""
    number = "a number, 0 or more; empty = not charted"
    return {
        "encounter_id": ("any text: the billing encounter (account / visit / HAR)", "`E2611020002`"),
        "patient_id": ("any text (medical record number; never written to logs)", "`MRN0042`"),
        "order_id": ("any text", "`O1`"),
        "drug": ("free text as charted; classified by the drug list", "`ceftriaxone 1 g in NS 50 mL IVPB`"),
        "route": (_codes(sorted(schemas.ROUTES)) + " (any case)", "`iv_infusion`"),
        "action": (_codes(sorted(schemas.ACTIONS)) + " (any case)", "`start`"),
        "event_time": ("ISO-8601 date and time, with `Z` or a UTC offset, or local wall time "
                       "(read in the facility time zone); a date alone is refused", "`2026-11-02T10:02:00-05:00`"),
        "infusate_id": ("any text; empty = `order_id`. Same value + different `drug` = one mixed bag", "`BAG-1`"),
        "ndc": ("11 digits with any separators, or a hyphenated 10-digit form (4-4-2, 5-3-2, 5-4-1); "
                "anything else is kept as charted and not looked up", "`12345-6789-01`"),
        "drug_class": (_codes(sorted(schemas.DRUG_CLASSES)) + " (any case); empty = from the drug list",
                       "`hydration`"),
        "access_site": ("any text; spellings of one catheter are grouped by the engine", "`L forearm PIV`"),
        "rate": (number, "`100`"),
        "rate_unit": ("any text; " + _codes(sorted(classes.ML_PER_HOUR)) + " (any case, spaces ignored) "
                      "are volume rates", "`mL/h`"),
        "dose": (number, "`1`"),
        "dose_unit": ("any text", "`g`"),
        "volume_ml": (number + "; derives a missing stop time from the rate", "`50`"),
        "primary": (_codes(sorted(readers._TRUE_WORDS)) + " / " + _codes(sorted(readers._FALSE_WORDS))
                    + " (any case)", "`true`"),
        "visit_id": ("any text: a separate visit inside the billing encounter (mapping profiles map the EHR's contact number)", "`CSN-7`"),
    }


def _claim_accepted() -> dict[str, tuple[str, str]]:
    """Claim column -> (accepted values, example)."""
    return {
        "claim_id": ("any text", "`C1`"),
        "encounter_id": ("any text; joins the MAR", "`E2611020002`"),
        "patient_id": ("any text (never written to logs)", "`MRN0042`"),
        "claim_type": (_codes(sorted(schemas.CLAIM_TYPES)) + " (any case)", "`institutional`"),
        "line_number": ("a whole number (`2.0` is read as 2)", "`1`"),
        "service_date": ("`YYYY-MM-DD` or `MM/DD/YYYY`", "`2026-11-02`"),
        "hcpcs": ("5 characters: 5 digits, 4 digits and a letter, or a letter A-V and 4 digits "
                  f"(pattern `{schemas.HCPCS_PATTERN}`, any case)", "`96365`"),
        "units": ("a whole number, 1 or more", "`1`"),
        "bill_type": ("any text (institutional type of bill)", "`0131`"),
        "place_of_service": ("any text (professional place of service)", "`11`"),
        "modifiers": ("2-character codes separated by commas, spaces or semicolons; empty = none", "`59,XU`"),
        "charge": ("a number (dollars)", "`250.00`"),
        "revenue_code": ("any text", "`0260`"),
        "claim_frequency": (_codes(sorted(schemas.CLAIM_FREQUENCIES)) + "; empty = `1`", "`1`"),
        "payer_id": ("any text: the payer (X12 `NM1*PR`); `--payer-map` names its policy profile", "`PAYER01`"),
    }


def _input_columns(kind: str) -> str:
    """The contract columns of one extract: name, type, required, accepted values, example."""
    required, optional, arrow, accepted = (
        (schemas.MAR_REQUIRED, schemas.MAR_OPTIONAL, schemas.MAR_ARROW, _mar_accepted())
        if kind == "mar" else
        (schemas.CLAIM_REQUIRED, schemas.CLAIM_OPTIONAL, schemas.CLAIM_ARROW, _claim_accepted())
    )
    extra = tuple(c for c in CONTRACT_ONLY[kind] if c not in (*required, *optional))
    rows = []
    for name in (*required, *optional, *extra):
        kind_name = _TYPE_NAMES[arrow.field(name).type] if name in arrow.names else "text"
        needed = "yes" if name in required else ("no (contract; adapters only)" if name in extra else "no")
        rows.append((f"`{name}`", kind_name, needed, *accepted[name]))
    return table(("column", "type", "required", "accepted values", "example"), rows)


def _provenance_columns() -> str:
    """Columns adapters add after the contract's own."""
    meaning = {
        "source_file": "the input file's name (no folder)",
        "source_record": "1-based record inside it: CSV data row, NDJSON line, Bundle entry, 837 service line",
        fhir.RXNORM_COLUMN: "FHIR only: the RxNorm code of the medication, when coded",
        clif.TABLE_COLUMN: "CLIF only, in quarantine rows: `continuous` or `intermittent`",
        x12.SEGMENTS_COLUMN: "X12 only, in quarantine rows: the raw segments of a line that could not be mapped",
        fhir.ORIGINAL_COLUMN: "FHIR only, in quarantine rows: the record's text",
    }
    return table(("column", "meaning"), [(f"`{c}`", meaning[c]) for c in dict.fromkeys((*PROVENANCE, *meaning))])


#: ``event_time`` texts shown in the docs, read in :data:`EXAMPLE_TZ` by the reader itself.
TIME_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("2026-11-02T10:02:00-05:00", "with a UTC offset"),
    ("2026-11-02 15:02Z", "`Z` = UTC; a space instead of `T`"),
    ("2026-11-02T10:02:00.5+0100", "fractional seconds; offset without colon"),
    ("2026-11-02T10:02", "no offset: facility wall time; seconds optional"),
    ("2026-11-01T01:30", "no offset, in the autumn overlap: the first (daylight-time) 01:30"),
    ("2026-03-08T02:30", "no offset, in the spring gap: does not exist"),
    ("2026-11-02", "a date alone"),
    ("11/02/2026 10:02", "US month/day/year (only through a mapping profile's time format)"),
)
EXAMPLE_TZ = "America/New_York"


def _time_examples() -> str:
    """What the MAR reader makes of each of :data:`TIME_EXAMPLES` in :data:`EXAMPLE_TZ`."""
    texts = pd.Series([t for t, _ in TIME_EXAMPLES], dtype=object)
    utc, nonexistent = readers._to_utc(texts, EXAMPLE_TZ)
    outcome = utc.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str.replace(r"\.000000Z$", "Z", regex=True)
    outcome = outcome.where(utc.notna(), "quarantined: not parseable")
    outcome = outcome.where(~nonexistent, "quarantined: nonexistent local time")
    return table(("event_time", "read as (UTC)", "note"),
                 [(f"`{t}`", o if o.startswith("quarantined") else f"`{o}`", note)
                  for (t, note), o in zip(TIME_EXAMPLES, outcome)])


def _key_columns(columns: Sequence[str]) -> str:
    """A duplicate key as one line of inline code."""
    return _codes(columns)


# --------------------------------------------------------------------------
# Inputs: other formats
# --------------------------------------------------------------------------
def _profile_docs() -> dict[str, dict]:
    """Shipped mapping profile name -> its TOML document, as written."""
    folder = resources.files("transforms.ingest.adapters.profiles")
    return {name: tomllib.loads(folder.joinpath(f"{name}.toml").read_text("utf-8"))
            for name in mapping.shipped_profiles()}


def _target(value: object) -> str:
    """A profile's right-hand side in words: a canonical value, an exclusion, or a table by action."""
    if isinstance(value, str):
        return "excluded" if value == mapping.EXCLUDE else f"`{value}`"
    if mapping.EXCLUDE in value:
        return f"excluded: {value[mapping.EXCLUDE]}"
    parts = [f"{action} → `{route}`" for action, route in value.items() if action != mapping.DEFAULT]
    if mapping.DEFAULT in value:
        parts.append(f"otherwise `{value[mapping.DEFAULT]}`")
    return "; ".join(parts)


def _profile_columns() -> str:
    """Canonical column -> report column of each shipped profile, plus time format and defaults."""
    docs = _profile_docs()
    names = list(docs)
    rows = [(f"`{c}`", *(f"`{docs[n]['columns'][c]}`" if c in docs[n]["columns"] else "-" for n in names))
            for c in mapping.MAPPABLE]
    rows.append(("time format", *(f"`{docs[n]['time']['format']}`" for n in names)))
    rows.append(("times are", *("facility wall time" if docs[n]["time"].get("local", True) else "UTC"
                                for n in names)))
    rows.append(("defaults", *(", ".join(f"`{k}` = `{v}`" for k, v in docs[n].get("defaults", {}).items())
                               or "-" for n in names)))
    return table(("canonical column", *names), rows)


def _profile_words(section: str) -> str:
    """Every word of ``[actions]`` or ``[routes]`` of the shipped profiles and what it maps to."""
    rows = [(name, f"`{word}`", _target(value))
            for name, doc in _profile_docs().items() for word, value in doc[section].items()]
    return table(("profile", "report word", "canonical " + section.rstrip("s")), rows)


def _fhir_routes() -> str:
    """SNOMED CT route codes the FHIR adapter recognises."""
    classes_named = {"iv": "intravenous", "im": "intramuscular", "sc": "subcutaneous", "ia": "intra-arterial"}
    return table(("SNOMED CT code", "route class"),
                 [(f"`{code}`", classes_named[cls]) for code, cls in fhir.ROUTE_SNOMED.items()])


def _fhir_statuses() -> str:
    """FHIR ``status`` values: mapped or quarantined, with the reason."""
    rows = [(f"`{s}`", "mapped", "-") for s in sorted(fhir.MAPPED_STATUSES)]
    rows += [(f"`{s}`", "quarantined (not a data error)", reason) for s, reason in fhir.UNMAPPED_STATUSES.items()]
    rows.append(("any other value", "quarantined", "status '…' is not a MedicationAdministration status"))
    return table(("status", "outcome", "reason"), rows)


def _x12_versions() -> str:
    """X12 implementation guides read, and where the hospital account may be."""
    rows = [(f"`{v}`", f"837 → `claim_type` `{t}`") for v, t in x12.VERSIONS.items()]
    rows.append((f"`{x12.REMIT_VERSION}`", "835 remittance (`--remits`)"))
    rows += [(f"`--x12-account {ref}`", f"`encounter_id` from `{path}`") for ref, path in x12.ACCOUNT_REFS.items()]
    return table(("GS08 version or option", "read as"), rows)


def _clif_actions() -> str:
    """CLIF continuous ``mar_action_name`` (then ``mar_action_category``) -> canonical action."""
    rows = [(f"`{name}`", "mar_action_name", f"`{action}`") for name, action in clif.CONTINUOUS_ACTIONS.items()]
    rows += [(f"`{cat}`", "mar_action_category (other names)", f"`{action}`")
             for cat, action in clif.CONTINUOUS_CATEGORY_ACTIONS.items()]
    rows += [(f"`{cat}`", "intermittent mar_action_category", "`given`")
             for cat in sorted(clif.INTERMITTENT_GIVEN_CATEGORIES)]
    return table(("CLIF value", "column", "canonical action"), rows)


# --------------------------------------------------------------------------
# Outputs: the run folder
# --------------------------------------------------------------------------
_RUN_FILE_TEXT: dict[str, str] = {
    "expected_codes.csv": "what the MAR supports: one row per expected line (contract section 3)",
    "findings.csv": "every difference between expected and billed lines (contract section 3, then extensions)",
    "worklist.csv": "the findings ordered for action: severity, dollars, over-billing first",
    "quarantine.csv": "every input row that could not be used, with its reason; header only when none",
    "administrations.csv": "the reconstructed timeline, one row per administration",
    "summary.json": "the run's counts (keys below); no patient identifiers",
    "report.md": "the summary as a short Markdown report",
    "report.html": "the self-contained HTML report of the run",
}
_OUTPUT_COLUMN_TEXT: dict[str, str] = {
    "policy_profile": "the policy profile that decided the line: the run's policy, or the profile the payer map "
                      "names for the encounter's payer (`--payer-map`)",
    "encounter_id": "the billing encounter",
    "service_date": "date the line belongs to (facility date)",
    "setting": "`facility` or `professional`",
    "hcpcs": "the drug-administration code",
    "units": "whole number, at least 1",
    "modifiers": "comma-separated, may be empty",
    "rule_ids": "the coding rules that produced the line (ids of the coding reference)",
    "evidence": "the MAR administrations behind the line or finding (infusates, times)",
    "claim_id": "the claim of the billed line; empty when nothing was billed",
    "billed_units": "0 when not billed",
    "expected_units": "0 when not supported",
    "finding": "the finding key (see findings.md)",
    "explanation": "one sentence a coder can act on",
    "direction": "`over_billed`, `under_billed` or `documentation`",
    "severity": "`high`, `medium` or `low`",
    "dollar_impact": "(billed - expected units) x fee amount, or x the amount paid per unit from an 835; "
                     "empty when unpriced",
    "price_basis": "where `dollar_impact` comes from, and so why it is empty or $0 (table below)",
    "source": "`mar` or `claims`",
    "row": "1-based data row of the input (`source_row`)",
    "column": "the column(s) to fix, `;`-separated",
    "reason": "why the row was set aside, `; `-separated",
    "admin_id": "number of the administration in the run (from 0)",
    "site_group": "which vascular access (1 = first); one catheter's lumens are one group",
    "role": "what the administration earned, e.g. `initial`, `concurrent`, `hydration`",
    "drug_label": "the drug(s) as charted; components of one bag joined with `+`",
    "drug_class": "`chemo`, `therapeutic`, `hydration`, `diluent`, `not_reportable` or `unknown`",
    "kind": "`infusion`, `push`, `hydration`, `pump`, `sc_infusion`, `injection`, `intra_arterial` or `none`",
    "route": "the canonical route",
    "site": "the access site as charted",
    "start": "facility wall time with its UTC offset, e.g. `2026-11-02T09:03:00-0500`",
    "end": "same format; empty for one-time events",
    "minutes": "active minutes (pauses excluded); 0 for one-time events",
    "infusates": "the infusate ids, comma-separated",
    "n_components": "number of drugs in the bag",
    "drug_as_charted": "the drug as the MAR charted it (distinct texts of the bag's leading components joined with ` + `); the report and `explain` show it",
}


def _run_files() -> str:
    """Every file of a run folder, plus ``validation/`` and the refused run's ``unusable.txt``."""
    rows = [(f"`{name}`", "every run", _RUN_FILE_TEXT[name]) for name in files.RUN_FILES]
    rows.append(("`validation/mar/`, `validation/claims/`", "every run (also refused)",
                 "Great Expectations data docs (`index.html`) and `validation_<kind>.json`; "
                 "failing rows by row number only"))
    rows.append((f"`{UNUSABLE_FILE}`", "refused run only",
                 "the refusal message; the folder then holds only it, `quarantine.csv` and `validation/`"))
    return table(("file", "written", "what it holds"), rows)


def _file_columns(columns: Sequence[str], contract: Sequence[str] | None = None) -> str:
    """Columns of one output file, marking the contract's own (``contract`` None: a file the contract does not name)."""
    if contract is None:
        return table(("column", "meaning"), [(f"`{c}`", _OUTPUT_COLUMN_TEXT[c]) for c in columns])
    return table(("column", "contract", "meaning"),
                 [(f"`{c}`", "yes" if c in contract else "extension", _OUTPUT_COLUMN_TEXT[c]) for c in columns])


def _quarantine_columns() -> str:
    """``quarantine.csv``: the contract's four columns, then the row as read."""
    rows = [(f"`{c}`", "yes", _OUTPUT_COLUMN_TEXT[c]) for c in schemas.QUARANTINE_COLUMNS]
    rows.append(("every input column", "yes", "the row's original values as text (empty when missing)"))
    rows += [(f"`{c}`", "extension", "adapter inputs: where the record came from") for c in PROVENANCE]
    return table(("column", "contract", "meaning"), rows)


_SUMMARY_TEXT: dict[str, str] = {
    "policy": "the policy profile's name",
    "rows": "per extract (`mar`, `claims`): the row accounting below",
    "rows.rows_in": "rows read (including rows an adapter could not map)",
    "rows.rows_kept": "rows the audit used",
    "rows.rows_quarantined": "rows in `quarantine.csv`; in = kept + quarantined",
    "encounters_audited": "encounters with at least one administration",
    "expected_lines": "rows of `expected_codes.csv`",
    "findings": "rows of `findings.csv`",
    "encounters_with_findings": "encounters with at least one finding",
    "findings_by_key": "finding key -> count",
    "findings_by_direction": "direction -> count",
    "concurrent_and_sequential": "finding key -> count, for the sequential and concurrent codes only",
    "set_aside": "per extract: the usability verdict below",
    "set_aside.rows": "rows set aside (quarantined)",
    "set_aside.of": "rows read",
    "set_aside.failed": "rows set aside for a data problem",
    "set_aside.by_design": "rows kept out by design (excluded words, not-done statuses, replaced or voided lines)",
    "set_aside.share": "failed / (rows read - by design)",
    "set_aside.max_share": "the share allowed (`--max-quarantine-share`)",
    "set_aside.usable": "false when the extract was refused",
    "set_aside.failed_columns": "vocabulary columns whose every value was rejected",
    "set_aside.line": "one plain sentence for the report; empty when nothing was set aside",
    "set_aside.reasons": "the reasons table, commonest first (keys below)",
    "set_aside.reasons.reason": "the reason with any charted value removed",
    "set_aside.reasons.label": "its short form, e.g. `unparseable event_time`",
    "set_aside.reasons.column": "the column to fix",
    "set_aside.reasons.rows": "rows with this reason",
    "set_aside.reasons.example_row": "the first such row",
    "set_aside.reasons.by_design": "true for rows kept out by design",
    "score": "only when a ground truth is given (`demo`): the audit scored against it",
    "score.injected": "encounters with an injected error",
    "score.detected": "of those, found with the expected key",
    "score.recall": "detected / injected",
    "score.clean_encounters": "encounters billed correctly",
    "score.clean_encounters_flagged": "of those, encounters that still got a finding (target 0)",
    "score.encounter_precision": "share of flagged encounters that had an injected error",
    "score.missed": "injected errors not found (encounter id and key)",
    "score.false_alarms": "correct encounters flagged (encounter id, scenario, keys raised)",
}


def summary_keys() -> list[str]:
    """Every key path of ``summary.json``, read from the code that builds it.

    Built from an empty audit through :func:`transforms.outputs.summary.summarise`
    (and the ``as_dict`` of the usability verdict and of one reason), so a
    key added there shows up here.
    """
    from transforms.audit import AuditResult

    empty = AuditResult(pd.DataFrame(columns=["encounter_id"]), pd.DataFrame(columns=schemas.EXPECTED_COLUMNS),
                        pd.DataFrame(columns=schemas.FINDING_OUTPUT_COLUMNS))
    verdict = Usability("mar", 0, 0, 0, 0, 0.05)
    built = summarise(empty, {"mar": reconcile(0, 0, 0)}, policy.DEFAULT_POLICY, set_aside=[verdict])
    truth = pd.DataFrame(columns=["encounter_id", "injected_error", "expected_findings", "scenario"])
    nested = {"rows": reconcile(0, 0, 0), "set_aside": verdict.as_dict(),
              "set_aside.reasons": Reason("", "", "", 0, 0).as_dict(),
              "score": score(empty.findings, truth)}
    keys = [*built, "score"]
    for parent, sub in nested.items():
        at = keys.index(parent) + 1
        keys[at:at] = [f"{parent}.{k}" for k in sub]
    return keys


def _summary_table() -> str:
    return table(("key", "meaning"), [(f"`{k}`", _SUMMARY_TEXT[k]) for k in summary_keys()])


def exit_codes(source: Path = CLI_SOURCE) -> list[tuple[str, str]]:
    """``(code, meaning)`` pairs of the ``exit codes:`` block of the CLI's epilog (read as text:
    importing the CLI would import Prefect)."""
    text = source.read_text(encoding="utf-8")
    block = re.search(r"^exit codes:\n(.*?)(?:\"\"\"|\n\S)", text, re.S | re.M)
    if block is None:
        raise ValueError(f"{source}: no 'exit codes:' block in the epilog")
    codes: list[tuple[str, str]] = []
    for line in block.group(1).splitlines():
        head = re.match(r"^\s{1,4}(\d+)\s+(.*)$", line)
        if head:
            codes.append((head.group(1), head.group(2).strip()))
        elif line.strip() and codes:
            codes[-1] = (codes[-1][0], f"{codes[-1][1]} {line.strip()}")
    return codes


def _price_bases() -> str:
    """The values of ``price_basis`` and what each means."""
    return table(("price_basis", "dollar_impact is"), [(f"`{k}`", v) for k, v in PRICE_BASES.items()])


def _exit_table() -> str:
    return table(("exit code", "meaning"), [(f"`{c}`", m) for c, m in exit_codes()])


# --------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------
#: Disagreements of ../shared/domain/coding-rules.md section 4 ("Open questions and disagreements") by D-number.
DISAGREEMENTS: dict[str, str] = {
    "D10": "D10 — Separate same-day encounters",
    "D11": "D11 — The same drug infused again later in the encounter",
    "D13": "D13 — Concurrent chemo drugs",
    "D15": "D15 — Leucovorin overlapping a chemo push",
    "D16": "D16 — MAC-specific hydration limits",
    "D2": "D2 — Splitting time at midnight",
    "D3": "D3 — Missing stop time",
    "D4": "D4 — Partial overlap of two infusions",
    "D5": "D5 — Adding up hydration split around a drug infusion",
    "D12": "D12 — More than two overlapping infusions",
    "D21": "D21 — Therapeutic electrolyte fluids",
}
#: Sections of ../shared/domain/coding-rules.md section 2 ("Rules") by the letter of a rule id (R-E1 -> E).
RULE_SECTIONS: dict[str, str] = {
    "B": "B. \"Initial\" service: one per encounter, per vascular access site",
    "M": "M. Modifiers, NCCI and MUE mechanics",
    "C": "C. Measuring time",
    "D": "D. Sequential services; same drug continuing; mixed bags",
    "E": "E. Concurrent infusion (96368)",
    "G": "G. Hydration",
}
#: Range of the numeric fields, as :func:`transforms.vocab.policy.validate` checks it.
NUMERIC_RANGES: dict[str, str] = {
    "concurrent_min_overlap_minutes": "whole minutes, 1 or more",
    "kvo_max_rate_ml_h": "mL/h, 0 or more",
    "hydration_min_volume_ml": "mL, 0 or more (0: no minimum)",
}


def _field_docs() -> dict[str, str]:
    """Policy field -> its paragraph of the ``Attributes:`` section of ``Policy``'s docstring."""
    doc = policy.Policy.__doc__ or ""
    body = doc.split("Attributes:", 1)[1]
    parts = re.split(r"^\s{8}(\w+):", body, flags=re.M)
    return {parts[i]: " ".join(parts[i + 1].split()) for i in range(1, len(parts) - 1, 2)}


def policy_citations(field: str) -> tuple[list[str], list[str]]:
    """(D-numbers, rule ids) the docstring of ``field`` cites, in order of first mention."""
    text = _field_docs()[field]
    return (list(dict.fromkeys(re.findall(r"\bD\d+\b", text))),
            list(dict.fromkeys(re.findall(r"\bR-[A-P]\d+\b", text))))


def _options(field: dataclasses.Field) -> str:
    hint = typing.get_type_hints(policy.Policy)[field.name]
    if typing.get_origin(hint) is typing.Literal:
        return _codes(typing.get_args(hint))
    if field.name == "name":
        return _codes(policy.PROFILES)
    return NUMERIC_RANGES[field.name]


def _policy_table() -> str:
    """Every policy field: disagreement, options, default and each profile's value."""
    profiles = {name: policy.load_policy(name) for name in policy.PROFILES}
    rows = []
    for field in dataclasses.fields(policy.Policy):
        d_numbers, rules = policy_citations(field.name) if field.name != "name" else ([], [])
        cited = [f"§4 {DISAGREEMENTS[d]}" for d in d_numbers]
        cited += [f"§2 {RULE_SECTIONS[r[2]]} ({r})" for r in rules]
        rows.append((f"`{field.name}`", ", ".join(d_numbers) or "-", _options(field),
                     f"`{field.default}`", *(f"`{getattr(p, field.name)}`" for p in profiles.values()),
                     "; ".join(cited) or "-"))
    return table(("field", "D-number", "options", "default", *profiles, "coding-rules.md section"), rows)


# --------------------------------------------------------------------------
# The lake
# --------------------------------------------------------------------------
#: Lake dataset -> its Arrow schema (``None``: free-form, every column stored as text).
DATASET_SCHEMAS: dict[str, pa.Schema | None] = {
    "mar_events": schemas.MAR_ARROW, "claim_lines": schemas.CLAIM_ARROW,
    "expected_lines": schemas.EXPECTED_ARROW, "findings": schemas.FINDINGS_ARROW,
    "quarantine": None, "audited_encounters": schemas.AUDITED_ARROW,
}
_SCHEMA_NAMES: dict[str, str] = {
    "mar_events": "`MAR_ARROW`", "claim_lines": "`CLAIM_ARROW`", "expected_lines": "`EXPECTED_ARROW`",
    "findings": "`FINDINGS_ARROW`", "quarantine": "none: every column text",
    "audited_encounters": "`AUDITED_ARROW`",
}
_DATASET_TEXT: dict[str, str] = {
    "mar_events": "validated MAR events of the night's extract",
    "claim_lines": "validated claim lines of the night's extract",
    "expected_lines": "the lines the night's audit expects",
    "findings": "the night's findings",
    "quarantine": "rows set aside that night (both extracts), with reasons",
    "audited_encounters": "the encounters the night audited, found something or not",
}


def _datasets_table() -> str:
    """Every dataset of the lake: schema constant, table metadata, what one night holds."""
    rows = []
    for name in lake.DATASETS:
        schema = DATASET_SCHEMAS[name]
        meta = (schema.metadata or {}) if schema is not None else {}
        version = meta.get(b"infusion_audit.schema_version", b"").decode() or "-"
        rows.append((f"`{name}`", _SCHEMA_NAMES[name], version, _DATASET_TEXT[name]))
    return table(("dataset", "schema", "schema_version", "one night's partition holds"), rows)


def _schema_table(dataset: str) -> str:
    """Columns and Arrow types of one dataset (every column nullable)."""
    schema = DATASET_SCHEMAS[dataset]
    if schema is None:
        rows = [(f"`{c}`", "string") for c in schemas.QUARANTINE_COLUMNS]
        rows.append(("each input column as read (incl. `source_file`, `source_record`)", "string"))
    else:
        rows = [(f"`{f.name}`", str(f.type)) for f in schema]
    rows.append((f"`{lake.PARTITION_KEY}` (folder name)", "date32[day] (hive partition)"))
    return table(("column", "Arrow type"), rows)


# --------------------------------------------------------------------------
# Regions of the docs
# --------------------------------------------------------------------------
TABLES: dict[str, Callable[[], str]] = {
    "mar_columns": partial(_input_columns, "mar"),
    "claim_columns": partial(_input_columns, "claims"),
    "provenance_columns": _provenance_columns,
    "time_examples": _time_examples,
    "mar_event_key": partial(_key_columns, schemas.MAR_EVENT_KEY),
    "claim_line_key": partial(_key_columns, schemas.CLAIM_LINE_KEY),
    "profile_columns": _profile_columns,
    "profile_actions": partial(_profile_words, "actions"),
    "profile_routes": partial(_profile_words, "routes"),
    "fhir_routes": _fhir_routes,
    "fhir_statuses": _fhir_statuses,
    "x12_versions": _x12_versions,
    "clif_actions": _clif_actions,
    "run_files": _run_files,
    "expected_codes_columns": partial(_file_columns, schemas.EXPECTED_OUTPUT_COLUMNS, schemas.EXPECTED_COLUMNS),
    "findings_columns": partial(_file_columns, schemas.FINDING_AUDIT_COLUMNS, schemas.FINDING_COLUMNS),
    "worklist_columns": partial(_file_columns, worklist.WORKLIST_COLUMNS, None),
    "quarantine_columns": _quarantine_columns,
    "administrations_columns": partial(_file_columns, files.ADMINISTRATION_COLUMNS, None),
    "price_bases": _price_bases,
    "summary_keys": _summary_table,
    "exit_codes": _exit_table,
    "policy_fields": _policy_table,
    "lake_datasets": _datasets_table,
    **{f"lake_schema_{name}": partial(_schema_table, name) for name in DATASET_SCHEMAS},
}
#: Doc file (in ``docs/``) -> the generated regions it must hold.
DOC_REGIONS: dict[str, tuple[str, ...]] = {
    "inputs.md": ("mar_columns", "claim_columns", "time_examples", "mar_event_key", "claim_line_key",
                  "provenance_columns", "profile_columns", "profile_actions",
                  "profile_routes", "fhir_routes", "fhir_statuses", "x12_versions", "clif_actions"),
    "outputs.md": ("run_files", "expected_codes_columns", "findings_columns", "price_bases", "worklist_columns",
                   "quarantine_columns", "administrations_columns", "summary_keys", "exit_codes"),
    "policies.md": ("policy_fields",),
    "lake.md": ("lake_datasets", *(f"lake_schema_{name}" for name in DATASET_SCHEMAS)),
}


def render_doc(text: str, tables: Mapping[str, Callable[[], str]] = TABLES) -> str:
    """``text`` with every generated region re-rendered (the markers kept, the rest untouched).

    Raises:
        KeyError: a region names no table of ``tables``.
    """
    def fill(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in tables:
            raise KeyError(f"generated region {name!r} has no table; known: {sorted(tables)}")
        return f"<!-- generated:{name}:start -->\n{tables[name]()}\n<!-- generated:{name}:end -->"

    return MARKER.sub(fill, text)


def regions(text: str) -> list[str]:
    """Names of the generated regions of ``text``, in order."""
    return [m.group("name") for m in MARKER.finditer(text)]


def regenerate(docs_dir: Path = DOCS_DIR, write: bool = True) -> list[Path]:
    """Re-render the regions of every doc of :data:`DOC_REGIONS`; returns the docs that differed.

    With ``write`` the differing docs are rewritten in place; without, nothing is written.
    """
    stale = []
    for name in DOC_REGIONS:
        path = Path(docs_dir) / name
        text = path.read_text(encoding="utf-8")
        fresh = render_doc(text)
        if fresh != text:
            stale.append(path)
            if write:
                path.write_text(fresh, encoding="utf-8")
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m transforms.vocab.docs_tables [--check] [DOCS_DIR]``: 0 when up to date or rewritten,
    1 when ``--check`` finds a stale doc."""
    parser = argparse.ArgumentParser(prog="python -m transforms.vocab.docs_tables", description=main.__doc__)
    parser.add_argument("docs_dir", nargs="?", default=str(DOCS_DIR))
    parser.add_argument("--check", action="store_true", help="report stale docs, write nothing")
    args = parser.parse_args(argv)
    stale = regenerate(Path(args.docs_dir), write=not args.check)
    for path in stale:
        print(f"{path}: {'stale' if args.check else 'regenerated'}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
