"""Serve the nightly audit on a cron schedule (plus an ad-hoc deployment).

Needs a real Prefect server: the temporary server that Prefect starts when
``PREFECT_API_URL`` is unset runs no scheduler, so a cron schedule would never
fire (../shared/stack/prefect-gx-notes.md 1.5-1.6)::

    prefect server start --host 127.0.0.1 --port 4200          # one terminal
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    infusion-audit serve --extracts data/extracts               # another

Two deployments of the flow ``scheduled-nightly``:

* ``<name>`` (default ``nightly``): ``Cron("30 2 * * *")`` in the facility time
  zone; audits yesterday (facility wall clock, counted from the run's
  scheduled time, so a late run still audits the right day).
* ``adhoc``: no schedule; trigger with a ``service_date``::

      prefect deployment run scheduled-nightly/adhoc --param service_date=2026-11-02

Schedules stay active when the serve process stops (``pause_on_shutdown=False``).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger
from prefect.schedules import Cron

from flows.pipeline import extract_paths, yesterday
from flows.settings import Settings

FLOW_NAME = "scheduled-nightly"
ADHOC_NAME = "adhoc"


class ServerRequired(ValueError):
    """``PREFECT_API_URL`` is unset or no Prefect server answers there."""


# --- the served flow -----------------------------------------------------------

def _scheduled_today(facility_tz: str) -> date:
    """The facility-local date of this flow run's scheduled start (now outside a run)."""
    from prefect.runtime import flow_run

    return flow_run.scheduled_start_time.astimezone(ZoneInfo(facility_tz)).date()


@flow(name=FLOW_NAME)
def scheduled_nightly_flow(
    extracts_root: str, service_date: str | None = None, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Ingest and audit one night's extracts found under ``extracts_root``.

    Args:
        extracts_root: folder of ``<YYYY-MM-DD>/mar.*`` and ``claims.*``.
        service_date: ``YYYY-MM-DD``; default yesterday in the facility time
            zone, counted from the run's scheduled start.
        settings: from :meth:`Settings.to_params`; ``None`` reads the
            environment of the serving process.

    Returns:
        The day, its finding count and its run folder.
    """
    from flows.audit import nightly_flow

    resolved = Settings.from_params(settings)
    day = date.fromisoformat(service_date) if service_date else yesterday(
        resolved.facility_tz, _scheduled_today(resolved.facility_tz))
    mar, claims = extract_paths(Path(extracts_root), day)
    out_dir = resolved.run_dir(day)
    summary = nightly_flow(day, mar, claims, resolved, out_dir)
    get_run_logger().info("nightly %s: %s findings -> %s", day, summary["findings"], out_dir)
    return {"service_date": day.isoformat(), "findings": int(summary["findings"]), "run_dir": str(out_dir)}


# --- deployments ---------------------------------------------------------------

def build_deployments(
    extracts_root: Path, settings: Settings, cron: str = "30 2 * * *", name: str = "nightly",
) -> list[Any]:
    """The scheduled deployment ``name`` (``cron`` in the facility time zone) and the
    unscheduled ``adhoc`` one, not yet served; both carry every setting as parameters."""
    from prefect.types.entrypoint import EntrypointType

    tz = settings.facility_tz
    params = {"extracts_root": str(Path(extracts_root).resolve()), "settings": settings.to_params()}
    common = {"parameters": params, "tags": ["infusion-audit"], "entrypoint_type": EntrypointType.MODULE_PATH}
    nightly = scheduled_nightly_flow.to_deployment(
        name=name, schedules=[Cron(cron, timezone=tz)],
        description=f"Audit yesterday's extracts ({cron}, {tz}).", **common)
    adhoc = scheduled_nightly_flow.to_deployment(
        name=ADHOC_NAME, description="Audit one service_date on demand.", **common)
    return [nightly, adhoc]


def require_server(timeout: float = 5.0) -> str:
    """The configured ``PREFECT_API_URL`` once its ``/health`` answers.

    Raises:
        ServerRequired: unset, or nothing answers there.
    """
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ServerRequired(
            "serve needs a real Prefect server: the temporary one Prefect starts when PREFECT_API_URL is "
            "unset has no scheduler, so the cron schedule would never run. Start one with "
            "`prefect server start --host 127.0.0.1 --port 4200`, then "
            "`export PREFECT_API_URL=http://127.0.0.1:4200/api` and rerun."
        )
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as response:  # noqa: S310
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise ServerRequired(f"no Prefect server answers at PREFECT_API_URL={url} ({exc}); "
                             "start it with `prefect server start`") from exc
    return url


def serve_nightly(
    extracts_root: Path, settings: Settings, cron: str = "30 2 * * *", name: str = "nightly",
) -> None:
    """Serve the nightly (cron, facility time zone) and ``adhoc`` deployments; blocks until stopped.

    Raises:
        ServerRequired: no ``PREFECT_API_URL`` or no server there.
    """
    from prefect import serve

    require_server()
    serve(*build_deployments(extracts_root, settings, cron, name), pause_on_shutdown=False)
