"""Encounter ranking and per-encounter codes for the HTML report.

:func:`rank_encounters` orders the encounters with findings (worst severity,
then largest absolute dollars, then over-billing, then most findings);
:func:`codes_for` / :func:`codes_of` put each code's expected units beside
its billed ones. :func:`severity_rank` turns a ``severity`` column (words
or numbers) into a sortable rank. Re-exported by
:mod:`transforms.outputs.report_html`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from transforms.frames import join_unique, map_distinct
from transforms.outputs.report_markup import num, to_number
from transforms.vocab.findings import DOCUMENTATION, OVER, SEVERITIES, SEVERITY_ORDER, UNDER

#: Rank of a severity word, higher is worse: the vocabulary's order (high 3, medium 2, low 1).
SEVERITY_RANK: dict[str, int] = {s: len(SEVERITIES) - SEVERITY_ORDER[s] for s in SEVERITIES}
#: Columns of :func:`rank_encounters`.
RANKED_COLUMNS: tuple[str, ...] = (
    "encounter_id", "claim_id", "findings", "over_billed", "under_billed", "documentation", "keys",
    "severity_rank", "dollars", "abs_dollars",
)


def severity_rank(severity: pd.Series) -> pd.Series:
    """Sortable rank of a ``severity`` column (higher is worse).

    Numeric severities are used as they are; words (trimmed, any case) map
    through :data:`SEVERITY_RANK`, the one order of
    :data:`transforms.vocab.findings.SEVERITIES` (``high`` > ``medium`` >
    ``low``); anything else ranks 0.

    Args:
        severity: the findings' ``severity`` column (numbers or words).

    Returns:
        Float ranks aligned with ``severity``.
    """
    numeric = to_number(severity)
    words = map_distinct(severity.astype(object).where(severity.notna(), ""),
                         lambda word: SEVERITY_RANK.get(str(word).strip().lower()))
    return numeric.fillna(words.astype(float)).fillna(0.0).astype(float)


def _has_dollars(findings: pd.DataFrame) -> bool:
    """Whether the findings carry a ``dollar_impact`` column."""
    return "dollar_impact" in findings.columns


def _has_severity(findings: pd.DataFrame) -> bool:
    """Whether the findings carry a ``severity`` column."""
    return "severity" in findings.columns


def rank_encounters(findings: pd.DataFrame) -> pd.DataFrame:
    """Encounters with findings, most important first.

    Order: highest severity, then largest absolute dollar impact (each only
    when the column is present), then encounters with over-billing, then
    most over-billed findings, then most findings; ties by encounter id.

    Args:
        findings: audit findings (``encounter_id``, ``direction``; optional
            ``severity`` and ``dollar_impact``).

    Returns:
        One row per encounter, columns :data:`RANKED_COLUMNS`:
        ``encounter_id``, ``claim_id``, ``findings``, ``over_billed``,
        ``under_billed``, ``documentation``, ``keys``, ``severity_rank``,
        ``dollars`` (sum of ``dollar_impact``, 0 when absent) and
        ``abs_dollars``.
    """
    if findings.empty:
        return pd.DataFrame(columns=list(RANKED_COLUMNS))
    f = findings
    direction = f["direction"].astype(str)
    work = pd.DataFrame({
        "encounter_id": f["encounter_id"].astype(str),
        "claim_id": f["claim_id"].astype(object).where(f["claim_id"].notna(), "").astype(str)
        if "claim_id" in f else "",
        "over": direction.eq(OVER).astype(int),
        "under": direction.eq(UNDER).astype(int),
        "doc": direction.eq(DOCUMENTATION).astype(int),
        "sev": severity_rank(f["severity"]) if _has_severity(f) else 0.0,
        "usd": num(f["dollar_impact"]) if _has_dollars(f) else 0.0,
        "finding": f["finding"].astype(str),
    })
    work["abs_usd"] = work["usd"].abs()
    # Encounters as codes in the order of their ids, found once: every grouping and the final
    # tie-break by id use the integers instead of sorting the ids again.
    codes, ids = pd.factorize(work["encounter_id"].to_numpy(dtype=object), sort=True)
    work["_k"] = codes
    keys = join_unique(work, ["_k"], "finding", ", ", sort=True)
    claims = work[work["claim_id"] != ""].groupby("_k")["claim_id"].first()
    g = work.groupby("_k").agg(
        findings=("finding", "size"), over_billed=("over", "sum"), under_billed=("under", "sum"),
        documentation=("doc", "sum"), severity_rank=("sev", "max"), dollars=("usd", "sum"),
        abs_dollars=("abs_usd", "sum"),
    )
    g["keys"] = keys
    g["claim_id"] = claims.reindex(g.index).fillna("")
    g["_has_over"] = g["over_billed"] > 0
    g["encounter_id"] = np.asarray(ids, dtype=object)[g.index.to_numpy()]
    g = g.reset_index().sort_values(
        ["severity_rank", "abs_dollars", "_has_over", "over_billed", "findings", "_k"],
        ascending=[False, False, False, False, False, True], kind="mergesort",
    )
    return g.reset_index(drop=True)[list(RANKED_COLUMNS)]


def codes_for(encounter_id: str, expected: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """Expected vs billed units per code of one encounter.

    A code with no finding was billed as expected (the comparison raises a
    finding for every difference), so its billed units equal the expected
    ones. Documentation findings (no code) appear with an empty ``hcpcs``.

    Args:
        encounter_id: the encounter.
        expected: expected lines (``encounter_id``, ``hcpcs``, ``units``).
        findings: findings (``encounter_id``, ``hcpcs``, ``billed_units``,
            ``expected_units``, ``finding``, ``direction``).

    Returns:
        ``hcpcs``, ``expected_units``, ``billed_units``, ``finding``,
        ``direction`` sorted by code.
    """
    return codes_of([encounter_id], expected, findings).drop(columns="_g")


def codes_of(encounter_ids: Sequence[str], expected: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """:func:`codes_for` of several encounters in one pass: their rows, encounter by encounter.

    Args:
        encounter_ids: the encounters (distinct), in the order wanted.
        expected: expected lines (``encounter_id``, ``hcpcs``, ``units``).
        findings: findings (as :func:`codes_for` reads them).

    Returns:
        ``_g`` (position of the encounter in ``encounter_ids``) and the
        columns of :func:`codes_for`; each encounter's rows sorted by code,
        the empty code last.
    """
    position = pd.Series(np.arange(len(encounter_ids)), index=pd.Index(list(encounter_ids), dtype=object))
    e_at = expected["encounter_id"].astype(str).map(position)
    e = expected[e_at.notna()]
    exp = pd.DataFrame({"_g": e_at[e_at.notna()].astype("int64"), "hcpcs": e["hcpcs"].astype(str),
                        "units": num(e["units"])}).groupby(["_g", "hcpcs"])["units"].sum()
    f_at = findings["encounter_id"].astype(str).map(position)
    f = findings[f_at.notna()]
    fx = pd.DataFrame({
        "_g": f_at[f_at.notna()].astype("int64"),
        "hcpcs": f["hcpcs"].astype(object).where(f["hcpcs"].notna(), "").astype(str),
        "expected_units": num(f["expected_units"]),
        "billed_units": num(f["billed_units"]),
        "finding": f["finding"].astype(str),
        "direction": f["direction"].astype(str),
    })
    fg = fx.groupby(["_g", "hcpcs"], sort=False).agg(
        expected_units=("expected_units", "max"), billed_units=("billed_units", "max"),
        finding=("finding", ", ".join), direction=("direction", "first"),
    )
    matched = exp[~exp.index.isin(fg.index)]
    ok = pd.DataFrame({"expected_units": matched, "billed_units": matched, "finding": "", "direction": ""},
                      index=matched.index)
    out = pd.concat([fg, ok]).reset_index()
    # A code appears once per encounter: sorting by (encounter, empty code last, code) is the whole order.
    code = pd.factorize(out["hcpcs"], sort=True)[0]
    out = out.take(np.lexsort((code, out["hcpcs"].eq("").to_numpy(), out["_g"].to_numpy()))).reset_index(drop=True)
    out[["_g", "expected_units", "billed_units"]] = out[["_g", "expected_units", "billed_units"]].astype("int64")
    return out
