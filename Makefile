# artsnap — the two commands a new user needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
HOST   ?= 127.0.0.1
DATA   ?=
export ARTSNAP_DATA_DIR ?= $(CURDIR)/var

.PHONY: setup run serve demo test test-all lint format mutation bench bench-quick browser postgres clean

## setup: create .venv and install artsnap with its test tools (idempotent)
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: on these machines it resolves to the local CPU wheel; unpinned, a
	# dependency could pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test,postgres,export,dev]'
	touch $@

## run: set up, build the demo collection (or ingest DATA=path), serve page + API on 127.0.0.1:8080
run: setup
	$(BIN)/artsnap demo $(if $(DATA),--data "$(DATA)")
	$(BIN)/artsnap serve --host $(HOST) --port $(PORT)

## browser: Debian's Chromium for the browser tests (Playwright drives it; no browser download)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "warning: could not install chromium; browser tests will skip"; \
	  else echo "note: chromium not installed and not root; browser tests will skip"; fi; }

## postgres: Debian's PostgreSQL server binaries, so catalog tests also run on a real PostgreSQL
## (the tests start a throwaway cluster themselves; without the binaries they skip with a reason)
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	    || echo "warning: could not install postgresql; PostgreSQL tests will skip"; \
	  else echo "note: postgresql not installed and not root; PostgreSQL tests will skip"; fi; }

## lint: what a contributor runs before pushing (CI runs it too): style, format, types, layers
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python tools/check_type_ignores.py
	$(BIN)/lint-imports

## format: apply ruff's fixes and formatting
format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## test: the whole fast suite (unit, contract, end-to-end, browser)
test: setup browser postgres
	$(BIN)/python -m pytest -q -m "not slow" --durations=15

## test-all: including the slow tests
test-all: setup browser postgres
	$(BIN)/python -m pytest -q

## mutation: mutate the engine's ranking, fusion and index code and run the fast engine tests
## against every mutant (mutmut; files and tests in pyproject's [tool.mutmut]); lists survivors
mutation: setup
	rm -rf mutants
	# One OpenMP thread: FAISS in a forked worker deadlocks on a thread pool made before the fork.
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

## bench: speed and quality figures → BENCHMARKS.md (long; `make bench-quick` for a smoke run)
bench: setup
	$(BIN)/python -m benchmarks --out BENCHMARKS.md

bench-quick: setup
	$(BIN)/python -m benchmarks --data-dir $(CURDIR)/var/bench-quick --quick --out bench-out/BENCHMARKS-quick.md

clean:
	rm -rf $(VENV) var bench-out .pytest_cache mutants
