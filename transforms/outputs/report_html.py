"""One self-contained HTML report per audit run.

:func:`render_report` turns a run's frames (findings, expected lines,
administrations), its summary and an optional day-by-day trend into a single
HTML page: inline CSS and inline SVG charts, no script, no external font,
image or stylesheet, so the file opens offline and prints readably.

Sections: totals (rows in/kept/quarantined, encounters, findings, dollars
when the findings carry ``dollar_impact``), findings by key and by
direction, dollar impact, the trend across audit dates, and for the top
encounters a timeline of every administration beside the expected and
billed codes.

Every text taken from the data is HTML-escaped. No patient identifier is
read: only encounter and claim ids appear.

SVG elements carry stable class names for tests and styling:
``chart-bar`` (bars of the by-key, by-direction and dollar charts),
``trend-point`` (one per audit date), ``trend-bar`` (over/under bars per
date), ``timeline`` (one chart per encounter), ``timeline-bar`` (one group
per administration; pushes and injections hold a ``timeline-marker``
instead of a ``timeline-span`` rectangle) and ``timeline-tick`` (hour
ticks).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.vocab.findings import DOCUMENTATION, FINDING_KEYS, OVER, UNDER
from transforms.frames import join_unique

# Timeline colours by drug class (colour-blind-safe hues, print-friendly).
CLASS_COLOURS: dict[str, str] = {
    "chemo": "#c0392b",
    "therapeutic": "#2f6db5",
    "hydration": "#2a9d8f",
    "diluent": "#9aa5b1",
    "blood": "#8e44ad",
    "unknown": "#e69f00",
}
CLASS_LABELS: dict[str, str] = {
    "chemo": "chemotherapy / complex drug",
    "therapeutic": "therapeutic / prophylactic / diagnostic",
    "hydration": "hydration",
    "diluent": "diluent / none",
    "blood": "blood product",
    "unknown": "unknown (not in the drug reference)",
}
LEGEND_ALWAYS: tuple[str, ...] = ("chemo", "therapeutic", "hydration", "diluent", "unknown")
DIRECTION_COLOURS: dict[str, str] = {OVER: "#d35400", UNDER: "#2874a6", DOCUMENTATION: "#7f8c8d"}
DIRECTION_ORDER: tuple[str, ...] = (OVER, UNDER, DOCUMENTATION)
MARKER_KINDS: frozenset[str] = frozenset({"push", "injection", "intra_arterial"})
SEVERITY_WORDS: dict[str, int] = {
    "critical": 4, "high": 3, "medium": 2, "moderate": 2, "low": 1, "info": 0, "none": 0,
}

_CHAR_W = 6.6  # average glyph width (px) of the 11-12 px sans-serif used in the charts

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


# --- small helpers ---------------------------------------------------------

def _esc(value: object) -> str:
    """HTML-escape one value; missing values become an empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    return html.escape(str(value), quote=True)


def _esc_series(s: pd.Series) -> pd.Series:
    """HTML-escape a column (vectorised); missing values become ``""``."""
    t = s.astype(object).where(s.notna(), "").astype(str)
    return (
        t.str.replace("&", "&amp;", regex=False)
        .str.replace("<", "&lt;", regex=False)
        .str.replace(">", "&gt;", regex=False)
        .str.replace('"', "&quot;", regex=False)
        .str.replace("'", "&#x27;", regex=False)
    )


def _num(s: pd.Series) -> pd.Series:
    """A column as floats; text, blanks and missing values become 0."""
    return pd.to_numeric(s, errors="coerce").fillna(0.0).astype(float)


def _int(value: object) -> str:
    """``1234`` -> ``1,234``."""
    return f"{int(round(float(value))):,}"


