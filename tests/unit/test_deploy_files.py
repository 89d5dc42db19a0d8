"""Checks on the production deployment files (deploy/, SECURITY.md) and the local test services.

The Compose file and Helm values cannot run here (no Docker daemon, no cluster): they are parsed
and their important properties asserted. nginx.conf is also started for real when nginx is
installed, and endpoints.prod.yml is exercised against the PostgreSQL and Redis that
scripts/services.sh starts.
"""

from __future__ import annotations

import http.server
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
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES_SH = ROOT / "scripts" / "services.sh"
RASA_IMAGES = {"rasa/rasa:3.6.21-full", "rasa/rasa:3.6.21"}
SDK_IMAGE = "rasa/rasa-sdk:3.6.2"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD", re.IGNORECASE)
SECRET_REFERENCES = {
    "secretName",
    "existingSecret",
    "existingSecretKey",
    "existingSecretPasswordKey",
}
REQUIRED_ENV = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*:\?[^}]+\}$")


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(DEPLOY / "docker-compose.yml")


@pytest.fixture(scope="module")
def helm() -> dict:
    return load_yaml(DEPLOY / "helm" / "values.yml")


@pytest.fixture(scope="module")
def nginx_conf() -> str:
    return (DEPLOY / "nginx.conf").read_text()


def base_image(service: dict) -> str:
    """The image a service runs, or the FROM of its inline Dockerfile."""
    build = service.get("build")
    if build:
        froms = re.findall(r"^FROM\s+(\S+)", build["dockerfile_inline"], re.MULTILINE)
        assert len(froms) == 1, froms
        return froms[0]
    return service["image"]


def rasa_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if name.startswith("rasa-")}


def block(text: str, header: str) -> str:
    """The body of the first nginx block whose header matches (braces balanced)."""
    match = re.search(header + r"\s*\{", text)
    assert match, f"no block {header!r}"
    depth, start = 1, match.end()
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    raise AssertionError(f"unbalanced block {header!r}")


def pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[<>=!~ ]", d, maxsplit=1)[0].lower(): d for d in deps}


# --- docker-compose.yml ------------------------------------------------------------------------


def test_compose_has_the_production_services(compose):
    assert {"nginx", "rasa-1", "rasa-2", "action-server", "postgres", "redis"} <= set(compose["services"])


def test_compose_builds_on_the_pinned_official_images(compose):
    for name, service in rasa_services(compose).items():
        assert base_image(service) in RASA_IMAGES, name
    assert base_image(compose["services"]["action-server"]) == SDK_IMAGE


def test_compose_action_server_pins_match_pyproject(compose):
    dockerfile = compose["services"]["action-server"]["build"]["dockerfile_inline"]
    pins = pyproject_pins()
    for requirement in re.findall(r'"([^"]+)"', dockerfile):
        name = re.split(r"[<>=!~ ]", requirement, maxsplit=1)[0].lower()
        assert pins.get(name) == requirement, (requirement, pins.get(name))


def test_compose_publishes_only_the_proxy(compose):
    published = {name for name, s in compose["services"].items() if s.get("ports")}
    assert published == {"nginx"}


def test_compose_secrets_are_required_from_the_environment(compose):
    checked = 0
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_ENV.match(str(value)), f"{name}.{key} = {value!r}"
                checked += 1
            # no ${VAR:-default} anywhere: a missing setting must stop the stack
            assert ":-" not in str(value), f"{name}.{key} has a default"
    assert checked >= 6


def test_compose_rasa_api_requires_token_and_jwt_from_env(compose):
    for name, service in rasa_services(compose).items():
        # compose turns $$ into $: the container's shell expands the variable, not compose
        command = " ".join(service["command"]).replace("$$", "$")
        assert "--enable-api" in command
        assert '--auth-token "$RASA_AUTH_TOKEN"' in command, name
        assert '--jwt-secret "$RASA_JWT_SECRET"' in command, name
        assert '--cors "$ALLOWED_ORIGIN"' in command, name
        env = service["environment"]
        assert REQUIRED_ENV.match(env["RASA_AUTH_TOKEN"])
        assert REQUIRED_ENV.match(env["RASA_JWT_SECRET"])


