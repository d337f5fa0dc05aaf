"""No text of an SVG chart is clipped: every text's estimated width fits inside its viewBox, and a
timeline label too long for its room is cut with an ellipsis (inside a bar: to the bar)."""

import html as html_lib
import re

import pandas as pd

from transforms.outputs.report_charts import (
    LABEL_PX,
    SMALL_PX,
    TEXT_PX,
    fit_label,
    fit_text,
    hbar_chart,
    text_px,
    timeline_chart,
    trend_chart,
)
from transforms.vocab.findings import TITLE

SVG = re.compile(r'<svg class="(?:hbar-chart|trend-chart|timeline)"[^>]*viewBox="0 0 ([\d.]+) ([\d.]+)">(.*?)</svg>',
                 re.S)
TEXT = re.compile(r'<text([^>]*)>([^<]*)</text>')


def text_extents(svg_html: str) -> list[tuple[str, float, float, float, float]]:
    """(text, left, right, width of the viewBox, its height) of every text of every chart in ``svg_html``."""
    out = []
    for width, height, body in SVG.findall(svg_html):
        for attrs, raw in TEXT.findall(body):
            text = html_lib.unescape(raw)
            x = float(re.search(r'\bx="([-\d.]+)"', attrs).group(1))
            anchor = re.search(r'text-anchor="(\w+)"', attrs)
            css = (re.search(r'class="([^"]*)"', attrs) or re.search("()", "")).group(1).split()
            size = SMALL_PX if "small" in css else LABEL_PX if "lbl" in css else TEXT_PX  # the report's CSS
            w = text_px(text, size, bold="in" in css)
            left = {"end": x - w, "middle": x - w / 2}.get(anchor.group(1) if anchor else "start", x)
            out.append((text, left, left + w, float(width), float(height)))
    return out


def assert_fits(svg_html: str) -> None:
    extents = text_extents(svg_html)
    assert extents, "no text found"
    clipped = [(t, round(lo, 1), round(hi, 1), w) for t, lo, hi, w, _ in extents if lo < 0 or hi > w]
    assert not clipped, clipped


def test_bar_labels_of_any_length_fit():
    labels = list(TITLE.values()) + ["x", "a label far longer than any title of a finding key, " * 3]
    assert_fits(hbar_chart(labels, range(1, len(labels) + 1), ["#000"] * len(labels),
                           value_labels=[f"-${v:,}.00" for v in range(10**6, 10**6 + len(labels))]))


def test_timeline_roles_and_labels_fit():
    start = pd.Timestamp("2026-11-02T08:00:00-05:00")
    long_drug = "pembrolizumab+sodium_chloride_0_9+a_drug_name_that_is_not_in_the_reference_at_all"
    admins = pd.DataFrame({
        "drug_label": ["sodium_chloride_0_9", long_drug, "vancomycin", long_drug],
        "drug_class": ["hydration", "chemo", "therapeutic", "therapeutic"],
        "kind": ["hydration", "infusion", "push", "infusion"],
        "role": ["hydration_not_reportable", "initial", "push", "concurrent_not_reportable_because_of_policy"],
        "start": [start, start + pd.Timedelta(minutes=5), start + pd.Timedelta(hours=7, minutes=55), start],
        "end": [start + pd.Timedelta(hours=8), start + pd.Timedelta(hours=7, minutes=50), None, None],
        "minutes": [480, 465, 0, 0],
    })
    svg = timeline_chart(admins, label="E1")
    assert_fits(svg)
    texts = [t for t, *_ in text_extents(svg)]
    assert "hydration not reportable" in texts  # the role in words, whole
    assert any("\u2026" in t for t in texts)  # a label that fits nowhere is cut, not clipped
    assert "sodium chloride 0.9 % \u00b7 480 min" in texts


def test_trend_labels_fit():
    days = pd.date_range("2026-01-01", periods=40).strftime("%Y-%m-%d")
    trend = pd.DataFrame({"audit_date": days, "findings": range(10000, 10040), "over_billed": 5, "under_billed": 7})
    assert_fits(trend_chart(trend))
    assert_fits(trend_chart(trend.head(1)))


def test_text_px_errs_wide_of_the_browser_fonts():
    """Widths as Chromium draws DejaVu Sans (as wide as Verdana) at 11.5 px, with the 5 % headroom."""
    assert text_px("", LABEL_PX) == 0
    assert round(text_px("mmmm", LABEL_PX), 2) == round(4 * 0.974 * 11.5 * 1.05, 2) == 47.04
    assert round(text_px("mmmm", LABEL_PX, bold=True), 2) == round(4 * 1.042 * 11.5 * 1.05, 2) == 50.33
    assert text_px("iiii", LABEL_PX) < text_px("mmmm", LABEL_PX)
    assert round(text_px("\u00e9\u4e2d", LABEL_PX), 2) == 24.15  # any other character: a full em (2 x 11.5 x 1.05)


