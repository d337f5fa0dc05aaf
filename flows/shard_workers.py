"""Audit a day's shards in this process and in helper processes at once.

Why processes, and why these (written here because no library fits):

- The engine is pandas code that holds the GIL: two threads auditing two
  shards measured 1.1 times one.
- A child forked from a run that has loaded a big day shares its gigabytes
  copy-on-write, and every page either side then writes is copied. At a
  million encounters, a fork per shard cost more CPU (37 s in the children,
  8 s of page faults in the parent) than the 29 s of the audit it split.
- ``concurrent.futures.ProcessPoolExecutor`` and ``multiprocessing``'s
  spawn and forkserver pools re-import the parent's ``__main__``: for
  ``python -m flows.cli`` that is Great Expectations, about 9 s a helper.
  Nor do they let the parent audit shards itself while the helpers do.
- A local Dask cluster (``--dask local:N``) costs seconds to start and
  ships shards the same way; it is the choice across machines
  (:mod:`flows.runners`), this one within a run.

So a helper is a fresh interpreter, ``python -m flows.shard_workers``, that
imports the engine only (:mod:`flows.shard_audit`, about 1 s and 110 MB).
Shards go to it pickled over a socket, their categoricals compacted
(:func:`transforms.shards.compact_shard`: 0.3 s for a 50,000-encounter
shard against the 1.5-2 s of its audit), and results come back the same
way, each message read whole in one call (:func:`read_message`). Nothing
touches the disk, so no patient data is left in a temporary file.

A run that knows early that its day is large (a files-in run once its MAR
is validated, a nightly once its extracts are staged) starts its helpers
ahead (:class:`Helpers`): their start then overlaps reading the claims or
the lake, and a day of more than one shard is cut into at least three
(:func:`helper_cut`), so it is audited by two processes too.

The parent audits shards too: each shard goes to a helper with room for it
(one under way and one waiting, so a helper never idles while the parent
audits; :func:`_to_helper`) or else is audited here, and results come back
in shard order. Memory: the caller may give helpers a function that audits
in smaller pieces (:func:`flows.pipeline._audit_shards` halves the shard
size), and both sides hand freed memory back to the system after each
shard. A helper's exception is raised here; a helper that dies is an error,
never a missing shard.
"""

from __future__ import annotations

import os
import pickle
import queue
import socket
import struct
import subprocess
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import Any

from transforms.memory import release_freed_memory
from transforms.shards import Shard, compact_shard

#: Shards a helper holds at once: one under way, one waiting.
ROOM = 2
#: Fewest shards worth a helper. With two, the helper's start (about 1 s) and its one
#: shard take as long as this process auditing both (measured at 100k encounters).
MIN_SHARDS = 3
#: The same for helpers started ahead (:class:`Helpers`), whose start the run has already
#: overlapped with something else: at 100k encounters (two shards) the audit took 3.1-3.4 s
#: against 3.3-4.1 s by this process alone (six interleaved pairs of runs; the run 5 % faster
#: on average), and the peak 1.04 against 0.71 GB (the run and its helper; docs/speed.md).
#: A run's audit now cuts such a day into at least three (:func:`helper_cut`); two shards still come
#: to :func:`map_shards` from other callers (and from a day of two encounters).
STARTED_MIN_SHARDS = 2


#: How much larger than each of this process's shards a helper's is, when a day is cut for
#: helpers started ahead (:func:`helper_cut`). This process's share of the audit also holds
#: the helper's crossings (pickling its shard, reading its result back: 0.4 s at 100k
#: encounters), so with three equal shards it finished last: at 100k the audit took
#: 2.55-2.83 s, and 2.39-2.59 s with the helper's shard 1.3 times the others (eight
#: interleaved pairs; 1.2, 1.4, 1.5, 1.7 did no better; docs/speed.md).
HELPER_SHARD_WEIGHT = 1.3


