#!/usr/bin/env bash
# Runs the benchmarks (bench/run.py) and prints their figures: answer quality against keyword search, NLU
# cross-validation, REST latency and throughput against the framework floor, cost of knowledge-base growth,
# and resources. Arguments go to bench/run.py:
#   bash scripts/bench.sh                    # everything (about 30 minutes on 2 cores)
#   bash scripts/bench.sh --quick            # a small version (about 10 minutes once its models are cached)
#   bash scripts/bench.sh latency quality    # some parts: nlu, quality, latency, growth, resources
#   bash scripts/bench.sh profile            # only when named: profile (py-spy), fuzz (10,000 inputs), soak (30 min)
# Figures: bench/out/results.json; charts: bench/charts/ (bench/out/charts/ with --quick); log: bench/out/logs/.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

# The bench set: the test set plus rank-bm25, matplotlib, psutil (requirements/bench.lock).
ensure_venv bench

MODEL="$(ensure_model)"
mkdir -p bench/out/logs
LOG="bench/out/logs/run-$(date +%Y%m%d-%H%M%S).log"
log "benchmarks with $(basename "$MODEL"); log: $LOG"
PYTHONUNBUFFERED=1 "$PY" bench/run.py --model "$MODEL" "$@" 2>&1 | tee "$LOG"
