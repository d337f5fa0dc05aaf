"""The HTML report renders its charts in a real browser (headless Chromium,
driven as :mod:`tests.flows.browser` says: never skipped)."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.pipeline import audit_files
from tests.flows.browser import chromium, has_colour, rgb, run_chromium, screenshot  # noqa: F401 (a fixture)
from tests.builders import claim_lines, ev, events
from flows.settings import Settings
from transforms.outputs.report_html import (
    CLASS_COLOURS,
    DIRECTION_COLOURS,
    rank_encounters,
    render_run_dir,
    trend_from_findings,
)
from transforms.synthetic.generator import generate, write_extracts
from transforms.vocab import schemas

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1400, 4000
INJECTED = "<b>bold</b> & <i>co</i>"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    """A report of a real two-day synthetic run, with a trend and a hostile drug label."""
    base = tmp_path_factory.mktemp("report")
    paths = write_extracts(generate(seed=11, days=2, encounters_per_day=40, error_rate=0.3), base / "in")
    out = base / "out"
    audit_files(paths["mar"], paths["claims"], out, Settings(lake_root=base / "lake"))
    findings = pd.read_csv(out / "findings.csv", dtype=str, keep_default_na=False)
    expected = pd.read_csv(out / "expected_codes.csv", dtype=str, keep_default_na=False)
    day = expected.drop_duplicates("encounter_id").set_index("encounter_id")["service_date"]
    trend = trend_from_findings(findings.assign(audit_date=findings["encounter_id"].map(day)),
                                days=sorted(day.unique()))
    assert len(trend) == 2
    admins = pd.read_csv(out / "administrations.csv", dtype=str, keep_default_na=False)
    first = rank_encounters(findings)["encounter_id"].iloc[0]  # drawn as the first timeline
    row = admins.index[admins["encounter_id"] == first][0]
    admins.loc[row, "drug_label"] = INJECTED
    if "drug_as_charted" in admins:  # the text as charted is what the report shows
        admins.loc[row, "drug_as_charted"] = INJECTED
    admins.to_csv(out / "administrations.csv", index=False)
    html = render_run_dir(out, trend=trend, top_n=3)
    path = base / "report.html"
    path.write_text(html, encoding="utf-8")
    return path, html


def test_dom_has_the_charts(chromium, report, tmp_path):
    path, html = report
    dom = run_chromium(chromium, tmp_path / "profile", "--dump-dom", path.as_uri()).stdout
    assert "<svg" in dom
    for cls in ("chart-bar", "trend-point", "trend-bar", "timeline", "timeline-bar", "timeline-tick"):
        n = len(re.findall(rf'class="{cls}"', dom))
        assert n > 0, f"no {cls} element in the rendered DOM"
        assert n == html.count(f'class="{cls}"'), f"{cls}: the browser dropped elements"
    assert len(re.findall(r'class="trend-point"', dom)) == 2
    assert len(re.findall(r'class="timeline"', dom)) == 3
    # the injected markup stayed text: no <b>/<i> element was created
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;co&lt;/i&gt;" in dom
    assert "<b>bold</b>" not in dom
    assert dom.count("<script") == html.count("<script") == 1  # the table's own inline script, nothing injected
    # with script the filters show; every finding is a row of the table
    assert 'id="all-findings-filters" hidden' not in dom
    findings = pd.read_csv(path.parent / "out" / "findings.csv", dtype=str, keep_default_na=False)
    assert len(re.findall(r"<tr data-dir=", dom)) == len(findings)


def read_findings(report_path: Path) -> pd.DataFrame:
    """The findings of the run folder ``out`` beside a report."""
    return pd.read_csv(report_path.parent / "out" / "findings.csv", dtype=str, keep_default_na=False)


def assert_filter_and_sort(exe: str, path: Path, profile: Path) -> None:
    """A fragment pre-sets the filter (the commonest key) and the sort (dollars, descending): the script
    hides the other rows, counts the shown ones and orders them."""
    findings = read_findings(path)
    key = findings["finding"].value_counts().index[0]
    dom = run_chromium(exe, profile, "--dump-dom", f"{path.as_uri()}#key={key}&sort=-dollars").stdout
    rows = re.findall(r"<tr ([^>]*)>(.*?)</tr>", dom.split('id="all-findings-table"', 1)[1], re.S)
    shown = [(attrs, body) for attrs, body in rows if "hidden" not in attrs]
    assert len(rows) == len(findings) and len(shown) == int((findings["finding"] == key).sum())
    assert all(f'data-key="{key}"' in attrs for attrs, _ in shown)
    assert re.search(r'id="all-findings-shown">(\d+)<', dom).group(1) == str(len(shown))
    dollars = [float(v) if v else float("-inf")
               for v in (re.findall(r'data-v="([^"]*)">[^<]*(?:<div class="price">[^<]*</div>)?</td><td '
                                    r'class="col-explanation"', body)[0] for _, body in shown)]
    assert dollars == sorted(dollars, reverse=True)


def test_filter_and_sort_of_every_finding(chromium, report, tmp_path):
    """A fragment pre-sets the filter and the sort; the script hides the other rows and orders the rest."""
    assert_filter_and_sort(chromium, report[0], tmp_path / "profile")


def test_screenshot_shows_the_charts(chromium, report, tmp_path):
    pixels = screenshot(chromium, report[0], tmp_path, WIDTH, HEIGHT)
    non_white = (pixels < 245).any(axis=-1).mean()
    assert non_white > 0.03, f"page is nearly blank ({non_white:.1%} non-white pixels)"
    colours = np.unique(pixels.reshape(-1, 3) @ np.array([65536, 256, 1]))
    assert len(colours) > 64, f"only {len(colours)} distinct colours"
    # bars of the by-key and by-direction charts
    assert has_colour(pixels, DIRECTION_COLOURS["over_billed"], at_least=500)
    assert has_colour(pixels, DIRECTION_COLOURS["under_billed"], at_least=500)
    # timeline bars of at least two drug classes
    drawn = [c for c in ("chemo", "therapeutic", "hydration") if has_colour(pixels, CLASS_COLOURS[c], at_least=200)]
    assert len(drawn) >= 2, f"timeline colours drawn: {drawn}"


# --- a night with hundreds of findings -------------------------------------------------

#: The report's body padding (px, its CSS): at a window as wide as the page, nothing is drawn left of it.
PAGE_PAD = 28
#: Measures every SVG label against its chart and every element against the page, in the browser's own
#: layout, and writes the result into the DOM (``<pre id="probe">``) for ``--dump-dom``.
PROBE = """<script>(function () {
  var out = [], page = [];
  Array.prototype.forEach.call(document.querySelectorAll("svg text"), function (t) {
    var r = t.getBoundingClientRect(), s = t.ownerSVGElement.getBoundingClientRect();
    // A label drawn inside its bar (class "in"): px from the bar's left and to its right end.
    var span = t.classList.contains("in") && t.parentNode.querySelector("rect.timeline-span");
    var b = span ? span.getBoundingClientRect() : null;
    if (r.width > 0) {
      out.push([t.ownerSVGElement.getAttribute("class"), t.textContent, r.left - s.left, s.right - r.right,
                b ? [r.left - b.left, b.right - r.right] : null, t.getAttribute("class") || ""]);
    }
  });
  Array.prototype.forEach.call(document.body.querySelectorAll("*"), function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.left < 0) { page.push([e.tagName, (e.textContent || "").slice(0, 60), r.left]); }
  });
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify({texts: out, left_of_page: page});
  document.body.appendChild(pre);
})();</script>"""


@pytest.fixture(scope="module")
def big_night(tmp_path_factory) -> Path:
    """The report of one synthetic day of 400 encounters, most billed with an error: ~480 findings."""
    base = tmp_path_factory.mktemp("big-night")
    paths = write_extracts(generate(seed=5, days=1, encounters_per_day=400, error_rate=0.8), base / "in")
    out = base / "out"
    audit_files(paths["mar"], paths["claims"], out, Settings(lake_root=base / "lake"))
    path = base / "report.html"
    path.write_text(render_run_dir(out), encoding="utf-8")
    return path


def test_every_finding_of_a_big_night_is_a_row(chromium, big_night, tmp_path):
    findings = read_findings(big_night)
    assert len(findings) >= 300, f"the big night has only {len(findings)} findings"
    dom = run_chromium(chromium, tmp_path / "profile", "--dump-dom", big_night.as_uri()).stdout
    assert len(re.findall(r"<tr data-dir=", dom)) == len(findings)
    assert re.search(r'id="all-findings-shown">(\d+)<', dom).group(1) == str(len(findings))
    assert len(re.findall(r'class="timeline"', dom)) == 10  # the default top 10, not one per encounter


def test_filter_and_sort_of_a_big_night(chromium, big_night, tmp_path):
    assert_filter_and_sort(chromium, big_night, tmp_path / "profile")


def test_big_night_screenshot_is_drawn_and_not_cut_at_the_left(chromium, big_night, tmp_path):
    pixels = screenshot(chromium, big_night, tmp_path, WIDTH, HEIGHT)
    non_white = (pixels < 245).any(axis=-1).mean()
    assert non_white > 0.05, f"page is nearly blank ({non_white:.1%} non-white pixels)"
    assert has_colour(pixels, DIRECTION_COLOURS["over_billed"], at_least=2000)
    # Drawn columns per x: the strip left of the body's padding is bare background over the whole
    # height (nothing pushed or overflowing left), and the content starts right at the padding.
    drawn = (pixels != 255).any(axis=-1).sum(axis=0)
    assert int(drawn[:PAGE_PAD].sum()) == 0, f"drawn left of the padding: {np.flatnonzero(drawn[:PAGE_PAD])}"
    assert drawn[PAGE_PAD:PAGE_PAD + 8].sum() > 500, "the content does not start at the page padding"


def test_big_night_labels_are_not_cut_at_the_left(chromium, big_night, tmp_path):
    """In the browser's layout no label starts left of its chart and no element left of the page; every
    label also ends inside its chart, and a label drawn inside a timeline bar inside that bar."""
    probe = big_night.with_name("probe.html")
    probe.write_text(big_night.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = run_chromium(chromium, tmp_path / "profile", "--dump-dom", f"--window-size={WIDTH},{HEIGHT}",
                       probe.as_uri()).stdout
    found = json.loads(unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)))
    # [chart class, text, px from the chart's left edge, px to its right edge, null or [px from the left
    # end of the bar it is drawn in, px to its right end], the text's class]
    texts = found["texts"]
    assert len(texts) > 100 and {t[0] for t in texts} == {"hbar-chart", "timeline"}, len(texts)
    cut_left = [t for t in texts if t[2] < -1]
    assert cut_left == [], f"labels cut at the left edge of their chart: {cut_left[:5]}"
    assert found["left_of_page"] == [], f"drawn left of the page: {found['left_of_page'][:5]}"
    cut_right = [t for t in texts if t[3] < -1]
    assert cut_right == [], f"labels cut at the right edge of their chart: {cut_right[:5]}"
    in_bar = [t for t in texts if t[4] is not None]
    assert in_bar, "no label is drawn inside a timeline bar"
    past_bar = [t for t in in_bar if min(t[4]) < 0]
    assert past_bar == [], f"labels running past the bar they are drawn in: {past_bar[:5]}"
    # every administration's label shows at least the head of its drug, cut or whole
    labels = [t[1] for t in texts if t[5].split()[:1] == ["lbl"]]
    stubs = [t for t in labels if len(t.rstrip("\u2026")) < 4]
    assert len(labels) > 20 and stubs == [], stubs[:5]


# --- a multi-week stay -----------------------------------------------------------------

HEPARIN = "heparin 25,000 units in dextrose 5 % 250 mL infusion"
STAY = "E-ICU-3W"


@pytest.fixture(scope="module")
def long_stay(tmp_path_factory) -> Path:
    """The report of one ICU encounter: a heparin drip running three weeks (2026-11-02 08:00 to
    2026-11-23 08:00 local, its rate changed weekly), billed as 96365 x1 + 96366 x2."""
    base = tmp_path_factory.mktemp("long-stay")
    kw = {"encounter": STAY, "infusate": "HEP-1", "site": "R IJ CVC"}
    mar = events(ev("08:00", "start", HEPARIN, rate=18.0, **kw),
                 ev("+7 08:00", "rate_change", HEPARIN, rate=14.0, **kw),
                 ev("+14 08:00", "rate_change", HEPARIN, rate=16.0, **kw),
                 ev("+21 08:00", "stop", HEPARIN, **kw))
    claims = claim_lines(STAY, ("96365", 1), ("96366", 2))
    (base / "in").mkdir()
    mar[[c for c in schemas.MAR_COLUMNS if c in mar]].to_csv(base / "in" / "mar.csv", index=False)
    claims[[c for c in schemas.CLAIM_COLUMNS if c in claims]].to_csv(base / "in" / "claims.csv", index=False)
    out = base / "out"
    audit_files(base / "in" / "mar.csv", base / "in" / "claims.csv", out, Settings(lake_root=base / "lake"))
    path = base / "report.html"
    path.write_text(render_run_dir(out), encoding="utf-8")
    return path


def test_long_stay_is_audited_as_three_weeks(long_stay):
    findings = read_findings(long_stay)
    hours = findings[findings["hcpcs"] == "96366"]
    # 21 days = 504 hours: the first is 96365, the other 503 are additional hours
    assert hours[["billed_units", "expected_units", "finding"]].values.tolist() == [
        ["2", "503", "additional_hours_undercounted"]]


def test_long_stay_timeline_spans_the_chart(chromium, long_stay, tmp_path):
    dom = run_chromium(chromium, tmp_path / "profile", "--dump-dom", long_stay.as_uri()).stdout
    svg = re.search(rf'<svg class="timeline"[^>]*aria-label="Timeline of encounter {STAY}".*?</svg>', dom, re.S)
    assert svg is not None, "no timeline of the stay in the DOM"
    svg = svg.group(0)
    ticks = [float(x) for x in re.findall(r'<line class="timeline-tick" x1="([\d.]+)"', svg)]
    assert 7 <= len(ticks) <= 13, f"{len(ticks)} ticks"  # 21 days at one tick per 48 h
    assert ticks == sorted(ticks)
    days = re.findall(r'<text class="small"[^>]*>([A-Z][a-z]{2} \d\d)</text>', svg)
    assert days[0] == "Nov 02" and days[-1] in ("Nov 22", "Nov 23"), days
    axis = re.search(r'<line class="axis" x1="([\d.]+)" y1="[\d.]+" x2="([\d.]+)"', svg)
    x0, x1 = float(axis.group(1)), float(axis.group(2))
    bars = re.findall(r'<rect class="timeline-span" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    assert len(bars) == 1, bars  # the rate changes do not split the drip
    x, w = map(float, bars[0])
    assert x0 - 0.5 <= x and x + w <= x1 + 0.5, (x, w, x0, x1)
    assert w >= 0.9 * (x1 - x0), f"the three-week bar is {w:.0f} px of a {x1 - x0:.0f} px chart"
    assert ticks[0] >= x0 - 0.5 and ticks[-1] <= x1 + 0.5


def test_long_stay_screenshot_draws_the_bar(chromium, long_stay, tmp_path):
    pixels = screenshot(chromium, long_stay, tmp_path, WIDTH, 1600)
    colour = CLASS_COLOURS["therapeutic"]
    assert has_colour(pixels, colour, tolerance=6, at_least=5000)
    # one pixel row holds the bar from start to stop: most of the 560 px plot, far wider than the legend
    per_row = (np.abs(pixels.astype(np.int64) - rgb(colour)) <= 6).all(axis=-1).sum(axis=1)
    assert per_row.max() >= 500, f"widest run of the therapeutic colour: {per_row.max()} px"
