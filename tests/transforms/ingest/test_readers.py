"""Reading and staging the MAR and claim extracts (transforms/ingest/readers.py)."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.vocab import schemas
from transforms.ingest.readers import ExtractError, read_extract, stage_claims, stage_mar

TZ = "America/New_York"

MAR_CSV = """\
 Encounter_ID ,PATIENT_ID,Order_Id,Infusate_ID,Drug,NDC,Drug_Class,ROUTE,Action,Event_Time,Access_Site,Rate,Rate_Unit,Dose,Dose_Unit,Volume_mL,Primary,Ward
E1,P1,O1,,ceftriaxone 1 g IVPB,0409-4888-02,Therapeutic, IV_Infusion , START ,2026-03-08T01:30:00-05:00,L forearm PIV,100,mL/h,1,g,50,true,4N
E1,P1,O1,,ceftriaxone 1 g IVPB,,,iv_infusion,stop,2026-03-08 03:10,L forearm PIV,,,,,,,4N
E1,P1,O2,B7,sodium chloride 0.9%,,hydration,iv_infusion,start,2026-11-01 01:30,port,125,mL/h,,,1000,no,
E1,P1,O3,,ondansetron,,,iv_push,given,2026-11-01T06:45:00Z,port,,,4,mg,,,
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


# --------------------------------------------------------------------------
# read_extract
# --------------------------------------------------------------------------
def test_headers_are_lower_cased_and_trimmed(tmp_path: Path) -> None:
    """Column names match after lower-casing and trimming; values are raw."""
    raw = read_extract(write(tmp_path, "mar.csv", MAR_CSV), "mar")
    assert list(raw.columns[:3]) == ["encounter_id", "patient_id", "order_id"]
    assert "volume_ml" in raw.columns and "ward" in raw.columns
    assert raw.loc[0, "route"] == " IV_Infusion "  # raw values untouched
    assert raw.loc[1, "rate"] is None  # "" is missing
    assert raw["source_row"].tolist() == [1, 2, 3, 4]
    assert raw["source_row"].dtype == np.int64
    assert list(raw.index) == [0, 1, 2, 3]


def test_bom_and_gzip_are_accepted(tmp_path: Path) -> None:
    """A UTF-8 BOM does not end up in the first column name; .csv.gz works."""
    path = tmp_path / "mar.csv"
    path.write_bytes(b"\xef\xbb\xbf" + MAR_CSV.encode())
    gz = tmp_path / "mar.csv.gz"
    gz.write_bytes(gzip.compress(MAR_CSV.encode()))
    for p in (path, gz):
        raw = read_extract(p, "mar")
        assert raw.columns[0] == "encounter_id"
        assert len(raw) == 4


def test_extra_columns_are_kept(tmp_path: Path) -> None:
    """Unknown columns survive reading and staging, after the helpers."""
    raw = read_extract(write(tmp_path, "mar.csv", MAR_CSV), "mar")
    staged = stage_mar(raw, TZ)
    assert staged["ward"].tolist() == ["4N", "4N", None, None]
    assert staged.columns[-1] == "ward"


def test_missing_required_columns_name_file_and_columns(tmp_path: Path) -> None:
    text = "encounter_id,patient_id,order_id,drug,action\nE1,P1,O1,x,start\n"
    path = write(tmp_path, "nightly_mar.csv", text)
    with pytest.raises(ExtractError) as err:
        read_extract(path, "mar")
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert "nightly_mar.csv" in message
    assert "route" in message and "event_time" in message
    assert "\n" not in message


def test_missing_required_claim_column(tmp_path: Path) -> None:
    text = "claim_id,encounter_id,patient_id,claim_type,line_number,service_date,hcpcs\n"
    with pytest.raises(ExtractError, match=r"claims\.csv: .*units"):
        read_extract(write(tmp_path, "claims.csv", text), "claims")


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("mar.parquet", b"this is not parquet at all", "Parquet"),
        ("mar.csv", b"", "empty file"),
        ("mar.csv", b"encounter_id,patient_id\n\xff\xfe,x\n", "UTF-8"),
        ("mar.xlsx", b"PK\x03\x04", "unsupported file type"),
        ("mar.csv.gz", b"not gzip", "cannot read"),
        ("mar.csv", MAR_CSV.replace("4N\n", "4N,extra,fields\n", 1).encode(), "malformed CSV"),
    ],
)
def test_unreadable_files_raise_extract_error(
    tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ExtractError) as err:
        read_extract(path, "mar")
    assert str(err.value).startswith(str(path))
    assert problem in str(err.value)