def _money(value: float) -> str:
    """``-1234.5`` -> ``-$1,234.50``."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def _money_series(s: pd.Series) -> pd.Series:
    """Vectorised :func:`_money`."""
    v = s.astype(float)
    sign = pd.Series(np.where(v < 0, "-$", "$"), index=v.index, dtype=object)
    return sign + v.abs().map("{:,.2f}".format)


def _has_dollars(findings: pd.DataFrame) -> bool:
    """Whether the findings carry a ``dollar_impact`` column."""
    return "dollar_impact" in findings.columns


def _has_severity(findings: pd.DataFrame) -> bool:
    """Whether the findings carry a ``severity`` column."""
    return "severity" in findings.columns


def severity_rank(severity: pd.Series) -> pd.Series:
    """Sortable rank of a ``severity`` column (higher is worse).

    Numeric severities are used as they are; words map through
    :data:`SEVERITY_WORDS` (``critical`` > ``high`` > ``medium`` > ``low``);
    anything else ranks 0.

    Args:
        severity: the findings' ``severity`` column (numbers or words).

    Returns:
        Float ranks aligned with ``severity``.
    """
    numeric = pd.to_numeric(severity, errors="coerce")
    words = severity.astype(object).where(severity.notna(), "").astype(str).str.strip().str.lower()
    return numeric.fillna(words.map(SEVERITY_WORDS)).fillna(0.0).astype(float)


def _html_table(frame: pd.DataFrame, headers: Sequence[str], numeric: Iterable[str] = (),
                raw: Iterable[str] = (), css_class: str = "") -> str:
    """An HTML table of ``frame`` (cells escaped unless the column is in ``raw``).

    Args:
        frame: rows to show, in order; one column per header.
        headers: header texts, one per column of ``frame``.
        numeric: columns right-aligned.
        raw: columns already holding safe HTML.
        css_class: class of the ``<table>``.

    Returns:
        The ``<table>`` markup.
    """
    numeric, raw = set(numeric), set(raw)
    head = "".join(
        f'<th class="num">{_esc(h)}</th>' if c in numeric else f"<th>{_esc(h)}</th>"
        for c, h in zip(frame.columns, headers)
    )
    rows = pd.Series("<tr>", index=frame.index, dtype=object)
    for c in frame.columns:
        cell = frame[c].astype(str) if c in raw else _esc_series(frame[c])
        open_td = '<td class="num">' if c in numeric else f'<td class="col-{_esc(c)}">'
        rows = rows + open_td + cell + "</td>"
    cls = f' class="{_esc(css_class)}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows + '</tr>')}</tbody></table>"


def _nice_max(value: float) -> tuple[float, float]:
    """A round axis maximum >= ``value`` and its tick step (about 4-5 ticks)."""
    if value <= 0:
        return 1.0, 1.0
    raw = value / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if mag >= 1:
        step = max(1.0, round(step))
    return step * math.ceil(value / step), step


def _swatch(colour: str) -> str:
    """A small colour square for a legend."""
    return f'<svg width="14" height="14" class="legend-swatch"><rect width="14" height="14" rx="2" fill="{colour}"/></svg>'


# --- charts ----------------------------------------------------------------

def hbar_chart(labels: Sequence[str], values: Sequence[float], colours: Sequence[str], *,
               value_labels: Sequence[str] | None = None, title: str = "", bar_width: int = 380) -> str:
    """A horizontal bar chart as inline SVG; each bar has class ``chart-bar``.

    Args:
        labels: category labels (plain text; escaped here).
        values: bar lengths (absolute values are drawn).
        colours: one fill colour per bar.
        value_labels: texts shown after the bars (defaults to the values).
        title: accessible name of the chart.
        bar_width: pixels of the longest bar.

    Returns:
        The ``<svg>`` markup (an empty string when there are no bars).
    """
    n = len(labels)
    if n == 0:
        return ""
    vals = np.abs(np.asarray(values, dtype=float))
    texts = list(value_labels) if value_labels is not None else [f"{v:,.0f}" for v in vals]
    label_w = int(min(360, max(60, max(len(str(s)) for s in labels) * _CHAR_W + 12)))
    value_w = int(max(len(t) for t in texts) * _CHAR_W + 14)
    row_h, pad = 22, 6
    width = label_w + bar_width + value_w
    height = n * row_h + 2 * pad
    top = vals.max() if vals.max() > 0 else 1.0
    lengths = np.maximum(vals / top * bar_width, np.where(vals > 0, 2.0, 0.0))
    ys = pad + np.arange(n) * row_h
    parts = [
        f'<svg class="hbar-chart" role="img" aria-label="{_esc(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<line class="axis" x1="{label_w}" y1="{pad - 2}" x2="{label_w}" y2="{height - pad + 2}"/>',
    ]
    for y, length, label, text, colour, v in zip(ys, lengths, labels, texts, colours, vals):
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_esc(label)}</text>'
            f'<rect class="chart-bar" x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}" '
            f'fill="{_esc(colour)}"><title>{_esc(label)}: {_esc(text)}</title></rect>'
            f'<text x="{label_w + length + 5:.1f}" y="{y + 15}">{_esc(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def trend_chart(trend: pd.DataFrame) -> str:
    """Findings per audit date as inline SVG.

    Over- and under-billed counts are paired bars (class ``trend-bar``);
    the total is a line through one ``trend-point`` circle per date. A
    single date renders as one group of bars and one point.

    Args:
        trend: one row per ``audit_date`` with ``findings`` and optionally
            ``over_billed`` and ``under_billed``.

    Returns:
        The ``<svg>`` markup (empty when ``trend`` has no rows).
    """
    if trend.empty:
        return ""
    t = trend.reset_index(drop=True)
    days = _day_labels(t["audit_date"])
    total = _num(t["findings"]) if "findings" in t else pd.Series(0.0, index=t.index)
    over = _num(t["over_billed"]) if "over_billed" in t else pd.Series(0.0, index=t.index)
    under = _num(t["under_billed"]) if "under_billed" in t else pd.Series(0.0, index=t.index)
    n = len(t)
    left, right, top, bottom = 52, 20, 16, 46
    plot_w = max(300, min(1000, 70 * n))
    plot_h = 200
    width, height = left + plot_w + right, top + plot_h + bottom
    ymax, ystep = _nice_max(float(max(total.max(), over.max(), under.max())))
    slot = plot_w / n
    cx = left + slot * (np.arange(n) + 0.5)

    def y_of(v: np.ndarray | float) -> np.ndarray:
        """Pixel row of a count."""
        return top + plot_h - np.asarray(v, dtype=float) / ymax * plot_h

    parts = [f'<svg class="trend-chart" role="img" aria-label="Findings per audit date" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">']
    for tick in np.arange(0, ymax + ystep / 2, ystep):
        y = float(y_of(tick))
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>'
                     f'<text class="small" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:,.0f}</text>')
    parts.append(f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>')
    bw = float(min(22.0, slot / 3.2))
    every = max(1, math.ceil(n / max(1, plot_w // 80)))
    for i in range(n):
        for j, (series, direction) in enumerate(((over, OVER), (under, UNDER))):
            v = float(series.iloc[i])
            x = cx[i] - bw + j * bw
            y = float(y_of(v))
            parts.append(f'<rect class="trend-bar" x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" '
                         f'height="{top + plot_h - y:.1f}" fill="{DIRECTION_COLOURS[direction]}" opacity="0.55">'
                         f'<title>{_esc(days[i])}: {direction} {v:,.0f}</title></rect>')
        if i % every == 0 or i == n - 1:
            parts.append(f'<text class="small" x="{cx[i]:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                         f'{_esc(days[i])}</text>')
    ys = y_of(total.to_numpy())
    if n > 1:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(cx, ys))
        parts.append(f'<polyline class="trend-line" points="{pts}" fill="none" stroke="#1f2933" stroke-width="2"/>')
    for i in range(n):
        parts.append(f'<circle class="trend-point" cx="{cx[i]:.1f}" cy="{ys[i]:.1f}" r="4.5" fill="#1f2933">'
                     f'<title>{_esc(days[i])}: {total.iloc[i]:,.0f} findings</title></circle>')
    lx = left + 4
    parts.append(
        f'<g class="trend-legend" transform="translate({lx},{top + plot_h + 30})">'
        f'<circle cx="5" cy="-4" r="4.5" fill="#1f2933"/><text x="14" y="0">all findings</text>'
        f'<rect x="104" y="-10" width="12" height="12" fill="{DIRECTION_COLOURS[OVER]}" opacity="0.55"/>'
        f'<text x="120" y="0">over-billed</text>'
        f'<rect x="210" y="-10" width="12" height="12" fill="{DIRECTION_COLOURS[UNDER]}" opacity="0.55"/>'
        f'<text x="226" y="0">under-billed</text></g>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _day_labels(s: pd.Series) -> list[str]:
    """``audit_date`` values (dates, timestamps or text) as ``YYYY-MM-DD`` (unreadable ones as given)."""
    d = pd.to_datetime(s.astype(str), errors="coerce")
    return list(np.where(d.notna(), d.dt.strftime("%Y-%m-%d"), s.astype(str)))


def wall_time(s: pd.Series) -> pd.Series:
    """Local clock time of ISO strings with an offset, or of timestamps.

    ``2026-11-02T05:15:00-0500`` is 05:15 on the clock of the facility that
    wrote it; tz-aware timestamps are read on their own zone's clock.

    Args:
        s: ISO-8601 strings (any offset, or none) or timestamps.

    Returns:
        Naive timestamps of the local clock (``NaT`` where unreadable).
    """
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
    parts = s.astype(object).where(s.notna(), "").astype(str).str.extract(
        r"^\s*(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)")
    text = parts[0] + "T" + parts[1]
    return pd.to_datetime(text, format="ISO8601", errors="coerce")


def _class_of(admins: pd.DataFrame) -> pd.Series:
    """Colour class per administration: the drug class, diluent for none."""
    cls = admins["drug_class"].astype(object).where(admins["drug_class"].notna(), "unknown").astype(str)
    cls = cls.str.strip().str.lower()
    cls = cls.mask(cls.isin(["none", "", "diluent"]) | admins["kind"].astype(str).eq("none"), "diluent")
    return cls.where(cls.isin(list(CLASS_COLOURS)), "unknown")


def timeline_chart(admins: pd.DataFrame, *, label: str = "") -> str:
    """One encounter's administrations as an inline SVG timeline.

    One row per administration, in start order: infusions, hydration and
    pumps are bars from start to stop; pushes and injections are diamond
    markers. The x axis is the local clock with hour ticks; colours follow
    :data:`CLASS_COLOURS`; each row is labelled with the drug and its
    minutes, and the left gutter shows the coding role.

    Args:
        admins: administrations of one encounter (``drug_label``,
            ``drug_class``, ``kind``, ``role``, ``start``, ``end``,
            ``minutes``; ``route``, ``site``, ``infusates`` in tooltips).
        label: accessible name of the chart.

    Returns:
        The ``<svg class="timeline">`` markup.
    """
    a = admins.copy()
    a["_start"] = wall_time(a["start"])
    a["_end"] = wall_time(a["end"]) if "end" in a else pd.NaT
    a["_min"] = _num(a["minutes"]) if "minutes" in a else 0.0
    a = a.sort_values(["_start", "_end"], kind="mergesort", na_position="last").reset_index(drop=True)
    kind = a["kind"].astype(str).str.lower()
    no_stop = a["_end"].isna() & ~kind.isin(MARKER_KINDS)
    fallback = a["_start"] + pd.to_timedelta(a["_min"], unit="min")
    a["_end"] = a["_end"].where(a["_end"].notna() & (a["_end"] >= a["_start"]), fallback)
    marker = kind.isin(MARKER_KINDS) | (a["_end"] <= a["_start"])
    known = a["_start"].notna()

    if known.any():
        t0 = a.loc[known, "_start"].min().floor("h")
        t1 = pd.concat([a.loc[known, "_end"], a.loc[known, "_start"]]).max().ceil("h")
    else:
        t0 = pd.Timestamp("2000-01-01")
        t1 = t0
    if t1 - t0 < pd.Timedelta(hours=2):
        t1 = t0 + pd.Timedelta(hours=2)
    span_h = (t1 - t0) / pd.Timedelta(hours=1)
    step_h = next(s for s in (1, 2, 3, 4, 6, 12, 24, 48) if span_h / s <= 12)

    gutter, plot_w, right, top, row_h = 112, 560, 16, 34, 24
    n = len(a)
    width = gutter + plot_w + right
    height = top + max(n, 1) * row_h + 10
    scale = plot_w / ((t1 - t0) / pd.Timedelta(minutes=1))
    xs = gutter + ((a["_start"] - t0) / pd.Timedelta(minutes=1)).fillna(0).to_numpy() * scale
    xe = gutter + ((a["_end"] - t0) / pd.Timedelta(minutes=1)).fillna(0).to_numpy() * scale
    xe = np.where(marker.to_numpy(), xs, np.maximum(xe, xs + 2))
    ys = top + np.arange(n) * row_h
    cls = _class_of(a)
    fill = cls.map(CLASS_COLOURS)

    minutes = a["_min"].map("{:g}".format)
    text = a["drug_label"].astype(object).where(a["drug_label"].notna(), "?").astype(str)
    text = text + np.where(marker, " \u00b7 " + kind, " \u00b7 " + minutes + " min")
    text = text + np.where(no_stop, " (no stop time)", "")
    tw = text.str.len().to_numpy() * _CHAR_W
    right_edge = gutter + plot_w
    place_right = xe + 8 + tw <= right_edge + right
    place_left = ~place_right & (xs - 8 - tw >= gutter)
    lx = np.where(place_right, xe + 8, np.where(place_left, xs - 8, xs + 6))
    anchor = np.where(place_left, "end", "start")
    inside = ~place_right & ~place_left & ~marker.to_numpy()
    dark_fill = cls.isin(["diluent", "unknown"]).to_numpy()
    label_cls = np.where(inside & ~dark_fill, "lbl in", np.where(inside, "lbl in dark", "lbl"))

    start_txt = a["_start"].dt.strftime("%H:%M").fillna("?")
    end_txt = a["_end"].dt.strftime("%H:%M").fillna("?")
    tip = (text + " | " + a.get("role", pd.Series("", index=a.index)).astype(str) + " | "
           + a.get("route", pd.Series("", index=a.index)).astype(str) + " "
           + a.get("site", pd.Series("", index=a.index)).astype(str) + " | "
           + start_txt + np.where(marker, "", "\u2013" + end_txt) + " | "
           + a.get("infusates", pd.Series("", index=a.index)).astype(str))
    role = a.get("role", pd.Series("", index=a.index)).astype(object).fillna("").astype(str)

    parts = [f'<svg class="timeline" role="img" aria-label="{_esc(label)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    tick = t0
    prev_day = None
    while tick <= t1:
        x = gutter + (tick - t0) / pd.Timedelta(minutes=1) * scale
        day = tick.strftime("%b %d")
        hour = tick.strftime("%H:%M")
        parts.append(f'<line class="timeline-tick" x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 8}" '
                     f'stroke="#e4e7eb" stroke-width="1"/>'
                     f'<text class="small" x="{x:.1f}" y="{top - 10}" text-anchor="middle">{hour}</text>')
        if day != prev_day:
            parts.append(f'<text class="small" x="{x:.1f}" y="{top - 22}" text-anchor="middle">{day}</text>')
            prev_day = day
        tick += pd.Timedelta(hours=step_h)
    parts.append(f'<line class="axis" x1="{gutter}" y1="{top - 4}" x2="{right_edge}" y2="{top - 4}"/>')
    rows = zip(ys, xs, xe, marker.to_numpy(), fill, _esc_series(tip), _esc_series(text), lx, anchor,
               _esc_series(role), _esc_series(cls), _esc_series(kind), label_cls)
    for y, x0, x1, is_marker, colour, tip_s, text_s, tx, anc, role_s, cls_s, kind_s, lcls in rows:
        mid = y + row_h / 2
        if is_marker:
            r = 6.5
            shape = (f'<polygon class="timeline-marker" points="{x0:.1f},{mid - r:.1f} {x0 + r:.1f},{mid:.1f} '
                     f'{x0:.1f},{mid + r:.1f} {x0 - r:.1f},{mid:.1f}" fill="{colour}" stroke="#1f2933" '
                     f'stroke-width="0.8"/>')
        else:
            shape = (f'<rect class="timeline-span" x="{x0:.1f}" y="{y + 4}" width="{x1 - x0:.1f}" '
                     f'height="{row_h - 8}" rx="3" fill="{colour}"/>')
        parts.append(
            f'<g class="timeline-bar" data-class="{cls_s}" data-kind="{kind_s}"><title>{tip_s}</title>'
            f'<text class="small" x="{gutter - 8}" y="{mid + 4:.1f}" text-anchor="end">{role_s}</text>'
            f'{shape}<text class="{lcls}" x="{tx:.1f}" y="{mid + 4:.1f}" text-anchor="{anc}">{text_s}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _legend(classes: Iterable[str]) -> str:
    """Legend of the timeline colours (the five main classes plus any other shown) and shapes."""
    shown = list(LEGEND_ALWAYS) + [c for c in CLASS_COLOURS if c not in LEGEND_ALWAYS and c in set(classes)]
    items = "".join(f"<span>{_swatch(CLASS_COLOURS[c])}{_esc(CLASS_LABELS[c])}</span>" for c in shown)
    marker = ('<span><svg width="14" height="14" class="legend-swatch"><polygon points="7,1 13,7 7,13 1,7" '
              'fill="#fff" stroke="#1f2933"/></svg>push / injection</span>'
              '<span><svg width="22" height="14" class="legend-swatch"><rect y="3" width="22" height="8" rx="2" '
              'fill="#fff" stroke="#1f2933"/></svg>infusion / hydration (start to stop)</span>')
    return f'<div class="legend">{items}{marker}</div>'


# --- ranking ---------------------------------------------------------------

def rank_encounters(findings: pd.DataFrame) -> pd.DataFrame:
    """Encounters with findings, most important first.

    Order: highest severity, then largest absolute dollar impact (each only
    when the column is present), then encounters with over-billing, then
    most over-billed findings, then most findings; ties by encounter id.

    Args:
        findings: audit findings (``encounter_id``, ``direction``; optional
            ``severity`` and ``dollar_impact``).

    Returns:
        One row per encounter: ``encounter_id``, ``claim_id``, ``findings``,
        ``over_billed``, ``under_billed``, ``documentation``, ``keys``,
        ``severity_rank``, ``dollars`` (sum of ``dollar_impact``, 0 when
        absent) and ``abs_dollars``.
    """
    if findings.empty:
        return pd.DataFrame(columns=["encounter_id", "claim_id", "findings", "over_billed", "under_billed",
                                     "documentation", "keys", "severity_rank", "dollars", "abs_dollars"])
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
        "usd": _num(f["dollar_impact"]) if _has_dollars(f) else 0.0,
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
    return g.drop(columns="_has_over").reset_index(drop=True)[
        ["encounter_id", "claim_id", "findings", "over_billed", "under_billed", "documentation", "keys",
         "severity_rank", "dollars", "abs_dollars"]]


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
    exp = pd.DataFrame({"hcpcs": e["hcpcs"].astype(str), "units": _num(e["units"])}).groupby("hcpcs")["units"].sum()
    f = findings[findings["encounter_id"].astype(str) == encounter_id]
    fx = pd.DataFrame({
        "hcpcs": f["hcpcs"].astype(object).where(f["hcpcs"].notna(), "").astype(str),
        "expected_units": _num(f["expected_units"]),
        "billed_units": _num(f["billed_units"]),
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

def _card(value: str, key: str, extra: str = "") -> str:
    """One headline number (``value`` is already safe HTML; ``key`` is escaped)."""
    return f'<div class="card {extra}"><div class="v">{value}</div><div class="k">{_esc(key)}</div></div>'


def _totals(summary: dict, findings: pd.DataFrame, administrations: pd.DataFrame) -> str:
    """Headline numbers, rows in/kept/quarantined and, when scored, the ground-truth figures."""
    direction = findings["direction"].astype(str) if not findings.empty else pd.Series(dtype=str)
    encounters = summary.get("encounters_audited", administrations["encounter_id"].nunique()
                             if "encounter_id" in administrations else 0)
    flagged = findings["encounter_id"].nunique() if not findings.empty else 0
    cards = [
        _card(_int(encounters), "encounters audited"),
        _card(_int(flagged), "encounters with findings"),
        _card(_int(len(findings)), "findings"),
        _card(_int(direction.eq(OVER).sum()), "over-billed findings", "over"),
        _card(_int(direction.eq(UNDER).sum()), "under-billed findings", "under"),
        _card(_int(direction.eq(DOCUMENTATION).sum()), "documentation findings"),
    ]
    if "expected_lines" in summary:
        cards.insert(1, _card(_int(summary["expected_lines"]), "expected code lines"))
    if _has_dollars(findings):
        usd = _num(findings["dollar_impact"])
        cards += [
            _card(_esc(_money(float(usd[direction.eq(OVER)].sum()))), "dollar impact, over-billed", "over"),
            _card(_esc(_money(float(usd[direction.eq(UNDER)].sum()))), "dollar impact, under-billed", "under"),
        ]
    out = [f'<section id="totals"><h2>Totals</h2><div class="cards">{"".join(cards)}</div>']
    rows = summary.get("rows")
    if isinstance(rows, dict) and rows:
        frame = pd.DataFrame.from_dict(rows, orient="index").reindex(
            columns=["rows_in", "rows_kept", "rows_quarantined"]).fillna(0)
        frame = frame.astype("int64").map("{:,}".format).rename_axis("extract").reset_index()
        out.append('<div class="row"><div><h3>Rows</h3>' + _html_table(
            frame, ["extract", "rows in", "kept", "quarantined"], numeric=["rows_in", "rows_kept", "rows_quarantined"]) + "</div>")
    score = summary.get("score")
    if isinstance(score, dict) and "injected" in score:
        s = pd.DataFrame({
            "measure": ["injected errors found", "recall", "correctly billed encounters with a finding",
                        "encounter precision"],
            "value": [f"{score.get('detected', 0)} of {score.get('injected', 0)}",
                      f"{float(score.get('recall', 0)):.1%}",
                      f"{score.get('clean_encounters_flagged', 0)} of {score.get('clean_encounters', 0)}",
                      f"{float(score.get('encounter_precision', 0)):.1%}"],
        })
        out.append("<div><h3>Against the ground truth</h3>" + _html_table(s, ["measure", "value"], numeric=["value"])
                   + "</div>")
    if isinstance(rows, dict) and rows:
        out.append("</div>")
    out.append("</section>")
    return "".join(out)


def _by_key(findings: pd.DataFrame) -> str:
    """Findings per key: bar chart coloured by direction, and a table with the key's meaning."""
    f = findings
    work = pd.DataFrame({"finding": f["finding"].astype(str), "direction": f["direction"].astype(str),
                         "encounter_id": f["encounter_id"].astype(str)})
    if _has_dollars(f):
        work["usd"] = _num(f["dollar_impact"])
    g = work.groupby("finding").agg(count=("finding", "size"), encounters=("encounter_id", "nunique"),
                                    direction=("direction", "first"),
                                    **({"usd": ("usd", "sum")} if "usd" in work else {}))
    g = g.reset_index().sort_values(["count", "finding"], ascending=[False, True], kind="mergesort")
    g["meaning"] = g["finding"].map({k: v[1] for k, v in FINDING_KEYS.items()}).fillna("")
    chart = hbar_chart(list(g["finding"]), list(g["count"]),
                       list(g["direction"].map(DIRECTION_COLOURS).fillna("#7f8c8d")), title="Findings by key")
    cols = ["finding", "direction", "count", "encounters"] + (["usd"] if "usd" in g else []) + ["meaning"]
    table = g[cols].copy()
    table["direction"] = ('<span class="dir-' + _esc_series(table["direction"]) + '">'
                          + _esc_series(table["direction"]) + "</span>")
    if "usd" in table:
        table["usd"] = _money_series(table["usd"])
    headers = ["finding", "direction", "findings", "encounters"] + (["dollar impact"] if "usd" in g else []) + [
        "meaning"]
    return ('<section id="by-key"><h2>Findings by key</h2><div class="row"><div>' + chart + "</div><div>"
            + _html_table(table, headers, numeric=["count", "encounters", "usd"], raw=["direction"])
            + "</div></div></section>")


