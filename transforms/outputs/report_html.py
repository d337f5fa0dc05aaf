"""One self-contained HTML report per audit run.

:func:`render_report` turns a run's frames (findings, expected lines,
administrations), its summary and an optional day-by-day trend into a single
HTML page: inline CSS and inline SVG charts, no script, no external font,
image or stylesheet, so the file opens offline and prints readably.

Sections: totals (rows in/kept/quarantined and a line on the rows set aside
with their top reasons, encounters, findings, dollars
when the findings carry ``dollar_impact``), findings by key and by
direction, dollar impact, the trend across audit dates, and for the top
encounters a timeline of every administration beside the expected and
billed codes.

Every text taken from the data is HTML-escaped. No patient identifier is
read: only encounter and claim ids appear.

The page is the same whether the frames come from memory
(:func:`transforms.outputs.files.write_run_files` converts them once to the
text a CSV reads back as) or from a run folder on disk
(:func:`render_run_dir`, every column read as text): numbers are parsed
where they are drawn. The SVG charts and their stable class names are in
:mod:`transforms.outputs.report_charts`; escaping and tables in
:mod:`transforms.outputs.report_markup`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.findings.remits import REMIT_NOTE
from transforms.frames import join_unique, map_distinct
from transforms.outputs.summary import set_aside_lines
from transforms.outputs.report_charts import (
    CLASS_COLOURS,
    CLASS_LABELS,
    DIRECTION_COLOURS,
    DIRECTION_ORDER,
    class_of,
    direction_colours,
    hbar_chart,
    legend,
    timeline_chart,
    timeline_charts,
    trend_chart,
    wall_time,
)
from transforms.outputs.report_markup import (
    as_text,
    by_distinct,
    card,
    concat_utf8,
    day_labels,
    esc,
    esc_series,
    esc_text,
    format_numbers,
    html_table,
    html_tables,
    int_text,
    join_by_group,
    money,
    money_series,
    num,
    to_number,
)
from transforms.vocab.findings import (
    DOCUMENTATION, MEANING, OVER, PRICE_FEE_SCHEDULE, PRICE_NO_SCHEDULE, PRICE_NO_SEPARATE_PAYMENT,
    PRICE_NOT_IN_SCHEDULE, PRICE_NOT_PRICED, PRICE_REMITTANCE, SEVERITIES, SEVERITY_ORDER, TITLE, UNDER,
)
from transforms.vocab.schemas import PRICE_BASIS

#: Run-folder files the report is drawn from: ``render_report`` argument -> file name.
REPORT_INPUTS: dict[str, str] = {
    "findings": "findings.csv", "expected": "expected_codes.csv", "administrations": "administrations.csv",
}
#: The run summary of a run folder.
SUMMARY_FILE = "summary.json"
#: Rank of a severity word, higher is worse: the vocabulary's order (high 3, medium 2, low 1).
SEVERITY_RANK: dict[str, int] = {s: len(SEVERITIES) - SEVERITY_ORDER[s] for s in SEVERITIES}
#: Files of a run folder the report links to (relative path -> link text), in page order. A link is
#: emitted only for a file the caller says is there (``run_files`` of :func:`render_report`).
LINKED_FILES: dict[str, str] = {
    "worklist.csv": "worklist.csv (every finding, ordered for action)",
    "quarantine.csv": "quarantine.csv (rows set aside by validation, with reasons)",
    "validation/index.html": "validation: every rule checked on each extract (works offline)",
    "validation/mar/index.html": "MAR validation report (Great Expectations data docs)",
    "validation/claims/index.html": "claims validation report (Great Expectations data docs)",
}
#: What :func:`transforms.outputs.files.write_run_files` always writes beside the report.
ALWAYS_WRITTEN: tuple[str, ...] = ("worklist.csv", "quarantine.csv")
#: Summary key naming the night audited (the lake's ``audit_date``, ``YYYY-MM-DD``).
AUDIT_DATE_KEY = "audit_date"
#: Directions in words, for chart labels.
DIRECTION_WORDS: dict[str, str] = {OVER: "over-billed", UNDER: "under-billed", DOCUMENTATION: "documentation"}
#: Columns of :func:`rank_encounters`.
RANKED_COLUMNS: tuple[str, ...] = (
    "encounter_id", "claim_id", "findings", "over_billed", "under_billed", "documentation", "keys",
    "severity_rank", "dollars", "abs_dollars",
)

# Chart names re-exported: callers and tests import them from the report module.
__all__ = [
    "ALWAYS_WRITTEN", "AUDIT_DATE_KEY", "CLASS_COLOURS", "CLASS_LABELS", "DIRECTION_COLOURS", "LINKED_FILES",
    "REPORT_INPUTS", "SEVERITY_RANK", "SUMMARY_FILE", "codes_for", "hbar_chart", "linked_run_files", "night_of",
    "price_notes", "rank_encounters", "reads_every_administration", "render_report", "render_run_dir",
    "severity_rank", "timeline_chart",
    "trend_chart", "trend_from_findings", "wall_time",
]

_CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --rule: #d9dee3; --band: #f5f7fa; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); margin: 0 auto; padding: 20px 28px; max-width: 1400px; font-size: 14px; line-height: 1.4;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 26px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--rule); }
h3 { font-size: 15px; margin: 0 0 6px; }
p.meta, p.note { color: var(--muted); margin: 4px 0 10px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0; }
.card { border: 1px solid var(--rule); border-radius: 6px; padding: 8px 14px; min-width: 150px; background: var(--band); }
.card .v { font-size: 22px; font-weight: 650; }
.card .k { color: var(--muted); font-size: 12px; }
.card.over .v { color: #b34700; } .card.under .v { color: #1f5f8b; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--rule); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.row { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
.row > div { min-width: 0; }
svg { max-width: 100%; height: auto; font-family: inherit; }
svg text { font-size: 12px; fill: var(--ink); }
svg .axis { stroke: #9aa5b1; stroke-width: 1; }
svg .grid { stroke: #e4e7eb; stroke-width: 1; }
svg text.small { font-size: 10.5px; fill: var(--muted); }
svg text.lbl { paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; font-size: 11.5px; }
svg text.lbl.in { stroke: none; fill: #fff; font-weight: 600; }
svg text.lbl.in.dark { fill: #1f2933; }
.encounter { border: 1px solid var(--rule); border-radius: 6px; padding: 12px 14px; margin: 0 0 16px; }
.encounter ul { margin: 6px 0 0 18px; padding: 0; font-size: 12.5px; color: #3e4c59; }
.codes td.col-finding { font-size: 12px; }
.dir-over_billed { color: #b34700; font-weight: 600; }
.dir-under_billed { color: #1f5f8b; font-weight: 600; }
.dir-documentation { color: #52606d; font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; margin: 6px 0 12px; font-size: 12.5px; align-items: center; }
.legend svg { vertical-align: middle; margin-right: 4px; }
.empty { padding: 14px; border: 1px dashed var(--rule); border-radius: 6px; color: var(--muted); }
a { color: #1f5f8b; }
p.night { font-size: 16px; margin: 2px 0 6px; }
code.key { font-size: 11px; color: var(--muted); background: var(--band); padding: 0 3px; border-radius: 3px; }
.links { margin: 4px 0 10px; padding-left: 18px; }
.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 6px 0; font-size: 13px; }
.filters input, .filters select { font: inherit; padding: 2px 4px; }
#all-findings-table td.col-explanation { font-size: 12px; color: #3e4c59; max-width: 520px; }
#all-findings-table th.sortable { cursor: pointer; }
#all-findings-table th[aria-sort="ascending"]::after { content: " \25B2"; }
#all-findings-table th[aria-sort="descending"]::after { content: " \25BC"; }
tr[hidden] { display: none; }
.price { color: var(--muted); font-size: 11.5px; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { padding: 0; max-width: none; font-size: 10.5pt; }
  h2 { break-after: avoid; }
  section, .encounter, table, svg { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .filters { display: none; }
}
"""


