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

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	@touch $@

install: $(VENV)/.installed translations

translations: $(VENV)/.installed
	@for d in $$(find dsar -type d -name translations); do $(BIN)/pybabel compile -q -f -d $$d 2>/dev/null || $(BIN)/pybabel compile -f -d $$d; done

# Run the service: SQLite, in-process jobs, mail to files (see /dev/mail), demo data.
# The demo runs on the policy with the DPO's pending choices made (dsar/demo_policy.py: letters can go out),
# with the sample application database (built by `dsar demo`) and the systems file that maps it (issue 16).
# PORT=5001 make run serves on 5001; emailed links follow it unless PUBLIC_BASE_URL is set.
PORT ?= 5000
INSTANCE = $(or $(DSAR_INSTANCE_PATH),$(CURDIR)/instance)
DEMO_ENV = DSAR_ENV=development REDIS_URL= PORT=$(PORT) DSAR_POLICY=$(INSTANCE)/demo-policy.yaml \
	DSAR_SYSTEMS=workflows/idomed.systems.yaml \
	DSAR_APP_DB_READ_URL=sqlite:///$(INSTANCE)/demo-app.sqlite3 \
	DSAR_APP_DB_WRITE_URL=sqlite:///$(INSTANCE)/demo-app.sqlite3
run: install
	@mkdir -p $(INSTANCE) && $(BIN)/python -m dsar.demo_policy workflows/idomed.yaml $(INSTANCE)/demo-policy.yaml
	@$(DEMO_ENV) $(BIN)/dsar db upgrade
	@$(DEMO_ENV) $(BIN)/dsar demo --if-empty
	@echo
	@echo "dsar is starting on http://127.0.0.1:$(PORT)"
	@echo "  public form:  http://127.0.0.1:$(PORT)/"
	@echo "  back-office:  http://127.0.0.1:$(PORT)/backoffice/  (demo accounts above)"
	@echo "  sent emails:  http://127.0.0.1:$(PORT)/dev/mail"
	@echo
	$(DEMO_ENV) DSAR_RUN_PERIODIC_IN_PROCESS=1 $(BIN)/dsar run --host 127.0.0.1 --port $(PORT)

# Run the tests: SQLite + in-process jobs, then PostgreSQL + Redis/RQ when reachable
# (DSAR_REQUIRE_SERVICES=1 makes a missing service a failure instead of a skip).
test: install
	@bash tests/run.sh

# A new migration on top of the current head (never a rebuilt 0001: that is the 0.1.0 schema, see CHANGELOG.md):
#   make migration MESSAGE="what changed" REV=0002
migration: $(VENV)/.installed
	@test -n "$(MESSAGE)" || { echo 'usage: make migration MESSAGE="what changed" [REV=0002]'; exit 2; }
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	export DSAR_ENV=test DSAR_INSTANCE_PATH="$$tmp" DATABASE_URL="sqlite:///$$tmp/schema.db" REDIS_URL=; \
	$(BIN)/dsar db upgrade >/dev/null 2>&1 && $(BIN)/dsar db migrate -m "$(MESSAGE)" $(if $(REV),--rev-id $(REV))

bench: install
	@echo "See bench/README.md: each benchmark is its own command."

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache test-artifacts
