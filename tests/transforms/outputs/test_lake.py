"""The lake replaces a day's partition and never appends a day twice."""

from datetime import date

import pandas as pd
import pyarrow as pa
import pytest

from transforms.outputs import lake

SCHEMA = pa.schema([("encounter_id", pa.string()), ("units", pa.int64())])


def test_rewriting_a_day_replaces_only_that_day(tmp_path):
    d1, d2 = date(2026, 11, 2), date(2026, 11, 3)
    lake.write_day(pd.DataFrame({"encounter_id": ["A", "B"], "units": [1, 2]}), tmp_path, "findings", d1, SCHEMA)
    lake.write_day(pd.DataFrame({"encounter_id": ["C"], "units": [3]}), tmp_path, "findings", d2, SCHEMA)
    # Rewrite day 1 twice: its rows are replaced, never appended.
    for _ in range(2):
        lake.write_day(pd.DataFrame({"encounter_id": ["A"], "units": [5]}), tmp_path, "findings", d1, SCHEMA)
    got = lake.read_days(tmp_path, "findings", d1, d2).sort_values("encounter_id")
    assert got["encounter_id"].tolist() == ["A", "C"]
    assert got["units"].tolist() == [5, 3]
    assert lake.days_present(tmp_path, "findings") == [d1, d2]


def test_empty_day_is_recorded_and_reads_back_empty(tmp_path):
    d = date(2026, 11, 2)
    lake.write_day(pd.DataFrame({"encounter_id": ["A"], "units": [1]}), tmp_path, "findings", d, SCHEMA)
    lake.write_day(pd.DataFrame({"encounter_id": [], "units": []}), tmp_path, "findings", d, SCHEMA)
    assert lake.days_present(tmp_path, "findings") == [d]
    assert lake.read_days(tmp_path, "findings", d, d).empty


def test_free_form_table_keeps_values_as_text(tmp_path):
    d = date(2026, 11, 2)
    q = pd.DataFrame({"source": ["mar"], "row": [7], "reason": ["bad route"], "route": ["iv_drip"]})
    lake.write_day(q, tmp_path, "quarantine", d)
    got = lake.read_days(tmp_path, "quarantine", d, d)
    assert got.loc[0, "row"] == "7" and got.loc[0, "route"] == "iv_drip"


def test_unknown_dataset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown lake dataset"):
        lake.write_day(pd.DataFrame(), tmp_path, "scratch", date(2026, 11, 2))


def test_output_tables_carry_their_schema_version(tmp_path):
    """Dashboards read findings directly: typed columns and a version tag."""
    import pyarrow.dataset as ds

    from transforms.vocab.schemas import FINDINGS_ARROW, OUTPUT_SCHEMA_VERSION

    d = date(2026, 11, 2)
    f = pd.DataFrame({"encounter_id": ["E1"], "claim_id": ["C1"], "hcpcs": ["96368"], "billed_units": [2],
                      "expected_units": [1], "finding": ["concurrent_billed_twice"], "explanation": ["x"],
                      "direction": ["over_billed"], "severity": ["high"], "dollar_impact": [None],
                      "setting": ["facility"], "evidence": [""]})
    lake.write_day(f, tmp_path, "findings", d, FINDINGS_ARROW)
    schema = ds.dataset(tmp_path / "findings", format="parquet", partitioning="hive").schema
    assert schema.field("billed_units").type == pa.int64()
    assert schema.field("dollar_impact").type == pa.float64()
    assert schema.metadata[b"infusion_audit.schema_version"] == OUTPUT_SCHEMA_VERSION.encode()
    got = lake.read_days(tmp_path, "findings", d, d)
    assert got.loc[0, "hcpcs"] == "96368" and got.loc[0, "billed_units"] == 2
