"""addons/rate_limit.py: the in-process bucket with an injected clock, the shared one on the real Redis of
scripts/services.sh (tests/required.py's rule when absent) — two limiters standing for two replicas — and
failing open when Redis does not answer."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest

from addons.rate_limit import LocalRateLimiter, RedisRateLimiter, make_limiter, redis_client, redis_settings
from addons.request_guard import RequestGuard, retry_after_seconds
from tests.required import redis_url_or_skip


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- in process ---------------------------------------------------------------------------------------------


def test_the_local_bucket_allows_a_burst_then_the_rate():
    clock = Clock(0.0)
    limiter = LocalRateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.allow("a")[0] for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("a") == (False, pytest.approx(0.5))
    clock.now += 0.49
    assert not limiter.allow("a")[0]
    clock.now += 0.01
    assert limiter.allow("a") == (True, 0.0)
    assert not limiter.allow("a")[0]  # one token a half second, not a new burst
    clock.now += 10
    assert [limiter.allow("a")[0] for _ in range(4)] == [True, True, True, False]  # refilled to the burst only


def test_the_local_decision_says_it_is_not_shared():
    decision = asyncio.run(LocalRateLimiter(rate=1, burst=1, clock=Clock()).check("a"))
    assert decision.allowed and not decision.shared


def test_retry_after_is_whole_seconds_rounded_up():
    assert [retry_after_seconds(s) for s in (0.0, 0.001, 0.5, 1.0, 1.0001, 2.7)] == [1, 1, 1, 1, 2, 3]


# --- which limiter ------------------------------------------------------------------------------------------


def test_without_redis_the_limit_is_in_process_and_with_it_shared():
    assert isinstance(make_limiter(3, 30, env={}), LocalRateLimiter)
    assert isinstance(make_limiter(3, 30, env={"PRIORAUTH_REDIS_URL": "redis://r:6379/1"}), RedisRateLimiter)
    assert isinstance(make_limiter(3, 30, env={}, url="redis://r:6379/1"), RedisRateLimiter)
    # deploy/ (Compose, Helm) configures the lock store with REDIS_*; the limit follows it.
    options, where = redis_settings({"REDIS_HOST": "redis", "REDIS_PORT": "6380", "REDIS_PASSWORD": "pw"})
    assert options == {"host": "redis", "port": 6380, "db": 1, "password": "pw"}
    assert where == "Redis at redis:6380/1" and "pw" not in where
    options, where = redis_settings({"PRIORAUTH_REDIS_URL": "redis://:secret@h:7000/3"})
    assert options == {"url": "redis://:secret@h:7000/3"} and where == "Redis at h:7000/3"
    guard = RequestGuard(rate_per_sender=2, rate_burst=4, env={"REDIS_HOST": "redis"}).guard
    assert isinstance(guard.limiter, RedisRateLimiter) and (guard.limiter.rate, guard.limiter.burst) == (2, 4)
    assert isinstance(RequestGuard(env={}).guard.limiter, LocalRateLimiter)


# --- on a real Redis ----------------------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    return redis_url_or_skip()


def replicas(url: str, n: int, prefix: str, **settings) -> list[RedisRateLimiter]:
    """`n` limiters, each with its own client, as `n` Rasa replicas would have."""
    return [RedisRateLimiter(client=redis_client(url), key_prefix=prefix, **settings) for _ in range(n)]


def test_two_replicas_share_one_bucket(redis_url):
    prefix, clock = "t" + uuid.uuid4().hex[:8], Clock()

    async def main():
        one, two = replicas(redis_url, 2, prefix, rate=2, burst=5, clock=clock)
        # alternating replicas: the burst is 5 for both together, not 5 each
        first = [(await (one if i % 2 == 0 else two).check("flood")).allowed for i in range(10)]
        refused = await two.check("flood")
        other = await one.check("calm")  # another sender is not affected
        clock.now += refused.retry_after  # after Retry-After: one more, on either replica
        again = [(await one.check("flood")).allowed, (await two.check("flood")).allowed]
        clock.now += 0.5
        later = (await two.check("flood")).allowed
        ttl = await one._client.pttl(one.key("flood"))
        return first, refused, other, again, later, ttl, one.failures + two.failures

    first, refused, other, again, later, ttl, failures = asyncio.run(main())
    assert first == [True] * 5 + [False] * 5
    assert not refused.allowed and refused.shared and refused.retry_after == pytest.approx(0.5, abs=0.002)
    assert other.allowed
    assert again == [True, False] and later
    assert failures == 0
    # The key lives until the bucket would be full again (5 tokens at 2/s: 2.5 s), not forever.
    assert 0 < ttl <= 2600


def test_concurrent_checks_on_two_replicas_never_exceed_the_burst(redis_url):
    prefix, clock = "t" + uuid.uuid4().hex[:8], Clock()

    async def main():
        one, two = replicas(redis_url, 2, prefix, rate=1, burst=20, clock=clock)
        decisions = await asyncio.gather(*[(one, two)[i % 2].check("crowd") for i in range(100)])
        return sum(d.allowed for d in decisions)

    assert asyncio.run(main()) == 20  # atomic: not one more than the burst, whatever the interleaving


def test_redis_time_is_the_clock_and_the_sender_is_let_in_after_retry_after(redis_url):
    """Without an injected clock the script reads Redis's TIME. The rate is slow (1 message in 2 s) so a loaded
    machine cannot refill the bucket between two checks; waiting Retry-After can only help."""
    prefix = "t" + uuid.uuid4().hex[:8]

    async def main():
        one, two = replicas(redis_url, 2, prefix, rate=0.5, burst=1)
        first, second = await one.check("slow"), await two.check("slow")
        await asyncio.sleep(retry_after_seconds(second.retry_after))
        third = await two.check("slow")
        return first, second, third

    t0 = time.monotonic()
    first, second, third = asyncio.run(main())
    assert first.allowed and not second.allowed
    assert 0 < second.retry_after <= 2.0 and retry_after_seconds(second.retry_after) == 2
    assert third.allowed and time.monotonic() - t0 >= 2.0


def test_an_unreachable_redis_fails_open_to_the_in_process_bucket(caplog):
    monotonic = Clock(0.0)
    limiter = RedisRateLimiter(
        rate=1,
        burst=2,
        client=redis_client("redis://127.0.0.1:1/0", timeout=0.5),
        fallback=LocalRateLimiter(rate=1, burst=2, clock=Clock(0.0)),
        monotonic=monotonic,
    )

    async def main():
        decisions = []
        for _ in range(3):
            decisions.append(await limiter.check("s"))
            monotonic.now += 2  # past the pause after a failure: Redis is tried again each time
        return decisions

    with caplog.at_level(logging.WARNING, logger="addons.rate_limit"):
        decisions = asyncio.run(main())
    # never an error, never a refusal because Redis is down; the per-replica bucket (burst 2) still counts
    assert [d.allowed for d in decisions] == [True, True, False]
    assert not any(d.shared for d in decisions) and limiter.failures == 3
    warnings = [r.getMessage() for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "ConnectionError" in warnings[0]  # one line a minute, not one per message


def test_after_an_outage_the_shared_count_resumes(redis_url, caplog):
    """A client that failed (Redis away) goes back to the shared bucket once the pause after a failure is over."""
    prefix, monotonic = "t" + uuid.uuid4().hex[:8], Clock(0.0)
    limiter = RedisRateLimiter(
        rate=1, burst=5, client=redis_client(redis_url), key_prefix=prefix, monotonic=monotonic, clock=Clock()
    )

    class Broken:
        def register_script(self, _script):
            async def run(**_kwargs):
                raise ConnectionError("Redis is away")

            return run

    async def main():
        good_script = None
        limiter._script = Broken().register_script("")
        down = await limiter.check("s")
        skipped = await limiter.check("s")  # within the pause: straight to the local bucket
        monotonic.now += 1.5
        limiter._script = good_script  # Redis is back: registered again on first use
        back = await limiter.check("s")
        return down, skipped, back

    with caplog.at_level(logging.WARNING, logger="addons.rate_limit"):
        down, skipped, back = asyncio.run(main())
    assert down.allowed and not down.shared and skipped.allowed and not skipped.shared
    assert back.allowed and back.shared and limiter.failures == 1
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_two_guards_on_one_redis_answer_429_with_retry_after_at_the_shared_limit(redis_url):
    """The middleware of two replicas (addons/request_guard.py) with the shared limiter: the sender's third message
    is refused by whichever replica gets it, with Retry-After and the JSON error; another sender passes."""
    import json
    from types import SimpleNamespace

    from addons.request_guard import WebhookGuard

    prefix, clock = "t" + uuid.uuid4().hex[:8], Clock()

    def message(sender: str):
        raw = json.dumps({"sender": sender, "message": "hi"}).encode()
        headers = {"content-length": str(len(raw))}
        return SimpleNamespace(method="POST", path="/webhooks/rest/webhook", headers=headers, body=raw)

    async def main():
        one, two = (
            WebhookGuard(16384, 4000, limiter)
            for limiter in replicas(redis_url, 2, prefix, rate=0.5, burst=2, clock=clock)
        )
        answers = [await one(message("s")), await two(message("s")), await two(message("s")), await one(message("t"))]
        return answers

    first, second, refused, other = asyncio.run(main())
    assert first is None and second is None and other is None  # passed on to Rasa
    assert refused.status == 429 and refused.headers["Retry-After"] == "2"  # 0.5/s: the next one in 2 s
    assert json.loads(refused.body)["error"] == "rate_limited"
