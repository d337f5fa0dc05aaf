"""flows.shard_workers: shards audited here and in helper processes, results in shard order."""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
import weakref
from collections.abc import Iterator

import pandas as pd
import pytest

from flows import shard_workers
from flows.shard_workers import HelperDied, map_shards
from flows.tree_memory import descendants
from transforms.shards import Shard

DAY_CATEGORIES = [f"E{i:03d}" for i in range(24)]  # the day's ids: each shard's dtype carries all of them


def _shard(index: int) -> Shard:
    ids = DAY_CATEGORIES[2 * index: 2 * index + 2]
    mar = pd.DataFrame({"encounter_id": pd.Categorical(ids, categories=DAY_CATEGORIES), "dose": [1.0, 2.0]})
    claims = pd.DataFrame({"encounter_id": pd.Categorical(ids[:1], categories=DAY_CATEGORIES)})
    return Shard(index, ids[0], ids[-1], mar, claims)


def _children() -> set[str]:
    # Compared before and after: other tests may leave processes of their own (a Prefect server).
    return set(descendants("self"))


def _shards(n: int, refs: list[weakref.ref[Shard]] | None = None) -> Iterator[Shard]:
    for index in range(n):
        pending = [_shard(index)]
        if refs is not None:
            refs.append(weakref.ref(pending[0]))
        yield pending.pop()  # the producer keeps no shard it handed out (as take_shards)


def where(shard: Shard) -> tuple[int, int, list[str], list[str]]:
    """Which process audited ``shard``: its pid, the shard's index, values and categories."""
    time.sleep(0.2)  # long enough that the parent and a helper both take shards
    column = shard.mar["encounter_id"]
    return os.getpid(), shard.index, list(column.astype(str)), list(column.cat.categories)


def test_shards_go_to_a_helper_and_to_this_process_and_come_back_in_order() -> None:
    before = _children()
    results = list(map_shards(where, _shards(6), helpers=1))
    assert [index for _pid, index, _values, _cats in results] == list(range(6))
    assert [values for *_rest, values, _cats in results] == [DAY_CATEGORIES[2 * i: 2 * i + 2] for i in range(6)]
    pids = {pid for pid, *_ in results}
    assert os.getpid() in pids and len(pids) == 2  # both audited shards
    for pid, index, values, categories in results:
        # A helper's shard crossed the pipe compacted: only its own ids, in the day's order.
        assert categories == (DAY_CATEGORIES if pid == os.getpid() else values), index
    assert _children() <= before  # the helper exited


def test_no_helper_or_too_few_shards_start_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(helpers: int) -> None:
        raise AssertionError("no helper should start")

    monkeypatch.setattr(shard_workers, "_Pool", no_pool)
    here = os.getpid()
    assert [r[0] for r in map_shards(where, _shards(3), helpers=0)] == [here] * 3
    assert [r[:2] for r in map_shards(where, _shards(1), helpers=2)] == [(here, 0)]
    assert [r[:2] for r in map_shards(where, _shards(2), helpers=2)] == [(here, 0), (here, 1)]  # MIN_SHARDS
    assert list(map_shards(where, _shards(0), helpers=2)) == []


def test_helpers_started_ahead_audit_a_day_of_two_shards_and_stop_after_it() -> None:
    before = _children()
    with shard_workers.Helpers(1) as helpers:
        assert len(_children() - before) == 1  # started at once, before any shard is ready
        results = list(map_shards(where, _shards(2), helpers))
        assert _children() <= before  # stopped once the shards were done, not at the end of the block
    assert [index for _pid, index, *_ in results] == [0, 1]
    assert len({pid for pid, *_ in results}) == 2  # two shards (STARTED_MIN_SHARDS): one of them by the helper


def test_helpers_started_ahead_stop_when_too_few_shards_come_or_none_are_audited() -> None:
    before = _children()
    with shard_workers.Helpers(1) as helpers:
        assert [r[:2] for r in map_shards(where, _shards(1), helpers)] == [(os.getpid(), 0)]
        assert _children() <= before
    with shard_workers.Helpers(1):  # never handed to map_shards (e.g. an unusable extract ended the run)
        assert len(_children() - before) == 1
    assert _children() <= before


def test_helpers_not_started_ahead_start_from_min_shards_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _children()
    with shard_workers.Helpers(1, start=False) as helpers:
        assert _children() <= before
        assert {r[0] for r in map_shards(where, _shards(2), helpers)} == {os.getpid()}  # fewer than MIN_SHARDS
    with shard_workers.Helpers(1, start=False) as helpers:
        assert len({r[0] for r in map_shards(where, _shards(4), helpers)}) == 2  # started here, as with an int
    assert _children() <= before


ALIVE_WHEN_AUDITED_HERE: list[int] = []
SHARD_REFS: list[weakref.ref[Shard]] = []


def count_alive(shard: Shard) -> int:
    """Audited here: how many shards this process holds meanwhile; in a helper: nothing to see."""
    time.sleep(0.1)
    gc.collect()
    ALIVE_WHEN_AUDITED_HERE.append(sum(ref() is not None for ref in SHARD_REFS))
    return shard.index


