"""Tests of the seeded synthetic MAR / claim generator (transforms.synthetic.generator)."""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transforms.vocab import schemas
from transforms.vocab.codes import is_drug_admin_code
from transforms.synthetic import scenarios as ss
from transforms.synthetic.generator import (
    BAD_ROW_COLUMNS,
    ERROR_KEYS,
    TRUTH_COLUMNS,
    SyntheticExtracts,
    error_options,
    generate,
    write_extracts,
)

TZ = "America/New_York"
FLUID_PREFIXES = ("sodium chloride", "lactated ringer", "dextrose")


@pytest.fixture(scope="module")
def ex() -> SyntheticExtracts:
    return generate()


def _lines(s: str) -> dict[str, int]:
    return {c: int(u) for c, u in (p.split("x") for p in s.split(";") if p)}


def _billed_from_claims(claims: pd.DataFrame) -> pd.Series:
    adm = claims[claims["hcpcs"].map(is_drug_admin_code)]
    agg = adm.groupby(["encounter_id", "hcpcs"], as_index=False)["units"].sum().sort_values(["encounter_id", "hcpcs"])
    return agg.groupby("encounter_id").apply(
        lambda g: ";".join(f"{h}x{u}" for h, u in zip(g["hcpcs"], g["units"], strict=True)), include_groups=False
    )


def _enc(ex: SyntheticExtracts, prefix: str) -> pd.DataFrame:
    t = ex.truth
    return t[t["scenario"].str.startswith(prefix)]


# --- section 0 arithmetic --------------------------------------------------------
@pytest.mark.parametrize("t,units", [(16, 0), (90, 0), (91, 1), (150, 1), (151, 2), (312, 4)])
def test_addl_hours_boundaries(t: int, units: int) -> None:
    assert ss.addl_hours(t) == units


@pytest.mark.parametrize("h,units", [(0, 0), (30, 0), (31, 1), (90, 1), (91, 2), (175, 3), (510, 8)])
def test_secondary_hydration_boundaries(h: int, units: int) -> None:
    assert ss.secondary_hydration_units(h) == units


def test_covered_counts_union_once() -> None:
    assert ss.covered((0, 100), [(10, 30), (20, 40), (90, 120)]) == 40


# --- determinism and speed ---------------------------------------------------------
def test_same_seed_same_frames(ex: SyntheticExtracts) -> None:
    again = generate()
    pd.testing.assert_frame_equal(ex.mar, again.mar)
    pd.testing.assert_frame_equal(ex.claims, again.claims)
    pd.testing.assert_frame_equal(ex.truth, again.truth)


def test_different_seed_different_frames(ex: SyntheticExtracts) -> None:
    other = generate(seed=8)
    assert not ex.truth.equals(other.truth)
    assert not ex.mar["drug"].equals(other.mar["drug"]) or not ex.mar["event_time"].equals(other.mar["event_time"])


def test_default_size_generates_fast() -> None:
    t0 = time.perf_counter()
    generate(seed=123)
    assert time.perf_counter() - t0 < 2.0


# --- MAR shape and vocabularies ------------------------------------------------------
def test_mar_columns_and_vocabularies(ex: SyntheticExtracts) -> None:
    mar = ex.mar
    assert tuple(mar.columns) == schemas.MAR_COLUMNS
    assert set(mar["route"]) <= schemas.ROUTES
    assert set(mar["action"]) <= schemas.ACTIONS
    assert isinstance(mar["event_time"].dtype, pd.DatetimeTZDtype)
    assert str(mar["event_time"].dt.tz) == "UTC"
    assert (mar["event_time"].dt.second == 0).all()          # whole minutes
    for col in schemas.MAR_REQUIRED:
        assert mar[col].notna().all(), col
    assert mar["encounter_id"].str.fullmatch(r"E\d{10}").all()
    assert mar["patient_id"].str.fullmatch(r"MRN\d{6}").all()
    key = list(schemas.MAR_EVENT_KEY)
    assert not mar.duplicated(key).any()


