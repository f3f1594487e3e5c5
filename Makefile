# civicshare: `make demo` serves a synthetic county on http://127.0.0.1:8000; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
CONSTRAINTS := requirements/constraints.txt
STATIC := src/civicshare/web/static
SCSS := src/civicshare/web/scss/civicshare.scss

.PHONY: demo serve test lint bench assets lock chromium clean help

help:
	@echo "make demo   - install, prepare the embedded store with a synthetic county, serve on :8000"
	@echo "make test   - install the development extras and run the whole test suite"
	@echo "make lint   - ruff and the import rules (lint-imports)"
	@echo "make bench  - run every benchmark in benchmarks/ at its small size"
	@echo "make lock   - re-resolve requirements/constraints.txt from pyproject.toml"

# The virtual environment is rebuilt only when the pins change, so a second `make demo` starts in seconds.
$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(BIN)/uv pyproject.toml $(CONSTRAINTS)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c $(CONSTRAINTS) -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# GOV.UK Frontend compiled with the partnership's own font stack (no GDS Transport, no crown).
WEB_SOURCES := $(SCSS) $(wildcard src/civicshare/web/js/* src/civicshare/web/static-src/*/*)
$(STATIC)/.built: node_modules/.installed $(WEB_SOURCES) scripts/build_assets.mjs
	node scripts/build_assets.mjs
	touch $@

assets: $(STATIC)/.built

demo: $(VENV)/.installed assets
	$(BIN)/civicshare demo

serve: $(VENV)/.installed assets
	$(BIN)/civicshare serve

# Test modules run in parallel, each module whole on one worker (its shared fixtures built once).
TEST_WORKERS ?= auto
test: $(VENV)/.installed-dev assets
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

bench: $(VENV)/.installed-dev
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o $(CONSTRAINTS)

# Debian's chromium for the browser tests (needs root; .ci/run calls this).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

clean:
	rm -rf $(VENV) node_modules $(STATIC) var