# --- ranking ---------------------------------------------------------------

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


# --- sections --------------------------------------------------------------

def _direction_span(direction: pd.Series, text: pd.Series) -> pd.Series:
    """``text`` in a span coloured by its direction (both escaped)."""
    return '<span class="dir-' + esc_series(direction) + '">' + esc_series(text) + "</span>"


def _direction_word_spans(direction: pd.Series) -> pd.Series:
    """Each direction in words (:func:`_direction_words`) in its coloured span, once per distinct direction."""
    return by_distinct(direction, lambda d: _direction_span(d, _direction_words(d)))


def _direction_words(direction: pd.Series) -> pd.Series:
    """Directions in words (:data:`DIRECTION_WORDS`; an unknown one as it is)."""
    d = direction.astype(str)
    return d.map(DIRECTION_WORDS).fillna(d)


def _titled_list(joined: pd.Series) -> pd.Series:
    """``", "``-joined finding keys as their :func:`_titled` forms, joined the same way (empty stays empty)."""
    parts = joined.astype(str).str.split(", ").explode()
    parts = parts[parts != ""]
    titled = _titled(parts).groupby(level=0).agg(", ".join)
    return titled.reindex(joined.index).fillna("")


def _titled(keys: pd.Series) -> pd.Series:
    """Each finding key as its plain title with the key beside it as a small code (both escaped);
    built once per distinct key."""
    return by_distinct(keys, _titled_rows)


def _titled_rows(keys: pd.Series) -> pd.Series:
    """:func:`_titled`, row by row."""
    k = keys.astype(object).where(keys.notna(), "").astype(str)
    return esc_series(k.map(TITLE).fillna(k)) + ' <code class="key">' + esc_series(k) + "</code>"


