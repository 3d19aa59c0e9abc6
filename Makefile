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

lint: venv ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/core functions local
	# bandit: skips and `# nosec` lines are justified in docs/security.md
	$(VENV)/bin/bandit -q -r layers/core functions local -c pyproject.toml
	# pip-audit over the installed .venv. --strict: a package it cannot look up fails the audit
	# (no silent pass when the vulnerability service does not answer). Accepted findings go
	# here as --ignore-vuln ID, each justified in docs/security.md; none today.
	@if [ "$${PIP_AUDIT:-}" = skip ]; then \
	  echo "WARNING: PIP_AUDIT=skip: dependencies were NOT audited for known vulnerabilities" >&2; \
	else \
	  $(VENV)/bin/pip-audit --strict --skip-editable --progress-spinner off --timeout 30 || { \
	    echo "error: pip-audit failed: known vulnerabilities (listed above), or a package it could" >&2; \
	    echo "not look up because the vulnerability service (PyPI's JSON API, or OSV) did not" >&2; \
	    echo "answer, so nothing was audited. PIP_AUDIT=skip skips it knowingly (docs/security.md)." >&2; \
	    exit 1; }; \
	fi

bench: venv ## benchmarks: writes bench/results/*.json and docs/benchmarks.md
	$(PY) -m bench

clean: ## remove local state (.local) and caches; keeps .venv
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache .aws-sam

-include infra/infra.mk
