"""Serve the nightly audit on a cron schedule (plus an ad-hoc deployment).

Needs a real Prefect server: the temporary server that Prefect starts when
``PREFECT_API_URL`` is unset runs no scheduler, so a cron schedule would never
fire (../shared/stack/prefect-gx-notes.md 1.5-1.6)::

    prefect server start --host 127.0.0.1 --port 4200          # one terminal
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    python -m flows.deploy --extracts-root data/extracts        # another

Two deployments of the flow ``scheduled-nightly``:

* ``<name>`` (default ``nightly``): ``Cron("30 2 * * *")`` in the facility time
  zone; audits yesterday (facility wall clock, counted from the run's
  scheduled time, so a late run still audits the right day).
* ``adhoc``: no schedule; trigger with a ``service_date``::

      prefect deployment run scheduled-nightly/adhoc --param service_date=2026-11-02

Schedules stay active when the serve process stops (``pause_on_shutdown=False``).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger
from prefect.schedules import Cron

from flows.backfill import extract_paths, run_dir_for, yesterday
from flows.settings import Settings
from transforms.vocab.policy import Policy, validate

FLOW_NAME = "scheduled-nightly"
ADHOC_NAME = "adhoc"


class ServerRequired(ValueError):
    """``PREFECT_API_URL`` is unset or no Prefect server answers there."""


# --- settings as JSON-able deployment parameters ------------------------------

def settings_to_params(settings: Settings) -> dict[str, Any]:
    """``settings`` as JSON-able values (absolute paths) for deployment parameters."""
    return {
        "lake_root": str(Path(settings.lake_root).resolve()),
        "facility_tz": settings.facility_tz,
        "policy": asdict(settings.policy),
        "drug_list": str(Path(settings.drug_list).resolve()) if settings.drug_list else None,
        "lookback_days": settings.lookback_days,
    }


def settings_from_params(params: dict[str, Any] | None) -> Settings:
    """Inverse of :func:`settings_to_params`; ``None`` -> :meth:`Settings.from_env`."""
    if not params:
        return Settings.from_env()
    ZoneInfo(params["facility_tz"])
    return Settings(
        lake_root=Path(params["lake_root"]),
        facility_tz=params["facility_tz"],
        policy=validate(Policy(**params["policy"])),
        drug_list=Path(params["drug_list"]) if params.get("drug_list") else None,
        lookback_days=int(params["lookback_days"]),
    )


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
        settings: from :func:`settings_to_params`; ``None`` reads the
            environment of the serving process.

    Returns:
        The day, its finding count and its run folder.
    """
    from flows.audit import nightly_flow

    resolved = settings_from_params(settings)
    day = date.fromisoformat(service_date) if service_date else yesterday(
        resolved.facility_tz, _scheduled_today(resolved.facility_tz))
    mar, claims = extract_paths(Path(extracts_root), day)
    out_dir = run_dir_for(day, resolved)
    summary = nightly_flow(day, mar, claims, resolved, out_dir)
    get_run_logger().info("nightly %s: %s findings -> %s", day, summary["findings"], out_dir)
    return {"service_date": day.isoformat(), "findings": int(summary["findings"]), "run_dir": str(out_dir)}


# --- deployments ---------------------------------------------------------------

def build_deployments(
    extracts_root: Path,
    cron: str = "30 2 * * *",
    timezone: str | None = None,
    settings: Settings | None = None,
    name: str = "nightly",
) -> list[Any]:
    """The scheduled deployment ``name`` and the unscheduled ``adhoc`` one (not yet served)."""
    from prefect.types.entrypoint import EntrypointType

    settings = settings or Settings.from_env()
    tz = timezone or settings.facility_tz
    ZoneInfo(tz)
    params = {"extracts_root": str(Path(extracts_root).resolve()), "settings": settings_to_params(settings)}
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
    extracts_root: Path,
    cron: str = "30 2 * * *",
    timezone: str | None = None,
    settings: Settings | None = None,
    name: str = "nightly",
) -> None:
    """Serve the nightly (cron, facility time zone) and ``adhoc`` deployments; blocks until stopped.

    Raises:
        ServerRequired: no ``PREFECT_API_URL`` or no server there.
    """
    from prefect import serve

    require_server()
    serve(*build_deployments(extracts_root, cron, timezone, settings, name), pause_on_shutdown=False)


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.deploy --extracts-root DIR [--lake DIR] [--cron EXPR] [--tz ZONE] [--name NAME]``."""
    parser = argparse.ArgumentParser(prog="python -m flows.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--extracts-root", required=True, help="folder of <YYYY-MM-DD>/mar.* and claims.*")
    parser.add_argument("--lake", help="lake root (default $INFUSION_AUDIT_LAKE or data/lake)")
    parser.add_argument("--cron", default="30 2 * * *")
    parser.add_argument("--tz", help="facility time zone, also the schedule's (default $INFUSION_AUDIT_TZ)")
    parser.add_argument("--name", default="nightly", help="name of the scheduled deployment")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.lake:
        settings = settings.with_(lake_root=Path(args.lake))
    if args.tz:
        settings = settings.with_(facility_tz=args.tz)
    try:
        serve_nightly(Path(args.extracts_root), args.cron, None, settings, args.name)
    except ServerRequired as exc:
        print(f"infusion-audit: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # Import the module under its package name so the served flow's entrypoint
    # is ``flows.deploy.scheduled_nightly_flow``, not ``__main__``.
    from flows.deploy import main as _main

    raise SystemExit(_main())
