# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run dev test test-postgres lint spec-check check export clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamp files: reinstall only when the requirements change.
$(VENV)/.runtime: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

## run: install, migrate, seed demo data and serve with gunicorn on HOST:PORT
run: $(VENV)/.runtime
	$(FLASK) db upgrade
	$(FLASK) seed
	@echo "Swagger UI: http://$(HOST):$(PORT)/docs   (spec: http://$(HOST):$(PORT)/api/v1/swagger.json)"
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers 2 --access-logfile - wsgi:app

## dev: the Flask development server with reload and the debugger (never in production)
dev: $(VENV)/.runtime
	$(FLASK) db upgrade
	$(FLASK) seed
	$(FLASK) run --debug --host $(HOST) --port $(PORT)

## test: the whole suite (SQLite; set TEST_DATABASE_URL for PostgreSQL)
test: $(VENV)/.dev
	$(BIN)/pytest

## test-postgres: the whole suite against the local PostgreSQL
test-postgres: $(VENV)/.dev
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} $(BIN)/pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

spec-check: $(VENV)/.runtime
	$(FLASK) openapi check

## check: lint, tests and the spec drift check
check: lint test spec-check

## export: write the code's spec to openapi/ (commit the diff)
export: $(VENV)/.runtime
	$(FLASK) openapi export

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
