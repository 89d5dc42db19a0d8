"""Request checks, size caps, the per-sender rate limit, CORS and the HTTP API, on the running replicas."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from addons.request_guard import DEFAULT_RATE_BURST, DEFAULT_RATE_PER_SENDER
from priorauth.agent_auth import AgentAuth
from tests.production.cluster import add_figures
from tests.production.conversations import Talk
from tests.servers import ROOT

MALFORMED = [
    # (body, expected status, expected error code)
    (b"", 400, "invalid_request"),
    (b"   ", 400, "invalid_request"),
    (b"[]", 400, "invalid_request"),
    (b'[{"sender": "a", "message": "hi"}]', 400, "invalid_request"),
    (b'"hello"', 400, "invalid_request"),
    (b"null", 400, "invalid_request"),
    (b"{", 400, "invalid_json"),
    (b"\xff\xfe{}", 400, "invalid_json"),
    (b"sender=a&message=hi", 400, "invalid_json"),
    (b"{}", 400, "invalid_sender"),
    (b'{"message": "hi"}', 400, "invalid_sender"),
    (b'{"sender": 5, "message": "hi"}', 400, "invalid_sender"),
    (b'{"sender": "", "message": "hi"}', 400, "invalid_sender"),
    (b'{"sender": "a b", "message": "hi"}', 400, "invalid_sender"),
    (json.dumps({"sender": "x" * 129, "message": "hi"}).encode(), 400, "invalid_sender"),
    (b'{"sender": "agent:a1:s1", "message": "hi"}', 400, "invalid_sender"),
    (b'{"sender": "ok-1"}', 400, "invalid_message"),
    (b'{"sender": "ok-1", "message": null}', 400, "invalid_message"),
    (b'{"sender": "ok-1", "message": ["hi"]}', 400, "invalid_message"),
    (b'{"sender": "ok-1", "message": {"text": "hi"}}', 400, "invalid_message"),
    (b'{"sender": "ok-1", "message": ""}', 400, "invalid_message"),
    (b'{"sender": "ok-1", "message": "a\\u0000b"}', 400, "invalid_message"),
    (b'{"sender": "ok-1", "message": "\\ud800"}', 400, "invalid_message"),
    (b'{"sender": "ok-1", "message": "hi", "metadata": "x"}', 400, "invalid_metadata"),
    (b'{"sender": "ok-1", "message": "hi", "input_channel": "Agent Panel!"}', 400, "invalid_input_channel"),
    (json.dumps({"sender": "ok-1", "message": "x" * 4001}).encode(), 413, "message_too_long"),
    (json.dumps({"sender": "ok-1", "message": "x" * 16400}).encode(), 413, "payload_too_large"),
]


@pytest.mark.parametrize(("body", "status", "code"), MALFORMED, ids=[f"{i}" for i in range(len(MALFORMED))])
def test_malformed_requests_get_a_clear_4xx(live, body, status, code):
    for i in (1, 2):
        response = requests.post(f"{live.replica_url(i)}/webhooks/rest/webhook", data=body, timeout=30)
        assert response.status_code == status, response.text
        error = response.json()
        assert error["error"] == code and error["message"], error


def test_body_caps(live):
    url = f"{live.replica_url(1)}/webhooks/rest/webhook"
    # Just under the cap: a normal message with bulky metadata is accepted.
    body = json.dumps({"sender": live.sender("cap"), "message": "hi", "metadata": {"pad": "p" * 16000}}).encode()
    assert len(body) <= 16384
    assert requests.post(url, data=body, timeout=60).status_code == 200
    # Above Sanic's own cap (SANIC_REQUEST_MAX_SIZE): still a JSON 413, no body read.
    big = requests.post(url, data=b"z" * (2 * 1024 * 1024), timeout=60)
    assert big.status_code == 413 and big.json()["error"] == "payload_too_large"
    # The front (nginx, client_max_body_size 16k) refuses before Rasa sees it.
    assert requests.post(f"{live.front}/webhooks/rest/webhook", data=b"z" * 17000, timeout=30).status_code == 413
    # Other webhooks (the agent channel) are capped too.
    agent = requests.post(f"{live.replica_url(1)}/webhooks/agent/webhook", data=b"z" * 17000, timeout=30)
    assert agent.status_code in (404, 413)


def test_one_rate_limit_per_sender_across_both_replicas(live):
    """One sender alternating between rasa-1 and rasa-2 directly (no proxy in between) is limited at the one shared
    limit, not at twice it; another sender is not affected; after Retry-After it is let in again; refused messages
    are not processed. The replicas run with the defaults (3/s, bursts of 30: PRIORAUTH_RATE_* are not passed on)
    and count in the cluster's Redis (PRIORAUTH_REDIS_URL)."""
    burst, rate = int(DEFAULT_RATE_BURST), DEFAULT_RATE_PER_SENDER
    urls = [f"{live.replica_url(i)}/webhooks/rest/webhook" for i in (1, 2)]
    flooder, other = live.sender("flood"), live.sender("calm")
    flood = 2 * burst + 20  # more than both replicas' bursts together: per-replica buckets would let 2 x 30 in
    start = threading.Barrier(flood)

    def post(i: int) -> tuple[int, requests.Response, float]:
        start.wait()  # all at once, alternating replicas: faster than the conversation's turns can be served
        t0 = time.monotonic()
        response = requests.post(urls[i % 2], json={"sender": flooder, "message": "/greet"}, timeout=170)
        return i % 2 + 1, response, time.monotonic() - t0

    with ThreadPoolExecutor(flood) as pool:
        results = list(pool.map(post, range(flood)))
    codes = [r.status_code for _, r, _ in results]
    accepted = codes.count(200)
    limited = [(replica, r, seconds) for replica, r, seconds in results if r.status_code == 429]
    refusal_window = max(seconds for _, _, seconds in limited) if limited else None
    add_figures(
        rate_limit_across_replicas=(
            f"{accepted} accepted, {len(limited)} refused of {flood} sent at once to rasa-1 and rasa-2 alternately "
            f"(shared limit: burst {burst} + {rate:g}/s; every 429 within {refusal_window:.1f}s)"
            if limited
            else f"{accepted} accepted of {flood}: none refused"
        )
    )
    assert set(codes) <= {200, 429}, codes
    # The burst once for both replicas together (plus what refills at 3/s while the flood is decided), not twice.
    assert burst <= accepted < 2 * burst, codes
    assert {replica for replica, _, _ in limited} == {1, 2}  # each replica refuses: it sees the other's count
    for _, response, _ in limited:
        assert response.json()["error"] == "rate_limited" and "at most 3 a second" in response.json()["message"]
        assert response.headers["Retry-After"].isdigit() and int(response.headers["Retry-After"]) >= 1
    # Another conversation is not affected, on either replica.
    for url in urls:
        assert requests.post(url, json={"sender": other, "message": "hi"}, timeout=60).status_code == 200
    # After Retry-After seconds the flooder is let in again, on the replica that did not refuse it last.
    replica, last, _ = limited[-1]
    time.sleep(int(last.headers["Retry-After"]))
    again = requests.post(urls[2 - replica], json={"sender": flooder, "message": "hi"}, timeout=60)
    assert again.status_code == 200, again.text
    # Refused messages were not processed: the tracker holds only the accepted ones.
    users = [e for e in live.events(flooder).get(flooder, []) if e[0] == "user"]
    assert len(users) == accepted + 1


