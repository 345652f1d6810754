# The two commands a new machine needs: `make run` (demo clinic on SQLite) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/lock.txt pyproject.toml | sha1sum | cut -c1-12)
export KAPSTONE_DATA_DIR ?= $(CURDIR)/var

.PHONY: install run test test-sqlite test-postgres lint format system-deps bench lock clean

$(STAMP): requirements/lock.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/lock.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: install
	$(BIN)/kapstone migrate --noinput -v0
	$(BIN)/kapstone demo --if-empty
	$(BIN)/kapstone serve --bind 127.0.0.1:8000

system-deps:
	scripts/system-deps.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Everything on SQLite (browser tests included), then everything but the browser tests on a
# throwaway PostgreSQL server started on loopback.
test: install system-deps lint test-sqlite test-postgres

test-sqlite: install
	$(BIN)/pytest -p no:cacheprovider -m "not postgres"

test-postgres: install
	scripts/with-postgres.sh $(BIN)/pytest -p no:cacheprovider -m "not browser"

bench: install system-deps
	$(BIN)/python bench/search_and_chart.py

# Re-resolve the locked dependencies (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements/lock.txt

clean:
	rm -rf $(VENV) var