def test_every_infusion_start_has_a_stop(ex: SyntheticExtracts) -> None:
    inf = ex.mar[ex.mar["route"].isin(["iv_infusion", "pump"])]
    counts = inf.groupby(["infusate_id", "drug"])["action"].value_counts().unstack(fill_value=0)
    assert (counts["start"] == 1).all()
    assert (counts["stop"] == 1).all()
    assert (counts.get("pause", 0) == counts.get("resume", 0)).all()
    first = inf.sort_values("event_time").groupby(["infusate_id", "drug"])["action"].first()
    last = inf.sort_values("event_time").groupby(["infusate_id", "drug"])["action"].last()
    assert (first == "start").all() and (last == "stop").all()


def test_pushes_and_injections_are_one_given(ex: SyntheticExtracts) -> None:
    one = ex.mar[ex.mar["route"].isin(["iv_push", "sc_injection", "im_injection"])]
    assert (one["action"] == "given").all()
    assert not one["infusate_id"].duplicated().any()
    assert one.loc[one["route"] != "iv_push", "access_site"].isna().all()


def test_mixed_bags_share_infusate_with_different_drugs(ex: SyntheticExtracts) -> None:
    bag_encs = _enc(ex, "ed_three_in_one_bag")["encounter_id"]
    assert len(bag_encs) > 0
    mar = ex.mar[ex.mar["encounter_id"].isin(bag_encs) & (ex.mar["route"] == "iv_infusion")]
    per_bag = mar.groupby("infusate_id")["drug"].nunique()
    assert (per_bag == 3).all()
    # components are charted together: identical start and stop times
    times = mar.groupby(["infusate_id", "action"])["event_time"].nunique()
    assert (times == 1).all()


def test_hydration_rates_and_kvo(ex: SyntheticExtracts) -> None:
    fl = ex.mar[ex.mar["drug"].str.lower().str.startswith(FLUID_PREFIXES) & ex.mar["rate"].notna()]
    kvo = fl["drug"].str.contains("250 mL")
    assert (fl.loc[~kvo, "rate"] >= 100).all()
    assert (fl.loc[kvo, "rate"] <= 30).all()
    assert kvo.any()


def test_infusion_centre_hours(ex: SyntheticExtracts) -> None:
    ic = ex.truth.loc[ex.truth["setting"] == "infusion_centre", "encounter_id"]
    mar = ex.mar[ex.mar["encounter_id"].isin(ic)]
    mar = mar[~((mar["route"] == "pump") & (mar["action"] == "stop"))]
    local = mar["event_time"].dt.tz_convert(TZ)
    minute = local.dt.hour * 60 + local.dt.minute
    assert minute.between(7 * 60 + 30, 18 * 60).all()
    pump_stop = ex.mar[(ex.mar["route"] == "pump") & (ex.mar["action"] == "stop")]
    pump_start = ex.mar[(ex.mar["route"] == "pump") & (ex.mar["action"] == "start")]
    assert len(pump_stop) == len(pump_start) > 0
    assert ((pump_stop["event_time"].to_numpy() - pump_start["event_time"].to_numpy())
            == np.timedelta64(46 * 60, "m")).all()


def test_some_ed_encounters_cross_midnight(ex: SyntheticExtracts) -> None:
    ed = ex.truth.loc[ex.truth["setting"] == "emergency", "encounter_id"]
    local_day = ex.mar[ex.mar["encounter_id"].isin(ed)].assign(
        d=lambda m: m["event_time"].dt.tz_convert(TZ).dt.date)
    assert (local_day.groupby("encounter_id")["d"].nunique() > 1).sum() >= 5


# --- claims -------------------------------------------------------------------------
def test_claims_shape(ex: SyntheticExtracts) -> None:
    c = ex.claims
    assert tuple(c.columns) == schemas.CLAIM_COLUMNS
    assert c["hcpcs"].str.fullmatch(schemas.HCPCS_PATTERN).all()
    assert (c["units"] >= 1).all()
    assert set(c["claim_type"]) == {"institutional"}
    assert set(c["bill_type"]) == {"0131"}
    assert set(c["claim_frequency"]) == {"1"}
    assert (c.groupby("encounter_id")["claim_id"].nunique() == 1).all()
    assert not c.duplicated(["claim_id", "line_number"]).any()
    admin = c["hcpcs"].map(is_drug_admin_code)
    assert set(c.loc[admin & c["hcpcs"].str.startswith("963"), "revenue_code"]) == {"0260"}
    # non-drug-administration lines the audit must ignore are present
    assert {"99284", "99285", "J2405"} <= set(c["hcpcs"])
    assert c.loc[~admin, "hcpcs"].str.match(r"^[JQS]").sum() > 100


