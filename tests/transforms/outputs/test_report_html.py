"""The self-contained HTML report: content, escaping, timelines, no external resources."""

import re

import pandas as pd
import pytest

from transforms.vocab.codes import CHEMO_INITIAL, HYDRATION_HOUR, THER_INITIAL, THER_PUSH_NEW_DRUG
from transforms.vocab.findings import FINDING_KEYS, SEVERITIES
from transforms.outputs.report_html import (
    ALWAYS_WRITTEN,
    codes_for,
    rank_encounters,
    render_report,
    render_run_dir,
    severity_rank,
    trend_from_findings,
    wall_time,
)

EVIL = "<script>alert('x')</script> & saline"


def inline_script(html: str) -> str:
    """The text of the page's one inline script."""
    return html.split("<script>", 1)[1].split("</script>", 1)[0]


def _admin(enc, aid, drug, cls, kind, start, end, minutes, role="initial"):
    return {
        "encounter_id": enc, "admin_id": aid, "site_group": 0, "role": role, "drug_label": drug,
        "drug_class": cls, "kind": kind, "route": "iv_push" if kind == "push" else "iv_infusion",
        "site": "L forearm PIV", "start": f"2026-11-02T{start}:00-0500",
        "end": f"2026-11-02T{end}:00-0500" if end else "", "minutes": minutes, "infusates": f"BAG{aid}",
        "patient_id": "P-000123",
    }


@pytest.fixture
def admins() -> pd.DataFrame:
    return pd.DataFrame([
        _admin("E1", 1, "sodium_chloride_0_9", "hydration", "hydration", "09:00", "11:00", 120, "hydration"),
        _admin("E1", 2, "vancomycin", "therapeutic", "infusion", "09:30", "10:30", 60),
        _admin("E1", 3, EVIL, "therapeutic", "push", "09:15", "09:15", 0, "push"),
        _admin("E2", 4, "cisplatin", "chemo", "infusion", "13:00", "15:00", 120),
        _admin("E2", 5, "ondansetron", "therapeutic", "push", "12:50", "12:50", 0, "push"),
        _admin("E3", 6, "cefazolin_clean_encounter", "therapeutic", "infusion", "08:00", "08:40", 40),
    ])


@pytest.fixture
def expected() -> pd.DataFrame:
    return pd.DataFrame({
        "encounter_id": ["E1", "E1", "E2", "E2", "E3"],
        "service_date": "2026-11-02", "setting": "facility",
        "hcpcs": [THER_INITIAL, THER_PUSH_NEW_DRUG, CHEMO_INITIAL, THER_PUSH_NEW_DRUG, THER_INITIAL],
        "units": [1, 1, 1, 1, 1], "modifiers": "", "rule_ids": "", "evidence": "",
    })


@pytest.fixture
def findings() -> pd.DataFrame:
    return pd.DataFrame({
        "encounter_id": ["E1", "E2"],
        "claim_id": ["C1", "C2"],
        "hcpcs": [HYDRATION_HOUR, THER_PUSH_NEW_DRUG],
        "billed_units": [1, 0],
        "expected_units": [0, 1],
        "finding": ["hydration_during_drug", "push_missed"],
        "explanation": ["hydration billed while <vancomycin> & co ran", "push not billed"],
        "direction": ["over_billed", "under_billed"],
        "setting": "facility",
        "evidence": ["x", "y"],
        "patient_id": "P-000123",
    })


@pytest.fixture
def summary() -> dict:
    return {
        "policy": "cms_facility",
        "rows": {"mar": {"rows_in": 1234, "rows_kept": 1230, "rows_quarantined": 4},
                 "claims": {"rows_in": 567, "rows_kept": 567, "rows_quarantined": 0}},
        "encounters_audited": 3,
        "expected_lines": 5,
    }


def render(findings, expected, admins, summary, **kw) -> str:
    return render_report(findings=findings, expected=expected, administrations=admins, summary=summary, **kw)


def card(html: str, label: str) -> str:
    m = re.search(r'<div class="v">([^<]*)</div><div class="k">' + re.escape(label) + "<", html)
    assert m, f"no card {label!r}"
    return m.group(1)


def test_totals_and_rows(findings, expected, admins, summary):
    html = render(findings, expected, admins, summary)
    assert card(html, "encounters audited") == "3"
    assert card(html, "encounters with findings") == "2"
    assert card(html, "findings") == "2"
    assert card(html, "over-billed findings") == "1"
    assert card(html, "under-billed findings") == "1"
    for n in ("1,234", "1,230", "567"):
        assert f'<td class="num">{n}</td>' in html
    assert '<td class="num">4</td>' in html
    assert "cms_facility" in html


def test_every_finding_key_appears_with_its_bar(expected, admins, summary):
    keys = list(FINDING_KEYS)
    f = pd.DataFrame({
        "encounter_id": [f"E{i}" for i in range(len(keys))], "claim_id": "C", "hcpcs": THER_INITIAL,
        "billed_units": 1, "expected_units": 0, "finding": keys,
        "explanation": "e", "direction": [FINDING_KEYS[k][0] for k in keys], "setting": "facility", "evidence": "",
    })
    html = render(f, expected, admins, summary)
    for key in keys:
        assert key in html
    directions = f["direction"].nunique()
    assert html.count('class="chart-bar"') == len(keys) + directions