def _by_direction(findings: pd.DataFrame) -> str:
    """Findings per direction: bar chart and table."""
    f = findings
    work = pd.DataFrame({"direction": f["direction"].astype(str), "encounter_id": f["encounter_id"].astype(str)})
    if _has_dollars(f):
        work["usd"] = _num(f["dollar_impact"])
    g = work.groupby("direction").agg(count=("direction", "size"), encounters=("encounter_id", "nunique"),
                                      **({"usd": ("usd", "sum")} if "usd" in work else {}))
    order = [d for d in DIRECTION_ORDER if d in g.index] + sorted(d for d in g.index if d not in DIRECTION_ORDER)
    g = g.reindex(order).reset_index()
    chart = hbar_chart(list(g["direction"]), list(g["count"]),
                       list(g["direction"].map(DIRECTION_COLOURS).fillna("#7f8c8d")), title="Findings by direction")
    table = g.copy()
    if "usd" in table:
        table["usd"] = _money_series(table["usd"])
    headers = ["direction", "findings", "encounters"] + (["dollar impact"] if "usd" in g else [])
    return ('<section id="by-direction"><h2>Findings by direction</h2><div class="row"><div>' + chart
            + "</div><div>" + _html_table(table, headers, numeric=["count", "encounters", "usd"])
            + "</div></div></section>")