def test_claims_agree_with_truth_billed_lines(ex: SyntheticExtracts) -> None:
    billed = _billed_from_claims(ex.claims).reindex(ex.truth["encounter_id"]).fillna("")
    assert (billed.to_numpy() == ex.truth["billed_lines"].to_numpy()).all()


# --- truth and injected errors ---------------------------------------------------------
def test_truth_shape(ex: SyntheticExtracts) -> None:
    t = ex.truth
    assert tuple(t.columns) == TRUTH_COLUMNS
    assert len(t) == 360 and t["encounter_id"].is_unique
    assert set(t["setting"]) == {"infusion_centre", "emergency"}
    assert set(t["encounter_id"]) == set(ex.mar["encounter_id"]) == set(ex.claims["encounter_id"])
    assert (t["injected_error"].fillna("-") == t["expected_findings"].fillna("-")).all()


def test_error_rate_and_every_key(ex: SyntheticExtracts) -> None:
    t = ex.truth
    inj = t["injected_error"].notna()
    assert abs(inj.mean() - 0.15) <= 0.01
    counts = t.loc[inj, "injected_error"].value_counts()
    assert set(counts.index) == set(ERROR_KEYS)
    assert counts.max() - counts.min() <= 2                  # spread evenly


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_key_for_other_seeds(seed: int) -> None:
    t = generate(seed=seed).truth
    assert set(t["injected_error"].dropna()) == set(ERROR_KEYS)


def test_billed_differs_exactly_for_injected(ex: SyntheticExtracts) -> None:
    t = ex.truth
    inj = t["injected_error"].notna()
    assert (t.loc[inj, "billed_lines"] != t.loc[inj, "correct_lines"]).all()
    assert (t.loc[~inj, "billed_lines"] == t.loc[~inj, "correct_lines"]).all()


def test_error_rate_zero_and_one() -> None:
    none = generate(days=1, error_rate=0.0).truth
    assert none["injected_error"].isna().all()
    most = generate(days=1, error_rate=1.0).truth
    assert most["injected_error"].notna().mean() > 0.5       # capped by eligibility


def test_injected_errors_look_like_their_key(ex: SyntheticExtracts) -> None:
    t = ex.truth[ex.truth["injected_error"].notna()]
    for _, r in t.iterrows():
        ok, bad = _lines(r["correct_lines"]), _lines(r["billed_lines"])
        key = r["injected_error"]
        if key == "concurrent_billed_twice":
            assert ok["96368"] == 1 and bad["96368"] == 2
        elif key == "concurrent_missed":
            assert ok["96368"] == 1 and "96368" not in bad
        elif key == "concurrent_mixed_bag":
            assert "96368" not in ok and bad["96368"] == 1
            mar = ex.mar[ex.mar["encounter_id"] == r["encounter_id"]]
            assert (mar.groupby("infusate_id")["drug"].nunique() >= 2).any()
        elif key == "sequential_same_drug":
            assert "96367" not in ok and bad.get("96367", 0) >= 1
            mar = ex.mar[(ex.mar["encounter_id"] == r["encounter_id"]) & (ex.mar["action"] == "start")]
            assert (mar.groupby("drug")["infusate_id"].nunique() >= 2).any()
        elif key == "hydration_during_drug":
            assert bad.get("96361", 0) > ok.get("96361", 0)
        elif key == "initial_wrong_family":
            initial = {"96360", "96365", "96374", "96409", "96413"}
            assert {c for c in ok if c in initial} != {c for c in bad if c in initial}
        else:
            diff = {c for c in set(ok) | set(bad) if ok.get(c, 0) != bad.get(c, 0)}
            assert len(diff) == 1 and diff <= {"96366", "96415", "96361"}
            (code,) = diff
            step = 1 if key == "additional_hours_overcounted" else -1
            assert bad.get(code, 0) - ok.get(code, 0) == step