def _cards(summary: dict, findings: pd.DataFrame, administrations: pd.DataFrame) -> str:
    """Headline numbers: encounters, lines, findings per direction and, when present, dollars."""
    direction = findings["direction"].astype(str) if not findings.empty else pd.Series(dtype=str)
    if "encounters_audited" in summary:  # counting the administrations' encounters is the fallback only
        encounters = summary["encounters_audited"]
    else:
        encounters = administrations["encounter_id"].nunique() if "encounter_id" in administrations else 0
    flagged = findings["encounter_id"].nunique() if not findings.empty else 0
    cards = [
        card(int_text(encounters), "encounters audited"),
        card(int_text(flagged), "encounters with findings"),
        card(int_text(len(findings)), "findings"),
        card(int_text(direction.eq(OVER).sum()), "over-billed findings", "over"),
        card(int_text(direction.eq(UNDER).sum()), "under-billed findings", "under"),
        card(int_text(direction.eq(DOCUMENTATION).sum()), "documentation findings"),
    ]
    if "expected_lines" in summary:
        cards.insert(1, card(int_text(summary["expected_lines"]), "expected code lines"))
    if _has_dollars(findings):
        usd = num(findings["dollar_impact"])
        cards += [
            card(esc(money(float(usd[direction.eq(OVER)].sum()))), "dollar impact, over-billed", "over"),
            card(esc(money(float(usd[direction.eq(UNDER)].sum()))), "dollar impact, under-billed", "under"),
        ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _score_table(score: dict) -> str:
    """The audit against the synthetic ground truth (recall, precision)."""
    s = pd.DataFrame({
        "measure": ["injected errors found", "recall", "correctly billed encounters with a finding",
                    "encounter precision"],
        "value": [f"{score.get('detected', 0)} of {score.get('injected', 0)}",
                  f"{float(score.get('recall', 0)):.1%}",
                  f"{score.get('clean_encounters_flagged', 0)} of {score.get('clean_encounters', 0)}",
                  f"{float(score.get('encounter_precision', 0)):.1%}"],
    })
    return "<div><h3>Against the ground truth</h3>" + html_table(s, ["measure", "value"], numeric=["value"]) + "</div>"


def _set_aside(summary: dict) -> str:
    """One plain line per extract with rows set aside (how many, the top reasons); empty when none."""
    return "".join(f'<p class="note set-aside">{esc(line)}</p>' for line in set_aside_lines(summary))


def _totals(summary: dict, findings: pd.DataFrame, administrations: pd.DataFrame, night: str) -> str:
    """Headline numbers of the night, rows in/kept/quarantined and, when scored, the ground-truth figures."""
    head = f"Totals of {esc(night)}" if night else "Totals of this run"
    out = [f'<section id="totals"><h2>{head}</h2>', _cards(summary, findings, administrations), _set_aside(summary)]
    rows = summary.get("rows")
    has_rows = isinstance(rows, dict) and bool(rows)
    if has_rows:
        frame = pd.DataFrame.from_dict(rows, orient="index").reindex(
            columns=["rows_in", "rows_kept", "rows_quarantined"]).fillna(0)
        frame = frame.astype("int64").map("{:,}".format).rename_axis("extract").reset_index()
        out.append('<div class="row"><div><h3>Rows</h3>' + html_table(
            frame, ["extract", "rows in", "kept", "quarantined"], numeric=["rows_in", "rows_kept", "rows_quarantined"]) + "</div>")
    score = summary.get("score")
    if isinstance(score, dict) and "injected" in score:
        out.append(_score_table(score))
    if has_rows:  # closes the row of the rows table (and the score beside it)
        out.append("</div>")
    out.append("</section>")
    return "".join(out)


def _by_key(findings: pd.DataFrame) -> str:
    """Findings per key: bar chart coloured by direction, and a table with the key's meaning."""
    f = findings
    work = pd.DataFrame({"finding": f["finding"].astype(str), "direction": f["direction"].astype(str),
                         "encounter_id": f["encounter_id"].astype(str)})
    if _has_dollars(f):
        work["usd"] = num(f["dollar_impact"])
    g = work.groupby("finding").agg(count=("finding", "size"), encounters=("encounter_id", "nunique"),
                                    direction=("direction", "first"),
                                    **({"usd": ("usd", "sum")} if "usd" in work else {}))
    g = g.reset_index().sort_values(["count", "finding"], ascending=[False, True], kind="mergesort")
    g["meaning"] = g["finding"].map(MEANING).fillna("")
    chart = hbar_chart(list(g["finding"].map(TITLE).fillna(g["finding"])), list(g["count"]),
                       direction_colours(g["direction"]), title="Findings by key")
    cols = ["finding", "direction", "count", "encounters"] + (["usd"] if "usd" in g else []) + ["meaning"]
    table = g[cols].copy()
    table["finding"] = _titled(table["finding"])
    table["direction"] = _direction_span(table["direction"], _direction_words(table["direction"]))
    if "usd" in table:
        table["usd"] = money_series(table["usd"])
    headers = ["finding", "direction", "findings", "encounters"] + (["dollar impact"] if "usd" in g else []) + [
        "meaning"]
    return ('<section id="by-key"><h2>Findings by key</h2><div class="row"><div>' + chart + "</div><div>"
            + html_table(table, headers, numeric=["count", "encounters", "usd"], raw=["finding", "direction"])
            + "</div></div></section>")


def _by_direction(findings: pd.DataFrame) -> str:
    """Findings per direction: bar chart and table."""
    f = findings
    work = pd.DataFrame({"direction": f["direction"].astype(str), "encounter_id": f["encounter_id"].astype(str)})
    if _has_dollars(f):
        work["usd"] = num(f["dollar_impact"])
    g = work.groupby("direction").agg(count=("direction", "size"), encounters=("encounter_id", "nunique"),
                                      **({"usd": ("usd", "sum")} if "usd" in work else {}))
    order = [d for d in DIRECTION_ORDER if d in g.index] + sorted(d for d in g.index if d not in DIRECTION_ORDER)
    g = g.reindex(order).reset_index()
    chart = hbar_chart(list(g["direction"].map(DIRECTION_WORDS).fillna(g["direction"])), list(g["count"]),
                       direction_colours(g["direction"]), title="Findings by direction")
    table = g.copy()
    if "usd" in table:
        table["usd"] = money_series(table["usd"])
    headers = ["direction", "findings", "encounters"] + (["dollar impact"] if "usd" in g else [])
    return ('<section id="by-direction"><h2>Findings by direction</h2><div class="row"><div>' + chart
            + "</div><div>" + html_table(table, headers, numeric=["count", "encounters", "usd"])
            + "</div></div></section>")


def _dollars(findings: pd.DataFrame, notes: pd.Series) -> str:
    """Dollar impact by direction and by key, or a note when the findings have none;
    ``notes``: :func:`price_notes` of ``findings`` (computed once per report)."""
    head = '<section id="dollars"><h2>Dollar impact</h2>'
    if not _has_dollars(findings):
        return head + ('<p class="note">Dollar impact is not available for this run (the findings carry no '
                       "<code>dollar_impact</code> column).</p></section>")
    work = pd.DataFrame({"finding": findings["finding"].astype(str), "direction": findings["direction"].astype(str),
                         "usd": num(findings["dollar_impact"])})
    by_dir = work.groupby("direction")["usd"].sum()
    by_key = (work.groupby(["finding", "direction"])["usd"].sum().reset_index()
              .assign(_abs=lambda d: d["usd"].abs())
              .sort_values(["_abs", "finding"], ascending=[False, True], kind="mergesort"))
    by_key = by_key[by_key["_abs"] > 0]
    cards = "".join(card(esc(money(float(by_dir.get(d, 0.0)))), f"{d}", "over" if d == OVER else
                         "under" if d == UNDER else "") for d in (OVER, UNDER))
    chart = hbar_chart(list(by_key["finding"].map(TITLE).fillna(by_key["finding"])), list(by_key["usd"]),
                       direction_colours(by_key["direction"]), value_labels=list(money_series(by_key["usd"])),
                       title="Dollar impact by finding key")
    body = chart if chart else '<p class="note">No finding has a dollar amount.</p>'
    return (head + '<p class="note">Sum of <code>dollar_impact</code> by direction and by finding key.</p>'
            f'<div class="cards">{cards}</div>{body}{_zero_note(notes)}</section>')


#: Why a finding shows no dollars or $0 (see :func:`price_notes`).
NOT_PRICED = "not priced: the code has no amount in the fee schedule"
NO_DOLLARS_DOCUMENTATION = "no dollars: a documentation finding changes no code"
NO_SCHEDULE = "no dollars: the run had no fee schedule"
ZERO_IN_SCHEDULE = "$0 in the fee schedule: no separate payment (e.g. packaged under OPPS status N)"
ZERO_AMOUNT = "$0: the fee schedule's amount for the code is $0"
ZERO_ON_REMIT = "$0 paid on the 835 remittance"
ZERO_NO_UNITS = "$0: billed and expected units are equal"
#: The note of an empty ``dollar_impact`` by ``price_basis``, and of a $0 one.
_EMPTY_BY_BASIS = {PRICE_NOT_PRICED: NO_DOLLARS_DOCUMENTATION, PRICE_NOT_IN_SCHEDULE: NOT_PRICED,
                   PRICE_NO_SCHEDULE: NO_SCHEDULE}
_ZERO_BY_BASIS = {PRICE_NO_SEPARATE_PAYMENT: ZERO_IN_SCHEDULE, PRICE_REMITTANCE: ZERO_ON_REMIT,
                  PRICE_FEE_SCHEDULE: ZERO_AMOUNT}


def price_notes(findings: pd.DataFrame) -> pd.Series:
    """Why each finding's dollar impact is empty or $0 (``""`` for any other amount).

    Read from ``price_basis`` (where the dollars come from,
    :data:`transforms.vocab.findings.PRICE_BASES`); $0 without a unit
    difference is that. Findings written before ``price_basis`` existed (an
    empty value) are told from what they carry: an empty amount is a
    documentation finding or an unpriced code, $0 is the 835's when the
    explanation says so, else the schedule's no-separate-payment status.
    All ``""`` when the findings have no ``dollar_impact`` column.
    """
    if not _has_dollars(findings):
        return pd.Series("", index=findings.index, dtype=object)
    usd = pd.to_numeric(findings["dollar_impact"], errors="coerce")
    diff = num(findings["billed_units"]) - num(findings["expected_units"])
    doc = findings["direction"].astype(str).eq(DOCUMENTATION)
    remit = _says_remittance(findings, usd.eq(0).to_numpy())
    inferred = np.select(
        [usd.isna() & doc, usd.isna(), usd.eq(0) & diff.eq(0), usd.eq(0) & remit, usd.eq(0)],
        [NO_DOLLARS_DOCUMENTATION, NOT_PRICED, ZERO_NO_UNITS, ZERO_ON_REMIT, ZERO_IN_SCHEDULE], default="")
    basis = findings.get(PRICE_BASIS, pd.Series("", index=findings.index)).fillna("").astype(str)
    told = np.select(
        [usd.isna(), usd.eq(0) & diff.eq(0), usd.eq(0)],
        [basis.map(_EMPTY_BY_BASIS), ZERO_NO_UNITS, basis.map(_ZERO_BY_BASIS)], default="")
    told = pd.Series(told, index=findings.index, dtype=object).fillna("")
    return pd.Series(np.where(basis.ne(""), told, inferred), index=findings.index, dtype=object)


def _says_remittance(findings: pd.DataFrame, zero: np.ndarray) -> np.ndarray:
    """Whether each finding's explanation names the 835 remittance (:data:`REMIT_NOTE`), looked
    for in the rows of ``zero`` only (a bool mask; the note matters for a $0 amount alone)."""
    said = np.zeros(len(findings), dtype=bool)
    if "explanation" in findings and zero.any():
        text = findings["explanation"].iloc[np.flatnonzero(zero)].astype(str)
        said[zero] = text.str.contains(REMIT_NOTE.strip(), regex=False).to_numpy(dtype=bool)
    return said


def _zero_note(notes: pd.Series) -> str:
    """How many findings have no dollars or $0, and why, from their :func:`price_notes`
    (empty when every finding has an amount)."""
    counts = notes.value_counts()
    counts = counts[counts.index != ""]
    if counts.empty:
        return ""
    items = "".join(f"<li>{int_text(n)} finding{'s' if n != 1 else ''}: {esc(note)}</li>"
                    for note, n in counts.sort_index().items())
    return f'<p class="note">Findings without a dollar amount, or at $0:</p><ul class="price-notes">{items}</ul>'



def _trend(trend: pd.DataFrame | None) -> str:
    """The trend chart and table under a heading naming its own range, or a note when there is no trend."""
    if trend is None or trend.empty:
        return ('<section id="trend"><h2>Trend across audit dates</h2>'
                '<p class="note">No trend: only this run is available.</p></section>')
    t = trend.copy()
    t["_day"] = day_labels(t["audit_date"])
    t = t.sort_values("_day", kind="mergesort").reset_index(drop=True)
    first, last, n = t["_day"].iloc[0], t["_day"].iloc[-1], len(t)
    span = f"{esc(first)} to {esc(last)}, {n} audit dates" if n > 1 else f"{esc(first)}, one audit date"
    head = (f'<section id="trend"><h2>Trend across audit dates ({span})</h2>'
            '<p class="note">Every audit date in the lake up to this night; the totals above are this '
            "night's only.</p>")
    cols = [c for c in ("findings", "encounters_with_findings", "over_billed", "under_billed", "dollar_impact")
            if c in t]
    table = pd.DataFrame({"audit_date": t["_day"]})
    for c in cols:
        table[c] = money_series(num(t[c])) if c == "dollar_impact" else num(t[c]).map(int_text)
    headers = ["audit date"] + [c.replace("_", " ") for c in cols]
    return (head + '<div class="row"><div>' + trend_chart(t) + "</div><div>"
            + html_table(table, headers, numeric=cols) + "</div></div></section>")


# --- top encounters ----------------------------------------------------------

def _order_note(findings: pd.DataFrame) -> str:
    """How the top encounters are ranked, in words (by the columns the findings carry)."""
    has_sev, has_usd = _has_severity(findings), _has_dollars(findings)
    basis = ("severity" if has_sev else "") + (" and " if has_sev and has_usd else "") + (
        "dollar impact" if has_usd else "")
    return (f"ranked by {basis}, then over-billing first, then number of findings" if basis
            else "over-billing first, then by number of findings")


def _overview(ranked: pd.DataFrame, findings: pd.DataFrame, anchors: pd.Series) -> str:
    """Table of the top encounters, each linking to its timeline; worst severity and dollars when present."""
    overview = pd.DataFrame({
        "rank": np.arange(1, len(ranked) + 1).astype(str),
        "encounter": '<a href="#' + anchors + '">' + esc_series(ranked["encounter_id"]) + "</a>",
        "claim": ranked["claim_id"],
        "findings": ranked["findings"].astype(str),
        "over": ranked["over_billed"].astype(str),
        "under": ranked["under_billed"].astype(str),
        "keys": _titled_list(ranked["keys"]),
    })
    headers = ["#", "encounter", "claim", "findings", "over-billed", "under-billed", "findings by title"]
    if _has_severity(findings):
        # The severity word of each encounter's worst finding (first one on ties), among the
        # findings of the encounters shown only.
        shown = findings[findings["encounter_id"].astype(str).isin(set(ranked["encounter_id"].astype(str)))]
        sev = (shown.assign(_r=severity_rank(shown["severity"]), _e=shown["encounter_id"].astype(str))
               .sort_values("_r", ascending=False, kind="mergesort").drop_duplicates("_e")
               .set_index("_e")["severity"])
        overview["severity"] = ranked["encounter_id"].map(sev).to_numpy()
        headers.append("severity")
    if _has_dollars(findings):
        overview["dollars"] = money_series(ranked["dollars"]).to_numpy()
        headers.append("dollar impact")
    return html_table(overview, headers, numeric=["rank", "findings", "over", "under", "dollars"],
                      raw=["encounter", "keys"])


def _codes_tables(encounter_ids: list[str], expected: pd.DataFrame, findings: pd.DataFrame) -> list[str]:
    """Per encounter: expected vs billed units per code, findings coloured by direction."""
    codes = codes_of(encounter_ids, expected, findings)
    codes["finding"] = '<span class="dir-' + esc_series(codes["direction"]) + '">' + _titled_list(codes["finding"]) \
        + "</span>"
    codes["expected_units"] = codes["expected_units"].astype(str)
    codes["billed_units"] = codes["billed_units"].astype(str)
    return html_tables(codes[["hcpcs", "expected_units", "billed_units", "finding"]], codes["_g"].to_numpy(),
                       len(encounter_ids), ["hcpcs", "expected units", "billed units", "finding"],
                       numeric=["expected_units", "billed_units"], raw=["finding"], css_class="codes")


def _encounters(ranked: pd.DataFrame, anchors: pd.Series, admins: pd.DataFrame, expected: pd.DataFrame,
                findings: pd.DataFrame) -> list[str]:
    """One block per top encounter: heading, timeline beside its codes, and each finding's explanation.

    ``admins`` / ``findings`` carry ``_e``, the encounter id as text, and
    hold the rows of the encounters of ``ranked`` only. Every part is built
    for all encounters at once and joined per encounter.
    """
    ids = list(ranked["encounter_id"].astype(str))
    n = len(ids)
    if n == 0:
        return []
    position = pd.Series(np.arange(n), index=pd.Index(ids, dtype=object))
    at = admins["_e"].map(position).to_numpy(dtype="int64")
    charted = np.bincount(at, minlength=n) > 0
    charts = timeline_charts(admins, at, [f"Timeline of encounter {eid}" for eid in ids])
    f_at = findings["_e"].map(position).to_numpy(dtype="int64")
    explanation = findings["explanation"] if "explanation" in findings else pd.Series("", index=findings.index)
    items = join_by_group("<li><b>" + _titled(findings["finding"]) + "</b> (" + esc_series(findings["hcpcs"])
                          + "): " + esc_series(explanation) + "</li>", f_at, n)
    settings = (findings["setting"].astype(str).groupby(f_at).first().reindex(range(n), fill_value="")
                if "setting" in findings else pd.Series("", index=range(n)))
    tables = _codes_tables(ids, expected, findings)
    blocks = []
    for i, (eid, claim_id) in enumerate(zip(ids, ranked["claim_id"])):  # a handful: the top encounters
        chart = charts[i] if charted[i] else '<p class="empty">No administration charted for this encounter.</p>'
        claim = f" \u00b7 claim {esc(claim_id)}" if claim_id else ""
        setting = settings.iloc[i]
        blocks.append(f'<div class="encounter" id="{anchors.iloc[i]}"><h3>{i + 1}. Encounter {esc(eid)}{claim}'
                      f'{" · " + esc(setting) if setting else ""}</h3>'
                      f'<div class="row"><div>{chart}</div><div>{tables[i]}</div></div>'
                      f'<ul>{items[i]}</ul></div>')
    return blocks


def _top(findings: pd.DataFrame, ranked: pd.DataFrame, expected: pd.DataFrame, administrations: pd.DataFrame,
         top_n: int) -> str:
    """The top encounters: overview table, then per encounter its timeline, codes and explanations.

    One block per encounter of the top ``top_n`` of ``ranked``
    (:func:`rank_encounters`; a handful, not the run): each is its own chart
    with its own time axis. Every finding of every encounter is in
    :func:`_all_findings`.
    """
    ranked = ranked.head(max(0, top_n))
    anchors = "enc-" + pd.Series(np.arange(len(ranked)), dtype="int64").astype(str)
    top_set = set(ranked["encounter_id"])
    admins_id = (as_text(administrations["encounter_id"]) if "encounter_id" in administrations
                 else pd.Series(dtype=str))
    in_top = admins_id.isin(top_set)
    top_admins = administrations[in_top].assign(_e=admins_id[in_top])
    top_find = findings.assign(_e=findings["encounter_id"].astype(str))
    top_find = top_find[top_find["_e"].isin(top_set)]
    top_exp = expected[as_text(expected["encounter_id"]).isin(top_set)]
    return "".join([
        f'<section id="top"><h2>Top {len(ranked)} encounters</h2><p class="note">{esc(_order_note(findings))}.</p>',
        _overview(ranked, findings, anchors),
        "<h2>Timelines of the top encounters</h2>",
        '<p class="note">Local clock time. One row per administration; the left column is its coding '
        "role. Beside or under each chart: expected vs billed units per code (codes without a finding were "
        "billed as expected).</p>",
        legend(class_of(top_admins).unique() if not top_admins.empty else []),
        *_encounters(ranked, anchors, top_admins, top_exp, top_find),
        "</section>",
    ])


# --- every finding -------------------------------------------------------------

#: The filter and sort of the all-findings table: inline, no network, nothing loaded. Without
#: script the filters stay hidden and the table is a plain, complete table. A fragment such as
#: ``#key=push_missed&dir=under_billed&q=E26&sort=-dollars`` pre-sets the filters and the sort.
_FINDINGS_SCRIPT = """
(function () {
  var table = document.getElementById("all-findings-table");
  var form = document.getElementById("all-findings-filters");
  if (!table || !form) { return; }
  form.hidden = false;
  var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
  var shown = document.getElementById("all-findings-shown");
  var field = function (name) { return form.querySelector("[name=" + name + "]"); };
  var q = field("q"), dir = field("dir"), sev = field("sev"), key = field("key");
  function apply() {
    var text = q.value.trim().toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var ok = (!dir.value || r.getAttribute("data-dir") === dir.value)
        && (!sev || !sev.value || r.getAttribute("data-sev") === sev.value)
        && (!key.value || r.getAttribute("data-key") === key.value)
        && (!text || r.textContent.toLowerCase().indexOf(text) >= 0);
      r.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = String(n);
  }
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function sortBy(th, descending) {
    var i = heads.indexOf(th), numeric = th.getAttribute("data-type") === "num";
    var value = function (r) {
      var c = r.cells[i];
      if (numeric) { var v = parseFloat(c.getAttribute("data-v")); return isNaN(v) ? -Infinity : v; }
      return c.textContent.trim().toLowerCase();
    };
    var keyed = rows.map(function (r, pos) { return [value(r), pos, r]; });
    keyed.sort(function (a, b) {
      var d = a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
      return (descending ? -d : d) || a[1] - b[1];
    });
    keyed.forEach(function (k) { body.appendChild(k[2]); });
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  heads.forEach(function (th) {
    th.classList.add("sortable");
    th.tabIndex = 0;
    var toggle = function () { sortBy(th, th.getAttribute("aria-sort") === "ascending"); };
    th.addEventListener("click", toggle);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { toggle(); } });
  });
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
    var kv = pair.split("="), name = kv[0], v = decodeURIComponent((kv[1] || "").replace(/\\+/g, " "));
    if (name === "sort") {
      var th = table.tHead.querySelector("[data-col='" + v.replace(/^-/, "") + "']");
      if (th) { sortBy(th, v.charAt(0) === "-"); }
    } else if (kv.length === 2 && field(name)) { field(name).value = v; }
  });
  apply();
})();
"""


def _options(values: pd.Series, labels: pd.Series | None = None, order: Sequence[str] = ()) -> str:
    """``<option>`` elements of the distinct values, after an "all" option; labels default to values.

    Values in ``order`` come first in that order, the others sorted.
    """
    text = values.astype(str)
    distinct = set(pd.unique(text))
    v = pd.Series([o for o in order if o in distinct] + sorted(distinct - set(order)), dtype=object)
    if labels is not None:  # the label of a value's last row, as a dict built from the rows keeps it
        label = pd.Series(labels.astype(str).to_numpy(), index=text.to_numpy())
        shown = v.map(label[~label.index.duplicated(keep="last")])
    else:
        shown = v
    return '<option value="">all</option>' + "".join(
        '<option value="' + esc_series(v) + '">' + esc_series(shown) + "</option>")


def _filters(f: pd.DataFrame, total: int) -> str:
    """The filter controls of the all-findings table, hidden until its script shows them."""
    sev = (f'<label>Severity <select name="sev">{_options(f["severity"].astype(str), order=SEVERITIES)}'
           "</select></label>" if _has_severity(f) else "")
    key = f["finding"].astype(str)
    return ('<div class="filters" id="all-findings-filters" hidden>'
            '<label>Search <input type="search" name="q" placeholder="encounter, claim, code or text"></label>'
            '<label>Direction <select name="dir">'
            f'{_options(f["direction"], _direction_words(f["direction"]), DIRECTION_ORDER)}</select></label>{sev}'
            f'<label>Finding <select name="key">{_options(key, key.map(TITLE).fillna(key))}</select></label>'
            f'<span><b id="all-findings-shown">{total}</b> of {total} shown</span></div>')


#: Columns of the all-findings table drawn right-aligned (amounts).
_RIGHT_ALIGNED = frozenset({"billed", "expected", "difference", "dollars"})


def _finding_cells(f: pd.DataFrame, anchors: pd.Series
                   ) -> list[tuple[str, str, pd.Series | pa.Array, pd.Series | None]]:
    """The columns of the all-findings table: (column id, header, cell HTML, sort value or ``None``).

    A cell column that is escaped text alone is an Arrow array (:func:`esc_text`): it is only
    concatenated into the rows (:func:`concat_text`), never read cell by cell.

    ``f`` carries ``_note``, each finding's :func:`price_notes` text.
    ``anchors``: encounter id -> anchor of its timeline (the top encounters only).
    """
    eid = f["encounter_id"].astype(str)
    anchor = eid.map(anchors)
    encounter = esc_series(eid)
    linked = anchor.notna().to_numpy()  # the top encounters' rows only: a few
    encounter[linked] = '<a href="#' + esc_series(anchor[linked]) + '">' + encounter[linked] + "</a>"
    billed, expected = num(f["billed_units"]), num(f["expected_units"])
    diff = billed - expected
    def units(v: pd.Series, spec: str = "g") -> pd.Series:
        """Units as written (whole numbers: ``{:g}``), formatted once per distinct value."""
        return pd.Series(format_numbers(v, spec), index=v.index, dtype=object)

    cols = [
        ("encounter", "encounter", encounter, None),
        ("claim", "claim", esc_text(f["claim_id"]) if "claim_id" in f else pd.Series("", index=f.index), None),
        ("code", "code", esc_text(f["hcpcs"]), None),
        ("finding", "finding", _titled(f["finding"]), None),
        ("direction", "direction", _direction_word_spans(f["direction"]), None),
    ]
    if _has_severity(f):
        cols.append(("severity", "severity", esc_text(f["severity"]), severity_rank(f["severity"])))
    cols += [
        ("billed", "billed units", units(billed), billed),
        ("expected", "expected units", units(expected), expected),
        ("difference", "difference", units(diff, "+g").where(diff != 0, "0"), diff),
    ]
    if _has_dollars(f):
        usd = pd.to_numeric(f["dollar_impact"], errors="coerce")
        note = f["_note"]
        text = money_series(usd.fillna(0.0)).where(usd.notna(), "\u2014")
        cell = esc_series(text) + ('<div class="price">' + esc_series(note) + "</div>").where(note != "", "")
        cols.append(("dollars", "dollar impact", cell, usd))
    explanation = f["explanation"] if "explanation" in f else pd.Series("", index=f.index)
    cols.append(("explanation", "explanation", esc_text(explanation), None))
    return cols


def _ranked_order(position: np.ndarray, code: pd.Series) -> np.ndarray:
    """Row positions sorted by encounter ``position`` (NaN last), then ``code`` text; stable (a
    mergesort by the two, as ``sort_values``), from integer keys instead of comparing text."""
    code_rank = pd.factorize(code.to_numpy(dtype=object), sort=True)[0]
    return np.lexsort((code_rank, np.where(np.isnan(position), np.inf, position)))


#: Rows of the all-findings table made at a time (their cells, then their UTF-8 bytes).
_TABLE_ROWS_PER_BLOCK = 32_768


def _all_findings(findings: pd.DataFrame, ranked: pd.DataFrame, top_n: int, notes: pd.Series
                  ) -> Iterator[str | memoryview]:
    """Every finding in one table, in the order of the encounter ranking; filterable and sortable by script.

    Yielded as consecutive pieces of the page: text, and the table rows (most
    of the page) as their UTF-8 bytes (:func:`concat_utf8`), never a Python
    string, :data:`_TABLE_ROWS_PER_BLOCK` rows at a time (a row's HTML is
    made from its own finding only), so only one block's cells are alive.

    ``notes``: :func:`price_notes` of ``findings``, shown under their dollars.

    Each finding of every encounter is here (the timelines above are the top
    ``top_n`` only); an encounter with a timeline links to it.
    """
    order = pd.Series(np.arange(len(ranked)), index=ranked["encounter_id"].astype(str))
    rows = _ranked_order(findings["encounter_id"].astype(str).map(order).to_numpy(dtype=float),
                         findings["hcpcs"].astype(str))
    f = findings.take(rows).assign(_note=notes.to_numpy()[rows]).reset_index(drop=True)
    top = ranked["encounter_id"].astype(str).head(max(0, top_n))
    anchors = pd.Series("enc-" + pd.Series(np.arange(len(top))).astype(str).to_numpy(), index=top.to_numpy())
    cols = _finding_cells(f.head(1), anchors)  # the columns depend on the frame's columns only
    sortable_numbers = {c for c, _, _, v in cols if v is not None}
    head = "".join(
        f'<th data-col="{c}"' + (' data-type="num"' if c in sortable_numbers else "")
        + (' class="num"' if c in _RIGHT_ALIGNED else "") + f">{esc(h)}</th>" for c, h, _, _ in cols)
    n = len(f)
    note = (f"All {int_text(n)} findings of {int_text(len(ranked))} encounters, the encounters in the order above. "
            "Encounters with a timeline above link to it; for any other, <code>infusion-audit explain "
            "&lt;encounter&gt; --run &lt;this folder&gt;</code> prints its timeline and lines.")
    yield f'<section id="all-findings"><h2>Every finding ({int_text(n)})</h2><p class="note">{note}</p>'
    yield _filters(f, n)
    yield f'<table id="all-findings-table"><thead><tr>{head}</tr></thead><tbody>'
    for start in range(0, n, _TABLE_ROWS_PER_BLOCK):  # a handful of blocks
        # The rows are most of the page: they stay Arrow's UTF-8 bytes, copied into no Python string.
        yield concat_utf8(_finding_row_pieces(f.iloc[start:start + _TABLE_ROWS_PER_BLOCK], anchors))
    yield "</tbody></table>"
    yield f"<script>{_FINDINGS_SCRIPT}</script></section>"


def _finding_row_pieces(f: pd.DataFrame, anchors: pd.Series) -> list[str | pd.Series | pa.Array]:
    """The pieces of the all-findings rows of ``f`` (:func:`_finding_cells`), for :func:`concat_utf8`."""
    sev = esc_text(f["severity"]) if _has_severity(f) else ""
    pieces = ['<tr data-dir="', esc_text(f["direction"]), '" data-sev="', sev, '" data-key="',
              esc_text(f["finding"]), '">']
    for c, _, cell, value in _finding_cells(f, anchors):  # one pass per column; the rows are built in bulk
        if value is None:
            pieces += [f'<td class="col-{c}">', cell, "</td>"]
        else:
            v = pd.Series(format_numbers(value, "g"), index=value.index).where(value.notna(), "")
            css = "num" if c in _RIGHT_ALIGNED else f"col-{c}"
            pieces += [f'<td class="{css}" data-v="', v, '">', cell, "</td>"]
    return [*pieces, "</tr>"]


def linked_run_files(run_dir: Path) -> tuple[str, ...]:
    """The files of :data:`LINKED_FILES` present in ``run_dir`` (relative paths, in page order).

    A caller rendering a report into a run folder passes this as
    ``run_files`` so the page links exactly the files that are there.
    """
    run_dir = Path(run_dir)
    return tuple(name for name in LINKED_FILES if (run_dir / name).is_file())


def _files(run_files: Iterable[str] | None) -> str:
    """Links to the run's other files (relative, only those present); empty when none are."""
    present = set(ALWAYS_WRITTEN if run_files is None else run_files)
    items = "".join(f'<li><a href="{esc(name)}">{esc(text)}</a></li>'
                    for name, text in LINKED_FILES.items() if name in present)
    if not items:
        return ""
    return f'<section id="files"><h2>Files of this run</h2><ul class="links">{items}</ul></section>'


# --- public API ------------------------------------------------------------

def reads_every_administration(summary: dict) -> bool:
    """Whether :func:`render_report` with this ``summary`` reads administrations of encounters
    without findings.

    Only to count the encounters audited, when ``summary`` has no
    ``encounters_audited``; otherwise it draws the administrations of its top
    encounters alone, and those all have findings (:func:`rank_encounters`),
    so a caller may pass just the rows of encounters with findings (in their
    order) and get the same page.
    """
    return "encounters_audited" not in summary


#: Encounters :func:`render_report` draws as timelines unless told otherwise (its ``top_n``).
TOP_ENCOUNTERS = 10


def drawn_encounters(ranked: pd.DataFrame, top_n: int = TOP_ENCOUNTERS) -> np.ndarray:
    """The encounter ids (text) whose administrations and expected lines :func:`render_report` draws.

    ``ranked``: :func:`rank_encounters` of its findings. They are its top
    ``top_n`` encounters: of the expected lines and (unless
    :func:`reads_every_administration`) of the administrations, the page
    reads the rows of those only, so a caller may pass just those rows (in
    their order), plus, of the expected lines, the first row of each
    distinct ``service_date`` (:func:`night_of`), and get the same page.
    """
    return ranked["encounter_id"].astype(str).head(max(0, top_n)).to_numpy(dtype=object)


def night_of(summary: dict, expected: pd.DataFrame) -> tuple[str, str]:
    """The night the report is about, as (short label, sentence).

    The run summary's :data:`AUDIT_DATE_KEY` when it has one (a nightly run);
    else the service dates of the expected lines (a files-in audit has no
    night of its own); ``("", "")`` when neither is known.
    """
    day = summary.get(AUDIT_DATE_KEY)
    if day:
        label = day_labels(pd.Series([str(day)], dtype=object))[0]
        return f"the night of {label}", f"Night audited: <b>{esc(label)}</b>"
    # Each distinct date once, in order of first appearance (day_labels infers its format from the first).
    dates = (sorted(set(day_labels(pd.Series(pd.unique(expected["service_date"].to_numpy(dtype=object)),
                                             dtype=object).astype(str)))) if "service_date" in expected else [])
    dates = [d for d in dates if d]
    if not dates:
        return "", ""
    span = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    word = "Service date" if len(dates) == 1 else "Service dates"
    return f"service dates {span}" if len(dates) > 1 else f"service date {span}", (
        f"{word} audited: <b>{esc(span)}</b> (from the expected lines; this run names no audit night)")


def _meta(summary: dict, night_line: str) -> str:
    """The lines under the title: the night audited, the policy, the no-identifier note."""
    meta = []
    if summary.get("policy"):
        meta.append(f"Policy <b>{esc(summary['policy'])}</b>")
    meta.append("no patient identifiers: encounters and claims are shown by id")
    night = f'<p class="night">{night_line}</p>' if night_line else ""
    return f'{night}<p class="meta">{" · ".join(meta)}</p>'


def render_report(
    *,
    findings: pd.DataFrame,
    expected: pd.DataFrame,
    administrations: pd.DataFrame,
    summary: dict,
    trend: pd.DataFrame | None = None,
    title: str = "Infusion claim audit",
    top_n: int = TOP_ENCOUNTERS,
    run_files: Iterable[str] | None = None,
    ranked: pd.DataFrame | None = None,
) -> str:
    """The run's report as one self-contained HTML page.

    Args:
        findings: audit findings (``encounter_id``, ``claim_id``, ``hcpcs``,
            ``billed_units``, ``expected_units``, ``finding``,
            ``explanation``, ``direction``, ``setting``, ``evidence``;
            optional ``severity`` and ``dollar_impact``).
        expected: expected lines (``encounter_id``, ``hcpcs``, ``units``).
        administrations: the reconstructed timeline (``encounter_id``,
            ``drug_label``, ``drug_class``, ``kind``, ``role``, ``route``,
            ``site``, ``start``, ``end``, ``minutes``, ``infusates``); times
            are ISO strings with an offset or timestamps, drawn on their
            local clock.
        summary: the run summary (``rows``, ``encounters_audited``,
            ``policy``, ``expected_lines``, optional ``score`` and
            :data:`AUDIT_DATE_KEY`, the night audited); missing keys are
            derived from the frames or left out.
        trend: one row per ``audit_date`` with ``findings``,
            ``encounters_with_findings``, ``over_billed``, ``under_billed``
            and optionally ``dollar_impact``; ``None`` for no trend.
        title: page title and heading.
        top_n: number of encounters drawn as timelines (every finding is in
            the all-findings table whatever ``top_n``).
        run_files: relative paths of the files present in the run folder
            (:func:`linked_run_files`); the page links those of
            :data:`LINKED_FILES` only. ``None``: the files ``write_run_files``
            always writes (:data:`ALWAYS_WRITTEN`), no validation pages.
        ranked: :func:`rank_encounters` of ``findings`` when the caller has
            it already (e.g. for :func:`drawn_encounters`); None ranks them.

    Returns:
        The HTML document (UTF-8 text). It references no external resource:
        its links are relative, to files of the run folder, and its one
        script is inline.
    """
    parts = render_report_parts(findings=findings, expected=expected, administrations=administrations,
                                summary=summary, trend=trend, title=title, top_n=top_n, run_files=run_files,
                                ranked=ranked)
    # One join: the findings table is most of the page, so it is copied once, not once per "+".
    return "".join(part if isinstance(part, str) else str(part, "utf-8") for part in parts)


def render_report_parts(
    *,
    findings: pd.DataFrame,
    expected: pd.DataFrame,
    administrations: pd.DataFrame,
    summary: dict,
    trend: pd.DataFrame | None = None,
    title: str = "Infusion claim audit",
    top_n: int = TOP_ENCOUNTERS,
    run_files: Iterable[str] | None = None,
    ranked: pd.DataFrame | None = None,
) -> Iterator[str | memoryview]:
    """:func:`render_report` (same arguments) as consecutive pieces: text, and UTF-8 bytes
    (``memoryview``) for the large all-findings rows, made as they are asked for. Written one
    after the other (text encoded as UTF-8) they are the page's bytes, without the page ever
    being one Python string."""
    night, night_line = night_of(summary, expected)
    body: list[str | Iterable[str | memoryview]] = [  # each a section: text, or its pieces
        f"<h1>{esc(title)}</h1>", _meta(summary, night_line), _totals(summary, findings, administrations, night),
        _files(run_files)]
    if findings.empty:
        body.append('<section id="findings"><h2>Findings</h2><p class="empty">No findings: every billed '
                    "drug-administration line matched what the MAR supports.</p></section>")
    else:
        ranked = rank_encounters(findings) if ranked is None else ranked
        notes = price_notes(findings)  # the dollars section counts them, the table shows them
        body += [_by_key(findings), _by_direction(findings), _dollars(findings, notes),
                 _top(findings, ranked, expected, administrations, top_n),
                 _all_findings(findings, ranked, top_n, notes)]
    body.append(_trend(trend))
    page_title = f"{title}, {night}" if night else title
    head = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(page_title)}</title><style>{_CSS}</style></head>\n<body>")
    yield head
    for section in [*body, "</body></html>\n"]:  # a dozen sections, each after a line break
        yield "\n"
        yield from [section] if isinstance(section, str) else section


