"""The conversation lock under contention, against the real Redis of scripts/services.sh (no Rasa server).

Threads with their own Redis clients play several replicas taking turns on one conversation with Rasa's
ticket protocol (LockStore.lock: issue a ticket, wait until it is served, work, clean up); the async store's
steps run on each thread's own event loop. Counted: two
turns inside at once, a lock deleted under a waiting turn (Rasa raises LockError and the REST channel
answers `[]`), turns that waited for a lost ticket to expire (stalls), and turns whose own ticket expired
while they waited (stuck: Rasa's loop would spin until the request times out).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid

import pytest

from tests.production.cluster import add_figures
from tests.required import require_or_skip

REDIS_URL = os.environ.get("PRIORAUTH_TEST_REDIS_URL")


@pytest.fixture(autouse=True)
def _redis():
    if not REDIS_URL:
        require_or_skip("Redis: PRIORAUTH_TEST_REDIS_URL not set (scripts/services.sh start)")


LIFETIME = 3.0  # seconds; a turn that waits longer than this waited for a lost ticket


def make_store(kind: str, prefix: str):
    from urllib.parse import urlsplit

    from rasa.core.lock_store import RedisLockStore

    from addons.lock_store import AtomicRedisLockStore

    parts = urlsplit(REDIS_URL)
    if kind == "atomic":
        return OnOwnLoop(AtomicRedisLockStore(url=f"redis://{parts.hostname}:{parts.port}/4", key_prefix=prefix))
    return RedisLockStore(host=parts.hostname, port=parts.port, db=4, key_prefix=prefix)


class OnOwnLoop:
    """An async lock store called like Rasa's synchronous one: each call runs to completion on this loop."""

    def __init__(self, store) -> None:
        self.store, self.loop = store, asyncio.new_event_loop()

    def __getattr__(self, name: str):
        method = getattr(self.store, name)
        return lambda *args: self.loop.run_until_complete(method(*args))


def contend(kind: str, threads: int = 6, turns: int = 40) -> dict[str, int]:
    from rasa.core.lock_store import LockError

    prefix = "t" + uuid.uuid4().hex[:8]
    conversation = "conv"
    inside = []
    counts = {"turns": 0, "overlaps": 0, "lock_errors": 0, "stalls": 0, "stuck": 0, "store_errors": 0}
    guard = threading.Lock()

    def replica() -> None:
        store = make_store(kind, prefix)
        for _ in range(turns):
            started = time.monotonic()
            ticket = None
            try:
                ticket = store.issue_ticket(conversation, LIFETIME)
                while True:  # LockStore._acquire_lock, without asyncio
                    lock = store.get_lock(conversation)
                    if not lock:
                        raise LockError("lock vanished while waiting")
                    if not lock.is_locked(ticket):
                        break
                    if time.monotonic() - started > 3 * LIFETIME:  # Rasa would wait for ever here
                        raise TimeoutError
                    time.sleep(0.002)
                    store.update_lock(conversation)
            except LockError:
                with guard:
                    counts["lock_errors"] += 1
                continue
            except TimeoutError:
                with guard:
                    counts["stuck"] += 1
                store.cleanup(conversation, ticket)
                continue
            with guard:
                if inside:
                    counts["overlaps"] += 1
                inside.append(ticket)
                if time.monotonic() - started > LIFETIME * 0.8:
                    counts["stalls"] += 1
            time.sleep(0.001)  # the turn's work
            with guard:
                inside.remove(ticket)
                counts["turns"] += 1
            try:
                store.cleanup(conversation, ticket)
            except Exception:  # noqa: BLE001 - counted
                with guard:
                    counts["store_errors"] += 1

    workers = [threading.Thread(target=replica) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
    return counts


def test_atomic_redis_lock_store_serializes_turns_under_contention():
    t0 = time.monotonic()
    counts = contend("atomic")
    add_figures(lock_store_atomic=counts, lock_store_atomic_seconds=round(time.monotonic() - t0, 1))
    assert counts == {"turns": 240, "overlaps": 0, "lock_errors": 0, "stalls": 0, "stuck": 0, "store_errors": 0}


def test_rasa_redis_lock_store_for_comparison():
    """Rasa's own RedisLockStore under the same load; recorded, not asserted (its races are timing-dependent)."""
    t0 = time.monotonic()
    counts = contend("stock", turns=12)
    add_figures(lock_store_rasa=counts, lock_store_rasa_seconds=round(time.monotonic() - t0, 1))
