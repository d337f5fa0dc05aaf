"""The README's commands, run exactly as written, after `make demo`'s own command.

A scratch folder stands for the repository: its ``.venv/bin`` runs this
virtualenv's ``infusion-audit`` and ``python``, and ``../shared`` points at the
shared folder beside the repository. There the demo runs as the Makefile runs
it (its figures and golden digests are checked first), then every command of
the README's examples block, in order; each must exit 0 and leave what it
promises.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.golden.digests import mismatches
from tests.paths import REPO

pytestmark = pytest.mark.flow

README = REPO / "README.md"
START, END = "<!-- examples:start -->", "<!-- examples:end -->"


def readme_examples() -> list[str]:
    """The command lines of the README's examples block (comments and blank lines left out)."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index(START) + len(START): text.index(END)]
    return [line.strip() for line in block.splitlines() if line.strip().startswith(".venv/bin/")]


def make_demo_command() -> str:
    """`make demo`'s command line, read from the Makefile with its variables filled in."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^demo:.*\n\t(.+)$", makefile, flags=re.M).group(1)
    out = re.search(r"^OUT\s*\?=\s*(\S+)", makefile, flags=re.M).group(1)
    return recipe.replace("$(BIN)", ".venv/bin").replace("$(OUT)", out)


def _wrapper(path: Path, target: Path) -> None:
    # A script, not a symlink: a venv's python finds its site-packages from the path it was started by.
    path.write_text(f'#!/bin/sh\nexec "{target}" "$@"\n', encoding="utf-8")
    path.chmod(0o755)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A scratch repository folder where `make demo`'s command has run; and the environment to run in."""
    root = tmp_path_factory.mktemp("readme") / "repo"
    (root / ".venv" / "bin").mkdir(parents=True)
    bin_dir = Path(sys.executable).parent
    for name in ("infusion-audit", "python"):
        _wrapper(root / ".venv" / "bin" / name, bin_dir / name)
    if (REPO.parent / "shared").is_dir():
        (root.parent / "shared").symlink_to(REPO.parent / "shared")
    env = {**os.environ, "PREFECT_HOME": str(root / ".prefect")}
    env.pop("PREFECT_API_URL", None)  # each command starts its own temporary server, as on a user's machine
    demo = subprocess.run(shlex.split(make_demo_command()), cwd=root, env=env, capture_output=True, text=True,
                          timeout=900)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    assert demo.stderr == "", demo.stderr[-3000:]  # a quiet console
    return root, env


def test_make_demo_finds_the_injected_errors_and_matches_the_golden_digests(repo):
    root, _ = repo
    demo = root / "data" / "demo"
    score = json.loads((demo / "score.json").read_text())
    assert score["injected"] >= 40
    assert score["detected"] / score["injected"] >= 0.99
    assert score["clean_encounters_flagged"] == 0
    summary = (demo / "summary.md").read_text()
    assert "recall" in summary and "Findings by key" in summary
    for night in ("2026-11-02", "2026-11-03", "2026-11-04"):
        assert (demo / "runs" / night / "report.md").exists()
    assert mismatches("demo_runs", demo / "runs") == []


#: What each README command must leave behind, by its subcommand.
PROMISES = {
    "audit": lambda root, out: (root / "data/demo/audit-2026-11-02/report.html").is_file(),
    "explain": lambda root, out: "E2611020002" in out and "expected" in out.lower(),
    "nightly": lambda root, out: (root / "data/demo/runs/2026-11-02/run.log").is_file() and "report:" in out,
    "backfill": lambda root, out: "computed" in out and "reports:" in out,
    "report": lambda root, out: "report:" in out,
    "clif": lambda root, out: (root / "data/demo/clif/clif_summary.json").is_file(),
    "-c": lambda root, out: "finding" in out and "lines" in out,
}


def test_every_readme_example_works_as_written(repo):
    root, env = repo
    examples = readme_examples()
    assert len(examples) >= 8
    for line in examples:
        argv = shlex.split(line)
        if "../shared/" in line and not (root.parent / "shared").is_dir():
            continue  # the shared data is beside the repository in CI; not on every machine
        proc = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, line
        promise = PROMISES[argv[1]]
        assert promise(root, proc.stdout), f"{line}\n{proc.stdout[-2000:]}"
