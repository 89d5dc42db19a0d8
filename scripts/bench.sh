#!/usr/bin/env bash
# Runs the benchmarks (bench/run.py) and prints their figures: answer quality against keyword search, NLU
# cross-validation, REST latency and throughput against the framework floor, cost of knowledge-base growth,
# and resources. Arguments go to bench/run.py:
#   bash scripts/bench.sh                    # everything (about 30 minutes on 2 cores)
#   bash scripts/bench.sh --quick            # a small version (about 10 minutes once its models are cached)
#   bash scripts/bench.sh latency quality    # some parts: nlu, quality, latency, growth, resources
# Figures: bench/out/results.json; charts: bench/charts/ (bench/out/charts/ with --quick); log: bench/out/logs/.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

# The bench extra (rank-bm25, matplotlib, psutil). Skipped when the environment was set up for this
# pyproject.toml and already has them, so that it does not reinstall what another script set up.
want="$(sha256sum < "$ROOT/pyproject.toml" | cut -c1-16)"
if ! { [ -x "$PY" ] && grep -q "^$want-" "$VENV/.installed" 2>/dev/null \
       && "$PY" -c 'import rank_bm25, matplotlib, psutil, rasa' 2>/dev/null; }; then
  ensure_venv bench
fi

MODEL="$(ensure_model)"
mkdir -p bench/out/logs
LOG="bench/out/logs/run-$(date +%Y%m%d-%H%M%S).log"
log "benchmarks with $(basename "$MODEL"); log: $LOG"
PYTHONUNBUFFERED=1 "$PY" bench/run.py --model "$MODEL" "$@" 2>&1 | tee "$LOG"