def test_shards_are_read_a_few_ahead_and_not_kept_once_handed_over() -> None:
    ALIVE_WHEN_AUDITED_HERE.clear()
    SHARD_REFS.clear()
    assert list(map_shards(count_alive, _shards(10, SHARD_REFS), helpers=1)) == list(range(10))
    gc.collect()
    assert ALIVE_WHEN_AUDITED_HERE  # some were audited here, and then
    # this process held the one it audited and at most ROOM read ahead; the others, audited
    # or handed to the helper, were let go (ten shards, never more than three alive) ...
    assert max(ALIVE_WHEN_AUDITED_HERE) <= shard_workers.ROOM + 1
    assert not any(ref() is not None for ref in SHARD_REFS)  # ... and none is kept at the end


class Refused(ValueError):
    pass


def refuse_odd(shard: Shard) -> int:
    time.sleep(0.2)
    if shard.index % 2 and _in_helper():
        raise Refused(f"shard {shard.index} refused")
    return shard.index


def _in_helper() -> bool:
    # The helper imports this module afresh, so the parent's pid comes through the environment.
    return os.environ["SHARD_TEST_PARENT"] != str(os.getpid())


def test_a_helpers_exception_is_raised_here_and_the_helpers_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARD_TEST_PARENT", str(os.getpid()))
    before = _children()
    with pytest.raises(Refused, match="refused") as caught:
        list(map_shards(refuse_odd, _shards(8), helpers=1))
    assert any("in the helper process auditing shard" in note and "refuse_odd" in note
               for note in caught.value.__notes__)
    assert _children() <= before


def die(shard: Shard) -> int:
    if _in_helper():
        os._exit(3)  # as the kernel's out-of-memory killer would end it: no answer, no exception
    time.sleep(0.2)
    return shard.index


def test_a_helper_that_dies_is_an_error_not_a_missing_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARD_TEST_PARENT", str(os.getpid()))
    before = _children()
    with pytest.raises(HelperDied, match="exited with code 3"):
        list(map_shards(die, _shards(6), helpers=1))
    assert _children() <= before


def _unsendable_shards(n: int) -> Iterator[Shard]:
    for shard in _shards(n):
        shard.mar["lock"] = [threading.Lock()] * len(shard.mar)  # no pickle for a lock
        yield shard


def test_a_shard_that_cannot_be_sent_is_an_error_not_a_run_that_waits_forever() -> None:
    # Pickling happens on the helper's sending thread; an error there (an
    # unpicklable cell, or memory running out while a big shard is pickled)
    # once ended that thread alone, and the run waited for an answer forever.
    before = _children()
    outcome: list[BaseException | list] = []

    def run() -> None:
        try:
            outcome.append(list(map_shards(index_of, _unsendable_shards(6), helpers=1)))
        except BaseException as exc:  # noqa: BLE001 - looked at below
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "map_shards still waiting for a shard that was never sent"
    assert isinstance(outcome[0], TypeError) and "pickle" in str(outcome[0])
    assert any("sending shard" in note for note in outcome[0].__notes__)
    assert _children() <= before


def index_of(shard: Shard) -> int:
    time.sleep(0.2)
    return shard.index


def helper_where(shard: Shard) -> tuple[int, int, list[str], list[str]]:
    """What a helper runs when told to: ``where`` with its pid negated, to be told apart."""
    pid, index, values, categories = where(shard)
    return -pid, index, values, categories


def test_helpers_run_the_helper_function_and_this_process_the_other() -> None:
    results = list(map_shards(where, _shards(6), helpers=1, helper_fn=helper_where))
    assert [index for _pid, index, *_ in results] == list(range(6))
    here = [pid for pid, *_ in results if pid > 0]
    there = [pid for pid, *_ in results if pid < 0]
    assert here and there and set(here) == {os.getpid()} and -there[0] != os.getpid()


def _sent(*messages: bytes, cut: int | None = None) -> socket.socket:
    """A socket holding ``messages`` as ``write_message`` framed them (the last cut to
    ``cut`` bytes when given), its other end closed: what a reader of a helper sees."""
    here, there = socket.socketpair()

    def write() -> None:
        for message in messages:
            shard_workers.write_message(there, message)
        there.close()

    if cut is None:
        writer = threading.Thread(target=write)  # larger than the socket's buffer: written while read
        writer.start()
        return here
    framed = b"".join(shard_workers._LENGTH.pack(len(m)) + m for m in messages)
    there.sendall(framed[:cut])
    there.close()
    return here


def test_messages_cross_whole_and_in_order_and_the_end_is_none() -> None:
    big = os.urandom(5 * 2**20)  # many times a socket's buffer
    sock = _sent(b"first", b"", big, b"last")
    try:
        got = [shard_workers.read_message(sock) for _ in range(5)]
    finally:
        sock.close()
    assert got == [b"first", b"", big, b"last", None]


@pytest.mark.parametrize("cut", [3, 8 + 2])  # inside the length, inside the bytes
def test_a_stream_that_ends_inside_a_message_is_an_error(cut: int) -> None:
    sock = _sent(b"0123456789", cut=cut)
    try:
        with pytest.raises(EOFError):
            shard_workers.read_message(sock)
    finally:
        sock.close()
