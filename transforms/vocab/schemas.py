"""Canonical columns and vocabularies of the MAR and claim extracts.

The single source of truth for ../shared/spec/contract.md inside the code:
readers, Great Expectations suites, the synthetic generator and the writers all
import these constants instead of repeating literals.
"""

from __future__ import annotations

import pyarrow as pa

# --- MAR events (contract section 1) -------------------------------------
MAR_REQUIRED: tuple[str, ...] = (
    "encounter_id",
    "patient_id",
    "order_id",
    "drug",
    "route",
    "action",
    "event_time",
)
MAR_OPTIONAL: tuple[str, ...] = (
    "infusate_id",
    "ndc",
    "drug_class",
    "access_site",
    "rate",
    "rate_unit",
    "dose",
    "dose_unit",
    "volume_ml",
    "primary",
)
MAR_COLUMNS: tuple[str, ...] = MAR_REQUIRED + MAR_OPTIONAL

ROUTES: frozenset[str] = frozenset(
    {
        "iv_infusion",
        "iv_push",
        "sc_infusion",
        "sc_injection",
        "im_injection",
        "intra_arterial",
        "pump",
    }
)
ACTIONS: frozenset[str] = frozenset(
    {"start", "rate_change", "pause", "resume", "stop", "given"}
)
DRUG_CLASSES: frozenset[str] = frozenset(
    {"chemo", "therapeutic", "hydration", "diluent"}
)

# --- Claim lines (contract section 2) ------------------------------------
CLAIM_REQUIRED: tuple[str, ...] = (
    "claim_id",
    "encounter_id",
    "patient_id",
    "claim_type",
    "line_number",
    "service_date",
    "hcpcs",
    "units",
)
CLAIM_OPTIONAL: tuple[str, ...] = (
    "bill_type",
    "place_of_service",
    "modifiers",
    "charge",
    "revenue_code",
    "claim_frequency",
)
CLAIM_COLUMNS: tuple[str, ...] = CLAIM_REQUIRED + CLAIM_OPTIONAL
CLAIM_TYPES: frozenset[str] = frozenset({"institutional", "professional"})
CLAIM_FREQUENCIES: frozenset[str] = frozenset({"1", "7", "8"})
# CPT (5 digits, or 4 digits + letter for Category II/III) and HCPCS Level II.
HCPCS_PATTERN = r"^(?:\d{4}[0-9A-Z]|[A-V]\d{4})$"



# --- Output files (contract section 3) -----------------------------------
EXPECTED_COLUMNS: tuple[str, ...] = (
    "encounter_id",
    "service_date",
    "setting",
    "hcpcs",
    "units",
    "modifiers",
    "rule_ids",
    "evidence",
)
FINDING_COLUMNS: tuple[str, ...] = (
    "encounter_id",
    "claim_id",
    "hcpcs",
    "billed_units",
    "expected_units",
    "finding",
    "explanation",
)
QUARANTINE_COLUMNS: tuple[str, ...] = ("source", "row", "column", "reason")
#: The policy profile (:mod:`transforms.vocab.policy`) that decided a line or
#: finding: the run's policy, or the profile a payer map names for the
#: encounter's payer (:mod:`transforms.payers`).
POLICY_PROFILE = "policy_profile"
#: Findings as the comparison annotates them: the contract columns, then our
#: extensions (documented in the README), so readers of the contract columns are unaffected.
FINDING_OUTPUT_COLUMNS: tuple[str, ...] = FINDING_COLUMNS + (
    "direction", "severity", "dollar_impact", "setting", "evidence"
)
#: Where a finding's dollars come from (:data:`transforms.vocab.findings.PRICE_BASES`).
PRICE_BASIS = "price_basis"
#: Findings as :func:`transforms.findings.annotate.annotate` returns them.
FINDING_ANNOTATED_COLUMNS: tuple[str, ...] = FINDING_OUTPUT_COLUMNS + (PRICE_BASIS,)
#: Findings as the audit returns and writes them (transforms/audit.py): the
#: annotated columns, then the policy profile that decided each one, then
#: where its dollars come from (last, added later: readers of the earlier
#: columns by position are unaffected).
FINDING_AUDIT_COLUMNS: tuple[str, ...] = FINDING_OUTPUT_COLUMNS + (POLICY_PROFILE, PRICE_BASIS)
#: Expected lines as the audit returns them: the contract columns, then the
#: policy profile that produced each one.
EXPECTED_OUTPUT_COLUMNS: tuple[str, ...] = EXPECTED_COLUMNS + (POLICY_PROFILE,)

