"""Great Expectations (GX Core 1.x) suites for the STAGED MAR and claim frames.

The suites validate the output of ``transforms.ingest.readers.stage_mar`` /
``stage_claims``: typed canonical columns plus helper columns. Every
expectation carries ``meta`` that the runner turns into one failure row per
failing input row:

* ``column``: the input column(s) the user has to fix;
* ``reason``: a fixed human reason (also the expectation ``description``,
  shown in data docs);
* ``explain`` (optional): how to build a row-specific reason from the staged
  data rather than from GX, see :func:`explain`:

  - ``"missing_or_invalid"``: ``<column> missing`` when the raw value was not
    given (``meta["present_column"]`` is False), else ``meta["reason_invalid"]``;
    for ``event_time`` also ``meta["reason_nonexistent"]`` when
    ``meta["nonexistent_column"]`` is True;
  - ``"value_of"``: ``meta["prefix"]`` + the row's value of
    ``meta["value_column"]`` + ``meta["suffix"]`` (e.g. "duplicate of row 3");

* ``rule``: a stable id, e.g. ``mar.route.in_vocabulary``.

The suites are built once per process (``functools.cache``); the runner adds
them to its ephemeral contexts. The runner also reads which columns each
expectation reads (``column``, ``row_condition``) to group rows that every
expectation judges alike (:mod:`expectations.compact`), so a new expectation
type must say how it reads its column (see ``compact.NULL_TESTS``). Nothing
here touches files, the network or a data context.
"""

from __future__ import annotations

import functools
import os
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.expectations.row_conditions import Column  # noqa: E402

from transforms.vocab import schemas  # noqa: E402

MAR_SUITE_NAME = "mar_staged"
CLAIMS_SUITE_NAME = "claims_staged"
#: Staged claim ``modifiers``: two-character codes joined by commas, or ``""`` (none).
MODIFIERS_PATTERN = r"^(?:[0-9A-Z]{2}(?:,[0-9A-Z]{2})*)?$"


def _vocab(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))


def _meta(column: str, reason: str, rule: str, **extra: Any) -> dict[str, Any]:
    return {"column": column, "reason": reason, "rule": rule, **extra}


def _exists(kind: str, columns: tuple[str, ...]) -> list[gxe.Expectation]:
    """One table-level expectation: every staged column is present (extra columns pass).

    One expectation, not one per column: GX's cost per expectation is fixed
    (metric graph, result), and a missing column is refused before GX runs
    (``expectations.runner``), so this rule documents the contract in the docs.
    """
    names = ", ".join(columns)
    return [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(columns),
            exact_match=False,
            description=f"staged columns present: {names}",
            meta=_meta("+".join(columns), f"staged column(s) missing (expected {names})", f"{kind}.columns.exist"),
        )
    ]


def _not_null(kind: str, column: str) -> gxe.Expectation:
    reason = f"{column} missing"
    return gxe.ExpectColumnValuesToNotBeNull(
        column=column,
        description=reason,
        meta=_meta(column, reason, f"{kind}.{column}.not_null"),
    )


def _parsed_not_null(
    kind: str, column: str, reason_invalid: str, **extra: Any
) -> gxe.Expectation:
    """Required parsed column: null means missing OR not parseable."""
    reason = f"{column} missing or {reason_invalid.removeprefix(column + ' ')}"
    return gxe.ExpectColumnValuesToNotBeNull(
        column=column,
        description=reason,
        meta=_meta(
            column,
            reason,
            f"{kind}.{column}.not_null",
            explain="missing_or_invalid",
            present_column=f"{column}_raw_present",
            reason_invalid=reason_invalid,
            **extra,
        ),
    )


def _parseable_when_given(kind: str, column: str, reason: str) -> gxe.Expectation:
    """Optional parsed column: a value given in the file must parse."""
    return gxe.ExpectColumnValuesToNotBeNull(
        column=column,
        row_condition=Column(f"{column}_raw_present") == True,  # noqa: E712
        description=reason,
        meta=_meta(column, reason, f"{kind}.{column}.parseable"),
    )


def _in_set(kind: str, column: str, values: frozenset[str]) -> gxe.Expectation:
    reason = f"{column} not in vocabulary ({_vocab(values)})"
    return gxe.ExpectColumnValuesToBeInSet(
        column=column,
        value_set=sorted(values),
        description=reason,
        meta=_meta(column, reason, f"{kind}.{column}.in_vocabulary"),
    )


def _matches(kind: str, column: str, regex: str, reason: str) -> gxe.Expectation:
    """``column`` matches ``regex`` (rule ``<kind>.<column>.format``); nulls pass."""
    return gxe.ExpectColumnValuesToMatchRegex(
        column=column, regex=regex, description=reason, meta=_meta(column, reason, f"{kind}.{column}.format")
    )


def _at_least(kind: str, column: str, minimum: int, reason: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=minimum,
        description=reason,
        meta=_meta(column, reason, f"{kind}.{column}.at_least_{minimum}"),
    )


def _helper_null(
    kind: str, helper: str, column: str, reason: str, rule: str, **explain: Any
) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeNull(
        column=helper,
        description=reason,
        meta=_meta(column, reason, f"{kind}.{rule}", **explain),
    )


