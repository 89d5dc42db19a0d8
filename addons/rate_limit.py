"""The per-sender rate limit of the REST webhook: one count for the whole deployment.

With Redis configured (the Redis of the lock store), every Rasa replica counts a sender's messages in one
Redis key, `<prefix>:rate:<sender>`, changed by one Lua script in one round trip (atomic: two replicas cannot
both take the last token). The script is GCRA, the token bucket kept as one number, the time at which the
bucket is full again ("theoretical arrival time"): `rate` messages a second, bursts of `burst`. It reads the
time from Redis (`TIME`), so replicas with skewed clocks still share one bucket, and the key expires when the
bucket is full again: an idle sender leaves nothing behind.

Without Redis (the embedded default: in-memory lock store, one process) the same bucket is kept in process
(`LocalRateLimiter`). When Redis is configured but does not answer (down, cut away, slower than
`timeout`), the limiter fails open to that in-process bucket: each replica then counts on its own, a warning
is logged (at most once a minute) and Redis is tried again after `retry_after_failure` seconds. A Redis outage
never refuses a message and never takes the assistant down.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

KEY_SPACE = "rate"
DEFAULT_KEY_PREFIX = "priorauth"

# KEYS[1]: the sender's key. ARGV: interval between messages (ms), burst, and optionally the time now (ms; tests).
# Returns {1, 0} when allowed, {0, ms until a message is allowed again} when not. The stored value is the time
# (ms) at which the bucket is full again; "%.3f" keeps it exact (Lua's tostring would round it to 14 digits).
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - burst * interval
if wait > 0 then
  return {0, math.ceil(wait)}
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
return {1, 0}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds until the sender may send again (0 when allowed)
    shared: bool = False  # counted in Redis for every replica (False: this process only)


class LocalRateLimiter:
    """Token buckets per key in this process: `rate` tokens a second, at most `burst`; least recently used keys
    are forgotten above `max_keys`. A rate of 0 or less disables it. `clock` is injectable (tests)."""

    shared = False

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.max_keys, self.clock = rate, max(1.0, burst), max_keys, clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> tuple[bool, float]:
        """(allowed, seconds until the next token)."""
        if self.rate <= 0:
            return True, 0.0
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)  # re-inserted last: dict order is recency
        if len(self._buckets) > self.max_keys:
            for old in list(self._buckets)[: len(self._buckets) // 4]:
                del self._buckets[old]
        return allowed, 0.0 if allowed else (1 - tokens) / self.rate

    async def check(self, key: str) -> Decision:
        allowed, retry_after = self.allow(key)
        return Decision(allowed, retry_after, shared=False)

    def describe(self) -> str:
        return "in process (this replica only)"


class RedisRateLimiter:
    """The same bucket in Redis, shared by every replica (see the module docstring).

    `client` is a `redis.asyncio.Redis` (or `client_factory` makes one on first use, inside the server's event
    loop); `fallback` is the in-process limiter used while Redis does not answer. `clock` (seconds), when given,
    replaces Redis's `TIME` (tests); `monotonic` times the pause after a failure and the warning interval."""

    shared = True

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        client: Any = None,
        client_factory: Callable[[], Any] | None = None,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        fallback: LocalRateLimiter | None = None,
        retry_after_failure: float = 1.0,
        warn_every: float = 60.0,
        clock: Callable[[], float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        where: str = "Redis",
    ) -> None:
        self.rate, self.burst = rate, max(1.0, burst)
        self._client, self._client_factory = client, client_factory
        self.key_prefix = f"{key_prefix}:{KEY_SPACE}:"
        self.fallback = fallback or LocalRateLimiter(rate, burst)
        self.retry_after_failure, self.warn_every = retry_after_failure, warn_every
        self.clock, self.monotonic, self.where = clock, monotonic, where
        self._script: Any = None
        self._down_until = -math.inf
        self._last_warning = -math.inf
        self._failing = False
        self.failures = 0  # Redis calls that failed (fell back to the in-process bucket)

    def key(self, sender: str) -> str:
        return self.key_prefix + sender

    def describe(self) -> str:
        return f"shared by every replica in {self.where} (keys {self.key_prefix}<sender>)"

    async def check(self, key: str) -> Decision:
        if self.rate <= 0:
            return Decision(True, 0.0, shared=True)
        if self.monotonic() < self._down_until:
            return await self.fallback.check(key)
        try:
            allowed, wait_ms = await self._run(self.key(key))
        except Exception as exc:  # noqa: BLE001 - any failure of Redis: fail open to the per-replica bucket
            self._failed(exc)
            return await self.fallback.check(key)
        if self._failing:
            self._failing = False
            logger.warning("rate limit: Redis answers again; the per-sender limit is shared by every replica again")
        return Decision(bool(allowed), float(wait_ms) / 1000.0, shared=True)

    async def _run(self, key: str) -> tuple[int, int]:
        if self._script is None:
            if self._client is None:
                self._client = self._client_factory()
            self._script = self._client.register_script(GCRA_SCRIPT)
        args: list[Any] = [f"{1000.0 / self.rate:.6f}", f"{self.burst:g}"]
        if self.clock is not None:
            args.append(f"{self.clock() * 1000.0:.3f}")
        allowed, wait_ms = await self._script(keys=[key], args=args)
        return int(allowed), int(wait_ms)

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self._failing = True
        now = self.monotonic()
        self._down_until = now + self.retry_after_failure
        if now - self._last_warning >= self.warn_every:
            self._last_warning = now
            # The type only: a message could quote a key, i.e. a sender id.
            logger.warning(
                "rate limit: Redis unavailable (%s); failing open to a per-replica limit of %g/s, burst %g, "
                "until it answers",
                type(exc).__name__,
                self.rate,
                self.burst,
            )