# Arrow schemas for the lake: the schema is enforced with pyarrow, content
# rules with Great Expectations (pandas-3 dtype checks in GX are unreliable).
MAR_ARROW = pa.schema(
    [
        ("encounter_id", pa.string()),
        ("patient_id", pa.string()),
        ("order_id", pa.string()),
        ("infusate_id", pa.string()),
        ("drug", pa.string()),
        ("ndc", pa.string()),
        ("drug_class", pa.string()),
        ("route", pa.string()),
        ("action", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("access_site", pa.string()),
        ("rate", pa.float64()),
        ("rate_unit", pa.string()),
        ("dose", pa.float64()),
        ("dose_unit", pa.string()),
        ("volume_ml", pa.float64()),
        ("primary", pa.bool_()),
        ("source_row", pa.int64()),
        ("service_date", pa.date32()),
        ("visit_id", pa.string()),  # optional (contract section 1): a visit inside the billing encounter
    ]
)
CLAIM_ARROW = pa.schema(
    [
        ("claim_id", pa.string()),
        ("encounter_id", pa.string()),
        ("patient_id", pa.string()),
        ("claim_type", pa.string()),
        ("bill_type", pa.string()),
        ("place_of_service", pa.string()),
        ("line_number", pa.int64()),
        ("service_date", pa.date32()),
        ("hcpcs", pa.string()),
        ("modifiers", pa.string()),
        ("units", pa.int64()),
        ("charge", pa.float64()),
        ("revenue_code", pa.string()),
        ("claim_frequency", pa.string()),
        ("source_row", pa.int64()),
        ("payer_id", pa.string()),  # optional (contract section 2): selects the payer's policy profile
    ]
)

# --- Staging helpers (transforms/ingest/readers.py, expectations/, quarantine) -----
# Columns that readers.stage_mar / stage_claims add next to the canonical ones
# so validation can explain a failure; quarantine.split_quarantine drops them
# from the rows it keeps. None of them ever holds a raw value.
SOURCE_ROW = "source_row"
MAR_EVENT_KEY: tuple[str, ...] = (
    "encounter_id",
    "infusate_id",
    "drug",
    "action",
    "event_time",
    "access_site",
)
CLAIM_LINE_KEY: tuple[str, ...] = ("claim_id", "line_number")
# Parsed (non-string) columns: "<column>_raw_present" tells validation whether
# a null after parsing was missing in the file or present but unparseable.
MAR_PARSED: tuple[str, ...] = ("event_time", "rate", "dose", "volume_ml", "primary")
CLAIM_PARSED: tuple[str, ...] = ("line_number", "service_date", "units", "charge")
MAR_HELPERS: tuple[str, ...] = (
    *(f"{c}_raw_present" for c in MAR_PARSED),
    "event_time_nonexistent",
    "duplicate_of",
)
CLAIM_HELPERS: tuple[str, ...] = (
    *(f"{c}_raw_present" for c in CLAIM_PARSED),
    "duplicate_of",
    "superseded_reason",
)
SUPERSEDED_BY_REPLACEMENT = "superseded by replacement claim (frequency 7)"
VOIDED = "voided (frequency 8)"


# --- Lake output tables (versioned: dashboards read them directly) --------
# Bump the version when a column is renamed, retyped or removed; adding a
# column at the end is compatible and keeps the version.
OUTPUT_SCHEMA_VERSION = "1"


def _versioned(name: str, fields: list[tuple[str, pa.DataType]]) -> pa.Schema:
    return pa.schema(fields, metadata={"infusion_audit.table": name,
                                       "infusion_audit.schema_version": OUTPUT_SCHEMA_VERSION})


FINDINGS_ARROW = _versioned(
    "findings",
    [
        ("encounter_id", pa.string()),
        ("claim_id", pa.string()),
        ("hcpcs", pa.string()),
        ("billed_units", pa.int64()),
        ("expected_units", pa.int64()),
        ("finding", pa.string()),
        ("explanation", pa.string()),
        ("direction", pa.string()),      # over_billed | under_billed | documentation
        ("severity", pa.string()),       # high | medium | low
        ("dollar_impact", pa.float64()),  # (billed - expected) x fee amount; null when unpriced
        ("setting", pa.string()),        # facility | professional
        ("evidence", pa.string()),
        ("policy_profile", pa.string()),  # the policy profile that decided it (transforms/payers.py)
        ("price_basis", pa.string()),  # where dollar_impact comes from (transforms/vocab/findings.py PRICE_BASES)
    ],
)
EXPECTED_ARROW = _versioned(
    "expected_lines",
    [
        ("encounter_id", pa.string()),
        ("service_date", pa.date32()),
        ("setting", pa.string()),
        ("hcpcs", pa.string()),
        ("units", pa.int64()),
        ("modifiers", pa.string()),
        ("rule_ids", pa.string()),
        ("evidence", pa.string()),
        ("policy_profile", pa.string()),  # the policy profile that produced the line
    ],
)
#: The encounters one night audited (whatever their findings): a later night
#: that audits an encounter again supersedes its earlier expected lines and
#: findings (a void, a replacement, a late MAR event), including when the new
#: audit finds nothing. See :func:`transforms.outputs.lake_claims.current_audit_rows`.
AUDITED_ARROW = _versioned("audited_encounters", [("encounter_id", pa.string())])
