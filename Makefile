# artsnap — the two commands a new user needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
HOST   ?= 127.0.0.1
DATA   ?=
export ARTSNAP_DATA_DIR ?= $(CURDIR)/var

.PHONY: setup run serve demo test test-all lint format mutation bench bench-quick browser postgres kotlin mediapipe clean

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

## kotlin: the Kotlin compiler (npm package kotlin-compiler, into .tools/) plus Debian's JDK and the
## jars the Kotlin client's JVM core compiles against (org.json as Android ships it, metadata-extractor
## for EXIF on the JVM); without them the Kotlin client tests skip with a reason
KOTLIN_COMPILER := kotlin-compiler@2.4.20
kotlin:
	@test -x .tools/node_modules/kotlin-compiler/bin/kotlinc || { \
	  if command -v npm >/dev/null 2>&1; then npm install --prefix .tools --no-audit --no-fund --silent $(KOTLIN_COMPILER) >/dev/null \
	    || echo "warning: could not install $(KOTLIN_COMPILER); Kotlin client tests will skip"; \
	  else echo "note: npm not found; Kotlin client tests will skip"; fi; }
	@{ command -v javac >/dev/null 2>&1 && test -f /usr/share/java/com.android.json.jar && test -f /usr/share/java/metadata-extractor.jar; } || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless libandroid-json-java libmetadata-extractor-java >/dev/null) \
	    || echo "warning: could not install the JDK and jars; Kotlin client tests will skip"; \
	  else echo "note: JDK or jars missing and not root; Kotlin client tests will skip"; fi; }

## mediapipe: MediaPipe Tasks in its own venv (.venv-mediapipe), so tests load the .tflite files the
## way Android apps do. Its own venv because its opencv-contrib-python and the server's
## opencv-python-headless both provide `cv2`. Without it the MediaPipe tests skip with a reason.
MEDIAPIPE_VENV := .venv-mediapipe
mediapipe: $(MEDIAPIPE_VENV)/.installed

$(MEDIAPIPE_VENV)/.installed:
	@{ $(PYTHON) -m venv $(MEDIAPIPE_VENV) && $(MEDIAPIPE_VENV)/bin/python -m pip install --quiet mediapipe==1.2.3 \
	  && touch $@; } || echo "warning: could not install mediapipe; MediaPipe tests will skip"

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
test: setup browser postgres kotlin mediapipe
	$(BIN)/python -m pytest -q -m "not slow" --durations=15

## test-all: including the slow tests
test-all: setup browser postgres kotlin mediapipe
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
	rm -rf $(VENV) $(MEDIAPIPE_VENV) var bench-out .pytest_cache .tools mutants
