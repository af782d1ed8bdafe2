# couplet — every target sets up .venv itself on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8765
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: demo test test-scale dev lint format sandbox bench bench-peer clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## sandbox APIs -> Dagster -> DuckDB, then print what landed
	$(BIN)/couplet demo

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest

$(VENV)/.installed-scale-stamp: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,scale]'
	touch $@

test-scale: $(VENV)/.installed-scale-stamp  ## PostgreSQL + moto + Dagster daemon: a scheduled run and a backfill at once (installs PostgreSQL if missing; docs/scale.md)
	$(BIN)/python -m tests.scale.services install
	$(BIN)/python -m pytest tests/scale -m scale

dev: $(STAMP)  ## sandbox + Dagster UI (dg dev) on http://127.0.0.1:3000
	$(BIN)/python -m dagster_project.dev --port $(PORT)

sandbox: $(STAMP)  ## only the sandbox APIs
	$(BIN)/couplet sandbox --port $(PORT)

lint: $(STAMP)  ## ruff and mypy over every package
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy connectors destinations pipelines dagster_project sandbox

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## benchmarks: run by hand, they print figures
	$(BIN)/python bench/bench_extract.py

bench-peer: $(STAMP)  ## couplet vs dlt on the Harvest sandbox; ARGS="--entries 1000000 --rounds 1"
	$(BIN)/python bench/bench_peer.py $(ARGS)

clean:
	rm -rf data/staging data/warehouse.duckdb data/dagster_home
