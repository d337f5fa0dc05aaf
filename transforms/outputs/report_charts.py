"""Inline SVG charts of the HTML report: bars, the trend, encounter timelines.

Each chart is one ``<svg>`` string with no script and no external resource;
every text from the data is escaped. Elements carry stable class names for
tests and styling: ``chart-bar`` (bars of :func:`hbar_chart`),
``trend-point`` (one per audit date) and ``trend-bar`` (over/under bars per
date) of :func:`trend_chart`, and ``timeline`` (one chart per encounter),
``timeline-bar`` (one group per administration; pushes and injections hold a
``timeline-marker`` instead of a ``timeline-span`` rectangle) and
``timeline-tick`` (hour ticks) of :func:`timeline_chart`.

Marks of many rows (trend dates, timeline administrations) are built as
whole columns of markup, not one Python string per row.

Text widths are estimated on the wide side (:func:`text_px`, per-character
widths of the widest common sans-serif): charts grow to hold their labels,
and a timeline label too long for its room is cut with an ellipsis
(:func:`fit_label`), inside a bar to that bar; its full text stays in the
row's tooltip.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from transforms.reference import tables_dir
from transforms.outputs.report_markup import day_labels, esc, esc_series, join_by_group, num, one_decimal
from transforms.vocab.classes import CHEMO, DILUENT, HYDRATION, THERAPEUTIC, UNKNOWN
from transforms.vocab.findings import DOCUMENTATION, OVER, UNDER

#: Not a class of the drug reference (its classes are ``vocab.classes.REFERENCE_CLASSES``):
#: kept so a run folder whose drug list had blood products still draws them apart.
BLOOD = "blood"
# Timeline colours by drug class (colour-blind-safe hues, print-friendly).
CLASS_COLOURS: dict[str, str] = {
    CHEMO: "#c0392b",
    THERAPEUTIC: "#2f6db5",
    HYDRATION: "#2a9d8f",
    DILUENT: "#9aa5b1",
    BLOOD: "#8e44ad",
    UNKNOWN: "#e69f00",
}
CLASS_LABELS: dict[str, str] = {
    CHEMO: "chemotherapy / complex drug",
    THERAPEUTIC: "therapeutic / prophylactic / diagnostic",
    HYDRATION: "hydration",
    DILUENT: "diluent / none",
    BLOOD: "blood product",
    UNKNOWN: "unknown (not in the drug reference)",
}
#: Classes always in the timeline legend (others only when drawn).
LEGEND_ALWAYS: tuple[str, ...] = (CHEMO, THERAPEUTIC, HYDRATION, DILUENT, UNKNOWN)
#: Classes with a light fill: a label inside their bar is drawn dark.
LIGHT_CLASSES: tuple[str, ...] = (DILUENT, UNKNOWN)
DIRECTION_COLOURS: dict[str, str] = {OVER: "#d35400", UNDER: "#2874a6", DOCUMENTATION: "#7f8c8d"}
#: Colour of a direction the vocabulary does not know.
OTHER_DIRECTION_COLOUR = "#7f8c8d"
DIRECTION_ORDER: tuple[str, ...] = (OVER, UNDER, DOCUMENTATION)
#: Administration kinds drawn as a diamond at their time, not a start-to-stop bar.
MARKER_KINDS: frozenset[str] = frozenset({"push", "injection", "intra_arterial"})

# Font sizes (px) of the chart texts, as the report's CSS sets them: ``svg text``, ``text.small``
# (hour ticks, roles) and ``text.lbl`` (timeline labels; bold 600 inside a bar).
TEXT_PX, SMALL_PX, LABEL_PX = 12.0, 10.5, 11.5
#: Advance widths (thousandths of an em) of the printable ASCII characters, space to ``~``, regular
#: and bold: per character the wider of DejaVu Sans (metrics of Verdana, the widest common
#: sans-serif; the ``system-ui`` of many Linux desktops) and Liberation Sans (Arial's metrics), as
#: Chromium draws them. Segoe UI, San Francisco, Roboto and Helvetica are narrower.
_ADVANCE_EM: dict[bool, tuple[int, ...]] = {
    False: (318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636,
            636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 556, 1015, 684, 686, 722, 770, 667, 611, 778,
            752, 295, 500, 667, 557, 863, 748, 787, 667, 787, 722, 667, 611, 732, 684, 989, 685, 667, 685, 390,
            337, 390, 838, 556, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612,
            635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838),
    True: (348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696,
           696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 611, 1000, 774, 762, 734, 830, 683, 683, 821,
           837, 372, 556, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457,
           365, 457, 838, 556, 500, 675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687,
           716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838),
}
#: The non-ASCII characters of the labels themselves (``·`` between drug and minutes, the ellipsis).
_OTHER_EM: dict[str, tuple[int, int]] = {"\u00b7": (318, 380), "\u2026": (1000, 1000)}
#: Any other character (accents, symbols, other scripts): a full em, as wide as a CJK glyph.
_WIDE_EM = 1000
#: Headroom for hinting and fonts the table does not know: estimates err wide, so a label is cut
#: a little early rather than run past its chart.
_WIDTH_SAFETY = 1.05
_INK = "#1f2933"
# Timeline layout (px): least role gutter, plot width, right margin (half a clock label fits), top margin,
# row height. The gutter widens to the longest role drawn in it.
_TL_GUTTER, _TL_PLOT_W, _TL_RIGHT, _TL_TOP, _TL_ROW_H = 112, 560, 24, 34, 24
_TL_MARKER_R = 6.5  # half-diagonal of a push / injection diamond
# Trend layout (px): margins and plot height; the width grows with the dates. The right margin holds
# half of the last date label (10 characters), which is centred on its bar.
_TR_LEFT, _TR_RIGHT, _TR_TOP, _TR_BOTTOM, _TR_PLOT_H = 52, 38, 16, 46, 200


# --- small pieces ----------------------------------------------------------

def nice_max(value: float) -> tuple[float, float]:
    """A round axis maximum >= ``value`` and its tick step (about 4-5 ticks)."""
    if value <= 0:
        return 1.0, 1.0
    raw = value / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if mag >= 1:
        step = max(1.0, round(step))
    return step * math.ceil(value / step), step


def _advances(text: str, bold: bool) -> list[int]:
    """Advance width of each character of ``text`` in thousandths of an em (see :data:`_ADVANCE_EM`)."""
    bold = bool(bold)  # also a numpy bool
    table = _ADVANCE_EM[bold]
    other = (_WIDE_EM, _WIDE_EM)
    return [table[ord(c) - 32] if " " <= c <= "~" else _OTHER_EM.get(c, other)[bold] for c in text]


@functools.lru_cache(maxsize=16384)
def text_px(text: str, size: float = TEXT_PX, bold: bool = False) -> float:
    """Conservative drawn width (px) of ``text`` at font size ``size`` px in any common sans-serif.

    Sums the per-character widths of :data:`_ADVANCE_EM` (no kerning, which only narrows a text)
    with :data:`_WIDTH_SAFETY` headroom. ``bold`` is the 600 weight of labels inside a bar.
    """
    return sum(_advances(text, bold)) * size * _WIDTH_SAFETY / 1000


def fit_text(text: str, room: float, size: float = LABEL_PX, bold: bool = False) -> str:
    """``text`` if :func:`text_px` says it fits in ``room`` px, else its longest head that fits with an
    ellipsis (trailing spaces and ``·`` dropped before it); ``""`` when not even the ellipsis fits.

    Works on the plain text: escape the result, never cut escaped markup.
    """
    if text_px(text, size, bold) <= room:
        return text
    scale = size * _WIDTH_SAFETY / 1000
    budget = room / scale - _advances("\u2026", bold)[0]  # thousandths of an em left for the head
    if budget < 0:
        return ""
    used, keep = 0, 0
    for keep, em in enumerate(_advances(text, bold)):  # stops at the first character that does not fit
        used += em
        if used > budget:
            break
    return text[:keep].rstrip(" \u00b7") + "\u2026"


#: Fewest characters of a drug name kept before the ellipsis when its tail (minutes, kind) is kept whole.
MIN_HEAD = 4


def fit_label(head: str, tail: str, room: float, size: float = LABEL_PX, bold: bool = False) -> str:
    """``head + tail`` cut to ``room`` px: whole when it fits, else ``head`` cut with an ellipsis before
    the whole ``tail`` (so a long drug name still shows its minutes), else when that would keep fewer
    than :data:`MIN_HEAD` characters of ``head``, the whole cut at its end (:func:`fit_text`)."""
    whole = head + tail
    if text_px(whole, size, bold) <= room:
        return whole
    cut = fit_text(head, room - text_px(tail, size, bold), size, bold)
    if len(cut) > MIN_HEAD:  # MIN_HEAD characters and the ellipsis
        return cut + tail
    return fit_text(whole, room, size, bold)


def text_width(texts: Iterable[object], size: float = TEXT_PX) -> float:
    """Estimated pixel width (:func:`text_px`) of the widest of ``texts`` (0 when none)."""
    return max((text_px(str(t), size) for t in texts), default=0.0)


def words(keys: pd.Series) -> pd.Series:
    """Machine keys as words: ``hydration_not_reportable`` -> ``hydration not reportable``."""
    return keys.astype(object).where(keys.notna(), "").astype(str).str.replace("_", " ", regex=False)


def swatch(colour: str) -> str:
    """A small colour square for a legend."""
    return f'<svg width="14" height="14" class="legend-swatch"><rect width="14" height="14" rx="2" fill="{colour}"/></svg>'


def direction_colours(directions: pd.Series) -> list[str]:
    """Fill colour per direction (:data:`OTHER_DIRECTION_COLOUR` for one the vocabulary lacks)."""
    return list(directions.map(DIRECTION_COLOURS).fillna(OTHER_DIRECTION_COLOUR))


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


def class_of(admins: pd.DataFrame) -> pd.Series:
    """Colour class per administration: the drug class, diluent for none.

    Always a key of :data:`CLASS_COLOURS`: a class without a colour of its
    own (e.g. ``not_reportable``) is drawn as unknown.
    """
    cls = admins["drug_class"].astype(object).where(admins["drug_class"].notna(), UNKNOWN).astype(str)
    cls = cls.str.strip().str.lower()
    cls = cls.mask(cls.isin(["none", "", DILUENT]) | admins["kind"].astype(str).eq("none"), DILUENT)
    return cls.where(cls.isin(list(CLASS_COLOURS)), UNKNOWN)


#: Column of the administrations with the drug text as charted on the MAR, when the run carries it.
CHARTED_DRUG_COLUMN = "drug_as_charted"


@functools.cache
def reference_drug_names() -> dict[str, str]:
    """Drug key -> its first name in the shipped drug reference.

    ``sodium_chloride_0_9`` -> ``sodium chloride 0.9 %``. Read once per process.
    """
    table = pd.read_csv(tables_dir() / "drugs.csv", dtype=str, keep_default_na=False, comment="#",
                        usecols=["drug_key", "names"])
    return dict(zip(table["drug_key"], table["names"].str.split("|").str[0]))


def drug_names(admins: pd.DataFrame) -> pd.Series:
    """The drug of each administration as people read it.

    The text as charted (:data:`CHARTED_DRUG_COLUMN`) where the frame has it;
    else each ``+``-joined component of ``drug_label`` by its name in the drug
    reference (a component the reference lacks, e.g. a user's drug or free
    text, is shown as it is). Computed once per distinct label.
    """
    label = admins["drug_label"].astype(object).where(admins["drug_label"].notna(), "?").astype(str)
    names = reference_drug_names()
    distinct = pd.unique(label)
    readable = {lab: " + ".join(names.get(part, part) for part in lab.split("+")) for lab in distinct}
    out = label.map(readable)
    if CHARTED_DRUG_COLUMN in admins:
        charted = admins[CHARTED_DRUG_COLUMN].astype(object).where(admins[CHARTED_DRUG_COLUMN].notna(), "")
        out = out.where(charted.astype(str).str.strip().eq(""), charted.astype(str))
    return out


def legend(classes: Iterable[str]) -> str:
    """Legend of the timeline colours (the five main classes plus any other shown) and shapes."""
    shown = list(LEGEND_ALWAYS) + [c for c in CLASS_COLOURS if c not in LEGEND_ALWAYS and c in set(classes)]
    items = "".join(f"<span>{swatch(CLASS_COLOURS[c])}{esc(CLASS_LABELS[c])}</span>" for c in shown)
    marker = ('<span><svg width="14" height="14" class="legend-swatch"><polygon points="7,1 13,7 7,13 1,7" '
              f'fill="#fff" stroke="{_INK}"/></svg>push / injection</span>'
              '<span><svg width="22" height="14" class="legend-swatch"><rect y="3" width="22" height="8" rx="2" '
              f'fill="#fff" stroke="{_INK}"/></svg>infusion / hydration (start to stop)</span>')
    return f'<div class="legend">{items}{marker}</div>'


# --- bars ------------------------------------------------------------------

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
    # Widths from the longest texts: no label is cut at the left edge, no value at the right.
    label_w = int(math.ceil(max(60.0, text_width(labels) + 12)))
    value_w = int(math.ceil(text_width(texts) + 14))
    row_h, pad = 22, 6
    width = label_w + bar_width + value_w
    height = n * row_h + 2 * pad
    top = vals.max() if vals.max() > 0 else 1.0
    # A non-zero value keeps a visible sliver even beside a much larger bar.
    lengths = np.maximum(vals / top * bar_width, np.where(vals > 0, 2.0, 0.0))
    ys = pad + np.arange(n) * row_h
    parts = [
        f'<svg class="hbar-chart" role="img" aria-label="{esc(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<line class="axis" x1="{label_w}" y1="{pad - 2}" x2="{label_w}" y2="{height - pad + 2}"/>',
    ]
    for y, length, label, text, colour in zip(ys, lengths, labels, texts, colours):  # one per category
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{esc(label)}</text>'
            f'<rect class="chart-bar" x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}" '
            f'fill="{esc(colour)}"><title>{esc(label)}: {esc(text)}</title></rect>'
            f'<text x="{label_w + length + 5:.1f}" y="{y + 15}">{esc(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# --- trend -----------------------------------------------------------------

def _trend_counts(t: pd.DataFrame, column: str) -> pd.Series:
    """A count column of the trend as floats (zeros when the column is absent)."""
    return num(t[column]) if column in t else pd.Series(0.0, index=t.index)


def _trend_bars(days: pd.Series, over: pd.Series, under: pd.Series, cx: np.ndarray, slot: float,
                y_of, base: int, plot_w: int) -> str:
    """Per date: the over- and under-billed bars side by side, and the date on every few dates."""
    n = len(days)
    bw = float(min(22.0, slot / 3.2))
    every = max(1, math.ceil(n / max(1, plot_w // 80)))  # date labels at least ~80 px apart
    marks = pd.Series("", index=days.index, dtype=object)
    for j, (series, direction) in enumerate(((over, OVER), (under, UNDER))):
        y = y_of(series.to_numpy())
        marks = (marks + '<rect class="trend-bar" x="' + one_decimal(cx - bw + j * bw) + '" y="' + one_decimal(y)
                 + f'" width="{bw:.1f}" height="' + one_decimal(base - y)
                 + f'" fill="{DIRECTION_COLOURS[direction]}" opacity="0.55"><title>' + days + f": {direction} "
                 + series.map("{:,.0f}".format) + "</title></rect>")
    labelled = (np.arange(n) % every == 0) | (np.arange(n) == n - 1)
    labels = ('<text class="small" x="' + one_decimal(cx) + f'" y="{base + 16}" text-anchor="middle">' + days
              + "</text>")
    return "".join(marks + labels.where(labelled, ""))


def _trend_points(days: pd.Series, total: pd.Series, cx: np.ndarray, y_of) -> str:
    """The total per date: a line through the dates (when several) and one point each."""
    ys = y_of(total.to_numpy())
    line = ""
    if len(days) > 1:
        pts = " ".join(one_decimal(cx) + "," + one_decimal(ys))
        line = f'<polyline class="trend-line" points="{pts}" fill="none" stroke="{_INK}" stroke-width="2"/>'
    points = ('<circle class="trend-point" cx="' + one_decimal(cx) + '" cy="' + one_decimal(ys)
              + f'" r="4.5" fill="{_INK}"><title>' + days + ": " + total.map("{:,.0f}".format)
              + " findings</title></circle>")
    return line + "".join(points)


def _trend_legend(y: int) -> str:
    """Legend of the trend marks, below the plot."""
    return (
        f'<g class="trend-legend" transform="translate({_TR_LEFT + 4},{y})">'
        f'<circle cx="5" cy="-4" r="4.5" fill="{_INK}"/><text x="14" y="0">all findings</text>'
        f'<rect x="104" y="-10" width="12" height="12" fill="{DIRECTION_COLOURS[OVER]}" opacity="0.55"/>'
        f'<text x="120" y="0">over-billed</text>'
        f'<rect x="210" y="-10" width="12" height="12" fill="{DIRECTION_COLOURS[UNDER]}" opacity="0.55"/>'
        f'<text x="226" y="0">under-billed</text></g>'
    )


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
    days = esc_series(pd.Series(day_labels(t["audit_date"]), dtype=object))
    total, over, under = (_trend_counts(t, c) for c in ("findings", "over_billed", "under_billed"))
    n = len(t)
    left, top, plot_h = _TR_LEFT, _TR_TOP, _TR_PLOT_H
    plot_w = max(300, min(1000, 70 * n))
    width, height = left + plot_w + _TR_RIGHT, top + plot_h + _TR_BOTTOM
    ymax, ystep = nice_max(float(max(total.max(), over.max(), under.max())))
    slot = plot_w / n
    cx = left + slot * (np.arange(n) + 0.5)

    def y_of(v: np.ndarray | float) -> np.ndarray:
        """Pixel row of a count."""
        return top + plot_h - np.asarray(v, dtype=float) / ymax * plot_h

    parts = [f'<svg class="trend-chart" role="img" aria-label="Findings per audit date" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">']
    for tick in np.arange(0, ymax + ystep / 2, ystep):  # a handful of gridlines
        y = float(y_of(tick))
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>'
                     f'<text class="small" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:,.0f}</text>')
    parts.append(f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>')
    parts.append(_trend_bars(days, over, under, cx, slot, y_of, top + plot_h, plot_w))
    parts.append(_trend_points(days, total, cx, y_of))
    parts.append(_trend_legend(top + plot_h + 30))
    parts.append("</svg>")
    return "".join(parts)


# --- timeline --------------------------------------------------------------

def _timeline_frame(admins: pd.DataFrame, groups: np.ndarray) -> pd.DataFrame:
    """The administrations of every chart, chart by chart (``_g``, from ``groups``) in start order,
    with what the drawing needs.

    Adds ``_g`` (the chart of each row), ``_start`` / ``_end`` (local clock;
    a missing or earlier stop becomes start + minutes), ``_min``, ``_kind``
    (lower case), ``_no_stop`` (an infusion charted without a stop),
    ``_marker`` (drawn as a diamond: a push or injection, or no positive
    duration), ``_class`` (colour class), ``_drug`` (:func:`drug_names`) and
    ``_role`` (the coding role in words). Index ``0..n-1``; the sort is
    stable, so rows of one chart keep their order on equal times.
    """
    a = admins.assign(_g=np.asarray(groups, dtype="int64"))
    a["_start"] = wall_time(a["start"])
    a["_end"] = wall_time(a["end"]) if "end" in a else pd.NaT
    a["_min"] = num(a["minutes"]) if "minutes" in a else 0.0
    a = a.sort_values(["_g", "_start", "_end"], kind="mergesort", na_position="last").reset_index(drop=True)
    kind = a["kind"].astype(str).str.lower()
    a["_kind"] = kind
    a["_no_stop"] = a["_end"].isna() & ~kind.isin(MARKER_KINDS)
    fallback = a["_start"] + pd.to_timedelta(a["_min"], unit="min")
    a["_end"] = a["_end"].where(a["_end"].notna() & (a["_end"] >= a["_start"]), fallback)
    a["_marker"] = kind.isin(MARKER_KINDS) | (a["_end"] <= a["_start"])
    a["_class"] = class_of(a)
    a["_drug"] = drug_names(a)
    a["_role"] = words(a["role"]) if "role" in a else ""
    return a


def _timeline_windows(a: pd.DataFrame, n_charts: int) -> pd.DataFrame:
    """Per chart (index ``0..n_charts-1``): whole hours around its administrations (``t0``, ``t1``,
    at least two apart) and the hour step of its ticks (``step_h``, <= 12 ticks)."""
    known = a[a["_start"].notna()]
    first = known.groupby("_g")["_start"].min().dt.floor("h")
    last = known[["_end", "_start"]].max(axis=1).groupby(known["_g"]).max().dt.ceil("h")
    charts = pd.RangeIndex(n_charts)
    none_known = pd.Timestamp("2000-01-01")  # a chart without a known time: a two-hour window
    t0 = first.reindex(charts).fillna(none_known)
    t1 = last.reindex(charts).fillna(none_known)
    t1 = t1.where(t1 - t0 >= pd.Timedelta(hours=2), t0 + pd.Timedelta(hours=2))
    span_h = (t1 - t0) / pd.Timedelta(hours=1)
    return pd.DataFrame({"t0": t0, "t1": t1, "step_h": [tick_hours(h) for h in span_h]}, index=charts)


#: Tick steps in hours, up to a week; longer stays step by whole weeks.
_TICK_HOURS: tuple[int, ...] = (1, 2, 3, 4, 6, 12, 24, 48, 72, 168)


def tick_hours(span_h: float, max_ticks: int = 12) -> int:
    """The smallest round step (hours) that puts at most ``max_ticks`` ticks on ``span_h``.

    Any span has one: ICU stays of weeks or months step by whole weeks.
    """
    for step in _TICK_HOURS:
        if span_h / step <= max_ticks:
            return step
    return 168 * math.ceil(span_h / (168 * max_ticks))


def _timeline_ticks(t0: pd.Timestamp, t1: pd.Timestamp, step_h: int, scale: float, height: int,
                    gutter: float) -> str:
    """Hour ticks and their clock labels; the date above the first tick of each day."""
    parts = []
    tick = t0
    prev_day = None
    while tick <= t1:  # at most 13 ticks (see _timeline_window)
        x = gutter + (tick - t0) / pd.Timedelta(minutes=1) * scale
        day = tick.strftime("%b %d") if step_h < 24 * 365 else tick.strftime("%Y %b %d")
        parts.append(f'<line class="timeline-tick" x1="{x:.1f}" y1="{_TL_TOP - 6}" x2="{x:.1f}" y2="{height - 8}" '
                     f'stroke="#e4e7eb" stroke-width="1"/>'
                     f'<text class="small" x="{x:.1f}" y="{_TL_TOP - 10}" text-anchor="middle">'
                     f'{tick.strftime("%H:%M")}</text>')
        if day != prev_day:
            parts.append(f'<text class="small" x="{x:.1f}" y="{_TL_TOP - 22}" text-anchor="middle">{day}</text>')
            prev_day = day
        tick += pd.Timedelta(hours=step_h)
    return "".join(parts)


def _timeline_labels(a: pd.DataFrame, xs: np.ndarray, xe: np.ndarray, gutter: np.ndarray) -> pd.DataFrame:
    """Row label text, its x, anchor and class: whole right of the bar when it fits there, else whole
    left of it, else the drug name cut with an ellipsis (:func:`fit_label`) to the largest of those two
    rooms and the bar's inside (6 px padding each side, drawn bold, white on dark fills).

    So no label runs past its chart, nor a white label past its bar, in any common sans-serif. ``full``
    is the whole label (for the tooltip); ``text`` the drawn one. ``gutter``: the role gutter (px) of
    each row's chart.
    """
    marker = a["_marker"].to_numpy()
    minutes = a["_min"].map("{:g}".format)
    tail = pd.Series(np.where(marker, " \u00b7 " + a["_kind"], " \u00b7 " + minutes + " min"), index=a.index)
    tail = tail + np.where(a["_no_stop"], " (no stop time)", "")
    text = a["_drug"] + tail
    tw = text.map(lambda t: text_px(t, LABEL_PX)).to_numpy(dtype=float)
    room_right = gutter + _TL_PLOT_W + _TL_RIGHT - (xe + 8)
    room_left = xs - 8 - gutter
    room_in = np.where(marker, -np.inf, xe - xs - 12)
    # 0: right of the bar, 1: left of it, 2: inside (a diamond has no inside).
    largest = np.argmax(np.stack([room_right, room_left, room_in]), axis=0)
    where = np.where(tw <= room_right, 0, np.where(tw <= room_left, 1, largest))
    room = np.choose(where, [room_right, room_left, room_in])
    inside = where == 2
    drawn = pd.Series([fit_label(head, end, r, LABEL_PX, bold=b)
                       for head, end, r, b in zip(a["_drug"], tail, room, inside)], index=text.index, dtype=object)
    light = a["_class"].isin(LIGHT_CLASSES).to_numpy()
    return pd.DataFrame({
        "full": text,
        "text": drawn,
        "x": np.choose(where, [xe + 8, xs - 8, xs + 6]),
        "anchor": np.where(where == 1, "end", "start"),
        "css": np.where(inside & ~light, "lbl in", np.where(inside, "lbl in dark", "lbl")),
    })


def _timeline_tip(a: pd.DataFrame, text: pd.Series) -> pd.Series:
    """Tooltip per row: label, role, route and site, clock times, infusates."""
    def col(name: str) -> pd.Series:
        return a.get(name, pd.Series("", index=a.index)).astype(str)

    start_txt = a["_start"].dt.strftime("%H:%M").fillna("?")
    end_txt = a["_end"].dt.strftime("%H:%M").fillna("?")
    return (text + " | " + a["_role"] + " | " + col("route") + " " + col("site") + " | "
            + start_txt + np.where(a["_marker"], "", "\u2013" + end_txt) + " | " + col("infusates"))


def _timeline_marks(a: pd.DataFrame, xs: np.ndarray, xe: np.ndarray, gutter: np.ndarray,
                    row: np.ndarray) -> pd.Series:
    """One ``timeline-bar`` group per row: role, a span or a diamond, and the label.

    ``gutter``: the role gutter (px) of each row's chart; ``row``: the row's
    line in its chart (0 at the top). Returns the markup of each row.
    """
    ys = _TL_TOP + row * _TL_ROW_H
    mid = ys + _TL_ROW_H / 2
    r = _TL_MARKER_R
    fill = a["_class"].map(CLASS_COLOURS)
    diamond = ('<polygon class="timeline-marker" points="' + one_decimal(xs) + "," + one_decimal(mid - r) + " "
               + one_decimal(xs + r) + "," + one_decimal(mid) + " " + one_decimal(xs) + "," + one_decimal(mid + r)
               + " " + one_decimal(xs - r) + "," + one_decimal(mid) + '" fill="' + fill
               + f'" stroke="{_INK}" stroke-width="0.8"/>')
    span = ('<rect class="timeline-span" x="' + one_decimal(xs) + '" y="' + pd.Series(ys + 4).astype(str)
            + '" width="' + one_decimal(xe - xs) + f'" height="{_TL_ROW_H - 8}" rx="3" fill="' + fill + '"/>')
    label = _timeline_labels(a, xs, xe, gutter)
    y_text = one_decimal(mid + 4)
    marks = ('<g class="timeline-bar" data-class="' + esc_series(a["_class"]) + '" data-kind="'
             + esc_series(a["_kind"]) + '"><title>' + esc_series(_timeline_tip(a, label["full"])) + "</title>"
             + '<text class="small" x="' + one_decimal(gutter - 8) + '" y="' + y_text + '" text-anchor="end">'
             + esc_series(a["_role"]) + "</text>" + diamond.where(a["_marker"], span)
             + '<text class="' + label["css"] + '" x="' + one_decimal(label["x"]) + '" y="' + y_text
             + '" text-anchor="' + label["anchor"] + '">' + esc_series(label["text"]) + "</text></g>")
    return marks


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
    return timeline_charts(admins, np.zeros(len(admins), dtype="int64"), [label])[0]


def timeline_charts(admins: pd.DataFrame, groups: np.ndarray, labels: Sequence[str]) -> list[str]:
    """:func:`timeline_chart` of several encounters at once, each with its own axis and gutter.

    Args:
        admins: administrations of the encounters (columns as
            :func:`timeline_chart` reads them).
        groups: the chart of each row of ``admins``, ``0..len(labels)-1``.
        labels: accessible name of each chart.

    Returns:
        One ``<svg class="timeline">`` per label, in order (a chart without
        rows is an empty two-hour axis). The rows of all charts are drawn in
        one pass; only the hour ticks are built per chart.
    """
    n = len(labels)
    a = _timeline_frame(admins, groups)
    window = _timeline_windows(a, n)
    g = a["_g"].to_numpy()
    counts = np.bincount(g, minlength=n)
    role_px = (a["_role"].astype(str).map(lambda t: text_px(t, SMALL_PX)).groupby(g).max()
               .reindex(range(n), fill_value=0.0).to_numpy(dtype=float))
    # The gutter holds the widest role in words (8 px to the plot, 8 px to the edge).
    gutter = np.maximum(float(_TL_GUTTER), np.ceil(role_px + 16))
    height = _TL_TOP + np.maximum(counts, 1) * _TL_ROW_H + 10
    scale = _TL_PLOT_W / ((window["t1"] - window["t0"]) / pd.Timedelta(minutes=1)).to_numpy()
    t0_row = window["t0"].to_numpy()[g]

    def x_of(times: pd.Series) -> np.ndarray:
        """Pixel column of clock times on their chart (an unknown time at the left edge)."""
        return gutter[g] + ((times - t0_row) / pd.Timedelta(minutes=1)).fillna(0).to_numpy() * scale[g]

    xs = x_of(a["_start"])
    # A span is at least 2 px wide so a very short infusion stays visible.
    xe = np.where(a["_marker"].to_numpy(), xs, np.maximum(x_of(a["_end"]), xs + 2))
    first_row = np.concatenate([[0], np.cumsum(counts)])  # the rows are sorted by chart
    marks = (join_by_group(_timeline_marks(a, xs, xe, gutter[g], np.arange(len(a)) - first_row[g]), g, n)
             if len(a) else [""] * n)
    charts = []
    for i in range(n):  # one chart per encounter drawn (a handful); its rows were built above
        w, h, gut = int(gutter[i] + _TL_PLOT_W + _TL_RIGHT), int(height[i]), float(gutter[i])
        charts.append(
            f'<svg class="timeline" role="img" aria-label="{esc(labels[i])}" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}">'
            + _timeline_ticks(window["t0"].iloc[i], window["t1"].iloc[i], int(window["step_h"].iloc[i]),
                              float(scale[i]), h, gut)
            + f'<line class="axis" x1="{gut:.1f}" y1="{_TL_TOP - 4}" x2="{gut + _TL_PLOT_W:.1f}" '
            f'y2="{_TL_TOP - 4}"/>' + marks[i] + "</svg>")
    return charts
