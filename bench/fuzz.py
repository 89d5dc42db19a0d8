"""The long fuzz run of issue 17: 10,000 or more generated inputs over the REST webhook, socket.io and the agent
channel, against the production layer's two-replica cluster (PostgreSQL, Redis, nginx).

    bash scripts/bench.sh fuzz                          # 10,000 inputs (PRIORAUTH_FUZZ_INPUTS to change it)
    PRIORAUTH_FUZZ_INPUTS=20000 bash scripts/bench.sh fuzz

It runs tests/production/test_fuzz.py (the same strategies, checks and cluster as CI's short run) with the larger
count, starting scripts/services.sh's PostgreSQL and Redis when PRIORAUTH_TEST_PG_URL is not set (and stopping
them after), and returns the test's figures: counts by channel and status, 5xx, dead processes, events stored
from refused input, duration. The test's verdict is `passed`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, log

DEFAULT_INPUTS = 10_000
QUICK_INPUTS = 2_000


def _services_env() -> tuple[dict[str, str], bool]:
    """The environment with PostgreSQL and Redis for the cluster; True when this run started them."""
    env = dict(os.environ)
    if env.get("PRIORAUTH_TEST_PG_URL") and env.get("PRIORAUTH_TEST_REDIS_URL"):
        return env, False
    subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "start"], check=True, cwd=ROOT)
    for line in (ROOT / ".run" / "services" / "env").read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export ") :].partition("=")
            env[key] = value
    return env, True


def _table(by_channel: dict[str, dict[str, int]]) -> None:
    statuses = sorted({s for counts in by_channel.values() for s in counts}, key=int)
    print(f"\n{'channel':<10}" + "".join(f"{s:>8}" for s in statuses) + f"{'total':>9}")
    for channel, counts in by_channel.items():
        row = "".join(f"{counts.get(s, 0):>8}" for s in statuses)
        print(f"{channel:<10}{row}{sum(counts.values()):>9}")
    print("(status: HTTP status; socket.io: 200 answered or confirmed, else the refusal's status; 0: no answer)\n")


def run(model: Path | None = None, inputs: int | None = None) -> dict:
    n = inputs or int(os.environ.get("PRIORAUTH_FUZZ_INPUTS", DEFAULT_INPUTS))
    env, started = _services_env()
    env.update(PRIORAUTH_FUZZ_INPUTS=str(n), PRIORAUTH_REQUIRE_PRODUCTION="1", PYTHONPATH=str(ROOT))
    if model:
        env["PRIORAUTH_MODEL"] = str(model)
    figures_file = ROOT / "results" / "production" / "figures.json"
    figures_file.unlink(missing_ok=True)
    log(f"fuzz: {n} generated inputs against the two-replica cluster (tests/production/test_fuzz.py)")
    t0 = time.monotonic()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/production/test_fuzz.py",
                f"--basetemp=/tmp/priorauth-bench-fuzz-{os.getpid()}",
            ],
            cwd=ROOT,
            env=env,
        )
    finally:
        if started:
            subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "stop"], cwd=ROOT)
    figures = json.loads(figures_file.read_text()) if figures_file.exists() else {}
    out = {k.removeprefix("fuzz_"): v for k, v in figures.items() if k.startswith("fuzz_")}
    out.update(passed=result.returncode == 0, wall_seconds=round(time.monotonic() - t0, 1))
    out["cluster_start_seconds"] = figures.get("cluster_start_seconds")
    if out.get("by_channel_status"):
        _table(out["by_channel_status"])
    log(
        f"fuzz: {out.get('inputs')} inputs in {out.get('seconds')} s; 5xx {out.get('5xx')}, dead processes "
        f"{out.get('dead_processes')}, events from refused input {out.get('events_from_refused_input')}; "
        f"{'passed' if out['passed'] else 'FAILED'}"
    )
    if not out["passed"]:
        raise RuntimeError("the fuzz run failed: see its output above")
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(json.dumps(run(), indent=1))
