"""A warm Python that forks real nightly runs on request, for tests/flows/test_kill.py.

Run as ``python -m tests.flows.warm_nightly`` (working directory: the
repository). It imports the pipeline once (seconds: pandas, pyarrow, Great
Expectations) and prints ``ready``; then, for each JSON line on standard
input (``day``, ``mar``, ``claims``, ``lake``, ``out``), it forks a child that
becomes the leader of its own process group and runs
:func:`flows.pipeline.nightly_day`, the composition root's nightly (what the
CLI's ``nightly`` runs inside its Prefect flow), with the settings of the
environment and that lake root. It prints ``pid <pid>`` as soon as the child
exists and ``exit <pid> <code>`` once it is reaped (``-9``: killed by SIGKILL).
A test can SIGKILL the child's process group at any moment; the server lives on.

The parent forks before it has run anything: no thread pool (pyarrow,
tqdm's monitor) exists yet that a child could inherit half-locked. The
children's standard output goes to standard error, so that standard output
carries the protocol only.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import date
from pathlib import Path


def _child(request: dict[str, str]) -> int:
    """The nightly run of one request; its exit code (0 done, 1 raised)."""
    from flows import pipeline
    from flows.settings import Settings

    os.dup2(2, 1)
    try:
        settings = Settings.from_env().with_(lake_root=Path(request["lake"]))
        pipeline.nightly_day(date.fromisoformat(request["day"]), Path(request["mar"]), Path(request["claims"]),
                             settings, Path(request["out"]))
        return 0
    except BaseException:  # noqa: BLE001  (reported on stderr; the exit code says it failed)
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _fork(request: dict[str, str]) -> int:
    """Fork the child of ``request`` into its own process group; returns its pid."""
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        os._exit(_child(request))
    try:
        os.setpgid(pid, pid)  # also here: the group exists before the test can signal it
    except (PermissionError, ProcessLookupError):
        pass  # the child got there first, or is already gone
    return pid


def main() -> int:
    import flows.pipeline  # noqa: F401  (the warm part: every child finds it imported)
    import great_expectations.render.renderer.site_builder  # noqa: F401  (imported on a first validation)

    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        pid = _fork(json.loads(line))
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {pid} {os.waitstatus_to_exitcode(status)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