def test_the_rate_limit_is_counted_in_redis_with_expiring_keys(live):
    """The shared count is one key per sender in the cluster's Redis (db 3) with a TTL: it goes once the sender's
    bucket is full again (5 messages at 3/s: within 5/3 s of the last)."""
    import redis

    sender, n = live.sender("rate-key"), 5
    client = redis.Redis.from_url(f"{live.redis_url.rsplit('/', 1)[0]}/3")
    key = f"priorauth:rate:{sender}"
    with ThreadPoolExecutor(n) as pool:
        sent = [pool.submit(live.say, live.replica_url(1 + i % 2), sender, "hi") for i in range(n)]
        ttls = []
        deadline = time.monotonic() + 60
        while not ttls and time.monotonic() < deadline:  # read it while the turns run
            ttl = client.pttl(key)
            if ttl != -2:
                ttls.append(ttl)
            time.sleep(0.005)
        assert [f.result().status for f in sent] == [200] * n
    assert ttls and 0 < ttls[0] <= n * 1000 / DEFAULT_RATE_PER_SENDER + 50, ttls  # never a key without a TTL
    time.sleep(n / DEFAULT_RATE_PER_SENDER + 0.2)
    assert client.exists(key) == 0
    client.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/status"),
        ("GET", "/version"),
        ("GET", "/conversations/someone/tracker"),
        ("POST", "/conversations/someone/messages"),
        ("POST", "/model/parse"),
        ("PUT", "/model"),
        ("GET", "/domain"),
    ],
)
def test_rasa_http_api_is_off(live, method, path):
    for base in (live.replica_url(1), live.front):
        response = requests.request(method, base + path, json={}, timeout=30)
        assert response.status_code in (404, 405), (base, path, response.status_code)
        assert "Traceback" not in response.text


def test_cors_allows_only_the_configured_origin(live):
    url = f"{live.replica_url(1)}/webhooks/rest/webhook"
    good = requests.options(
        url, headers={"Origin": "http://localhost:8080", "Access-Control-Request-Method": "POST"}, timeout=30
    )
    evil = requests.options(
        url, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, timeout=30
    )
    assert good.headers.get("Access-Control-Allow-Origin") == "http://localhost:8080"
    assert evil.headers.get("Access-Control-Allow-Origin") in (None, "")


