"""The socket guard of the patient-data test (issue 9): no network but loopback.

A Python that finds :data:`GUARD` as ``sitecustomize.py`` on its PYTHONPATH
(and every Python it starts, such as the temporary Prefect server: they
inherit PYTHONPATH) wraps ``socket.socket.connect`` / ``connect_ex`` /
``sendto``, ``socket.create_connection`` and ``socket.getaddrinfo``. Any
address other than loopback or a Unix socket is written to the file named by
``NETGUARD_LOG`` and refused (``OSError``), so an attempt can neither succeed
nor hang. :data:`SELF_CHECK` is a script that proves the guard catches a
connection to a documentation address (192.0.2.1, TEST-NET-1), a DNS lookup
and a UDP datagram, and lets loopback through.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

GUARD = textwrap.dedent(
    '''
    """Test guard: record and refuse every non-loopback connection (tests/flows/netguard.py)."""
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


SELF_CHECK = textwrap.dedent(
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
#: What SELF_CHECK prints when every one of its five attempts out was refused by the guard.
SELF_CHECK_CAUGHT = "5"


def install(folder: Path) -> Path:
    """Write the guard as ``folder/sitecustomize.py``; returns ``folder``, to put first on PYTHONPATH."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    return folder


def attempts(log: Path) -> str:
    """The attempts the guard recorded (empty when there were none)."""
    return log.read_text(encoding="utf-8") if log.exists() else ""
