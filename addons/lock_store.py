"""A Redis lock store for several Rasa replicas: Rasa's ticket protocol with atomic changes, on an async client.

Rasa 3.6's `RedisLockStore` reads a conversation's lock, changes it in Python and writes it back (GET then SET)
when it issues a ticket, finishes one, or drops expired ones; `cleanup` then reads again and deletes the key
when nobody seems to wait. Two replicas doing this for one conversation at once can issue the same ticket
twice (both turns run at once), lose a ticket (a turn waits the whole lock lifetime), or delete the lock under
a waiting turn (`LockError`). Reported as https://github.com/RasaHQ/rasa/issues/9213; Rasa's fix (PR #11256,
`ConcurrentRedisLockStore`) was reverted (PR #11428) and is not in 3.6. Its client is also synchronous: every
call blocks the server's event loop.

Here every change is one Redis transaction (WATCH/MULTI/EXEC) on `redis.asyncio`. A transaction that loses a
race is retried at most `max_attempts` times (50), after a pause that doubles from `base_delay` up to
`max_delay`, with full jitter; then Rasa's `LockError` names the conversation. A lock key expires a minute
after its last ticket. Rasa enters the store only through `lock()`, whose steps are coroutines here.

A ticket must not outlive its turn because Redis went away at the wrong moment: the next turn of the conversation
would wait behind it for the whole lock lifetime (found by bench/soak.py's Redis outage: 9 of 20 conversations
stalled 2 minutes). So a ticket whose write may have been applied although its reply was lost (the connection died
during EXEC) is recognised on the retry by its number and expiry, instead of a second ticket being issued behind
it; a ticket that could not be issued or given back because Redis stayed away is removed in the background as soon
as Redis answers again (until the ticket expires anyway); and a failed give-back at the end of a turn no longer
fails the turn, whose replies are already made. What remains bounded only by the lock lifetime
(`TICKET_LOCK_LIFETIME`) is a replica killed while it holds a ticket: nobody is left to give it back.

endpoints.yml:
    lock_store:
      type: addons.lock_store.AtomicRedisLockStore
      url: ${PRIORAUTH_REDIS_URL}     # redis://[:password@]host:port/db (rediss:// for TLS); or a host name
      key_prefix: priorauth           # optional; port, db, password, use_ssl as Rasa's redis type
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import (
    DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX,
    DEFAULT_SOCKET_TIMEOUT_IN_SECONDS,
    LOCK_LIFETIME,
    LockError,
    LockStore,
)

logger = logging.getLogger(__name__)

UNCHANGED = object()  # a change that writes nothing
KEY_GRACE_SECONDS = 60  # a lock key outlives its last ticket by this much
RECONNECT_RETRIES = 3  # a command that failed on a dead connection is sent again this many times
FORGET_RETRY_SECONDS = 1.0  # how often a ticket left behind by a Redis outage is tried to be removed


class AtomicRedisLockStore(LockStore):
    """Conversation locks in Redis, shared by every Rasa replica (see the module docstring)."""

    def __init__(
        self,
        endpoint_config: Any = None,
        *,
        client: Any = None,
        max_attempts: int = 50,
        base_delay: float = 0.002,
        max_delay: float = 0.1,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        **kwargs: Any,
    ) -> None:
        options = dict(getattr(endpoint_config, "kwargs", None) or {})
        options.update(kwargs)
        url = getattr(endpoint_config, "url", None) or options.pop("url", None) or "localhost"
        self.red = client if client is not None else _client(url, options)
        self.key_prefix = DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX
        prefix = str(options.get("key_prefix") or "")
        if prefix.isalnum():  # as Rasa's: other prefixes are ignored, with a warning
            self.key_prefix = f"{prefix}:{DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX}"
        elif prefix:
            logger.warning("lock store: key_prefix %r is not alphanumeric; using %r", prefix, self.key_prefix)
        self.max_attempts, self.base_delay, self.max_delay = max(1, int(max_attempts)), base_delay, max_delay
        self._sleep, self._jitter = sleep, jitter
        self._background: set[asyncio.Task] = set()
        super().__init__()

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = 1
    ) -> AsyncIterator[TicketLock]:
        """Rasa's `LockStore.lock`: take a ticket, wait until it is served, give it back."""
        ticket, expires = await self._issue(conversation_id, lock_lifetime)
        try:
            yield await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
        finally:
            try:
                await self.cleanup(conversation_id, ticket)
            except Exception as exc:  # Redis away at the end of the turn: its replies are made; see the docstring
                logger.warning(
                    "lock of conversation %s: ticket %d not given back (%s); removing it when Redis answers",
                    conversation_id,
                    ticket,
                    type(exc).__name__,
                )
                self._forget_later(conversation_id, [(ticket, expires)])

    async def _acquire_lock(self, conversation_id: str, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        while True:
            lock = await self.get_lock(conversation_id)
            if not lock:  # expired, or deleted by someone else
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            if not lock.is_locked(ticket):
                return lock
            await asyncio.sleep(wait_time_in_seconds)
            await self.update_lock(conversation_id)

    async def get_lock(self, conversation_id: str) -> TicketLock | None:
        raw = await self.red.get(self.key_prefix + conversation_id)
        return TicketLock.from_dict(json.loads(raw)) if raw else None

    async def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        return (await self._issue(conversation_id, lock_lifetime))[0]

    async def _issue(self, conversation_id: str, lock_lifetime: float) -> tuple[int, float]:
        """(number, expiry) of a new ticket. An attempt whose EXEC was applied but whose reply was lost is found
        again on the retry (same number and expiry) rather than followed by a second ticket of the same turn."""
        attempted: list[tuple[int, float]] = []

        def change(lock):
            for ticket in lock.tickets if lock else ():
                if (ticket.number, ticket.expires) in attempted:
                    return UNCHANGED, (ticket.number, ticket.expires)
            lock = lock or self.create_lock(conversation_id)
            number = lock.issue_ticket(lock_lifetime)
            attempted.append((number, lock.tickets[-1].expires))
            return lock, attempted[-1]

        try:
            return await self._transact(conversation_id, change)
        except LockError:
            self._forget_later(conversation_id, attempted)
            raise
        except Exception as exc:  # Redis unreachable: Rasa's own type, without the message (it may quote data)
            self._forget_later(conversation_id, attempted)
            raise LockError(f"Error while acquiring lock: {type(exc).__name__}") from exc

    def _forget_later(self, conversation_id: str, tickets: list[tuple[int, float]]) -> None:
        """Removes these tickets (number and expiry must match) in the background once Redis answers again."""
        if not tickets:
            return
        task = asyncio.get_running_loop().create_task(self._forget(conversation_id, list(tickets)))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _forget(self, conversation_id: str, tickets: list[tuple[int, float]]) -> None:
        def change(lock):
            if lock is None:
                return UNCHANGED, False
            kept = [t for t in lock.tickets if (t.number, t.expires) not in tickets]
            if len(kept) == len(lock.tickets):
                return UNCHANGED, False
            lock.tickets = type(lock.tickets)(kept)
            return (lock if kept else None), True

        deadline = max(expires for _number, expires in tickets)
        while time.time() < deadline:
            try:
                if await self._transact(conversation_id, change):
                    logger.info("lock of conversation %s: ticket left by a Redis outage removed", conversation_id)
                return
            except Exception:  # noqa: BLE001 - Redis still away: try again until the ticket expires by itself
                await asyncio.sleep(FORGET_RETRY_SECONDS)

    async def update_lock(self, conversation_id: str) -> None:
        # Called by every waiting turn at each poll: it writes only when a ticket has expired.
        def change(lock):
            if lock is None or not any(t.has_expired() for t in lock.tickets):
                return UNCHANGED, None
            lock.remove_expired_tickets()
            return lock, None

        await self._transact(conversation_id, change)

    async def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        await self._remove_ticket(conversation_id, ticket_number, delete_when_idle=False)

    async def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """The turn is over: its ticket goes, and the lock too when nobody waits."""
        await self._remove_ticket(conversation_id, ticket_number, delete_when_idle=True)

    async def _remove_ticket(self, conversation_id: str, ticket_number: int, delete_when_idle: bool) -> None:
        def change(lock):
            if lock is None:
                return UNCHANGED, None
            lock.remove_ticket_for(ticket_number)
            return (None if delete_when_idle and not lock.is_someone_waiting() else lock), None

        await self._transact(conversation_id, change)

    def backoff(self, attempt: int) -> float:
        """The pause after the `attempt`-th lost race (1-based): full jitter below a doubling cap."""
        return self._jitter() * min(self.max_delay, self.base_delay * 2 ** (attempt - 1))

    async def _transact(self, conversation_id: str, change: Callable[[Any], tuple[Any, Any]]) -> Any:
        """Runs change(lock or None) -> (lock to save, None to delete, or UNCHANGED; result) atomically."""
        from redis.exceptions import ConnectionError, TimeoutError, WatchError

        key = self.key_prefix + conversation_id
        failures = 0
        async with self.red.pipeline() as pipe:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    lock = TicketLock.from_dict(json.loads(raw)) if raw else None
                    new_lock, result = change(lock)
                    if new_lock is UNCHANGED or (new_lock is None and lock is None):
                        await pipe.unwatch()
                        return result
                    pipe.multi()
                    if new_lock is None:
                        pipe.delete(key)
                    else:
                        expires = max((t.expires for t in new_lock.tickets), default=time.time())
                        pipe.set(key, new_lock.dumps(), ex=max(1, int(expires - time.time()) + KEY_GRACE_SECONDS))
                    await pipe.execute()
                    return result
                except WatchError:
                    if attempt < self.max_attempts:
                        await self._sleep(self.backoff(attempt))
                except (ConnectionError, TimeoutError):
                    # A pipeline's WATCH on a pooled connection that died is not retried by the client (redis-py
                    # 4.6): the pipeline drops that connection and the next attempt opens a new one.
                    failures += 1
                    if failures > RECONNECT_RETRIES:
                        raise
                    await self._sleep(self.backoff(attempt))
        logger.warning("lock of conversation %s: still contended after %d attempts", conversation_id, attempt)
        raise LockError(
            f"Could not update the lock of conversation '{conversation_id}': another replica changed it "
            f"{self.max_attempts} times in a row."
        )


def _client(url: str, options: dict[str, Any]) -> Any:
    """An asyncio Redis client from a URL, or from a host name and Rasa's redis lock store settings."""
    from redis import asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError

    # A pooled connection that died while Redis was away (a restart, a network cut) fails its next command: that
    # command is sent again on a new connection (three tries, 10-200 ms apart) before the turn gets a LockError.
    # A command inside a WATCH whose connection dies becomes a WatchError, which `_transact` retries.
    resilience = {
        "socket_timeout": float(options.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT_IN_SECONDS)),
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.01), RECONNECT_RETRIES),
        "retry_on_error": [ConnectionError, TimeoutError],
    }
    if "://" in url:
        return aioredis.Redis.from_url(url, **resilience)
    return aioredis.Redis(
        host=url,
        port=int(options.get("port", 6379)),
        db=int(options.get("db", 1)),
        username=options.get("username"),
        password=options.get("password"),
        ssl=bool(options.get("use_ssl", False)),
        **resilience,
    )
