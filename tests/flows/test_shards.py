"""A day audited in shards writes the same files as the day audited whole (no Prefect)."""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd
import pytest

from flows.pipeline import audit_files
from flows.settings import Settings
from flows.shard_workers import HELPER_SHARD_WEIGHT
from transforms.audit import AuditResult
from transforms.shards import _bounds, _ranked, _rows, _shard_positions, combine_results, iter_shards
from transforms.synthetic.generator import generate, write_extracts

RUN_FILES = ("findings.csv", "expected_codes.csv", "administrations.csv", "worklist.csv", "summary.json",
             "report.md", "report.html")


def test_sharded_day_writes_the_same_bytes(tmp_path, caplog):
    paths = write_extracts(generate(seed=23, start=date(2026, 11, 2), days=2, encounters_per_day=40),
                           tmp_path / "extracts")
    whole = Settings(lake_root=tmp_path / "lake")
    sharded = whole.with_(shard_encounters=7)  # ~80 encounters: 12 shards, the last one short
    summary = audit_files(paths["mar"], paths["claims"], tmp_path / "whole", whole)
    assert summary["encounters_audited"] > 7 * 2 and summary["findings"] > 0
    with caplog.at_level(logging.INFO, logger="infusion_audit"):
        audit_files(paths["mar"], paths["claims"], tmp_path / "sharded", sharded)
    assert "audited in shards" in caplog.text  # the sharded path really ran
    for name in RUN_FILES:
        assert (tmp_path / "sharded" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_shard_size_from_the_environment_and_checked():
    assert Settings().shard_encounters == 50_000
    assert Settings.from_env({"INFUSION_AUDIT_SHARD_ENCOUNTERS": "7"}).shard_encounters == 7
    assert Settings.from_params({"shard_encounters": "9"}).shard_encounters == 9
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="shard_encounters"):
            Settings(shard_encounters=bad)


def test_rows_are_ranked_by_the_text_of_their_encounter():
    rank, names = _ranked(np.array(["E2", "E10", None, "E2", "E1"], dtype=object))
    assert names.tolist() == ["E1", "E10", "E2"] and rank.tolist() == [2, 1, -1, 2, 0]
    # Ids of other types rank by their text; equal texts are one encounter.
    rank, names = _ranked(np.array([10, "10", 9, None], dtype=object))
    assert names.tolist() == ["10", "9"] and rank.tolist() == [0, 0, 1, -1]
    rank, names = _ranked(np.array([], dtype=object))
    assert rank.tolist() == [] and names.tolist() == []


def test_shard_positions_keep_each_shards_rows_in_order():
    got = _shard_positions(np.array([1, 0, 2, 1, 0, 0]), 4)
    assert [p.tolist() for p in got] == [[1, 4, 5], [0, 3], [2], []]


def test_rows_are_one_copy_indexed_from_zero():
    frame = pd.DataFrame({"encounter_id": ["E1", "E2", "E3"], "n": [1, 2, 3]}, index=[7, 8, 9])
    part = _rows(frame, np.array([0, 2]))
    assert part["n"].tolist() == [1, 3] and isinstance(part.index, pd.RangeIndex) and part.index.tolist() == [0, 1]
    part.loc[0, "n"] = 99
    assert frame["n"].tolist() == [1, 2, 3]  # the day's frame is not touched


def test_shards_of_rows_in_any_order_and_a_frame_without_ids():
    mar = pd.DataFrame({"encounter_id": ["E3", "E1", "E3", "E2", None, "E5", "E4"], "row": range(7)})
    claims = pd.DataFrame({"row": range(2)})  # no encounter column: every line goes to shard 0
    shards = list(iter_shards(mar, claims, 2))
    assert [(s.first, s.last) for s in shards] == [("E1", "E1"), ("E2", "E3"), ("E4", "E5")]  # near-equal
    assert [s.mar["row"].tolist() for s in shards] == [[1, 4], [0, 2, 3], [5, 6]]
    assert [s.claims["row"].tolist() for s in shards] == [[0, 1], [], []]
    with pytest.raises(ValueError, match="at least 1"):
        next(iter_shards(mar, claims, 0))


def test_combined_results_out_of_encounter_order_are_sorted_stably():
    def part(ids: list[str], first: int) -> AuditResult:
        admins = pd.DataFrame({"encounter_id": ids, "admin_id": range(len(ids)), "n": range(first, first + len(ids))})
        return AuditResult(admins, admins.drop(columns="admin_id"), admins.iloc[:0])
    combined = combine_results([part(["E2", "E2"], 0), part(["E1", "E3"], 10)])
    assert combined.administrations["encounter_id"].tolist() == ["E1", "E2", "E2", "E3"]
    assert combined.administrations["n"].tolist() == [10, 0, 1, 11]  # stable: E2's rows keep their order
    assert combined.administrations["admin_id"].tolist() == [2, 0, 1, 3]  # renumbered before the sort
    assert combined.expected_lines.index.tolist() == [0, 1, 2, 3]
    in_order = combine_results([part(["E1"], 0), part(["E2", "E3"], 5)])
    assert in_order.expected_lines["n"].tolist() == [0, 5, 6] and in_order.expected_lines.index.tolist() == [0, 1, 2]


