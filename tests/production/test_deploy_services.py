"""The deployment files run for real: deploy/nginx.conf in front of two stub replicas, scripts/services.sh,
and deploy/endpoints.prod.yml against the PostgreSQL and Redis that scripts/services.sh starts.

Production layer (scripts/test_production.sh): a missing nginx or a services script that cannot start
fails there, and skips with the reason in a local run (tests/required.py).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.required import require_or_skip

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES_SH = ROOT / "scripts" / "services.sh"


@pytest.fixture(scope="module")
def nginx_conf() -> str:
    return (DEPLOY / "nginx.conf").read_text()


# --- nginx.conf, for real ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Backend(http.server.BaseHTTPRequestHandler):
    """Answers with its own name, so a test sees which replica got a request."""

    def _reply(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, *args):
        pass


@pytest.fixture
def nginx_proxy(tmp_path, nginx_conf):
    """deploy/nginx.conf in front of two stub replicas, on free ports; yields the https base URL."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not nginx or not shutil.which("openssl"):
        require_or_skip("nginx or openssl not installed (scripts/services.sh start installs nginx)")

    backends = []
    for name in ("rasa-1", "rasa-2"):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
        server.name = name
        threading.Thread(target=server.serve_forever, daemon=True).start()
        backends.append(server)

    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(tmp_path / "tls.key"),
         "-out", str(tmp_path / "tls.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    http_port, https_port = free_port(), free_port()
    conf = nginx_conf.replace("${ALLOWED_ORIGIN}", "https://assistant.example.org")
    # One client makes all of this test's requests: lift the per-address flood cap.
    conf = conf.replace("zone=priorauth_per_ip:10m rate=10r/s", "zone=priorauth_per_ip:10m rate=1000r/s")
    for name, server in zip(("rasa-1", "rasa-2"), backends, strict=True):
        conf = conf.replace(f"{name}:5005", f"127.0.0.1:{server.server_address[1]}")
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    conf = conf.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    conf = conf.replace("/etc/nginx/tls/", f"{tmp_path}/")
    conf = conf.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "index.html").write_text("<p>widget</p>")
    conf = conf.replace("/usr/share/nginx/html", str(tmp_path / "html"))
    (tmp_path / "site.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"""
        {"user root;" if os.geteuid() == 0 else ""}
        worker_processes 1;
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/error.log;
        events {{ worker_connections 64; }}
        http {{
            client_body_temp_path {tmp_path}/body;
            proxy_temp_path {tmp_path}/proxy;
            fastcgi_temp_path {tmp_path}/fastcgi;
            uwsgi_temp_path {tmp_path}/uwsgi;
            scgi_temp_path {tmp_path}/scgi;
            include {tmp_path}/site.conf;
        }}
        """
    )
    args = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    check = subprocess.run([*args, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    subprocess.run(args, check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "nginx.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield f"https://127.0.0.1:{https_port}"
    finally:
        subprocess.run([*args, "-s", "quit"], capture_output=True)
        for server in backends:
            server.shutdown()


def _request(url, data=None, headers=None, method=None):
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_nginx_conf_runs_and_routes_as_documented(nginx_proxy):
    webhook = f"{nginx_proxy}/webhooks/rest/webhook"
    body = b'{"sender": "s", "message": "hi"}'
    json_headers = {"Content-Type": "application/json"}

    # one sender, one replica (spread senders so the rate limit does not interfere)
    for sender in ("member-a", "member-b", "member-c", "member-d"):
        seen = {_request(webhook, body, {**json_headers, "X-Sender-Id": sender})[1] for _ in range(3)}
        assert len(seen) == 1, (sender, seen)
        assert seen == {_request(f"{webhook}?sender={sender}", body, json_headers)[1]}

    # without a sender id: round-robin over both replicas
    spread = {_request(webhook, body, json_headers)[1] for _ in range(6)}
    assert spread == {"rasa-1", "rasa-2"}

    # body cap on the webhook
    status, reply = _request(webhook, b"x" * 20_000, json_headers)
    assert status == 413 and json.loads(reply)["error"] == "payload_too_large", reply  # JSON, not nginx's HTML page

    # no per-sender limit at the proxy: the Rasa servers' one, shared in Redis, is the only one (SECURITY.md)
    statuses = [_request(webhook, body, {**json_headers, "X-Sender-Id": "chatty"})[0] for _ in range(10)]
    assert statuses == [200] * 10

    # socket.io: foreign origins refused, ours and origin-less clients let through
    socketio = f"{nginx_proxy}/socket.io/?EIO=4&transport=polling"
    assert _request(socketio, headers={"Origin": "https://evil.example"})[0] == 403
    assert _request(socketio, headers={"Origin": "https://assistant.example.org"})[0] == 200
    assert _request(socketio)[0] == 200

    # Rasa's HTTP API is not reachable through the proxy; the pages are
    assert _request(f"{nginx_proxy}/conversations/x/tracker")[0] == 404
    assert _request(f"{nginx_proxy}/model", b"{}", json_headers, method="PUT")[0] == 403
    assert _request(f"{nginx_proxy}/")[1] == "<p>widget</p>"


# --- scripts/services.sh + endpoints.prod.yml against real servers -------------------------------


def _services_env() -> dict[str, str]:
    env = {}
    run_dir = Path(os.environ.get("PRIORAUTH_SERVICES_DIR", ROOT / ".run" / "services"))
    for line in (run_dir / "env").read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            env[key] = value
    return env


@pytest.fixture(scope="module")
def services():
    """Start PostgreSQL and Redis with scripts/services.sh; stop them after if we started them."""
    running = subprocess.run(["bash", str(SERVICES_SH), "status"], capture_output=True)
    started = subprocess.run(
        ["bash", str(SERVICES_SH), "start"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
    )  # fmt: skip
    if started.returncode == 2:
        require_or_skip(f"scripts/services.sh cannot start the services here: {started.stderr.strip()}")
    assert started.returncode == 0, started.stderr
    try:
        yield _services_env()
    finally:
        if running.returncode != 0:
            subprocess.run(["bash", str(SERVICES_SH), "stop"], capture_output=True)


@pytest.mark.postgres
def test_services_script_starts_postgresql_and_redis(services):
    import psycopg2
    import redis

    for key in ("PRIORAUTH_TEST_PG_URL", "PRIORAUTH_TEST_TRACKER_PG_URL"):
        dsn = services[key].replace("postgresql+psycopg2://", "postgresql://")
        with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            assert cursor.fetchone()[0] == dsn.rsplit("/", 1)[1]
        connection.close()
    client = redis.Redis.from_url(services["PRIORAUTH_TEST_REDIS_URL"])
    assert client.ping()

    again = subprocess.run(["bash", str(SERVICES_SH), "start"], capture_output=True, text=True)
    assert again.returncode == 0 and "already running" in again.stderr
    assert _services_env() == services


@pytest.mark.postgres
def test_prod_endpoints_work_against_postgresql_and_redis(services, monkeypatch):
    """endpoints.prod.yml, as Rasa reads it, gives a working SQL tracker store and Redis locks."""
    import asyncio

    from rasa.core.lock_store import LockStore
    from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
    from rasa.core.utils import read_endpoints_from_path
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from sqlalchemy import create_engine, text

    for key, value in {
        "DB_HOST": services["PRIORAUTH_TEST_PG_HOST"],
        "DB_PORT": services["PRIORAUTH_TEST_PG_PORT"],
        "DB_NAME": services["PRIORAUTH_TEST_TRACKER_PG_DB"],
        "DB_USER": services["PRIORAUTH_TEST_PG_USER"],
        "DB_PASSWORD": "",
        "DB_SSLMODE": "prefer",
        "REDIS_HOST": services["PRIORAUTH_TEST_REDIS_HOST"],
        "REDIS_PORT": services["PRIORAUTH_TEST_REDIS_PORT"],
        "REDIS_PASSWORD": "",
        "ACTION_SERVER_URL": "http://127.0.0.1:5055/webhook",
    }.items():
        monkeypatch.setenv(key, value)

    endpoints = read_endpoints_from_path(str(DEPLOY / "endpoints.prod.yml"))
    tracker_store = TrackerStore.create(endpoints.tracker_store, Domain.empty())
    lock_store = LockStore.create(endpoints.lock_store)
    assert isinstance(tracker_store, SQLTrackerStore)
    assert isinstance(lock_store, LockStore)
    assert type(lock_store).__name__ == "AtomicRedisLockStore"
    sender = f"deploy-test-{os.getpid()}-{time.time_ns()}"

    async def roundtrip():
        tracker = DialogueStateTracker.from_events(sender, [SessionStarted(), UserUttered("hi")])
        await tracker_store.save(tracker)
        assert [e.type_name for e in (await tracker_store.retrieve(sender)).events][-1] == "user"
        async with lock_store.lock(sender):
            assert await lock_store.red.exists(f"priorauth:lock:{sender}")
        assert not await lock_store.red.exists(f"priorauth:lock:{sender}")

    asyncio.run(roundtrip())

    # the retention statement of deploy/README.md runs and spares recent events
    retention = re.search(r"^DELETE FROM events .*;$", (DEPLOY / "README.md").read_text(), re.M)
    engine = create_engine(services["PRIORAUTH_TEST_TRACKER_PG_URL"], future=True)
    with engine.begin() as connection:
        connection.execute(text(retention.group(0).rstrip(";")))
        left = connection.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}).scalar_one()
        assert left == 2
        connection.execute(text("DELETE FROM events WHERE sender_id = :s"), {"s": sender})
    engine.dispose()

    # the statement_timeout option used in PRIORAUTH_DATABASE_URL is accepted by psycopg2
    url = services["PRIORAUTH_TEST_PG_URL"] + "?options=-c%20statement_timeout%3D5000"
    engine = create_engine(url, future=True)
    with engine.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "5s"
    engine.dispose()
