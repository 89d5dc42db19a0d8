# Routine tasks; each is a script under scripts/ (which creates .venv when needed) so that the README's two
# commands need no make.
.PHONY: run test train lint format validate check services bench lock
run:      ; bash scripts/run.sh
test:     ; bash scripts/test.sh
train:    ; bash scripts/train.sh
validate: ; bash scripts/venv.sh run python scripts/validate_data.py
check:    ; bash scripts/venv.sh run python -m priorauth check && bash scripts/venv.sh run python -m priorauth coverage
lint:     ; bash scripts/lint.sh
format:   ; bash scripts/lint.sh --fix
services: ; bash scripts/services.sh start
bench:    ; bash scripts/bench.sh
lock:     ; bash scripts/lock.sh
