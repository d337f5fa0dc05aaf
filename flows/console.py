"""A quiet console: library logs go to the run's log file, the command prints its own summary.

Prefect, Great Expectations and Python warnings write about thirty lines
before every summary; a compliance analyst needs none of them unless
something fails. :func:`configure_logging` routes every log record (Prefect's
flow and task runs, Great Expectations, this package, warnings) to a log file
in the run folder; ``-v`` also shows them on the console. The command's own
output (where the report is, the counts, one-line errors) is printed by the
CLI and is unaffected.

Why the root logger gets a handler before Prefect configures logging:
Prefect's ``setup_logging`` leaves the root logger alone when it already has
a handler with a formatter, and otherwise installs its console handler there
(``prefect/logging/configuration.py``). So the handlers installed here stay
in charge in every command, whether or not it starts a flow.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Name of the log file a run writes in its run folder.
LOG_FILE = "run.log"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s - %(message)s"


class RunLogHandler(logging.FileHandler):
    """A file handler that creates its folder on the first record (a run folder may not exist yet).

    The file is truncated on the first record, so a rerun's log replaces the
    earlier run's. Mode "a" afterwards, because Prefect's ``dictConfig`` closes
    every existing handler and a closed ``FileHandler`` in mode "w" silently
    drops records (Python's ``FileHandler.emit``); in mode "a" it reopens."""

    def __init__(self, path: Path) -> None:
        super().__init__(Path(path), mode="a", encoding="utf-8", delay=True)
        self._truncated = False

    def _open(self):  # type: ignore[no-untyped-def]
        path = Path(self.baseFilename)
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = "a" if self._truncated else "w"
        self._truncated = True
        return open(path, mode, encoding=self.encoding)  # noqa: SIM115 (the handler owns the stream)


class _Silent(logging.StreamHandler):
    """A console handler that prints nothing: it marks the root logger as configured (see module doc)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setLevel(logging.CRITICAL + 10)


def configure_logging(log_file: Path | None, verbose: bool = False) -> None:
    """Send every log record to ``log_file`` (if given) and, with ``verbose``, to standard error.

    Replaces handlers an earlier call installed (one process may run several
    commands, e.g. in tests). Python warnings become log records (logger
    ``py.warnings``), so none reaches the console without ``verbose``.
    """
    root = logging.getLogger()
    # Ours from an earlier call, and Prefect's console handler if Prefect configured logging first.
    ours = [h for h in root.handlers if isinstance(h, (RunLogHandler, _Silent)) or getattr(h, "_ours", False)
            or type(h).__name__ == "PrefectConsoleHandler"]
    for handler in ours:
        root.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(_FORMAT)
    handlers: list[logging.Handler] = [_Silent()]
    if log_file is not None:
        handlers.append(RunLogHandler(log_file))
    if verbose:
        console = logging.StreamHandler(sys.stderr)
        console._ours = True  # type: ignore[attr-defined]
        handlers.append(console)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Every request the Prefect client makes to its own server, at INFO: noise even in a file.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.captureWarnings(True)


@contextmanager
def progress(total: int, description: str, enabled: bool = True, label: str = "") -> Iterator[Callable[..., None]]:
    """One progress bar on standard error (rich); yields ``advance(label)``, called once per step done.

    ``label``: the text beside the bar until the first step is done (e.g. the step running).

    Disabled (or standard error not a terminal): prints nothing; the caller's
    summary says what happened.
    """
    if not enabled or not sys.stderr.isatty():
        yield lambda label="": None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[label]}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total, label=label)

        def advance(label: str = "") -> None:
            bar.update(task, advance=1, label=label)

        yield advance
