"""Exactly-once delivery under Python threads, the GIL released while waiting, asyncio awaits."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from typing import Callable, Dict, List, Optional

import pytest

import lmbatch
from evalset import eval_faces


def enqueue_all(p: lmbatch.Pipeline, count: int) -> None:
    faces = eval_faces()
    for i in range(count):
        f = faces[i % len(faces)]
        while True:
            try:
                p.enqueue(i, f.frame, f.box, fmt=f.fmt)  # type: ignore[arg-type]
                break
            except lmbatch.QueueFull:
                time.sleep(0.001)


def test_exactly_once_under_eight_threads_mixing_pop_pop_next_and_pop_async() -> None:
    count = 240
    ledger: Dict[int, List[str]] = defaultdict(list)
    lock = threading.Lock()
    done = threading.Event()

    def record(event_id: int, who: str) -> None:
        with lock:
            ledger[event_id].append(who)
            if len(ledger) == count:
                done.set()

    with lmbatch.Pipeline(backend="cpu", max_wait_ms=2.0, queue_capacity=count) as p:
        # Each kind of consumer gets a share: pop_next polls (a blocked pop_next would win every
        # race), pop polls its ids, pop_async is woken by the ready callback.
        def by_pop_next(name: str) -> None:
            while not done.is_set():
                lm = p.pop_next(timeout=0.0)
                if lm is not None:
                    record(lm.event_id, name)
                time.sleep(0.005)

        def by_pop(name: str, mine: List[int]) -> None:
            todo = list(mine)
            while todo and not done.is_set():
                for event_id in list(todo):
                    try:
                        record(p.pop(event_id).event_id, name)
                        todo.remove(event_id)
                    except lmbatch.Pending:
                        pass
                    except lmbatch.NotFound:
                        todo.remove(event_id)  # another consumer had it
                time.sleep(0.003)

        def by_pop_async(name: str, mine: List[int]) -> None:
            async def one(event_id: int) -> None:
                try:
                    record((await p.pop_async(event_id)).event_id, name)
                except lmbatch.NotFound:
                    pass

            async def main() -> None:
                await asyncio.gather(*(one(i) for i in mine))

            asyncio.run(main())

        ids = list(range(count))
        # Each kind has ids no other kind asks for (i % 8: 0 pop_next's alone, 1 pop's, 2
        # pop_async's), so each has a share whatever the scheduling; the other five eighths are
        # raced for by all three.
        raced = [i for i in ids if i % 8 > 2]
        for_pop = sorted(raced + ids[1::8])
        for_async = sorted(raced + ids[2::8])
        enqueue_all(p, count)
        threads = [threading.Thread(target=by_pop_next, args=(f"pop_next{k}",)) for k in range(3)]
        threads += [threading.Thread(target=by_pop, args=(f"pop{k}", for_pop[k::3])) for k in range(3)]
        threads += [threading.Thread(target=by_pop_async, args=(f"async{k}", for_async[k::2])) for k in range(2)]
        for t in threads:
            t.start()
        assert done.wait(timeout=300), f"{len(ledger)} of {count} delivered"
        for t in threads:
            t.join(timeout=60)
            assert not t.is_alive()
        stats = p.stats()
    twice = {i: who for i, who in ledger.items() if len(who) != 1}
    assert not twice, f"delivered more than once: {twice}"
    assert sorted(ledger) == ids
    kinds: Dict[str, int] = defaultdict(int)
    for who in ledger.values():
        kinds[who[0].rstrip("0123456789")] += 1
    print(f"deliveries by kind: {dict(kinds)}; stats popped {stats.popped}")
    assert set(kinds) == {"pop", "pop_next", "async"}, kinds
    assert stats.popped == count and stats.accepted == count


def test_gil_is_released_while_pop_wait_waits() -> None:
    face = eval_faces()[0]
    counter = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            counter[0] += 1

    with lmbatch.Pipeline(backend="cpu", max_wait_ms=60000.0, drain_timeout_ms=0.0) as p:
        p.enqueue(1, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
        t = threading.Thread(target=count)
        t.start()
        time.sleep(0.05)
        before = counter[0]
        started = time.monotonic()
        with pytest.raises(lmbatch.Timeout):
            p.pop_wait(1, timeout=0.5)
        waited = time.monotonic() - started
        during = counter[0] - before
        stop.set()
        t.join()
    print(f"the counting thread counted {during} times during a {waited:.3f} s pop_wait")
    # Holding the GIL for the wait would leave the counter within a switch interval (5 ms) of
    # where it was; a free thread counts millions of times in 500 ms.
    assert waited >= 0.45
    assert during > 10_000


def test_a_thousand_concurrent_awaits_resolve_once_each() -> None:
    count = 1000
    resolved: Dict[int, int] = defaultdict(int)
    with lmbatch.Pipeline(backend="cpu", max_wait_ms=2.0, queue_capacity=count) as p:
        async def one(event_id: int) -> None:
            lm = await p.pop_async(event_id)
            assert lm.event_id == event_id and lm.points.shape == (468, 3)
            resolved[event_id] += 1

        async def main() -> float:
            enqueue_all(p, count)
            started = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), timeout=600)
            return time.monotonic() - started

        elapsed = asyncio.run(main())
        stats = p.stats()
    print(f"{count} awaits resolved in {elapsed:.2f} s ({stats.batches} batches)")
    assert len(resolved) == count and all(n == 1 for n in resolved.values())
    assert stats.popped == count


def test_a_cancelled_await_does_not_lose_the_result() -> None:
    face = eval_faces()[0]
    with lmbatch.Pipeline(backend="cpu", max_wait_ms=1000.0) as p:
        async def main() -> None:
            p.enqueue(1, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
            task = asyncio.ensure_future(p.pop_async(1))
            await asyncio.sleep(0.05)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Cancelling the await cancelled nothing in the library: the item still finishes.
            lm = await asyncio.wait_for(p.pop_async(1), timeout=120)
            assert lm.event_id == 1

            # And with a plain pop after the cancel.
            p.enqueue(2, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
            task = asyncio.ensure_future(p.pop_async(2))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        assert p.pop_wait(2, timeout=120).event_id == 2
        assert p.stats().cancelled == 0


def test_close_resolves_pending_awaits() -> None:
    face = eval_faces()[0]
    p = lmbatch.Pipeline(backend="cpu", max_wait_ms=60000.0, drain_timeout_ms=0.0)

    async def main() -> None:
        p.enqueue(1, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
        task = asyncio.ensure_future(p.pop_async(1))
        await asyncio.sleep(0.05)
        await asyncio.get_running_loop().run_in_executor(None, p.close)
        with pytest.raises(lmbatch.LmbatchError):
            await asyncio.wait_for(task, timeout=60)

    asyncio.run(main())


def test_an_await_cancelled_just_after_its_result_was_popped_keeps_the_result() -> None:
    # The race a cancel can lose: the ready callback's wake-up pops the result for the await, and
    # the await is cancelled before it resumes. The result is kept for the next pop.
    face = eval_faces()[0]

    class CancelAfterWake(lmbatch.Pipeline):
        victim: "Optional[asyncio.Future[lmbatch.Landmarks]]" = None

        def _watch(self, event_id: int, event_loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> int:
            def wake_then_cancel() -> None:
                callback()
                if self.victim is not None:
                    self.victim.cancel()

            return super()._watch(event_id, event_loop, wake_then_cancel)

    with CancelAfterWake(backend="cpu", max_wait_ms=300.0) as p:
        async def main() -> None:
            p.enqueue(1, face.frame, face.box, fmt=face.fmt)  # type: ignore[arg-type]
            task = asyncio.ensure_future(p.pop_async(1))
            p.victim = task
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), timeout=120)

        asyncio.run(main())
        assert p.stats().popped == 1  # the library delivered it, to the cancelled await
        lm = p.pop(1)  # and the next pop still has it
        assert lm.event_id == 1
        with pytest.raises(lmbatch.NotFound):
            p.pop(1)