def helper_cut(helpers: Helpers | None) -> tuple[float, ...]:
    """The fewest shards a day of more than one shard is cut into for ``helpers`` started ahead,
    as their relative sizes (:func:`transforms.shards.iter_shards`' ``at_least``; empty: by
    size alone): one per helper, :data:`HELPER_SHARD_WEIGHT` each (the shards handed out first
    go to the helpers, :func:`_to_helper`), then one more than the helpers for this process,
    so that it audits at least two while the helpers audit theirs. With one helper, three.

    A helper's shard costs more than this process's: it is pickled there and
    back, read on each side, and audited in halves. At 100k encounters, two
    shards of 50,000 (one each) took the audit 2.9-3.1 s, this process then
    waiting about 1 s for the helper's; three of 33,000 took 2.5-2.6 s
    (docs/speed.md)."""
    if helpers is None or not helpers.started:
        return ()
    return (HELPER_SHARD_WEIGHT,) * helpers.count + (1.0,) * (helpers.count + 1)


class HelperDied(RuntimeError):
    """A helper process ended without answering for a shard it was given."""


_LENGTH = struct.Struct("!Q")  # a message's length, before its bytes


def write_message(sock: socket.socket, data: bytes) -> None:
    """Send ``data`` after its length (:func:`read_message` reads it)."""
    sock.sendall(_LENGTH.pack(len(data)))
    sock.sendall(data)


def read_message(sock: socket.socket) -> bytearray | None:
    """The next message :func:`write_message` wrote, or ``None`` at the end of the stream.

    Why a socket and ``MSG_WAITALL``, not ``multiprocessing``'s ``Connection``
    on a pipe (written here because no library reads a message whole without
    the GIL): the reader is a thread of a process whose main thread audits
    and holds the GIL. A read of a pipe returns what the pipe holds (64 KiB),
    and the thread then waits up to the 5 ms switch interval for the GIL
    before reading on, while the writer blocks. At a million encounters the
    helper spent 1.7 s of the audit waiting to hand over its results (about
    40 MB a shard; a 1 MiB pipe did not shorten it), 0.35 s with this.
    ``recv_into`` with ``MSG_WAITALL`` waits for the whole message in one
    call, without the GIL.

    Raises:
        EOFError: the stream ended inside a message (the writer died).
    """
    header = _read_exactly(sock, _LENGTH.size)
    if header is None:
        return None
    data = _read_exactly(sock, _LENGTH.unpack(header)[0])
    if data is None:
        raise EOFError("the stream ended inside a message")
    return data


def _read_exactly(sock: socket.socket, size: int) -> bytearray | None:
    """``size`` bytes from ``sock``; ``None`` if the stream ends before the first of them."""
    data = bytearray(size)
    view, got = memoryview(data), 0
    while got < size:
        read = sock.recv_into(view[got:], size - got, socket.MSG_WAITALL)
        if read == 0:
            if got == 0:
                return None
            raise EOFError("the stream ended inside a message")
        got += read
    return data


