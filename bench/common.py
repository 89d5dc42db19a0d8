"""Shared by the benchmark parts: paths, progress output, percentiles, timed training, servers with
readiness timing and memory, and the REST client used by the quality and latency parts."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
VENV_BIN = Path(sys.executable).parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.servers import Assistant, free_port  # noqa: E402  (needs ROOT on sys.path)

_START = time.monotonic()


def log(message: str) -> None:
    """A progress line with the wall-clock time and the time since the run started."""
    elapsed = time.monotonic() - _START
    print(f"[{time.strftime('%H:%M:%S')} +{elapsed:5.0f}s] {message}", flush=True)


class Progress:
    """Prints `label done/total` about every `every` items and at the end."""

    def __init__(self, label: str, total: int, every: int | None = None):
        self.label, self.total, self.done = label, total, 0
        self.every = every or max(1, total // 10)
        self._lock = threading.Lock()

    def step(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            if self.done % self.every == 0 or self.done == self.total:
                log(f"  {self.label} {self.done}/{self.total}")


def percentile(values: list[float], p: float) -> float | None:
    """Linear-interpolated percentile (p in 0..100) of a list; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": _round(percentile(ms, 50)),
        "p95_ms": _round(percentile(ms, 95)),
        "p99_ms": _round(percentile(ms, 99)),
        "mean_ms": _round(sum(ms) / len(ms)) if ms else None,
        "max_ms": _round(max(ms)) if ms else None,
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def base_env() -> dict:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT),
        TF_CPP_MIN_LOG_LEVEL="2",
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
    )
    return env


