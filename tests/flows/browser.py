"""Headless Chromium for the browser tests, driven from the command line
(``--dump-dom``, ``--screenshot``), no Selenium.

The session fixture :func:`chromium` installs Debian's ``chromium`` and
``chromium-driver`` with apt-get when ``chromium`` is not on PATH (CI runs as
root); if that fails the tests fail with the reason, they never skip.
Screenshots are decoded with the standard library and numpy (no Pillow).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

#: Chromium flags that take the network away: every host name fails to
#: resolve and every request goes to a closed local port.
NETWORK_OFF: tuple[str, ...] = ("--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
                                "--proxy-bypass-list=<-loopback>")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the ``chromium`` executable, installed with apt-get if missing."""
    exe = shutil.which("chromium")
    if exe is not None:
        return exe
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium", "chromium-driver"]):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"chromium is missing and `{' '.join(cmd)}` could not run: {exc}", pytrace=False)
        if done.returncode != 0:
            pytest.fail(
                f"chromium is missing and `{' '.join(cmd)}` failed (exit {done.returncode}; the browser tests need "
                f"root on Debian to install chromium and chromium-driver):\n{done.stderr[-2000:]}",
                pytrace=False,
            )
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("apt-get installed chromium but `chromium` is still not on PATH", pytrace=False)
    return exe


def run_chromium(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with networking, sync and updates off."""
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={profile}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done


def read_png(path: Path) -> np.ndarray:
    """RGB pixels (height x width x 3) of an 8-bit, non-interlaced RGB/RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = bpp = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour_type in (2, 6), (depth, colour_type, interlace)
            bpp = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, 1 + width * bpp)
    out = np.empty((height, width * bpp), dtype=np.uint8)
    prev = np.zeros(width * bpp, dtype=np.int64)
    for y in range(height):
        line, kind = raw[y, 1:].astype(np.int64), raw[y, 0]
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: running sum per channel
            cur = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) & 255
        elif kind == 2:  # Up
            cur = (line + prev) & 255
        else:  # Average (3) and Paeth (4) depend on the byte to the left
            lb, pb, cb = line.tolist(), prev.tolist(), [0] * len(line)
            for i in range(len(lb)):
                a = cb[i - bpp] if i >= bpp else 0
                b = pb[i]
                if kind == 3:
                    cb[i] = (lb[i] + ((a + b) >> 1)) & 255
                    continue
                c = pb[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pbb, pc = abs(p - a), abs(p - b), abs(p - c)
                cb[i] = (lb[i] + (a if pa <= pbb and pa <= pc else b if pbb <= pc else c)) & 255
            cur = np.asarray(cb, dtype=np.int64)
        out[y] = cur
        prev = cur
    return out.reshape(height, width, bpp)[:, :, :3]


def rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def has_colour(pixels: np.ndarray, hex_colour: str, tolerance: int = 12, at_least: int = 30) -> bool:
    """At least ``at_least`` pixels within ``tolerance`` of the colour on every channel."""
    close = (np.abs(pixels.astype(np.int64) - rgb(hex_colour)) <= tolerance).all(axis=-1)
    return int(close.sum()) >= at_least


def screenshot(exe: str, page: Path, folder: Path, width: int, height: int, *flags: str) -> np.ndarray:
    """RGB pixels (height x width x 3) of ``page`` drawn in a ``width`` x ``height`` window."""
    png = folder / f"{page.stem}.png"
    run_chromium(exe, folder / "profile", *flags, f"--screenshot={png}", f"--window-size={width},{height}",
                 page.as_uri())
    pixels = read_png(png)
    assert pixels.shape == (height, width, 3)
    return pixels