def test_error_options_all_differ() -> None:
    rng = np.random.default_rng(0)
    for fn, _ in ss.ED_TEMPLATES + ss.IC_TEMPLATES:
        for _ in range(30):
            sc = fn(rng).normalised()
            for key, lines in error_options(rng, sc).items():
                assert key in ERROR_KEYS
                assert lines.render() != sc.correct.render()


# --- specific templates ------------------------------------------------------------------
def test_multilumen_three_piggybacks(ex: SyntheticExtracts) -> None:
    encs = _enc(ex, "ed_multilumen_three")
    assert len(encs) > 0
    assert encs["correct_lines"].str.fullmatch(r"96365x1(;96366x\d)?;96368x1").all()
    for e in encs["encounter_id"]:
        starts = ex.mar[(ex.mar["encounter_id"] == e) & (ex.mar["action"] == "start")]
        assert starts["drug"].nunique() == 3 and starts["infusate_id"].nunique() == 3
        sites = starts["access_site"].str.replace(r" lumen \d$", "", regex=True)
        assert sites.nunique() == 1 and starts["access_site"].nunique() == 3
        stops = ex.mar[(ex.mar["encounter_id"] == e) & (ex.mar["action"] == "stop")]
        # all three running together: the last start precedes the first stop by >= 16 min
        assert (stops["event_time"].min() - starts["event_time"].max()) >= pd.Timedelta(minutes=16)


def test_one_bag_never_concurrent(ex: SyntheticExtracts) -> None:
    encs = _enc(ex, "ed_three_in_one_bag")
    assert len(encs) > 0
    assert not encs["correct_lines"].str.contains("96368").any()
    assert encs["correct_lines"].str.contains("96365x1").all()


def test_ex1_overnight() -> None:
    sc = ss.ed_overnight_ex1(np.random.default_rng(0))
    assert sc.correct.render() == "96361x8;96374x1;96376x1"
    t = generate(seed=7, days=3).truth
    ex1 = t[t["scenario"] == "ed_overnight_obs:ex1"]
    assert len(ex1) > 0
    assert (ex1["correct_lines"] == "96361x8;96374x1;96376x1").all()


def test_ex1_charted_times(ex: SyntheticExtracts) -> None:
    e = _enc(ex, "ed_overnight_obs:ex1")["encounter_id"].iloc[0]
    mar = ex.mar[ex.mar["encounter_id"] == e]
    local = mar.assign(t=mar["event_time"].dt.tz_convert(TZ).dt.strftime("%H:%M"))
    fl = local[local["drug"].str.startswith("sodium chloride")]
    assert fl.loc[fl["action"] == "start", "t"].tolist() == ["22:00"]
    assert fl.loc[fl["action"] == "stop", "t"].tolist() == ["06:30"]
    assert local.loc[local["action"] == "given", "t"].tolist() == ["22:20", "02:00"]


def test_overnight_claim_lines_dated_by_service(ex: SyntheticExtracts) -> None:
    e = _enc(ex, "ed_overnight_obs:ex1")["encounter_id"].iloc[0]
    c = ex.claims[ex.claims["encounter_id"] == e].set_index("hcpcs")
    assert c.loc["96376", "service_date"] == c.loc["96374", "service_date"] + pd.Timedelta(days=1)


def test_boundary_overlaps() -> None:
    t = generate(seed=11, days=6).truth
    c16 = t[t["scenario"] == "ed_two_abx_concurrent:overlap_16"]
    lt16 = t[t["scenario"].str.startswith("ed_two_abx_sequential:overlap_lt16")]
    assert len(c16) and len(lt16)
    assert c16["correct_lines"].str.contains("96368x1").all()
    assert not lt16["correct_lines"].str.contains("96368").any()
    assert lt16["correct_lines"].str.contains("96367x1").all()


