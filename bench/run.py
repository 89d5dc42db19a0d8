"""Runs the benchmarks and prints their figures: answer quality (vs. keyword search), NLU cross-validation,
latency and throughput (vs. the framework floor), cost of growth, and resources.

    python bench/run.py [quality|nlu|latency|growth|resources ...] [--quick] [--model PATH]

With no part named, all run. Figures go to bench/out/results.json (parts run now replace their previous
figures; others are kept) and charts to bench/charts/ (bench/out/charts/ for --quick runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import cpu_profile as profiling  # noqa: E402
from bench import fuzz, growth, latency, nlu_cv, quality, report, resources  # noqa: E402
from bench import soak as _soak  # noqa: E402
from bench.common import BENCH, OUT, ROOT, RssSampler, Servers, log, train_model  # noqa: E402

PARTS = ["nlu", "quality", "latency", "growth", "resources"]
# Run only when named: they need more than the bench set (py-spy) or take long.
EXTRA_PARTS = ["profile", "fuzz", "soak"]
RESULTS = OUT / "results.json"


class Context:
    """What the parts share in one run: the model, servers started once, memory snapshots, trainings."""

    def __init__(self, quick: bool, model: Path | None):
        self.quick = quick
        self._model = model
        self.servers: dict[str, Servers] = {}
        self.rss_after_start: dict[str, dict] = {}
        self.peak_rss: dict[str, dict] = {}
        self.floor_training: dict | None = None

    def train_main(self) -> dict:
        return train_model(
            "priorauth",
            ROOT / "config.yml",
            ROOT / "domain.yml",
            [ROOT / "data" / "nlu", ROOT / "data" / "rules", ROOT / "data" / "stories"],
            extra_inputs=[ROOT / "data" / "authorization"],
            reuse=self.quick,
        )

    def model(self) -> Path:
        if self._model is None:
            self._model = ROOT / self.train_main()["model"]
        return self._model

    def start(self, name: str, model: Path, **kwargs) -> Servers:
        if name not in self.servers:
            servers = Servers(name, model, OUT / "servers" / name, **kwargs).start()
            self.servers[name] = servers
            self.rss_after_start[name] = servers.rss_mb()
        return self.servers[name]

    def assistant(self) -> Servers:
        return self.start("assistant", self.model())

    def floor(self) -> Servers:
        self.floor_training = latency.train_floor(reuse=self.quick)
        return self.start("floor", ROOT / self.floor_training["model"], with_actions=False)

    def stop(self, name: str) -> None:
        servers = self.servers.pop(name, None)
        if servers:
            servers.stop()

    def close(self) -> None:
        for name in list(self.servers):
            self.stop(name)


# ------------------------------------------------------------------------------------------------ parts
def part_nlu(ctx: Context) -> dict:
    # The question-set intent accuracy loads the model in-process: full runs only.
    return nlu_cv.run(ctx.quick, model=None if ctx.quick else ctx.model())


def part_quality(ctx: Context) -> dict:
    assistant = ctx.assistant()
    log(f"answer quality: {'quick subset of ' if ctx.quick else ''}the question set via REST, and BM25")
    summary, details = quality.run(assistant.url, quick=ctx.quick)
    (OUT / "quality_answers.json").write_text(json.dumps(details, indent=1, ensure_ascii=False))
    log(
        f"  assistant {summary['assistant_accuracy']:.1%}, BM25 {summary['bm25_accuracy']:.1%} "
        f"({summary['n_questions']} questions; answers in bench/out/quality_answers.json)"
    )
    return summary


def part_latency(ctx: Context) -> dict:
    floor = ctx.floor()
    assistant = ctx.assistant()
    log(
        "latency: REST turns at "
        + ", ".join(map(str, latency.LEVELS["quick" if ctx.quick else "full"]))
        + " concurrent conversations, assistant and floor alternating"
    )
    with RssSampler([assistant, floor]) as sampler:
        runs = latency.compare(
            {"assistant": assistant.url, "floor": floor.url},
            ctx.quick,
            pids={"assistant": assistant.pids(), "floor": floor.pids()},
        )
    for name, peaks in sampler.peak.items():
        ctx.peak_rss[name] = peaks
    ctx.stop("floor")
    return {
        "assistant": runs["assistant"],
        "floor": runs["floor"],
        "ratio_to_floor": latency.ratios(runs["assistant"], runs["floor"]),
        "floor_setup": "config.yml minus the knowledge-base extractor (RulePolicy fallback: action_default_fallback), "
        "bench/floor domain (greet, goodbye), same endpoints.yml (SQLite tracker store) and REST channel",
    }


def part_growth(ctx: Context) -> dict:
    grown_dir = OUT / "growth" / "kb-10x"
    log("growth: generating the 10x knowledge base")
    kb = growth.grow_kb(10, grown_dir)
    log(f"  {kb['procedures']} procedures, {kb['codes']} codes in {kb['dir']}")
    in_process = growth.compare_in_process(grown_dir, ctx.quick)
    base_training = ctx.train_main()
    big_training = train_model(
        "priorauth-10x",
        growth.grown_config(grown_dir),
        ROOT / "domain.yml",
        [ROOT / "data" / "nlu", ROOT / "data" / "rules", ROOT / "data" / "stories"],
        extra_inputs=[grown_dir],
        reuse=ctx.quick,
    )
    assistant = ctx.assistant()
    big = ctx.start("assistant-10x", ROOT / big_training["model"], extra_env={"PRIORAUTH_KB_DIR": str(grown_dir)})
    log("growth: REST latency at 1x and 10x knowledge base, alternating")
    # Three alternating rounds at 1 conversation: one round's p50 moves by 10-15 % from run to run, the size of the
    # difference measured; the median round, and the CPU per turn of each server, are steadier.
    runs = latency.compare(
        {"1x": assistant.url, "10x": big.url},
        ctx.quick,
        levels=[1] if ctx.quick else [1, 1, 1, 10],
        pids={"1x": assistant.pids(), "10x": big.pids()},
    )
    rss_big = big.rss_mb()
    ready_big = big.ready_seconds
    ctx.stop("assistant-10x")
    return {
        "knowledge_base": kb,
        "citations_checked": True,  # read_kb(…, sources) validated every citation of the grown copy
        "in_process": in_process,
        "training_seconds": {"1x": base_training["train_seconds"], "10x": big_training["train_seconds"]},
        "training_measured_in_this_run": {"1x": not base_training["cached"], "10x": not big_training["cached"]},
        "model_size_mb": {
            "1x": round(base_training["size_bytes"] / 1e6, 1),
            "10x": round(big_training["size_bytes"] / 1e6, 1),
        },
        "rest": runs,
        "rest_p50_at_1_median_ms": {
            name: statistics.median(r["p50_ms"] for r in rounds if r["concurrency"] == 1)
            for name, rounds in runs.items()
        },
        "rss_mb_10x": rss_big,
        "start_to_ready_seconds_10x": ready_big,
    }


def part_resources(ctx: Context) -> dict:
    main_training = ctx.train_main()
    floor_training = ctx.floor_training or latency.train_floor(reuse=ctx.quick)
    assistant = ctx.assistant()
    return resources.summary(
        main_training,
        floor_training,
        ctx.model(),
        {"assistant": assistant},
        {k: v for k, v in ctx.rss_after_start.items() if k == "assistant"},
        {k: v for k, v in ctx.peak_rss.items() if k == "assistant"},
    )


def part_profile(ctx: Context) -> dict:
    log(f"profile: py-spy on every server, {profiling.CONCURRENCY} concurrent conversations, assistant then floor")
    assistant, floor = ctx.assistant(), ctx.floor()
    out = {
        "assistant": profiling.profile_system("assistant", assistant.url, assistant.pids(), ctx.quick),
        "floor": profiling.profile_system("floor", floor.url, floor.pids(), ctx.quick),
    }
    tracker_pg = profiling.postgres_tracker_store()
    if tracker_pg:  # the same assistant with its tracker store on PostgreSQL (scripts/services.sh's server)
        ctx.stop("floor")
        on_pg = ctx.start("assistant-pg-tracker", ctx.model(), tracker_store=tracker_pg)
        out["assistant_pg_tracker"] = profiling.profile_system("assistant-pg", on_pg.url, on_pg.pids(), ctx.quick)
        ctx.stop("assistant-pg-tracker")
    return out


RUNNERS = {
    "nlu": part_nlu,
    "quality": part_quality,
    "latency": part_latency,
    "growth": part_growth,
    "resources": part_resources,
    "profile": part_profile,
    # Issue 17's long fuzz run: 10,000 generated inputs against a two-replica cluster (bench/fuzz.py).
    "fuzz": lambda ctx: fuzz.run(ctx.model(), fuzz.QUICK_INPUTS if ctx.quick else None),
}

# The soak (bench/soak.py): 30 minutes (PRIORAUTH_SOAK_SECONDS; 180 with --quick) on the production layout, with its
# own PostgreSQL and Redis. Only when named (`bash scripts/bench.sh soak`), never part of "all".
RUNNERS["soak"] = lambda ctx: _soak.part(ctx.model(), ctx.quick)


# ------------------------------------------------------------------------------------------------ run
def machine() -> dict:
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    import psutil

    return {
        "cores": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def git_state() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_changes": bool(dirty)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help=f"parts to run: {', '.join(PARTS)} (default: all)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small version: 2 questions per topic, concurrency 1 and 10, 2 folds, cached models",
    )
    parser.add_argument("--model", type=Path, help="the assistant's trained model (default: train one)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.parts) - {*PARTS, *EXTRA_PARTS, "all"})
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS + EXTRA_PARTS)}")
    parts = [p for p in PARTS if not args.parts or "all" in args.parts or p in args.parts]
    parts += [p for p in EXTRA_PARTS if p in args.parts]
    OUT.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"parts": {}}
    run_meta = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": args.quick,
        "parts": parts,
        "machine": machine(),
        "git": git_state(),
        "command": "bash scripts/bench.sh " + " ".join([*(args.parts or []), *(["--quick"] if args.quick else [])]),
    }
    log(
        f"benchmarks: {', '.join(parts)}{' (quick)' if args.quick else ''}; {run_meta['machine']['cores']} cores, "
        f"load average {run_meta['machine']['load_average_at_start']}"
    )
    ctx = Context(args.quick, args.model.resolve() if args.model else None)
    start = time.monotonic()
    failed = []
    try:
        for part in parts:
            log(f"=== {part}")
            part_start = time.monotonic()
            try:
                figures = RUNNERS[part](ctx)
            except Exception as exc:  # one part failing must not lose the others' figures
                log(f"{part} failed: {type(exc).__name__}: {exc}")
                failed.append(part)
                continue
            results["parts"][part] = {
                "figures": figures,
                "quick": args.quick,
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                "seconds": round(time.monotonic() - part_start, 1),
                "git": run_meta["git"],
                "machine": run_meta["machine"],
            }
            RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    finally:
        ctx.close()
    run_meta["seconds"] = round(time.monotonic() - start, 1)
    run_meta["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    run_meta["failed"] = failed
    results["last_run"] = run_meta
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    report.print_tables(results)
    charts_dir = OUT / "charts" if args.quick else BENCH / "charts"
    for path in report.draw_charts(results, charts_dir):
        log(f"chart: {path.relative_to(ROOT)}")
    log(
        f"figures: {RESULTS.relative_to(ROOT)}; done in {run_meta['seconds']:.0f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