def test_shards_audited_with_a_helper_process_write_the_same_bytes(tmp_path, caplog):
    paths = write_extracts(generate(seed=29, start=date(2026, 11, 2), days=2, encounters_per_day=40),
                           tmp_path / "extracts")
    one = Settings(lake_root=tmp_path / "lake", shard_encounters=9, audit_processes=1)
    audit_files(paths["mar"], paths["claims"], tmp_path / "one", one)
    with caplog.at_level(logging.INFO, logger="infusion_audit"):
        audit_files(paths["mar"], paths["claims"], tmp_path / "shared", one.with_(audit_processes=2))
    assert "2 processes at most" in caplog.text  # ~80 encounters: 9 shards, some of them audited by a helper
    for name in RUN_FILES:
        assert (tmp_path / "shared" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name


def _helpers_started_ahead(monkeypatch) -> list[bool]:
    """Whether each later call of ``flows.pipeline.helpers_ahead`` started its helpers, in call order."""
    from flows import pipeline

    started: list[bool] = []
    ahead = pipeline.helpers_ahead

    def seen(mar, settings):
        helpers = ahead(mar, settings)
        started.append(helpers.started)
        return helpers

    monkeypatch.setattr(pipeline, "helpers_ahead", seen)
    return started


def _shards_cut(monkeypatch) -> list[list[int]]:
    """The encounters of each shard a later ``flows.pipeline.take_shards`` cut, per call."""
    from flows import pipeline

    cuts: list[list[int]] = []
    take = pipeline.take_shards

    def seen(*args, **kwargs):
        cuts.append([])
        for shard in take(*args, **kwargs):
            ids = [frame["encounter_id"].astype(object) for frame in (shard.mar, shard.claims)]
            cuts[-1].append(pd.concat(ids).nunique())
            yield shard

    monkeypatch.setattr(pipeline, "take_shards", seen)
    return cuts


def test_a_day_of_two_shards_is_audited_with_a_helper_started_ahead_and_writes_the_same_bytes(
        tmp_path, monkeypatch):
    paths = write_extracts(generate(seed=31, start=date(2026, 11, 2), days=2, encounters_per_day=40),
                           tmp_path / "extracts")
    one = Settings(lake_root=tmp_path / "lake", shard_encounters=45, audit_processes=1)  # ~80 encounters
    audit_files(paths["mar"], paths["claims"], tmp_path / "one", one)
    started, cuts = _helpers_started_ahead(monkeypatch), _shards_cut(monkeypatch)
    audit_files(paths["mar"], paths["claims"], tmp_path / "two", one.with_(audit_processes=2))
    audit_files(paths["mar"], paths["claims"], tmp_path / "whole", one.with_(audit_processes=2, shard_encounters=500))
    assert started == [True, False]  # the MAR alone names more encounters than a shard: started while claims load
    # Two shards by size; with a helper started ahead, three (helper_cut): the helper audits the
    # first, the larger, this process two, so it does not wait for the helper's crossing.
    assert len(cuts[0]) == 3 and len(cuts[1]) == 1
    assert cuts[0] == np.diff(_bounds(sum(cuts[0]), 45, (HELPER_SHARD_WEIGHT, 1, 1))).tolist()
    assert cuts[0][0] > cuts[0][1] and abs(cuts[0][1] - cuts[0][2]) <= 1
    for name in RUN_FILES:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name


def test_audit_processes_from_the_environment_and_checked():
    assert 1 <= Settings().audit_processes <= 2
    assert Settings.from_env({"INFUSION_AUDIT_PROCESSES": "3"}).audit_processes == 3
    assert Settings.from_params({"audit_processes": "1"}).audit_processes == 1
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="audit_processes"):
            Settings(audit_processes=bad)
    assert Settings(audit_processes=3).shard_helpers == 2 and Settings(audit_processes=1).shard_helpers == 0
    # On Dask the cluster's workers are the parallelism: a day audited there starts no helpers.
    assert Settings(audit_processes=3, dask_address="local:2").shard_helpers == 0


def test_a_nightly_of_two_shards_with_a_helper_started_ahead_writes_the_same_bytes(tmp_path, monkeypatch):
    from flows import pipeline
    from flows.demo import split_by_night

    night = date(2026, 11, 2)
    one = Settings(lake_root=tmp_path / "lake-one", shard_encounters=45, audit_processes=1)
    by_night = split_by_night(generate(seed=37, start=night, days=1, encounters_per_day=80), one.facility_tz)
    paths = write_extracts(by_night[night], tmp_path / "extracts")
    pipeline.nightly_day(night, paths["mar"], paths["claims"], one, tmp_path / "one")
    started = _helpers_started_ahead(monkeypatch)
    two = one.with_(lake_root=tmp_path / "lake-two", audit_processes=2)
    summary = pipeline.nightly_day(night, paths["mar"], paths["claims"], two, tmp_path / "two")
    assert started == [True] and summary["encounters_audited"] > 45  # two shards, a helper started ahead
    for name in RUN_FILES:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
