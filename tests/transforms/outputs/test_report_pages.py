"""The report names its night, titles its findings, lists every finding with a filter, links the run's
files that exist and says why a line is $0 (issue 11)."""

import json
import re

import pandas as pd
import pytest

from tests.transforms.outputs.test_report_html import admins, expected, findings, render, summary  # noqa: F401
from transforms.outputs.report_html import (
    LINKED_FILES,
    NO_DOLLARS_DOCUMENTATION,
    NOT_PRICED,
    NO_SCHEDULE,
    ZERO_AMOUNT,
    ZERO_IN_SCHEDULE,
    ZERO_ON_REMIT,
    ZERO_NO_UNITS,
    linked_run_files,
    price_notes,
    render_run_dir,
)
from transforms.vocab.findings import CHECK, FINDING_KEYS, TITLE


def test_every_key_has_a_short_distinct_title_and_a_check():
    assert set(TITLE) == set(FINDING_KEYS) == set(CHECK)
    assert len(set(TITLE.values())) == len(TITLE)
    assert all(0 < len(t) <= 60 and "_" not in t for t in TITLE.values())
    assert all(c.endswith(".") for c in CHECK.values())


def test_the_night_is_named_and_the_trend_has_its_own_range(findings, expected, admins, summary):
    trend = pd.DataFrame({"audit_date": ["2026-10-31", "2026-11-01", "2026-11-02"], "findings": [1, 3, 2],
                          "encounters_with_findings": [1, 2, 2], "over_billed": [1, 2, 1], "under_billed": [0, 1, 1]})
    html = render(findings, expected, admins, {**summary, "audit_date": "2026-11-02"}, trend=trend)
    assert "Night audited: <b>2026-11-02</b>" in html
    assert "<h2>Totals of the night of 2026-11-02</h2>" in html
    assert "<title>Infusion claim audit, the night of 2026-11-02</title>" in html
    assert "Trend across audit dates (2026-10-31 to 2026-11-02, 3 audit dates)" in html
    assert "audit dates 2026-10-31 to 2026-11-02" not in html  # the heading no longer shows the lake's range
    # a files-in audit has no night: the expected lines' service dates stand in, said as such
    html = render(findings, expected, admins, summary)
    assert "Service date audited: <b>2026-11-02</b> (from the expected lines" in html


def test_findings_are_shown_by_title_with_the_key_as_code(findings, expected, admins, summary):
    html = render(findings, expected, admins, summary)
    for key in ("hydration_during_drug", "push_missed"):
        assert f'{TITLE[key]} <code class="key">{key}</code>' in html
    # bar labels are titles, never keys
    bar_labels = re.findall(r'<text x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)</text>', html)
    assert TITLE["push_missed"] in bar_labels and "push_missed" not in bar_labels


def test_drugs_by_name_and_as_charted_when_the_data_has_it(findings, expected, admins, summary):
    html = render(findings, expected, admins, summary)
    assert "sodium chloride 0.9 % \u00b7 120 min" in html and "sodium_chloride_0_9 \u00b7" not in html
    charted = admins.assign(drug_as_charted=["NS 1000 mL bolus", "", "", "", "", ""])
    assert "NS 1000 mL bolus \u00b7 120 min" in render(findings, expected, charted, summary)


def test_every_finding_is_in_the_table_whatever_top_n(findings, expected, admins, summary):
    html = render(findings, expected, admins, summary, top_n=1)
    table = html.split('id="all-findings-table"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-dir="([^"]*)" data-sev="[^"]*" data-key="([^"]*)">', table)
    assert sorted(k for _, k in rows) == sorted(findings["finding"])
    assert '<a href="#enc-0">E1</a>' in table  # drawn above: linked to its timeline
    assert '<td class="col-encounter">E2</td>' in table  # not drawn: still listed
    assert 'id="all-findings-filters" hidden' in html  # controls appear only with script


def test_links_only_to_files_that_exist(tmp_path, findings, expected, admins, summary):
    findings.drop(columns="patient_id").to_csv(tmp_path / "findings.csv", index=False)
    expected.to_csv(tmp_path / "expected_codes.csv", index=False)
    admins.drop(columns="patient_id").to_csv(tmp_path / "administrations.csv", index=False)
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "worklist.csv").write_text("x\n")
    (tmp_path / "validation" / "mar").mkdir(parents=True)
    (tmp_path / "validation" / "mar" / "index.html").write_text("<html></html>")
    assert linked_run_files(tmp_path) == ("worklist.csv", "validation/mar/index.html")
    html = render_run_dir(tmp_path)
    links = re.findall(r'<a href="([^"#][^"]*)"', html)
    assert links == ["worklist.csv", "validation/mar/index.html"]
    assert all((tmp_path / link).is_file() for link in links)
    everything = render(findings, expected, admins, summary, run_files=list(LINKED_FILES))
    assert re.findall(r'<a href="([^"#][^"]*)"', everything) == list(LINKED_FILES)


def test_why_a_line_has_no_dollars_or_zero(findings, expected, admins, summary):
    f = pd.concat([findings, findings.iloc[[0]].assign(finding="missing_stop_time", direction="documentation",
                                                       hcpcs="", billed_units=0, expected_units=0)],
                  ignore_index=True)
    f = f.assign(dollar_impact=[0.0, None, None], severity="low")
    notes = list(price_notes(f))
    assert notes == [ZERO_IN_SCHEDULE, NOT_PRICED, NO_DOLLARS_DOCUMENTATION]
    assert list(price_notes(f.assign(billed_units=1, expected_units=1)))[0] == ZERO_NO_UNITS
    html = render(f, expected, admins, summary)
    assert f"<li>1 finding: {ZERO_IN_SCHEDULE}</li>" in html and f"<li>1 finding: {NOT_PRICED}</li>" in html
    assert NOT_PRICED in html and "\u2014" in html  # the not-priced line shows a dash, not $0.00
    assert price_notes(findings).eq("").all()  # no dollar column: nothing to explain


def test_the_zero_dollar_note_reads_the_price_basis(findings):
    """With ``price_basis`` the note is read, not guessed: the 835's $0, a $0 amount, no schedule."""
    f = pd.concat([findings.iloc[[0]]] * 4, ignore_index=True).assign(
        dollar_impact=[0.0, 0.0, None, 0.0], billed_units=2, expected_units=1,
        price_basis=["remittance_835", "fee_schedule", "no_fee_schedule", ""])
    assert list(price_notes(f)) == [ZERO_ON_REMIT, ZERO_AMOUNT, NO_SCHEDULE, ZERO_IN_SCHEDULE]


def test_text_is_escaped_in_filters_and_table(findings, expected, admins, summary):
    evil = findings.assign(claim_id='C"><b>x</b>', explanation="<img src=x onerror=alert(1)>")
    html = render(evil, expected, admins, summary)
    assert "<b>x</b>" not in html and "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize("top_n", [0, 1, 10])
def test_anchors_of_the_table_exist(findings, expected, admins, summary, top_n):
    html = render(findings, expected, admins, summary, top_n=top_n)
    for anchor in re.findall(r'href="#([^"]+)"', html):
        assert f'id="{anchor}"' in html
