"""The quiet console (flows.console): logs and warnings go to the run's log file, not the console.

Each check runs in a fresh interpreter: pytest records warnings and configures
logging itself, which would hide what a real run does."""

from __future__ import annotations

import subprocess
import sys

from tests.paths import REPO


def _run(code: str):
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_logs_and_warnings_go_to_the_file_only(tmp_path):
    log_file = tmp_path / "run" / "run.log"
    out = _run(
        "import logging, warnings; from pathlib import Path; from flows.console import configure_logging;"
        f"configure_logging(Path({str(log_file)!r}));"
        "logging.getLogger('great_expectations.demo').info('library detail');"
        "warnings.warn('a deprecation', FutureWarning);"
        "logging.getLogger('infusion_audit').error('a problem')"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""
    text = log_file.read_text(encoding="utf-8")
    assert "library detail" in text and "a deprecation" in text and "a problem" in text


def test_verbose_also_shows_them_on_the_console(tmp_path):
    out = _run(
        "import logging; from pathlib import Path; from flows.console import configure_logging;"
        f"configure_logging(Path({str(tmp_path / 'x.log')!r}), verbose=True);"
        "logging.getLogger('prefect').info('shown')"
    )
    assert "shown" in out.stderr and "shown" in (tmp_path / "x.log").read_text()


def test_prefect_keeps_its_console_handler_off_the_root_logger(tmp_path):
    # Our handlers first, then Prefect configures logging.
    out = _run(
        "import logging, sys; from pathlib import Path; from flows.console import configure_logging;"
        f"configure_logging(Path({str(tmp_path / 'x.log')!r}));"
        "import prefect.main;"
        "logging.getLogger('prefect').info('from prefect');"
        "print(sorted(type(h).__name__ for h in logging.getLogger().handlers))"
    )
    assert out.returncode == 0, out.stderr
    assert "PrefectConsoleHandler" not in out.stdout
    assert "from prefect" not in out.stderr
    assert "from prefect" in (tmp_path / "x.log").read_text()