def test_drug_and_explanation_text_is_escaped(findings, expected, admins, summary):
    html = render(findings, expected, admins, summary)
    assert html.lower().count("<script") == 1 and "alert(" not in inline_script(html)  # only the table's own
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; saline" in html
    assert "&lt;vancomycin&gt; &amp; co" in html
    assert "<vancomycin>" not in html


def test_timeline_bars_match_administrations_of_top_encounters(findings, expected, admins, summary):
    html = render(findings, expected, admins, summary, top_n=10)
    assert html.count('class="timeline"') == 2
    assert html.count('class="timeline-bar"') == 5  # E1 (3) + E2 (2); E3 has no finding
    assert html.count('class="timeline-marker"') == 2  # the pushes
    assert html.count('class="timeline-span"') == 3
    assert "cefazolin_clean_encounter" not in html
    # without severity or dollars the over-billed encounter comes first
    one = render(findings, expected, admins, summary, top_n=1)
    assert one.count('class="timeline-bar"') == 3
    assert "vancomycin" in one and "cisplatin" not in one


def test_timeline_axis_is_local_clock_with_hour_ticks(findings, expected, admins, summary):
    html = render(findings, expected, admins, summary, top_n=1)
    assert html.count('class="timeline-tick"') >= 3
    assert ">09:00<" in html and ">11:00<" in html
    assert ">14:00<" not in html  # 09:00-0500 is not drawn at its UTC hour
    assert "vancomycin \u00b7 60 min" in html
    for cls in ("chemotherapy / complex drug", "hydration", "diluent / none", "unknown (not in the drug reference)"):
        assert cls in html  # legend


def test_codes_beside_the_chart(findings, expected):
    codes = codes_for("E1", expected, findings)
    assert codes.to_dict("records") == [
        {"hcpcs": HYDRATION_HOUR, "expected_units": 0, "billed_units": 1, "finding": "hydration_during_drug",
         "direction": "over_billed"},
        {"hcpcs": THER_INITIAL, "expected_units": 1, "billed_units": 1, "finding": "", "direction": ""},
        {"hcpcs": THER_PUSH_NEW_DRUG, "expected_units": 1, "billed_units": 1, "finding": "", "direction": ""},
    ]


def test_no_external_resources(findings, expected, admins, summary):
    trend = pd.DataFrame({"audit_date": ["2026-11-01", "2026-11-02"], "findings": [3, 2],
                          "encounters_with_findings": [2, 2], "over_billed": [2, 1], "under_billed": [1, 1]})
    html = render(findings, expected, admins, summary, trend=trend)
    refs = re.findall(r"""\b(?:src|href|xlink:href|action|poster|data)\s*=\s*["']?([^"'\s>]*)""", html, re.I)
    # in-page anchors, and relative links to the files write_run_files always writes beside the report
    assert refs and all(r.startswith("#") or r in ALWAYS_WRITTEN for r in refs), refs
    lowered = html.lower()
    for bad in ("http://", "https://", "//cdn", "url(", "@import", "<link", "<img", "<iframe", "<script src",
                "fetch(", "xmlhttprequest", "import("):
        assert bad not in lowered
    assert lowered.count("<script") == 1 and lowered.count("<script>") == 1  # one inline script, nothing loaded


def test_no_patient_identifier(findings, expected, admins, summary):
    html = render(findings, expected, admins, summary)
    assert "P-000123" not in html
    assert "patient_id" not in html


def test_without_severity_or_dollars(findings, expected, admins, summary):
    html = render(findings, expected, admins, summary)
    assert "Dollar impact is not available" in html
    assert "over-billing first, then by number of findings" in html


def test_with_severity_and_dollars(findings, expected, admins, summary):
    f = findings.assign(severity=["low", "high"], dollar_impact=[120.0, -1234.5])
    html = render(f, expected, admins, summary, top_n=1)
    assert "Dollar impact is not available" not in html
    assert "-$1,234.50" in html and "$120.00" in html
    assert card(html, "dollar impact, over-billed") == "$120.00"
    # the high-severity encounter is drawn first, although it is under-billed
    assert html.count('class="timeline-bar"') == 2
    assert "cisplatin" in html
    # dollars as text (a findings.csv read with dtype=str) work too
    as_text = findings.assign(dollar_impact=["120", ""])
    assert "$120.00" in render(as_text, expected, admins, summary)


def test_rank_encounters_orders():
    f = pd.DataFrame({"encounter_id": ["A", "B", "B", "C"], "claim_id": "", "finding": ["k1", "k2", "k3", "k4"],
                      "direction": ["under_billed", "under_billed", "under_billed", "over_billed"]})
    assert list(rank_encounters(f)["encounter_id"]) == ["C", "B", "A"]
    usd = f.assign(dollar_impact=[500, 1, 1, 10])
    assert list(rank_encounters(usd)["encounter_id"]) == ["A", "C", "B"]
    sev = usd.assign(severity=[1, 1, 1, 3])
    assert list(rank_encounters(sev)["encounter_id"]) == ["C", "A", "B"]
    assert list(severity_rank(pd.Series(["high", "LOW", "2", None, "odd"]))) == [3.0, 1.0, 2.0, 0.0, 0.0]


