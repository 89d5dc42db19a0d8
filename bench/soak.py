"""Soak: the production layout (tests/production/cluster.py: 2 Rasa replicas, 2 action servers, nginx, PostgreSQL,
Redis) under 20 concurrent scripted conversations for 30 minutes, with one outage of each backend on the way.

    python bench/soak.py [--seconds 1800] [--conversations 20]      (or: bash scripts/bench.sh soak)

Every `interval` seconds it samples the resident memory (RSS) and the open TCP connections (every state but
LISTEN) of every process: both Rasa replicas, both action servers, nginx (master and workers), PostgreSQL (the
postmaster, its auxiliary processes and the backends of the soak's two databases; connections = those backends)
and Redis. After the run it compares, per process, the median of the first window after warm-up with the median
of the last window ("flat": within `tolerance`, 10 %), counts every user message sent against the tracker store
(0 lost, 0 duplicated) and draws bench/charts/soak.png.

Timeline, as fractions of the duration: warm-up until 0.15, the first window 0.15-0.25, the outages (action
server actions-1 killed and restarted, then the knowledge-base database, the tracker database and Redis cut away
at their proxies and restored) starting at 0.30, 0.40, 0.50 and 0.60, and the last window 0.90-1.0. A restarted
action server is a new process: its RSS is compared as any other's (it has warmed up again by the last window).

PostgreSQL and Redis: PRIORAUTH_TEST_PG_URL / PRIORAUTH_TEST_REDIS_URL if set (scripts/services.sh env), else
their own instance, started under bench/out/soak/services and stopped at the end (so that nothing else counts
in their memory and connections).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from tests.production.cluster import UNAVAILABLE, Cluster  # noqa: E402
from tests.production.conversations import REFERENCE, Talk, check_reply  # noqa: E402
from tests.servers import ROOT, find_model  # noqa: E402

OUT = ROOT / "bench" / "out" / "soak"
CHART = ROOT / "bench" / "charts" / "soak.png"
WARMUP, FIRST_END, LAST_START = 0.15, 0.25, 0.90
OUTAGES = [("action server", 0.30), ("knowledge-base DB", 0.40), ("tracker DB", 0.50), ("Redis", 0.60)]
PROCESSES = ["rasa-1", "rasa-2", "actions-1", "actions-2", "nginx", "postgresql", "redis"]


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------------------------------------ services
def services() -> tuple[str, str, Path | None]:
    """(PostgreSQL admin URL, Redis URL, services dir to stop at the end or None)."""
    if os.environ.get("PRIORAUTH_TEST_PG_URL") and os.environ.get("PRIORAUTH_TEST_REDIS_URL"):
        return os.environ["PRIORAUTH_TEST_PG_URL"], os.environ["PRIORAUTH_TEST_REDIS_URL"], None
    run_dir = OUT / "services"
    env = dict(os.environ, PRIORAUTH_SERVICES_DIR=str(run_dir))
    subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "start"], env=env, check=True, cwd=ROOT)
    values = {}
    for line in (run_dir / "env").read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line[len("export ") :].split("=", 1)
            values[key] = value.strip("'\"")
    return values["PRIORAUTH_TEST_PG_URL"], values["PRIORAUTH_TEST_REDIS_URL"], run_dir


def stop_services(run_dir: Path | None) -> None:
    if run_dir is not None:
        env = dict(os.environ, PRIORAUTH_SERVICES_DIR=str(run_dir))
        subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "stop"], env=env, cwd=ROOT)


# ------------------------------------------------------------------------------------------------ sampling
def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _measure(procs: list[psutil.Process]) -> tuple[float, int, float]:
    """(RSS MB, open connections, private MB = RSS minus its file-backed and shared-memory pages)."""
    rss, conns, private = 0, 0, 0
    for proc in procs:
        try:
            memory = proc.memory_info()
            rss += memory.rss
            private += memory.rss - memory.shared
            conns += sum(1 for c in proc.net_connections(kind="inet") if c.status != psutil.CONN_LISTEN)
        except psutil.Error:
            pass
    return rss / 2**20, conns, private / 2**20


def _listener(port: int) -> int | None:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


class Sampler:
    """Every `interval` s: RSS (MB) and open connections of each process of the cluster, in the background."""

    def __init__(self, cluster: Cluster, interval: float):
        self.cluster, self.interval = cluster, interval
        self.samples: list[dict] = []  # {"t": seconds, name: (rss_mb, connections)}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="soak-sampler")
        self._pg_pid = _listener(cluster._pg()[1])
        self._redis_pid = _listener(urlsplit(cluster.redis_url).port or 6379)
        self._admin = create_engine(cluster.db_url("postgres"), future=True, pool_size=1, max_overflow=0)
        self.t0 = time.monotonic()

    def _postgres(self) -> tuple[float, int]:
        with self._admin.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT pid, datname FROM pg_stat_activity "
                    "WHERE datname IN (:kb, :tracker) OR (datname IS NULL AND backend_type <> 'client backend')"
                ),
                {"kb": self.cluster.kb_db, "tracker": self.cluster.tracker_db},
            ).all()
        pids = {pid for pid, _db in rows}
        clients = sum(1 for _pid, db in rows if db)
        procs = [p for p in _tree(self._pg_pid) if p.pid == self._pg_pid or p.pid in pids] if self._pg_pid else []
        rss, _, private = _measure(procs)
        return rss, clients, private

    def sample(self) -> dict:
        row: dict = {"t": round(time.monotonic() - self.t0, 1)}
        for name in ("rasa-1", "rasa-2", "actions-1", "actions-2", "nginx"):
            proc = self.cluster.procs[name]
            row[name] = _measure(_tree(proc.popen.pid)) if proc.alive() else (0.0, 0, 0.0)
        try:
            row["postgresql"] = self._postgres()
        except Exception:  # noqa: BLE001 - a sample is best effort
            row["postgresql"] = (float("nan"), 0, float("nan"))
        row["redis"] = _measure(_tree(self._redis_pid)) if self._redis_pid else (0.0, 0, 0.0)
        return row

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._admin.dispose()


# ------------------------------------------------------------------------------------------------ load
@dataclass
class Outcomes:
    lock: threading.Lock = field(default_factory=threading.Lock)
    talks: list[Talk] = field(default_factory=list)
    acknowledged: dict = field(
        default_factory=dict
    )  # sender -> messages answered normally (HTTP 200, not "unavailable")
    counts: dict = field(default_factory=dict)  # outcome -> turns
    seconds: list[float] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (t, outcome) of every turn
    in_flight: int = 0
    pause: threading.Event = field(default_factory=threading.Event)  # set: no new turns (an idle measurement)

    def add(self, t: float, outcome: str, seconds: float | None) -> None:
        with self.lock:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            self.timeline.append((t, outcome))
            if seconds is not None and outcome in ("right", "wrong"):
                self.seconds.append(seconds)


def converse(cluster: Cluster, index: int, stop: threading.Event, out: Outcomes, t0: float, think: float) -> None:
    """Conversation after conversation (the production layer's scripts, one in six a draft request) until stopped."""
    rng = random.Random(index)
    n = 0
    with requests.Session() as session:
        while not stop.is_set():
            talk = Talk.planned(index + 20 * n, cluster.sender("soak"))
            n += 1
            with out.lock:
                out.talks.append(talk)
                out.acknowledged[talk.sender] = []
            for message, must, must_not in talk.script:
                while out.pause.is_set() and not stop.is_set():
                    stop.wait(0.2)
                if stop.is_set():
                    break
                with out.lock:
                    out.in_flight += 1
                try:
                    reply = cluster.say(cluster.front, talk.sender, message, session=session, timeout=180)
                except requests.RequestException as exc:
                    talk.turns.append((message, None, type(exc).__name__))
                    out.add(time.monotonic() - t0, "no answer", None)
                    continue
                finally:
                    with out.lock:
                        out.in_flight -= 1
                if talk.reference is None and (found := REFERENCE.search(reply.text)):
                    talk.reference = found.group(0)
                must = [fact.replace("{ref}", talk.reference or "DR-?") for fact in must]
                if reply.status != 200:
                    outcome = f"HTTP {reply.status}"
                elif not reply.texts:
                    outcome = "empty"
                elif UNAVAILABLE in reply.text:
                    outcome = "unavailable"
                else:
                    outcome = "right" if check_reply(reply.texts, must, must_not) is None else "wrong"
                talk.turns.append((message, reply, None))
                if outcome in ("right", "wrong"):
                    out.acknowledged[talk.sender].append(message)
                out.add(time.monotonic() - t0, outcome, reply.seconds)
                stop.wait(think * (0.5 + rng.random()))


def outage(cluster: Cluster, which: str, seconds: float) -> None:
    if which == "action server":
        cluster.procs["actions-1"].kill()
        time.sleep(seconds)
        cluster.procs["actions-1"].start()
        cluster.wait_ready(["actions-1"])
        return
    proxy = {"knowledge-base DB": "kb", "tracker DB": "tracker", "Redis": "redis"}[which]
    cluster.proxies[proxy].cut()
    time.sleep(seconds)
    cluster.proxies[proxy].restore()


def idle_connections(sampler: Sampler, out: Outcomes, settle: float = 3.0) -> dict[str, int]:
    """Open connections per process with no turn in flight: pools and leaks only (the median of 3 samples)."""
    deadline = time.monotonic() + 120
    while out.in_flight and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(settle)
    rows = []
    for _ in range(3):
        rows.append(sampler.sample())
        time.sleep(1)
    return {name: int(statistics.median(r[name][1] for r in rows)) for name in PROCESSES}


# ------------------------------------------------------------------------------------------------ checks
def event_check(cluster: Cluster, out: Outcomes) -> dict:
    """Every message answered normally is stored once, in order; nothing stored twice; nothing stored unsent."""
    stored = cluster.events(f"soak-{cluster.run_id}-%")
    lost = duplicated = sent = stored_users = 0
    examples = []
    for talk in out.talks:
        users = [t for kind, t, _ in stored.get(talk.sender, []) if kind == "user"]
        stored_users += len(users)
        messages = talk.sent
        sent += len(messages)
        # users must be a subsequence of the messages sent (a turn refused for an outage may be missing)
        i = 0
        matched = []
        for u in users:
            while i < len(messages) and messages[i] != u:
                i += 1
            if i == len(messages):
                duplicated += 1
                examples.append(f"{talk.sender}: stored {u!r} twice or unsent")
                continue
            matched.append(i)
            i += 1
        kept = {messages[j] for j in matched}
        missing = [m for m in out.acknowledged.get(talk.sender, []) if m not in kept]
        lost += len(missing)
        examples += [f"{talk.sender}: acknowledged {m!r} not stored" for m in missing]
    return {
        "messages_sent": sent,
        "acknowledged": sum(len(v) for v in out.acknowledged.values()),
        "user_events_stored": stored_users,
        "lost": lost,
        "duplicated": duplicated,
        "examples": examples[:10],
    }


def flatness(samples: list[dict], duration: float, tolerance: float, slack_connections: int) -> dict:
    """Per process: median RSS, private memory and connections in the first window after warm-up and in the last.

    The memory checked is RSS, except for PostgreSQL: the RSS of its backends counts every page of the shared
    buffer cache they have touched, which grows with the tracker table the soak fills (up to shared_buffers per
    backend) and falls back when an outage replaces the backends; its private memory (RSS minus shared pages) is
    what a leak would grow. Both are reported."""
    first = [s for s in samples if WARMUP * duration <= s["t"] < FIRST_END * duration]
    last = [s for s in samples if LAST_START * duration <= s["t"] <= duration]
    result = {}
    for name in PROCESSES:
        entry = {}
        for k, label in ((0, "rss_mb"), (2, "private_mb"), (1, "connections")):
            a = statistics.median(s[name][k] for s in first) if first else float("nan")
            b = statistics.median(s[name][k] for s in last) if last else float("nan")
            change = (b - a) / a if a else 0.0
            # Connections are small integers: growth within `slack_connections` of the first median also counts as
            # flat (2 -> 3 is +50 % but no leak). A leak grows with time and outages and exceeds both.
            limit = a * (1 + tolerance) + (slack_connections if k == 1 else 0)
            entry[label] = {
                "first": round(a, 1),
                "last": round(b, 1),
                "change_pct": round(100 * change, 1),
                "flat": bool(b <= limit),
            }
        checked = "private_mb" if name == "postgresql" else "rss_mb"
        entry["memory_checked"] = checked
        entry["flat"] = entry[checked]["flat"] and entry["connections"]["flat"]
        result[name] = entry
    return result


# ------------------------------------------------------------------------------------------------ chart
def draw(samples: list[dict], outages: list[dict], duration: float, path: Path) -> Path:
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import matplotlib.pyplot as plt

        fig, (ax_rss, ax_conn) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
        minutes = [s["t"] / 60 for s in samples]
        for name in PROCESSES:
            ax_rss.plot(minutes, [s[name][0] for s in samples], label=name, linewidth=1)
            if name == "postgresql":
                ax_rss.plot(
                    minutes, [s[name][2] for s in samples], label="postgresql private", linewidth=1, linestyle="--"
                )
            ax_conn.plot(minutes, [s[name][1] for s in samples], label=name, linewidth=1)
        for ax in (ax_rss, ax_conn):
            for o in outages:
                ax.axvspan(o["start"] / 60, o["end"] / 60, color="red", alpha=0.12)
            for frac in (WARMUP, FIRST_END, LAST_START):
                ax.axvline(frac * duration / 60, color="grey", linestyle=":", linewidth=0.8)
            ax.grid(alpha=0.3)
        ymax = ax_rss.get_ylim()[1]
        for o in outages:
            ax_rss.text(o["start"] / 60, ymax * 0.97, o["backend"], fontsize=7, va="top", rotation=90)
        ax_rss.set_ylabel("RSS (MB; dashed: PostgreSQL's private memory)")
        ax_conn.set_ylabel("open TCP connections")
        ax_conn.set_xlabel("minutes (red: outages; dotted: warm-up end, first window end, last window start)")
        ax_rss.legend(fontsize=8, ncol=4, loc="center right")
        ax_rss.set_title("Soak: 2 replicas, 20 concurrent conversations, one outage of each backend")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
        plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------ run
def run(
    model: Path | None = None,
    seconds: float = 1800,
    conversations: int = 20,
    interval: float = 5.0,
    think: float = 1.0,
    tolerance: float = 0.10,
    slack_connections: int = 2,
    outage_seconds: float | None = None,
    workdir: Path | None = None,
    chart: Path | None = CHART,
    idle_check: bool = False,
    cluster: Cluster | None = None,
) -> dict:
    """The soak on its own cluster (started and stopped here), or on `cluster` (left running)."""
    model = model or find_model()
    outage_seconds = outage_seconds or max(5.0, min(30.0, 0.04 * seconds))
    own, own_services = cluster is None, None
    if own:
        pg_url, redis_url, own_services = services()
        workdir = workdir or OUT / time.strftime("run-%Y%m%d-%H%M%S")
        cluster = Cluster(model=model, workdir=workdir, pg_admin_url=pg_url, redis_url=redis_url, debug_replica=False)
    workdir = workdir or cluster.workdir
    try:
        if own:
            log(f"starting the cluster (logs in {workdir})")
            cluster.start()
        log(f"{conversations} conversations for {seconds:.0f} s; samples every {interval} s")
        out, stop, outages = Outcomes(), threading.Event(), []
        with Sampler(cluster, interval) as sampler:
            t0 = sampler.t0
            workers = [
                threading.Thread(target=converse, args=(cluster, i, stop, out, t0, think), daemon=True)
                for i in range(conversations)
            ]
            for w in workers:
                w.start()
            idle: dict[str, dict] = {}
            if idle_check:  # load paused at the end of the first window, before any outage
                time.sleep(max(0.0, t0 + FIRST_END * seconds - time.monotonic()))
                out.pause.set()
                idle["before"] = idle_connections(sampler, out)
                out.pause.clear()
            for backend, at in OUTAGES:
                time.sleep(max(0.0, t0 + at * seconds - time.monotonic()))
                start = time.monotonic() - t0
                log(f"outage: {backend} for {outage_seconds:.0f} s")
                outage(cluster, backend, outage_seconds)
                end = time.monotonic() - t0
                outages.append({"backend": backend, "start": round(start, 1), "end": round(end, 1)})
            time.sleep(max(0.0, t0 + seconds - time.monotonic()))
            stop.set()
            for w in workers:
                w.join(200)
            if idle_check:
                idle["after"] = idle_connections(sampler, out)
        for o in outages:  # what the turns during each outage got
            during = [oc for t, oc in out.timeline if o["start"] <= t <= o["end"] + 2]
            o["turns"] = {k: during.count(k) for k in sorted(set(during))}
        events = event_check(cluster, out)
        flat = flatness(sampler.samples, seconds, tolerance, slack_connections)
        lat = sorted(out.seconds)
        figures = {
            "seconds": seconds,
            "conversations_concurrent": conversations,
            "conversations_played": len(out.talks),
            "turns": sum(out.counts.values()),
            "turn_outcomes": dict(sorted(out.counts.items())),
            "turn_seconds_p50": round(lat[len(lat) // 2], 2) if lat else None,
            "turn_seconds_p95": round(lat[int(len(lat) * 0.95)], 2) if lat else None,
            "outages": outages,
            "events": events,
            "samples": len(sampler.samples),
            "sample_interval_seconds": interval,
            "tolerance_pct": round(100 * tolerance, 1),
            "connection_slack": slack_connections,
            "flat": flat,
            "all_flat": all(entry["flat"] for entry in flat.values()),
            "processes_alive_at_end": {n: p.alive() for n, p in cluster.procs.items()},
        }
        if idle:
            figures["idle_connections"] = {
                n: {"before": idle["before"][n], "after": idle["after"][n]} for n in PROCESSES
            }
        OUT.mkdir(parents=True, exist_ok=True)
        (workdir / "samples.json").write_text(json.dumps(sampler.samples))
        if chart is not None:
            path = draw(sampler.samples, outages, seconds, chart)
            figures["chart"] = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        return figures
    finally:
        if own:
            cluster.stop()
            stop_services(own_services)


def print_figures(figures: dict) -> None:
    log(
        f"{figures['conversations_played']} conversations, {figures['turns']} turns in {figures['seconds']:.0f} s: "
        f"{figures['turn_outcomes']}; p50 {figures['turn_seconds_p50']} s, p95 {figures['turn_seconds_p95']} s"
    )
    for o in figures["outages"]:
        log(f"  outage {o['backend']}: {o['start']}-{o['end']} s; turns then: {o['turns']}")
    e = figures["events"]
    log(
        f"events: {e['messages_sent']} sent, {e['acknowledged']} acknowledged, {e['user_events_stored']} stored; "
        f"lost {e['lost']}, duplicated {e['duplicated']}"
    )
    log(
        f"{'process':12} {'RSS first':>10} {'last':>7} {'change':>7}   {'private first':>13} {'last':>7} {'change':>7}"
        f"   {'conn first':>10} {'last':>5} {'change':>7}"
    )
    for name, entry in figures["flat"].items():
        r, m, c = entry["rss_mb"], entry["private_mb"], entry["connections"]
        mark = {
            key: "" if entry[key]["flat"] or entry["memory_checked"] != key else "!" for key in ("rss_mb", "private_mb")
        }
        log(
            f"{name:12} {r['first']:>10} {r['last']:>7} {r['change_pct']:>6}%{mark['rss_mb']:1}  "
            f"{m['first']:>13} {m['last']:>7} {m['change_pct']:>6}%{mark['private_mb']:1}  "
            f"{c['first']:>10} {c['last']:>5} {c['change_pct']:>6}%{'' if c['flat'] else '!'}"
            f"   (memory checked: {entry['memory_checked']})"
        )
    log(f"all flat within {figures['tolerance_pct']} %: {figures['all_flat']}; chart {figures.get('chart')}")


def part(model: Path, quick: bool) -> dict:
    """bench/run.py's part "soak": the figures, printed; fails the part when not flat or an event is lost."""
    seconds = float(os.environ.get("PRIORAUTH_SOAK_SECONDS", 180 if quick else 1800))
    figures = run(model, seconds, chart=OUT / "soak.png" if quick else CHART)
    print_figures(figures)
    (OUT / "figures.json").write_text(json.dumps(figures, indent=1))  # kept when the part fails below
    events = figures["events"]
    if not figures["all_flat"] or events["lost"] or events["duplicated"]:
        raise RuntimeError(
            f"soak: flat {figures['all_flat']}, lost {events['lost']}, duplicated {events['duplicated']}"
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("PRIORAUTH_SOAK_SECONDS", 1800)))
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args(argv)
    figures = run(args.model, args.seconds, args.conversations, args.interval)
    print_figures(figures)
    print(json.dumps(figures, indent=1))
    return 0 if figures["all_flat"] and not figures["events"]["lost"] and not figures["events"]["duplicated"] else 1


if __name__ == "__main__":
    sys.exit(main())
