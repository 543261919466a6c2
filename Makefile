# dsar — the two commands of the README, and a few more.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-sqlite test-services install translations migration bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

install: $(VENV)/.installed translations

translations: $(VENV)/.installed
	@for d in $$(find dsar -type d -name translations); do $(BIN)/pybabel compile -q -f -d $$d 2>/dev/null || $(BIN)/pybabel compile -f -d $$d; done

# Run the service: SQLite, in-process jobs, mail to files (see /dev/mail), demo data.
# PORT=5001 make run serves on 5001; emailed links follow it unless PUBLIC_BASE_URL is set.
PORT ?= 5000
RUN_ENV = DSAR_ENV=development REDIS_URL= PORT=$(PORT)
run: install
	@$(RUN_ENV) $(BIN)/dsar db upgrade
	@$(RUN_ENV) $(BIN)/dsar demo --if-empty
	@echo
	@echo "dsar is starting on http://127.0.0.1:$(PORT)"
	@echo "  public form:  http://127.0.0.1:$(PORT)/"
	@echo "  back-office:  http://127.0.0.1:$(PORT)/backoffice/  (demo accounts above)"
	@echo "  sent emails:  http://127.0.0.1:$(PORT)/dev/mail"
	@echo
	$(RUN_ENV) DSAR_RUN_PERIODIC_IN_PROCESS=1 $(BIN)/dsar run --host 127.0.0.1 --port $(PORT)

# Run the tests: SQLite + in-process jobs, then PostgreSQL + Redis/RQ when reachable
# (DSAR_REQUIRE_SERVICES=1 makes a missing service a failure instead of a skip).
test: install
	@bash tests/run.sh

migration: $(VENV)/.installed
	@bash migrations/regenerate.sh

bench: install
	@echo "See bench/README.md: each benchmark is its own command."

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache test-artifacts
