# gridsync: every target sets up what it needs from nothing (Python 3.11 and make).
PYTHON ?= python3
UV := .tools/bin/uv
VENV := .venv
SYNCED := $(VENV)/.synced
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.DEFAULT_GOAL := help
.PHONY: help demo test test-fast lint format typecheck check airflow bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

$(SYNCED): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

demo: $(SYNCED) ## build the demo department systems and publish the warehouse (no server needed)
	$(VENV)/bin/gridsync demo

test: $(SYNCED) ## run every test, the real-server and real-Airflow ones included
	$(VENV)/bin/pytest

test-fast: $(SYNCED) ## run the tests that need no server and no Airflow scheduler
	$(VENV)/bin/pytest -m "not slow and not services"

lint: $(SYNCED) ## ruff (with the Airflow 3 rules on dags/) and sqlfluff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff check dags/ --select AIR3
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/sqlfluff lint warehouse/

format: $(SYNCED) ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(SYNCED) ## mypy on pipelines/
	$(VENV)/bin/mypy

check: lint typecheck test ## everything CI checks

airflow: $(SYNCED) ## run Airflow locally on http://127.0.0.1:8080 (PostgreSQL metadata, DAGs from dags/); Ctrl-C stops it
	$(VENV)/bin/gridsync airflow

bench: $(SYNCED) ## run the flow at 100,000 and 1,000,000 residents and print time and memory
	$(VENV)/bin/python scripts/benchmark.py --residents 100000 1000000

clean: ## remove the environment and local warehouse data
	rm -rf $(VENV) .tools warehouse/data
