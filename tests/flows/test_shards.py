"""A day audited in shards writes the same files as the day audited whole (no Prefect)."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from flows.pipeline import audit_files
from flows.settings import Settings
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
    assert Settings().shard_encounters == 250_000
    assert Settings.from_env({"INFUSION_AUDIT_SHARD_ENCOUNTERS": "7"}).shard_encounters == 7
    assert Settings.from_params({"shard_encounters": "9"}).shard_encounters == 9
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="shard_encounters"):
            Settings(shard_encounters=bad)
