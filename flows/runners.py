"""Where a backfill's days run: one setting, :attr:`flows.settings.Settings.dask_address`.

| ``dask_address`` | task runner | where the tasks run |
| --- | --- | --- |
| ``None`` (default) | Prefect's default (threads) | this process, one day after another |
| ``local:N`` | ``prefect_dask.DaskTaskRunner`` on a temporary ``LocalCluster`` | N worker processes, one thread each, on this machine |
| ``tcp://host:8786`` (any Dask scheduler address) | ``DaskTaskRunner(address=...)`` | the workers of that cluster |

The same flow code runs in every case (:func:`flows.backfill.run_backfill`
swaps the runner with ``backfill_flow.with_options(task_runner=...)``).

What every Dask worker must share with the process that runs the flow
(Prefect 3.9 pitfall: with no ``PREFECT_API_URL`` each worker process would
start its OWN temporary Prefect server, ../shared/stack/prefect-gx-notes.md 1.7):

* ``PREFECT_API_URL``: a Prefect server every worker can reach. For
  ``local:N`` :func:`shared_prefect_api` sees to it: it reuses the API the
  flow already talks to, or starts this process's temporary server once, and
  hands its URL to the workers (the task context Prefect serialises with each
  task carries the settings, and the workers inherit the environment). For an
  existing cluster you must run ``prefect server start`` somewhere the workers
  reach and export ``PREFECT_API_URL`` (here and on the workers); without it
  :func:`shared_prefect_api` refuses to start.
* Result storage: the backfill persists each day's result and cache record
  in ``Settings.results_dir`` (``<lake>/../.prefect-results``, an absolute
  path handed to the tasks), so the lake's parent folder must be on a
  filesystem every worker mounts at the same path (it holds the lake and the
  run folders too).
* The code: the same ``infusion-audit`` version installed on every worker
  (the cache key hashes the code the worker runs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOCAL_PREFIX = "local:"


def local_workers(address: str | None) -> int | None:
    """N of ``local:N`` (a temporary local cluster), else ``None``.

    Raises:
        ValueError: ``local:`` followed by something other than a whole number >= 1.
    """
    if address is None or not address.startswith(LOCAL_PREFIX):
        return None
    text = address[len(LOCAL_PREFIX):]
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"--dask {address!r}: local:N needs a whole number of worker processes >= 1")
    return int(text)


def check_address(address: str | None) -> str | None:
    """``address`` unchanged if it is ``None``, ``local:N`` or ``<scheme>://host:port``.

    Raises:
        ValueError: anything else (e.g. a bare host name).
    """
    if address is None or local_workers(address) is not None:
        return address
    if "://" not in address:
        raise ValueError(f"--dask {address!r}: give local:N or a scheduler address such as tcp://host:8786")
    return address


def task_runner(address: str | None) -> Any:
    """The task runner for ``address`` (see the module table); ``None`` for Prefect's default.

    Raises:
        ValueError: a malformed address.
        ImportError: a Dask address without the ``dask`` extra installed
            (``pip install 'infusion-audit[dask]'``).
    """
    address = check_address(address)
    if address is None:
        return None
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:  # the optional extra
        raise ImportError("--dask needs the dask extra: pip install 'infusion-audit[dask]'") from exc
    workers = local_workers(address)
    if workers is None:
        return DaskTaskRunner(address=address)
    # Processes, one thread each: the engine is pandas code that holds the GIL.
    # Loopback only (the scheduler's status page too, on a free port): nothing listens beyond this machine.
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                          "host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"})


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``os.environ[name] = value`` for the block (worker processes started in it inherit it)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


@contextmanager
def shared_prefect_api(address: str | None) -> Iterator[str | None]:
    """Make every Dask worker talk to ONE Prefect API for the block; yields its URL.

    * no Dask (``None``): nothing to share; yields the configured URL or ``None``.
    * ``local:N``: the configured ``PREFECT_API_URL``, or else this process's
      temporary server, started once here (it stops when the process exits);
      the URL is set in Prefect's settings and in the environment the
      worker processes inherit.
    * a scheduler address: ``PREFECT_API_URL`` must be set (a real server the
      workers reach); it is exported to the environment too.

    Raises:
        RuntimeError: a scheduler address with no ``PREFECT_API_URL``.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = PREFECT_API_URL.value()
    if address is None:
        yield url
        return
    if not url and local_workers(address) is None:
        raise RuntimeError(
            f"--dask {address}: set PREFECT_API_URL to a Prefect server the Dask workers can reach "
            "(`prefect server start`); without it every worker starts a private temporary server "
            "(docs/distributed.md)")
    if not url:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()  # this process's temporary server (the one Prefect would start)
        server.start()
        url = server.api_url
    with temporary_settings({PREFECT_API_URL: url}), _environment("PREFECT_API_URL", url):
        yield url


@contextmanager
def on_runner(flow: Any, address: str | None) -> Iterator[Any]:
    """``flow`` on the task runner ``address`` names (:func:`task_runner`), inside
    :func:`shared_prefect_api`: the one switch that runs a backfill or a night
    local or distributed. Yields the flow to call.

    Raises:
        ValueError: a malformed ``address``.
        RuntimeError: a scheduler address with no ``PREFECT_API_URL``.
    """
    runner = task_runner(address)
    with shared_prefect_api(address):
        yield flow if runner is None else flow.with_options(task_runner=runner)