def test_missing_file_raises_extract_error(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match="file not found"):
        read_extract(tmp_path / "absent.csv", "mar")


def test_colliding_columns_raise(tmp_path: Path) -> None:
    text = MAR_CSV.replace("Ward", "route ", 1)
    with pytest.raises(ExtractError, match="collide"):
        read_extract(write(tmp_path, "mar.csv", text), "mar")


def test_header_only_file_gives_empty_frame(tmp_path: Path) -> None:
    raw = read_extract(write(tmp_path, "mar.csv", MAR_CSV.splitlines()[0] + "\n"), "mar")
    assert raw.empty and "source_row" in raw.columns
    staged = stage_mar(raw, TZ)
    assert staged.empty and set(schemas.MAR_ARROW.names) <= set(staged.columns)


# --------------------------------------------------------------------------
# stage_mar
# --------------------------------------------------------------------------
def test_stage_mar_types_and_normalisation(tmp_path: Path) -> None:
    staged = stage_mar(read_extract(write(tmp_path, "mar.csv", MAR_CSV), "mar"), TZ)
    assert list(staged.columns[: len(schemas.MAR_ARROW)]) == schemas.MAR_ARROW.names
    assert list(staged.columns[len(schemas.MAR_ARROW) : -1]) == list(schemas.MAR_HELPERS)
    assert str(staged["event_time"].dtype) == "datetime64[ns, UTC]"
    assert staged["primary"].dtype == "boolean"
    assert staged["rate"].dtype == np.float64
    assert staged["duplicate_of"].dtype == "Int64"
    assert staged["route"].tolist() == ["iv_infusion"] * 3 + ["iv_push"]
    assert staged["action"].tolist() == ["start", "stop", "start", "given"]
    assert staged.loc[0, "drug_class"] == "therapeutic"
    assert staged.loc[0, "ndc"] == "00409488802"  # 4-4-2 padded to 11 digits
    assert staged.loc[1, "ndc"] is None
    assert staged["primary"].tolist() == [True, pd.NA, False, pd.NA]
    assert staged["rate"].tolist()[0] == 100.0 and np.isnan(staged.loc[1, "rate"])
    assert staged["service_date"].tolist() == [dt.date(2026, 3, 8)] * 2 + [dt.date(2026, 11, 1)] * 2
    # pyarrow accepts the staged canonical columns under the lake schema.
    table = pa.Table.from_pandas(
        staged[list(schemas.MAR_ARROW.names)], schema=schemas.MAR_ARROW, preserve_index=False
    )
    assert table.num_rows == 4


def test_infusate_defaults_to_order_id(tmp_path: Path) -> None:
    staged = stage_mar(read_extract(write(tmp_path, "mar.csv", MAR_CSV), "mar"), TZ)
    assert staged["infusate_id"].tolist() == ["O1", "O1", "B7", "O3"]


def _mar_raw(times: list[str | None]) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame(
        {
            "encounter_id": ["E1"] * n,
            "patient_id": ["P1"] * n,
            "order_id": [f"O{i}" for i in range(n)],
            "drug": ["x"] * n,
            "route": ["iv_push"] * n,
            "action": ["given"] * n,
            "event_time": times,
            "source_row": np.arange(1, n + 1, dtype="int64"),
        }
    )


# (raw event_time, expected UTC instant or None, nonexistent local time?)
TIME_CASES: list[tuple[str | None, str | None, bool]] = [
    ("2026-03-08T01:30:00-05:00", "2026-03-08T06:30:00Z", False),
    ("2026-03-08T07:30:00Z", "2026-03-08T07:30:00Z", False),
    ("2026-03-08t07:30:00z", "2026-03-08T07:30:00Z", False),
    ("2026-03-08 09:30:00 +0200", "2026-03-08T07:30:00Z", False),
    ("2026-03-08 01:59", "2026-03-08T06:59:00Z", False),  # EST, before the gap
    ("2026-03-08 02:30", None, True),  # spring-forward gap
    ("2026-03-08 03:00", "2026-03-08T07:00:00Z", False),  # EDT, after the gap
    ("2026-11-01 01:30", "2026-11-01T05:30:00Z", False),  # overlap: first (EDT)
    ("2026-11-01T01:30:00-05:00", "2026-11-01T06:30:00Z", False),  # explicit EST
    ("2026-11-01 02:30", "2026-11-01T07:30:00Z", False),  # EST
    ("2026-03-08", None, False),  # a date alone is not an event time
    ("03/08/2026 10:00", None, False),
    ("soon", None, False),
    (None, None, False),
]


