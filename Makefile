# FMU Gateway developer tasks. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

# Optional local settings: KEY=value lines in .env (see .env.example).
ifneq (,$(wildcard .env))
include .env
export $(shell sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' .env)
endif

# Tests run on PostgreSQL and Redis (CI provides both on loopback).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/fmugateway
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.DEFAULT_GOAL := help

# `make run` and `make setup` say what they are doing and about how long it takes (quiet machine).
step = printf '\n==> %s (%s)\n' "$(1)" "$(2)"
.PHONY: help venv assets setup run web worker beat test test-fast lint format bench clean

help: ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{gsub(/[$$][$$]/, "$$", $$2); printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required (apt-get install python3 python3-venv)"; exit 1; }
	@$(call step,Python packages into $(VENV),~45 s; longer on a slow network)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

# Front-end libraries (uPlot) from the npm registry, pinned by package-lock.json: `npm ci`, then
# package.json's build script copies them into static/vendor/ (gitignored), which our own static
# files serve. No CDN: pages load nothing from another site.
NPM ?= $(shell command -v npm)
ASSETS := static/vendor/uplot/uPlot.iife.min.js

$(ASSETS): package.json package-lock.json
	@test -n "$(NPM)" || { echo "Node.js 18+ with npm is required for the front-end assets (apt-get install nodejs npm)"; exit 1; }
	@$(call step,Front-end assets: npm ci + copy into static/vendor,~5 s)
	$(NPM) ci --ignore-scripts --no-audit --no-fund
	$(NPM) run --silent build
	@touch $@

assets: $(ASSETS) ## install the pinned front-end libraries (npm ci) into static/vendor/

venv: $(BIN)/.installed $(ASSETS) ## create .venv, install the pinned requirements and front-end assets

setup: venv ## migrate, build the sample FMUs and seed demo data (idempotent)
	@$(call step,Database: create or upgrade,~20 s when new; ~2 s after)
	DEBUG=$${DEBUG:-true} $(MANAGE) setup_database
	@$(call step,Sample models: compile the sample FMUs with gcc,~5 s)
	DEBUG=$${DEBUG:-true} $(MANAGE) build_sample_fmus
	@$(call step,Demo data: accounts + published packages + storefront,~10 s)
	DEBUG=$${DEBUG:-true} $(MANAGE) seed_demo
	DEBUG=$${DEBUG:-true} $(MANAGE) seed_storefront

run: setup ## start web + worker + beat with demo data on embedded defaults (or your .env)
	@$(call step,Services: web + Celery worker + beat,~5 s until the first page)
	DEBUG=$${DEBUG:-true} $(MANAGE) rundev

web: venv ## production web server (gunicorn) on PORT (default 8000)
	$(MANAGE) collectstatic --noinput
	$(BIN)/gunicorn fmugateway.wsgi:application --bind 0.0.0.0:$${PORT:-8000} --workers $${WEB_CONCURRENCY:-2} --threads $${WEB_THREADS:-8} --access-logfile -

worker: venv ## Celery worker for all queues
	$(BIN)/celery -A fmugateway worker --loglevel=INFO -Q default,simulations,validation

beat: venv ## Celery beat (periodic tasks: heartbeat, clean-ups, billing cycles)
	$(BIN)/celery -A fmugateway beat --loglevel=INFO --schedule $${VAR_DIR:-var}/celerybeat-schedule

test: venv ## run the whole test suite (PostgreSQL + Redis on loopback); lists the 25 slowest
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest --durations=25 $(PYTEST_ARGS)

# What the fast lane leaves to the full suite: markers set on the tests or, from the fixtures
# they use, by conftest.py.
FAST_LANE_SKIPS := worker or browser or live or transactional or http or sandbox or slow or redis

test-fast: venv ## service and unit tests: eager Celery, local-memory cache, no Redis (< 2 min)
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest --ds=fmugateway.settings_fast --reuse-db -m "not ($(FAST_LANE_SKIPS))" --durations=25 $(PYTEST_ARGS)

lint: venv ## ruff, mypy, import contracts, makemigrations --check, OpenAPI without warnings
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	DJANGO_SETTINGS_MODULE=fmugateway.settings_test DATABASE_URL=$(TEST_DATABASE_URL) $(MANAGE) makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=fmugateway.settings_test DATABASE_URL=$(TEST_DATABASE_URL) $(MANAGE) spectacular --validate --fail-on-warn --file /dev/null

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv ## run the benchmarks under bench/ and print their figures
	@for script in bench/bench_*.py; do echo "== $$script"; DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python $$script || exit 1; done

# Refuses a VAR_DIR that is the checkout or contains it (/, .., $HOME, ...): only state goes.
clean: ## remove local state (database, files, broker): VAR_DIR, default var/
	@dir="$${VAR_DIR:-var}"; real="$$(realpath -m -- "$$dir")"; here="$$(realpath -m .)"; \
	case "$$here/" in "$${real%/}/"*) echo "make clean: refusing to remove $$real (holds this checkout)" >&2; exit 1;; esac; \
	echo "rm -rf $$real"; rm -rf -- "$$real"
