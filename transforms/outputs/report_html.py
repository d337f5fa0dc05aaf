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
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.frames import join_unique
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
    trend_chart,
    wall_time,
)
from transforms.outputs.report_markup import (
    card,
    day_labels,
    esc,
    esc_series,
    html_table,
    int_text,
    money,
    money_series,
    num,
)
from transforms.vocab.findings import DOCUMENTATION, MEANING, OVER, SEVERITIES, SEVERITY_ORDER, UNDER

#: Run-folder files the report is drawn from: ``render_report`` argument -> file name.
REPORT_INPUTS: dict[str, str] = {
    "findings": "findings.csv", "expected": "expected_codes.csv", "administrations": "administrations.csv",
}
#: The run summary of a run folder.
SUMMARY_FILE = "summary.json"
#: Rank of a severity word, higher is worse: the vocabulary's order (high 3, medium 2, low 1).
SEVERITY_RANK: dict[str, int] = {s: len(SEVERITIES) - SEVERITY_ORDER[s] for s in SEVERITIES}
#: Columns of :func:`rank_encounters`.
RANKED_COLUMNS: tuple[str, ...] = (
    "encounter_id", "claim_id", "findings", "over_billed", "under_billed", "documentation", "keys",
    "severity_rank", "dollars", "abs_dollars",
)