def test_offsets_and_local_times_in_one_column() -> None:
    """Offset and naive strings mix in one column; DST gap and overlap."""
    raw = _mar_raw([t for t, _, _ in TIME_CASES])
    staged = stage_mar(raw, TZ)
    expected = pd.Series(
        [pd.Timestamp(e) if e else pd.NaT for _, e, _ in TIME_CASES], dtype="datetime64[ns, UTC]"
    )
    pd.testing.assert_series_equal(staged["event_time"], expected, check_names=False)
    assert staged["event_time_nonexistent"].tolist() == [n for _, _, n in TIME_CASES]
    assert staged["event_time_raw_present"].tolist() == [t is not None for t, _, _ in TIME_CASES]


def test_service_date_is_local_calendar_date() -> None:
    """03:30Z on 9 March is 23:30 EDT on 8 March: the line date is the 8th."""
    staged = stage_mar(_mar_raw(["2026-03-09T03:30:00Z", "2026-03-09 00:10", None]), TZ)
    assert staged["service_date"].tolist() == [dt.date(2026, 3, 8), dt.date(2026, 3, 9), None]


# (raw ndc, staged ndc): an NDC by transforms.reference.ndc.normalise_ndc is
# staged as its 11 digits; anything else is kept as charted, never lost.
NDC_CASES: list[tuple[str | None, str | None]] = [
    ("0409-4888-02", "00409488802"),  # 4-4-2 padded
    ("12345-678-90", "12345067890"),  # 5-3-2 padded
    ("12345-6789-1", "12345678901"),  # 5-4-1 padded
    (" 12345 6789 01 ", "12345678901"),  # 11 digits, any separators
    ("4091234010", "4091234010"),  # 10 digits without hyphens: ambiguous
    ("NDC 0409-4888-02", "NDC 0409-4888-02"),  # 10 digits, not a label form
    ("abc", "abc"),
    ("", None),
    (None, None),
]


def test_ndc_is_the_11_digit_key_or_kept_as_charted() -> None:
    raw = _mar_raw(["2026-03-09 10:00"] * len(NDC_CASES))
    raw["ndc"] = [r for r, _ in NDC_CASES]
    staged = stage_mar(raw, TZ)
    assert staged["ndc"].tolist() == [e for _, e in NDC_CASES]


def test_staged_ndc_classifies_like_the_charted_ndc() -> None:
    """The reader and the classifier share one NDC rule: staging loses no match."""
    from transforms.reference.drugs import classify_drugs, load_drug_reference

    ref = load_drug_reference()
    charted = pd.Series(["51662-1245-1", "51662 1245 01", "5166212451", "x", None], dtype=object)
    raw = _mar_raw(["2026-03-09 10:00"] * len(charted))
    raw["ndc"] = charted
    drug = pd.Series(["mystery"] * len(charted))
    staged = stage_mar(raw, TZ)
    pd.testing.assert_frame_equal(
        classify_drugs(drug, ref, ndc=staged["ndc"]), classify_drugs(drug, ref, ndc=charted)
    )
    assert classify_drugs(drug, ref, ndc=staged["ndc"])["class_source"].tolist()[:3] == ["ndc", "ndc", "unknown"]


def test_duplicate_events_point_at_first_occurrence() -> None:
    raw = _mar_raw(["2026-03-09 10:00", "2026-03-09 10:00", "2026-03-09T15:00:00Z", "x", "x"])
    raw["order_id"] = "O1"
    staged = stage_mar(raw, TZ)
    # 10:00 EDT is 14:00Z: row 2 repeats row 1, row 3 (15:00Z) does not.
    # Rows 4-5 have no parseable time: they fail on event_time, not as duplicates.
    assert staged["duplicate_of"].tolist() == [pd.NA, 1, pd.NA, pd.NA, pd.NA]


