# The README's two commands: `make demo` and `make test`. Both create .venv and install everything first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The test suite also runs every database test on PostgreSQL at this URL (empty: SQLite only); `make test` stops
# at once, saying so, when nothing answers there. CI sets it the same way.
CALSYNC_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

# Tests talk to this Redis server (each test folder takes its own database on it).
CALSYNC_TEST_REDIS_SERVER ?= redis://127.0.0.1:6379
export CALSYNC_TEST_POSTGRES_URL CALSYNC_TEST_REDIS_SERVER

.PHONY: install demo test check soak lint format test-prerequisites demo-prerequisites addin-vendor

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -e .
	touch $(STAMP)

install: $(STAMP)

# What the machine must provide (Chromium, redis-server, the venv module, the test services): installed with
# apt-get where that works, else one line says what to install. Checked first, before the minute of pip.
test-prerequisites:
	@$(PYTHON) scripts/prerequisites.py test

demo-prerequisites:
	@$(PYTHON) scripts/prerequisites.py demo

demo: demo-prerequisites
	@$(MAKE) --no-print-directory install
	CALSYNC_ENV=$${CALSYNC_ENV:-development} $(BIN)/calsync demo

test: test-prerequisites
	@$(MAKE) --no-print-directory lint
	CALSYNC_ENV=test $(BIN)/pytest

# The planner-level checker's deep profile (docs/checker.md): random histories for MINUTES minutes (default 10) on
# the fast tier (in-memory session store), then MINUTES/10 on the database tier (SQLite).
MINUTES ?= 10
check: install
	CALSYNC_ENV=test CALSYNC_CHECK_MINUTES=$(MINUTES) $(BIN)/pytest tests/checker/test_checker.py -x -q -s

# The chaos soak (docs/soak.md): the real processes under a random workload and faults for SOAK_MINUTES, then
# quiesced and checked. Its own redis-server and database (PostgreSQL at CALSYNC_TEST_POSTGRES_URL's server, or
# SQLite when that is empty); SOAK_SEED repeats a run. Not part of `make test`.
SOAK_MINUTES ?= 20
SOAK_SEED ?=
soak: test-prerequisites
	@$(MAKE) --no-print-directory install
	CALSYNC_ENV=test nice $(BIN)/python -m tests.soak --minutes $(SOAK_MINUTES) $(if $(SOAK_SEED),--seed $(SOAK_SEED))

# ruff, then the layer contract of pyproject.toml (import-linter).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The task pane's vendored browser build of msal-browser (pinned in addin/package-lock.json): `npm ci`, then copy
# the minified bundles and the licence into addin/taskpane/vendor/. Run after changing the version; commit the result.
MSAL := addin/node_modules/@azure/msal-browser
addin-vendor:
	cd addin && npm ci --no-audit --no-fund
	cp $(MSAL)/lib/msal-browser.min.js $(MSAL)/lib/redirect-bridge/msal-redirect-bridge.min.js addin/taskpane/vendor/
	cp $(MSAL)/LICENSE addin/taskpane/vendor/LICENSE-msal-browser.txt
