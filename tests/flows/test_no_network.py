"""No network at run time but the loopback Prefect server (issue 9).

Each CLI run happens in a subprocess whose Python (and every Python it starts,
such as the temporary Prefect server: they inherit PYTHONPATH) first imports a
``sitecustomize.py`` that wraps ``socket.socket.connect`` / ``connect_ex`` /
``sendto``, ``socket.create_connection`` and ``socket.getaddrinfo``. Any
address other than loopback or a Unix socket is written to a log file and
refused (``OSError``), so an attempt can neither succeed nor hang; the tests
then assert that the log is empty. The self-check proves the guard catches a
connection to a documentation address (192.0.2.1, TEST-NET-1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.paths import REPO
from transforms.synthetic.generator import generate, write_extracts

pytestmark = pytest.mark.flow

GUARD = textwrap.dedent(
    '''
    """Test guard: record and refuse every non-loopback connection (tests/flows/test_no_network.py)."""
    import ipaddress
    import os
    import socket

    _LOG = os.environ.get("NETGUARD_LOG")
    _LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


    def _loopback(host):
        if host is None or host == "":
            return True  # bind-any / passive lookups
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        host = str(host).strip("[]").split("%")[0]
        if host.lower() in _LOCAL_NAMES:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False  # any other host name needs DNS: the network


    def _refuse(what, address):
        if _LOG:
            with open(_LOG, "a", encoding="utf-8") as log:
                log.write(f"{os.getpid()} {what} {address!r}\\n")
        raise OSError(111, f"network disabled by the test guard: {what} {address!r}")


    def _check(sock_family, address, what):
        if sock_family == getattr(socket, "AF_UNIX", object()) or isinstance(address, (str, bytes)):
            return  # Unix socket path
        host = address[0] if isinstance(address, tuple) and address else address
        if not _loopback(host):
            _refuse(what, address)


    _connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    _create_connection, _getaddrinfo = socket.create_connection, socket.getaddrinfo


    def connect(self, address):
        _check(self.family, address, "connect")
        return _connect(self, address)


    def connect_ex(self, address):
        _check(self.family, address, "connect_ex")
        return _connect_ex(self, address)


    def sendto(self, data, *args):
        _check(self.family, args[-1], "sendto")
        return _sendto(self, data, *args)


    def create_connection(address, *args, **kwargs):
        _check(None, address, "create_connection")
        return _create_connection(address, *args, **kwargs)


    def getaddrinfo(host, *args, **kwargs):
        if not _loopback(host):
            _refuse("getaddrinfo", host)
        return _getaddrinfo(host, *args, **kwargs)


    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.create_connection, socket.getaddrinfo = create_connection, getaddrinfo
    '''
)


@pytest.fixture
def guarded_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose Pythons load the guard; returns it and the attempt log."""
    site = tmp_path / "netguard"
    site.mkdir()
    (site / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log = tmp_path / "attempts.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GX_")) and k != "DO_NOT_TRACK"}
    env.update({
        # Telemetry variables deliberately unset: the CLI must switch telemetry off itself.
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "NETGUARD_LOG": str(log),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "150",
        "PREFECT_LOGGING_LEVEL": "INFO",
    })
    return env, log


def _run(env: dict[str, str], *args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def _attempts(log: Path) -> str:
    return log.read_text(encoding="utf-8") if log.exists() else ""


def test_guard_records_and_refuses_a_connection_out(guarded_env, tmp_path):
    """Self-check: a connection to 192.0.2.1, a DNS lookup and a UDP datagram are all caught; loopback is not."""
    env, log = guarded_env
    script = textwrap.dedent(
        """
        import socket
        caught = 0
        for attempt in (
            lambda: socket.create_connection(("192.0.2.1", 80), timeout=1),
            lambda: socket.socket().connect(("192.0.2.1", 443)),
            lambda: socket.socket().connect_ex(("192.0.2.1", 443)),
            lambda: socket.getaddrinfo("api.prefect.cloud", 443),
            lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("192.0.2.1", 53)),
        ):
            try:
                attempt()
            except OSError as exc:
                caught += "test guard" in str(exc)
        server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
        socket.create_connection(server.getsockname(), timeout=1).close()   # loopback: allowed
        socket.getaddrinfo("localhost", 80)
        print(caught)
        """
    )
    proc = _run(env, "-c", script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5"
    attempts = _attempts(log)
    assert "192.0.2.1" in attempts and "api.prefect.cloud" in attempts
    assert "127.0.0.1" not in attempts and "localhost" not in attempts


def test_audit_and_demo_open_no_connection_but_loopback(guarded_env, tmp_path):
    """`audit` (no server) and `demo` (nightly on a temporary Prefect server) stay on loopback."""
    env, log = guarded_env
    paths = write_extracts(generate(seed=5, days=1, encounters_per_day=12, bad_row_count=2), tmp_path / "extracts")
    t0 = time.perf_counter()
    audit = _run(env, "-m", "flows.cli", "audit", "--mar", paths["mar"], "--claims", paths["claims"],
                 "--out", tmp_path / "audit", cwd=tmp_path)
    assert audit.returncode == 0, audit.stderr[-3000:]
    demo = _run(env, "-m", "flows.cli", "demo", "--out", tmp_path / "demo", "--days", "1", "--encounters", "8",
                cwd=tmp_path)
    assert demo.returncode in (0, 1), demo.stderr[-3000:]  # 1 = a score below target on this tiny demo
    assert (tmp_path / "demo" / "summary.md").is_file()
    assert "temporary server" in demo.stdout + demo.stderr  # the loopback server really ran under the guard
    assert _attempts(log) == "", f"non-loopback network attempts:\n{_attempts(log)}"
    assert "Failed to send telemetry" not in demo.stdout + demo.stderr
    assert time.perf_counter() - t0 < 540
