"""Which format an input file is in, told from its content.

``--mar`` and ``--claims`` take files or folders; each file's format is
detected here (or forced by ``--mar-format`` / ``--claims-format``) and the
matching adapter maps it onto the contract. Detection reads at most the first
64 KiB of a file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from transforms.ingest.readers import ExtractError

CANONICAL = "canonical"
FHIR = "fhir"
X12 = "x12"
CLIF = "clif"
#: Formats per extract kind, in the order detection tries them (mapping
#: profiles are tried after FHIR, before the canonical header).
MAR_FORMATS: tuple[str, ...] = (FHIR, CLIF, CANONICAL)
CLAIM_FORMATS: tuple[str, ...] = (X12, CANONICAL)
_SNIFF_BYTES = 64 * 1024
_TABULAR = (".csv", ".csv.gz", ".parquet", ".pq")


def expand_inputs(paths: Sequence[Path]) -> list[Path]:
    """Files of ``paths``, folders expanded to their visible files (sorted by name).

    Raises:
        ExtractError: a path that does not exist, or a folder with no file.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not found:
                raise ExtractError(path, "folder holds no input file")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ExtractError(path, "no such file or folder")
    return files


def is_clif_folder(path: Path) -> bool:
    """A folder holding the CLIF medication-administration tables."""
    return path.is_dir() and (path / "clif_medication_admin_continuous.parquet").is_file()


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(_SNIFF_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")


def _is_fhir(head: bytes) -> bool:
    """NDJSON whose first record, or a Bundle / resource, is FHIR MedicationAdministration."""
    if not head.startswith(b"{"):
        return False
    first = head.split(b"\n", 1)[0]
    for text in (first, head):
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        kind = doc.get("resourceType") if isinstance(doc, dict) else None
        return kind in ("MedicationAdministration", "Bundle")
    return b'"resourceType"' in head and b"MedicationAdministration" in head


def sniff(path: Path, kind: str, profiles: Sequence[str] = ()) -> str | None:
    """The format of ``path`` for ``kind`` (``mar`` / ``claims``), or ``None`` when none fits.

    ``profiles`` are mapping-profile names (or paths) to try on tabular MAR
    files whose header is not the canonical one.
    """
    head = _head(path)
    if kind == "claims":
        if head[:3] == b"ISA":
            return X12
        return CANONICAL if path.name.lower().endswith(_TABULAR) else None
    if _is_fhir(head):
        return FHIR
    if path.name.lower().endswith(_TABULAR):
        from transforms.ingest.adapters import mapping

        for name in profiles:
            if mapping.profile_matches(path, mapping.load_profile(name)):
                return name
        return CANONICAL
    return None


def detect(paths: Sequence[Path], kind: str, forced: str | None = None,
           profiles: Sequence[str] = ()) -> dict[str, list[Path]]:
    """Group the input files by format: ``{format: [files]}`` in input order.

    Raises:
        ExtractError: a file whose format cannot be told (one line naming the
            file and the formats tried).
    """
    groups: dict[str, list[Path]] = {}
    # A CLIF folder is one input of four tables, not four files to sniff.
    clif = [Path(p) for p in paths if kind == "mar" and (forced in (None, CLIF)) and is_clif_folder(Path(p))]
    if clif:
        groups[CLIF] = clif
    for path in expand_inputs([p for p in map(Path, paths) if p not in clif]):
        fmt = forced or sniff(path, kind, profiles)
        if fmt is None:
            # mapping profiles are MAR report layouts: never tried on claims
            tried = ", ".join(MAR_FORMATS + tuple(profiles) if kind == "mar" else CLAIM_FORMATS)
            raise ExtractError(path, f"format not recognised as a {kind} extract (tried {tried}); "
                               f"name it with --{kind}-format")
        groups.setdefault(fmt, []).append(path)
    return groups
