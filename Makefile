# The README's two commands: `make demo` and `make test`. Both create .venv and install everything first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The test suite also runs every database test on PostgreSQL when this URL answers (CI sets it the same way).
CALSYNC_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install demo test lint format bench addin-vendor

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/calsync demo

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	CALSYNC_TEST_POSTGRES_URL=$(CALSYNC_TEST_POSTGRES_URL) $(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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
