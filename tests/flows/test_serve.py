"""Serving the nightly deployments against a REAL ``prefect server start``.

The temporary server has no scheduler (../shared/stack/prefect-gx-notes.md
1.5), so the served test starts its own server on loopback with its own
PREFECT_HOME, serves ``infusion-audit serve`` against it, triggers the
ad-hoc deployment and waits for the run. Both subprocesses are always stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from flows.deploy import ADHOC_NAME, FLOW_NAME, ServerRequired, build_deployments, require_server
from flows.settings import Settings
from tests.paths import REPO
from transforms.synthetic.generator import generate, write_extracts

DAY = date(2026, 11, 2)
TZ = "America/New_York"
WAIT = 180.0  # seconds, per bounded wait


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "INFUSION_AUDIT_"))}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", GX_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="INFO", **extra)
    return env


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "wb")
    # Own process group: stopping it also stops the server's and the runner's children.
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"prefect server exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {WAIT:.0f} s:\n{_tail(log)}")


def _wait_for_log(log: Path, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} not logged after {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.2)


def _read_deployment(name: str, proc: subprocess.Popen, log: Path):
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with get_client(sync_client=True) as client:
                return client.read_deployment_by_name(name)
        except ObjectNotFound:
            time.sleep(0.5)
    pytest.fail(f"deployment {name} not registered after {WAIT:.0f} s:\n{_tail(log)}")


@pytest.mark.server
def test_serve_runs_adhoc_deployment_on_real_server(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    write_extracts(generate(seed=11, start=DAY, days=1, encounters_per_day=30), tmp_path / "extracts" / DAY.isoformat())
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    server_log, serve_log = tmp_path / "server.log", tmp_path / "serve.log"
    server = serve = None
    clock = {"t0": time.monotonic()}
    try:
        server = _start(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
             "--no-ui", "--analytics-off"],
            _env(tmp_path / "server-home"), server_log)
        _wait_healthy(api, server, server_log)
        clock["server"] = time.monotonic()
        serve = _start(
            [sys.executable, "-m", "flows.cli", "serve", "--extracts", str(tmp_path / "extracts"),
             "--lake", str(tmp_path / "lake"), "--tz", TZ],
            _env(tmp_path / "serve-home", PREFECT_API_URL=api, PREFECT_RUNNER_POLL_FREQUENCY="2"), serve_log)
        with temporary_settings({PREFECT_API_URL: api}):
            nightly = _read_deployment(f"{FLOW_NAME}/nightly", serve, serve_log)
            _read_deployment(f"{FLOW_NAME}/{ADHOC_NAME}", serve, serve_log)
            clock["deployed"] = time.monotonic()
            [schedule] = nightly.schedules
            assert schedule.schedule.cron == "30 2 * * *"
            assert schedule.schedule.timezone == TZ
            assert schedule.active and not nightly.paused

            run = run_deployment(f"{FLOW_NAME}/{ADHOC_NAME}", parameters={"service_date": DAY.isoformat()},
                                 timeout=WAIT, poll_interval=1, as_subflow=False)
            clock["ran"] = time.monotonic()
            assert run.state is not None and run.state.is_completed(), (run.state, _tail(serve_log))
            run_dir = tmp_path / "runs" / DAY.isoformat()
            assert (run_dir / "findings.csv").exists() and (run_dir / "report.md").exists()

            # Let the run's process finish its own shutdown before stopping serve.
            _wait_for_log(serve_log, f"Flow run '{run.name}' - Finished in state")
            _stop(serve)  # pause_on_shutdown=False: the schedule stays active
            with get_client(sync_client=True) as client:
                after = client.read_deployment_by_name(f"{FLOW_NAME}/nightly")
                final = client.read_flow_run(run.id)
            assert not after.paused, _tail(serve_log)
            assert final.state is not None and final.state.is_completed(), final.state
    finally:
        _stop(serve)
        _stop(server)
    timings = {k: round(v - clock["t0"], 1) for k, v in clock.items() if k != "t0"}
    print(f"serve test seconds since start: {timings}")


# --- no server needed -----------------------------------------------------------

def test_serve_requires_a_real_server(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with pytest.raises(ServerRequired, match="prefect server start"):
            require_server()
    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{_free_port()}/api"}):
        with pytest.raises(ServerRequired, match="no Prefect server answers"):
            require_server(timeout=2)


def test_deployments_schedule_in_facility_time_zone(tmp_path):
    settings = Settings(lake_root=tmp_path / "lake", facility_tz="America/Chicago")
    nightly, adhoc = build_deployments(tmp_path / "extracts", settings=settings)
    assert nightly.name == "nightly" and adhoc.name == ADHOC_NAME
    assert nightly.entrypoint == "flows.deploy.scheduled_nightly_flow"
    [schedule] = nightly.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 2 * * *", "America/Chicago")
    assert adhoc.schedules == []
    params = adhoc.parameters
    assert params["extracts_root"] == str((tmp_path / "extracts").resolve())
    assert params["settings"]["lake_root"] == str((tmp_path / "lake").resolve())
    assert params["settings"]["facility_tz"] == "America/Chicago"


@pytest.mark.flow
def test_scheduled_flow_audits_yesterday_by_default(prefect_harness, tmp_path):
    """The cron deployment passes no service_date: the flow audits yesterday (facility zone)."""
    from flows.deploy import scheduled_nightly_flow
    from flows.pipeline import yesterday

    settings = Settings(lake_root=tmp_path / "lake", facility_tz="Pacific/Kiritimati")
    day = yesterday(settings.facility_tz)
    write_extracts(generate(seed=12, start=day, days=1, encounters_per_day=10, facility_tz=settings.facility_tz),
                   tmp_path / "extracts" / day.isoformat())
    out = scheduled_nightly_flow(str(tmp_path / "extracts"), settings=settings.to_params())
    assert out["service_date"] == day.isoformat()
    assert (tmp_path / "runs" / day.isoformat() / "findings.csv").exists()