# Chart names re-exported: callers and tests import them from the report module.
__all__ = [
    "CLASS_COLOURS", "CLASS_LABELS", "DIRECTION_COLOURS", "REPORT_INPUTS", "SEVERITY_RANK", "SUMMARY_FILE",
    "codes_for", "hbar_chart", "rank_encounters", "render_report", "render_run_dir", "severity_rank",
    "timeline_chart", "trend_chart", "trend_from_findings", "wall_time",
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
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { padding: 0; max-width: none; font-size: 10.5pt; }
  h2 { break-after: avoid; }
  section, .encounter, table, svg { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
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
    numeric = pd.to_numeric(severity, errors="coerce")
    words = severity.astype(object).where(severity.notna(), "").astype(str).str.strip().str.lower()
    return numeric.fillna(words.map(SEVERITY_RANK)).fillna(0.0).astype(float)


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
    keys = join_unique(work, ["encounter_id"], "finding", ", ", sort=True)
    claims = work[work["claim_id"] != ""].groupby("encounter_id")["claim_id"].first()
    g = work.groupby("encounter_id").agg(
        findings=("finding", "size"), over_billed=("over", "sum"), under_billed=("under", "sum"),
        documentation=("doc", "sum"), severity_rank=("sev", "max"), dollars=("usd", "sum"),
        abs_dollars=("abs_usd", "sum"),
    )
    g["keys"] = keys
    g["claim_id"] = claims.reindex(g.index).fillna("")
    g["_has_over"] = g["over_billed"] > 0
    g = g.reset_index().sort_values(
        ["severity_rank", "abs_dollars", "_has_over", "over_billed", "findings", "encounter_id"],
        ascending=[False, False, False, False, False, True], kind="mergesort",
    )
    return g.drop(columns="_has_over").reset_index(drop=True)[list(RANKED_COLUMNS)]


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
    e = expected[expected["encounter_id"].astype(str) == encounter_id]
    exp = pd.DataFrame({"hcpcs": e["hcpcs"].astype(str), "units": num(e["units"])}).groupby("hcpcs")["units"].sum()
    f = findings[findings["encounter_id"].astype(str) == encounter_id]
    fx = pd.DataFrame({
        "hcpcs": f["hcpcs"].astype(object).where(f["hcpcs"].notna(), "").astype(str),
        "expected_units": num(f["expected_units"]),
        "billed_units": num(f["billed_units"]),
        "finding": f["finding"].astype(str),
        "direction": f["direction"].astype(str),
    })
    fg = fx.groupby("hcpcs", sort=False).agg(
        expected_units=("expected_units", "max"), billed_units=("billed_units", "max"),
        finding=("finding", ", ".join), direction=("direction", "first"),
    )
    matched = exp[~exp.index.isin(fg.index)]
    ok = pd.DataFrame({"expected_units": matched, "billed_units": matched, "finding": "", "direction": ""},
                      index=matched.index)
    out = pd.concat([fg, ok]).rename_axis("hcpcs").reset_index()
    out["_blank"] = out["hcpcs"].eq("")
    out = out.sort_values(["_blank", "hcpcs"], kind="mergesort").drop(columns="_blank").reset_index(drop=True)
    out[["expected_units", "billed_units"]] = out[["expected_units", "billed_units"]].astype("int64")
    return out


# --- sections --------------------------------------------------------------

def _direction_span(direction: pd.Series, text: pd.Series) -> pd.Series:
    """``text`` in a span coloured by its direction (both escaped)."""
    return '<span class="dir-' + esc_series(direction) + '">' + esc_series(text) + "</span>"


def _cards(summary: dict, findings: pd.DataFrame, administrations: pd.DataFrame) -> str:
    """Headline numbers: encounters, lines, findings per direction and, when present, dollars."""
    direction = findings["direction"].astype(str) if not findings.empty else pd.Series(dtype=str)
    encounters = summary.get("encounters_audited", administrations["encounter_id"].nunique()
                             if "encounter_id" in administrations else 0)
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


def _totals(summary: dict, findings: pd.DataFrame, administrations: pd.DataFrame) -> str:
    """Headline numbers, rows in/kept/quarantined and, when scored, the ground-truth figures."""
    out = ['<section id="totals"><h2>Totals</h2>', _cards(summary, findings, administrations), _set_aside(summary)]
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
    chart = hbar_chart(list(g["finding"]), list(g["count"]), direction_colours(g["direction"]),
                       title="Findings by key")
    cols = ["finding", "direction", "count", "encounters"] + (["usd"] if "usd" in g else []) + ["meaning"]
    table = g[cols].copy()
    table["direction"] = _direction_span(table["direction"], table["direction"])
    if "usd" in table:
        table["usd"] = money_series(table["usd"])
    headers = ["finding", "direction", "findings", "encounters"] + (["dollar impact"] if "usd" in g else []) + [
        "meaning"]
    return ('<section id="by-key"><h2>Findings by key</h2><div class="row"><div>' + chart + "</div><div>"
            + html_table(table, headers, numeric=["count", "encounters", "usd"], raw=["direction"])
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
    chart = hbar_chart(list(g["direction"]), list(g["count"]), direction_colours(g["direction"]),
                       title="Findings by direction")
    table = g.copy()
    if "usd" in table:
        table["usd"] = money_series(table["usd"])
    headers = ["direction", "findings", "encounters"] + (["dollar impact"] if "usd" in g else [])
    return ('<section id="by-direction"><h2>Findings by direction</h2><div class="row"><div>' + chart
            + "</div><div>" + html_table(table, headers, numeric=["count", "encounters", "usd"])
            + "</div></div></section>")


def _dollars(findings: pd.DataFrame) -> str:
    """Dollar impact by direction and by key, or a note when the findings have none."""
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
    chart = hbar_chart(list(by_key["finding"]), list(by_key["usd"]), direction_colours(by_key["direction"]),
                       value_labels=list(money_series(by_key["usd"])), title="Dollar impact by finding key")
    body = chart if chart else '<p class="note">No finding has a dollar amount.</p>'
    return (head + '<p class="note">Sum of <code>dollar_impact</code> by direction and by finding key.</p>'
            f'<div class="cards">{cards}</div>{body}</section>')


def _trend(trend: pd.DataFrame | None) -> str:
    """The trend chart and table, or a note when there is no trend."""
    head = '<section id="trend"><h2>Trend across audit dates</h2>'
    if trend is None or trend.empty:
        return head + '<p class="note">No trend: only this run is available.</p></section>'
    t = trend.copy()
    t["_day"] = day_labels(t["audit_date"])
    t = t.sort_values("_day", kind="mergesort").reset_index(drop=True)
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
        "keys": ranked["keys"],
    })
    headers = ["#", "encounter", "claim", "findings", "over-billed", "under-billed", "finding keys"]
    if _has_severity(findings):
        # The severity word of each encounter's worst finding (first one on ties).
        sev = (findings.assign(_r=severity_rank(findings["severity"]), _e=findings["encounter_id"].astype(str))
               .sort_values("_r", ascending=False, kind="mergesort").drop_duplicates("_e")
               .set_index("_e")["severity"])
        overview["severity"] = ranked["encounter_id"].map(sev).to_numpy()
        headers.append("severity")
    if _has_dollars(findings):
        overview["dollars"] = money_series(ranked["dollars"]).to_numpy()
        headers.append("dollar impact")
    return html_table(overview, headers, numeric=["rank", "findings", "over", "under", "dollars"], raw=["encounter"])


def _codes_table(eid: str, expected: pd.DataFrame, findings: pd.DataFrame) -> str:
    """Expected vs billed units per code of one encounter, findings coloured by direction."""
    codes = codes_for(eid, expected, findings)
    codes["finding"] = _direction_span(codes["direction"], codes["finding"])
    codes["expected_units"] = codes["expected_units"].astype(str)
    codes["billed_units"] = codes["billed_units"].astype(str)
    return html_table(codes[["hcpcs", "expected_units", "billed_units", "finding"]],
                      ["hcpcs", "expected units", "billed units", "finding"],
                      numeric=["expected_units", "billed_units"], raw=["finding"], css_class="codes")


def _encounter(i: int, row, anchor: str, admins: pd.DataFrame, expected: pd.DataFrame,
               findings: pd.DataFrame) -> str:
    """One top encounter: heading, timeline beside its codes, and each finding's explanation.

    ``admins`` / ``findings`` carry ``_e``, the encounter id as text.
    """
    eid = str(row.encounter_id)
    ad = admins[admins["_e"] == eid]
    chart = (timeline_chart(ad, label=f"Timeline of encounter {eid}") if not ad.empty
             else '<p class="empty">No administration charted for this encounter.</p>')
    fe = findings[findings["_e"] == eid]
    items = ("<li><b>" + esc_series(fe["finding"]) + "</b> (" + esc_series(fe["hcpcs"]) + "): "
             + esc_series(fe["explanation"] if "explanation" in fe else pd.Series("", index=fe.index))
             + "</li>")
    setting = fe["setting"].astype(str).iloc[0] if "setting" in fe and len(fe) else ""
    claim = f" \u00b7 claim {esc(row.claim_id)}" if row.claim_id else ""
    return (f'<div class="encounter" id="{anchor}"><h3>{i + 1}. Encounter {esc(eid)}{claim}'
            f'{" · " + esc(setting) if setting else ""}</h3>'
            f'<div class="row"><div>{chart}</div><div>{_codes_table(eid, expected, findings)}</div></div>'
            f'<ul>{"".join(items)}</ul></div>')


def _top(findings: pd.DataFrame, expected: pd.DataFrame, administrations: pd.DataFrame, top_n: int) -> str:
    """The top encounters: overview table, then per encounter its timeline, codes and explanations.

    One block per encounter of the top ``top_n`` (a handful, not the run):
    each is its own chart with its own time axis.
    """
    ranked = rank_encounters(findings).head(max(0, top_n))
    anchors = "enc-" + pd.Series(np.arange(len(ranked)), dtype="int64").astype(str)
    top_set = set(ranked["encounter_id"])
    admins_id = (administrations["encounter_id"].astype(str) if "encounter_id" in administrations
                 else pd.Series(dtype=str))
    in_top = admins_id.isin(top_set)
    top_admins = administrations[in_top].assign(_e=admins_id[in_top])
    top_find = findings.assign(_e=findings["encounter_id"].astype(str))
    top_find = top_find[top_find["_e"].isin(top_set)]
    top_exp = expected[expected["encounter_id"].astype(str).isin(top_set)]
    blocks = [_encounter(i, row, anchors.iloc[i], top_admins, top_exp, top_find)
              for i, row in enumerate(ranked.itertuples(index=False))]
    return "".join([
        f'<section id="top"><h2>Top {len(ranked)} encounters</h2><p class="note">{esc(_order_note(findings))}.</p>',
        _overview(ranked, findings, anchors),
        "<h2>Timelines of the top encounters</h2>",
        '<p class="note">Local clock time. One row per administration; the left column is its coding '
        "role. Beside each chart: expected vs billed units per code (codes without a finding were billed "
        "as expected).</p>",
        legend(class_of(top_admins).unique() if not top_admins.empty else []),
        *blocks,
        "</section>",
    ])


# --- public API ------------------------------------------------------------

def _meta(summary: dict, trend: pd.DataFrame | None) -> str:
    """The line under the title: policy, audit dates, the no-identifier note."""
    meta = []
    if summary.get("policy"):
        meta.append(f"Policy <b>{esc(summary['policy'])}</b>")
    if trend is not None and not trend.empty:
        days = day_labels(trend["audit_date"])
        meta.append(f"audit dates {esc(min(days))} to {esc(max(days))}" if len(set(days)) > 1
                    else f"audit date {esc(days[0])}")
    meta.append("no patient identifiers: encounters and claims are shown by id")
    return f'<p class="meta">{" · ".join(meta)}</p>'


def render_report(
    *,
    findings: pd.DataFrame,
    expected: pd.DataFrame,
    administrations: pd.DataFrame,
    summary: dict,
    trend: pd.DataFrame | None = None,
    title: str = "Infusion claim audit",
    top_n: int = 10,
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
            ``policy``, ``expected_lines``, optional ``score``); missing
            keys are derived from the frames or left out.
        trend: one row per ``audit_date`` with ``findings``,
            ``encounters_with_findings``, ``over_billed``, ``under_billed``
            and optionally ``dollar_impact``; ``None`` for no trend.
        title: page title and heading.
        top_n: number of encounters drawn as timelines.

    Returns:
        The HTML document (UTF-8 text). It references no external resource.
    """
    body = [f"<h1>{esc(title)}</h1>", _meta(summary, trend), _totals(summary, findings, administrations)]
    if findings.empty:
        body.append('<section id="findings"><h2>Findings</h2><p class="empty">No findings: every billed '
                    "drug-administration line matched what the MAR supports.</p></section>")
        body.append(_trend(trend))
    else:
        body += [_by_key(findings), _by_direction(findings), _dollars(findings), _trend(trend),
                 _top(findings, expected, administrations, top_n)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


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
    drawn. For the folder :func:`transforms.outputs.files.write_run_files`
    wrote, the page equals the ``report.html`` it wrote (same ``trend``,
    default ``title`` and ``top_n``).

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
    return render_report(**frames, summary=summary, trend=trend, title=title, top_n=top_n)
