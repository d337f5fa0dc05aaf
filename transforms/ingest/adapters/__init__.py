"""Adapters: inputs in other formats mapped onto the canonical contract.

Every adapter (FHIR MedicationAdministration, EHR MAR reports through a
mapping file, X12 837 claims, CLIF) returns a :class:`MappedExtract`; the
composition root stages, validates and audits it exactly like a canonical
extract, so the engine has one path.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from transforms.vocab import schemas

#: Provenance columns every adapter adds to its rows: which file and which
#: record inside it (1-based: an NDJSON line, a Bundle entry, a CSV data row,
#: an 837 service line). Kept in the quarantine, ignored by the audit.
PROVENANCE: tuple[str, ...] = ("source_file", "source_record")


@dataclass(frozen=True)
class MappedExtract:
    """One input (one or more files of one format) mapped onto the contract.

    Attributes:
        kind: ``"mar"`` or ``"claims"``.
        format: the adapter's name (``fhir``, ``x12``, a mapping profile...).
        rows: the canonical rows, ready to be staged as the raw frame:
            ``schemas.MAR_COLUMNS`` or ``schemas.CLAIM_COLUMNS`` as text
            (object dtype, ``None`` when missing; times as ISO-8601 text with
            their offset), :data:`PROVENANCE`, then ``source_row`` (int64,
            1..n, unique). One input record may give several rows (a FHIR
            period gives a start and a stop event).
        unmapped: input records with no canonical meaning, each with its
            reason: ``schemas.QUARANTINE_COLUMNS`` (``row`` numbered after
            the last ``source_row``), :data:`PROVENANCE`, then the record's
            original values as text.

    Invariant: every input record is in ``rows`` (at least one row) or in
    ``unmapped`` (exactly one row), never both and never neither; the
    reconciled count of the extract is ``len(rows) + len(unmapped)``.
    """

    kind: str
    format: str
    rows: pd.DataFrame
    unmapped: pd.DataFrame

    @property
    def rows_in(self) -> int:
        return len(self.rows) + len(self.unmapped)


def empty_unmapped() -> pd.DataFrame:
    """A header-only ``unmapped`` frame."""
    return pd.DataFrame({c: pd.Series([], dtype="int64" if c == "row" else object)
                         for c in (*schemas.QUARANTINE_COLUMNS, *PROVENANCE)})
