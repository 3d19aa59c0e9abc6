# The project's interface: CI (.ci/run) calls these same targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every venv installs a lock (scripts/locks.py): exact pins with hashes, made by `make lock`
# from the ranges of the .in file beside it; a venv is made again when its lock changes.
# Two tool venvs beside .venv, each made once and made again when its lock changes:
# the SAM CLI (its exact pins would fight the project's) and Python 3.13, the Lambda
# runtime's, with only what the unit tests import.
SAM_VENV ?= .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
# Resolved now: `make build` puts Python 3.13's folder first on PATH (below), and its python3
# would otherwise make this venv when `make build` comes first.
SAM_BASE_PYTHON := $(or $(shell command -v $(PYTHON)),$(PYTHON))
VENV313 ?= .venv313
STAMP313 := $(VENV313)/.installed
# LocalStack, the second emulator (local/localstack.py), in a 3.13 venv of its own too.
LOCALSTACK_VENV ?= .venv-localstack
LOCALSTACK_STAMP := $(LOCALSTACK_VENV)/.installed
# The AWS endpoint `make local` starts: moto (IAM enforced) or localstack.
EMULATOR ?= moto
# A working Python 3.13: on PATH, else in pyenv. PYTHON313=/path/to/python3.13 to choose one.
ifndef PYTHON313
PYTHON313 := $(shell scripts/find-python313)
endif

.PHONY: help venv lock local test test-unit test-integration test-e2e test-infra lint bench clean openapi fuzz fuzz-worst-case
.PHONY: test-cloud-build sam-build sam-build-check test-unit-py313 predict-runtime-check
.PHONY: localstack-venv test-e2e-localstack
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv with everything installed from its lock, requirements-dev.txt

$(STAMP): requirements-dev.txt pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) scripts/locks.py install requirements-dev.txt
	# no build isolation: setuptools comes from the lock, not from the index
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	# the `dogdetect` command and its client, a distribution of their own (no dependency)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e clients/python
	touch $(STAMP)

# LOCK_ARGS=--keep keeps the locked versions that the changed inputs still allow.
lock: venv ## lock every *.in again with uv: the newest releases their ranges allow
	$(PY) scripts/locks.py compile $(LOCK_ARGS)

local: venv $(if $(filter localstack,$(EMULATOR)),localstack-venv) ## run the whole service on this machine (API on http://127.0.0.1:8080); EMULATOR=localstack for LocalStack
	$(PY) -m local --emulator $(EMULATOR)

# The cloud build and the unit tests on 3.13 take seconds once their venvs exist: they run
# before the suites' minutes, so a failure there is known at once.
test: venv lint test-cloud-build ## lint, sam build + unit tests on 3.13, every suite, the e2e suite on LocalStack
	$(PY) -m pytest tests
	$(MAKE) --no-print-directory test-e2e-localstack

test-unit: venv ## unit tests only (no network)
	$(PY) -m pytest tests/unit

test-integration: venv ## integration tests against the local stack
	$(PY) -m pytest tests/integration

test-e2e: venv ## end-to-end tests over HTTP with the real model
	$(PY) -m pytest tests/e2e

test-infra: venv ## template tests (cfn-lint and properties)
	$(PY) -m pytest tests/infra

