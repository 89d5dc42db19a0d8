"""Starts the real action server and Rasa server on free ports for end-to-end tests, and stops them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_model() -> Path | None:
    if os.environ.get("PRIORAUTH_MODEL"):
        return Path(os.environ["PRIORAUTH_MODEL"])
    models = sorted((ROOT / "models").glob("priorauth-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


@dataclass
class Assistant:
    """Both servers, with their ports, environment and logs in ``workdir``."""

    model: Path
    workdir: Path
    extra_env: dict = field(default_factory=dict)
    rasa_port: int = field(default_factory=free_port)
    actions_port: int = field(default_factory=free_port)
    processes: dict = field(default_factory=dict)
    # endpoints.yml's tracker_store section (YAML, indented); None: SQLite in workdir, the embedded default.
    tracker_store: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            PYTHONPATH=str(ROOT),
            TF_CPP_MIN_LOG_LEVEL="2",
            RASA_TELEMETRY_ENABLED="false",
            SQLALCHEMY_SILENCE_UBER_WARNING="1",
            PRIORAUTH_DATABASE_URL=f"sqlite:///{self.workdir / 'priorauth.db'}",
            PRIORAUTH_RUN_DIR=str(self.workdir),
        )
        env.update(self.extra_env)
        return env

    def start(self) -> Assistant:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.start_actions()
        self.start_rasa()
        self.wait_ready()
        return self

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the process's life
        self.processes[name] = subprocess.Popen(
            args, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_actions(self) -> None:
        self._spawn(
            "actions",
            [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(self.actions_port)],
        )

    def endpoints(self) -> Path:
        """endpoints.yml's embedded defaults with this run's action server port and tracker file."""
        path = self.workdir / "endpoints.yml"
        path.write_text(
            f"action_endpoint:\n  url: http://127.0.0.1:{self.actions_port}/webhook\n\n"
            "tracker_store:\n"
            + (self.tracker_store or f"  type: SQL\n  dialect: sqlite\n  db: {self.workdir / 'tracker.db'}\n")
        )
        return path

    def start_rasa(self) -> None:
        self._spawn(
            "rasa",
            [
                str(VENV_BIN / "rasa"),
                "run",
                "--model",
                str(self.model),
                "--port",
                str(self.rasa_port),
                "--endpoints",
                str(self.endpoints()),
                "--credentials",
                "credentials.yml",
                "--cors",
                "*",
            ],
        )

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        pending = {"rasa": f"{self.url}/", "actions": f"http://127.0.0.1:{self.actions_port}/health"}
        while pending and time.monotonic() < deadline:
            for name, url in list(pending.items()):
                if self.processes.get(name) and self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} server exited; see {self.workdir / (name + '.log')}")
                try:
                    if requests.get(url, timeout=2).ok:
                        pending.pop(name)
                except requests.RequestException:
                    pass
            time.sleep(0.5)
        if pending:
            raise RuntimeError(f"servers not ready after {timeout}s: {sorted(pending)}; logs in {self.workdir}")

    def stop(self, name: str | None = None) -> None:
        for key in [name] if name else list(self.processes):
            proc = self.processes.pop(key, None)
            if proc and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()

    def restart_rasa(self) -> None:
        self.stop("rasa")
        self.start_rasa()
        self.wait_ready()

    def ask(self, sender: str, text: str, headers: dict | None = None) -> list[dict]:
        response = requests.post(
            f"{self.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, headers=headers, timeout=60
        )
        response.raise_for_status()
        return response.json()

    def say(self, sender: str, text: str) -> str:
        """The bot's text replies to one message, joined; fails on a silent bot."""
        replies = self.ask(sender, text)
        texts = [m["text"] for m in replies if m.get("text")]
        assert texts, f"no text reply to {text!r}: {replies}"
        return "\n".join(texts)

    def payload(self, sender: str, text: str) -> tuple[str, dict | None]:
        replies = self.ask(sender, text)
        texts = "\n".join(m["text"] for m in replies if m.get("text"))
        custom = next((m["custom"] for m in replies if m.get("custom")), None)
        return texts, custom