def test_same_drug_bags_add_minutes(ex: SyntheticExtracts) -> None:
    encs = _enc(ex, "ed_same_drug_two_bags")
    assert len(encs) > 0
    assert not encs["correct_lines"].str.contains("96367").any()
    assert encs["correct_lines"].str.contains(r"96366x\d").all()    # summed minutes >= 91


def test_pause_minutes_do_not_count(ex: SyntheticExtracts) -> None:
    encs = _enc(ex, "ed_pause_rate_change")["encounter_id"]
    assert len(encs) > 0
    for e in encs:
        inf = ex.mar[(ex.mar["encounter_id"] == e) & (ex.mar["route"] == "iv_infusion")].set_index("action")
        t = inf["event_time"]
        active = (t["stop"] - t["start"] - (t["resume"] - t["pause"])) // pd.Timedelta(minutes=1)
        lines = _lines(ex.truth.set_index("encounter_id").loc[e, "correct_lines"])
        assert lines.get("96366", 0) == ss.addl_hours(int(active))
        assert lines["96375"] == 1                         # diphenhydramine pushed during the pause
        assert (inf.loc["rate_change" if "rate_change" in inf.index else "resume", "rate"] > 0).all()


def test_short_hydration_bills_nothing(ex: SyntheticExtracts) -> None:
    short = _enc(ex, "ed_hydration_only:short")
    assert len(short) > 0
    assert (short["correct_lines"] == "").all()


def test_injections_and_pump(ex: SyntheticExtracts) -> None:
    leu = _enc(ex, "ic_injection:leuprolide")
    peg = _enc(ex, "ic_injection:pegfilgrastim")
    assert (leu["correct_lines"] == "96402x1").all() and (peg["correct_lines"] == "96372x1").all()
    folfox = _enc(ex, "ic_folfox:folfox")
    assert folfox["correct_lines"].str.contains("96416x1").all()
    assert folfox["correct_lines"].str.contains("96413x1").all()
    assert folfox["correct_lines"].str.contains("96368x1").all()


def test_templates_match_their_docstring_examples() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        rchop = ss.ic_rchop(rng)
        lines = rchop.correct.units
        assert lines["96411"] == 2 and lines["96375"] == 3 and lines["96367"] == 1
        assert lines["96413"] == 1
        assert ("96417" in lines) == rchop.name.startswith("ic_rchop:R-CHOP")
        bort = ss.ic_bortezomib(rng).correct.units
        assert bort["96409"] == 1 and "96368" not in bort


def test_only_listed_drugs() -> None:
    allowed = re.compile(
        r"cefTRIAXone|ceFAZolin|cefepime|vancomycin|piperacillin|levoFLOXacin|azithromycin|metroNIDAZOLE|ampicillin|"
        r"meropenem|aztreonam|ondansetron|metoclopramide|prochlorperazine|promethazine|famotidine|pantoprazole|"
        r"diphenhydrAMINE|dexAMETHasone|methylPREDNISolone|ketorolac|morphine|HYDROmorphone|fentaNYL|LORazepam|"
        r"acetaminophen|furosemide|iron sucrose|palonosetron|fosaprepitant|leucovorin|levoleucovorin|enoxaparin|"
        r"pegfilgrastim|labetalol|riTUXimab|cyclophosphamide|DOXOrubicin|vinCRIStine|oxaliplatin|fluorouracil|"
        r"CARBOplatin|PACLitaxel|gemcitabine|bortezomib|pembrolizumab|nivolumab|trastuzumab|bevacizumab|irinotecan|"
        r"DOCEtaxel|inFLIXimab|leuprolide|magnesium sulfate|potassium chloride|^sodium chloride|^lactated Ringer's|"
        r"^dextrose"
    )
    drugs = pd.concat([generate(seed=s, days=2).mar["drug"] for s in (1, 2)]).unique()
    assert all(allowed.search(d) for d in drugs)