def trend_from_findings(findings: pd.DataFrame, days: Iterable[object] | None = None) -> pd.DataFrame:
    """The trend table from findings of several audit dates (e.g. the lake's).

    Args:
        findings: findings with an ``audit_date`` column (as
            ``lake.read_days(root, "findings", first, last)`` returns).
        days: every audit date processed; dates without findings get zero
            rows (the lake keeps an empty partition for them). Defaults to
            the dates present in ``findings``.

    Returns:
        One row per ``audit_date`` (``YYYY-MM-DD``): ``findings``,
        ``encounters_with_findings``, ``over_billed``, ``under_billed`` and
        ``dollar_impact`` when the findings have it.
    """
    cols = ["findings", "encounters_with_findings", "over_billed", "under_billed"]
    f = findings
    if f.empty or "audit_date" not in f:
        g = pd.DataFrame(columns=cols, dtype="int64").rename_axis("audit_date")
    else:
        work = pd.DataFrame({
            "audit_date": day_labels(f["audit_date"]),
            "encounter_id": f["encounter_id"].astype(str),
            "over": f["direction"].astype(str).eq(OVER).astype("int64"),
            "under": f["direction"].astype(str).eq(UNDER).astype("int64"),
        })
        agg = {"findings": ("encounter_id", "size"), "encounters_with_findings": ("encounter_id", "nunique"),
               "over_billed": ("over", "sum"), "under_billed": ("under", "sum")}
        if _has_dollars(f):
            work["usd"] = num(f["dollar_impact"]).to_numpy()
            agg["dollar_impact"] = ("usd", "sum")
        g = work.groupby("audit_date").agg(**agg)
    if days is not None:
        labels = day_labels(pd.Series(list(days), dtype=object))
        g = g.reindex(sorted(set(labels) | set(g.index))).fillna(0)
    g[cols] = g[cols].astype("int64")
    return g.rename_axis("audit_date").reset_index()


