# The two commands of the README: `make dev` starts the platform, `make test` proves it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint bench dev clean

$(STAMP): requirements.txt requirements-dev.txt shared/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e ./shared
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/engine.py

dev: $(STAMP)
	$(BIN)/python -m local.dev

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .local
