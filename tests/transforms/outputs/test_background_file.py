"""BackgroundFile (transforms/outputs/background_file.py): the pieces reach the file in order, one
piece behind the producer, and an error on either side is raised and leaves the file closed."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from transforms.outputs.background_file import BackgroundFile


class _GatedFile:
    """A stand-in file whose ``write`` waits for ``gate`` and records what it wrote."""

    def __init__(self, fail_on: bytes | None = None) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.pieces: list[bytes] = []
        self.closed = False
        self.fail_on = fail_on

    def write(self, data) -> int:
        self.started.set()
        self.gate.wait(timeout=10)
        if bytes(data) == self.fail_on:
            raise OSError("disk full")
        self.pieces.append(bytes(data))
        return len(data)

    def close(self) -> None:
        self.closed = True


def _gated(tmp_path, fake: _GatedFile) -> BackgroundFile:
    out = BackgroundFile(tmp_path / "unused.bin")
    out._file.close()
    out._file = fake
    return out


def test_pieces_are_written_in_order_bytes_and_memoryviews(tmp_path):
    pieces = [b"head\n", memoryview(np.frombuffer(b"0123456789", dtype=np.uint8))[2:7], b"", "é\n".encode()]
    with BackgroundFile(tmp_path / "out.bin") as out:
        for i in range(200):  # many pieces: any reordering or loss shows
            out.write(f"{i},".encode())
        for piece in pieces:
            out.write(piece)
    expected = "".join(f"{i}," for i in range(200)).encode() + b"head\n23456" + "é\n".encode()
    assert (tmp_path / "out.bin").read_bytes() == expected


def test_write_returns_while_its_piece_is_written_but_waits_for_the_previous_one(tmp_path):
    fake = _GatedFile()
    out = _gated(tmp_path, fake)
    out.write(b"first")  # returns at once: the piece is written on the other thread
    assert fake.started.wait(timeout=5) and fake.pieces == []
    second = threading.Thread(target=out.write, args=(b"second",))
    second.start()
    second.join(timeout=0.3)
    assert second.is_alive()  # one piece in flight at most: the next waits for it
    fake.gate.set()
    second.join(timeout=5)
    out.close()
    assert fake.pieces == [b"first", b"second"] and fake.closed


def test_an_error_of_the_writer_thread_is_raised_in_the_producer(tmp_path):
    fake = _GatedFile(fail_on=b"bad")
    fake.gate.set()
    out = _gated(tmp_path, fake)
    out.write(b"bad")
    with pytest.raises(OSError, match="disk full"):
        out.write(b"next")
    out.close()
    assert fake.pieces == [] and fake.closed
    fake2 = _GatedFile(fail_on=b"last")
    fake2.gate.set()
    with pytest.raises(OSError, match="disk full"):
        with _gated(tmp_path, fake2) as out2:
            out2.write(b"ok")
            out2.write(b"last")  # its error comes at close
    assert fake2.pieces == [b"ok"] and fake2.closed


def test_an_error_of_the_producer_wins_and_the_piece_in_flight_is_finished(tmp_path):
    fake = _GatedFile(fail_on=b"bad")
    fake.gate.set()
    with pytest.raises(ValueError, match="block failed"):
        with _gated(tmp_path, fake) as out:
            out.write(b"good")
            out.write(b"bad")  # the writer's error is dropped: the producer's is raised
            raise ValueError("block failed")
    assert fake.pieces == [b"good"] and fake.closed
