# The project's interface: CI (.ci/run) calls these same targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements-dev.txt functions/predict/requirements.txt layers/deps/requirements.txt constraints.txt pyproject.toml

.PHONY: help venv local test test-unit test-integration test-e2e test-infra lint bench clean
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv with everything installed (torch first, then the rest pinned)

$(STAMP): $(REQUIREMENTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, from the pinned pair, so nothing else can pull a different build.
	$(PY) -m pip install --quiet -c constraints.txt torch torchvision
	$(PY) -m pip install --quiet -c constraints.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

local: venv ## run the whole service on this machine (API on http://127.0.0.1:8080)
	$(PY) -m local

test: venv lint ## every suite: unit, integration, end-to-end, infrastructure
	$(PY) -m pytest tests

test-unit: venv ## unit tests only (no network)
	$(PY) -m pytest tests/unit

test-integration: venv ## integration tests against the local stack
	$(PY) -m pytest tests/integration

test-e2e: venv ## end-to-end tests over HTTP with the real model
	$(PY) -m pytest tests/e2e

test-infra: venv ## template tests (cfn-lint and properties)
	$(PY) -m pytest tests/infra

lint: venv ## ruff, mypy, bandit and pip-audit
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/core functions local
	# bandit: skips and `# nosec` lines are justified in docs/security.md
	$(VENV)/bin/bandit -q -r layers/core functions local -c pyproject.toml
	VENV=$(VENV) scripts/audit-dependencies

bench: venv ## benchmarks: writes bench/results/*.json and docs/benchmarks.md
	$(PY) -m bench

clean: ## remove local state (.local) and caches; keeps .venv
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache .aws-sam infra/.aws-sam

-include infra/infra.mk