# --- malformed rows -------------------------------------------------------------------------
def test_bad_rows_present_and_listed(ex: SyntheticExtracts) -> None:
    x = generate(bad_row_count=5)
    b = x.bad_rows
    assert tuple(b.columns) == BAD_ROW_COLUMNS and len(b) == 5
    mar_rows = b[b["source"] == "mar"]
    claim_rows = b[b["source"] == "claims"]
    m = x.mar.loc[mar_rows["row"].to_numpy()]
    c = x.claims.loc[claim_rows["row"].to_numpy()]
    assert (m["route"] == "nebulized").sum() == 1
    assert (m["event_time"] == "not a time").sum() == 1
    assert m["encounter_id"].isna().sum() == 1
    assert (c["hcpcs"] == "9636").sum() == 1 and (c["units"] == 0).sum() == 1
    # appended on encounters of their own: the generated rows are untouched
    assert len(x.mar) == len(ex.mar) + 3 and len(x.claims) == len(ex.claims) + 2
    pd.testing.assert_frame_equal(x.truth, ex.truth)
    pd.testing.assert_frame_equal(x.claims.iloc[: len(ex.claims)], ex.claims)
    head = x.mar.iloc[: len(ex.mar)].assign(event_time=lambda f: pd.to_datetime(f["event_time"], utc=True))
    pd.testing.assert_frame_equal(head, ex.mar, check_dtype=False)
    assert not set(b["encounter_id"].dropna()) & set(ex.truth["encounter_id"])


def test_no_bad_rows_by_default(ex: SyntheticExtracts) -> None:
    assert ex.bad_rows.empty and tuple(ex.bad_rows.columns) == BAD_ROW_COLUMNS


# --- writing ----------------------------------------------------------------------------------
def test_write_csv_round_trip(ex: SyntheticExtracts, tmp_path: Path) -> None:
    paths = write_extracts(ex, tmp_path)
    assert {p.name for p in paths.values()} == {"mar.csv", "claims.csv", "truth.csv", "bad_rows.csv"}
    mar = pd.read_csv(paths["mar"], dtype=str, keep_default_na=False)
    claims = pd.read_csv(paths["claims"], dtype=str, keep_default_na=False)
    truth = pd.read_csv(paths["truth"], dtype=str, keep_default_na=False)
    assert len(mar) == len(ex.mar) and len(claims) == len(ex.claims) and len(truth) == len(ex.truth)
    assert mar["event_time"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00[+-]\d\d:\d\d").all()
    assert set(mar["event_time"].str[-6:]) <= {"-05:00", "-04:00"}
    back = pd.to_datetime(mar["event_time"], utc=True, format="ISO8601")
    assert (back.to_numpy() == ex.mar["event_time"].to_numpy()).all()
    assert claims["revenue_code"].str.fullmatch(r"\d{4}").all() and set(claims["bill_type"]) == {"0131"}
    assert (truth["correct_lines"].to_numpy() == ex.truth["correct_lines"].to_numpy()).all()


def test_write_csv_with_bad_rows(tmp_path: Path) -> None:
    x = generate(days=1, bad_row_count=5)
    paths = write_extracts(x, tmp_path)
    mar = pd.read_csv(paths["mar"], dtype=str, keep_default_na=False)
    assert len(mar) == len(x.mar)
    assert (mar["event_time"] == "not a time").sum() == 1
    assert len(pd.read_csv(paths["bad_rows"])) == 5


def test_write_parquet_round_trip(ex: SyntheticExtracts, tmp_path: Path) -> None:
    paths = write_extracts(ex, tmp_path, "parquet")
    mar = pd.read_parquet(paths["mar"])
    claims = pd.read_parquet(paths["claims"])
    assert len(mar) == len(ex.mar) and len(claims) == len(ex.claims)
    assert str(mar["event_time"].dt.tz) == "UTC"
    assert (mar["event_time"].to_numpy() == ex.mar["event_time"].to_numpy()).all()
    assert paths["truth"].suffix == ".csv"


def test_facility_zone_and_dst() -> None:
    x = generate(start=date(2026, 10, 31), days=3, encounters_per_day=40, facility_tz="America/Chicago")
    local = x.mar["event_time"].dt.tz_convert("America/Chicago")
    assert local.dt.date.min() == date(2026, 10, 31)
    ex1 = x.truth[x.truth["scenario"] == "ed_overnight_obs:ex1"]
    assert (ex1["correct_lines"] == "96361x8;96374x1;96376x1").all()
