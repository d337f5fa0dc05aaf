"""No text of an SVG chart is clipped: every text's estimated width fits inside its viewBox."""

import html as html_lib
import re

import pandas as pd

from transforms.outputs.report_charts import CHAR_W, hbar_chart, timeline_chart, trend_chart
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
            w = len(text) * CHAR_W
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
    assert any(t.endswith("\u2026") for t in texts)  # a label that fits nowhere is cut, not clipped
    assert "sodium chloride 0.9 % \u00b7 480 min" in texts


def test_trend_labels_fit():
    days = pd.date_range("2026-01-01", periods=40).strftime("%Y-%m-%d")
    trend = pd.DataFrame({"audit_date": days, "findings": range(10000, 10040), "over_billed": 5, "under_billed": 7})
    assert_fits(trend_chart(trend))
    assert_fits(trend_chart(trend.head(1)))