def test_severity_rank_follows_the_vocabulary_order():
    """One order of severities: the vocabulary's, most urgent first, every one above an unknown word."""
    ranks = list(severity_rank(pd.Series([*SEVERITIES, "critical"])))
    assert ranks[:-1] == sorted(ranks[:-1], reverse=True) and len(set(ranks[:-1])) == len(SEVERITIES)
    assert min(ranks[:-1]) > ranks[-1] == 0.0


def test_empty_findings(expected, admins, summary):
    empty = pd.DataFrame(columns=["encounter_id", "claim_id", "hcpcs", "billed_units", "expected_units", "finding",
                                  "explanation", "direction", "setting", "evidence"])
    html = render(empty, expected, admins, summary)
    assert "No findings" in html
    assert card(html, "findings") == "0"
    assert 'class="timeline-bar"' not in html and 'class="chart-bar"' not in html
    assert rank_encounters(empty).empty


def test_trend_none_single_day_and_several(findings, expected, admins, summary):
    html = render(findings, expected, admins, summary, trend=None)
    assert "No trend" in html and 'class="trend-point"' not in html
    one = pd.DataFrame({"audit_date": ["2026-11-02"], "findings": [2], "encounters_with_findings": [2],
                        "over_billed": [1], "under_billed": [1]})
    html = render(findings, expected, admins, summary, trend=one)
    assert html.count('class="trend-point"') == 1 and "2026-11-02" in html
    many = trend_from_findings(findings.assign(audit_date=["2026-11-01", "2026-11-03"]),
                               days=["2026-11-01", "2026-11-02", "2026-11-03"])
    assert list(many["findings"]) == [1, 0, 1]
    assert list(many["over_billed"]) == [1, 0, 0]
    html = render(findings, expected, admins, summary, trend=many)
    assert html.count('class="trend-point"') == 3
    assert html.count('class="trend-bar"') == 6
    assert 'class="trend-line"' in html


def test_trend_dollars_column(findings):
    t = trend_from_findings(findings.assign(audit_date="2026-11-02", dollar_impact=[10.0, 5.5]))
    assert t.to_dict("records") == [{"audit_date": "2026-11-02", "findings": 2, "encounters_with_findings": 2,
                                     "over_billed": 1, "under_billed": 1, "dollar_impact": 15.5}]


def test_missing_stop_time_and_unknown_class(findings, expected, admins, summary):
    a = admins.copy()
    a.loc[a["admin_id"] == 2, "end"] = ""
    a.loc[a["admin_id"] == 1, "drug_class"] = "mystery"
    html = render(findings, expected, a, summary, top_n=1)
    assert "(no stop time)" in html
    assert html.count('data-class="unknown"') == 1
    assert html.count('class="timeline-bar"') == 3


def test_wall_time_of_strings_and_timestamps():
    s = pd.Series(["2026-11-02T05:15:00-0500", "2026-11-02 06:00-05:00", "", None])
    got = wall_time(s)
    assert list(got[:2]) == [pd.Timestamp("2026-11-02 05:15"), pd.Timestamp("2026-11-02 06:00")]
    assert got[2:].isna().all()
    aware = pd.Series(pd.to_datetime(["2026-11-02T10:15:00Z"])).dt.tz_convert("America/New_York")
    assert wall_time(aware).iloc[0] == pd.Timestamp("2026-11-02 05:15")


def test_render_run_dir_reads_text_columns(tmp_path, findings, expected, admins, summary):
    import json

    findings.drop(columns="patient_id").to_csv(tmp_path / "findings.csv", index=False)
    expected.to_csv(tmp_path / "expected_codes.csv", index=False)
    admins.drop(columns="patient_id").to_csv(tmp_path / "administrations.csv", index=False)
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    html = render_run_dir(tmp_path)
    assert html == render(findings, expected, admins, summary, run_files=())  # the folder has no other file
    assert 'href="worklist.csv"' not in html


@pytest.mark.parametrize("days", [1, 20, 30, 45, 400])
def test_timeline_chart_renders_stays_of_any_length(days):
    """A multi-week ICU stay once crashed the axis (no tick step fitted)."""
    from transforms.outputs.report_charts import tick_hours, timeline_chart

    start = pd.Timestamp("2026-11-02T08:00:00-05:00")
    admins = pd.DataFrame({
        "drug_label": ["heparin", "cefazolin"], "drug_class": ["therapeutic", "therapeutic"],
        "kind": ["infusion", "push"], "role": ["initial", "push"],
        "start": [start, start + pd.Timedelta(days=days)], "end": [start + pd.Timedelta(days=days), None],
        "minutes": [days * 1440, 0],
    })
    svg = timeline_chart(admins, label="E1")
    assert svg.startswith("<svg") and svg.count('class="timeline-tick"') <= 13
    assert tick_hours(days * 24 + 2) * 12 >= days * 24
