"""Tests of the drug reference and classifier (transforms/reference/drugs.py)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transforms.reference.drugs import (
    CLASS_SOURCES,
    DRUG_COLUMNS,
    REFERENCE_DIR,
    RXNORM_COLUMN,
    DrugReference,
    classify_drugs,
    load_drug_reference,
    normalise_ndc,
    normalise_rxcui,
    tokenize,
)
from transforms.vocab.classes import OUTPUT_CLASSES, REFERENCE_CLASSES


@pytest.fixture(scope="module")
def ref() -> DrugReference:
    return load_drug_reference()


def classify_one(ref: DrugReference, text: str | None, **kwargs) -> pd.Series:
    return classify_drugs(pd.Series([text]), ref, **kwargs).iloc[0]


# --- the names the synthetic-data generator relies on -----------------------
THERAPEUTIC = [
    ("cefTRIAXone (ROCEPHIN) 1 g in sodium chloride 0.9 % 50 mL IVPB", "ceftriaxone"),
    ("Rocephin 2 g IVPB", "ceftriaxone"),
    ("ceFAZolin (ANCEF) 2 g in dextrose 5 % 50 mL IVPB", "cefazolin"),
    ("cefepime (MAXIPIME) 2 g in sodium chloride 0.9 % 100 mL IVPB", "cefepime"),
    ("vancomycin 1,250 mg in sodium chloride 0.9 % 250 mL IVPB", "vancomycin"),
    ("Vancocin 1 g IVPB", "vancomycin"),
    ("piperacillin-tazobactam (ZOSYN) 4.5 g in dextrose 5 % 100 mL IVPB", "piperacillin_tazobactam"),
    ("Piperacillin/Tazobactam (Zosyn)", "piperacillin_tazobactam"),
    ("levoFLOXacin (LEVAQUIN) 750 mg in dextrose 5 % 150 mL IVPB", "levofloxacin"),
    ("azithromycin (ZITHROMAX) 500 mg in sodium chloride 0.9 % 250 mL IVPB", "azithromycin"),
    ("metroNIDAZOLE (FLAGYL) 500 mg/100 mL IVPB", "metronidazole"),
    ("ampicillin-sulbactam (UNASYN) 3 g in sodium chloride 0.9 % 100 mL IVPB", "ampicillin_sulbactam"),
    ("Ampicillin/Sulbactam (Unasyn)", "ampicillin_sulbactam"),
    ("meropenem (MERREM) 1 g in sodium chloride 0.9 % 100 mL IVPB", "meropenem"),
    ("aztreonam (AZACTAM) 2 g in sodium chloride 0.9 % 100 mL IVPB", "aztreonam"),
    ("ondansetron (ZOFRAN) injection 4 mg", "ondansetron"),
    ("metoclopramide (REGLAN) injection 10 mg", "metoclopramide"),
    ("prochlorperazine (COMPAZINE) injection 10 mg", "prochlorperazine"),
    ("promethazine (PHENERGAN) 12.5 mg in sodium chloride 0.9 % 50 mL IVPB", "promethazine"),
    ("famotidine (PEPCID) injection 20 mg", "famotidine"),
    ("pantoprazole (PROTONIX) 40 mg in sodium chloride 0.9 % 10 mL injection", "pantoprazole"),
    ("diphenhydrAMINE (BENADRYL) injection 25 mg", "diphenhydramine"),
    ("dexAMETHasone (DECADRON) injection 10 mg", "dexamethasone"),
    ("methylPREDNISolone sodium succinate (SOLU-MEDROL) 125 mg injection", "methylprednisolone"),
    ("ketorolac (TORADOL) injection 15 mg", "ketorolac"),
    ("morphine 4 mg/mL injection 4 mg", "morphine"),
    ("HYDROmorphone (DILAUDID) injection 0.5 mg", "hydromorphone"),
    ("fentaNYL (SUBLIMAZE) injection 50 mcg", "fentanyl"),
    ("LORazepam (ATIVAN) injection 1 mg", "lorazepam"),
    ("acetaminophen (OFIRMEV) 1,000 mg/100 mL IV", "acetaminophen"),
    ("furosemide (LASIX) injection 40 mg", "furosemide"),
    ("iron sucrose (VENOFER) 200 mg in sodium chloride 0.9 % 100 mL IVPB", "iron_sucrose"),
    ("palonosetron (ALOXI) injection 0.25 mg", "palonosetron"),
    ("fosaprepitant (EMEND) 150 mg in sodium chloride 0.9 % 150 mL IVPB", "fosaprepitant"),
    ("leucovorin calcium 400 mg/m2 in dextrose 5 % 250 mL infusion", "leucovorin"),
    ("levoleucovorin (FUSILEV) 200 mg/m2 in sodium chloride 0.9 % 250 mL", "levoleucovorin"),
    ("enoxaparin (LOVENOX) injection 40 mg", "enoxaparin"),
    ("filgrastim (NEUPOGEN) injection 480 mcg", "filgrastim"),
    ("pegfilgrastim (NEULASTA) injection 6 mg", "pegfilgrastim"),
    ("denosumab (XGEVA) injection 120 mg", "denosumab"),
    ("denosumab (PROLIA) injection 60 mg", "denosumab"),
    ("labetalol injection 10 mg", "labetalol"),
    ("Insulin - Regular", "insulin_regular"),
    ("Heparin Sodium (Prophylaxis)", "heparin"),
    ("heparin 25,000 units in dextrose 5 % 250 mL infusion", "heparin"),
]
CHEMO = [
    ("riTUXimab-abbs (TRUXIMA) 500 mg in sodium chloride 0.9 % 250 mL infusion", "rituximab"),
    ("riTUXimab (RITUXAN) 375 mg/m2 in sodium chloride 0.9 % 500 mL", "rituximab"),
    ("cyclophosphamide (CYTOXAN) 600 mg/m2 in sodium chloride 0.9 % 250 mL", "cyclophosphamide"),
    ("DOXOrubicin (ADRIAMYCIN) 50 mg/m2 injection", "doxorubicin"),
    ("vinCRIStine (ONCOVIN) 2 mg in sodium chloride 0.9 % 50 mL", "vincristine"),
    ("oxaliplatin (ELOXATIN) 85 mg/m2 in dextrose 5 % 500 mL", "oxaliplatin"),
    ("fluorouracil (ADRUCIL) 400 mg/m2 IV push", "fluorouracil"),
    ("5-FU 2,400 mg/m2 in sodium chloride 0.9 % 46 h pump", "fluorouracil"),
    ("5FU continuous infusion", "fluorouracil"),
    ("CARBOplatin (PARAPLATIN) 450 mg in dextrose 5 % 250 mL", "carboplatin"),
    ("PACLitaxel (TAXOL) 175 mg/m2 in sodium chloride 0.9 % 500 mL", "paclitaxel"),
    ("CISplatin 75 mg/m2 in sodium chloride 0.9 % 1,000 mL", "cisplatin"),
    ("gemcitabine (GEMZAR) 1,000 mg/m2 in sodium chloride 0.9 % 250 mL", "gemcitabine"),
    ("bortezomib (VELCADE) 1.3 mg/m2 subcutaneous injection", "bortezomib"),
    ("pembrolizumab (KEYTRUDA) 200 mg in sodium chloride 0.9 % 100 mL", "pembrolizumab"),
    ("nivolumab (OPDIVO) 240 mg in sodium chloride 0.9 % 100 mL", "nivolumab"),
    ("trastuzumab (HERCEPTIN) 6 mg/kg in sodium chloride 0.9 % 250 mL", "trastuzumab"),
    ("bevacizumab (AVASTIN) 15 mg/kg in sodium chloride 0.9 % 100 mL", "bevacizumab"),
    ("irinotecan (CAMPTOSAR) 180 mg/m2 in dextrose 5 % 500 mL", "irinotecan"),
    ("DOCEtaxel (TAXOTERE) 75 mg/m2 in sodium chloride 0.9 % 250 mL", "docetaxel"),
    ("etoposide 100 mg/m2 in sodium chloride 0.9 % 500 mL", "etoposide"),
    ("methotrexate 50 mg injection", "methotrexate"),
    ("inFLIXimab (REMICADE) 5 mg/kg in sodium chloride 0.9 % 250 mL", "infliximab"),
]
HYDRATION = [
    ("sodium chloride 0.9 % 1,000 mL", "sodium_chloride_0_9"),
    ("NS 1000 mL", "sodium_chloride_0_9"),
    ("NaCl 0.9%", "sodium_chloride_0_9"),
    ("normal saline bolus 1,000 mL", "sodium_chloride_0_9"),
    ("sodium chloride 0.9 % bolus 1,000 mL", "sodium_chloride_0_9"),
    ("lactated Ringer's infusion 1,000 mL", "lactated_ringers"),
    ("LR", "lactated_ringers"),
    ("Ringer's lactate 1 L", "lactated_ringers"),
    ("dextrose 5 % in water 1,000 mL", "dextrose_5_water"),
    ("D5W 500 mL", "dextrose_5_water"),
    ("Dextrose 5%", "dextrose_5_water"),
    ("D5 1/2 NS 1,000 mL", "dextrose_5_sodium_chloride_0_45"),
    ("dextrose 5 %-sodium chloride 0.45 % 1,000 mL", "dextrose_5_sodium_chloride_0_45"),
    ("NaCl 0.45%", "sodium_chloride_0_45"),
]
NOT_REPORTABLE = [
    ("Albumin 5%", "albumin"),
    ("albumin human 25 % 50 mL", "albumin"),
    ("packed red blood cells 1 unit", "packed_red_blood_cells"),
    ("TPN w/ Lipids", "parenteral_nutrition"),
    ("Prismasate BGK 4/2.5 5,000 mL", "crrt_solution"),
    ("iohexol (OMNIPAQUE 350) 100 mL", "iohexol"),
    ("gadobutrol (GADAVIST) 7.5 mL", "gadobutrol"),
]
DILUENT = [
    ("sodium chloride 0.9 % flush 10 mL", "sodium_chloride_flush"),
    ("heparin lock flush 100 units/mL 5 mL", "heparin_lock_flush"),
    ("KVO", "keep_vein_open"),
    ("TKO", "keep_vein_open"),
    ("KVO NS", "keep_vein_open"),
]


@pytest.mark.parametrize(
    ("text", "key", "klass"),
    [(t, k, "therapeutic") for t, k in THERAPEUTIC]
    + [(t, k, "chemo") for t, k in CHEMO]
    + [(t, k, "hydration") for t, k in HYDRATION]
    + [(t, k, "not_reportable") for t, k in NOT_REPORTABLE]
    + [(t, k, "diluent") for t, k in DILUENT],
)
def test_must_classify(ref: DrugReference, text: str, key: str, klass: str) -> None:
    got = classify_one(ref, text)
    assert got["drug_class"] == klass, (text, got.to_dict())
    assert got["drug_key"] == key
    assert got["class_source"] == "name"
    assert not got["hormonal"]
    assert isinstance(got["matched"], str) and got["matched"]


@pytest.mark.parametrize("text", ["leuprolide (LUPRON DEPOT) 22.5 mg IM injection", "Eligard 45 mg SC"])
def test_leuprolide_is_hormonal_chemo(ref: DrugReference, text: str) -> None:
    got = classify_one(ref, text)
    assert (got["drug_key"], got["drug_class"], bool(got["hormonal"])) == ("leuprolide", "chemo", True)


@pytest.mark.parametrize(
    "text",
    ["magnesium sulfate 2 g IV", "potassium chloride 10 mEq IVPB", "calcium gluconate 1 g IV push"],
)
def test_electrolytes_alone_are_therapeutic(ref: DrugReference, text: str) -> None:
    got = classify_one(ref, text)
    assert got["drug_class"] == "therapeutic"
    assert got["drug_key"] in {"magnesium_sulfate", "potassium_chloride", "calcium_gluconate"}


def test_reference_classes_of_electrolytes(ref: DrugReference) -> None:
    classes = ref.drugs.set_index("drug_key")["drug_class"]
    for key in ("magnesium_sulfate", "potassium_chloride", "calcium_gluconate"):
        assert classes[key] == "electrolyte"


# --- electrolyte policy ------------------------------------------------------
IN_FLUID = [
    "potassium chloride 20 mEq in dextrose 5 %-sodium chloride 0.45 % 1,000 mL",
    "D5 1/2NS + 20 mEq KCl 1000 mL",
    "potassium chloride 20 mEq in NS",
    "potassium chloride 40 mEq in 1,000 mL",
]
RIDERS = [
    "potassium chloride 10 mEq in 100 mL IVPB",
    "magnesium sulfate 2 g in water 50 mL IVPB",
    "potassium chloride 20 mEq in sodium chloride 0.9 % 100 mL",
    "magnesium sulfate 40 g in water 1,000 mL",
]


@pytest.mark.parametrize("policy", ["hydration", "therapeutic"])
@pytest.mark.parametrize("text", IN_FLUID)
def test_electrolyte_in_large_fluid_follows_policy(ref: DrugReference, text: str, policy: str) -> None:
    got = classify_one(ref, text, electrolyte_in_fluid=policy)
    assert got["drug_class"] == policy
    assert got["drug_key"] == "potassium_chloride"  # the active ingredient, not the fluid


@pytest.mark.parametrize("policy", ["hydration", "therapeutic"])
@pytest.mark.parametrize("text", RIDERS)
def test_electrolyte_rider_is_therapeutic_whatever_the_policy(ref: DrugReference, text: str, policy: str) -> None:
    assert classify_one(ref, text, electrolyte_in_fluid=policy)["drug_class"] == "therapeutic"


def test_bad_policy_values_raise(ref: DrugReference) -> None:
    with pytest.raises(ValueError, match="electrolyte_in_fluid"):
        classify_drugs(pd.Series(["NS"]), ref, electrolyte_in_fluid="hydrate")
    with pytest.raises(ValueError, match="kvo_max_rate_ml_h"):
        classify_drugs(pd.Series(["NS"]), ref, kvo_max_rate_ml_h=-1)


# --- matching details ---------------------------------------------------------
def test_diluent_after_in_does_not_decide_for_a_drug(ref: DrugReference) -> None:
    out = classify_drugs(
        pd.Series(
            [
                "ceftriaxone 1 g in sodium chloride 0.9 % 50 mL IVPB",
                "zzzomab 5 mg in sodium chloride 0.9 % 100 mL",  # unknown drug in saline
            ]
        ),
        ref,
    )
    assert out["drug_class"].tolist() == ["therapeutic", "unknown"]
    assert out["drug_key"].isna().tolist() == [False, True]


def test_highest_class_before_in_wins(ref: DrugReference) -> None:
    got = classify_one(ref, "diphenhydramine 25 mg + rituximab 375 mg/m2 in NS 500 mL")
    assert (got["drug_key"], got["drug_class"]) == ("rituximab", "chemo")


def test_whole_word_matching(ref: DrugReference) -> None:
    # "ns" must not match inside "insulin"/"transfusion"; "lr" not inside words.
    assert classify_one(ref, "insulin glargine 10 units")["drug_key"] == "insulin_glargine"
    assert classify_one(ref, "Insulin - Humalog")["drug_key"] == "insulin_lispro"
    assert classify_one(ref, "transfusion consent")["drug_class"] == "unknown"
    assert classify_one(ref, "salrenol 5 mg")["drug_class"] == "unknown"


def test_longest_alias_wins(ref: DrugReference) -> None:
    assert classify_one(ref, "sodium chloride 3 % 250 mL")["drug_key"] == "sodium_chloride_hypertonic"
    assert classify_one(ref, "sodium chloride 3 % 250 mL")["drug_class"] == "therapeutic"
    assert classify_one(ref, "Dextrose 50%")["drug_class"] == "therapeutic"
    assert classify_one(ref, "Cathflo Activase 2 mg")["drug_key"] == "alteplase_catheter_clearance"
    assert classify_one(ref, "Alteplase (TPA)")["drug_key"] == "alteplase"
    assert classify_one(ref, "rituximab and hyaluronidase (RITUXAN HYCELA) 1,400 mg SC")["drug_key"] == (
        "rituximab_hyaluronidase"
    )


def test_flush_wording_wins_over_a_drug(ref: DrugReference) -> None:
    got = classify_one(ref, "heparin 100 units/mL flush 5 mL")
    assert (got["drug_key"], got["drug_class"]) == ("heparin", "diluent")
    assert classify_one(ref, "keep vein open with D5W")["drug_class"] == "diluent"
    assert classify_one(ref, "flush 10 mL")[["drug_class", "matched"]].tolist() == ["diluent", "flush"]
    # a Luer lock syringe is not a lock
    assert classify_one(ref, "ondansetron 4 mg/2 mL Luer Lock syringe")["drug_class"] == "therapeutic"


def test_carrier_wording_makes_a_fluid_a_diluent(ref: DrugReference) -> None:
    assert classify_one(ref, "sodium chloride 0.9 % 250 mL (carrier)")["drug_class"] == "diluent"


def test_real_clif_demo_names_are_all_known(ref: DrugReference) -> None:
    names = [
        "NaCl 0.9%", "Insulin - Regular", "Albumin 5%", "Dextrose 5%", "Amiodarone 600/500",
        "Albumin 25%", "Propofol", "Phenylephrine", "Dexmedetomidine (Precedex)",
        "Fentanyl (Concentrate)", "Octreotide", "Morphine Sulfate", "Esmolol", "Norepinephrine",
        "Midazolam (Versed)", "Rocuronium", "Vasopressin", "Pantoprazole (Protonix)",
        "Furosemide (Lasix) 250/50", "Dobutamine", "Heparin Sodium", "Dopamine",
        "Sodium Bicarbonate 8.4%", "Diltiazem", "Epinephrine", "Nicardipine", "NaCl 0.45%",
        "TPN w/ Lipids", "TPN without Lipids", "Dextrose PN", "Aminocaproic acid (Amicar)",
        "Nitroglycerin", "Alteplase (TPA)", "Bumetanide (Bumex)", "Acetaminophen-IV",
        "Magnesium Sulfate (OB-GYN)", "Hydromorphone (Dilaudid)", "Labetalol", "Milrinone",
        "Vancomycin", "Cefepime", "Piperacillin/Tazobactam (Zosyn)", "Lorazepam (Ativan)",
        "Ciprofloxacin", "Ceftriaxone", "Meropenem", "Metronidazole", "Heparin Sodium (Prophylaxis)",
        "Insulin - Humalog", "Azithromycin", "Magnesium Sulfate (Bolus)", "Fluconazole",
        "Micafungin", "Dextrose 50%", "Cefazolin", "Insulin - Glargine", "Insulin - NPH",
        "Ampicillin/Sulbactam (Unasyn)", "Sodium Bicarbonate 8.4% (Amp)", "Levofloxacin",
        "Esomeprazole (Nexium)", "Aztreonam", "Tobramycin", "Erythromycin", "Lidocaine",
        "Ceftazidime", "Doxycycline", "Acyclovir", "Voriconazole", "Clindamycin", "Ampicillin",
        "Diazepam (Valium)",
    ]  # fmt: skip
    out = classify_drugs(pd.Series(names), ref)
    unknown = [n for n, c in zip(names, out["drug_class"]) if c == "unknown"]
    assert unknown == []
    assert set(out["drug_class"]) <= set(OUTPUT_CLASSES) - {"unknown"}


def test_unknown_stays_unknown(ref: DrugReference) -> None:
    out = classify_drugs(pd.Series(["blorbamab 10 mg", "", None, "   ", "500 mg in 100 mL"]), ref)
    assert out["drug_class"].tolist() == ["unknown"] * 5
    assert out["class_source"].tolist() == ["unknown"] * 5
    assert out["drug_key"].isna().all() and out["matched"].isna().all()
    assert not out["hormonal"].any()


# --- override, NDC, KVO rate ----------------------------------------------------
def test_override_wins_and_keeps_the_drug_key(ref: DrugReference) -> None:
    out = classify_drugs(
        pd.Series(["tocilizumab 8 mg/kg in NS 100 mL", "ondansetron 4 mg", "NS 1000 mL", "leuprolide 7.5 mg"]),
        ref,
        override=pd.Series([" Therapeutic ", None, "", "chemo"]),
        rate_ml_h=pd.Series([np.nan, np.nan, 10.0, np.nan]),
    )
    assert out["drug_class"].tolist() == ["therapeutic", "therapeutic", "diluent", "chemo"]
    assert out["class_source"].tolist() == ["override", "name", "kvo_rate", "override"]
    assert out["drug_key"].tolist() == ["tocilizumab", "ondansetron", "sodium_chloride_0_9", "leuprolide"]
    assert out["hormonal"].tolist() == [False, False, False, True]


def test_hydration_override_is_not_turned_into_kvo(ref: DrugReference) -> None:
    got = classify_drugs(
        pd.Series(["NS 1000 mL"]), ref, override=pd.Series(["hydration"]), rate_ml_h=pd.Series([5.0])
    ).iloc[0]
    assert (got["drug_class"], got["class_source"]) == ("hydration", "override")


def test_bad_override_value_raises(ref: DrugReference) -> None:
    with pytest.raises(ValueError, match="antibiotic"):
        classify_drugs(pd.Series(["ceftriaxone"]), ref, override=pd.Series(["antibiotic"]))


@pytest.fixture()
def ndc_ref(tmp_path: Path) -> DrugReference:
    path = tmp_path / "ndc.csv"
    path.write_text(
        "ndc11,drug_key\n"
        "00409123401,ondansetron\n"  # printed 0409-1234-01 (4-4-2)
        "12345012301,cisplatin\n"  # printed 12345-123-01 (5-3-2)
        "12345678901,potassium_chloride\n"  # printed 12345-6789-1 (5-4-1)
        "55555555555,sodium_chloride_0_9\n",
        encoding="utf-8",
    )
    return load_drug_reference(ndc=path)


def test_ndc_mechanism(ndc_ref: DrugReference) -> None:
    drug = pd.Series(["zofran 4 mg", "mystery bag", "mystery", "unlabelled 20 mEq", "NS", "NS 1 L"])
    ndc = pd.Series(["0409-1234-01", "12345-123-01", "00000000000", "12345-6789-1", None, "55555-5555-55"])
    out = classify_drugs(drug, ndc_ref, ndc=ndc, rate_ml_h=pd.Series([None, None, None, None, None, 20]))
    assert out["drug_key"].tolist()[:2] == ["ondansetron", "cisplatin"]
    assert out["class_source"].tolist() == ["ndc", "ndc", "unknown", "ndc", "name", "kvo_rate"]
    assert out["drug_class"].tolist() == ["therapeutic", "chemo", "unknown", "therapeutic", "hydration", "diluent"]


def test_ndc_beats_the_text_but_not_the_override(ndc_ref: DrugReference) -> None:
    out = classify_drugs(
        pd.Series(["ondansetron 4 mg", "ondansetron 4 mg"]),
        ndc_ref,
        ndc=pd.Series(["12345012301", "12345012301"]),
        override=pd.Series([None, "therapeutic"]),
    )
    assert out["drug_class"].tolist() == ["chemo", "therapeutic"]
    assert out["drug_key"].tolist() == ["cisplatin", "cisplatin"]
    assert out["class_source"].tolist() == ["ndc", "override"]


def test_ndc_normalisation() -> None:
    raw = pd.Series(["0409-1234-01", "12345-123-01", "12345-6789-1", "12345-6789-01", "12345678901", "4091234010", "x", None])
    assert normalise_ndc(raw).tolist() == [
        "00409123401", "12345012301", "12345678901", "12345678901", "12345678901", pd.NA, pd.NA, pd.NA,
    ]  # fmt: skip
    assert normalise_ndc(pd.Series([409123401.0, np.nan])).tolist() == ["00409123401", pd.NA]
    # 11 digits with other separators are one code; a label form inside other text is not padded
    other = pd.Series(["12345 6789 01", " ndc: 12345.6789.01 ", "NDC 0409-1234-01", "123456789012", ""])
    assert normalise_ndc(other).tolist() == ["12345678901", "12345678901", pd.NA, pd.NA, pd.NA]


def test_ndc_normalisation_is_idempotent() -> None:
    raw = pd.Series(["0409-1234-01", "12345-123-01", "12345 6789 01", "x", None], dtype=object)
    once = normalise_ndc(raw)
    pd.testing.assert_series_equal(normalise_ndc(once.astype(object)), once)


def test_shipped_ndc_sample_is_valid(ref: DrugReference) -> None:
    assert ref.ndc["ndc11"].str.fullmatch(r"\d{11}").all()
    assert ref.ndc["drug_key"].isin(ref.drugs["drug_key"]).all()
    # the 5-4-1 printed form 51662-1245-1 of the sample resolves to its 11-digit row
    got = classify_drugs(pd.Series([None]), ref, ndc=pd.Series(["51662-1245-1"])).iloc[0]
    assert (got["drug_key"], got["class_source"]) == ("ondansetron", "ndc")


@pytest.mark.parametrize(("rate", "klass", "source"), [(10, "diluent", "kvo_rate"), (30, "diluent", "kvo_rate"), (30.5, "hydration", "name"), (None, "hydration", "name")])
def test_kvo_by_rate(ref: DrugReference, rate: float | None, klass: str, source: str) -> None:
    got = classify_drugs(pd.Series(["NS 1,000 mL"]), ref, rate_ml_h=pd.Series([rate], dtype=float)).iloc[0]
    assert (got["drug_class"], got["class_source"]) == (klass, source)


def test_kvo_rate_only_touches_hydration(ref: DrugReference) -> None:
    got = classify_drugs(pd.Series(["norepinephrine 4 mg in NS 250 mL"]), ref, rate_ml_h=pd.Series([7.5])).iloc[0]
    assert got["drug_class"] == "therapeutic"
    got = classify_drugs(pd.Series(["NS 1,000 mL"]), ref, rate_ml_h=pd.Series([50.0]), kvo_max_rate_ml_h=60).iloc[0]
    assert got["drug_class"] == "diluent"


# --- reference file invariants --------------------------------------------------
def test_reference_size_and_vocabulary(ref: DrugReference) -> None:
    drugs = ref.drugs
    assert len(drugs) >= 300
    assert list(drugs.columns) == list(DRUG_COLUMNS)
    assert drugs["drug_key"].is_unique
    assert set(drugs["drug_class"]) == set(REFERENCE_CLASSES)
    assert drugs["drug_key"].str.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*").all()
    assert drugs["note"].str.len().gt(0).all() and drugs["group"].str.len().gt(0).all()
    assert not drugs.loc[drugs["drug_class"] != "chemo", "hormonal"].any()
    hormonal = set(drugs.loc[drugs["hormonal"], "drug_key"])
    assert {"leuprolide", "goserelin", "fulvestrant", "degarelix", "triptorelin"} <= hormonal


def test_every_alias_is_unique_after_normalisation() -> None:
    seen: dict[tuple[str, ...], str] = {}
    with (REFERENCE_DIR / "drugs.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for alias in row["names"].split("|"):
                assert alias == alias.strip().lower() and alias, (row["drug_key"], alias)
                tokens = tokenize(alias)
                assert seen.setdefault(tokens, row["drug_key"]) == row["drug_key"], (alias, seen[tokens])


def test_policy_positions(ref: DrugReference) -> None:
    classes = ref.drugs.set_index("drug_key")["drug_class"]
    for key in ("leucovorin", "levoleucovorin", "mesna", "dexrazoxane", "zoledronic_acid", "pamidronate",
                "immune_globulin_iv", "denosumab", "omalizumab", "benralizumab", "certolizumab_pegol"):  # fmt: skip
        assert classes[key] == "therapeutic", key
    for key in ("rituximab", "infliximab", "ocrelizumab", "natalizumab", "vedolizumab", "tocilizumab",
                "belimumab", "eculizumab", "daratumumab", "paclitaxel_protein_bound"):  # fmt: skip
        assert classes[key] == "chemo", key
    for key in ("albumin", "plasma", "platelets", "packed_red_blood_cells", "parenteral_nutrition",
                "lipid_emulsion", "crrt_solution", "iohexol", "iopamidol", "gadobutrol", "gadoterate"):  # fmt: skip
        assert classes[key] == "not_reportable", key


# --- user files -------------------------------------------------------------------
def write_drugs(path: Path, rows: list[dict[str, str]]) -> Path:
    """A drugs.csv-format file; with the optional rxnorm column when a row has one."""
    optional = [RXNORM_COLUMN] if any(RXNORM_COLUMN in r for r in rows) else []
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(DRUG_COLUMNS) + optional, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(key: str, klass: str, names: str, hormonal: str = "false", rxnorm: str | None = None) -> dict[str, str]:
    out = {"drug_key": key, "drug_class": klass, "hormonal": hormonal, "group": "test", "names": names, "note": "test"}
    return out if rxnorm is None else {**out, RXNORM_COLUMN: rxnorm}


def test_extra_csv_overrides_and_extends(tmp_path: Path, ref: DrugReference) -> None:
    extra = write_drugs(
        tmp_path / "payer.csv",
        [
            row("tocilizumab", "therapeutic", "tocilizumab|actemra"),
            row("zorblimab", "chemo", "zorblimab|zorbli"),
        ],
    )
    mine = load_drug_reference(extra=extra)
    assert len(mine.drugs) == len(ref.drugs) + 1
    out = classify_drugs(pd.Series(["ACTEMRA 8 mg/kg in NS 100 mL", "Zorbli 10 mg", "tofidence 400 mg"]), mine)
    assert out["drug_class"].tolist() == ["therapeutic", "chemo", "unknown"]  # replaced row drops old aliases
    assert classify_one(ref, "ACTEMRA 8 mg/kg")["drug_class"] == "chemo"  # the shipped reference is untouched


def test_duplicate_alias_raises_naming_the_row(tmp_path: Path) -> None:
    extra = write_drugs(tmp_path / "mine.csv", [row("my_ondansetron", "therapeutic", "ondansetron odt|zofran")])
    with pytest.raises(ValueError, match=r"mine\.csv row 1.*'zofran'.*'ondansetron'"):
        load_drug_reference(extra=extra)


def test_alias_collision_after_normalisation_raises(tmp_path: Path) -> None:
    base = tmp_path / "ref"
    base.mkdir()
    write_drugs(base / "drugs.csv", [row("a_drug", "therapeutic", "abc-def"), row("b_drug", "therapeutic", "ABC/DEF")])
    with pytest.raises(ValueError, match=r"drugs\.csv row 2 \(drug_key 'b_drug'\)"):
        load_drug_reference(base)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([row("x", "therapeutic", "xx"), row("x", "chemo", "yy")], "duplicate drug_key 'x'"),
        ([row("x", "antibiotic", "xx")], "drug_class 'antibiotic'"),
        ([row("X Drug", "therapeutic", "xx")], "snake_case"),
        ([row("x", "therapeutic", "xx", hormonal="maybe")], "hormonal"),
        ([row("x", "therapeutic", "xx|")], "empty alias"),
        ([row("x", "therapeutic", "xx|mg")], "too generic"),
        ([row("x", "therapeutic", "0.9 %")], "no letters"),
    ],
)
def test_invalid_reference_rows_raise(tmp_path: Path, rows: list[dict[str, str]], message: str) -> None:
    write_drugs(tmp_path / "drugs.csv", rows)
    with pytest.raises(ValueError, match=message):
        load_drug_reference(tmp_path)


def test_ndc_naming_unknown_key_raises(tmp_path: Path) -> None:
    path = tmp_path / "ndc.csv"
    path.write_text("ndc11,drug_key\n12345678901,no_such_drug\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ndc\.csv row 1.*no_such_drug"):
        load_drug_reference(ndc=path)
    path.write_text("ndc11,drug_key\n1234567890,ondansetron\n", encoding="utf-8")
    with pytest.raises(ValueError, match="11 digits"):
        load_drug_reference(ndc=path)


def test_missing_column_raises(tmp_path: Path) -> None:
    (tmp_path / "drugs.csv").write_text("drug_key,drug_class\nx,chemo\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column"):
        load_drug_reference(tmp_path)


# --- shape, alignment, performance ---------------------------------------------------
def test_index_alignment_is_preserved(ref: DrugReference) -> None:
    index = pd.Index([907, 3, 55, 12], name="source_row")
    drug = pd.Series(["NS 1000 mL", "cisplatin 50 mg", "NS 1000 mL", "unknownium"], index=index)
    # rate given in another order but with the same labels: aligned by label
    rate = pd.Series([10.0, np.nan, np.nan, np.nan], index=[55, 3, 907, 12])
    out = classify_drugs(drug, ref, rate_ml_h=rate)
    assert out.index.equals(index)
    assert list(out.columns) == ["drug_key", "drug_class", "hormonal", "matched", "class_source"]
    assert out.loc[907, "drug_class"] == "hydration"
    assert out.loc[55, "drug_class"] == "diluent"
    assert out.loc[3, "drug_class"] == "chemo"
    assert out.loc[12, "drug_class"] == "unknown"
    assert str(out["drug_key"].dtype) == "string" and out["hormonal"].dtype == bool


def test_empty_input(ref: DrugReference) -> None:
    out = classify_drugs(pd.Series([], dtype="string"), ref)
    assert out.empty and list(out.columns) == ["drug_key", "drug_class", "hormonal", "matched", "class_source"]


def test_outputs_stay_in_vocabulary(ref: DrugReference) -> None:
    texts = [t for t, _ in THERAPEUTIC + CHEMO + HYDRATION + NOT_REPORTABLE + DILUENT] + IN_FLUID + RIDERS
    out = classify_drugs(pd.Series(texts * 3), ref, rate_ml_h=pd.Series(([5.0, None, 100.0] * len(texts))[: len(texts) * 3]))
    assert set(out["drug_class"]) <= set(OUTPUT_CLASSES)
    assert set(out["class_source"]) <= set(CLASS_SOURCES)
    assert ((out["class_source"] == "unknown") == (out["drug_class"] == "unknown")).all()
    assert not out.loc[out["drug_class"] != "chemo", "hormonal"].any()


def test_200k_rows_classify_fast(ref: DrugReference) -> None:
    rng = np.random.default_rng(7)
    base = [t for t, _ in THERAPEUTIC + CHEMO + HYDRATION + NOT_REPORTABLE + DILUENT] + IN_FLUID + RIDERS
    distinct = [f"{base[i % len(base)]} #{i}" for i in range(500)]
    picks = rng.integers(0, len(distinct), 200_000)
    drug = pd.Series(np.asarray(distinct, dtype=object)[picks])
    rate = pd.Series(rng.choice([10.0, 125.0, np.nan], 200_000))
    override = pd.Series(rng.choice(np.array([None, "therapeutic"], dtype=object), 200_000))
    classify_drugs(drug.head(1000), ref)  # warm-up
    start = time.perf_counter()
    out = classify_drugs(drug, ref, rate_ml_h=rate, override=override)
    elapsed = time.perf_counter() - start
    assert len(out) == 200_000
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    # spot check: mapped back correctly
    sample = rng.integers(0, 200_000, 50)
    one_by_one = classify_drugs(drug.iloc[sample], ref, rate_ml_h=rate.iloc[sample], override=override.iloc[sample])
    pd.testing.assert_frame_equal(out.iloc[sample], one_by_one)


def test_all_null_ndc_and_override_columns_are_ignored():
    """An extract whose optional ndc/drug_class columns are entirely empty."""
    ref = load_drug_reference()
    drug = pd.Series(["cefTRIAXone (ROCEPHIN) 1 g in sodium chloride 0.9 % 50 mL IVPB", "LR"])
    empty = pd.Series([None, None], dtype=object)
    out = classify_drugs(drug, ref, ndc=empty, override=empty)
    assert out["drug_class"].tolist() == ["therapeutic", "hydration"]


# --- RxNorm codes from the user's list --------------------------------------------
# RxCUIs in these tests are made up (99000xx): the shipped table carries none.
def shipped_row(ref: DrugReference, key: str, rxnorm: str) -> dict[str, str]:
    """The shipped row of ``key`` as a user would copy it, with RxCUIs added."""
    rec = ref.drugs.set_index("drug_key").loc[key]
    return {"drug_key": key, "drug_class": rec["drug_class"], "hormonal": str(rec["hormonal"]).lower(),
            "group": rec["group"], "names": rec["names"], "note": rec["note"], RXNORM_COLUMN: rxnorm}  # fmt: skip


@pytest.fixture()
def rx_list(tmp_path: Path, ref: DrugReference) -> Path:
    return write_drugs(
        tmp_path / "mine.csv",
        [
            row("zorblimab", "therapeutic", "zorblimab", rxnorm="9900001| 9900002 "),
            row("zorbrelin", "chemo", "zorbrelin", hormonal="true", rxnorm="9900003"),
            row("no_codes_drug", "therapeutic", "no codes drug", rxnorm=""),
            shipped_row(ref, "potassium_chloride", "9900010"),
            shipped_row(ref, "sodium_chloride_0_9", "9900020"),
        ],
    )


@pytest.fixture()
def rx_ref(rx_list: Path, tmp_path: Path) -> DrugReference:
    ndc = tmp_path / "ndc.csv"
    ndc.write_text("ndc11,drug_key\n12345012301,cisplatin\n", encoding="utf-8")
    return load_drug_reference(extra=rx_list, ndc=ndc)


def test_rxnorm_list_loads_beside_the_drug_rows(rx_ref: DrugReference, ref: DrugReference) -> None:
    assert list(rx_ref.drugs.columns) == list(DRUG_COLUMNS)  # the codes live in their own frame
    assert rx_ref.rxnorm.to_dict("list") == {
        "rxcui": ["9900010", "9900020", "9900001", "9900002", "9900003"],  # reference row order
        "drug_key": ["potassium_chloride", "sodium_chloride_0_9", "zorblimab", "zorblimab", "zorbrelin"],
    }
    assert ref.rxnorm.empty and list(ref.rxnorm.columns) == ["rxcui", "drug_key"]


def test_rxnorm_classifies_text_the_reference_does_not_know(rx_ref: DrugReference) -> None:
    drug = pd.Series(["Med 12345", "Med 12345", "Med 777", "Med 42 20 mEq", "Fluid bag 1000 mL", None,
                      "Med 1", "Med 2", "flush 10 mL"])  # fmt: skip
    rxnorm = pd.Series(["9900001", " 009900002 ", "9900003", "9900010", "9900020", "9900020",
                        "99 00001", "1111111", "9900001"])  # fmt: skip
    rate = pd.Series([None, None, None, None, 20.0, None, None, None, None], dtype=float)
    out = classify_drugs(drug, rx_ref, rxnorm=rxnorm, rate_ml_h=rate)
    nacl = "sodium_chloride_0_9"
    assert out["drug_key"].tolist() == ["zorblimab", "zorblimab", "zorbrelin", "potassium_chloride",
                                        nacl, nacl, pd.NA, pd.NA, "zorblimab"]  # fmt: skip
    # the NDC rules apply to an RxNorm match: electrolyte alone, KVO rate, flush wording
    assert out["drug_class"].tolist() == ["therapeutic", "therapeutic", "chemo", "therapeutic", "diluent",
                                          "hydration", "unknown", "unknown", "diluent"]  # fmt: skip
    assert out["class_source"].tolist() == ["rxnorm", "rxnorm", "rxnorm", "rxnorm", "kvo_rate",
                                            "rxnorm", "unknown", "unknown", "rxnorm"]  # fmt: skip
    assert out["hormonal"].tolist() == [False, False, True] + [False] * 6


def test_rxnorm_precedence(rx_ref: DrugReference) -> None:
    """Override > NDC > RxNorm > text; a code not in the reference leaves the text to decide."""
    out = classify_drugs(
        pd.Series(["ondansetron 4 mg"] * 5),
        rx_ref,
        ndc=pd.Series([None, "12345012301", None, "00000000000", None]),
        rxnorm=pd.Series(["9900003", "9900003", "9900003", "9900003", "1111111"]),
        override=pd.Series([None, None, "therapeutic", None, None]),
    )
    assert out["class_source"].tolist() == ["rxnorm", "ndc", "override", "rxnorm", "name"]
    assert out["drug_key"].tolist() == ["zorbrelin", "cisplatin", "zorbrelin", "zorbrelin", "ondansetron"]
    assert out["drug_class"].tolist() == ["chemo", "chemo", "therapeutic", "chemo", "therapeutic"]


def test_rxnorm_is_classified_once_per_distinct_value(rx_ref: DrugReference) -> None:
    rng = np.random.default_rng(3)
    codes = np.array(["9900001", "9900003", "9900010", "1111111", None], dtype=object)
    texts = np.array(["Med 12345", "ondansetron 4 mg", None], dtype=object)
    drug = pd.Series(texts[rng.integers(0, 3, 5000)])
    rxnorm = pd.Series(codes[rng.integers(0, 5, 5000)])
    out = classify_drugs(drug, rx_ref, rxnorm=rxnorm)
    sample = rng.integers(0, 5000, 40)
    one_by_one = classify_drugs(drug.iloc[sample], rx_ref, rxnorm=rxnorm.iloc[sample])
    pd.testing.assert_frame_equal(out.iloc[sample], one_by_one)


def test_normalise_rxcui() -> None:
    raw = pd.Series([" 204520 ", "00313002", "RXCUI:204520", "204520|313002", "12.0", "", "000", None])
    assert normalise_rxcui(raw).tolist() == ["204520", "313002", pd.NA, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA]
    assert normalise_rxcui(pd.Series([204520.0, 0.5, np.nan, 0])).tolist() == ["204520", pd.NA, pd.NA, pd.NA]
    once = normalise_rxcui(raw)
    pd.testing.assert_series_equal(normalise_rxcui(once.astype(object)), once)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [row("x", "therapeutic", "xx", rxnorm="12a")],
            r"mine\.csv row 1 \(drug_key 'x'\): rxnorm code '12a' must be an RxCUI",
        ),
        ([row("x", "therapeutic", "xx", rxnorm="123||456")], r"mine\.csv row 1 .*rxnorm code '' must be an RxCUI"),
        ([row("x", "therapeutic", "xx", rxnorm="0")], r"rxnorm code '0' must be an RxCUI"),
        ([row("x", "therapeutic", "xx", rxnorm="123 456")], r"rxnorm code '123 456'"),
        (
            [row("x", "therapeutic", "xx", rxnorm="123"), row("y", "chemo", "yy", rxnorm="456|0123")],
            r"mine\.csv row 2 \(drug_key 'y'\): rxnorm code 123 is already claimed by drug_key 'x' \(mine\.csv row 1\)",
        ),
    ],
)
def test_bad_rxnorm_values_raise_naming_the_row(tmp_path: Path, rows: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_drug_reference(extra=write_drugs(tmp_path / "mine.csv", rows))


def test_rxnorm_in_a_whole_reference_folder(tmp_path: Path) -> None:
    write_drugs(tmp_path / "drugs.csv", [row("a_drug", "therapeutic", "a drug", rxnorm="777"),
                                         row("b_drug", "chemo", "b drug")])  # fmt: skip
    mine = load_drug_reference(tmp_path)
    got = classify_drugs(pd.Series(["Med 12345"]), mine, rxnorm=pd.Series(["777"])).iloc[0]
    assert (got["drug_key"], got["class_source"]) == ("a_drug", "rxnorm")
    write_drugs(tmp_path / "drugs.csv", [row("a_drug", "therapeutic", "a drug", rxnorm="777"),
                                         row("b_drug", "chemo", "b drug", rxnorm="777")])  # fmt: skip
    with pytest.raises(ValueError, match=r"drugs\.csv row 2 .*already claimed by drug_key 'a_drug'"):
        load_drug_reference(tmp_path)


def test_no_rxnorm_column_or_codes_changes_nothing(tmp_path: Path, ref: DrugReference) -> None:
    texts = [t for t, _ in THERAPEUTIC + CHEMO + HYDRATION + NOT_REPORTABLE + DILUENT] + IN_FLUID + RIDERS
    drug = pd.Series(texts + ["Med 12345", None])
    rate = pd.Series(([5.0, None, 100.0] * len(drug))[: len(drug)])
    before = classify_drugs(drug, ref, rate_ml_h=rate)
    # a user list without the column, an RxNorm column with codes no list has, an all-null column
    plain = load_drug_reference(extra=write_drugs(tmp_path / "plain.csv", [row("zorblimab", "chemo", "zorblimab")]))
    assert plain.rxnorm.empty
    assert plain.drugs.iloc[: len(ref.drugs)].equals(ref.drugs)
    for rxnorm in (pd.Series(["204520", "313002"] * (len(drug) // 2 + 1))[: len(drug)], pd.Series([None] * len(drug))):
        pd.testing.assert_frame_equal(classify_drugs(drug, ref, rxnorm=rxnorm, rate_ml_h=rate), before)
        pd.testing.assert_frame_equal(classify_drugs(drug, plain, rxnorm=rxnorm, rate_ml_h=rate), before)
