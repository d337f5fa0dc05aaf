"""The worklist CSV is safe to open in a spreadsheet and ordered for action."""

import numpy as np
import pandas as pd

from transforms.outputs.worklist import WORKLIST_COLUMNS, neutralise_formulas, worklist, worklist_order


def test_formula_cells_are_neutralised_numbers_are_not():
    frame = pd.DataFrame({
        "explanation": ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tcmd", "plain", None],
        "dollar_impact": [-45.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })
    out = neutralise_formulas(frame)
    assert out["explanation"].tolist()[:6] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)", "'\tcmd",
                                               "plain"]
    assert pd.isna(out["explanation"].iloc[6])
    assert out["dollar_impact"].tolist() == frame["dollar_impact"].tolist()


def test_worklist_orders_by_severity_then_dollars(tmp_path):
    findings = pd.DataFrame({
        "encounter_id": ["E1", "E2", "E3"], "claim_id": ["C1", "=C2", "C3"], "hcpcs": ["96366", "96368", "96365"],
        "billed_units": [2, 2, 1], "expected_units": [1, 1, 1], "finding": ["a", "b", "c"],
        "explanation": ["x", "y", "z"], "direction": ["over_billed", "over_billed", "documentation"],
        "severity": ["medium", "high", "high"], "dollar_impact": [30.0, 10.0, None],
        "setting": ["facility"] * 3, "evidence": ["", "", ""],
    })
    w = worklist(findings)
    assert list(w.columns) == WORKLIST_COLUMNS
    assert w["encounter_id"].tolist() == ["E2", "E3", "E1"]
    assert w.loc[0, "claim_id"] == "'=C2"
    path = tmp_path / "worklist.csv"
    w.to_csv(path, index=False)
    assert "'=C2" in path.read_text()


def test_worklist_order_is_a_stable_sort_by_the_action_keys():
    f = pd.DataFrame({
        "severity": ["low", "high", "high", "high", None, "high"], "direction": ["under_billed", "under_billed",
                                                                               "over_billed", "over_billed",
                                                                               "over_billed", "over_billed"],
        "dollar_impact": [5.0, -20.0, 20.0, 20.0, 99.0, None], "encounter_id": ["E9", "E1", "E2", "E1", "E1", None],
        "hcpcs": ["A", "B", "B", "A", "A", "A"],
    }).reindex(columns=WORKLIST_COLUMNS)
    # high first; among them $20 (over before under, E1 before E2), then no dollars; then low, then none
    assert worklist_order(f).tolist() == [3, 2, 1, 5, 0, 4]
    assert worklist(f)["encounter_id"].tolist()[:3] == ["E1", "E2", "E1"]
    assert isinstance(worklist_order(f), np.ndarray)