# ---------------------------------------------------------------------------------------------- training
def files_digest(paths: list[Path]) -> str:
    """A hash of every file under the given files/folders (names and contents)."""
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts:
                continue
            digest.update(str(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f.name).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


_TRAINED_THIS_RUN: set[str] = set()


def train_model(
    name: str,
    config: Path,
    domain: Path,
    data: list[Path],
    extra_inputs: list[Path] = (),
    reuse: bool = False,
    out_dir: Path | None = None,
) -> dict:
    """Train a Rasa model with Rasa's training cache disabled, timing it.

    The model is named by a hash of its inputs and kept in bench/out/models with its timing. It is
    reused when `reuse` is set (quick runs) or when this run already trained it; otherwise it is
    trained again so that the training time is measured in this run.
    """
    out_dir = out_dir or OUT / "models"
    out_dir.mkdir(parents=True, exist_ok=True)
    code = [ROOT / "addons", ROOT / "priorauth" / "nlu", ROOT / "priorauth" / "kb"]
    digest = files_digest([config, domain, *data, *extra_inputs, *code])
    model = out_dir / f"{name}-{digest}.tar.gz"
    meta_file = out_dir / f"{name}-{digest}.json"
    if model.exists() and meta_file.exists() and (reuse or digest in _TRAINED_THIS_RUN):
        meta = json.loads(meta_file.read_text())
        meta["cached"] = True
        log(f"model {model.name}: reused (trained in {meta['train_seconds']} s on {meta['trained_at']})")
        return meta
    cache_dir = OUT / "tmp" / f"rasa-cache-{digest}"
    env = base_env()
    # Rasa caches trained components by fingerprint: disable it so that every training is a full one.
    env.update(RASA_MAX_CACHE_SIZE="0", RASA_CACHE_DIRECTORY=str(cache_dir))
    log_file = OUT / "logs" / f"train-{name}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    args = [
        str(VENV_BIN / "rasa"),
        "train",
        "--data",
        *map(str, data),
        "--domain",
        str(domain),
        "--config",
        str(config),
        "--out",
        str(out_dir),
        "--fixed-model-name",
        model.name.removesuffix(".tar.gz"),
    ]
    log(f"training {name} (Rasa's cache off; log: {log_file.relative_to(ROOT)})")
    start = time.monotonic()
    with open(log_file, "wb") as handle:
        result = subprocess.run(args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    seconds = round(time.monotonic() - start, 1)
    if result.returncode != 0 or not model.exists():
        raise RuntimeError(f"training {name} failed; see {log_file}")
    meta = {
        "model": str(model.relative_to(ROOT)),
        "train_seconds": seconds,
        "size_bytes": model.stat().st_size,
        "trained_at": time.strftime("%Y-%m-%d %H:%M"),
        "cached": False,
    }
    meta_file.write_text(json.dumps(meta, indent=2))
    _TRAINED_THIS_RUN.add(digest)
    log(f"trained {name} in {seconds} s ({model.stat().st_size / 1e6:.1f} MB)")
    return meta


def write_yaml(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- servers
@dataclass
class Servers:
    """The action server and the Rasa server (tests/servers.py's Assistant), or the Rasa server alone
    (`with_actions=False`, the framework floor), with the time each took to be ready and their memory."""

    name: str
    model: Path
    workdir: Path
    with_actions: bool = True
    extra_env: dict = field(default_factory=dict)
    tracker_store: str | None = None  # tests/servers.py's Assistant.tracker_store
    ready_seconds: dict = field(default_factory=dict)
    assistant: Assistant | None = None

    def start(self, timeout: float = 300) -> Servers:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for stale in ("tracker.db", "priorauth.db"):
            (self.workdir / stale).unlink(missing_ok=True)
        self.assistant = Assistant(
            model=self.model, workdir=self.workdir, extra_env=self.extra_env, tracker_store=self.tracker_store
        )
        if not self.with_actions:
            # Nothing listens there: the floor has no custom actions.
            self.assistant.actions_port = free_port()
        log(f"starting {self.name} servers (logs: {self.workdir.relative_to(ROOT)})")
        start = time.monotonic()
        pending = {"rasa": f"{self.url}/"}
        if self.with_actions:
            self.assistant.start_actions()
            pending["actions"] = f"http://127.0.0.1:{self.assistant.actions_port}/health"
        self.assistant.start_rasa()
        deadline = start + timeout
        while pending and time.monotonic() < deadline:
            for key, url in list(pending.items()):
                proc = self.assistant.processes.get(key)
                if proc is not None and proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{self.name}: {key} server exited; see {self.workdir / (key + '.log')}")
                try:
                    if requests.get(url, timeout=2).ok:
                        self.ready_seconds[key] = round(time.monotonic() - start, 1)
                        pending.pop(key)
                except requests.RequestException:
                    pass
            time.sleep(0.25)
        if pending:
            self.stop()
            raise RuntimeError(f"{self.name}: not ready after {timeout}s: {sorted(pending)}")
        log(f"{self.name} ready: " + ", ".join(f"{k} {v} s" for k, v in self.ready_seconds.items()))
        return self

    @property
    def url(self) -> str:
        return self.assistant.url

    def pids(self) -> dict[str, int]:
        return {k: p.pid for k, p in (self.assistant.processes if self.assistant else {}).items() if p.poll() is None}

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each server, its child processes included."""
        import psutil  # the bench extra: the unit tests import this module (bench.growth) without it

        out = {}
        for key, pid in self.pids().items():
            try:
                proc = psutil.Process(pid)
                total = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                out[key] = round(total / 2**20, 1)
            except psutil.Error:
                continue
        return out

    def stop(self) -> None:
        if self.assistant is not None:
            self.assistant.stop()


class RssSampler:
    """Samples the servers' RSS in the background; keeps the peak of each."""

    def __init__(self, servers: list[Servers], interval: float = 0.5):
        self.servers, self.interval = servers, interval
        self.peak: dict[str, dict[str, float]] = {s.name: {} for s in servers}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for s in self.servers:
                for key, mb in s.rss_mb().items():
                    self.peak[s.name][key] = max(self.peak[s.name].get(key, 0.0), mb)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def ask(session: requests.Session, url: str, sender: str, text: str, timeout: float = 120) -> list[dict]:
    response = session.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=timeout)
    response.raise_for_status()
    return response.json()


def reply_text(replies: list[dict]) -> str:
    return "\n".join(m["text"] for m in replies if m.get("text"))


def load_questions(path: Path | None = None) -> list[dict]:
    data = yaml.safe_load((path or BENCH / "questions.yml").read_text(encoding="utf-8"))
    return data["questions"]