def _dollars(findings: pd.DataFrame) -> str:
    """Dollar impact by direction and by key, or a note when the findings have none."""
    head = '<section id="dollars"><h2>Dollar impact</h2>'
    if not _has_dollars(findings):
        return head + ('<p class="note">Dollar impact is not available for this run (the findings carry no '
                       "<code>dollar_impact</code> column).</p></section>")
    work = pd.DataFrame({"finding": findings["finding"].astype(str), "direction": findings["direction"].astype(str),
                         "usd": _num(findings["dollar_impact"])})
    by_dir = work.groupby("direction")["usd"].sum()
    by_key = (work.groupby(["finding", "direction"])["usd"].sum().reset_index()
              .assign(_abs=lambda d: d["usd"].abs())
              .sort_values(["_abs", "finding"], ascending=[False, True], kind="mergesort"))
    by_key = by_key[by_key["_abs"] > 0]
    cards = "".join(_card(_esc(_money(float(by_dir.get(d, 0.0)))), f"{d}", "over" if d == OVER else
                          "under" if d == UNDER else "") for d in (OVER, UNDER))
    chart = hbar_chart(list(by_key["finding"]), list(by_key["usd"]),
                       list(by_key["direction"].map(DIRECTION_COLOURS).fillna("#7f8c8d")),
                       value_labels=list(_money_series(by_key["usd"])), title="Dollar impact by finding key")
    body = chart if chart else '<p class="note">No finding has a dollar amount.</p>'
    return (head + '<p class="note">Sum of <code>dollar_impact</code> by direction and by finding key.</p>'
            f'<div class="cards">{cards}</div>{body}</section>')


