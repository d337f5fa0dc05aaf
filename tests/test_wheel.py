"""A wheel built from the repository, installed into a fresh virtualenv outside
the checkout, audits the demo extracts: the reference tables travel as package
data and nothing is found through the checkout.

The fresh virtualenv gets the project's dependencies through a ``.pth`` line
pointing at the test virtualenv's site-packages (no download: the test runs
offline); the project itself comes only from the wheel.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from flows.pipeline import audit_files
from flows.settings import Settings
from tests.paths import REPO
from transforms.synthetic.generator import generate, write_extracts

pytestmark = pytest.mark.wheel


def _copy_sources(dest: Path) -> Path:
    """The repository's files as git sees them (tracked and new, not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    for rel in listed:
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _build_wheel(src: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(src)], check=True, capture_output=True, text=True)
    [wheel] = out.glob("infusion_audit-*.whl")
    return wheel


def _fresh_venv(where: Path, wheel: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, capture_output=True)
    python = where / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # Dependencies from the test environment, appended after the fresh site-packages.
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, text=True)
    return python


def test_wheel_installed_outside_the_checkout_audits_the_demo(tmp_path):
    wheel = _build_wheel(_copy_sources(tmp_path / "src"), tmp_path / "dist")
    python = _fresh_venv(tmp_path / "venv", wheel)
    extracts = write_extracts(generate(seed=7, days=1, encounters_per_day=60, bad_row_count=4), tmp_path / "in")
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import transforms, transforms.reference as r; print(transforms.__file__); "
         "print(r.tables_dir() / 'drugs.csv')"],
        cwd=work, capture_output=True, text=True, check=True).stdout.split()
    assert all(Path(p).is_relative_to(tmp_path / "venv") for p in where), where
    assert Path(where[1]).is_file()

    exe = tmp_path / "venv" / "bin" / "infusion-audit"
    proc = subprocess.run([str(exe), "audit", "--mar", str(extracts["mar"]), "--claims", str(extracts["claims"]),
                           "--out", str(work / "out")], cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "findings:" in proc.stdout
    formats = subprocess.run([str(exe), "formats"], cwd=work, capture_output=True, text=True, timeout=120)
    assert formats.returncode == 0 and "epic" in formats.stdout and "cerner" in formats.stdout  # profiles shipped
    audit_files(extracts["mar"], extracts["claims"], tmp_path / "checkout", Settings())
    for name in ("findings.csv", "expected_codes.csv", "worklist.csv", "quarantine.csv"):
        assert (work / "out" / name).read_bytes() == (tmp_path / "checkout" / name).read_bytes(), name
