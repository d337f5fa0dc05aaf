"""flows.shard_audit: a shard audited whole or in pieces gives the same frames."""

from __future__ import annotations

from datetime import date

import pandas as pd

from flows import pipeline
from flows.settings import Settings
from flows.shard_audit import ENGINE_ONLY_ADMINISTRATION_COLUMNS, audit_shard
from transforms.shards import Shard
from transforms.synthetic.generator import generate, write_extracts


def test_a_shard_in_pieces_gives_the_frames_of_the_shard_whole(tmp_path) -> None:
    paths = write_extracts(generate(seed=31, start=date(2026, 11, 2), days=1, encounters_per_day=30), tmp_path)
    settings = Settings()
    mar, claims = (pipeline.load_and_validate(paths[kind], kind, settings).kept for kind in ("mar", "claims"))
    shard = Shard(0, "", "", mar, claims)
    whole, no_steps = audit_shard(shard, settings)
    pieces, steps = audit_shard(shard, settings, timed=True, piece_encounters=4)  # ~30 encounters: 8 pieces
    assert no_steps == {} and set(steps) == {"classify", "timeline", "coding", "compare"}
    assert len(whole.findings) > 0 and whole.administrations["encounter_id"].nunique() > 20
    assert not set(ENGINE_ONLY_ADMINISTRATION_COLUMNS) & set(whole.administrations.columns)
    for name in ("administrations", "expected_lines", "findings"):
        pd.testing.assert_frame_equal(getattr(pieces, name), getattr(whole, name))