def _trend(trend: pd.DataFrame | None) -> str:
    """The trend chart and table, or a note when there is no trend."""
    head = '<section id="trend"><h2>Trend across audit dates</h2>'
    if trend is None or trend.empty:
        return head + '<p class="note">No trend: only this run is available.</p></section>'
    t = trend.copy()
    t["_day"] = _day_labels(t["audit_date"])
    t = t.sort_values("_day", kind="mergesort").reset_index(drop=True)
    cols = [c for c in ("findings", "encounters_with_findings", "over_billed", "under_billed", "dollar_impact")
            if c in t]
    table = pd.DataFrame({"audit_date": t["_day"]})
    for c in cols:
        table[c] = _money_series(_num(t[c])) if c == "dollar_impact" else _num(t[c]).map(_int)
    headers = ["audit date"] + [c.replace("_", " ") for c in cols]
    return (head + '<div class="row"><div>' + trend_chart(t) + "</div><div>"
            + _html_table(table, headers, numeric=cols) + "</div></div></section>")


def _top(findings: pd.DataFrame, expected: pd.DataFrame, administrations: pd.DataFrame, top_n: int) -> str:
    """The top encounters: overview table, then per encounter its timeline, codes and explanations."""
    ranked = rank_encounters(findings).head(max(0, top_n))
    has_sev, has_usd = _has_severity(findings), _has_dollars(findings)
    basis = ("severity" if has_sev else "") + (" and " if has_sev and has_usd else "") + (
        "dollar impact" if has_usd else "")
    order_note = (f"ranked by {basis}, then over-billing first, then number of findings" if basis
                  else "over-billing first, then by number of findings")
    anchors = "enc-" + pd.Series(np.arange(len(ranked)), dtype="int64").astype(str)
    overview = pd.DataFrame({
        "rank": np.arange(1, len(ranked) + 1).astype(str),
        "encounter": '<a href="#' + anchors + '">' + _esc_series(ranked["encounter_id"]) + "</a>",
        "claim": ranked["claim_id"],
        "findings": ranked["findings"].astype(str),
        "over": ranked["over_billed"].astype(str),
        "under": ranked["under_billed"].astype(str),
        "keys": ranked["keys"],
    })
    headers = ["#", "encounter", "claim", "findings", "over-billed", "under-billed", "finding keys"]
    if has_sev:
        sev = (findings.assign(_r=severity_rank(findings["severity"]), _e=findings["encounter_id"].astype(str))
               .sort_values("_r", ascending=False, kind="mergesort").drop_duplicates("_e")
               .set_index("_e")["severity"])
        overview["severity"] = ranked["encounter_id"].map(sev).to_numpy()
        headers.append("severity")
    if has_usd:
        overview["dollars"] = _money_series(ranked["dollars"]).to_numpy()
        headers.append("dollar impact")
    parts = [f'<section id="top"><h2>Top {len(ranked)} encounters</h2><p class="note">{_esc(order_note)}.</p>',
             _html_table(overview, headers, numeric=["rank", "findings", "over", "under", "dollars"],
                         raw=["encounter"]),
             "<h2>Timelines of the top encounters</h2>",
             '<p class="note">Local clock time. One row per administration; the left column is its coding '
             "role. Beside each chart: expected vs billed units per code (codes without a finding were billed "
             "as expected).</p>"]
    admins = administrations
    admins_id = admins["encounter_id"].astype(str) if "encounter_id" in admins else pd.Series(dtype=str)
    in_top = admins_id.isin(set(ranked["encounter_id"]))
    top_admins = admins[in_top].assign(_e=admins_id[in_top])
    parts.append(_legend(_class_of(top_admins).unique() if not top_admins.empty else []))
    top_set = set(ranked["encounter_id"])
    enc_find = findings.assign(_e=findings["encounter_id"].astype(str))
    enc_find = enc_find[enc_find["_e"].isin(top_set)]
    exp_top = expected[expected["encounter_id"].astype(str).isin(top_set)]
    for i, row in enumerate(ranked.itertuples(index=False)):
        eid = str(row.encounter_id)
        ad = top_admins[top_admins["_e"] == eid]
        chart = (timeline_chart(ad, label=f"Timeline of encounter {eid}") if not ad.empty
                 else '<p class="empty">No administration charted for this encounter.</p>')
        codes = codes_for(eid, exp_top, enc_find)
        codes["finding"] = ('<span class="dir-' + _esc_series(codes["direction"]) + '">'
                            + _esc_series(codes["finding"]) + "</span>")
        codes["expected_units"] = codes["expected_units"].astype(str)
        codes["billed_units"] = codes["billed_units"].astype(str)
        codes_html = _html_table(codes[["hcpcs", "expected_units", "billed_units", "finding"]],
                                 ["hcpcs", "expected units", "billed units", "finding"],
                                 numeric=["expected_units", "billed_units"], raw=["finding"], css_class="codes")
        fe = enc_find[enc_find["_e"] == eid]
        items = ("<li><b>" + _esc_series(fe["finding"]) + "</b> (" + _esc_series(fe["hcpcs"]) + "): "
                 + _esc_series(fe["explanation"] if "explanation" in fe else pd.Series("", index=fe.index))
                 + "</li>")
        setting = fe["setting"].astype(str).iloc[0] if "setting" in fe and len(fe) else ""
        claim = f" \u00b7 claim {_esc(row.claim_id)}" if row.claim_id else ""
        parts.append(
            f'<div class="encounter" id="{anchors.iloc[i]}"><h3>{i + 1}. Encounter {_esc(eid)}{claim}'
            f'{" · " + _esc(setting) if setting else ""}</h3>'
            f'<div class="row"><div>{chart}</div><div>{codes_html}</div></div><ul>{"".join(items)}</ul></div>'
        )
    parts.append("</section>")
    return "".join(parts)