def redis_client(url: str | None = None, *, timeout: float = 0.5, **options: Any) -> Any:
    """A `redis.asyncio` client for the rate limit: short timeouts (an unanswering Redis costs a request at most
    `timeout` seconds, then the limiter fails open), one retry on a connection that died while Redis was away."""
    from redis import asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError, TimeoutError

    common = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 1),
        "retry_on_error": [ConnectionError, TimeoutError],
    }
    if url:
        return aioredis.Redis.from_url(url, **common)
    return aioredis.Redis(**options, **common)


def redis_settings(env: Mapping[str, str] | None = None, url: str | None = None) -> tuple[dict[str, Any], str] | None:
    """Where the shared limit lives, from the lock store's settings: `url` (credentials), else PRIORAUTH_REDIS_URL
    (scripts/run.sh), else REDIS_HOST with REDIS_PORT, REDIS_PASSWORD, REDIS_DB (deploy/: Compose, Helm). None: no
    Redis configured (the embedded default). Returns (client options, a description without the password)."""
    env = os.environ if env is None else env
    url = url or env.get("PRIORAUTH_REDIS_URL") or None
    if url:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return {"url": url}, f"Redis at {parts.hostname}:{parts.port or 6379}{parts.path or ''}"
    host = env.get("REDIS_HOST")
    if not host:
        return None
    if "://" in host:
        return redis_settings({}, host)
    port = int(env.get("REDIS_PORT") or 6379)
    db = int(env.get("REDIS_DB") or 1)
    options = {"host": host, "port": port, "db": db, "password": env.get("REDIS_PASSWORD") or None}
    return options, f"Redis at {host}:{port}/{db}"


def make_limiter(
    rate: float, burst: float, env: Mapping[str, str] | None = None, url: str | None = None, key_prefix: str = ""
) -> LocalRateLimiter | RedisRateLimiter:
    """The shared limiter when a Redis is configured, else the in-process one."""
    settings = redis_settings(env, url)
    if settings is None:
        return LocalRateLimiter(rate, burst)
    options, where = settings

    def factory() -> Any:
        return redis_client(**options)

    return RedisRateLimiter(
        rate, burst, client_factory=factory, key_prefix=key_prefix or DEFAULT_KEY_PREFIX, where=where
    )
