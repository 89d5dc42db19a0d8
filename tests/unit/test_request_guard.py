"""addons/request_guard.py on its own, without servers: request validation, the rate limiter, and the
middleware that answers for them."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from addons.request_guard import RateLimiter, Rejection, RequestGuard, WebhookGuard, validate_rest_body


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_a_good_body_passes_unchanged():
    data = validate_rest_body(body(sender="conv-1", message="hi", metadata={"a": 1}))
    assert data == {"sender": "conv-1", "message": "hi", "metadata": {"a": 1}}


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"", 400, "invalid_request"),
        (b"[]", 400, "invalid_request"),
        (b"{", 400, "invalid_json"),
        (b"[" * 5000 + b"]" * 5000, 400, "invalid_json"),
        (b"\xff", 400, "invalid_json"),
        (body(message="hi"), 400, "invalid_sender"),
        (body(sender="agent:a:b", message="hi"), 400, "invalid_sender"),
        (body(sender="a", message=""), 400, "invalid_message"),
        (body(sender="a", message="a\x00b"), 400, "invalid_message"),
        (b'{"sender": "a", "message": "\\udfff"}', 400, "invalid_message"),
        (body(sender="a", message="x" * 4001), 413, "message_too_long"),
        (body(sender="a", message="hi", metadata=[1]), 400, "invalid_metadata"),
    ],
)
def test_bad_bodies_are_refused_with_a_code(raw, status, code):
    with pytest.raises(Rejection) as refused:
        validate_rest_body(raw)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_rate_limiter_bucket_refills_and_forgets_old_senders():
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, max_keys=10, clock=lambda: now[0])
    assert [limiter.allow("a")[0] for _ in range(4)] == [True, True, True, False]
    allowed, retry = limiter.allow("a")
    assert not allowed and 0 < retry <= 0.5
    assert limiter.allow("b")[0]  # other senders are not affected
    now[0] += 0.5
    assert limiter.allow("a")[0]
    for i in range(50):
        limiter.allow(f"s{i}")
    assert len(limiter._buckets) <= 10
    assert RateLimiter(rate=0, burst=1).allow("x") == (True, 0.0)


def request(raw: bytes, path: str = "/webhooks/rest/webhook", method: str = "POST", length: str | None = None):
    headers = {"content-length": length if length is not None else str(len(raw))}
    return SimpleNamespace(method=method, path=path, headers=headers, body=raw)


def answer(guard: WebhookGuard, req) -> tuple[int, dict] | None:
    response = asyncio.run(guard(req))
    return None if response is None else (response.status, json.loads(response.body))


def test_the_middleware_passes_a_good_message_and_hands_rasa_the_checked_object():
    guard = WebhookGuard(max_body_bytes=1024, max_message_chars=100, limiter=RateLimiter(rate=1, burst=5))
    req = request(body(sender="conv-1", message="does 27447 need review?"))
    assert answer(guard, req) is None
    assert req.parsed_json == {"sender": "conv-1", "message": "does 27447 need review?"}


def test_the_middleware_refuses_with_json_errors():
    now = [0.0]
    guard = WebhookGuard(max_body_bytes=64, max_message_chars=10, limiter=RateLimiter(2, 2, clock=lambda: now[0]))
    assert answer(guard, request(b"x" * 65)) == (
        413,
        {"error": "payload_too_large", "message": "the request body is larger than 64 bytes"},
    )
    # Sanic empties a body above its own limit: the declared length still counts.
    assert answer(guard, request(b"", length="100000"))[0] == 413
    assert answer(guard, request(b"[]"))[1]["error"] == "invalid_request"
    assert answer(guard, request(body(sender="a", message="x" * 11))) == (
        413,
        {"error": "message_too_long", "message": '"message" is longer than 10 characters'},
    )
    assert [answer(guard, request(body(sender="a", message="hi"))) for _ in range(2)] == [None, None]
    refused = asyncio.run(guard(request(body(sender="a", message="hi"))))
    assert refused.status == 429 and refused.headers["Retry-After"] == "1"  # 2/s: the next token in 0.5 s
    assert json.loads(refused.body) == {
        "error": "rate_limited",
        "message": "too many messages in this conversation (at most 2 a second, 2 at once); send it again in 1 s",
    }
    assert answer(guard, request(body(sender="b", message="hi"))) is None  # another conversation


def test_the_middleware_leaves_other_routes_alone():
    guard = WebhookGuard(max_body_bytes=64, max_message_chars=10, limiter=RateLimiter(rate=1, burst=1))
    assert answer(guard, request(b"[]", path="/webhooks/agent/webhook")) is None  # its own checks
    assert answer(guard, request(b"", method="GET")) is None
    assert answer(guard, request(b"x" * 100, path="/web/index.html")) is None


def test_settings_come_from_the_credentials_else_the_environment(monkeypatch):
    monkeypatch.setenv("PRIORAUTH_RATE_PER_SENDER", "7")
    monkeypatch.setenv("PRIORAUTH_MAX_BODY_BYTES", "not a number")  # a typo falls back to the default
    guard = RequestGuard.from_credentials({"max_message_chars": 50}).guard
    assert (guard.max_body_bytes, guard.max_message_chars, guard.limiter.rate) == (16 * 1024, 50, 7.0)