# --- public API ------------------------------------------------------------

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
    meta = []
    if summary.get("policy"):
        meta.append(f"Policy <b>{_esc(summary['policy'])}</b>")
    if trend is not None and not trend.empty:
        days = _day_labels(trend["audit_date"])
        meta.append(f"audit dates {_esc(min(days))} to {_esc(max(days))}" if len(set(days)) > 1
                    else f"audit date {_esc(days[0])}")
    meta.append("no patient identifiers: encounters and claims are shown by id")
    body = [f"<h1>{_esc(title)}</h1>", f'<p class="meta">{" · ".join(meta)}</p>',
            _totals(summary, findings, administrations)]
    if findings.empty:
        body.append('<section id="findings"><h2>Findings</h2><p class="empty">No findings: every billed '
                    "drug-administration line matched what the MAR supports.</p></section>")
        body.append(_trend(trend))
    else:
        body += [_by_key(findings), _by_direction(findings), _dollars(findings), _trend(trend),
                 _top(findings, expected, administrations, top_n)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body>\n"
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
            "audit_date": _day_labels(f["audit_date"]),
            "encounter_id": f["encounter_id"].astype(str),
            "over": f["direction"].astype(str).eq(OVER).astype("int64"),
            "under": f["direction"].astype(str).eq(UNDER).astype("int64"),
        })
        agg = {"findings": ("encounter_id", "size"), "encounters_with_findings": ("encounter_id", "nunique"),
               "over_billed": ("over", "sum"), "under_billed": ("under", "sum")}
        if _has_dollars(f):
            work["usd"] = _num(f["dollar_impact"]).to_numpy()
            agg["dollar_impact"] = ("usd", "sum")
        g = work.groupby("audit_date").agg(**agg)
    if days is not None:
        labels = _day_labels(pd.Series(list(days), dtype=object))
        g = g.reindex(sorted(set(labels) | set(g.index))).fillna(0)
    g[cols] = g[cols].astype("int64")
    return g.rename_axis("audit_date").reset_index()


def render_run_dir(out_dir: Path, *, trend: pd.DataFrame | None = None, title: str = "Infusion claim audit",
                   top_n: int = 10) -> str:
    """:func:`render_report` of a run folder written by ``write_outputs``.

    Reads ``findings.csv``, ``expected_codes.csv``, ``administrations.csv``
    and ``summary.json`` (every column as text; numbers are parsed where
    they are drawn).

    Args:
        out_dir: the run folder.
        trend: see :func:`render_report`.
        title: page title and heading.
        top_n: number of encounters drawn as timelines.

    Returns:
        The HTML document.
    """
    out_dir = Path(out_dir)

    def read(name: str) -> pd.DataFrame:
        """One CSV of the run, every column as text."""
        return pd.read_csv(out_dir / name, dtype=str, keep_default_na=False)

    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    return render_report(findings=read("findings.csv"), expected=read("expected_codes.csv"),
                         administrations=read("administrations.csv"), summary=summary, trend=trend,
                         title=title, top_n=top_n)
