"""What a files-in, files-out run holds while it writes: the audit's result, not the extracts.

At a million encounters the validated MAR and claim frames are about 2 GB;
:func:`flows.pipeline.audit_files` lets them go once the audit has its
result, so writing the run folder does not add to them."""

from __future__ import annotations

import gc
import weakref
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows import pipeline
from flows.settings import Settings
from transforms.synthetic.generator import generate, write_extracts


def test_audit_files_frees_the_kept_extracts_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = write_extracts(generate(seed=5, start=date(2026, 11, 2), days=1, encounters_per_day=40), tmp_path)
    audited: list[weakref.ref[pd.DataFrame]] = []
    alive_at_write: list[bool] = []
    real_audit, real_write = pipeline.audit, pipeline.write_run_files

    def audit(mar: pd.DataFrame, claims: pd.DataFrame, settings: Settings, timer=None):  # type: ignore[no-untyped-def]
        audited.extend([weakref.ref(mar), weakref.ref(claims)])
        return real_audit(mar, claims, settings, timer)

    def write(*args, **kwargs):  # type: ignore[no-untyped-def]
        gc.collect()
        alive_at_write.extend(ref() is not None for ref in audited)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(pipeline, "audit", audit)
    monkeypatch.setattr(pipeline, "write_run_files", write)
    summary = pipeline.audit_files(paths["mar"], paths["claims"], tmp_path / "run", Settings())
    assert len(audited) == 2 and alive_at_write == [False, False]
    assert (tmp_path / "run" / "findings.csv").is_file() and summary["rows"]["mar"]["rows_kept"] > 0