def test_compose_agent_identity_is_production_grade(compose):
    """The agent channel starts in production only with its keys; the action server checks the same proof."""
    from priorauth.agent_auth import AgentAuth
    from priorauth.agent_proof import AgentAuthConfigError, is_production

    actions = compose["services"]["action-server"]["environment"]
    for name, service in rasa_services(compose).items():
        env = service["environment"]
        assert is_production(env) and env["PRIORAUTH_ENV"] == "production", name
        assert REQUIRED_ENV.match(env["PRIORAUTH_AGENT_JWT_SECRET"]), name
        assert env["PRIORAUTH_AGENT_CHANNEL_SECRET"] == actions["PRIORAUTH_AGENT_CHANNEL_SECRET"], name
        keyless = {k: v for k, v in env.items() if not k.startswith("PRIORAUTH_AGENT_JWT_")}
        with pytest.raises(AgentAuthConfigError, match="needs a key in production"):
            AgentAuth.from_env(keyless)
    assert REQUIRED_ENV.match(actions["PRIORAUTH_AGENT_CHANNEL_SECRET"])


def test_helm_agent_keys_come_from_the_secret_and_match_the_action_server(helm):
    rasa_env = {e["name"]: e for e in helm["extraEnv"]}
    sdk_env = {e["name"]: e for e in helm["rasa-action-server"]["extraEnv"]}
    assert rasa_env["PRIORAUTH_ENV"]["value"] == "production"
    assert (
        rasa_env["PRIORAUTH_AGENT_CHANNEL_SECRET"]["valueFrom"]
        == sdk_env["PRIORAUTH_AGENT_CHANNEL_SECRET"]["valueFrom"]
    )
    assert rasa_env["PRIORAUTH_AGENT_JWT_SECRET"]["valueFrom"]["secretKeyRef"]["key"] == "agent-jwt-secret"


def test_compose_rasa_env_covers_every_endpoint_variable(compose):
    needed = set(re.findall(r"\$\{(\w+)\}", yaml.safe_dump(load_yaml(DEPLOY / "endpoints.prod.yml"))))
    assert {"DB_PASSWORD", "REDIS_PASSWORD", "ACTION_SERVER_URL"} <= needed
    for name, service in rasa_services(compose).items():
        assert needed <= set(service["environment"]), (name, needed - set(service["environment"]))


def test_compose_lock_lifetime_exceeds_the_slowest_action(compose, nginx_conf):
    lock = int(compose["x-rasa-server"]["environment"]["TICKET_LOCK_LIFETIME"])
    action = int(compose["services"]["action-server"]["environment"]["SANIC_RESPONSE_TIMEOUT"])
    proxy = int(re.search(r"proxy_read_timeout (\d+)s;", nginx_conf).group(1))
    assert action < lock < proxy


def test_compose_caps_request_size_in_sanic(compose):
    for service in [*rasa_services(compose).values(), compose["services"]["action-server"]]:
        assert int(service["environment"]["SANIC_REQUEST_MAX_SIZE"]) <= 8 * 1024 * 1024


def test_compose_redis_requires_a_password(compose):
    redis = compose["services"]["redis"]
    assert "--requirepass" in " ".join(redis["command"])
    assert REQUIRED_ENV.match(redis["environment"]["REDIS_PASSWORD"])


def test_compose_creates_the_tracker_database(compose):
    init = compose["configs"]["postgres-init"]["content"]
    db_name = compose["x-rasa-server"]["environment"]["DB_NAME"]
    assert f"CREATE DATABASE {db_name}" in init


# --- endpoints.prod.yml / credentials.prod.yml ---------------------------------------------------


def test_endpoints_tracker_store_is_sql_on_postgresql():
    store = load_yaml(DEPLOY / "endpoints.prod.yml")["tracker_store"]
    assert store["type"].lower() == "sql"
    assert store["dialect"] == "postgresql"
    assert store["url"] == "${DB_HOST}"
    assert store["password"] == "${DB_PASSWORD}"