lint: venv ## ruff, mypy, the layers' import contracts, dead code, bandit, the locks, pip-audit
	$(VENV)/bin/ruff check . scripts/fuzz-decoding scripts/fetch-rds-ca-bundle
	$(VENV)/bin/ruff format --check . scripts/fuzz-decoding scripts/fetch-rds-ca-bundle
	$(VENV)/bin/mypy layers/core functions local clients/python/src bench scripts/*.py
	# import-linter: the contracts in pyproject.toml ([tool.importlinter]), on layers/core
	cd layers/core && $(abspath $(VENV))/bin/lint-imports ../../pyproject.toml
	# vulture: what nothing calls; what a framework calls by name is in vulture_whitelist.py
	$(VENV)/bin/vulture layers/core/dogdetect functions local scripts scripts/fuzz-decoding vulture_whitelist.py \
	  --min-confidence 60 --exclude 'layers/core/dogdetect/runtime/migrations/versions'
	# bandit: skips and `# nosec` lines are justified in docs/security.md
	$(VENV)/bin/bandit -q -r layers/core functions local clients/python/src -c pyproject.toml
	$(PY) scripts/locks.py check
	VENV=$(VENV) scripts/audit-dependencies

$(SAM_STAMP): infra/requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(SAM_BASE_PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python scripts/locks.py install infra/requirements-sam.txt
	touch $(SAM_STAMP)

ifeq ($(PYTHON313),)
test-cloud-build sam-build sam-build-check test-unit-py313 predict-runtime-check test-e2e-localstack:
	@echo "################################################################################" >&2
	@echo "WARNING: no Python 3.13 (the Lambda runtime's) on PATH or in pyenv: NOT CHECKED:" >&2
	@echo "  - sam build of the Lambda zip functions and layers for python3.13 x86_64" >&2
	@echo "    (their dependencies, that every handler imports with only its layers)" >&2
	@echo "  - the unit tests on Python 3.13 (they ran on $$($(PY) -V 2>&1) only)" >&2
	@echo "  - the predict image's runtime stage (its requirements; the handler's engine)" >&2
	@echo "  - the end-to-end suite on LocalStack (it runs on Python 3.13 only)" >&2
	@echo "Install it (pyenv install 3.13) or set PYTHON313=/path/to/python3.13." >&2
	@echo "################################################################################" >&2
	@[ "$${PY313_REQUIRED:-0}" != 1 ] || { echo "error: PY313_REQUIRED=1" >&2; exit 1; }
localstack-venv:
	@echo "error: LocalStack runs on Python 3.13 only: install it (pyenv install 3.13)" >&2
	@echo "or set PYTHON313=/path/to/python3.13." >&2
	@exit 1
else
test-cloud-build: sam-build test-unit-py313 predict-runtime-check ## what the cloud runs: sam build of the zip artifacts, unit tests on 3.13, the predict image's runtime

sam-build: $(SAM_STAMP) ## sam build of the zip functions and layers (.aws-sam-test), then sam-build-check
	$(SAM_VENV)/bin/python scripts/sam_zip.py build --sam $(SAM_VENV)/bin/sam --python313 $(PYTHON313)
	$(SAM_VENV)/bin/python scripts/sam_zip.py check --python313 $(PYTHON313)

sam-build-check: $(SAM_STAMP) ## check the last sam-build: contents, sizes, handlers import on 3.13
	$(SAM_VENV)/bin/python scripts/sam_zip.py check --python313 $(PYTHON313)

# The predict image's runtime stage without Docker (scripts/predict_runtime.py): its
# requirements installed for 3.13 into .aws-sam-test/predict-runtime (again only when they
# change) and trimmed; no torch; its size (.aws-sam-test/predict-runtime.json); the handler's
# engine finds a dog from a pre-filled, read-only OpenVINO cache.
predict-runtime-check: $(SAM_STAMP) ## the predict image's runtime stage: no torch, its size, the engine runs on 3.13
	$(SAM_VENV)/bin/python scripts/predict_runtime.py --python313 $(PYTHON313)

$(STAMP313): requirements-unit.txt
	$(VENV313)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null \
	  || $(PYTHON313) -m venv --clear $(VENV313)
	$(VENV313)/bin/python scripts/locks.py install requirements-unit.txt
	touch $(STAMP313)

localstack-venv: $(LOCALSTACK_STAMP) ## .venv-localstack: LocalStack (host mode) from its lock, on 3.13

$(LOCALSTACK_STAMP): requirements-localstack.txt
	$(LOCALSTACK_VENV)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' \
	  2>/dev/null || $(PYTHON313) -m venv --clear $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/python scripts/locks.py install requirements-localstack.txt
	touch $(LOCALSTACK_STAMP)

# IAM tests are not collected there: LocalStack enforces no IAM (tests/conftest.py, LACKING).
test-e2e-localstack: venv $(LOCALSTACK_STAMP) ## the end-to-end suite on LocalStack instead of moto
	$(PY) -m pytest tests/e2e --emulator localstack

# pytest's exit code 5 (no test ran) fails the target like any other non-zero code.
test-unit-py313: $(STAMP313) ## unit tests on Python 3.13 (.venv313: only what they import)
	$(VENV313)/bin/python -m pytest tests/unit || { code=$$?; \
	  [ $$code != 5 ] || echo "error: no unit test ran on Python 3.13" >&2; exit $$code; }
endif

fuzz: venv ## fuzz the image decoder for FUZZ_SECONDS (default 600); `make test` runs ~30 s of it
	$(PY) scripts/fuzz-decoding --seconds $(or $(FUZZ_SECONDS),600)

fuzz-worst-case: venv ## time the costliest image each limit allows, per format
	$(PY) scripts/fuzz-decoding --worst-case

openapi: venv ## write the whole API's OpenAPI document (layers/core/dogdetect/api/openapi.json)
	$(PY) -m local.openapi

bench: venv ## benchmarks: writes bench/results/*.json and docs/benchmarks.md
	$(PY) -m bench

clean: ## remove local state (.local), caches and build output; keeps the venvs
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache .aws-sam infra/.aws-sam .aws-sam-test

# `make build` and `make destroy` (infra/infra.mk) install the same pinned SAM CLI on first
# use, and SAM's python3.13 builder needs a python3.13 first on PATH (a pyenv shim may be
# there that does not run).
build destroy: $(SAM_STAMP)
build: export PATH := $(if $(PYTHON313),$(patsubst %/,%,$(dir $(PYTHON313))):)$(PATH)

-include infra/infra.mk
