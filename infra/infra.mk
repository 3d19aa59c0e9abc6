# AWS deployment with the SAM CLI; included by the Makefile. See docs/deploy.md.
# The SAM commands run in infra/, next to template.yaml: SAM then finds its defaults there
# (infra/.aws-sam/build, infra/samconfig.toml) and resolves the template's relative paths.

# The SAM CLI is not part of the dev requirements: it comes from the venv, a venv of its own
# (.venv-sam: it pins its own boto3 and click), or the PATH.
SAM_VENV ?= .venv-sam
SAM ?= $(firstword $(wildcard $(CURDIR)/$(VENV)/bin/sam $(CURDIR)/$(SAM_VENV)/bin/sam) sam)
SAMLOCAL ?= $(firstword $(wildcard $(CURDIR)/$(VENV)/bin/samlocal $(CURDIR)/$(SAM_VENV)/bin/samlocal) samlocal)
SAM_PYTHON := $(firstword $(wildcard $(CURDIR)/$(VENV)/bin/python) python3)
STACK_NAME ?= dogdetect
LOCAL_STACK_NAME ?= dogdetect-local
AWS_ENDPOINT_URL ?= http://127.0.0.1:4566
# A new value on every deploy: the migration custom resource sees a changed property and
# runs `alembic upgrade head` again (infra/template.yaml, DatabaseMigrations).
MIGRATIONS_VERSION := $(shell date -u +%Y%m%dT%H%M%SZ)

# The parameter overrides that `sam deploy --guided` saved: a --parameter-overrides option
# replaces them all, so the deploy passes them again followed by MigrationsVersion.
SAVED_OVERRIDES = $(SAM_PYTHON) -c 'import sys, tomllib; \
p = tomllib.load(open(sys.argv[1], "rb")).get("default", {}).get("deploy", {}) \
.get("parameters", {}).get("parameter_overrides", ""); \
print(p if isinstance(p, str) else " ".join(p))' samconfig.toml

define require_cli
	@command -v $(1) >/dev/null 2>&1 || { \
	  echo "error: '$(notdir $(1))' was not found. Install the SAM CLI and its LocalStack wrapper:" >&2; \
	  echo "    python3 -m venv $(SAM_VENV) && $(SAM_VENV)/bin/pip install aws-sam-cli aws-sam-cli-local" >&2; \
	  echo "(see docs/deploy.md for the other prerequisites: Docker, AWS credentials)" >&2; \
	  exit 1; }
endef

.PHONY: build deploy deploy-local destroy smoke-cloud

# Extra `sam build` options, e.g. SAM_BUILD_ARGS=--use-container without a local python3.13.
SAM_BUILD_ARGS ?=

build: ## sam build: RDS CA bundle, layers, zip functions and the predict image (needs Docker)
	$(call require_cli,$(SAM))
	# Amazon's RDS CA bundle into the core layer (and so the image), checksum-verified.
	$(SAM_PYTHON) scripts/fetch-rds-ca-bundle
	cd infra && $(SAM) build --parallel $(SAM_BUILD_ARGS)

deploy: build ## deploy to AWS (guided the first time; then uses infra/samconfig.toml)
	$(call require_cli,$(SAM))
	cd infra && if [ -f samconfig.toml ]; then \
	  overrides="$$($(SAVED_OVERRIDES))" && \
	  $(SAM) deploy --no-fail-on-empty-changeset \
	    --parameter-overrides "$$overrides MigrationsVersion=$(MIGRATIONS_VERSION)"; \
	else \
	  $(SAM) deploy --guided --stack-name $(STACK_NAME) --capabilities CAPABILITY_IAM \
	    --parameter-overrides "MigrationsVersion=$(MIGRATIONS_VERSION)"; \
	fi

deploy-local: build ## deploy the template onto LocalStack (AWS_ENDPOINT_URL, default :4566)
	$(call require_cli,$(SAMLOCAL))
	cd infra && \
	  AWS_ENDPOINT_URL=$(AWS_ENDPOINT_URL) \
	  AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-test} \
	  AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-test} \
	  $(SAMLOCAL) deploy --config-file samconfig.local.toml \
	    --stack-name $(LOCAL_STACK_NAME) --region $${AWS_DEFAULT_REGION:-us-east-1} \
	    --capabilities CAPABILITY_IAM --resolve-s3 --resolve-image-repos \
	    --no-confirm-changeset --no-fail-on-empty-changeset \
	    --parameter-overrides "MigrationsVersion=$(MIGRATIONS_VERSION)"

destroy: ## delete the AWS stack (asks first; keeps the bucket and a final DB snapshot)
	$(call require_cli,$(SAM))
	cd infra && if [ -f samconfig.toml ]; then \
	  $(SAM) delete; \
	else \
	  $(SAM) delete --stack-name $(STACK_NAME); \
	fi

# A stack of its own in AWS_REGION (default eu-west-1: outside us-east-1 on purpose), torn
# down at the end, also on failure; the same build as `make build`. docs/deploy.md.
smoke-cloud: venv $(SAM_STAMP) ## prove a deploy: a stack of its own, the seed's flow, a second deploy, teardown
	$(call require_cli,$(SAM))
	$(PY) scripts/cloud_smoke.py cloud --sam $(SAM) $(if $(AWS_REGION),--region $(AWS_REGION))
