# The two commands a new machine needs: `make run` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install run test lint bench openapi drills clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: install
	$(BIN)/firstring dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/speed_to_lead.py
	$(BIN)/python bench/stats.py
	$(BIN)/python bench/cadence.py

drills: install
	$(BIN)/python bench/drills/run.py

openapi: install
	$(BIN)/python -m app.openapi

clean:
	rm -rf $(VENV) .firstring .mypy_cache .ruff_cache .pytest_cache
