"""EHR MAR reports through mapping profiles (transforms/ingest/adapters/mapping.py).

Unit tests write tiny reports in ``tmp_path``; the question tests run the
Epic and Cerner fixtures of tests/fixtures/ehr through staging, GX
validation, the quarantine split and the audit, and compare with the
canonical MAR of tests/fixtures/question.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from expectations.runner import validate_extract
from tests.paths import REPO
from transforms.audit import run_audit
from transforms.ingest.adapters import PROVENANCE, mapping
from transforms.ingest.quarantine import split_quarantine
from transforms.ingest.readers import ExtractError, read_extract, stage_claims, stage_mar
from transforms.reference.drugs import load_drug_reference
from transforms.vocab import schemas
from transforms.vocab.policy import Policy

TZ = "America/New_York"
EHR = REPO / "tests" / "fixtures" / "ehr"
QUESTION = REPO / "tests" / "fixtures" / "question"
PROFILES = REPO / "transforms" / "ingest" / "adapters" / "profiles"
EPIC_HEADER = ["CSN", "MRN", "Order ID", "Medication", "Route", "MAR Action", "Action Time", "Rate", "Rate Unit"]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, *rows])
    return path


def epic_report(tmp_path: Path, *events: tuple[str, str], time: str = "11/02/2026 10:02",
                name: str = "report.csv") -> Path:
    """An Epic-style report with one row per (route word, action word)."""
    rows = [["E1", "P1", f"O{i}", "vancomycin 1 g IVPB", route, action, time, "", ""]
            for i, (route, action) in enumerate(events)]
    return write_csv(tmp_path / name, EPIC_HEADER, rows)


def epic_mapped(tmp_path: Path, *events: tuple[str, str], **kwargs) -> mapping.MappedExtract:
    return mapping.read_mapped([epic_report(tmp_path, *events, **kwargs)], mapping.load_profile("epic"))


def data_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


# --------------------------------------------------------------------------
# Shipped profiles and their rules
# --------------------------------------------------------------------------
def test_shipped_profiles_load():
    assert mapping.shipped_profiles() == ["cerner", "epic"]
    for name in mapping.shipped_profiles():
        profile = mapping.load_profile(name)
        assert profile.name == name
        assert set(schemas.MAR_REQUIRED) <= set(profile.columns)


@pytest.mark.parametrize(("word", "action"), [
    ("New Bag", "start"), ("Restarted", "resume"), ("Rate Change", "rate_change"),
    ("Rate Verify", "rate_change"), ("Paused", "pause"), ("Stopped", "stop"),
    ("Infusion Complete", "stop"), ("Given", "given"), ("  new   BAG ", "start"), ("GIVEN", "given"),
])
def test_epic_action_words(tmp_path, word, action):
    out = epic_mapped(tmp_path, ("Intravenous", word))
    assert out.unmapped.empty
    assert out.rows.loc[0, "action"] == action


@pytest.mark.parametrize(("word", "action"), [
    ("Begin Bag", "start"), ("Rate Change", "rate_change"), ("Infuse", "stop"), ("Bolus", "given"),
])
def test_cerner_action_words(tmp_path, word, action):
    header = ["FIN", "MRN", "Order Id", "Medication", "Route", "Event", "Event Date/Time", "Infusion Rate"]
    path = write_csv(tmp_path / "c.csv", header, [["E1", "P1", "O1", "heparin", "IV", word, "11/02/2026 10:02:00", "5"]])
    out = mapping.read_mapped([path], mapping.load_profile("cerner"))
    assert out.rows.loc[0, "action"] == action
    assert out.rows.loc[0, "route"] == ("iv_push" if action == "given" else "iv_infusion")
    assert out.rows.loc[0, "rate_unit"] == "mL/h"  # [defaults]


@pytest.mark.parametrize(("route", "action", "expected"), [
    ("Intravenous", "Given", "iv_push"),
    ("Intravenous", "New Bag", "iv_infusion"),
    ("Intravenous", "Stopped", "iv_infusion"),
    ("IV Push", "Given", "iv_push"),
    ("Subcutaneous", "Given", "sc_injection"),
    ("Subcutaneous", "New Bag", "sc_infusion"),
    ("intramuscular", "Given", "im_injection"),
])
def test_route_plus_action_rule(tmp_path, route, action, expected):
    out = epic_mapped(tmp_path, (route, action))
    assert out.rows["route"].tolist() == [expected]


@pytest.mark.parametrize(("word", "reason"), [
    ("Due", "scheduled dose not administered"),
    ("Not Given", "not given"),
    ("Held", "held"),
])
def test_excluded_actions_are_unmapped_with_reason(tmp_path, word, reason):
    out = epic_mapped(tmp_path, ("Intravenous", word))
    assert out.rows.empty
    row = out.unmapped.iloc[0]
    assert row["source"] == "mar" and row["column"] == "mar action"
    assert f"'{word}' excluded" in row["reason"] and reason in row["reason"]


def test_unknown_words_name_the_word_and_the_profile(tmp_path):
    out = epic_mapped(tmp_path, ("Intravenous", "Bag Scanned"), ("Intrathecal", "Given"), ("Oral", "Given"))
    reasons = out.unmapped.set_index("source_record")["reason"]
    assert "action 'Bag Scanned' is not in [actions] of mapping profile 'epic'" in reasons[1]
    assert "add it to the profile" in reasons[1]
    assert "route 'Intrathecal' is not in [routes]" in reasons[2] and "add it" in reasons[2]
    assert "route 'Oral' excluded: oral" in reasons[3]
    assert out.unmapped.set_index("source_record")["column"].tolist() == ["mar action", "route", "route"]


def test_route_table_without_entry_for_the_action(tmp_path):
    body = (PROFILES / "epic.toml").read_text("utf-8").replace(
        '"IV Push" = "iv_push"', '"IV Push" = { given = "iv_push" }')
    profile_path = tmp_path / "site.toml"
    profile_path.write_text(body, "utf-8")
    path = epic_report(tmp_path, ("IV Push", "New Bag"), ("IV Push", "Given"))
    out = mapping.read_mapped([path], mapping.load_profile(profile_path))
    assert out.rows["route"].tolist() == ["iv_push"]
    assert "has no entry for action 'start' nor 'default'" in out.unmapped.loc[0, "reason"]


def test_blank_action_is_left_for_validation(tmp_path):
    out = epic_mapped(tmp_path, ("Intravenous", ""))
    assert out.unmapped.empty and out.rows.loc[0, "action"] is None


# --------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------
def test_local_times_become_iso_wall_time_read_in_the_facility_zone(tmp_path):
    out = epic_mapped(tmp_path, ("Intravenous", "New Bag"), time="11/02/2026 10:02")
    assert out.rows.loc[0, "event_time"] == "2026-11-02T10:02:00"
    staged = stage_mar(out.rows, TZ)
    assert staged.loc[0, "event_time"] == pd.Timestamp("2026-11-02T15:02:00Z")


def test_fall_back_and_spring_forward_are_left_to_the_readers(tmp_path):
    path = epic_report(tmp_path, ("Intravenous", "New Bag"), ("Intravenous", "Stopped"))
    frame = pd.read_csv(path, dtype=str)
    frame["Action Time"] = ["11/01/2026 01:30", "03/08/2026 02:30"]
    frame.to_csv(path, index=False)
    staged = stage_mar(mapping.read_mapped([path], mapping.load_profile("epic")).rows, TZ)
    assert staged.loc[0, "event_time"] == pd.Timestamp("2026-11-01T05:30:00Z")  # first (EDT)
    assert bool(staged.loc[1, "event_time_nonexistent"])


def test_time_not_matching_the_format_is_unmapped_with_reason(tmp_path):
    out = epic_mapped(tmp_path, ("Intravenous", "New Bag"), time="2026-11-02 10:02")
    assert out.rows.empty
    assert out.unmapped.loc[0, "column"] == "action time"
    assert "does not match [time] format '%m/%d/%Y %H:%M' of mapping profile 'epic'" in out.unmapped.loc[0, "reason"]


def test_utc_and_iso_time_settings(tmp_path):
    body = (PROFILES / "epic.toml").read_text("utf-8").replace(
        'format = "%m/%d/%Y %H:%M"', 'format = "iso"').replace("local = true", "local = false")
    (tmp_path / "utc.toml").write_text(body, "utf-8")
    profile = mapping.load_profile(tmp_path / "utc.toml")
    path = epic_report(tmp_path, ("Intravenous", "New Bag"), ("Intravenous", "Stopped"), time="2026-11-02T15:02:00")
    frame = pd.read_csv(path, dtype=str)
    frame.loc[1, "Action Time"] = "2026-11-02T10:55:00-05:00"
    frame.to_csv(path, index=False)
    rows = mapping.read_mapped([path], profile).rows
    assert rows["event_time"].tolist() == ["2026-11-02T15:02:00+00:00", "2026-11-02T10:55:00-05:00"]
    staged = stage_mar(rows, TZ)
    assert staged["event_time"].tolist() == [pd.Timestamp("2026-11-02T15:02Z"), pd.Timestamp("2026-11-02T15:55Z")]


def test_parquet_report_with_datetime_column(tmp_path):
    frame = pd.read_csv(epic_report(tmp_path, ("Intravenous", "New Bag")), dtype=str)
    frame["Action Time"] = pd.to_datetime(["2026-11-02 10:02"])
    frame["Rate"] = [100.0]
    frame.to_parquet(tmp_path / "report.parquet")
    profile = mapping.load_profile("epic")
    assert mapping.profile_matches(tmp_path / "report.parquet", profile)
    rows = mapping.read_mapped([tmp_path / "report.parquet"], profile).rows
    assert rows.loc[0, "event_time"] == "2026-11-02T10:02:00"
    assert rows.loc[0, "rate"] == "100" and rows.loc[0, "source_file"] == "report.parquet"


# --------------------------------------------------------------------------
# Shape, provenance, reconciliation
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(p.name for p in EHR.glob("*.csv")))
def test_every_fixture_row_is_mapped_or_unmapped(name):
    path = EHR / name
    out = mapping.read_mapped([path], mapping.load_profile(name.split("_")[0]))
    n = data_rows(path)
    assert out.rows_in == n
    records = sorted([*out.rows["source_record"], *out.unmapped["source_record"]])
    assert records == list(range(1, n + 1))
    assert list(out.rows.columns) == [*schemas.MAR_COLUMNS, *PROVENANCE, schemas.SOURCE_ROW]
    assert list(out.unmapped.columns[:6]) == [*schemas.QUARANTINE_COLUMNS, *PROVENANCE]
    assert out.rows[schemas.SOURCE_ROW].tolist() == list(range(1, len(out.rows) + 1))
    assert out.unmapped["row"].tolist() == list(range(len(out.rows) + 1, n + 1))
    assert set(out.rows["source_file"]) == {name}
    assert out.format == name.split("_")[0] and out.kind == "mar"
    # Reasons name words and columns, never the patient or encounter.
    assert not out.unmapped["reason"].str.contains("P1|E1").any()


def test_several_files_are_numbered_in_input_order():
    paths = [EHR / "epic_three_piggybacks.csv", EHR / "epic_one_mixed_bag.csv"]
    out = mapping.read_mapped(paths, mapping.load_profile("epic"))
    assert out.rows_in == sum(data_rows(p) for p in paths)
    assert out.rows["source_row"].is_unique and out.rows["source_row"].tolist() == list(range(1, 13))
    assert out.rows["source_file"].tolist() == [paths[0].name] * 6 + [paths[1].name] * 6
    assert out.unmapped["row"].tolist() == list(range(13, 19))


def test_missing_required_report_column_names_file_column_and_profile(tmp_path):
    path = write_csv(tmp_path / "short.csv", [c for c in EPIC_HEADER if c != "MAR Action"],
                     [["E1", "P1", "O1", "x", "Intravenous", "11/02/2026 10:02", "", ""]])
    with pytest.raises(ExtractError) as err:
        mapping.read_mapped([path], mapping.load_profile("epic"))
    message = str(err.value)
    assert "short.csv" in message and "'MAR Action' (for action)" in message and "'epic'" in message
    assert "P1" not in message


def test_optional_mapped_column_absent_is_missing(tmp_path):
    out = epic_mapped(tmp_path, ("Intravenous", "New Bag"))  # no Bag ID, Site, Volume (mL)
    assert out.rows.loc[0, "infusate_id"] is None and out.rows.loc[0, "volume_ml"] is None
    assert out.rows.loc[0, "rate_unit"] == "mL/h"


def test_profile_matches_detects_the_vendor():
    epic, cerner = mapping.load_profile("epic"), mapping.load_profile("cerner")
    assert mapping.profile_matches(EHR / "epic_three_piggybacks.csv", epic)
    assert not mapping.profile_matches(EHR / "epic_three_piggybacks.csv", cerner)
    assert mapping.profile_matches(EHR / "cerner_one_mixed_bag.csv", cerner)
    assert not mapping.profile_matches(EHR / "cerner_one_mixed_bag.csv", epic)
    assert not mapping.profile_matches(QUESTION / "mar_three_piggybacks.csv", epic)
    assert not mapping.profile_matches(QUESTION / "README.md", epic)
    assert not mapping.profile_matches(QUESTION / "missing.csv", epic)


# --------------------------------------------------------------------------
# Profiles: user copies and errors
# --------------------------------------------------------------------------
def test_user_copied_profile_with_one_edited_word(tmp_path):
    body = (PROFILES / "epic.toml").read_text("utf-8").replace('"New Bag" = "start"', '"Hung" = "start"')
    (tmp_path / "my_site.toml").write_text(body, "utf-8")
    profile = mapping.load_profile(str(tmp_path / "my_site.toml"))
    out = mapping.read_mapped([epic_report(tmp_path, ("Intravenous", "Hung"), ("Intravenous", "New Bag"))], profile)
    assert out.format == "my_site"
    assert out.rows["action"].tolist() == ["start"]
    assert "action 'New Bag' is not in [actions] of mapping profile 'my_site'" in out.unmapped.loc[0, "reason"]


def bad_profile(tmp_path: Path, old: str, new: str) -> str:
    body = (PROFILES / "epic.toml").read_text("utf-8")
    assert old in body
    (tmp_path / "bad.toml").write_text(body.replace(old, new), "utf-8")
    with pytest.raises(mapping.ProfileError) as err:
        mapping.load_profile(tmp_path / "bad.toml")
    assert "bad.toml" in str(err.value)
    return str(err.value)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('rate = "Rate"\n', 'speed = "Rate"\n', "[columns] 'speed' is not a canonical MAR column"),
    ('encounter_id = "CSN"\n', "", "[columns] lacks required canonical column(s): encounter_id"),
    ('"Paused" = "pause"', '"Paused" = "hold"', "[actions] 'Paused': unknown action target 'hold'"),
    ('"IV Push" = "iv_push"', '"IV Push" = "push"', "[routes] 'IV Push': unknown route target 'push'"),
    ('{ given = "iv_push", default = "iv_infusion" }\n"IV"',
     '{ bolus = "iv_push", default = "iv_infusion" }\n"IV"', "'bolus' is neither a canonical action nor 'default'"),
    ('format = "%m/%d/%Y %H:%M"', 'format = "%m/%d %H:%M"', "[time] bad time format '%m/%d %H:%M'"),
    ('format = "%m/%d/%Y %H:%M"', 'format = "%m/%d/%Y %I:%M"', "bad time format"),
    ('format = "%m/%d/%Y %H:%M"', 'format = "%m/%d/%Y %Q"', "bad time format"),
    ('format = "%m/%d/%Y %H:%M"\n', "", "[time] format is required"),
    ('rate_unit = "mL/h"', 'action = "start"', "[defaults] 'action' cannot have a default"),
    ("[defaults]", "[default]", "unknown section [default]"),
    ('"Held" = { exclude', '"due" = { exclude', "'due': empty or listed twice"),
    ('"Due" = {', '"Due" = {{', "not valid TOML"),
])
def test_bad_profiles_give_clear_errors(tmp_path, old, new, expected):
    assert expected in bad_profile(tmp_path, old, new)


def test_all_problems_are_listed_at_once(tmp_path):
    body = (PROFILES / "epic.toml").read_text("utf-8")
    body = body.replace('"Paused" = "pause"', '"Paused" = "hold"').replace('rate = "Rate"\n', 'speed = "Rate"\n')
    (tmp_path / "two.toml").write_text(body, "utf-8")
    with pytest.raises(mapping.ProfileError, match="'speed'.*; .*'hold'"):
        mapping.load_profile(tmp_path / "two.toml")


def test_unknown_profile_name_or_missing_file():
    with pytest.raises(mapping.ProfileError, match="no shipped mapping profile 'meditech'.*cerner, epic"):
        mapping.load_profile("meditech")
    with pytest.raises(mapping.ProfileError, match="cannot read"):
        mapping.load_profile(Path("/nonexistent/site.toml"))


def test_format_with_offset_is_accepted(tmp_path):
    body = (PROFILES / "epic.toml").read_text("utf-8").replace(
        'format = "%m/%d/%Y %H:%M"', 'format = "%m/%d/%Y %H:%M%z"')
    (tmp_path / "tz.toml").write_text(body, "utf-8")
    rows = epic_mapped_with(tmp_path, mapping.load_profile(tmp_path / "tz.toml"), "11/02/2026 10:02-0500")
    assert rows.loc[0, "event_time"] == "2026-11-02T15:02:00+00:00"


def epic_mapped_with(tmp_path: Path, profile: mapping.MappingProfile, time: str) -> pd.DataFrame:
    return mapping.read_mapped([epic_report(tmp_path, ("Intravenous", "New Bag"), time=time)], profile).rows


# --------------------------------------------------------------------------
# The question, through the whole chain
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference():
    return load_drug_reference()


@pytest.fixture(scope="module")
def claims():
    raw = read_extract(QUESTION / "claims_96365_96368.csv", "claims")
    staged = stage_claims(raw)
    kept, quarantine = split_quarantine(staged, raw, validate_extract(staged, "claims").failures, "claims")
    assert quarantine.empty
    return kept


def audit(raw: pd.DataFrame, claims: pd.DataFrame, reference) -> tuple[dict, list]:
    """(expected units per code, findings) of a raw MAR frame through the whole chain."""
    staged = stage_mar(raw, TZ)
    kept, quarantine = split_quarantine(staged, raw, validate_extract(staged, "mar").failures, "mar")
    assert quarantine.empty
    result = run_audit(kept, claims, reference, Policy(), TZ)
    codes = result.expected_lines.groupby("hcpcs")["units"].sum().to_dict()
    findings = result.findings[["hcpcs", "billed_units", "expected_units", "finding"]].values.tolist()
    return codes, findings


@pytest.mark.parametrize("vendor", ["epic", "cerner"])
@pytest.mark.parametrize(("scenario", "codes", "findings"), [
    ("three_piggybacks", {"96365": 1, "96368": 1}, []),
    ("one_mixed_bag", {"96365": 1}, [["96368", 1, 0, "concurrent_mixed_bag"]]),
])
def test_the_question_through_a_vendor_report(vendor, scenario, codes, findings, claims, reference):
    mapped = mapping.read_mapped([EHR / f"{vendor}_{scenario}.csv"], mapping.load_profile(vendor))
    canonical = read_extract(QUESTION / f"mar_{scenario}.csv", "mar")
    assert len(mapped.rows) == len(canonical)
    assert audit(mapped.rows, claims, reference) == audit(canonical, claims, reference) == (codes, findings)


def test_visit_column_maps_to_visit_id(tmp_path):
    body = (PROFILES / "epic.toml").read_text("utf-8").replace(
        'encounter_id = "CSN"', 'encounter_id = "HAR"\nvisit_id = "CSN"')
    (tmp_path / "har.toml").write_text(body, "utf-8")
    path = write_csv(tmp_path / "har.csv", ["HAR", *EPIC_HEADER],
                     [["H1", "C7", "P1", "O1", "x", "Intravenous", "New Bag", "11/02/2026 10:02", "", ""]])
    rows = mapping.read_mapped([path], mapping.load_profile(tmp_path / "har.toml")).rows
    assert rows.loc[0, "encounter_id"] == "H1" and rows.loc[0, "visit_id"] == "C7"
    assert "visit_id" in stage_mar(rows, TZ).columns  # staged as contract column or kept extra
