# Shipyard: `make demo` and `make test` work on a fresh machine with only Python 3.11+.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
STAMP := $(VENV)/.synced
DEMO_HOME ?= $(CURDIR)/.shipyard-demo
PYTEST_ARGS ?=
# The wheel's package, its serving hot path compiled by mypyc (hatch_build.py), unpacked.
COMPILED := build/compiled
# The wheel holds the whole package: any source change rebuilds it.
PACKAGE_SOURCES := $(shell find src/shipyard -name '*.py' 2>/dev/null)

.PHONY: help setup demo test lint typecheck format services bench compiled clean

help:
	@echo "make demo   - install and walk the golden path on the embedded default"
	@echo "make test   - install, start services, lint, type-check and run the whole suite"
	@echo "make lint | typecheck | format | services | bench | compiled | clean"

$(STAMP): pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --locked --all-extras
	@touch $@

setup: $(STAMP)

demo: $(STAMP)
	SHIPYARD_HOME=$(DEMO_HOME) $(VENV)/bin/shipyard demo

services:
	bash scripts/services.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

$(COMPILED)/COMPILED: $(STAMP) pyproject.toml hatch_build.py $(PACKAGE_SOURCES)
	rm -rf build/wheel
	$(UV) build --wheel --out-dir build/wheel
	$(VENV)/bin/python hatch_build.py build/wheel/shipyard-*.whl $(COMPILED)

compiled: $(COMPILED)/COMPILED

# The suite runs the code as the wheel ships it: the hot path compiled (plain `pytest` runs src/).
test: $(STAMP) services lint typecheck compiled
	PYTHONPATH=$(CURDIR)/$(COMPILED) SHIPYARD_EXPECT_COMPILED=1 $(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(STAMP) services compiled
	$(VENV)/bin/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(DEMO_HOME) $(COMPILED) build/wheel
