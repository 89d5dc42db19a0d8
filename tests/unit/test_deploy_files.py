"""Checks on the production deployment files (deploy/, SECURITY.md), without starting anything.

The Compose file and Helm values cannot run here (no Docker daemon, no cluster): they are parsed
and their important properties asserted. nginx.conf started for real, scripts/services.sh and
endpoints.prod.yml against real PostgreSQL and Redis: tests/production/test_deploy_services.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
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


def dockerfile(service: dict) -> str:
    """The Dockerfile a service builds (its path is relative to the build context, the repository root)."""
    build = service["build"]
    assert build["context"] == ".." and "dockerfile_inline" not in build  # docker-compose 1.29 has no inline ones
    return (DEPLOY / build["context"] / build["dockerfile"]).read_text()


def base_image(service: dict) -> str:
    """The image a service runs, or the FROM of its Dockerfile."""
    build = service.get("build")
    if build:
        froms = re.findall(r"^FROM\s+(\S+)", dockerfile(service), re.MULTILINE)
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
    dockerfile_text = dockerfile(compose["services"]["action-server"])
    pins = pyproject_pins()
    for requirement in re.findall(r'"([^"]+)"', dockerfile_text):
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
    mounts = dict(v.split(":")[:2] for v in compose["services"]["postgres"]["volumes"] if v.startswith("./"))
    script = mounts.get("./postgres-init.sql")
    assert script and script.startswith("/docker-entrypoint-initdb.d/")
    init = (DEPLOY / "postgres-init.sql").read_text()
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
    assert store["type"] == "addons.lock_store.AtomicRedisLockStore"  # Redis, with atomic lock changes
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
    assert {
        "addons.agent_channel.AgentInput",
        "addons.request_guard.RequestGuard",
        "addons.rasa_patches.RasaPatches",
    } <= set(credentials)
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


def test_nginx_caps_webhook_bodies_and_floods_per_address_but_leaves_senders_to_rasa(nginx_conf):
    webhooks = block(nginx_conf, r"location /webhooks/")
    assert "client_max_body_size 16k;" in webhooks
    # One per-sender limit for the deployment: the Rasa servers' (Redis), never a second one here.
    assert "$priorauth_sender" not in " ".join(re.findall(r"^\s*limit_req_zone[^;]*;", nginx_conf, re.MULTILINE))
    assert "limit_req zone=priorauth_per_sender" not in nginx_conf
    # The per-address flood cap lets one conversation's whole burst through (30, addons/request_guard.py).
    from addons.request_guard import DEFAULT_RATE_BURST

    burst = int(re.search(r"limit_req zone=priorauth_per_ip burst=(\d+)", webhooks).group(1))
    assert burst > DEFAULT_RATE_BURST
    assert "Retry-After" in block(nginx_conf, r"location @flood")


def test_nginx_error_pages_are_set_once_for_every_location(nginx_conf):
    """nginx inherits error_page into a location only when the location sets none: every one is at the server
    level, so the flood cap's 429, the body cap's 413 and a dead replica's 502/503/504 are JSON everywhere."""
    server_level = re.findall(r"^    error_page ([^;]+);", nginx_conf, re.MULTILINE)
    assert {"429 = @flood", "413 = @priorauth_too_large", "502 503 504 = @priorauth_unavailable"} <= set(server_level)
    for name in ("/webhooks/", "/socket\\.io/", "/"):
        assert "error_page" not in block(nginx_conf, rf"location {name}"), name


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
    expiry = load_yaml(ROOT / "domain.yml")["session_config"]["session_expiration_time"]
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
