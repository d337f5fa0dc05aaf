"""The loader stages text compact (Categorical); every consumer of the kept frames
behaves exactly as with the plain (object) staging: usability counts, the lake's
Parquet bytes, the lake's in-memory day, and the audit, sharded or not."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows import pipeline, shard_audit
from flows.settings import Settings
from transforms.frames import expand_text
from transforms.ingest.readers import stage_claims, stage_mar
from transforms.outputs import lake
from transforms.synthetic.generator import generate, write_extracts

DAY = date(2026, 11, 2)


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[pipeline.ValidatedExtract, ...]]:
    """Each kind loaded by the pipeline (compact) and staged plain from the same raw rows, both validated."""
    folder = tmp_path_factory.mktemp("extracts")
    paths = write_extracts(generate(seed=31, start=DAY, days=1, encounters_per_day=60, bad_row_count=12), folder)
    # An unknown extra column, with blanks, kept in the lake as text.
    mar = pd.read_csv(paths["mar"], dtype=str, keep_default_na=False)
    mar["ward"] = ["4N", "", " 7B"] * (len(mar) // 3) + ["4N"] * (len(mar) % 3)
    mar.to_csv(paths["mar"], index=False)
    settings = Settings()
    out = {}
    for kind in ("mar", "claims"):
        loaded = pipeline.load(paths[kind], kind, settings)
        staged = stage_mar(loaded.raw, settings.facility_tz) if kind == "mar" else stage_claims(loaded.raw)
        plain = pipeline.LoadedExtract(kind, raw=loaded.raw, staged=staged, unmapped=loaded.unmapped)
        out[kind] = (pipeline.validate(loaded), pipeline.validate(plain))
    return out


def test_loader_keeps_text_compact_and_it_expands_to_the_plain_kept_rows(extracts) -> None:
    for kind, (compact, plain) in extracts.items():
        assert compact.kept["encounter_id"].dtype == "category", kind
        assert len(plain.quarantine) > 0, kind  # quarantined rows: the kept frame is a take
        pd.testing.assert_frame_equal(expand_text(compact.kept), plain.kept)
        pd.testing.assert_frame_equal(compact.quarantine, plain.quarantine)
        assert compact.counts == plain.counts
    assert extracts["mar"][0].kept["ward"].dtype == "category"
    settings = Settings()
    pairs = list(zip(*extracts.values()))
    assert pipeline.assess_extracts(pairs[0], settings) == pipeline.assess_extracts(pairs[1], settings)


def test_lake_files_and_in_memory_day_are_those_of_the_plain_staging(extracts, tmp_path: Path) -> None:
    (mar, plain_mar), (claims, plain_claims) = extracts["mar"], extracts["claims"]
    days = {"compact": pipeline.StagedDay(DAY, mar, claims), "plain": pipeline.StagedDay(DAY, plain_mar, plain_claims)}
    for name, staged in days.items():
        lake.write_days(tmp_path / name, DAY, staged.tables())
    for dataset in ("mar_events", "claim_lines", "quarantine"):
        (ours,), (theirs,) = ((tmp_path / n / dataset).glob("*/*.parquet") for n in days)
        assert ours.read_bytes() == theirs.read_bytes(), dataset  # plain string columns, not dictionaries
    back = lake.read_days(tmp_path / "compact", "mar_events", DAY, DAY)
    assert back["route"].dtype == object and back["ward"].tolist()[:3] == ["4N", None, " 7B"]
    for kind, schema in pipeline.LAKE_SCHEMA.items():
        compact, plain = extracts[kind]
        pd.testing.assert_frame_equal(lake.as_stored(compact.kept, schema, keep_extra=True),
                                      lake.as_stored(plain.kept, schema, keep_extra=True))
    settings = Settings(lake_root=tmp_path / "empty_lake")
    for ours, theirs in zip(pipeline.load_day_from_lake(DAY, settings, days["compact"]),
                            pipeline.load_day_from_lake(DAY, settings, days["plain"])):
        pd.testing.assert_frame_equal(ours, theirs)


@pytest.mark.parametrize("shard_encounters", [7, 50_000])
def test_compact_day_audits_to_the_same_findings_sharded_or_not(extracts, shard_encounters: int) -> None:
    (mar, plain_mar), (claims, plain_claims) = extracts["mar"], extracts["claims"]
    whole = pipeline.audit(plain_mar.kept, plain_claims.kept, Settings())
    result = pipeline.audit(mar.kept, claims.kept, Settings(shard_encounters=shard_encounters))
    assert len(whole.findings) > 0
    for name in ("administrations", "expected_lines", "findings"):
        pd.testing.assert_frame_equal(getattr(result, name), getattr(whole, name), obj=name)
    assert mar.kept["route"].dtype == "category"  # the audit expanded its own copy of each shard


def test_audit_keeps_of_the_administrations_what_the_outputs_read(extracts) -> None:
    """The per-administration evidence (the engine's and the comparison's) is dropped from each
    shard's result; every column administrations.csv and the summaries read is still there."""
    from transforms.audit import run_audit
    from transforms.outputs.files import ADMINISTRATION_COLUMNS

    (mar, _), (claims, _) = extracts["mar"], extracts["claims"]
    settings = Settings(shard_encounters=7)
    result = pipeline.audit(mar.kept, claims.kept, settings)
    engine = run_audit(mar.kept, claims.kept, shard_audit.drug_reference(settings), settings.policy,
                       settings.facility_tz)
    assert "evidence" in engine.administrations and engine.administrations["evidence"].notna().all()
    assert shard_audit.ENGINE_ONLY_ADMINISTRATION_COLUMNS == ("evidence",)
    assert "evidence" not in result.administrations
    assert list(result.administrations.columns) == [c for c in engine.administrations.columns if c != "evidence"]
    assert set(ADMINISTRATION_COLUMNS) | {"role", "kind", "drug_class", "drug_label"} <= set(
        result.administrations.columns)
    assert len(result.administrations) == len(engine.administrations)
    assert result.expected_lines["evidence"].str.len().gt(0).all()  # the lines keep theirs
