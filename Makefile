# Two set-up commands: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
LINT_PATHS := app tests bench scripts
# Domain modules (no Flask) are type-checked; the web layer and the CLI are not.
DOMAIN := $(filter-out app/__init__.py app/cli.py app/server.py,$(wildcard app/*.py)) \
	app/geo app/playbooks app/pdf app/access app/drills app/reports app/remote app/messages \
	app/pcs
# The data owner's server of the tests (pygeoapi serving a GeoPackage) runs from its own venv on
# Debian's python3: its GeoPackage provider loads mod_spatialite, which needs an interpreter
# built with loadable SQLite extensions (ours may not be). Its version is the `owner-server`
# extra of pyproject.toml.
OWNER_PYTHON ?= /usr/bin/python3
OWNER_VENV := $(VENV)/owner-server

.PHONY: run test test-slow lint bench departement install dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.installed $(OWNER_VENV)/.installed
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

$(OWNER_VENV)/.installed: pyproject.toml | $(BIN)/python
	$(OWNER_PYTHON) -m venv $(OWNER_VENV)
	$(OWNER_VENV)/bin/pip install -q $$($(BIN)/python -c "import tomllib; print(' '.join(\
	  tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['owner-server']))")
	touch $@

$(VENV)/.bench: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev,bench]"
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev

run: install
	$(BIN)/crisis-console init
	$(BIN)/crisis-console demo
	@echo "Console : http://$(HOST):$(PORT)"
	$(BIN)/crisis-console serve --host $(HOST) --port $(PORT)

lint: dev
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy --follow-imports=silent $(DOMAIN)
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q -p no:cacheprovider -n auto

# The département-scale import test (1 M points, 500 k segments, 250 k cells; several minutes).
test-slow: dev
	CRISIS_SLOW=1 $(BIN)/pytest -q -p no:cacheprovider -m slow

bench: $(VENV)/.bench
	$(BIN)/python -m bench

# The synthetic département in build/departement/ (GeoPackage, FlatGeobuf, zipped Shapefile).
departement: install
	$(BIN)/python scripts/make_departement.py

clean:
	rm -rf $(VENV) build *.egg-info tests/screenshots