def test_duplicate_key_includes_access_site_even_when_missing() -> None:
    raw = _mar_raw(["2026-03-09 10:00"] * 3)
    raw["order_id"] = "O1"
    raw["access_site"] = [None, "port", None]
    staged = stage_mar(raw, TZ)
    assert staged["duplicate_of"].tolist() == [pd.NA, pd.NA, 1]


def test_parquet_and_csv_stage_identically(tmp_path: Path) -> None:
    """Typed Parquet columns and all-text CSV give the same staged frame."""
    csv_path = write(tmp_path, "mar.csv", MAR_CSV)
    from_csv = stage_mar(read_extract(csv_path, "mar"), TZ)
    text = read_extract(csv_path, "mar").drop(columns="source_row")
    typed = text.copy()
    typed.columns = [c.upper() for c in typed.columns]  # names normalised too
    typed["EVENT_TIME"] = pd.Series(from_csv["event_time"]).dt.tz_convert("Europe/Paris")
    for c in ("RATE", "DOSE", "VOLUME_ML"):
        typed[c] = pd.to_numeric(typed[c])
    typed["PRIMARY"] = pd.array([True, None, False, None], dtype="boolean")
    parquet_path = tmp_path / "mar.parquet"
    pq.write_table(pa.Table.from_pandas(typed, preserve_index=False), parquet_path)
    raw = read_extract(parquet_path, "mar")
    assert str(raw["event_time"].dtype).startswith("datetime64")
    from_parquet = stage_mar(raw, TZ)
    pd.testing.assert_frame_equal(from_csv, from_parquet)


def test_parquet_naive_timestamps_are_facility_local(tmp_path: Path) -> None:
    frame = _mar_raw([None, None]).drop(columns="source_row")
    frame["event_time"] = pd.to_datetime(["2026-11-01 01:30", "2026-03-08 02:30"])
    path = tmp_path / "mar.pq"
    frame.to_parquet(path, index=False)
    staged = stage_mar(read_extract(path, "mar"), TZ)
    assert staged.loc[0, "event_time"] == utc("2026-11-01T05:30:00Z")
    assert pd.isna(staged.loc[1, "event_time"]) and staged.loc[1, "event_time_nonexistent"]


def test_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(ValueError, match="time zone"):
        stage_mar(_mar_raw(["2026-03-09 10:00"]), "Mars/Olympus_Mons")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {c: st.one_of(st.none(), st.text(max_size=12)) for c in schemas.MAR_COLUMNS}
        ),
        min_size=0,
        max_size=12,
    )
)
def test_staging_never_drops_or_reorders_rows(rows: list[dict[str, str | None]]) -> None:
    """Whatever the text, staging keeps every row and its source_row."""
    raw = pd.DataFrame(rows, columns=list(schemas.MAR_COLUMNS), dtype=object)
    raw["source_row"] = np.arange(1, len(raw) + 1, dtype="int64")
    staged = stage_mar(raw, TZ)
    assert staged["source_row"].tolist() == raw["source_row"].tolist()
    assert staged["event_time"].isna().sum() >= staged["event_time_nonexistent"].sum()
    for field in schemas.MAR_ARROW:
        if pa.types.is_string(field.type):
            values = staged[field.name].tolist()
            assert all(v is None or (isinstance(v, str) and v == v.strip() != "") for v in values)


# --------------------------------------------------------------------------
# stage_claims
# --------------------------------------------------------------------------
CLAIMS_CSV = """\
Claim_ID,Encounter_ID,Patient_ID,Claim_Type,Line_Number,Service_Date,HCPCS,Modifiers,Units,Charge,Revenue_Code,Claim_Frequency
C1,E1,P1,Institutional,1,2026-03-08,96365,,1,400.00,0260,
C1,E1,P1,institutional,2,03/08/2026,96366," 59 , xu ",2.0,150,0260,1
C1,E1,P1,institutional,3,2026-03-08, j1100 ,,2.5,10,0636,1
C1,E1,P1,institutional,4,2026-02-30,96375,,x,,0260,1
"""


