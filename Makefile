# Salescope: `make demo` runs the demo company end to end, `make test` runs every check.
# Both create the virtual environment and install what they need on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
PYTEST_ARGS ?= -n auto --dist loadgroup

.PHONY: demo test lint typecheck unit services bench clean install install-dev

demo: install
	$(BIN)/salescope demo

test: install-dev services lint typecheck unit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev,spark]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

services:
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-browser.sh

lint:
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/read_validate_iowa.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache salescope-data