def render_run_dir(out_dir: Path, *, trend: pd.DataFrame | None = None, title: str = "Infusion claim audit",
                   top_n: int = 10) -> str:
    """:func:`render_report` of a run folder (the ``report`` command re-renders one from disk).

    Reads the files of :data:`REPORT_INPUTS` (every column as text, missing
    as ``""``) and :data:`SUMMARY_FILE`; numbers are parsed where they are
    drawn. The page links the files of :data:`LINKED_FILES` the folder
    holds (:func:`linked_run_files`). For the folder
    :func:`transforms.outputs.files.write_run_files` wrote, the page equals
    the ``report.html`` it wrote (same ``trend``, default ``title`` and
    ``top_n``) when that call was given the same ``run_files``.

    Args:
        out_dir: the run folder.
        trend: see :func:`render_report`.
        title: page title and heading.
        top_n: number of encounters drawn as timelines.

    Returns:
        The HTML document.
    """
    out_dir = Path(out_dir)
    frames = {arg: pd.read_csv(out_dir / name, dtype=str, keep_default_na=False)
              for arg, name in REPORT_INPUTS.items()}
    summary = json.loads((out_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    return render_report(**frames, summary=summary, trend=trend, title=title, top_n=top_n,
                         run_files=linked_run_files(out_dir))
