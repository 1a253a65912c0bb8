# Two commands do all the set-up: `make dev` (start everything) and `make test` (run everything).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint typecheck pytest bench bench-startup bench-auth bench-hierarchy
.PHONY: bench-sos-sweep bench-elections bench-delivery lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the lock file or the project metadata changes.
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/polis dev $(ARGS)

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.health_load $(ARGS)

bench-startup: $(STAMP)
	$(BIN)/python -m bench.startup $(ARGS)

bench-auth: $(STAMP)
	$(BIN)/python -m bench.auth_load $(ARGS)

bench-hierarchy: $(STAMP)
	$(BIN)/python -m bench.hierarchy_load $(ARGS)

bench-sos-sweep: $(STAMP)
	$(BIN)/python -m bench.sos_sweep $(ARGS)

bench-elections: $(STAMP)
	$(BIN)/python -m bench.elections_vote $(ARGS)

bench-delivery: $(STAMP)
	$(BIN)/python -m bench.delivery_throughput $(ARGS)

# Regenerate the lock from pyproject.toml (needs the dev extra installed).
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