def test_endpoints_lock_store_is_redis():
    endpoints = load_yaml(DEPLOY / "endpoints.prod.yml")
    store = endpoints["lock_store"]
    assert store["type"] == "addons.hardening.AtomicRedisLockStore"  # Redis, with atomic lock changes
    assert store["url"] == "${REDIS_HOST}"
    assert store["password"] == "${REDIS_PASSWORD}"
    assert endpoints["action_endpoint"]["url"] == "${ACTION_SERVER_URL}"


def test_endpoints_hold_no_literal_secrets():
    endpoints = load_yaml(DEPLOY / "endpoints.prod.yml")
    for section in endpoints.values():
        for key, value in section.items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+\}", str(value)), (key, value)


def test_credentials_enable_rest_and_persistent_socketio():
    credentials = load_yaml(DEPLOY / "credentials.prod.yml")
    assert "rest" in credentials
    assert {"addons.agent_channel.AgentInput", "addons.hardening.Hardening"} <= set(credentials)
    assert credentials["socketio"]["session_persistence"] is True


# --- nginx.conf ----------------------------------------------------------------------------------


def test_nginx_routes_rest_by_sender_and_socketio_by_client(nginx_conf):
    rest = block(nginx_conf, r"upstream rasa_rest")
    assert re.search(r"^\s*hash \$priorauth_sender consistent;", rest, re.MULTILINE)
    sender_map = block(nginx_conf, r"map \$http_x_sender_id \$priorauth_sender")
    assert "$priorauth_sender_arg" in sender_map  # falls back to ?sender=
    socketio = block(nginx_conf, r"upstream rasa_socketio")
    assert re.search(r"^\s*ip_hash;", socketio, re.MULTILINE)
    assert "proxy_pass http://rasa_rest;" in block(nginx_conf, r"location /webhooks/")
    assert "proxy_pass http://rasa_socketio;" in block(nginx_conf, r"location /socket\.io/")


def test_nginx_caps_webhook_bodies_and_rate_limits(nginx_conf):
    webhooks = block(nginx_conf, r"location /webhooks/")
    assert "client_max_body_size 16k;" in webhooks
    assert "limit_req zone=priorauth_per_sender" in webhooks
    assert "limit_req_zone $priorauth_sender" in nginx_conf


def test_nginx_checks_socketio_origin_and_hides_the_api(nginx_conf):
    assert "$priorauth_origin_ok = 0" in block(nginx_conf, r"location /socket\.io/")
    assert '"${ALLOWED_ORIGIN}" 1;' in nginx_conf
    locations = re.findall(r"^\s*location\s+([^{]+?)\s*\{", nginx_conf, re.MULTILINE)
    proxied = {where for where in locations if "proxy_pass" in block(nginx_conf, re.escape(f"location {where}"))}
    assert proxied == {"/webhooks/", "/socket.io/"}


# --- helm/values.yml -----------------------------------------------------------------------------


def test_helm_switches_on_redis_lock_store(helm):
    lock = helm["applicationSettings"]["endpoints"]["lockStore"]
    assert lock["enabled"] is True and lock["type"] == "redis"
    assert helm["redis"]["install"] is True
    assert helm["redis"]["auth"]["existingSecret"]


def test_helm_tracker_store_is_sql_on_postgresql(helm):
    tracker = helm["applicationSettings"]["endpoints"]["trackerStore"]
    assert tracker["enabled"] is True
    assert tracker["type"] == "sql" and tracker["dialect"] == "postgresql"
    assert tracker["password"] == "${DB_PASSWORD}"
    assert helm["global"]["postgresql"]["existingSecret"]


def test_helm_api_token_and_jwt_come_from_a_secret(helm):
    args = helm["args"]
    assert "--enable-api" in args
    assert args[args.index("--auth-token") + 1] == "$(RASA_AUTH_TOKEN)"
    assert args[args.index("--jwt-secret") + 1] == "$(RASA_JWT_SECRET)"
    env = {e["name"]: e for e in helm["extraEnv"]}
    for name in ("RASA_AUTH_TOKEN", "RASA_JWT_SECRET", "PRIORAUTH_AGENT_JWT_SECRET", "PRIORAUTH_AGENT_CHANNEL_SECRET"):
        assert "secretKeyRef" in env[name]["valueFrom"], name
    # the chart's literal defaults ("rasaToken", "UNSET") are not restated here
    assert "token" not in helm["applicationSettings"]
    assert helm["applicationSettings"]["cors"] != "*"


