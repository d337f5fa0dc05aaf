"""The run's own validation page renders with its styling in headless
Chromium with the network taken away (a hospital's locked-down network):
every style is inline, nothing is fetched."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from flows.pipeline import audit_files
from flows.settings import Settings
from tests.flows.browser import NETWORK_OFF, chromium, has_colour, run_chromium, screenshot  # noqa: F401 (a fixture)
from transforms.synthetic.generator import generate, write_extracts

pytestmark = pytest.mark.browser

FAIL, OK, HEADER = "#b3261e", "#1c7c3c", "#f3f5f7"  # transforms/outputs/validation_page.py's own colours


@pytest.fixture(scope="module")
def run_with_bad_rows(tmp_path_factory):
    """A run whose MAR extract has rows validation sets aside (an unknown route, no encounter)."""
    base = tmp_path_factory.mktemp("validation")
    paths = write_extracts(generate(seed=4, days=1, encounters_per_day=30, error_rate=0.2), base / "in")
    mar = pd.read_csv(paths["mar"], dtype=str, keep_default_na=False)
    mar.loc[[1, 5, 9], "route"] = "through the ear"
    mar.loc[[2, 3], "encounter_id"] = ""
    mar.to_csv(paths["mar"], index=False)
    out = base / "out"
    audit_files(paths["mar"], paths["claims"], out, Settings(lake_root=base / "lake"))
    return out


def test_the_validation_page_renders_styled_with_the_network_off(chromium, run_with_bad_rows, tmp_path):
    page = run_with_bad_rows / "validation" / "index.html"
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(https?:)?//", html) and "<link" not in html  # nothing to fetch
    dom = run_chromium(chromium, tmp_path / "profile", *NETWORK_OFF, "--dump-dom", page.as_uri()).stdout
    assert 'class="fail">failed' in dom and 'class="ok">passed' in dom
    quarantined = pd.read_csv(run_with_bad_rows / "quarantine.csv", dtype=str, keep_default_na=False)
    assert len(quarantined) >= 5 and set(quarantined["source"]) == {"mar"}
    pixels = screenshot(chromium, page, tmp_path, 1200, 1600, *NETWORK_OFF)
    # styled, not unstyled black text: the failed and passed labels in their colours, shaded table headers
    assert has_colour(pixels, FAIL, tolerance=40, at_least=40), "no failed label drawn in its colour"
    assert has_colour(pixels, OK, tolerance=40, at_least=40), "no passed label drawn in its colour"
    assert has_colour(pixels, HEADER, tolerance=3, at_least=2000), "table headers are not shaded"