def run_sh_dry_run(**env: str) -> str:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("RASA_", "PRIORAUTH_", "ALLOWED_ORIGIN", "ACTION"))
    }
    clean.update(env)
    out = subprocess.run(
        ["bash", "scripts/run.sh", "--dry-run"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_run_sh_keeps_the_api_off_unless_authenticated(tmp_path):
    plain = run_sh_dry_run()
    assert "--enable-api" not in plain
    assert f"endpoints: {ROOT / 'endpoints.yml'}" in plain  # embedded default: SQLite, in-memory lock store
    moved = run_sh_dry_run(PRIORAUTH_RUN_DIR=str(tmp_path), ACTIONS_PORT="5999")
    generated = (tmp_path / "endpoints.generated.yml").read_text()
    assert f"endpoints: {tmp_path / 'endpoints.generated.yml'}" in moved
    assert "url: ${ACTION_SERVER_URL}" in generated and "db: ${RASA_TRACKER_DB}" in generated
    assert "lock_store" not in generated
    secret = "s3cr3t-token-value"
    with_token = run_sh_dry_run(PRIORAUTH_RUN_DIR=str(tmp_path), RASA_AUTH_TOKEN=secret, RASA_JWT_SECRET=secret)
    assert "--enable-api --auth-token <redacted> --jwt-secret <redacted>" in with_token
    assert secret not in with_token


def test_run_sh_generates_production_endpoints_without_secrets(tmp_path):
    password = "pw-never-on-disk"
    out = run_sh_dry_run(
        PRIORAUTH_RUN_DIR=str(tmp_path),
        PRIORAUTH_TRACKER_URL=f"postgresql://rasa:{password}@db.internal:5432/rasa_tracker?sslmode=require",
        PRIORAUTH_REDIS_URL=f"redis://:{password}@redis.internal:6379/1",
        ALLOWED_ORIGIN="https://assistant.example.org",
    )
    generated = tmp_path / "endpoints.generated.yml"
    assert f"endpoints: {generated}" in out and "--cors https://assistant.example.org" in out
    content = generated.read_text()
    assert password not in content
    assert "url: ${PRIORAUTH_TRACKER_URL}" in content and "dialect: postgresql" in content
    assert "type: addons.lock_store.AtomicRedisLockStore" in content and "url: ${PRIORAUTH_REDIS_URL}" in content


def test_a_draft_is_refused_to_another_conversation_on_any_replica(live):
    owner = Talk.planned(5, live.sender("owner")).play(live.say, live.replica_url(1), 3)
    assert owner.name == "draft request" and owner.reference and not owner.problems, owner.problems
    for i, message in ((2, "show draft {ref}"), (1, "export {ref}"), (2, "cancel {ref}")):
        reply = live.say(live.replica_url(i), live.sender("other"), message.format(ref=owner.reference))
        assert f"Draft request {owner.reference} belongs to another conversation" in reply.text, reply.text
        assert owner.facts["member_id"][-4:] not in reply.text and "1245319599" not in reply.text
    summary = live.say(live.replica_url(2), owner.sender, "what's my draft?").text
    assert f"Draft request {owner.reference} (in progress)" in summary, summary


def test_an_agents_draft_follows_the_agent_across_replicas_and_no_other_agent_sees_it(live):
    """The replicas and action servers share the configured agent keys (PRIORAUTH_AGENT_JWT_SECRET, ..._CHANNEL_...)."""
    keys = AgentAuth.from_env(live.agent_keys)
    alice, bob = f"alice-{live.run_id}", f"bob-{live.run_id}"

    def agent_say(i: int, agent: str, message: str, token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or keys.mint(agent)}"}
        body = {"session": f"s{i}", "message": message}
        return requests.post(f"{live.replica_url(i)}/webhooks/agent/webhook", json=body, headers=headers, timeout=120)

    started = agent_say(1, alice, "open a new review request").json()
    reference = re.search(r"DR-[0-9A-Z]{6}", json.dumps(started)).group(0)
    agent_say(1, alice, "member id QZX987654321")
    summary = json.dumps(agent_say(2, alice, f"show draft {reference}").json())  # the other replica, a new session
    assert f"Draft request {reference} (in progress)" in summary and "****4321" in summary
    refused = json.dumps(agent_say(2, bob, f"show draft {reference}").json())
    assert "belongs to another conversation" in refused and "4321" not in refused
    forged = AgentAuth.from_env({"PRIORAUTH_AGENT_JWT_SECRET": "f" * 64}).mint(alice)
    assert agent_say(1, alice, "show my drafts", token=forged).status_code == 401