@functools.cache
def mar_suite() -> gx.ExpectationSuite:
    """Suite for ``stage_mar`` output (built once per process).

    Rules, in the order their reasons are reported: staged columns exist;
    encounter_id, patient_id, order_id, drug, route, action not null;
    event_time not null (missing / not parseable / nonexistent local time);
    route, action, drug_class (when given) in vocabulary; rate, dose,
    volume_ml, primary parse when given; rate, dose, volume_ml >= 0; the
    event is not a duplicate (``duplicate_of`` null).

    ``service_date`` is derived from ``event_time`` and is null exactly when
    ``event_time`` is, so it has no rule of its own (no double reasons).
    """
    k = "mar"
    key = "+".join(schemas.MAR_EVENT_KEY)
    expectations: list[gxe.Expectation] = [
        *_exists(k, (*schemas.MAR_ARROW.names, *schemas.MAR_HELPERS)),
        *(_not_null(k, c) for c in ("encounter_id", "patient_id", "order_id", "drug",
                                     "route", "action")),
        _parsed_not_null(
            k,
            "event_time",
            "event_time not parseable (expected ISO-8601 date and time)",
            nonexistent_column="event_time_nonexistent",
            reason_nonexistent=(
                "event_time is a nonexistent local time (skipped by the "
                "daylight-saving change in the facility time zone)"
            ),
        ),
        _in_set(k, "route", schemas.ROUTES),
        _in_set(k, "action", schemas.ACTIONS),
        _in_set(k, "drug_class", schemas.DRUG_CLASSES),
        _parseable_when_given(k, "rate", "rate not a number"),
        _parseable_when_given(k, "dose", "dose not a number"),
        _parseable_when_given(k, "volume_ml", "volume_ml not a number"),
        _parseable_when_given(k, "primary", "primary not a boolean (true/false)"),
        _at_least(k, "rate", 0, "rate negative"),
        _at_least(k, "dose", 0, "dose negative"),
        _at_least(k, "volume_ml", 0, "volume_ml negative"),
        _helper_null(
            k,
            "duplicate_of",
            key,
            f"duplicate event (same {', '.join(schemas.MAR_EVENT_KEY)})",
            "event.unique",
            explain="value_of",
            value_column="duplicate_of",
            prefix="duplicate of row ",
            suffix=f" (same {', '.join(schemas.MAR_EVENT_KEY)})",
        ),
    ]
    return gx.ExpectationSuite(name=MAR_SUITE_NAME, expectations=expectations)


@functools.cache
def claims_suite() -> gx.ExpectationSuite:
    """Suite for ``stage_claims`` output (built once per process).

    Rules, in reporting order: staged columns exist; claim_id, encounter_id,
    patient_id, claim_type, hcpcs not null; line_number, service_date, units
    not null (missing / not parseable); claim_type and claim_frequency in
    vocabulary; hcpcs matches ``schemas.HCPCS_PATTERN``; modifiers match
    :data:`MODIFIERS_PATTERN` (empty: none); units >= 1; charge
    parses when given; the line is not a duplicate (``duplicate_of`` null);
    the line is not superseded by a replacement or voided
    (``superseded_reason`` null, reported with that reason).
    """
    k = "claims"
    expectations: list[gxe.Expectation] = [
        *_exists(k, (*schemas.CLAIM_ARROW.names, *schemas.CLAIM_HELPERS)),
        *(_not_null(k, c) for c in ("claim_id", "encounter_id", "patient_id",
                                     "claim_type", "hcpcs")),
        _parsed_not_null(k, "line_number", "line_number not a whole number"),
        _parsed_not_null(
            k, "service_date", "service_date not a date (YYYY-MM-DD or MM/DD/YYYY)"
        ),
        _parsed_not_null(k, "units", "units not a whole number"),
        _in_set(k, "claim_type", schemas.CLAIM_TYPES),
        _in_set(k, "claim_frequency", schemas.CLAIM_FREQUENCIES),
        _matches(k, "hcpcs", schemas.HCPCS_PATTERN,
                 "hcpcs not a CPT/HCPCS code (5 characters, e.g. 96365 or J1100)"),
        _matches(k, "modifiers", MODIFIERS_PATTERN,
                 "modifiers not 2-character codes separated by commas (e.g. 59,XU)"),
        _at_least(k, "units", 1, "units less than 1"),
        _parseable_when_given(k, "charge", "charge not a number"),
        _helper_null(
            k,
            "duplicate_of",
            "+".join(schemas.CLAIM_LINE_KEY),
            "duplicate claim line (same claim_id and line_number)",
            "line.unique",
            explain="value_of",
            value_column="duplicate_of",
            prefix="duplicate of row ",
            suffix=" (same claim_id and line_number)",
        ),
        _helper_null(
            k,
            "superseded_reason",
            "claim_frequency",
            "claim line superseded by a replacement or voided",
            "line.current",
            explain="value_of",
            value_column="superseded_reason",
            prefix="",
            suffix="",
        ),
    ]
    return gx.ExpectationSuite(name=CLAIMS_SUITE_NAME, expectations=expectations)


def explain(meta: dict[str, Any], rows: pd.DataFrame) -> pd.Series:
    """Row-specific reasons for the failing ``rows`` of one expectation.

    Args:
        meta: the expectation's ``meta`` (see the module docstring).
        rows: the staged rows that failed it (helper columns included).

    Returns:
        One reason string per row, aligned with ``rows.index``. Reasons never
        contain a data value other than row numbers and the fixed texts in
        ``meta`` (no patient identifiers).
    """
    how = meta.get("explain")
    fixed = pd.Series(meta["reason"], index=rows.index, dtype=object)
    if how == "missing_or_invalid":
        out = pd.Series(meta["reason_invalid"], index=rows.index, dtype=object)
        if "nonexistent_column" in meta:
            nonexistent = rows[meta["nonexistent_column"]].astype(bool)
            out = out.where(~nonexistent, meta["reason_nonexistent"])
        present = rows[meta["present_column"]].astype(bool)
        return out.where(present, f"{meta['column']} missing")
    if how == "value_of":
        values = rows[meta["value_column"]]
        text = meta["prefix"] + values.astype(str) + meta["suffix"]
        return text.where(values.notna(), fixed)
    return fixed
