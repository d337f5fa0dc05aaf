"""Where the tests find the repository and ../shared (the real CLIF demo data)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CLIF_DIR = Path(os.environ.get("INFUSION_AUDIT_CLIF_DIR") or SHARED / "data" / "clif_demo")
