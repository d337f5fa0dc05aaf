"""Compare output files with the committed digests of this folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent


def expected_digests(name: str) -> dict[str, str]:
    """``relative path -> sha256`` from ``<name>.sha256`` (``sha256sum`` format)."""
    rows = (GOLDEN / f"{name}.sha256").read_text(encoding="utf-8").splitlines()
    return {path: digest for digest, path in (row.split(maxsplit=1) for row in rows if row.strip())}


def mismatches(name: str, root: Path) -> list[str]:
    """Files under ``root`` whose bytes differ from the golden digests (or that are missing)."""
    bad = []
    for rel, digest in expected_digests(name).items():
        path = Path(root) / rel
        if not path.is_file():
            bad.append(f"{rel}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            bad.append(f"{rel}: differs")
    return bad
