"""The one clock: virtual time jumps, stays deterministic, and carries real loopback sockets."""

import asyncio
import sys
from datetime import UTC, datetime

import websockets

from chargepoint.clock import DEFAULT_VIRTUAL_START, RealClock, VirtualClock


def test_virtual_sleep_jumps_without_waiting():
    clock = VirtualClock()

    async def main():
        await clock.sleep(3 * 3600)
        return clock.monotonic(), clock.now()

    mono, now = clock.run(main())
    assert mono == 3 * 3600
    assert (now - DEFAULT_VIRTUAL_START).total_seconds() == 3 * 3600


def test_virtual_timers_fire_in_order_and_deterministically():
    def run_once():
        clock = VirtualClock()
        fired = []

        async def worker(name, delay, count):
            for _ in range(count):
                await clock.sleep(delay)
                fired.append((round(clock.monotonic(), 6), name))

        async def main():
            await asyncio.gather(worker("a", 0.7, 10), worker("b", 1.1, 7), worker("c", 2.5, 3))

        clock.run(main())
        return fired

    first, second = run_once(), run_once()
    assert first == second
    assert [t for t, _ in first] == sorted(t for t, _ in first)


def test_wall_offset_sync_leaves_monotonic_alone():
    clock = VirtualClock(start=datetime(2026, 3, 1, tzinfo=UTC))

    async def main():
        await clock.sleep(10)
        before = clock.monotonic()
        clock.sync_wall(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
        return before, clock.monotonic(), clock.now()

    before, after, now = clock.run(main())
    assert before == after == 10
    assert now == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_real_websocket_roundtrips_in_virtual_time():
    clock = VirtualClock()

    async def handler(ws):
        async for message in ws:
            await clock.sleep(30)  # a slow peer: 30 virtual seconds per answer
            await ws.send(message.upper())

    async def main():
        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with websockets.connect(f"ws://127.0.0.1:{port}", proxy=None) as ws:
                answers = []
                for i in range(20):
                    await ws.send(f"m{i}")
                    answers.append(await ws.recv())
                return answers, clock.monotonic()

    answers, elapsed = clock.run(main())
    assert answers == [f"M{i}" for i in range(20)]
    assert 600 <= elapsed < 601  # 20 x 30 s, no real waiting


def test_executor_jobs_do_not_let_virtual_time_run_away():
    clock = VirtualClock()

    async def main():
        loop = asyncio.get_running_loop()
        start = clock.monotonic()
        timer = asyncio.ensure_future(clock.sleep(5))
        # a real blocking job in a thread: virtual time must wait for it, not skip past the timer
        import time as _time

        await loop.run_in_executor(None, _time.sleep, 0.05)
        mid = clock.monotonic() - start
        await timer
        return mid

    assert clock.run(main()) < 5


def test_real_clock_is_monotonic_and_utc():
    clock = RealClock()
    a = clock.monotonic()
    b = clock.monotonic()
    assert b >= a
    assert clock.now().tzinfo is UTC


def test_wait_for_never_loses_a_cancellation():
    """asyncio.wait_for on 3.11 swallows a cancel that races with completion; Clock.wait_for must not."""
    clock = VirtualClock()

    async def main():
        event = asyncio.Event()

        async def waiter():
            while True:
                event.clear()
                try:
                    await clock.wait_for(event.wait(), 3600)
                except TimeoutError:
                    pass

        task = asyncio.ensure_future(waiter())
        await clock.sleep(1)
        event.set()  # completes the inner wait ...
        task.cancel()  # ... in the same loop iteration as the cancellation
        await clock.sleep(1)
        return task.done()

    assert clock.run(main()) is True


def _swallows_once(fut: asyncio.Future) -> object:
    """A loop like pymodbus's request path: a library's own ``asyncio.wait_for`` on each step."""
    async def loop() -> None:
        while True:
            try:
                await asyncio.wait_for(fut, 3600)  # as the library does (not our Clock.wait_for)
            except TimeoutError:
                pass
            await asyncio.sleep(0.2)
    return loop()


def test_cancel_and_wait_ends_a_task_that_swallowed_its_cancellation():
    """The HIL rcd test hung CI in its stop: a meter poll task lost its cancel inside pymodbus."""
    for clock in (VirtualClock(), RealClock()):
        async def main(clock=clock):
            fut = asyncio.get_running_loop().create_future()
            task = asyncio.ensure_future(_swallows_once(fut))
            failing = asyncio.ensure_future(asyncio.sleep(-1))  # a task that ends on its own
            await asyncio.sleep(0.01)
            probe = asyncio.get_running_loop().create_future()
            probe_task = asyncio.ensure_future(_swallows_once(probe))
            await asyncio.sleep(0.01)
            probe.set_result(1)  # completes the library's wait_for ...
            probe_task.cancel()  # ... in the same loop iteration as the cancellation
            await asyncio.sleep(0.3)
            swallowed = not probe_task.done()  # the bare cancel was lost
            probe_task.cancel()
            started = clock.monotonic()
            fut.set_result(1)  # the same race, now against cancel_and_wait's own first cancel
            await clock.wait_for(clock.cancel_and_wait(task, None, failing), 10)
            return swallowed, task.cancelled(), clock.monotonic() - started

        swallowed, cancelled, took = clock.run(main())
        assert cancelled
        assert took < 2.0
        if sys.version_info < (3, 12):
            assert swallowed  # the bug this guards against is real on the Python we run


def test_runaway_virtual_run_is_stopped_with_a_clear_error():
    from chargepoint.clock import VirtualTimeout

    clock = VirtualClock()

    async def spin_forever():
        while True:
            await clock.sleep(20)  # a keep-alive that never ends, waiting for nothing

    import pytest

    with pytest.raises(VirtualTimeout, match="virtual time reached"):
        clock.run(spin_forever(), wall_timeout=0.5)
