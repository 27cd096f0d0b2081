# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run dev test test-postgres fuzz lint spec-check breaking-check check export sdk assets clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Browser assets shipped in Python packages (Swagger UI and Redoc): --no-deps,
# because only their static files are used (see requirements-assets.txt).
INSTALL_ASSETS := $(BIN)/pip install --quiet --no-deps -r requirements-assets.txt

# Stamp files: reinstall only when the requirements change.
$(VENV)/.runtime: requirements.txt requirements-assets.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	$(INSTALL_ASSETS)
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt requirements-assets.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(INSTALL_ASSETS)
	touch $@ $(VENV)/.runtime

# Node tools for development and CI only (package.json: Optic, TypeScript),
# installed exactly as package-lock.json pins them.
NODE_TOOLS := node_modules/.package-lock.json
$(NODE_TOOLS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## run: install, migrate, seed demo data, serve with gunicorn (gunicorn.conf.py) on HOST:PORT and run a job worker
run: $(VENV)/.runtime
	$(FLASK) db upgrade
	$(FLASK) seed
	@echo "Swagger UI: http://$(HOST):$(PORT)/docs   (spec: http://$(HOST):$(PORT)/api/v1/openapi.json)"
	@echo "Redoc:      http://$(HOST):$(PORT)/redoc"
	@# gunicorn and `flask worker` side by side. Ctrl-C reaches both from the terminal
	@# (the worker hands its running jobs back); if either stops on its own, the other is stopped.
	@trap 'stopping=1' INT; trap 'stopping=1; kill -TERM $$api $$worker' TERM; \
	HOST=$(HOST) PORT=$(PORT) $(BIN)/gunicorn --config gunicorn.conf.py wsgi:app & api=$$!; \
	$(FLASK) worker & worker=$$!; \
	while [ -z "$$stopping" ] && kill -0 $$api 2>/dev/null && kill -0 $$worker 2>/dev/null; do sleep 1; done; \
	[ -n "$$stopping" ] || kill -TERM $$api $$worker 2>/dev/null; wait

## dev: the Flask development server with reload and the debugger (never in production)
dev: $(VENV)/.runtime
	$(FLASK) db upgrade
	$(FLASK) seed
	$(FLASK) run --debug --host $(HOST) --port $(PORT)

## test: the whole suite (SQLite; set TEST_DATABASE_URL for PostgreSQL)
test: $(VENV)/.dev $(NODE_TOOLS)
	$(BIN)/pytest

## test-postgres: the whole suite against the local PostgreSQL
test-postgres: $(VENV)/.dev $(NODE_TOOLS)
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} $(BIN)/pytest

## fuzz: fuzz every parser of client input for FUZZ_SECONDS each (default 300); failing inputs in build/fuzz/
FUZZ_SECONDS ?= 300
fuzz: $(VENV)/.dev
	$(BIN)/python -m fuzz.run --seconds $(FUZZ_SECONDS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml

# The converter that derives openapi/openapi.json is a dev requirement (Java).
spec-check: $(VENV)/.dev
	$(BIN)/python -m tools.openapi check

## breaking-check: fail when openapi/openapi.json breaks clients of the last tag (or commit)
breaking-check: $(VENV)/.dev $(NODE_TOOLS)
	$(BIN)/python -m tools.breaking

## check: lint, tests, the spec drift check and the breaking-change check
check: lint test spec-check breaking-check

## export: write the code's spec to openapi/ (commit the diff)
export: $(VENV)/.dev
	$(BIN)/python -m tools.openapi export

## sdk: generate the Python and TypeScript clients into build/sdk/ (Java 11+)
sdk: $(VENV)/.dev
	$(BIN)/python -m tools.sdk

## assets: (re)install the browser assets /docs and /redoc serve
assets: | $(BIN)/activate
	$(INSTALL_ASSETS)

clean:
	rm -rf $(VENV) build node_modules .pytest_cache .ruff_cache

# --- benchmark: wrk against the app, a bare-Flask baseline and FastAPI peers -----
.PHONY: bench bench-scaling bench-workers wrk

# matplotlib draws the chart, FastAPI and uvicorn serve the peers (bench/peers/),
# gevent is one of the worker classes bench-workers measures; the harness's own
# needs stay out of requirements.txt.
$(VENV)/.bench: bench/requirements.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $@

wrk:
	@command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }

## bench: the targets (point read, page of 50, swagger.json, POST /orders), cache on and off, against bare Flask and FastAPI peers; docs/benchmarks.md (≤ 10 min; settings in bench/run.py)
bench: $(VENV)/.bench wrk
	$(BIN)/python -m bench.run --set targets

## bench-scaling: the other scenarios (JWT, filters, deep pages) and the scaling curve, cache off; docs/benchmarks-scaling.md
bench-scaling: $(VENV)/.bench wrk
	$(BIN)/python -m bench.run --set scaling

## bench-workers: gunicorn sync vs gthread vs gevent on PostgreSQL, at 0 and ~2.5 ms of database round trip; docs/benchmarks-workers.md
bench-workers: $(VENV)/.bench wrk
	$(BIN)/python -m bench.workers

# --- benchmark: a 100,000-line catalog import through a real worker ---------------
.PHONY: bench-import

## bench-import: import 100,000 catalog lines with a worker; lines/s, and point reads/s meanwhile (docs/import-benchmark.md)
bench-import: $(VENV)/.bench wrk
	$(BIN)/python -m bench.import_bench
