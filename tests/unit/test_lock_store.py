"""addons/lock_store.py: bounded retries with exponential backoff on a fake Redis that always loses the race,
and Rasa's ticket protocol on the real Redis of scripts/services.sh (tests/required.py's rule when absent)."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from rasa.core.lock_store import LockError
from redis.exceptions import WatchError

from addons.lock_store import AtomicRedisLockStore
from tests.required import require_or_skip


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
    url = os.environ.get("PRIORAUTH_TEST_REDIS_URL")
    if not url:
        require_or_skip("Redis: PRIORAUTH_TEST_REDIS_URL not set (scripts/services.sh start)")
    return url


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
