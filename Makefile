# The two commands of the README: `make dev` starts the platform, `make test` proves it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .tools
TOOLS_STAMP := $(TOOLS)/.installed

.PHONY: test lint bench faults dev clean tools

$(STAMP): requirements.txt requirements-dev.txt shared/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e ./shared
	touch $(STAMP)

$(TOOLS_STAMP): requirements-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet -r requirements-tools.txt
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint tools
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/pubsub.py
	$(BIN)/python bench/webhook_floor.py
	$(BIN)/python bench/end_to_end_floor.py

# The fault suite against the local stack (docs/performance.md); `make faults N=200` is shorter.
N ?= 1000
faults: $(STAMP)
	$(BIN)/python -m faults.run --n $(N)

dev: $(STAMP)
	$(BIN)/python -m local.dev

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .hypothesis .local
