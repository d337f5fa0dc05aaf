"""Run summary: counts, findings by key and direction, and scoring.

``score`` measures the audit against a ground truth (the synthetic
generator's ``truth`` table): recall is the share of injected errors whose
finding key was raised on their encounter; ``clean_encounters_flagged``
counts encounters billed correctly that still got a finding (the target is
zero).
"""

from __future__ import annotations

from datetime import date

from collections.abc import Sequence

import pandas as pd

from transforms.audit import AuditResult
from transforms.ingest.usability import Usability
from transforms.vocab.codes import SEQUENTIAL_AND_CONCURRENT
from transforms.vocab.policy import Policy


def score(findings: pd.DataFrame, truth: pd.DataFrame) -> dict[str, object]:
    """Precision/recall of ``findings`` against the generator's ``truth``.

    Args:
        findings: audit findings (``encounter_id``, ``finding``).
        truth: one row per encounter with ``injected_error`` (None when the
            encounter was billed correctly) and ``expected_findings``.

    Returns:
        ``injected``, ``detected``, ``recall``, ``clean_encounters``,
        ``clean_encounters_flagged``, ``encounter_precision`` and the
        ``missed`` encounters (ids and keys) for debugging.
    """
    pairs = findings[["encounter_id", "finding"]].drop_duplicates()
    flagged_ids = set(pairs["encounter_id"])
    t = truth.assign(raised=truth["encounter_id"].isin(flagged_ids))
    injected = t[t["injected_error"].notna()]
    hit = injected.merge(
        pairs, left_on=["encounter_id", "expected_findings"], right_on=["encounter_id", "finding"],
        how="left", indicator=True,
    )["_merge"].eq("both").to_numpy()
    clean = t[t["injected_error"].isna()]
    clean_flagged = clean["raised"]
    flagged_total = int(t["raised"].sum())
    true_flagged = int(injected["raised"].sum())
    raised_keys = pairs.groupby("encounter_id")["finding"].agg(lambda s: ",".join(sorted(s)))
    return {
        "injected": int(len(injected)),
        "detected": int(hit.sum()),
        "recall": float(hit.mean()) if len(injected) else 1.0,
        "clean_encounters": int(len(clean)),
        "clean_encounters_flagged": int(clean_flagged.sum()),
        "encounter_precision": true_flagged / flagged_total if flagged_total else 1.0,
        "missed": injected.loc[~hit, ["encounter_id", "expected_findings"]].to_dict("records"),
        "false_alarms": clean.loc[clean_flagged, ["encounter_id", "scenario"]].assign(
            raised=clean.loc[clean_flagged, "encounter_id"].map(raised_keys)
        ).to_dict("records"),
    }


def summarise(
    result: AuditResult,
    counts: dict[str, dict[str, int]],
    policy: Policy,
    truth: pd.DataFrame | None = None,
    set_aside: Sequence[Usability] | None = None,
    audit_date: date | None = None,
) -> dict[str, object]:
    """Numbers a compliance lead reads first; no patient identifiers.

    ``audit_date``: the night a lake run audited (``summary["audit_date"]``,
    ``YYYY-MM-DD``; the report names it); a files-in audit has none.

    ``set_aside``: the usability verdicts of the extracts
    (:func:`transforms.ingest.usability.assess`); their rows set aside, with
    the reasons table and one plain line each, go under ``set_aside``.
    """
    f = result.findings
    summary: dict[str, object] = {
        **({"audit_date": audit_date.isoformat()} if audit_date is not None else {}),
        "policy": policy.name,
        "rows": counts,
        "encounters_audited": int(result.administrations["encounter_id"].nunique()),
        "expected_lines": int(len(result.expected_lines)),
        "findings": int(len(f)),
        "encounters_with_findings": int(f["encounter_id"].nunique()),
        "findings_by_key": {k: int(v) for k, v in f["finding"].value_counts().sort_index().items()},
        "findings_by_direction": {k: int(v) for k, v in f["direction"].value_counts().sort_index().items()},
        "concurrent_and_sequential": {
            k: int(v) for k, v in f[f["hcpcs"].isin(SEQUENTIAL_AND_CONCURRENT)]["finding"].value_counts().items()
        },
    }
    if set_aside is not None:
        summary["set_aside"] = {v.kind: v.as_dict() for v in set_aside}
    if truth is not None:
        summary["score"] = score(f, truth)
    return summary


def set_aside_lines(summary: dict[str, object]) -> list[str]:
    """The plain lines of ``summary["set_aside"]`` (extracts with rows set aside only)."""
    set_aside = summary.get("set_aside")
    if not isinstance(set_aside, dict):
        return []
    return [str(v["line"]) for v in set_aside.values() if isinstance(v, dict) and v.get("line")]


def render_markdown(summary: dict[str, object]) -> str:
    """The summary as a short Markdown report."""
    lines = ["# Infusion claim audit", "", f"Policy: `{summary['policy']}`", "", "## Rows", "",
             "| extract | in | kept | quarantined |", "| --- | ---: | ---: | ---: |"]
    for kind, c in summary["rows"].items():  # type: ignore[union-attr]
        lines.append(f"| {kind} | {c['rows_in']} | {c['rows_kept']} | {c['rows_quarantined']} |")
    set_aside = set_aside_lines(summary)
    if set_aside:
        lines += [""] + [f"- {line}" for line in set_aside]
    lines += ["", f"Encounters audited: {summary['encounters_audited']}; "
              f"with findings: {summary['encounters_with_findings']}; findings: {summary['findings']}.", "",
              "## Findings by key", "", "| finding | count |", "| --- | ---: |"]
    for key, n in summary["findings_by_key"].items():  # type: ignore[union-attr]
        lines.append(f"| {key} | {n} |")
    lines += ["", "## Findings by direction", "", "| direction | count |", "| --- | ---: |"]
    for key, n in summary["findings_by_direction"].items():  # type: ignore[union-attr]
        lines.append(f"| {key} | {n} |")
    if "score" in summary:
        s = summary["score"]
        lines += ["", "## Against the ground truth", "",
                  f"- injected errors found: {s['detected']} of {s['injected']} (recall {s['recall']:.1%})",  # type: ignore[index]
                  f"- correctly billed encounters with a finding: {s['clean_encounters_flagged']} of "  # type: ignore[index]
                  f"{s['clean_encounters']}",  # type: ignore[index]
                  f"- encounter precision: {s['encounter_precision']:.1%}"]  # type: ignore[index]
    return "\n".join(lines) + "\n"
