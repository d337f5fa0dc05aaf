"""Tests of the bulk workload generator (transforms.synthetic.bulk): tiling, ids, CSV layout, scale independence."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from flows import pipeline
from flows.settings import Settings
from transforms.synthetic.bulk import (
    ID_COLUMNS,
    BulkExtracts,
    base_id,
    bulk_extracts,
    replica_id,
    write_bulk,
    write_csv_cells,
)
from transforms.synthetic.generator import write_extracts

BASE = 60
REPLICAS = 3
SUFFIX = r"(?<=[A-Za-z0-9])-\d{6}(?!\d)"  # a replica suffix after an id


@pytest.fixture(scope="module")
def bulk() -> BulkExtracts:
    return bulk_extracts(REPLICAS * BASE, seed=3, base_encounters=BASE)


def _text(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas().astype(object)


def test_row_counts_are_replicas_times_base(bulk: BulkExtracts) -> None:
    assert bulk.replicas == REPLICAS and bulk.encounters == REPLICAS * BASE
    assert bulk.truth.num_rows == REPLICAS * BASE == REPLICAS * len(bulk.base.truth)
    assert bulk.mar.num_rows == REPLICAS * len(bulk.base.mar)
    assert bulk.claims.num_rows == REPLICAS * len(bulk.base.claims)


def test_partial_last_replica_keeps_the_first_encounters() -> None:
    part = bulk_extracts(2 * BASE + 25, seed=3, base_encounters=BASE)
    assert part.replicas == 3 and part.truth.num_rows == 2 * BASE + 25
    first = set(part.base.truth["encounter_id"].iloc[:25])
    last = base_id(_text(part.mar)["encounter_id"]).query("replica == 2")["base_id"]
    assert set(last) == first
    assert len(last) == part.base.mar["encounter_id"].isin(first).sum()


def test_ids_are_distinct_across_replicas_and_map_back(bulk: BulkExtracts) -> None:
    for kind, table in (("mar", bulk.mar), ("claims", bulk.claims), ("truth", bulk.truth)):
        frame = _text(table)
        base_frame = getattr(bulk.base, kind)
        for column in ID_COLUMNS[kind]:
            ids = frame[column]
            assert ids.nunique() == REPLICAS * base_frame[column].nunique(), (kind, column)
            split = base_id(ids)
            assert split.groupby("base_id")["replica"].nunique().eq(REPLICAS).all()
            # the same base id in every replica, in the same place
            assert list(split["base_id"]) == list(base_frame[column].astype(str)) * REPLICAS
            assert (replica_id(split["base_id"], 2)[split["replica"] == 2] == ids[split["replica"] == 2]).all()
    # no identifier of one replica appears in another (patients included)
    frame = _text(bulk.claims)
    per_patient = frame.groupby("patient_id")["encounter_id"].apply(lambda s: base_id(s)["replica"].nunique())
    assert per_patient.eq(1).all()


def test_same_seed_same_cells_other_seed_other_cells(bulk: BulkExtracts) -> None:
    again = bulk_extracts(REPLICAS * BASE, seed=3, base_encounters=BASE)
    for name in ("mar", "claims", "truth"):
        assert getattr(again, name).equals(getattr(bulk, name)), name
    other = bulk_extracts(REPLICAS * BASE, seed=4, base_encounters=BASE)
    assert not other.mar.equals(bulk.mar)


def test_one_replica_writes_the_generators_csv_bytes(tmp_path: Path) -> None:
    one = bulk_extracts(BASE, seed=3, base_encounters=BASE)
    ours = write_bulk(one, tmp_path / "bulk")
    theirs = write_extracts(one.base, tmp_path / "gen")
    for kind in ("mar", "claims", "truth"):
        text = ours[kind].read_text(encoding="utf-8")
        assert "-000000" in text
        assert text.replace("-000000", "") == theirs[kind].read_text(encoding="utf-8"), kind


def test_writer_quotes_like_pandas(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": ['x,y', None, 'say "hi"', "two\nlines", "plain"], "b": ["1", "2", None, "4", "5"]})
    table = pa.table({"a": pa.array(frame["a"], pa.string()).dictionary_encode(), "b": pa.array(frame["b"])})
    write_csv_cells(table, tmp_path / "ours.csv", chunk_rows=2)
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_days_move_replicas_whole_days() -> None:
    moved = bulk_extracts(3 * BASE, seed=3, base_encounters=BASE, days=2)
    mar = _text(moved.mar)
    times = pd.to_datetime(mar["event_time"], utc=True)
    replica = base_id(mar["encounter_id"])["replica"]
    base_times = pd.Series(pd.DatetimeIndex(moved.base.mar["event_time"]))
    for r, days in ((0, 0), (1, 1), (2, 0)):
        got = times[replica == r].reset_index(drop=True)
        assert (got - base_times).eq(pd.Timedelta(days=days)).all(), r
    dates = pd.to_datetime(_text(moved.claims)["service_date"])
    claim_replica = base_id(_text(moved.claims)["encounter_id"])["replica"]
    base_dates = pd.Series(pd.to_datetime(moved.base.claims["service_date"]))
    assert (dates[claim_replica == 1].reset_index(drop=True) - base_dates).eq(pd.Timedelta(days=1)).all()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        bulk_extracts(0)
    with pytest.raises(ValueError):
        bulk_extracts(10, base_encounters=10, days=0)


# --- scale independence: each replica is audited exactly like the base ------------------------

def _audit(paths: dict[str, Path]) -> pipeline.AuditResult:
    settings = Settings()
    valid = {kind: pipeline.validate(pipeline.load(paths[kind], kind, settings)) for kind in ("mar", "claims")}
    for kind, v in valid.items():
        assert v.counts["rows_quarantined"] == 0, kind
    return pipeline.audit(valid["mar"].kept, valid["claims"].kept, settings)


def _by_replica(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """``frame`` split by replica, every replica suffix removed from its text, in a canonical row order."""
    replica = base_id(frame["encounter_id"])["replica"]
    plain = frame.assign(**{c: _without_suffix(frame[c]) for c in frame.select_dtypes(include="object").columns})
    return {int(r): _canonical(part) for r, part in plain.groupby(replica)}


def _without_suffix(values: pd.Series) -> pd.Series:
    text = values.map(lambda v: isinstance(v, str)).astype(bool)
    return values.mask(text, values[text].str.replace(SUFFIX, "", regex=True))


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), kind="mergesort", na_position="last").reset_index(drop=True)


def test_audit_of_each_replica_equals_the_audit_of_the_base(bulk: BulkExtracts, tmp_path: Path) -> None:
    base = _audit(write_extracts(bulk.base, tmp_path / "base"))
    tiled = _audit(write_bulk(bulk, tmp_path / "bulk"))
    assert len(base.findings) > 0 and len(base.expected_lines) > 0  # the base sample has errors to find
    assert len(tiled.findings) == REPLICAS * len(base.findings)
    assert len(tiled.expected_lines) == REPLICAS * len(base.expected_lines)
    for name in ("expected_lines", "findings"):
        want = _canonical(getattr(base, name))
        parts = _by_replica(getattr(tiled, name))
        assert sorted(parts) == list(range(REPLICAS))
        for r, got in parts.items():
            pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=f"{name} of replica {r}")
