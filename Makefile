# Routine tasks; each is a script under scripts/ so that the README's two commands need no make.
.PHONY: run test train lint format validate check services bench
run:      ; bash scripts/run.sh
test:     ; bash scripts/test.sh
train:    ; bash scripts/train.sh
validate: ; .venv/bin/python scripts/validate_data.py
check:    ; .venv/bin/python -m priorauth check && .venv/bin/python -m priorauth coverage
lint:     ; .venv/bin/ruff check . && .venv/bin/ruff format --check .
format:   ; .venv/bin/ruff format . && .venv/bin/ruff check --fix .
services: ; bash scripts/services.sh start
