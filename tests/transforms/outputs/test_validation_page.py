"""The self-contained validation page (transforms.outputs.validation_page)."""

from __future__ import annotations

import json
import re

from transforms.outputs.validation_page import render_validation_page, write_validation_page


def _result(rule: str, column: str, reason: str, success: bool, rows: list[int] | None = None, checked: int = 10):
    outcome = {"element_count": checked, "unexpected_count": len(rows or [])}
    if rows:
        outcome["unexpected_index_column_names"] = ["source_row"]
        outcome["unexpected_index_list"] = [{"source_row": [r]} for r in rows]
    return {"success": success, "result": outcome,
            "expectation_config": {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column},
                                   "meta": {"column": column, "reason": reason, "rule": rule}}}


MAR = {"success": False, "suite_name": "mar_staged",
       "statistics": {"evaluated_expectations": 2, "unsuccessful_expectations": 1},
       "results": [_result("mar.route.vocabulary", "route", "route not in vocabulary", True),
                   _result("mar.encounter_id.not_null", "encounter_id", "encounter_id missing", False,
                           rows=[4, 9, 12, 15, 30, 31, 40])]}
CLAIMS = {"success": True, "suite_name": "claims_staged", "statistics": {"evaluated_expectations": 1},
          "results": [_result("claims.units.min", "units", "units less than 1", True)]}


def test_failed_rules_come_first_with_counts_and_example_rows():
    page = render_validation_page({"mar": MAR, "claims": CLAIMS}, "Validation of 2026-11-02")
    mar = page[page.index('id="mar"'):page.index('id="claims"')]
    assert mar.index("encounter_id missing") < mar.index("route not in vocabulary")
    assert "1 of 2 rules found rows to set aside" in mar
    assert "4, 9, 12, 15, 30" in mar and "31" not in mar.split("4, 9, 12, 15, 30")[1][:10]
    assert 'class="fail">failed' in mar and 'class="ok">passed' in mar
    assert "every rule passed" in page[page.index('id="claims"'):]


def test_the_page_works_offline():
    page = render_validation_page({"mar": MAR, "claims": CLAIMS})
    assert "<script" not in page and "@import" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "url(" not in page


def test_write_reads_the_runner_results_and_skips_an_empty_folder(tmp_path):
    assert write_validation_page(tmp_path) is None and not (tmp_path / "index.html").exists()
    for kind, results in (("mar", MAR), ("claims", CLAIMS)):
        (tmp_path / kind).mkdir()
        (tmp_path / kind / f"validation_{kind}.json").write_text(json.dumps(results))
    page = write_validation_page(tmp_path, "Validation")
    assert page == tmp_path / "index.html"
    assert "encounter_id missing" in page.read_text() and "units less than 1" in page.read_text()