class _Helper:
    """One helper process, the socket to it, and the threads that feed it and read its answers.

    Sending pickles in a thread of its own, so that the parent goes on
    auditing while a shard crosses the socket (the helper reads it whenever
    it is free: it, too, reads in a thread)."""

    def __init__(self, answers: queue.Queue[tuple[_Helper, bytearray | None]]) -> None:
        self._sock, helpers_end = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flows.shard_workers", str(helpers_end.fileno())],
            pass_fds=(helpers_end.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
        helpers_end.close()
        self._sends: queue.Queue[Any] = queue.Queue()
        self.in_flight = 0
        self.gone = False  # its process ended (its reader saw the end of its answers)
        self.send_error: Exception | None = None  # why a shard could not be sent to it
        self._answers = answers
        self._threads = [threading.Thread(target=target, daemon=True) for target in (self._send_loop, self._read_loop)]
        for thread in self._threads:
            thread.start()

    def submit(self, message: tuple[int, Callable[[Any], Any], Any]) -> None:
        self.in_flight += 1
        self._sends.put(message)

    def _send_loop(self) -> None:
        index = None
        try:
            while (message := self._sends.get()) is not None:
                index = message[0]
                write_message(self._sock, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
                del message  # the shard is the helper's now
            self._sock.shutdown(socket.SHUT_WR)  # the helper reads the end of its work
        except OSError:  # the helper is gone: its reader reports it
            pass
        except Exception as exc:  # noqa: BLE001 - raised in the parent (_Pool.collect)
            # Pickling failed (a cell that cannot be pickled, memory run out): the helper
            # would wait for this shard forever and the parent for its answer. Ending
            # the helper ends its answers, and the parent raises this error then.
            exc.add_note(f"sending shard {index} to a helper process")
            self.send_error = exc
            self.process.kill()

    def _read_loop(self) -> None:
        try:
            while (answer := read_message(self._sock)) is not None:
                self._answers.put((self, answer))
        except (EOFError, OSError):
            pass
        finally:
            self._answers.put((self, None))

    def close(self, kill: bool) -> None:
        """Stop the helper: killed, or told there is no more work (it exits; killed if it
        has not within seconds)."""
        if kill:
            self.process.kill()
        self._sends.put(None)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for thread in self._threads:  # the helper has exited: both end at once
            thread.join(timeout=10)
        self._sock.close()


class _Pool:
    """Helpers and the answers they have sent, by item position."""

    def __init__(self, helpers: int) -> None:
        self.answers: queue.Queue[tuple[_Helper, bytearray | None]] = queue.Queue()
        self.helpers = [_Helper(self.answers) for _ in range(helpers)]
        self.done: dict[int, Any] = {}

    def least_busy(self) -> _Helper | None:
        alive = [h for h in self.helpers if not h.gone]
        return min(alive, key=lambda h: h.in_flight) if alive else None

    def collect(self, block: bool) -> None:
        """Take in every answer that has arrived (and, with ``block``, wait for one)."""
        while True:
            try:
                helper, data = self.answers.get(block=block)
            except queue.Empty:
                return
            block = False
            if data is None:
                helper.gone = True
                if helper.send_error is not None:
                    raise helper.send_error
                if helper.in_flight:
                    raise HelperDied(f"shard helper exited with code {helper.process.wait()} "
                                     f"with {helper.in_flight} shard(s) unanswered")
                continue
            index, ok, *payload = pickle.loads(data)
            helper.in_flight -= 1
            if not ok:
                exc, text = payload
                exc.add_note(f"in the helper process auditing shard {index}:\n{text}")
                raise exc
            self.done[index] = payload[0]

    def close(self, kill: bool) -> None:
        for helper in self.helpers:
            helper.close(kill)


class Helpers:
    """Helper processes started before a day's shards are ready, so that their start
    (about 1 s each) overlaps what the run does meanwhile (reading the claims), for
    :func:`map_shards`, which then uses them from :data:`STARTED_MIN_SHARDS` shards.

    ``count``: the helpers a day's audit may use; ``start``: start them now (else
    :func:`map_shards` starts them itself when a day has :data:`MIN_SHARDS` shards).
    A context manager: on exit the helpers are stopped, used or not (those that
    :func:`map_shards` took are stopped there, when their shards are done).
    """

    def __init__(self, count: int, start: bool = True) -> None:
        self.count = max(0, count)
        self._pool = _Pool(self.count) if self.count and start else None

    @property
    def started(self) -> bool:
        """Helpers were started and not yet handed over (:meth:`take`)."""
        return self._pool is not None

    def take(self) -> _Pool | None:
        """The started helpers, handed over once (None after, or when none were started)."""
        pool, self._pool = self._pool, None
        return pool

    def close(self) -> None:
        """Stop the helpers unless they were taken."""
        pool = self.take()
        if pool is not None:
            pool.close(kill=True)  # idle (or still importing): nothing of theirs to wait for

    def __enter__(self) -> Helpers:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def map_shards(fn: Callable[[Shard], Any], shards: Iterable[Shard], helpers: int | Helpers,
               helper_fn: Callable[[Shard], Any] | None = None) -> Iterator[Any]:
    """``fn(shard)`` for each of ``shards``, in this process and up to ``helpers`` helper
    processes at once (running ``helper_fn``, default ``fn``: the same result, but
    it may trade time for memory); results in shard order.

    ``shards`` is read lazily, :data:`ROOM` shards ahead of where it is
    audited, and this process drops each shard it hands over (the caller's
    memory keeps streaming, :func:`transforms.shards.take_shards`). With no
    helpers, or fewer than :data:`MIN_SHARDS` shards, every shard is audited
    here and no process is started. ``helpers`` may be :class:`Helpers`
    started ahead: they are used from :data:`STARTED_MIN_SHARDS` shards, and
    stopped once the shards are done (or at once, when too few come). ``fn``
    must pickle by reference (a module-level function, or a
    ``functools.partial`` of one over picklable arguments).
    """
    iterator = iter(shards)
    helpers = helpers if isinstance(helpers, Helpers) else Helpers(helpers, start=False)
    started, count = helpers.take(), helpers.count
    least = MIN_SHARDS if started is None else STARTED_MIN_SHARDS
    ahead = deque(islice(iterator, least if count >= 1 else 0))
    if count < 1 or len(ahead) < least:
        if started is not None:
            started.close(kill=True)
        yield from map(fn, chain(ahead, iterator))
        return
    yield from _shared(fn, helper_fn or fn, ahead, iterator, started if started is not None else _Pool(count))


def _to_helper(pool: _Pool, after: int) -> _Helper | None:
    """The helper to hand the next shard to, or ``None`` to audit it here.

    A helper with ``k`` shards takes another only if ``k + 1`` shards come
    after it, so this process has one of its own to audit meanwhile, and the
    last shards are audited here rather than queued behind a helper's."""
    helper = pool.least_busy()
    return helper if helper is not None and helper.in_flight < ROOM and after > helper.in_flight else None


def _shared(fn: Callable[[Shard], Any], helper_fn: Callable[[Shard], Any], ahead: deque[Shard],
            rest: Iterator[Shard], pool: _Pool) -> Iterator[Any]:
    """:func:`map_shards` with helpers: shards ``ahead`` then ``rest``."""
    started, next_out = 0, 0
    try:
        while True:
            ahead.extend(islice(rest, ROOM + 1 - len(ahead)))  # this shard and the ROOM after it
            if not ahead:
                break
            helper = _to_helper(pool, after=len(ahead) - 1)
            if helper is not None:
                helper.submit((started, helper_fn, compact_shard(ahead.popleft())))
            else:
                pool.done[started] = fn(ahead.popleft())
                # The shard's rows and working frames are freed but kept by the allocators: handed
                # back, or this process grows by the results on top of them beside the helpers.
                release_freed_memory()
            started += 1
            pool.collect(block=False)
            while next_out in pool.done:
                yield pool.done.pop(next_out)
                next_out += 1
        while next_out < started:
            if next_out not in pool.done:
                pool.collect(block=True)
                continue
            yield pool.done.pop(next_out)
            next_out += 1
    except BaseException:  # a shard failed, or the caller stopped early: the helpers' work is moot
        pool.close(kill=True)
        raise
    pool.close(kill=False)


# --- the helper's side -----------------------------------------------------------

def serve(fd: int) -> None:
    """Answer ``(index, fn, item)`` messages on the socket ``fd`` with ``(index, True, fn(item))``
    or ``(index, False, exception, traceback)`` until the parent ends its side.

    Reads in a thread, so a shard sent while another is audited crosses the
    socket at once instead of holding the parent's sending thread."""
    sock = socket.socket(fileno=fd)
    messages: queue.Queue[bytearray | None] = queue.Queue()

    def read() -> None:
        try:
            while (message := read_message(sock)) is not None:
                messages.put(message)
        except (EOFError, OSError):
            pass
        finally:
            messages.put(None)

    threading.Thread(target=read, daemon=True).start()
    while (data := messages.get()) is not None:
        index, fn, item = pickle.loads(data)
        del data
        try:
            answer: tuple[Any, ...] = (index, True, fn(item))
        except Exception as exc:  # noqa: BLE001 - raised again in the parent
            answer = (index, False, exc, traceback.format_exc())
        del item
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an unpicklable exception
            data = pickle.dumps((index, False, RuntimeError(f"{type(exc).__name__}: {exc}"), traceback.format_exc()))
        del answer
        write_message(sock, data)
        del data
        release_freed_memory()  # between shards, this helper holds its imports only
    sock.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