def test_fit_text_cuts_with_an_ellipsis():
    assert fit_text("vancomycin \u00b7 60 min", 500) == "vancomycin \u00b7 60 min"  # fits: whole
    assert fit_text("pembrolizumab (KEYTRUDA) 200 mg", 100) == "pembrolizuma\u2026"
    assert fit_text("pembrolizumab (KEYTRUDA) 200 mg", 100, bold=True) == "pembrolizu\u2026"  # bold is wider
    # the head is cut before a separator, not after it
    assert fit_text("vancomycin \u00b7 60 min", text_px("vancomycin \u00b7", LABEL_PX) + 12) == "vancomycin\u2026"
    assert fit_text("abc", 8) == ""  # not even the ellipsis fits
    for room in (30, 55.5, 100, 250):
        cut = fit_text("cyclophosphamide (CYTOXAN) 1,200 mg in sodium chloride 0.9 % 250 mL", room)
        assert cut.endswith("\u2026") and text_px(cut, LABEL_PX) <= room, (room, cut)


def test_fit_label_keeps_the_minutes():
    name = "pembrolizumab (KEYTRUDA) 200 mg in sodium chloride 0.9 % 100 mL"
    assert fit_label("vancomycin", " \u00b7 60 min", 300) == "vancomycin \u00b7 60 min"
    assert fit_label(name, " \u00b7 30 min", 200) == "pembrolizumab (KEY\u2026 \u00b7 30 min"
    assert text_px("pembrolizumab (KEY\u2026 \u00b7 30 min", LABEL_PX) <= 200
    # too little room for four characters of the name before the minutes: the whole is cut at its end
    assert fit_label(name, " \u00b7 30 min", 60) == "pembro\u2026"


def _adm(drug: str, cls: str, kind: str, start: str, end: str | None, minutes: int) -> dict:
    at = "2026-11-02T{}:00-0500"
    return {"drug_label": drug, "drug_as_charted": drug, "drug_class": cls, "kind": kind, "role": "initial",
            "start": at.format(start), "end": at.format(end) if end else "", "minutes": minutes}


LONG = "pembrolizumab (KEYTRUDA) 200 mg in sodium chloride 0.9 % 100 mL & <b>x</b> infusion"


def test_timeline_labels_are_cut_to_their_room():
    """Right of the bar when whole there, else left, else cut to the largest room: a label inside
    a bar is cut to the bar (6 px each side) and drawn bold, white or dark on light fills."""
    admins = pd.DataFrame([
        _adm(LONG, "chemo", "infusion", "08:00", "10:00", 120),  # the whole window: no room outside
        _adm("ondansetron (ZOFRAN) injection 8 mg", "therapeutic", "infusion", "09:45", "10:00", 15),
        _adm(LONG, "therapeutic", "infusion", "08:50", "09:10", 20),  # mid-chart: more room right than in
        _adm("sodium chloride 0.9 % 250 mL diluent for the chemotherapy of the day", "diluent", "infusion",
             "08:00", "10:00", 120),
        _adm("vancomycin", "therapeutic", "push", "10:00", None, 0),
    ])
    svg = timeline_chart(admins, label="E1")
    spans = re.findall(r'<rect class="timeline-span" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    labels = re.findall(r'<text class="(lbl[^"]*)" x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)">([^<]*)</text>',
                        svg)
    assert [(css, anchor, html_lib.unescape(text)) for css, _, anchor, text in labels] == [
        ("lbl in", "start", "pembrolizumab (KEYTRUDA) 200 mg in sodium chloride 0.9 % 100 m\u2026 \u00b7 120 min"),
        ("lbl in dark", "start",
         "sodium chloride 0.9 % 250 mL diluent for the chemotherapy of the d\u2026 \u00b7 120 min"),
        ("lbl", "start", "pembrolizumab (KEYTRUDA)\u2026 \u00b7 20 min"),
        ("lbl", "end", "ondansetron (ZOFRAN) injection 8 mg \u00b7 15 min"),  # whole, left of its bar
        ("lbl", "end", "vancomycin \u00b7 push"),
    ]
    # a label inside a bar ends inside it (bold widths), 6 px from its start
    for (css, x, _, text), (bx, bw) in zip(labels[:2], spans[:2]):
        assert float(x) == float(bx) + 6
        assert float(x) + text_px(html_lib.unescape(text), LABEL_PX, bold=True) <= float(bx) + float(bw) - 6
    # the full names stay in the tooltips, escaped; the cut ones are escaped after cutting
    assert svg.count("<title>" + LONG.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")) == 2
    assert "<b>" not in svg
    assert_fits(svg)


def test_a_cut_label_is_escaped_whole():
    """The cut is made on the plain text, so no entity is split by the ellipsis."""
    name = "A & B <i>x</i> " * 12
    svg = timeline_chart(pd.DataFrame([_adm(name, "chemo", "infusion", "08:00", "10:00", 120)]), label="E")
    text = re.search(r'<text class="lbl in"[^>]*>([^<]*)</text>', svg).group(1)
    assert text == "A &amp; B &lt;i&gt;x&lt;/i&gt; " * 4 + "A &amp; B\u2026 \u00b7 120 min"
    assert "<i>" not in svg
