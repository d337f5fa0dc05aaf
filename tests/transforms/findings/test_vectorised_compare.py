"""The integer-coded comparison: per-encounter facts of the initial codes,
the key list of the detail sentences, and modifiers checked per distinct text."""

import pandas as pd

from transforms.findings import explanations
from transforms.findings.matching import differences, encounter_lines, match_lines
from transforms.findings.separate_visits import _has_visit_modifier


def _lines(expected: list[tuple[str, str, int]], billed: list[tuple[str, str, int]]) -> pd.DataFrame:
    exp = pd.DataFrame(expected, columns=["encounter_id", "hcpcs", "units"]).assign(evidence="ev")
    bil = pd.DataFrame(billed, columns=["encounter_id", "hcpcs", "units"]).assign(claim_id="C")
    return match_lines(exp, bil, pd.DataFrame({"encounter_id": ["E1"], "evidence": ["timeline"]}),
                       pd.Series({"E1": "C", "E2": "C"}))


def test_units_are_summed_per_encounter_and_code_and_unexpected_lines_get_the_timeline():
    lines = _lines([("E1", "96365", 1), ("E1", "96365", 1), ("E2", "96365", 1)],
                   [("E1", "96365", 1), ("E1", "96366", 2), ("E2", "96365", 1)])
    got = lines.set_index(["encounter_id", "hcpcs"])
    assert got.loc[("E1", "96365"), ["expected_units", "billed_units", "n_lines"]].tolist() == [2, 1, 1]
    assert got.loc[("E1", "96366"), ["expected_units", "billed_units"]].tolist() == [0, 2]
    assert got.loc[("E1", "96366"), "evidence"] == "timeline"
    assert got.loc[("E1", "96365"), "evidence"] == "ev"
    assert got.loc[("E2", "96365"), "evidence"] == ""  # equal units: no finding, no evidence needed
    assert set(differences(lines)["hcpcs"]) == {"96365", "96366"}


def test_initial_families_compare_the_sets_of_initial_codes():
    lines = _lines([("E1", "96365", 1), ("E2", "96365", 1), ("E2", "96366", 1)],
                   [("E1", "96413", 1), ("E2", "96365", 1), ("E2", "96366", 2)])
    diff = differences(lines)
    enc = encounter_lines(diff, lines, pd.DataFrame(columns=["encounter_id", "hcpcs"]),
                          pd.DataFrame({"encounter_id": ["E1"]}))
    by_enc = enc.assign(encounter_id=diff["encounter_id"]).drop_duplicates("encounter_id").set_index("encounter_id")
    assert not by_enc.loc["E1", "initial_same_family"] and by_enc.loc["E2", "initial_same_family"]
    assert by_enc.loc["E1", "expected_initial"] and not by_enc.loc["E1", "expected_initials_all_billed"]
    assert by_enc.loc["E2", "expected_initials_all_billed"]
    assert by_enc.loc["E1", "charted"] and not by_enc.loc["E2", "charted"]


def test_every_key_with_a_detail_sentence_is_listed():
    diff = pd.DataFrame(columns=["encounter_id", "hcpcs", "evidence", "billed_units"])
    f = pd.DataFrame({c: pd.Series(dtype=object) for c in (
        "hyd_credited", "diff_site_ev", "diff_site_text", "mixed_ev", "hyd_conc_ev", "hyd_conc_text", "drug_inf_ev",
        "short_infusion_ev", "same_drug_ev", "hyd_ev", "hyd_clock", "hyd_free", "fast_ev", "fast_text", "pump_ev",
        "sites", "all_ev")})
    assert tuple(explanations._specific(diff, f, 16)) == explanations._SPECIFIC_KEYS


def test_visit_modifiers_are_found_in_any_spelling():
    mods = pd.Series(["59", "xe,JW", "XU", None, "JW 59", "591"])
    assert _has_visit_modifier(mods).tolist() == [True, True, False, False, True, False]


def test_int_encounter_codes_match_as_the_ids_do():
    # The audit compares on int encounter codes: hashed as int64, with the same rows as the text ids.
    expected = [("E1", "96365", 1), ("E1", "96365", 1), ("E2", "96365", 1)]
    billed = [("E1", "96365", 1), ("E1", "96366", 2), ("E2", "96365", 1), ("E3", "96374", 1)]
    as_ids = _lines(expected, billed)
    code = {"E1": 10, "E2": 20, "E3": 30}
    exp = pd.DataFrame([(code[e], h, u) for e, h, u in expected], columns=["encounter_id", "hcpcs", "units"])
    bil = pd.DataFrame([(code[e], h, u) for e, h, u in billed], columns=["encounter_id", "hcpcs", "units"])
    as_codes = match_lines(exp.assign(evidence="ev"), bil.assign(claim_id="C"),
                           pd.DataFrame({"encounter_id": [10], "evidence": ["timeline"]}), pd.Series({10: "C"}))
    assert as_codes["encounter_id"].dtype == "int64"
    assert as_codes["encounter_id"].tolist() == [code[e] for e in as_ids["encounter_id"]] == [10, 20, 10, 30]
    pd.testing.assert_frame_equal(as_codes.drop(columns="encounter_id"), as_ids.drop(columns="encounter_id"))


def test_summaries_list_each_encounters_codes_in_code_order():
    lines = pd.DataFrame({"encounter_id": ["E2", "E1", "E1", "E2", "E1"],
                          "hcpcs": ["96368", "96374", "96365", "96365", "96368"],
                          "units": [1, 2, 1, 3, 1]})
    got = explanations._summary(lines, "units")
    assert got.to_dict() == {"E1": "96365x1, 96368x1, 96374x2", "E2": "96365x3, 96368x1"}
    assert explanations._summary(lines.iloc[:0], "units").empty


def test_rows_gives_a_column_of_the_selected_rows_as_the_filtered_frame_does():
    frame = pd.DataFrame({"ev": ["a", "b", "c"], "n": [1, 2, 3]}, index=[10, 20, 30])
    at = pd.Series([True, False, True]).to_numpy()
    rows = explanations._Rows(frame, at)
    assert rows["ev"].equals(frame[at]["ev"])
    assert rows["n"].index.tolist() == [10, 30] and rows["n"].tolist() == [1, 3]
