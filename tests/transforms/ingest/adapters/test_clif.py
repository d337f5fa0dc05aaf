"""The CLIF adapter (transforms/ingest/adapters/clif.py) and the ``infusion-audit clif`` command.

Unit tests build tiny CLIF frames by hand. The ``real_data`` tests run the
whole chain (adapter, staging, GX validation, coding engine) on the MIMIC-IV
demo in ../shared/data/clif_demo (or $INFUSION_AUDIT_CLIF_DIR) and FAIL, not
skip, when that folder is missing: CI always has ../shared beside the repo.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from expectations.runner import validate_extract
from flows.cli import main
from tests.paths import CLIF_DIR
from transforms.ingest.adapters import clif
from transforms.vocab import schemas
from transforms.vocab.codes import (
    CHEMO_INITIAL,
    CHEMO_PUSH,
    CONCURRENT,
    HYDRATION_INITIAL,
    INJECTION,
    THER_HOUR,
    THER_INITIAL,
    THER_PUSH,
    THER_PUSH_NEW_DRUG,
    THER_SEQUENTIAL,
    is_drug_admin_code,
)
from transforms.ingest.quarantine import split_quarantine
from transforms.ingest.readers import ExtractError, stage_mar

# Initial services of the IV families (no subcutaneous infusion in CLIF).
INITIAL_CODES = {HYDRATION_INITIAL, THER_INITIAL, THER_PUSH, CHEMO_PUSH, CHEMO_INITIAL}
BILLABLE_ROLES = {"initial", "sequential", "concurrent", "push", "repeat_push", "injection",
                  "hydration", "pump", "sc_infusion"}

DRIP = "01-Drips; 02-Fluids (Crystalloids); Main order parameter; Continuous Med; Medications"
DRIP_MIX = "01-Drips; 02-Fluids (Crystalloids); Mixed solution; Continuous Med; Fluids/Intake"
FLUID = "02-Fluids (Crystalloids); Additive (Crystalloid); Main order parameter; Continuous IV; Fluids/Intake"
ADDITIVE = "02-Fluids (Crystalloids); Additive (Crystalloid); Additives Ampoule; Continuous IV; Medications"
ABX = "08-Antibiotics (IV); 02-Fluids (Crystalloids); Main order parameter; Drug Push; Antibiotics"
ABX_MIX = "08-Antibiotics (IV); 02-Fluids (Crystalloids); Mixed solution; Drug Push; Fluids/Intake"
MED_BOLUS = "05-Med Bolus; Main order parameter; Drug Push; Medications"
FLUID_BOLUS = "03-IV Fluid Bolus; Main order parameter; Bolus; Fluids/Intake"
PROPHY_IV = "10-Prophylaxis (IV); 02-Fluids (Crystalloids); Main order parameter; Drug Push; Medications"
INSULIN_SC = "06-Insulin (Non IV); Main order parameter; Drug Push; Medications"
PROPHY_NON_IV = "11-Prophylaxis (Non IV); Main order parameter; Drug Push; Medications"
ABX_PO = "09-Antibiotics (Non IV); Main order parameter; Non Iv Meds; Antibiotics"


# --------------------------------------------------------------------------
# Tiny CLIF frames
# --------------------------------------------------------------------------
def _t(hhmm: str, day: str = "2140-10-05") -> pd.Timestamp:
    return pd.Timestamp(f"{day} {hhmm}", tz="UTC")


def cont(time_: str, action: str, name: str = "Norepinephrine", *, order: str = "O1", hosp: str = "H1",
         dose: float = 5.0, unit: str = "mcg/min", route_name: str = DRIP, route: str = "iv",
         category: str | None = None) -> dict:
    """One clif_medication_admin_continuous row."""
    return {
        "hospitalization_id": hosp, "med_order_id": order, "med_name": name,
        "med_category": name.lower(), "admin_dttm": _t(time_), "mar_action_name": action,
        "mar_action_category": category or "start", "med_dose": dose, "med_dose_unit": unit,
        "med_group": "vasoactives", "med_route_name": route_name, "med_route_category": route,
    }


def inter(time_: str, name: str, route_name: str, *, route: str = "iv", order: str = "I1", hosp: str = "H1",
          dose: float = 1.0, unit: str = "dose", action: str = "FinishedRunning",
          category: str = "given") -> dict:
    """One clif_medication_admin_intermittent row."""
    return {
        "hospitalization_id": hosp, "med_order_id": order, "med_name": name,
        "med_category": name.lower(), "admin_dttm": _t(time_), "mar_action_name": action,
        "mar_action_category": category, "med_dose": dose, "med_dose_unit": unit,
        "med_route_name": route_name, "med_route_category": route, "med_group": None,
    }


def frame(rows: list[dict], columns: tuple[str, ...] = clif.MED_COLUMNS) -> pd.DataFrame:
    """CLIF dtypes: object ids, UTC timestamps, float32 doses."""
    if not rows:
        out = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
        out["admin_dttm"] = pd.Series([], dtype="datetime64[us, UTC]")
        out["med_dose"] = pd.Series([], dtype="float32")
        return out
    out = pd.DataFrame(rows)[list(columns)]
    out["admin_dttm"] = out["admin_dttm"].astype("datetime64[us, UTC]")
    out["med_dose"] = out["med_dose"].astype("float32")
    return out


def hospitalization(*pairs: tuple[str, str]) -> pd.DataFrame:
    pairs = pairs or (("H1", "P1"),)
    return pd.DataFrame(
        {"patient_id": [p for _, p in pairs], "hospitalization_id": [h for h, _ in pairs]}, dtype="string"
    )


def mapped(c: list[dict], i: list[dict] | None = None, hosp: pd.DataFrame | None = None) -> clif.ClifMar:
    return clif.clif_to_mar(frame(c), frame(i or []), hosp if hosp is not None else hospitalization())


def validated(m: clif.ClifMar) -> tuple[pd.DataFrame, pd.DataFrame]:
    staged = stage_mar(m.mar, "UTC")
    outcome = validate_extract(staged, "mar")
    return split_quarantine(staged, m.mar, outcome.failures, "mar")


# --------------------------------------------------------------------------
# Continuous actions
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "label,action",
    [
        ("[Started]", "start"),
        ("[Restarted]", "resume"),
        ("ChangeDose/Rate", "rate_change"),
        ("Paused", "pause"),
        ("Stopped", "stop"),
        ("FinishedRunning", "stop"),
        ("Paused, [Restarted]", "resume"),
        ("[Started Bolus]", "rate_change"),
        ("ChangeDose/Rate, [Started Bolus]", "rate_change"),
        ("[Finished Bolus]", "rate_change"),
        ("[Finished Bolus], [Restarted]", "resume"),
    ],
)
def test_each_continuous_label_maps(label: str, action: str) -> None:
    m = mapped([cont("10:00", label)])
    assert m.unmapped.empty
    row = m.mar.iloc[0]
    assert (row["route"], row["action"]) == ("iv_infusion", action)
    assert row["rate"] == 5.0 and row["rate_unit"] == "mcg/min"
    assert pd.isna(row["dose"]) and row["dose_unit"] is None


def test_label_table_is_the_documented_one() -> None:
    """Every continuous label of the MIMIC demo has an explicit entry."""
    demo_labels = {"ChangeDose/Rate", "ChangeDose/Rate, [Started Bolus]", "FinishedRunning", "Paused",
                   "Paused, [Restarted]", "Stopped", "[Finished Bolus]", "[Finished Bolus], [Restarted]",
                   "[Restarted]", "[Started Bolus]", "[Started]"}
    assert set(clif.CONTINUOUS_ACTIONS) == demo_labels
    assert set(clif.CONTINUOUS_ACTIONS.values()) <= schemas.ACTIONS


def test_unknown_label_falls_back_on_category_or_is_unmapped() -> None:
    m = mapped([
        cont("10:00", "Rate Titrated", category="dose_change"),
        cont("10:05", "Verified", category="verify"),
        cont("10:10", "Tube feed", route="enteral", route_name="Nutrition"),
    ])
    assert m.mar["action"].tolist() == ["rate_change"]
    assert m.unmapped["row"].tolist() == [2, 3]
    assert m.unmapped["column"].tolist() == ["mar_action_name", "med_route_category"]
    assert m.unmapped["reason"].tolist() == [
        "continuous action 'Verified' (category 'verify') has no canonical MAR action",
        "route enteral is not a drug-administration route",
    ]


def test_rate_unit_kept_and_float32_dose_exact() -> None:
    m = mapped([cont("10:00", "[Started]", "NaCl 0.9%", dose=np.float32(1.021622), unit="mL/hour")])
    assert m.mar.loc[0, "rate_unit"] == "mL/hour"
    assert m.mar.loc[0, "rate"] == 1.021622
    assert m.mar["rate"].dtype == np.float64


# --------------------------------------------------------------------------
# Mixed bags, intermittent routes
# --------------------------------------------------------------------------
def test_mixed_bag_components_share_infusate() -> None:
    """Main order parameter and Mixed solution of one order are one bag."""
    c = [
        cont("10:00", "[Started]", "Norepinephrine", order="B1", route_name=DRIP),
        cont("10:00", "[Started]", "NaCl 0.9%", order="B1", dose=20, unit="mL/hour", route_name=DRIP_MIX),
        cont("11:30", "FinishedRunning", "Norepinephrine", order="B1", dose=0, route_name=DRIP),
        cont("11:30", "FinishedRunning", "NaCl 0.9%", order="B1", dose=0, unit="mL/hour", route_name=DRIP_MIX),
    ]
    m = mapped(c)
    assert m.mar["infusate_id"].unique().tolist() == ["B1"]
    assert m.mar["order_id"].unique().tolist() == ["B1"]
    kept, quarantine = validated(m)
    assert quarantine.empty
    from flows.settings import Settings
    from transforms.audit import run_audit
    from transforms.reference.drugs import load_drug_reference

    result = run_audit(kept, clif.empty_claims(), load_drug_reference(), Settings().policy, "UTC")
    admins = result.administrations
    assert len(admins) == 1
    assert admins.loc[0, "n_components"] == 2 and admins.loc[0, "minutes"] == 90
    assert set(result.expected_lines["hcpcs"]) == {THER_INITIAL}


@pytest.mark.parametrize(
    "row,route,action",
    [
        (inter("09:00", "Cefepime", ABX), "iv_infusion", "given"),
        (inter("09:00", "Dextrose 5%", ABX_MIX, dose=50, unit="mL"), "iv_infusion", "given"),
        (inter("09:00", "Fentanyl", MED_BOLUS, dose=50, unit="mcg"), "iv_push", "given"),
        (inter("09:00", "NaCl 0.9%", FLUID_BOLUS, dose=500, unit="mL"), "iv_infusion", "given"),
        (inter("09:00", "Magnesium Sulfate", ADDITIVE, dose=2, unit="grams"), "iv_infusion", "given"),
        (inter("09:00", "Pantoprazole (Protonix)", PROPHY_IV), "iv_push", "given"),
        (inter("09:00", "Midazolam (Versed)", DRIP, dose=2, unit="mg", action="Bolus", category="bolus"),
         "iv_push", "given"),
        (inter("09:00", "Insulin - Humalog", INSULIN_SC, route="im", dose=4, unit="units"), "sc_injection", "given"),
        (inter("09:00", "Heparin Sodium (Prophylaxis)", PROPHY_NON_IV, route="im"), "sc_injection", "given"),
        (inter("09:00", "Haloperidol", "Non Iv Meds; Main order parameter", route="im", dose=5, unit="mg"),
         "im_injection", "given"),
        (inter("09:00", "Octreotide", "Non IV", route="sc", dose=50, unit="mcg"), "sc_injection", "given"),
    ],
)
def test_intermittent_routes(row: dict, route: str, action: str) -> None:
    m = mapped([], [row])
    assert m.unmapped.empty
    got = m.mar.iloc[0]
    assert (got["route"], got["action"]) == (route, action)
    assert got["dose"] == row["med_dose"] and got["dose_unit"] == row["med_dose_unit"]
    assert pd.isna(got["rate"]) and got["rate_unit"] is None
    if route == "iv_infusion" and row["med_dose_unit"] == "mL":
        assert got["volume_ml"] == row["med_dose"]
    else:
        assert pd.isna(got["volume_ml"])


def test_additive_of_a_continuous_bag_starts_with_it() -> None:
    """Magnesium charted in the intermittent table at the [Started] of its
    NaCl carrier is a component of that bag, not a separate piggy-back."""
    c = [cont("10:00", "[Started]", "NaCl 0.9%", order="M1", dose=50, unit="mL/hour", route_name=FLUID),
         cont("11:00", "FinishedRunning", "NaCl 0.9%", order="M1", dose=0, unit="mL/hour", route_name=FLUID)]
    i = [inter("10:00", "Magnesium Sulfate", ADDITIVE, order="M1", dose=2, unit="grams")]
    m = mapped(c, i)
    add = m.mar[m.mar["source"] == "intermittent"].iloc[0]
    assert (add["route"], add["action"], add["infusate_id"]) == ("iv_infusion", "start", "M1")


def test_enteral_is_unmapped_with_reason_and_original_values() -> None:
    m = mapped([cont("08:00", "[Started]")], [inter("09:00", "Vancomycin", ABX_PO, route="enteral")])
    assert m.counts == {"rows_in": 2, "rows_continuous": 1, "rows_intermittent": 1,
                        "rows_mapped": 1, "rows_unmapped": 1}
    u = m.unmapped.iloc[0]
    assert (u["source"], u["row"], u["column"]) == ("mar", 2, "med_route_category")
    assert u["reason"] == "route enteral is not a drug-administration route"
    assert u[clif.TABLE_COLUMN] == "intermittent"
    assert u["med_name"] == "Vancomycin" and u["hospitalization_id"] == "H1"
    assert u["admin_dttm"] == "2140-10-05T09:00:00+00:00"
    assert list(m.unmapped.columns[:4]) == list(schemas.QUARANTINE_COLUMNS)


def test_not_given_dose_is_unmapped() -> None:
    m = mapped([], [inter("09:00", "Cefepime", ABX, action="Not Given", category="not_given")])
    assert m.mar.empty
    assert m.unmapped.loc[0, "reason"] == "intermittent action 'Not Given' (category 'not_given') is not a given dose"


# --------------------------------------------------------------------------
# Row accounting, identifiers, times
# --------------------------------------------------------------------------
def test_reconcile_and_source_rows_continuous_first() -> None:
    c = [cont("10:00", "[Started]"), cont("10:30", "Bogus", category="other"), cont("11:00", "Stopped")]
    i = [inter("09:00", "Cefepime", ABX), inter("09:30", "Vancomycin", ABX_PO, route="enteral")]
    m = mapped(c, i)
    assert m.counts["rows_in"] == 5 == m.counts["rows_mapped"] + m.counts["rows_unmapped"]
    assert m.mar["source_row"].tolist() == [1, 3, 4]
    assert m.mar["source"].tolist() == ["continuous", "continuous", "intermittent"]
    assert m.unmapped["row"].tolist() == [2, 5]
    assert sorted([*m.mar["source_row"], *m.unmapped["row"]]) == [1, 2, 3, 4, 5]
    assert list(m.mar.columns) == [*schemas.MAR_COLUMNS, "source_row", "source"]


def test_ids_patient_and_event_time() -> None:
    hosp = hospitalization(("H1", "P9"))
    m = mapped([cont("10:00", "[Started]", hosp="H1"), cont("10:00", "[Started]", hosp="H2", order="O2")], hosp=hosp)
    assert m.mar["encounter_id"].tolist() == ["H1", "H2"]
    assert m.mar["patient_id"].tolist() == ["P9", None]
    assert isinstance(m.mar["event_time"].dtype, pd.DatetimeTZDtype)
    staged = stage_mar(m.mar, "America/New_York")
    assert staged.loc[0, "event_time"] == pd.Timestamp("2140-10-05 10:00", tz="UTC")
    kept, quarantine = validated(m)
    assert kept["encounter_id"].tolist() == ["H1"]
    assert quarantine["reason"].tolist() == ["patient_id missing"]


def test_exact_duplicates_are_left_to_validation() -> None:
    """Dextrose listed twice (two med_category values) -> 'duplicate of row N'."""
    a = cont("10:00", "[Started]", "Dextrose 5%", dose=10, unit="mL/hour", route_name=DRIP_MIX)
    b = dict(a, med_category="dextrose_in_water_d5w")
    m = mapped([cont("10:00", "[Started]"), a, b])
    assert m.unmapped.empty and len(m.mar) == 3
    kept, quarantine = validated(m)
    assert kept["source_row"].tolist() == [1, 2]
    assert quarantine["row"].tolist() == [3]
    assert quarantine.loc[0, "reason"].startswith("duplicate of row 2 ")
    combined = clif.combine_quarantine(m.unmapped, quarantine, clif.originals(frame([cont("10:00", "[Started]"), a, b]), frame([])))
    assert combined.loc[0, "med_category"] == "dextrose_in_water_d5w"


def test_limit_encounters() -> None:
    c = frame([cont("10:00", "[Started]", hosp="H2"), cont("10:00", "[Started]", hosp="H1")])
    i = frame([inter("09:00", "Cefepime", ABX, hosp="H3")])
    c2, i2 = clif.limit_encounters(c, i, 2)
    assert c2["hospitalization_id"].tolist() == ["H2", "H1"] and i2.empty


def test_read_clif_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match="clif_medication_admin_continuous.parquet"):
        clif.read_clif(tmp_path)
    with pytest.raises(ExtractError, match="CLIF folder not found"):
        clif.read_clif(tmp_path / "nowhere")


# --------------------------------------------------------------------------
# The command on tiny files
# --------------------------------------------------------------------------
def _write_tables(folder: Path, c: list[dict], i: list[dict], hosp: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame(c).to_parquet(folder / clif.CLIF_FILES["continuous"])
    frame(i).to_parquet(folder / clif.CLIF_FILES["intermittent"])
    hosp.to_parquet(folder / clif.CLIF_FILES["hospitalization"])
    pd.DataFrame({"hospitalization_id": ["H1"], "location_category": ["ed"]}).to_parquet(
        folder / clif.CLIF_FILES["adt"])


def test_command_on_tiny_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = [
        cont("10:00", "[Started]", "Norepinephrine", order="B1"),
        cont("10:00", "[Started]", "NaCl 0.9%", order="B1", dose=20, unit="mL/hour", route_name=DRIP_MIX),
        cont("12:00", "FinishedRunning", "Norepinephrine", order="B1", dose=0),
        cont("12:00", "FinishedRunning", "NaCl 0.9%", order="B1", dose=0, unit="mL/hour", route_name=DRIP_MIX),
        cont("12:00", "FinishedRunning", "NaCl 0.9%", order="B1", dose=0, unit="mL/hour", route_name=DRIP_MIX),
        cont("13:00", "[Started]", "Zorblamab", order="Z1", dose=10, unit="mg/hour"),
        cont("14:00", "Stopped", "Zorblamab", order="Z1", dose=0, unit="mg/hour"),
    ]
    i = [
        inter("10:30", "Fentanyl", MED_BOLUS, order="F1", dose=50, unit="mcg"),
        inter("11:30", "Vancomycin", ABX_PO, route="enteral", order="V1"),
        inter("15:00", "Heparin Sodium (Prophylaxis)", PROPHY_NON_IV, route="im", order="HP"),
    ]
    folder = tmp_path / "clif"
    _write_tables(folder, c, i, hospitalization(("H1", "P1")))
    out = tmp_path / "out"
    assert main(["clif", "--dir", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "clif_summary.json").read_text())
    rows = summary["rows"]
    assert (rows["rows_in"], rows["rows_kept"], rows["rows_quarantined"], rows["rows_unmapped"]) == (10, 8, 1, 1)
    q = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    assert list(q.columns[:5]) == [*schemas.QUARANTINE_COLUMNS, clif.TABLE_COLUMN]
    assert q["row"].tolist() == ["5", "9"] and (q["reason"] != "").all()
    expected = pd.read_csv(out / "expected_codes.csv", dtype=str)
    assert sorted(expected["hcpcs"]) == sorted([THER_INITIAL, THER_HOUR, INJECTION, THER_PUSH_NEW_DRUG])
    assert summary["unknown_drugs"] == {"zorblamab": 1}  # the engine folds case
    assert "zorblamab" in printed and THER_INITIAL in printed and "R-A2" in printed
    assert "P1" not in printed and "H1" not in printed
    for name in ("expected_codes.csv", "administrations.csv", "quarantine.csv", "findings.csv"):
        assert (out / name).is_file()


def test_command_fails_cleanly_on_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clif", "--dir", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "CLIF folder not found" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------
# Real data: ../shared/data/clif_demo
# --------------------------------------------------------------------------
def _require_clif_dir() -> Path:
    missing = [f for f in clif.CLIF_FILES.values() if not (CLIF_DIR / f).is_file()]
    if missing:
        pytest.fail(
            f"CLIF demo data not found: {CLIF_DIR} lacks {', '.join(missing)}. Put ../shared beside the "
            "repository or set INFUSION_AUDIT_CLIF_DIR to the folder with the clif_*.parquet tables."
        )
    return CLIF_DIR


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = _require_clif_dir()
    out = tmp_path_factory.mktemp("clif_real")
    stdout = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(stdout):
        code = main(["clif", "--dir", str(folder), "--out", str(out)])
    seconds = time.perf_counter() - t0
    tables = clif.read_clif(folder)
    m = clif.clif_to_mar(tables["continuous"], tables["intermittent"], tables["hospitalization"])
    read = {"dtype": str, "keep_default_na": False}
    return {
        "code": code,
        "seconds": seconds,
        "stdout": stdout.getvalue(),
        "summary": json.loads((out / "clif_summary.json").read_text()),
        "expected": pd.read_csv(out / "expected_codes.csv", **read),
        "admins": pd.read_csv(out / "administrations.csv", **read),
        "quarantine": pd.read_csv(out / "quarantine.csv", **read),
        "findings": pd.read_csv(out / "findings.csv", **read),
        "mapped": m,
        "tables": tables,
    }


@pytest.mark.real_data
def test_real_runs_fast_and_reconciles(real: dict) -> None:
    assert real["code"] == 0
    assert real["seconds"] < 60, f"CLIF demo took {real['seconds']:.1f} s"
    rows = real["summary"]["rows"]
    assert rows["rows_in"] == 14190 + 6340 == rows["rows_continuous"] + rows["rows_intermittent"]
    assert rows["rows_in"] == rows["rows_kept"] + rows["rows_quarantined"] + rows["rows_unmapped"]
    assert rows["rows_mapped"] == rows["rows_kept"] + rows["rows_quarantined"]
    q = real["quarantine"]
    assert len(q) == rows["rows_quarantined"] + rows["rows_unmapped"]
    assert q["row"].astype(int).is_unique and q["row"].astype(int).between(1, rows["rows_in"]).all()
    assert (q["reason"].str.strip() != "").all() and (q["column"].str.strip() != "").all()
    assert list(q.columns[:4]) == list(schemas.QUARANTINE_COLUMNS)
    # The demo's known shapes: enteral doses are unmapped, exact duplicates quarantined.
    assert set(real["summary"]["unmapped_by_reason"]) == {"route enteral is not a drug-administration route"}
    assert all(r.startswith("duplicate of row N") for r in real["summary"]["quarantined_by_reason"])


@pytest.mark.real_data
def test_real_every_kept_encounter_is_in_the_timeline(real: dict) -> None:
    """Invariant: the administrations hold exactly the kept encounters that
    charted something that can run or be given (a start, resume or given
    event); encounters with no expected line have no billable role."""
    m = real["mapped"]
    quarantined = set(real["quarantine"]["row"].astype(int))
    kept = m.mar[~m.mar["source_row"].isin(quarantined)]
    active = set(kept.loc[kept["action"].isin(["start", "resume", "given"]), "encounter_id"])
    admins = real["admins"]
    in_timeline = set(admins["encounter_id"])
    assert in_timeline <= set(kept["encounter_id"])
    assert active <= in_timeline
    expected = real["expected"]
    billable = set(admins.loc[admins["role"].isin(BILLABLE_ROLES), "encounter_id"])
    assert billable == set(expected["encounter_id"])
    assert admins["role"].ne("").all()


@pytest.mark.real_data
def test_real_expected_lines_are_well_formed(real: dict) -> None:
    e = real["expected"]
    assert len(e) > 0
    units = e["units"].astype(int)
    assert (units >= 1).all()
    assert e["hcpcs"].str.fullmatch(schemas.HCPCS_PATTERN).all()
    assert e["hcpcs"].map(is_drug_admin_code).all()
    assert set(e["setting"]) == {"facility"}
    assert e["rule_ids"].str.fullmatch(r"R-[A-Z]\d+(;R-[A-Z]\d+)*").all()
    assert (e["evidence"] != "").all()
    # 96368 at most once per encounter.
    conc = e[e["hcpcs"] == CONCURRENT].assign(units=units).groupby("encounter_id")["units"].sum()
    assert (conc <= 1).all()
    # No second initial line without XU.
    init = e[e["hcpcs"].isin(INITIAL_CODES)]
    plain = init[~init["modifiers"].str.contains("XU")]
    assert plain.groupby("encounter_id").size().max() <= 1
    # Lines are dated inside the encounter's charted days (UTC).
    m = real["mapped"]
    days = m.mar.assign(day=m.mar["event_time"].dt.date).groupby("encounter_id")["day"].agg(["min", "max"])
    d = pd.to_datetime(e["service_date"]).dt.date
    assert ((d >= e["encounter_id"].map(days["min"])) & (d <= e["encounter_id"].map(days["max"]))).all()


@pytest.mark.real_data
def test_real_counts_by_rule_and_unknown_drugs(real: dict) -> None:
    s = real["summary"]
    assert s["expected_by_rule"] and all(n > 0 for n in s["expected_by_rule"].values())
    assert sum(c["lines"] for c in s["expected_by_hcpcs"].values()) == len(real["expected"])
    assert sum(s["administrations_by_role"].values()) == len(real["admins"])
    # Unknown drugs: the shipped reference classifies all 77 drug names of the
    # demo, so the list is empty today; it must agree with the findings.
    f = real["findings"]
    unknown_findings = f[f["finding"] == "drug_not_classified"]
    assert sum(s["unknown_drugs"].values()) == len(unknown_findings)
    labels = unknown_findings["explanation"].str.extract(r"Drug '([^']*)'")[0]
    assert set(labels.str.split("+").explode().dropna()) == set(s["unknown_drugs"])


@pytest.mark.real_data
def test_real_printout_has_counts_and_no_identifiers(real: dict) -> None:
    printed = real["stdout"]
    assert "reconcile: 20530 == kept" in printed
    for word in ("expected lines", "rule id", "administrations by role", "unclassified drugs"):
        assert word in printed
    tokens = set(re.findall(r"\b\d{6,}\b", printed))
    ids = set(real["tables"]["hospitalization"]["patient_id"].astype(str)) | set(
        real["tables"]["hospitalization"]["hospitalization_id"].astype(str))
    assert not tokens & ids


def _hours_bound_violations(real: dict) -> pd.DataFrame:
    """96366 units dated on a day beyond 25 per initial/sequential service
    active that day (one unit per hour of running time; 25 allows a DST day)."""
    a = real["admins"]
    svc = a[a["role"].isin(["initial", "sequential"]) & (a["kind"] == "infusion")].copy()
    svc["d0"] = pd.to_datetime(svc["start"], utc=True).dt.date
    svc["d1"] = pd.to_datetime(svc["end"], utc=True).dt.date
    e = real["expected"]
    hours = e[e["hcpcs"] == THER_HOUR].assign(units=e["units"].astype(int),
                                            day=pd.to_datetime(e["service_date"]).dt.date)
    pairs = hours.merge(svc[["encounter_id", "d0", "d1"]], on="encounter_id")
    active = pairs[(pairs["d0"] <= pairs["day"]) & (pairs["day"] <= pairs["d1"])]
    n = active.groupby(["encounter_id", "day"]).size().rename("services")
    hours = hours.join(n, on=["encounter_id", "day"]).fillna({"services": 0})
    return hours[hours["units"] > 25 * hours["services"]]


@pytest.mark.real_data
def test_real_add_on_hours_fit_in_the_day(real: dict) -> None:
    """Regression guard: before commit 2b1a6a8 a drip whose drug had been
    pushed earlier lost its blocks to the push, and all its 96366 units were
    dated on its start day (151 units on one day in the demo)."""
    bad = _hours_bound_violations(real)
    assert bad.empty, f"{len(bad)} 96366 lines exceed 25 units per running service per day"


def test_engine_push_before_drip_of_same_drug() -> None:
    """Minimal reproduction on tiny CLIF frames: a fentanyl push at 08:00,
    a fentanyl drip 09:00 -> next day 13:00 and an octreotide drip 09:00-11:00
    on it must code like the drips alone: 96365, 96366 dated on both days,
    96368 for octreotide. (Before commit 2b1a6a8 every 96366 unit was dated on
    day 1 and octreotide was coded 96367.)"""
    c = [
        cont("09:00", "[Started]", "Fentanyl (Concentrate)", order="D1", dose=50, unit="mcg/hour"),
        cont("13:00", "Stopped", "Fentanyl (Concentrate)", order="D1", dose=0, unit="mcg/hour"),
        cont("09:00", "[Started]", "Octreotide", order="D2", dose=50, unit="mcg/hour"),
        cont("11:00", "Stopped", "Octreotide", order="D2", dose=0, unit="mcg/hour"),
    ]
    c[1]["admin_dttm"] = _t("13:00", day="2140-10-06")
    i = [inter("08:00", "Fentanyl", MED_BOLUS, order="P1", dose=50, unit="mcg")]
    from flows.settings import Settings
    from transforms.audit import run_audit
    from transforms.reference.drugs import load_drug_reference

    kept, _ = validated(mapped(c, i))
    e = run_audit(kept, clif.empty_claims(), load_drug_reference(), Settings().policy, "UTC").expected_lines
    by_day = e[e["hcpcs"] == THER_HOUR].set_index("service_date")["units"].to_dict()
    assert CONCURRENT in set(e["hcpcs"]) and THER_SEQUENTIAL not in set(e["hcpcs"])
    assert [by_day[d] for d in sorted(by_day)] == [14, 13]  # 09:00-24:00, then 00:00-13:00
