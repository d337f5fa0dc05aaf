"""The quiet console (flows.console): logs and warnings go to the run's log file, not the console."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings

from flows.console import LOG_FILE, configure_logging
from tests.paths import REPO


def test_logs_and_warnings_go_to_the_file_only(tmp_path, capsys):
    log_file = tmp_path / "run" / LOG_FILE
    try:
        configure_logging(log_file)
        logging.getLogger("great_expectations.demo").info("library detail")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a deprecation", FutureWarning, stacklevel=1)
        logging.getLogger("infusion_audit").error("a problem")
    finally:
        configure_logging(None)
        logging.captureWarnings(False)
    text = log_file.read_text(encoding="utf-8")
    assert "library detail" in text and "a deprecation" in text and "a problem" in text
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_prefect_keeps_its_console_handler_off_the_root_logger(tmp_path):
    # In a fresh interpreter: our handlers first, then Prefect configures logging.
    code = (
        "import logging, sys; from pathlib import Path; from flows.console import configure_logging;"
        f"configure_logging(Path({str(tmp_path / 'x.log')!r}));"
        "import prefect.main;"
        "logging.getLogger('prefect').info('from prefect');"
        "print(sorted(type(h).__name__ for h in logging.getLogger().handlers))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "PrefectConsoleHandler" not in out.stdout
    assert "from prefect" not in out.stderr
    assert "from prefect" in (tmp_path / "x.log").read_text()
