"""The production layout on one machine: 2 Rasa replicas, 2 action servers, nginx round-robin in front,
PostgreSQL (tracker store, knowledge base) and Redis (lock store) from scripts/services.sh.

    client -> nginx (round-robin, generated config) -> rasa-1 -> actions-1 ┐
                                                    -> rasa-2 -> actions-2 ┤-> kb proxy -> PostgreSQL
              rasa-1, rasa-2 -> tracker proxy -> PostgreSQL; -> redis proxy -> Redis

The three proxies (tests/production/tcpproxy.py) let a test cut a database or Redis away and bring it
back. The Rasa replicas get their endpoints file from `scripts/run.sh --dry-run` with
PRIORAUTH_TRACKER_URL and PRIORAUTH_REDIS_URL set, exactly as an operator would. Each run uses its own
databases (dropped at the end) and its own sender ids.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from sqlalchemy import create_engine, text

from tests.production.tcpproxy import TcpProxy
from tests.servers import ROOT, VENV_BIN, free_port

# Figures collected by the tests, printed at the end of the session (conftest.py).
FIGURES: dict[str, object] = {}
FIGURES_LOCK = threading.Lock()

UNAVAILABLE = "temporarily unavailable"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def add_figures(**values: object) -> None:
    with FIGURES_LOCK:
        FIGURES.update(values)


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict
    log: Path
    ready_url: str | None = None
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()

    def ready(self) -> bool:
        if not self.alive():
            return False
        if not self.ready_url:
            return True
        try:
            return requests.get(self.ready_url, timeout=2).ok
        except requests.RequestException:
            return False


@dataclass
class Reply:
    status: int
    body: object
    seconds: float
    replica: str | None = None

    @property
    def texts(self) -> list[str]:
        if isinstance(self.body, list):
            return [m["text"] for m in self.body if isinstance(m, dict) and m.get("text")]
        return []

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


@dataclass
class Cluster:
    model: Path
    workdir: Path
    pg_admin_url: str  # postgresql+psycopg2://postgres@127.0.0.1:PORT/<any db>
    redis_url: str  # redis://127.0.0.1:PORT/0
    debug_replica: bool = True  # rasa-2 and actions-2 log at DEBUG: every message, for the PHI test
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    agent_keys: dict = field(
        default_factory=lambda: {
            "PRIORAUTH_AGENT_JWT_SECRET": secrets.token_hex(32),
            "PRIORAUTH_AGENT_CHANNEL_SECRET": secrets.token_hex(32),
        }
    )
    procs: dict[str, Proc] = field(default_factory=dict)
    proxies: dict[str, TcpProxy] = field(default_factory=dict)
    front_port: int = 0

    # --- set up ----------------------------------------------------------------------------------

    @property
    def kb_db(self) -> str:
        return f"prodtest_{self.run_id}_kb"

    @property
    def tracker_db(self) -> str:
        return f"prodtest_{self.run_id}_tracker"

    def _pg(self) -> tuple[str, int]:
        parts = urlsplit(self.pg_admin_url.replace("postgresql+psycopg2", "postgresql"))
        return parts.hostname or "127.0.0.1", parts.port or 5432

    def db_url(self, db: str, port: int | None = None) -> str:
        host, pg_port = self._pg()
        return f"postgresql+psycopg2://postgres@{host}:{port or pg_port}/{db}"

    def _admin(self, statement: str) -> None:
        engine = create_engine(self.db_url("postgres"), isolation_level="AUTOCOMMIT", future=True)
        with engine.connect() as conn:
            conn.execute(text(statement))
        engine.dispose()

    def start(self) -> Cluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        for db in (self.kb_db, self.tracker_db):
            self._admin(f'DROP DATABASE IF EXISTS "{db}"')
            self._admin(f'CREATE DATABASE "{db}"')
        host, pg_port = self._pg()
        redis_parts = urlsplit(self.redis_url)
        self.proxies = {
            "kb": TcpProxy(host, pg_port).start(),
            "tracker": TcpProxy(host, pg_port).start(),
            "redis": TcpProxy(redis_parts.hostname or "127.0.0.1", redis_parts.port or 6379).start(),
        }
        self._load_kb()
        endpoints = self._endpoints_from_run_sh()
        ports = {name: free_port() for name in ("rasa-1", "rasa-2", "actions-1", "actions-2")}
        for i in (1, 2):
            debug = ["--debug"] if self.debug_replica and i == 2 else []
            actions_url = f"http://127.0.0.1:{ports[f'actions-{i}']}"
            self.procs[f"actions-{i}"] = Proc(
                f"actions-{i}",
                [
                    str(VENV_BIN / "rasa"),
                    "run",
                    "actions",
                    "--actions",
                    "actions",
                    "--port",
                    str(ports[f"actions-{i}"]),
                    *debug,
                ],
                self._env(SANIC_RESPONSE_TIMEOUT="20"),
                self.workdir / f"actions-{i}.log",
                f"{actions_url}/health",
            )
            self.procs[f"rasa-{i}"] = Proc(
                f"rasa-{i}",
                [
                    str(VENV_BIN / "rasa"),
                    "run",
                    "--model",
                    str(self.model),
                    "--port",
                    str(ports[f"rasa-{i}"]),
                    "--endpoints",
                    str(endpoints),
                    "--credentials",
                    "credentials.yml",
                    "--cors",
                    "http://localhost:8080",
                    *debug,
                ],
                self._env(
                    ACTION_SERVER_URL=f"{actions_url}/webhook",
                    **self._store_env(),
                    SANIC_REQUEST_MAX_SIZE="1048576",
                    SANIC_RESPONSE_TIMEOUT="150",
                    TICKET_LOCK_LIFETIME="120",
                ),
                self.workdir / f"rasa-{i}.log",
                f"http://127.0.0.1:{ports[f'rasa-{i}']}/",
            )
        for proc in self.procs.values():
            proc.start()
        self._start_front(ports["rasa-1"], ports["rasa-2"])
        self.wait_ready()
        add_figures(cluster_start_seconds=round(time.monotonic() - t0, 1))
        return self

    def _env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SANIC_", "PRIORAUTH_RATE", "RASA_"))}
        env.update(
            PYTHONPATH=str(ROOT),
            TF_CPP_MIN_LOG_LEVEL="2",
            RASA_TELEMETRY_ENABLED="false",
            SQLALCHEMY_SILENCE_UBER_WARNING="1",
            PRIORAUTH_RUN_DIR=str(self.workdir),
            # Production (shared stores) refuses the agent channel without keys: the same ones for every replica
            # and action server, as deploy/ configures them.
            **self.agent_keys,
            PRIORAUTH_DATABASE_URL=self.db_url(self.kb_db, self.proxies["kb"].port) + "?connect_timeout=5",
            RASA_TRACKER_DB=str(self.workdir / "unused-tracker.db"),
        )
        env.update(extra)
        return env

    def _store_env(self) -> dict:
        return {
            "PRIORAUTH_TRACKER_URL": self.db_url(self.tracker_db, self.proxies["tracker"].port) + "?connect_timeout=5",
            "PRIORAUTH_REDIS_URL": f"redis://127.0.0.1:{self.proxies['redis'].port}/3",
        }

    def _load_kb(self) -> None:
        from priorauth.config import Settings
        from priorauth.db import make_engine
        from priorauth.kb.loader import load_kb
        from priorauth.schema import upgrade

        engine = make_engine(self.db_url(self.kb_db))
        upgrade(engine)
        load_kb(engine, Settings.from_env({}).kb_dir, ROOT / "data" / "sources")
        engine.dispose()

    def _endpoints_from_run_sh(self) -> Path:
        env = self._env(**self._store_env())
        out = subprocess.run(
            ["bash", str(ROOT / "scripts" / "run.sh"), "--dry-run"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr
        match = re.search(r"^endpoints: (.+)$", out.stdout, re.MULTILINE)
        assert match, out.stdout
        path = Path(match.group(1))
        content = path.read_text()
        assert "AtomicRedisLockStore" in content and "${PRIORAUTH_TRACKER_URL}" in content, content
        return path

    def _start_front(self, port_1: int, port_2: int) -> None:
        prefix = self.workdir / "nginx"
        self.front_port = free_port()
        (prefix / "nginx.conf").write_text(
            nginx_head(prefix)
            + f"""
    upstream rasa {{
        # Round-robin on purpose: every turn may land on either replica (the worst case for locks).
        server 127.0.0.1:{port_1} max_fails=1 fail_timeout=10s;
        server 127.0.0.1:{port_2} max_fails=1 fail_timeout=10s;
    }}
    server {{
        listen 127.0.0.1:{self.front_port};
        client_max_body_size 16k;
        client_body_buffer_size 16k;
        proxy_http_version 1.1;
        proxy_connect_timeout 2s;
        proxy_read_timeout 150s;
        proxy_next_upstream error timeout;
        proxy_next_upstream_tries 2;
{error_pages()}
        location / {{ proxy_pass http://rasa; }}
    }}
}}
"""
        )
        self.procs["nginx"] = Proc(
            "nginx",
            [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
            dict(os.environ),
            self.workdir / "nginx.out",
            None,
        )
        self.procs["nginx"].start()

    def wait_ready(self, names: list[str] | None = None, timeout: float = 420) -> None:
        deadline = time.monotonic() + timeout
        pending = list(names or self.procs)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                proc = self.procs[name]
                if not proc.alive():
                    raise RuntimeError(f"{name} exited; see {proc.log}")
                if proc.ready():
                    pending.remove(name)
            time.sleep(0.5)
        if pending:
            raise RuntimeError(f"not ready after {timeout}s: {pending}; logs in {self.workdir}")

    def restart(self, name: str) -> None:
        proc = self.procs[name]
        proc.kill()
        proc.start()
        self.wait_ready([name])

    def ensure_running(self) -> None:
        """Restarts whatever an earlier test left dead (a killed replica), restores cut connections."""
        for proxy in self.proxies.values():
            proxy.restore()
        dead = [name for name, proc in self.procs.items() if not proc.alive()]
        for name in dead:
            self.procs[name].start()
        if dead:
            self.wait_ready(dead)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill(signal.SIGTERM)
        for proxy in self.proxies.values():
            proxy.stop()
        for db in (self.kb_db, self.tracker_db):
            try:
                self._admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass

    # --- talking to it ----------------------------------------------------------------------------

    @property
    def front(self) -> str:
        return f"http://127.0.0.1:{self.front_port}"

    def replica_url(self, i: int) -> str:
        return self.procs[f"rasa-{i}"].ready_url.rstrip("/")

    def sender(self, kind: str) -> str:
        return f"{kind}-{self.run_id}-{uuid.uuid4().hex[:12]}"

    def post(
        self,
        base: str,
        payload: object = None,
        data: bytes | None = None,
        timeout: float = 180,
        session: requests.Session | None = None,
        **kwargs,
    ) -> Reply:
        http = session or requests
        t0 = time.monotonic()
        if data is None:
            response = http.post(f"{base}/webhooks/rest/webhook", json=payload, timeout=timeout, **kwargs)
        else:
            response = http.post(f"{base}/webhooks/rest/webhook", data=data, timeout=timeout, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return Reply(response.status_code, body, time.monotonic() - t0)

    def say(self, base: str, sender: str, message: str, **kwargs) -> Reply:
        return self.post(base, {"sender": sender, "message": message}, **kwargs)

    # --- reading it back --------------------------------------------------------------------------

    def tracker_engine(self):
        return create_engine(self.db_url(self.tracker_db), future=True)

    def events(self, sender_like: str) -> dict[str, list[tuple[str, str | None, str | None]]]:
        """sender -> [(type_name, text, action_name)] in the order they were stored."""
        import json

        engine = self.tracker_engine()
        rows: dict[str, list] = {}
        with engine.connect() as conn:
            result = conn.execute(
                text("SELECT sender_id, type_name, action_name, data FROM events WHERE sender_id LIKE :s ORDER BY id"),
                {"s": sender_like},
            )
            for sender, type_name, action_name, data in result:
                event_text = json.loads(data).get("text") if type_name in ("user", "bot") else None
                rows.setdefault(sender, []).append((type_name, event_text, action_name))
        engine.dispose()
        return rows

    def count_events(self, sender_like: str) -> int:
        engine = self.tracker_engine()
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM events WHERE sender_id LIKE :s"), {"s": sender_like}).scalar()
        engine.dispose()
        return int(n)

    def drafts(self, owner_like: str) -> dict[str, list[dict]]:
        """owner -> its drafts in the knowledge database, each with its number of audit entries."""
        engine = create_engine(self.db_url(self.kb_db), future=True)
        out: dict[str, list[dict]] = {}
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT d.owner, d.reference, d.status, d.member_id, d.member_dob, d.date_of_service, "
                    "d.site_of_care_reason, (SELECT count(*) FROM draft_events e WHERE e.draft_id = d.id) AS audit "
                    "FROM drafts d WHERE d.owner LIKE :o ORDER BY d.id"
                ),
                {"o": owner_like},
            ).mappings()
            for row in rows:
                out.setdefault(row["owner"], []).append(dict(row))
        engine.dispose()
        return out

    def logs(self) -> dict[Path, str]:
        files = [*self.workdir.glob("*.log"), *self.workdir.glob("*.out"), *(self.workdir / "nginx" / "logs").glob("*")]
        return {path: path.read_text(errors="replace") for path in files if path.is_file()}

    def upstream_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        access = self.workdir / "nginx" / "logs" / "access.log"
        for line in access.read_text().splitlines() if access.exists() else []:
            upstream = line.rsplit(" ", 1)[-1]
            counts[upstream] = counts.get(upstream, 0) + 1
        return counts

    # --- the deployed routing (added for tests/production/test_kill_midturn.py) ----------------------

    def start_hashed_front(self) -> str:
        """A second nginx in front of both replicas routed as deploy/nginx.conf does: consistent hash on the
        X-Sender-Id header, its error pages; every response names the replica that served it (X-Upstream).
        Returns its base URL (started once)."""
        if "nginx-hash" in self.procs:
            return self.hashed_front
        prefix = self.workdir / "nginx-hash"
        self.hashed_front_port = free_port()
        ports = [urlsplit(self.replica_url(i)).port for i in (1, 2)]
        (prefix / "nginx.conf").write_text(
            nginx_head(prefix)
            + f"""
    map $http_x_sender_id $priorauth_sender {{
        "~^[A-Za-z0-9._:@-]{{1,128}}$" $http_x_sender_id;
        default "";
    }}
    upstream rasa_rest {{
        hash $priorauth_sender consistent;
        server 127.0.0.1:{ports[0]} max_fails=1 fail_timeout=10s;
        server 127.0.0.1:{ports[1]} max_fails=1 fail_timeout=10s;
    }}
    server {{
        listen 127.0.0.1:{self.hashed_front_port};
        client_max_body_size 16k;
        proxy_http_version 1.1;
        proxy_connect_timeout 2s;
        proxy_read_timeout 150s;
        add_header X-Upstream $upstream_addr always;
{error_pages()}
        location / {{ proxy_pass http://rasa_rest; }}
    }}
}}
"""
        )
        self.procs["nginx-hash"] = Proc(
            "nginx-hash",
            [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
            dict(os.environ),
            self.workdir / "nginx-hash.out",
            None,
        )
        self.procs["nginx-hash"].start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.hashed_front}/", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        return self.hashed_front

    @property
    def hashed_front(self) -> str:
        return f"http://127.0.0.1:{self.hashed_front_port}"

    def replica_of(self, upstream: str | None) -> str | None:
        """ "rasa-1" / "rasa-2" for an upstream address (the last one tried, as nginx lists them)."""
        if not upstream:
            return None
        port = upstream.split(",")[-1].strip().rsplit(":", 1)[-1]
        for i in (1, 2):
            if str(urlsplit(self.replica_url(i)).port) == port:
                return f"rasa-{i}"
        return None


def nginx_head(prefix: Path) -> str:
    """The start of a test front's nginx.conf, up to inside `http {`: its directories under `prefix` (made here)
    and the access log of deploy/nginx.conf (no query strings, bodies or headers)."""
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    return f"""
daemon off;
user root;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    log_format priorauth '$remote_addr [$time_local] "$request_method $uri" $status '
                         '$body_bytes_sent $request_time $upstream_addr';
    access_log {prefix}/logs/access.log priorauth;"""


def error_pages() -> str:
    """The error-page block of deploy/nginx.conf (between its "error pages: begin/end" comments)."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    match = re.search(r"^[ \t]*# error pages: begin.*?\n(.*?)^[ \t]*# error pages: end", conf, re.MULTILINE | re.DOTALL)
    assert match, "deploy/nginx.conf has no error pages block"
    return match.group(1).replace("$priorauth_sender", "")
