"""Output files and folders are readable by owner and group only (issue 9).

``infusion-audit`` sets a process umask of 0o027 in ``flows.cli.main``. The
CLI runs here as subprocesses started with a permissive umask (0o002, so a
file would come out ``rw-rw-r--`` without the CLI's own); every file and
folder that ``audit`` and ``nightly`` create (the run folders, the lake, the
validation docs, the Prefect home of the temporary server) must then have
no permission bit for others.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.paths import REPO
from transforms.synthetic.generator import generate, write_extracts

pytestmark = pytest.mark.flow

DAY = date(2026, 11, 2)


def _permissive_umask() -> None:
    os.umask(0o002)


def _run(root: Path, *args: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({
        "PREFECT_HOME": str(root / "prefect-home"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "150",
        "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    })
    return subprocess.run([sys.executable, "-m", "flows.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=root, timeout=600, preexec_fn=_permissive_umask)


def _open_to_others(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        for path in [root, *root.rglob("*")]:
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o007:
                found.append(f"{stat.filemode(mode)} {path}")
    return found


def test_audit_and_nightly_create_nothing_others_can_read(tmp_path):
    inputs = tmp_path / "inputs"  # written by this test, not by the CLI
    paths = write_extracts(generate(seed=9, start=DAY, days=1, encounters_per_day=12, bad_row_count=2), inputs)

    audit = _run(tmp_path, "audit", "--mar", paths["mar"], "--claims", paths["claims"], "--out", tmp_path / "audit")
    assert audit.returncode == 0, audit.stderr[-3000:]
    nightly = _run(tmp_path, "nightly", "--date", DAY.isoformat(), "--mar", paths["mar"], "--claims",
                   paths["claims"], "--lake", tmp_path / "lake")
    assert nightly.returncode == 0, nightly.stderr[-3000:]

    created = [tmp_path / name for name in ("audit", "lake", "runs", "prefect-home")]
    for folder in created:
        assert folder.is_dir(), folder
    run = tmp_path / "runs" / DAY.isoformat()
    for name in ("findings.csv", "report.html", "validation/mar/index.html", "validation/claims/index.html"):
        assert (run / name).is_file(), name
    assert (tmp_path / "audit" / "findings.csv").is_file()
    assert any((tmp_path / "lake").rglob("*.parquet"))
    assert _open_to_others(*created) == []


def test_the_umask_is_set_by_the_cli_entry_point():
    """The check above is not vacuous: without the CLI, the same umask leaves files world-readable."""
    from flows import cli

    assert cli.UMASK == 0o027
    probe = subprocess.run(
        [sys.executable, "-c", "import os, tempfile; os.umask(0o002); import flows; "
         "d = tempfile.mkdtemp(); p = os.path.join(d, 'f'); open(p, 'w').close(); print(oct(os.stat(p).st_mode & 0o777))"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "0o664"  # importing flows alone does not change a library user's umask
