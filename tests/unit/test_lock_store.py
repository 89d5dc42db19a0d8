"""addons/lock_store.py: bounded retries with exponential backoff on a fake Redis that always loses the race,
and Rasa's ticket protocol on the real Redis of scripts/services.sh (tests/required.py's rule when absent)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid

import pytest
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import WatchError

from addons.lock_store import AtomicRedisLockStore
from tests.required import redis_url_or_skip


class FakeRedis:
    """Just the calls the store makes; `conflicts` transactions fail as if another replica wrote first."""

    def __init__(self, conflicts: int) -> None:
        self.data: dict[str, bytes] = {}
        self.conflicts = conflicts
        self.transactions = 0

    def pipeline(self) -> FakePipeline:
        return FakePipeline(self)

    async def get(self, key: str):
        return self.data.get(key)


class FakePipeline:
    def __init__(self, server: FakeRedis) -> None:
        self.server, self.queued = server, []

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *_exc) -> None:
        return None

    async def watch(self, key: str) -> None:
        self.queued = []

    async def get(self, key: str):
        return self.server.data.get(key)

    async def unwatch(self) -> None:
        return None

    def multi(self) -> None:
        self.queued = []

    def set(self, key: str, value: str, ex: int) -> None:
        self.queued.append((key, value.encode()))

    def delete(self, key: str) -> None:
        self.queued.append((key, None))

    async def execute(self) -> None:
        self.server.transactions += 1
        if self.server.conflicts:
            self.server.conflicts -= 1
            raise WatchError("watched key changed")
        for key, value in self.queued:
            if value is None:
                self.server.data.pop(key, None)
            else:
                self.server.data[key] = value


def store_on(server: FakeRedis, pauses: list[float], **settings) -> AtomicRedisLockStore:
    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    return AtomicRedisLockStore(client=server, sleep=sleep, jitter=lambda: 1.0, **settings)


def test_a_contended_lock_is_retried_a_bounded_number_of_times_with_growing_pauses():
    server, pauses = FakeRedis(conflicts=10**6), []
    store = store_on(server, pauses, max_attempts=6, base_delay=0.01, max_delay=0.1)
    with pytest.raises(LockError, match="conversation 'conv-1'.*6 times in a row"):
        asyncio.run(store.issue_ticket("conv-1"))
    assert server.transactions == 6  # bounded: not one more
    assert pauses == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.1])  # doubling up to the cap, none after the last


def test_the_defaults_are_bounded_and_the_jitter_stays_below_the_cap():
    store = AtomicRedisLockStore(client=FakeRedis(0))
    assert store.max_attempts <= 50
    assert all(0 <= store.backoff(attempt) <= store.max_delay for attempt in range(1, 60))
    assert sum(store.max_delay for _ in range(store.max_attempts)) < 10  # gives up within seconds


def test_a_ticket_is_issued_once_the_race_is_won():
    server, pauses = FakeRedis(conflicts=2), []
    store = store_on(server, pauses, base_delay=0.001)
    assert asyncio.run(store.issue_ticket("conv-2")) == 0
    assert len(pauses) == 2 and server.transactions == 3
    lock = asyncio.run(store.get_lock("conv-2"))
    assert [t.number for t in lock.tickets] == [0]


def test_an_unreachable_redis_is_a_lock_error():
    store = AtomicRedisLockStore(url="redis://127.0.0.1:1/0", socket_timeout=1)

    async def turn() -> None:
        async with store.lock("conv-3"):
            pass

    with pytest.raises(LockError, match="ConnectionError"):
        asyncio.run(turn())


@pytest.fixture
def redis_url() -> str:
    return redis_url_or_skip()


def test_turns_on_one_conversation_take_turns_on_a_real_redis(redis_url):
    prefix = "t" + uuid.uuid4().hex[:8]
    inside, turns, overlaps = [], [], []

    async def replica(store: AtomicRedisLockStore, n: int) -> None:
        for _ in range(n):
            async with store.lock("conv", lock_lifetime=5, wait_time_in_seconds=0.005) as lock:
                overlaps.extend(inside)
                inside.append(lock)
                await asyncio.sleep(0.002)
                inside.remove(lock)
                turns.append(1)

    async def main() -> bool:
        stores = [AtomicRedisLockStore(url=redis_url, key_prefix=prefix) for _ in range(4)]
        await asyncio.gather(*(replica(store, 10) for store in stores))
        left = await stores[0].red.exists(stores[0].key_prefix + "conv")
        for store in stores:
            await store.red.close()
        return bool(left)

    assert asyncio.run(main()) is False  # the last turn removed the lock
    assert (len(turns), overlaps) == (40, [])


def test_connections_that_died_while_redis_was_away_are_replaced_not_a_lock_error(redis_url):
    """After a Redis restart or a network cut every pooled connection is dead: the next turn still gets its lock."""
    prefix = "t" + uuid.uuid4().hex[:8]

    async def main() -> int:
        store = AtomicRedisLockStore(url=redis_url, key_prefix=prefix)
        async with store.lock("conv", lock_lifetime=5):
            pass
        name = "lockstore" + prefix
        await store.red.client_setname(name)  # the pooled connection, named to be killed
        killed = await store.red.client_kill_filter(_type="normal", skipme=False)  # Redis drops every client
        async with store.lock("conv", lock_lifetime=5) as lock:  # on a dead pooled connection first
            assert not lock.is_locked(lock.last_issued)
        await store.red.close()
        return killed

    assert asyncio.run(main()) >= 1


# --- Redis away at the wrong moment (commit 12bbecf) -------------------------------------------------------------


class Outage:
    """Wraps the pipelines of a store's real client. `cut_after_next_exec()`: the next EXEC is applied in Redis, then
    its reply is lost (`ConnectionError`, as a connection cut mid-EXEC); while `away`, every WATCH and EXEC fails
    as on an unreachable Redis. `watches` counts the transactions tried."""

    def __init__(self, client) -> None:
        self.away, self.watches, self._cut_next, self._stay_away = False, 0, False, False
        real_pipeline = client.pipeline

        def pipeline(*args, **kwargs):
            pipe = real_pipeline(*args, **kwargs)
            real_watch, real_execute = pipe.watch, pipe.execute

            async def watch(*names):
                self.watches += 1
                if self.away:
                    raise RedisConnectionError("Redis away (simulated)")
                return await real_watch(*names)

            async def execute(*args, **kwargs):
                if self.away:
                    await pipe.reset()  # as redis-py's own execute does when its connection fails
                    raise RedisConnectionError("Redis away (simulated)")
                result = await real_execute(*args, **kwargs)
                if self._cut_next:
                    self._cut_next, self.away = False, self._stay_away
                    raise RedisConnectionError("reply lost after EXEC (simulated)")
                return result

            pipe.watch, pipe.execute = watch, execute
            return pipe

        client.pipeline = pipeline

    def cut_after_next_exec(self, stay_away: bool = False) -> None:
        self._cut_next, self._stay_away = True, stay_away


async def no_pause(_seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
def fast_forget(monkeypatch):
    """Tickets left by an outage are retried every 20 ms instead of every second (raising=False: absent before
    the fix)."""
    monkeypatch.setattr("addons.lock_store.FORGET_RETRY_SECONDS", 0.02, raising=False)


async def tickets_in_redis(redis_url: str, key: str) -> list[tuple[int, float]]:
    """The tickets of a lock as Redis holds them, read on a client of its own (not the store's)."""
    from redis import asyncio as aioredis

    observer = aioredis.Redis.from_url(redis_url)
    try:
        raw = await observer.get(key)
    finally:
        await observer.close()
    return [(t.number, t.expires) for t in TicketLock.from_dict(json.loads(raw)).tickets] if raw else []


async def until_no_tickets(redis_url: str, key: str, within: float = 2.0) -> list[tuple[int, float]]:
    """Polls until the lock has no ticket left or `within` seconds pass; the tickets left."""
    deadline = time.monotonic() + within
    while (left := await tickets_in_redis(redis_url, key)) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return left


async def turn_served_within(store: AtomicRedisLockStore, conversation_id: str, seconds: float = 2.0) -> bool:
    """Whether a turn of the conversation gets its lock within `seconds`. A turn still waiting then is ended by
    deleting the lock (it gets a LockError at its next poll), not cancelled: cancelling it by `wait_for` once left
    it waiting out the lock key's 90 s lifetime on the code before the fix (cause not pinned down)."""
    served = asyncio.Event()

    async def turn() -> None:
        async with store.lock(conversation_id, lock_lifetime=30, wait_time_in_seconds=0.01):
            served.set()

    task = asyncio.create_task(turn())
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(served.wait(), timeout=seconds)
    if not served.is_set():
        await store.red.delete(store.key_prefix + conversation_id)
    with contextlib.suppress(LockError):
        await task
    return served.is_set()


def outage_store(redis_url: str) -> tuple[AtomicRedisLockStore, Outage]:
    store = AtomicRedisLockStore(url=redis_url, key_prefix="t" + uuid.uuid4().hex[:8], sleep=no_pause)
    return store, Outage(store.red)


def test_a_ticket_whose_reply_was_lost_is_found_again_on_the_retry_not_issued_twice(redis_url):
    async def main() -> tuple[int, list, list]:
        store, outage = outage_store(redis_url)
        outage.cut_after_next_exec()  # Redis applies the ticket's write; the client sees a dead connection
        ticket = await store.issue_ticket("conv", lock_lifetime=30)
        held = await tickets_in_redis(redis_url, store.key_prefix + "conv")
        lock = await store.get_lock("conv")
        await store.red.delete(store.key_prefix + "conv")
        await store.red.close()
        return ticket, held, [(t.number, t.expires) for t in lock.tickets]

    ticket, held, read_back = asyncio.run(main())
    assert ticket == 0
    assert [number for number, _expires in held] == [0]  # one ticket for the turn, not a second one behind it
    assert read_back == held


def test_a_turn_whose_ticket_reply_was_lost_is_served_at_once_and_leaves_no_lock(redis_url):
    """Before the fix the turn waited behind its own first ticket for the whole lock lifetime."""

    async def main() -> tuple[bool, list]:
        store, outage = outage_store(redis_url)
        outage.cut_after_next_exec()
        try:
            served = await turn_served_within(store, "conv")
            return served, await tickets_in_redis(redis_url, store.key_prefix + "conv")
        finally:
            await store.red.delete(store.key_prefix + "conv")
            await store.red.close()

    assert asyncio.run(main()) == (True, [])


def test_a_failed_give_back_does_not_fail_the_finished_turn(redis_url, fast_forget):
    async def main() -> None:
        store, outage = outage_store(redis_url)
        try:
            async with store.lock("conv", lock_lifetime=30, wait_time_in_seconds=0.01):
                outage.away = True  # Redis goes away before the turn gives its ticket back
        finally:
            outage.away = False
            await store.red.delete(store.key_prefix + "conv")
            await store.red.close()

    asyncio.run(main())  # no exception: the turn's replies were made


def test_a_ticket_not_given_back_is_removed_once_redis_answers_and_the_next_turn_is_served(redis_url, fast_forget):
    async def main() -> tuple[list, list, list, bool]:
        store, outage = outage_store(redis_url)
        key = store.key_prefix + "conv"
        try:
            with contextlib.suppress(RedisConnectionError):  # raised here before the fix; see the test above
                async with store.lock("conv", lock_lifetime=30, wait_time_in_seconds=0.01):
                    outage.away = True
            during = await tickets_in_redis(redis_url, key)
            await asyncio.sleep(0.1)  # the background removal keeps failing while Redis is away
            still = await tickets_in_redis(redis_url, key)
            outage.away = False  # Redis answers again
            left = await until_no_tickets(redis_url, key)
            return during, still, left, not left and await turn_served_within(store, "conv")
        finally:
            outage.away = False
            await store.red.delete(key)
            await store.red.close()

    during, still, left, next_served = asyncio.run(main())
    assert [number for number, _ in during] == [0] and still == during  # held while Redis is away
    assert left == []  # removed once Redis answers
    assert next_served  # so the conversation's next turn does not wait behind it


def test_a_ticket_applied_but_not_confirmed_while_redis_stays_away_is_removed_once_redis_answers(
    redis_url, fast_forget
):
    async def main() -> tuple[list, list]:
        store, outage = outage_store(redis_url)
        key = store.key_prefix + "conv"
        try:
            outage.cut_after_next_exec(stay_away=True)  # the write is applied, then Redis is away for every retry
            with pytest.raises(LockError, match="ConnectionError"):
                await store.issue_ticket("conv", lock_lifetime=30)
            during = await tickets_in_redis(redis_url, key)
            await asyncio.sleep(0.1)
            outage.away = False
            return during, await until_no_tickets(redis_url, key)
        finally:
            outage.away = False
            await store.red.delete(key)
            await store.red.close()

    during, left = asyncio.run(main())
    assert [number for number, _ in during] == [0]  # the ticket nobody will use is in Redis
    assert left == []  # and gone once Redis answers, long before its 30 s lifetime


def test_the_background_removal_stops_trying_once_the_ticket_has_expired(redis_url, fast_forget):
    async def main() -> tuple[int, int, int]:
        store, outage = outage_store(redis_url)
        key = store.key_prefix + "conv"
        try:
            outage.cut_after_next_exec(stay_away=True)  # Redis never answers again in this test
            with pytest.raises(LockError):
                await store.issue_ticket("conv", lock_lifetime=1)
            [(_number, expires)] = await tickets_in_redis(redis_url, key)
            failed_at = outage.watches
            await asyncio.sleep(0.1)
            tried_meanwhile = outage.watches - failed_at  # the removal is being tried while the ticket is valid
            await asyncio.sleep(max(0.0, expires - time.time()))  # the ticket has expired by itself
            # A try begun just before the expiry may still retry its connection (the client's own retries, more
            # on a loaded machine); then the removal ends: no task left, and no try after it.
            ended_within = 0.0
            while getattr(store, "_background", ()) and ended_within < 5.0:
                await asyncio.sleep(0.05)
                ended_within += 0.05
            after_end = outage.watches
            await asyncio.sleep(0.3)
            return tried_meanwhile, outage.watches - after_end, len(getattr(store, "_background", ()))
        finally:
            outage.away = False
            await store.red.delete(key)
            await store.red.close()

    tried_meanwhile, tried_after_expiry, still_running = asyncio.run(main())
    assert tried_meanwhile > 0
    assert (tried_after_expiry, still_running) == (0, 0)  # given up: the ticket no longer holds anyone


def test_on_a_real_network_cut_the_turn_ends_normally_and_its_ticket_goes_when_redis_is_back(redis_url, fast_forget):
    """The same through a TCP proxy that is cut: the client's own errors, not simulated ones."""
    from urllib.parse import urlsplit

    from tests.production.tcpproxy import TcpProxy

    target = urlsplit(redis_url)
    proxy = TcpProxy(target.hostname, target.port).start()
    prefix = "t" + uuid.uuid4().hex[:8]

    async def main() -> tuple[list, list]:
        store = AtomicRedisLockStore(url=f"redis://127.0.0.1:{proxy.port}{target.path}", key_prefix=prefix)
        key = store.key_prefix + "conv"
        try:
            async with store.lock("conv", lock_lifetime=30, wait_time_in_seconds=0.01):
                proxy.cut()  # the network to Redis goes while the turn runs
                # cut() closes the open connections on the proxy's own loop: wait until it has (no race with the
                # give-back below), by a round trip through that loop.
                asyncio.run_coroutine_threadsafe(asyncio.sleep(0), proxy._loop).result(5)
            during = await tickets_in_redis(redis_url, key)
            proxy.restore()
            return during, await until_no_tickets(redis_url, key)
        finally:
            proxy.restore()
            await store.red.delete(key)
            await store.red.close()

    try:
        during, left = asyncio.run(main())
    finally:
        proxy.stop()
    assert [number for number, _ in during] == [0]
    assert left == []
