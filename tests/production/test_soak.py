"""The soak, short (bench/soak.py; the 30-minute run is `bash scripts/bench.sh soak`): 20 concurrent conversations
for PRIORAUTH_SOAK_TEST_SECONDS (150) on the session's cluster, with one outage of each backend (action server
killed and restarted, knowledge-base database, tracker database and Redis cut away and restored).

Asserted: 0 lost and 0 duplicated events (every message Rasa answered is stored once, in order), every process
alive at the end, memory and connections flat. The tolerances are what a 2.5-minute run on a loaded 2-core machine
can hold without flaking, while still catching a leak:
- memory: the median of the last 15 s within 20 % of the median of the first window after warm-up (the 30-minute
  soak holds 10 %): RSS, and for PostgreSQL its private memory (its backends' RSS counts the shared buffer pages
  they touched, which grow with the tracker table; bench/soak.py). The processes are warm (the session's other
  tests ran first) and move by a few percent in 2.5 minutes; a leak per turn or per outage grows with time, and the
  30-minute run is where 10 % is decided.
- connections: counted with no turn in flight (load paused before the first outage and after the run), so only
  pooled and leaked connections count, not the 0-20 requests in flight at a sampling instant. Flat: at most
  2 + 25 % more after the four outages than before them. Pools legitimately grow to the highest concurrency they
  have seen, and the burst of retries after an outage can set a new one (seen: a replica's Redis pool 14 -> 17); an
  engine dropped without being disposed (issue 17) keeps its whole pool per outage, dead sockets in CLOSE_WAIT
  included, which is more than that on the action servers' 2-4 and the replicas' 15-25.
"""

from __future__ import annotations

import os

from bench import soak
from tests.production.cluster import add_figures

SECONDS = float(os.environ.get("PRIORAUTH_SOAK_TEST_SECONDS", 150))
RSS_TOLERANCE = 0.20
CONNECTION_SLACK = 2
CONNECTION_GROWTH = 0.25


def test_soak_short(live, tmp_path):
    figures = soak.run(
        live.model,
        seconds=SECONDS,
        conversations=20,
        interval=3.0,
        tolerance=RSS_TOLERANCE,
        slack_connections=CONNECTION_SLACK,
        chart=tmp_path / "soak.png",
        idle_check=True,
        cluster=live,
    )
    soak.print_figures(figures)
    memory = {
        name: {**entry[entry["memory_checked"]], "measure": entry["memory_checked"]}
        for name, entry in figures["flat"].items()
    }
    idle = figures["idle_connections"]
    add_figures(
        soak_short={
            "seconds": SECONDS,
            "turns": figures["turns"],
            "turn_outcomes": figures["turn_outcomes"],
            "events": {k: v for k, v in figures["events"].items() if k != "examples"},
            "memory_mb_first_last": {
                n: (r["measure"], r["first"], r["last"], f"{r['change_pct']}%") for n, r in memory.items()
            },
            "idle_connections_before_after": {n: (v["before"], v["after"]) for n, v in idle.items()},
            "outages": [(o["backend"], o["turns"]) for o in figures["outages"]],
        }
    )
    events = figures["events"]
    assert events["lost"] == 0 and events["duplicated"] == 0, events
    assert all(figures["processes_alive_at_end"].values()), figures["processes_alive_at_end"]
    assert figures["turn_outcomes"].get("empty", 0) == 0, figures["turn_outcomes"]
    not_flat = {n: r for n, r in memory.items() if not r["flat"]}
    assert not not_flat, f"memory not within {RSS_TOLERANCE:.0%}: {not_flat}"
    grown = {n: v for n, v in idle.items() if v["after"] > v["before"] * (1 + CONNECTION_GROWTH) + CONNECTION_SLACK}
    assert not grown, f"idle connections grew by more than {CONNECTION_GROWTH:.0%} + {CONNECTION_SLACK}: {grown}"