def test_stage_claims_parsing(tmp_path: Path) -> None:
    staged = stage_claims(read_extract(write(tmp_path, "claims.csv", CLAIMS_CSV), "claims"))
    assert list(staged.columns) == [*schemas.CLAIM_ARROW.names, *schemas.CLAIM_HELPERS]
    assert staged["claim_type"].tolist() == ["institutional"] * 4
    assert staged["service_date"].tolist() == [dt.date(2026, 3, 8)] * 3 + [None]
    assert staged["service_date_raw_present"].tolist() == [True] * 4
    assert staged["hcpcs"].tolist() == ["96365", "96366", "J1100", "96375"]
    assert staged["modifiers"].tolist() == ["", "59,XU", "", ""]
    assert staged["units"].tolist() == [1, 2, pd.NA, pd.NA]
    assert staged["units"].dtype == "Int64" and staged["line_number"].dtype == "Int64"
    assert staged["units_raw_present"].tolist() == [True] * 4
    assert staged["claim_frequency"].tolist() == ["1"] * 4
    assert staged["revenue_code"].tolist() == ["0260", "0260", "0636", "0260"]
    assert staged["charge"].tolist()[:3] == [400.0, 150.0, 10.0]
    assert staged["superseded_reason"].isna().all() and staged["duplicate_of"].isna().all()


def test_claims_csv_and_parquet_stage_identically(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "claims.csv", CLAIMS_CSV)
    from_csv = stage_claims(read_extract(csv_path, "claims"))
    typed = read_extract(csv_path, "claims").drop(columns="source_row")
    typed["line_number"] = pd.to_numeric(typed["line_number"])
    typed["charge"] = pd.to_numeric(typed["charge"])
    typed["service_date"] = [dt.date(2026, 3, 8)] * 3 + ["2026-02-30"]
    typed["service_date"] = typed["service_date"].astype(str)
    parquet_path = tmp_path / "claims.parquet"
    pq.write_table(pa.Table.from_pandas(typed, preserve_index=False), parquet_path)
    pd.testing.assert_frame_equal(from_csv, stage_claims(read_extract(parquet_path, "claims")))
    # date32 Parquet columns come back as datetime.date and stay dates.
    typed = typed.iloc[:3].copy()
    typed["service_date"] = [dt.date(2026, 3, 8)] * 3
    pq.write_table(pa.Table.from_pandas(typed, preserve_index=False), parquet_path)
    staged = stage_claims(read_extract(parquet_path, "claims"))
    assert staged["service_date"].tolist() == [dt.date(2026, 3, 8)] * 3


def _claims_raw(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    """(claim_id, claim_frequency, line_number) rows, in file order."""
    frame = pd.DataFrame(rows, columns=["claim_id", "claim_frequency", "line_number"])
    frame["line_number"] = frame["line_number"].astype(str)
    n = len(frame)
    frame = frame.assign(
        encounter_id="E1",
        patient_id="P1",
        claim_type="institutional",
        service_date="2026-03-08",
        hcpcs="96365",
        units="1",
        source_row=np.arange(1, n + 1, dtype="int64"),
    )
    return frame


def test_replacement_supersedes_and_void_voids() -> None:
    """Frequency 7 replaces the earlier lines; 8 voids the whole claim."""
    raw = _claims_raw(
        [
            ("C1", "1", 1),  # 1 superseded by rows 4-5
            ("C1", "1", 2),  # 2 superseded
            ("C2", "1", 1),  # 3 voided by row 6
            ("C1", "7", 1),  # 4 current
            ("C1", "7", 2),  # 5 current
            ("C2", "8", 1),  # 6 the void itself
            ("C3", "1", 1),  # 7 untouched
            ("C4", "7", 1),  # 8 replacement of a claim not in the file: used
            ("C5", "1", 1),  # 9  original
            ("C5", "7", 1),  # 10 first replacement
            ("C5", "7", 2),  # 11
            ("C5", "7", 1),  # 12 second replacement (line numbers restart)
        ]
    )
    staged = stage_claims(raw)
    r, v = schemas.SUPERSEDED_BY_REPLACEMENT, schemas.VOIDED
    assert staged["superseded_reason"].tolist() == [
        r, r, v, None, None, v, None, None, r, r, r, None
    ]
    assert r == "superseded by replacement claim (frequency 7)"
    assert v == "voided (frequency 8)"
    # Re-used line numbers of a replacement are not duplicates.
    assert staged["duplicate_of"].isna().all()


def test_duplicate_claim_lines() -> None:
    raw = _claims_raw([("C1", "1", 1), ("C1", "1", 2), ("C1", "1", 1), ("C2", "1", 1)])
    assert stage_claims(raw)["duplicate_of"].tolist() == [pd.NA, pd.NA, 1, pd.NA]
