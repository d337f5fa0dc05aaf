"""One extract from several files and formats: each read by its adapter, then joined.

A single canonical file is read exactly as before (its ``source_row`` is the
file's data row). Several files, or any adapter, give rows with the
provenance columns ``source_file`` and ``source_record`` (the record inside its
file) and one ``source_row`` numbering over the whole extract; the records an
adapter could not map are numbered after the last row, so every input record
has one unique row number and rows in = kept + quarantined still holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.ingest.adapters import MappedExtract, empty_unmapped
from transforms.ingest.formats import CANONICAL, CLIF, FHIR, X12
from transforms.ingest.readers import ExtractError, read_extract
from transforms.vocab import schemas


def mapping_profiles() -> tuple[str, ...]:
    """The shipped EHR mapping profiles that format detection tries."""
    from transforms.ingest.adapters import mapping

    return tuple(mapping.shipped_profiles())


def _canonical(files: Sequence[Path], kind: str) -> MappedExtract:
    """Canonical CSV/Parquet files; one file alone keeps its own row numbers and
    no provenance columns (the rows are the file's, as they always were)."""
    if len(files) == 1:  # Categorical text: one small code per cell, staged from the codes
        rows = read_extract(files[0], kind, categorical=True)  # type: ignore[arg-type]
        return MappedExtract(kind=kind, format=CANONICAL, rows=rows, unmapped=empty_unmapped())
    parts = []
    for path in files:
        raw = read_extract(path, kind)  # type: ignore[arg-type]
        parts.append(raw.assign(source_file=path.name, source_record=raw[schemas.SOURCE_ROW]))
    return MappedExtract(kind=kind, format=CANONICAL, rows=pd.concat(parts, ignore_index=True),
                         unmapped=empty_unmapped())


def read_format(files: Sequence[Path], kind: str, fmt: str, x12_account_ref: str = "CLM01") -> MappedExtract:
    """Map ``files`` of one format onto the contract (``x12_account_ref``: where an
    837 carries the hospital account, see :func:`transforms.ingest.adapters.x12.read_837`).

    Raises:
        ExtractError: a format that does not apply to ``kind``, or a file its
            adapter refuses as a whole.
    """
    if fmt == CANONICAL:
        return _canonical(files, kind)
    if kind == "claims":
        if fmt != X12:
            raise ExtractError(files[0], f"claims format must be {CANONICAL} or {X12}, not {fmt!r}")
        from transforms.ingest.adapters import x12

        return x12.read_837(files, account_ref=x12_account_ref)
    if fmt == FHIR:
        from transforms.ingest.adapters import fhir

        return fhir.read_fhir(files)
    if fmt == CLIF:
        from transforms.ingest.adapters import clif

        return clif.read_mapped(files)
    from transforms.ingest.adapters import mapping

    return mapping.read_mapped(files, mapping.load_profile(fmt))


def combine_parts(parts: Sequence[MappedExtract]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The raw frame to stage and the unmapped records, numbered over the whole extract.

    One canonical file alone comes back untouched (no provenance columns, no
    unmapped frame), so its outputs stay as they always were.
    """
    if len(parts) == 1 and "source_file" not in parts[0].rows:
        return parts[0].rows, None
    rows = pd.concat([p.rows for p in parts], ignore_index=True)
    rows[schemas.SOURCE_ROW] = np.arange(1, len(rows) + 1, dtype="int64")
    unmapped = pd.concat([empty_unmapped(), *(p.unmapped for p in parts)], ignore_index=True)
    unmapped["row"] = np.arange(len(rows) + 1, len(rows) + len(unmapped) + 1, dtype="int64")
    return rows, unmapped
