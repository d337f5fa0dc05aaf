"""A lake dataset's files by night and their schemas, read once (transforms.outputs.lake_files)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from transforms.outputs import lake, lake_files
from transforms.vocab.schemas import CLAIM_ARROW

NIGHTS = [date(2026, 11, 2) + timedelta(days=i) for i in range(5)]


def _claims(root, night, **extra):
    frame = pd.DataFrame([{"claim_id": f"C{night.day}", "encounter_id": "E1", "line_number": 1, "hcpcs": "96365",
                           "units": 1, **extra}])
    lake.write_day(frame, root, "claim_lines", night, CLAIM_ARROW)


def _schema_reads(monkeypatch) -> list[int]:
    """The files of each batch whose schemas lake_files reads from disk."""
    import types

    reads: list[int] = []
    real = lake_files.ds.dataset
    spy = types.SimpleNamespace(dataset=lambda files, **k: reads.append(len(files)) or real(files, **k))
    monkeypatch.setattr(lake_files, "ds", spy)  # lake_files' own reads only
    return reads


def test_a_read_of_two_nights_scans_their_files_only_with_every_nights_columns(tmp_path):
    for night in NIGHTS[:4]:
        _claims(tmp_path, night)
    _claims(tmp_path, NIGHTS[4], ward="7B")  # an extra input column on the last night only
    base = tmp_path / "claim_lines"
    assert [lake_files.night_of(p) for p in lake_files.night_files(base)] == NIGHTS
    assert lake_files.night_files(base, NIGHTS[1], NIGHTS[2]) == lake_files.night_files(base)[1:3]
    data = lake._unified(base, NIGHTS[1], NIGHTS[2])
    assert [lake_files.night_of(lake_files.Path(f.path)) for f in data.get_fragments()] == NIGHTS[1:3]
    rows = lake.read_days(tmp_path, "claim_lines", NIGHTS[1], NIGHTS[2])
    assert rows["claim_id"].tolist() == ["C3", "C4"] and rows["ward"].isna().all()
    assert list(rows.columns) == lake.column_names(tmp_path, "claim_lines")


def test_each_files_schema_is_read_once_until_the_file_is_replaced(tmp_path, monkeypatch):
    for night in NIGHTS[:3]:
        _claims(tmp_path, night)
    reads = _schema_reads(monkeypatch)
    lake.read_days(tmp_path, "claim_lines", NIGHTS[2], NIGHTS[2])
    assert reads == [3]  # the first read: every night's schema
    lake.read_days(tmp_path, "claim_lines", NIGHTS[0], NIGHTS[1])
    assert reads == [3]  # none again
    _claims(tmp_path, NIGHTS[1], unit_location="ICU 4")  # a rerun of night 2 with an extra column
    rows = lake.read_days(tmp_path, "claim_lines", NIGHTS[0], NIGHTS[0])
    assert reads == [3, 1] and "unit_location" in rows  # only the new file is read; its column is every read's


def test_the_schemas_of_many_files_are_read_a_batch_at_a_time(tmp_path, monkeypatch):
    nights = [date(2025, 1, 1) + timedelta(days=i) for i in range(lake_files._SCHEMAS_PER_READ + 6)]
    for night in nights:
        _claims(tmp_path, night)
    reads = _schema_reads(monkeypatch)
    assert lake.count_rows(tmp_path, "claim_lines", nights[0], nights[-1]) == len(nights)
    assert lake.column_names(tmp_path, "claim_lines")[-1] == lake.PARTITION_KEY
    assert reads == [lake_files._SCHEMAS_PER_READ, 6]