def test_helm_no_literal_secrets_anywhere(helm):
    def walk(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and SECRET_NAME.search(str(key)):
                    # a ${VAR} the chart fills, or the name of a Kubernetes Secret
                    assert value.startswith("${") or key in SECRET_REFERENCES, f"{path}.{key}"
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)
                if isinstance(item, dict) and SECRET_NAME.search(str(item.get("name", ""))):
                    assert "value" not in item, f"{path}: {item['name']} has a literal value"

    walk(helm)


def test_helm_images_are_built_on_the_pinned_versions(helm):
    assert helm["image"]["tag"].startswith("3.6.21")
    assert helm["rasa-action-server"]["image"]["tag"].startswith("3.6.2-")
    assert helm["applicationSettings"]["initialModel"] == ""
    assert helm["applicationSettings"]["trainInitialModel"] is False


def test_helm_ingress_is_sticky_and_caps_bodies(helm):
    annotations = helm["ingress"]["annotations"]
    assert "$http_x_sender_id" in annotations["nginx.ingress.kubernetes.io/upstream-hash-by"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "16k"
    assert helm["ingress"]["tls"]
    assert helm["replicaCount"] >= 2
    assert helm["rasa-action-server"]["install"] is True
    assert helm["applicationSettings"]["telemetry"]["enabled"] is False


def test_helm_lock_lifetime_exceeds_the_slowest_action(helm):
    rasa_env = {e["name"]: e.get("value") for e in helm["extraEnv"]}
    sdk_env = {e["name"]: e.get("value") for e in helm["rasa-action-server"]["extraEnv"]}
    assert int(sdk_env["SANIC_RESPONSE_TIMEOUT"]) < int(rasa_env["TICKET_LOCK_LIFETIME"])
    timeout = helm["ingress"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]
    assert int(rasa_env["TICKET_LOCK_LIFETIME"]) < int(timeout)


# --- session expiry, SECURITY.md -----------------------------------------------------------------


def test_domain_sets_session_expiry():
    domain_file = ROOT / "domain.yml"
    if not domain_file.exists():
        pytest.skip("domain.yml not written yet")
    expiry = load_yaml(domain_file)["session_config"]["session_expiration_time"]
    assert 0 < expiry <= 24 * 60


def test_security_policy_covers_the_essentials():
    text = (ROOT / "SECURITY.md").read_text()
    for needle in (
        "Reporting a vulnerability",
        "What an operator must configure",
        "PRIORAUTH_AGENT_JWT_SECRET",
        "PRIORAUTH_AGENT_CHANNEL_SECRET",
        "Agent identity",
        "rotation",
        "RASA_AUTH_TOKEN",
        "TLS",
        "ALLOWED_ORIGIN",
        "Retention",
        "masked",
        "owner",
    ):
        assert needle in text, needle


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
        pytest.skip("nginx or openssl not installed (scripts/services.sh start installs nginx)")

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
    # One client makes all of this test's requests: lift the per-address limit, keep per-sender.
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
    assert _request(webhook, b"x" * 20_000, json_headers)[0] == 413

    # per-sender rate limit: burst 5 at 1 r/s
    statuses = [_request(webhook, body, {**json_headers, "X-Sender-Id": "chatty"})[0] for _ in range(10)]
    assert 429 in statuses

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
        pytest.skip(f"scripts/services.sh cannot start the services here: {started.stderr.strip()}")
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

    from rasa.core.lock_store import LockStore, RedisLockStore
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
    assert isinstance(lock_store, RedisLockStore)
    assert type(lock_store).__name__ == "AtomicRedisLockStore"
    sender = f"deploy-test-{os.getpid()}-{time.time_ns()}"

    async def roundtrip():
        tracker = DialogueStateTracker.from_events(sender, [SessionStarted(), UserUttered("hi")])
        await tracker_store.save(tracker)
        assert [e.type_name for e in (await tracker_store.retrieve(sender)).events][-1] == "user"
        async with lock_store.lock(sender):
            assert lock_store.red.exists(f"priorauth:lock:{sender}")
        assert not lock_store.red.exists(f"priorauth:lock:{sender}")

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
