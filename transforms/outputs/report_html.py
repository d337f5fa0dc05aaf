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
:mod:`transforms.outputs.report_markup`. This module assembles the page;
its sections are in :mod:`transforms.outputs.report_ranking` (encounter
order, codes per encounter), :mod:`transforms.outputs.report_sections`
(totals, by key and direction, dollars and price notes, trend),
:mod:`transforms.outputs.report_encounters` (top encounters and their
timelines) and :mod:`transforms.outputs.report_findings_table` (every
finding), whose public names are re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.outputs.report_charts import (
    CLASS_COLOURS,
    CLASS_LABELS,
    DIRECTION_COLOURS,
    hbar_chart,
    timeline_chart,
    trend_chart,
    wall_time,
)
from transforms.outputs.report_encounters import _top
from transforms.outputs.report_findings_table import _all_findings
from transforms.outputs.report_markup import day_labels, esc, num
from transforms.outputs.report_ranking import (
    RANKED_COLUMNS,
    SEVERITY_RANK,
    _has_dollars,
    codes_for,
    codes_of,
    rank_encounters,
    severity_rank,
)
from transforms.outputs.report_sections import (
    DIRECTION_WORDS,
    NO_DOLLARS_DOCUMENTATION,
    NO_SCHEDULE,
    NOT_PRICED,
    ZERO_AMOUNT,
    ZERO_IN_SCHEDULE,
    ZERO_NO_UNITS,
    ZERO_ON_REMIT,
    _by_direction,
    _by_key,
    _dollars,
    _totals,
    _trend,
    price_notes,
)
from transforms.vocab.findings import OVER, UNDER

#: Run-folder files the report is drawn from: ``render_report`` argument -> file name.
REPORT_INPUTS: dict[str, str] = {
    "findings": "findings.csv", "expected": "expected_codes.csv", "administrations": "administrations.csv",
}
#: The run summary of a run folder.
SUMMARY_FILE = "summary.json"
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

# Chart and section names re-exported: callers and tests import them from the report module.
__all__ = [
    "ALWAYS_WRITTEN", "AUDIT_DATE_KEY", "CLASS_COLOURS", "CLASS_LABELS", "DIRECTION_COLOURS", "DIRECTION_WORDS",
    "LINKED_FILES", "NO_DOLLARS_DOCUMENTATION", "NO_SCHEDULE", "NOT_PRICED", "RANKED_COLUMNS", "REPORT_INPUTS",
    "SEVERITY_RANK", "SUMMARY_FILE", "TOP_ENCOUNTERS", "ZERO_AMOUNT", "ZERO_IN_SCHEDULE", "ZERO_NO_UNITS",
    "ZERO_ON_REMIT", "codes_for", "codes_of", "drawn_encounters", "hbar_chart", "linked_run_files", "night_of",
    "price_notes", "rank_encounters", "reads_every_administration", "render_report", "render_report_parts",
    "render_run_dir", "severity_rank", "timeline_chart", "trend_chart", "trend_from_findings", "trend_from_nights",
    "wall_time",
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


#: The findings columns :func:`trend_from_findings` reads (a reader may read only these).
TREND_COLUMNS: tuple[str, ...] = ("audit_date", "encounter_id", "direction", "dollar_impact")


def trend_from_findings(findings: pd.DataFrame, days: Iterable[object] | None = None) -> pd.DataFrame:
    """The trend table from findings of several audit dates (e.g. the lake's).

    Args:
        findings: findings with an ``audit_date`` column (as
            ``lake.read_days(root, "findings", first, last)`` returns); only
            :data:`TREND_COLUMNS` are read.
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


def trend_from_nights(nights: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """:func:`trend_from_findings` of several nights' findings, from each night's row
    (``trend_from_findings(findings of some nights, days=those nights)``, in date order):
    the same table as from all their findings at once, without holding them all."""
    trend = pd.concat(nights, ignore_index=True)
    if "dollar_impact" in trend:  # a night without findings has no dollar column of its own
        trend["dollar_impact"] = trend["dollar_impact"].fillna(0.0)
    return trend


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
