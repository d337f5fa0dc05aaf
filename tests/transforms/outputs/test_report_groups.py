"""The report draws its top encounters in one pass: each part equals the one-encounter form.

``timeline_charts`` of several encounters gives each encounter's
``timeline_chart``; ``codes_of`` gives each encounter's ``codes_for``;
``html_tables`` gives each group's ``html_table``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.outputs.report_charts import timeline_chart, timeline_charts
from transforms.outputs.report_html import codes_for, codes_of
from transforms.outputs.report_markup import html_table, html_tables

ADMINS = pd.DataFrame({
    "encounter_id": ["E2", "E1", "E2", "E1", "E3", "E2"],
    "drug_label": ["vancomycin", "cefepime", "sodium_chloride_0_9", "ondansetron", "x+y", None],
    "drug_class": ["therapeutic", "therapeutic", "hydration", "therapeutic", "chemo", None],
    "kind": ["infusion", "infusion", "hydration", "push", "infusion", "injection"],
    "role": ["initial", "sequential_infusion", "hydration_not_reportable", "push_initial", "", None],
    "route": ["iv"] * 6, "site": ["a", "b", "a", "b", "c", "a"],
    "start": ["2026-11-02T09:00:00-0500", "2026-11-02T08:00:00-0500", "2026-11-02T09:30:00-0500",
              "2026-11-02T08:10:00-0500", "", "2026-11-02T23:50:00-0500"],
    "end": ["2026-11-02T10:00:00-0500", "2026-11-02T08:40:00-0500", "", "", "", ""],
    "minutes": ["60", "40", "", "", "15", ""], "infusates": ["B1", "B2", "", "", "", ""],
})


def test_timeline_charts_equal_one_chart_each():
    ids = ["E1", "E2", "E3", "E9"]  # E9 has no administration: an empty axis
    groups = ADMINS["encounter_id"].map({e: i for i, e in enumerate(ids)}).to_numpy()
    charts = timeline_charts(ADMINS, groups, [f"Timeline {e}" for e in ids])
    for eid, chart in zip(ids, charts):
        one = ADMINS[ADMINS["encounter_id"] == eid]
        assert chart == timeline_chart(one, label=f"Timeline {eid}")
    assert charts[1].count('class="timeline-bar"') == 3


def test_codes_of_equals_codes_for_each():
    expected = pd.DataFrame({"encounter_id": ["E1", "E1", "E2", "E2", "E3"],
                             "hcpcs": ["96365", "96375", "96360", "96365", "96413"],
                             "units": ["1", "1", "1", "1", "2"]})
    findings = pd.DataFrame({"encounter_id": ["E2", "E1", "E2", "E2"], "hcpcs": ["96361", "", "96360", "96361"],
                             "billed_units": ["1", "0", "2", "1"], "expected_units": ["0", "0", "1", "0"],
                             "finding": ["hydration_during_drug", "doc_gap", "units_over", "again"],
                             "direction": ["over_billed", "documentation", "over_billed", "over_billed"]})
    ids = ["E2", "E3", "E1", "E4"]
    many = codes_of(ids, expected, findings)
    for i, eid in enumerate(ids):
        one = many[many["_g"] == i].drop(columns="_g").reset_index(drop=True)
        pd.testing.assert_frame_equal(one, codes_for(eid, expected, findings))


def test_html_tables_equal_one_table_each():
    frame = pd.DataFrame({"a": ["x", "<y>", "z", "w"], "b": ["1", "2", "3", "4"]})
    groups = np.array([1, 0, 1, 1])
    tables = html_tables(frame, groups, 3, ["A", "B"], numeric=["b"], css_class="codes")
    for g, table in enumerate(tables):
        assert table == html_table(frame[groups == g], ["A", "B"], numeric=["b"], css_class="codes")
