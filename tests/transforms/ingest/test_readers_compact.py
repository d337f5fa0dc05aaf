"""Compact staging (``stage_mar`` / ``stage_claims`` with ``compact=True``): text
as ``Categorical``, the same cells as the default staging once expanded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transforms.frames import expand_text
from transforms.ingest.readers import read_extract, stage_claims, stage_mar
from transforms.vocab import schemas

TZ = "America/New_York"

# Missing cells, blank cells, texts that trim or case-fold to the same value
# (" iv_push" / "iv_push" / "IV_PUSH"), an unknown extra column (ward) with
# duplicates that differ by spaces, NDCs in two spellings.
MAR_CSV = """\
encounter_id,patient_id,order_id,infusate_id,drug,ndc,drug_class,route,action,event_time,access_site,rate,rate_unit,dose,dose_unit,volume_ml,primary,ward
E1,P1,O1,,ceftriaxone,0409-4888-02,Therapeutic, iv_infusion ,START,2026-03-09 10:00,L forearm,100,mL/h,1,g,50,true,4N
E1,P1,O1,,ceftriaxone,04094888802,therapeutic,iv_infusion,stop,2026-03-09 11:10, L forearm ,,,,,,, 4N
 E2 ,P2,O2,B7,saline,,hydration,IV_PUSH,given,2026-03-09 12:00,port,,,4,mg,,no,
E2,P2,O3,, ,,,iv_push,given,not a time,,,,,,,,4N
E3,   ,O4,,ondansetron,,,iv_push , Given ,2026-03-09T06:45:00Z,port,,,,,,,
"""

CLAIMS_CSV = """\
claim_id,encounter_id,patient_id,claim_type,line_number,service_date,hcpcs,modifiers,units,charge,revenue_code,claim_frequency,payer_id,note
C1,E1,P1,Institutional,1,2026-03-09,96365,,1,400.00,0260,,MCR,x
C1,E1,P1,institutional,2,03/09/2026, j1100 ," 59 , xu ",2.0,150,0260,1, MCR , x
C1, E1 ,P1,INSTITUTIONAL,3,2026-03-09,J1100,59;XU,2.5,10,0636,7,,
C2,E2,,professional,1,2026-02-30,96375,  ,x,,,8,,y
 ,E3,P3,,,,,,,,,,,
"""


def _stage(kind: str, raw: pd.DataFrame, **kwargs: bool) -> pd.DataFrame:
    return stage_mar(raw, TZ, **kwargs) if kind == "mar" else stage_claims(raw, **kwargs)


def _assert_same_cells(plain: pd.DataFrame, compact: pd.DataFrame) -> None:
    """Equal frames, and equal Python objects cell by cell (None is not NaN, "" is not None)."""
    expanded = expand_text(compact)
    pd.testing.assert_frame_equal(expanded, plain)
    for name in plain.columns:
        if plain[name].dtype == object:
            assert [type(v) for v in expanded[name]] == [type(v) for v in plain[name]], name


@pytest.mark.parametrize("categorical", [True, False], ids=["categorical raw", "object raw"])
@pytest.mark.parametrize("kind, text", [("mar", MAR_CSV), ("claims", CLAIMS_CSV)])
def test_compact_staging_expands_to_the_default_staging(tmp_path: Path, kind: str, text: str,
                                                        categorical: bool) -> None:
    path = tmp_path / f"{kind}.csv"
    path.write_text(text, encoding="utf-8")
    raw = read_extract(path, kind, categorical=categorical)  # type: ignore[arg-type]
    plain, compact = _stage(kind, raw), _stage(kind, raw, compact=True)
    _assert_same_cells(plain, compact)
    not_text = ("service_date", "superseded_reason") + (() if categorical else ("ward", "note"))  # extras as read
    text_columns = [c for c in plain.columns if plain[c].dtype == object and c not in not_text]
    assert len(text_columns) >= 11
    assert all(isinstance(compact[c].dtype, pd.CategoricalDtype) for c in text_columns)
    assert compact["service_date"].dtype == object  # dates are not text


def test_compact_mar_values_and_categories(tmp_path: Path) -> None:
    path = tmp_path / "mar.csv"
    path.write_text(MAR_CSV, encoding="utf-8")
    staged = stage_mar(read_extract(path, "mar", categorical=True), TZ, compact=True)
    route = staged["route"]
    # " iv_infusion " / "iv_infusion" and "IV_PUSH" / "iv_push" / "iv_push ": one category each.
    assert sorted(route.cat.categories) == ["iv_infusion", "iv_push"]
    assert route.tolist() == ["iv_infusion", "iv_infusion", "iv_push", "iv_push", "iv_push"]
    assert staged["encounter_id"].cat.categories.tolist().count("E2") == 1  # " E2 " trims onto "E2"
    assert staged["patient_id"].array.codes[4] == -1  # blank: missing
    assert staged["ndc"].tolist()[0] == "00409488802"  # 4-4-2 NDC as its 11-digit key
    assert expand_text(staged)["drug"].tolist()[3] is None
    assert staged["ward"].dtype == "category"  # unknown extra columns stay compact, as read
    assert expand_text(staged)["ward"].tolist() == ["4N", " 4N", None, "4N", None]


def test_compact_claims_fill_values_are_categories(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text(CLAIMS_CSV, encoding="utf-8")
    staged = stage_claims(read_extract(path, "claims", categorical=True), compact=True)
    assert staged["modifiers"].tolist() == ["", "59,XU", "59,XU", "", ""]  # "" when none, never missing
    assert staged["claim_frequency"].tolist() == ["1", "1", "7", "8", "1"]  # "1" by default
    assert sorted(staged["claim_frequency"].cat.categories) == ["1", "7", "8"]
    assert staged["hcpcs"].tolist()[:3] == ["96365", "J1100", "J1100"]
    assert staged["claim_type"].cat.categories.tolist().count("institutional") == 1
    assert staged["superseded_reason"].dtype == object
    assert staged["superseded_reason"].tolist()[:3] == [schemas.SUPERSEDED_BY_REPLACEMENT] * 2 + [None]


def test_compact_staging_of_parquet_numbers_expands_to_the_default(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "claim_id": ["C1", "C1", "C2"], "encounter_id": [1, 1, 2], "patient_id": [10.0, np.nan, 11.0],
        "claim_type": ["institutional"] * 3, "line_number": [1, 2, 1], "service_date": ["2026-03-09"] * 3,
        "hcpcs": ["96365", "96366", "96365"], "units": [1, 1, 1], "charge": [1.0, 2.0, 3.0],
        "revenue_code": [260, 260, 636],
    })
    path = tmp_path / "claims.parquet"
    frame.to_parquet(path)
    raw = read_extract(path, "claims")
    plain, compact = stage_claims(raw), stage_claims(raw, compact=True)
    _assert_same_cells(plain, compact)
    assert compact["encounter_id"].tolist() == ["1", "1", "2"] and compact["revenue_code"].dtype == "category"
