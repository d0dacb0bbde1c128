# Every target bootstraps its own virtualenv from the pinned requirements.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_WORKERS ?= 2
# The SAM CLI and checkov pin versions that conflict with each other and with the dev tools:
# each gets its own virtualenv, bootstrapped and cached by stamp like the main one.
SAM_VENV      := .venv-sam
SAM_STAMP     := $(SAM_VENV)/.installed-$(shell cksum < requirements-sam.txt | cut -d' ' -f1)
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cksum < requirements-checkov.txt | cut -d' ' -f1)

.PHONY: help venv tools test unit integration lint sam-build format demo up bench cost soak lock lock-tools pr clean browser-deps openapi \
	test-localstack

help:
	@echo "make demo    run the pipeline end to end on the local engine"
	@echo "make test    run the whole test suite (what CI runs)"
	@echo "make lint    ruff, mypy, ASL validation; template.yaml: cfn-lint (informational rules too),"
	@echo "             sam validate --lint, sam build (python3.12), checkov"
	@echo "make up      start the local engine with the stack deployed"
	@echo "make bench   Pillow (imgpipe) vs libvips benchmark, prints ratios"
	@echo "make cost    measured \$$ per million uploads vs the single-Lambda design"
	@echo "make soak    500 uploads through the engine under faults, then redrive; prints a report"
	@echo "make test-localstack  the integration suite against LocalStack (the second engine)"

$(STAMP): requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

venv: $(STAMP)

$(SAM_STAMP): requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-sam.txt
	@rm -f $(SAM_VENV)/.installed-*
	@touch $(SAM_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt
	@rm -f $(CHECKOV_VENV)/.installed-*
	@touch $(CHECKOV_STAMP)

tools: $(SAM_STAMP) $(CHECKOV_STAMP)

test: $(STAMP) browser-deps
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

# Debian's Chromium for the browser tests (tests/api/test_browser.py skips without it).
browser-deps:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    || echo "browser-deps: could not install chromium; browser tests will be skipped"; }

# LocalStack in its own virtualenv (.venv-localstack, Python >= 3.13), started in host mode with
# imgpipe's plugins, the integration suite pointed at it, LocalStack stopped whatever the outcome.
LOCALSTACK_STATE := .localstack
test-localstack: $(STAMP)
	@rm -rf $(LOCALSTACK_STATE)
	$(VENV)/bin/imgpipe local localstack start --state-dir $(LOCALSTACK_STATE)
	@IMGPIPE_TEST_ENDPOINT=$$(cat $(LOCALSTACK_STATE)/endpoint) \
	  $(PY) -m pytest tests/integration -n $(PYTEST_WORKERS) --dist loadgroup; \
	  status=$$?; $(VENV)/bin/imgpipe local localstack stop --state-dir $(LOCALSTACK_STATE); \
	  exit $$status

unit: $(STAMP)
	$(PY) -m pytest tests/unit -n $(PYTEST_WORKERS)

integration: $(STAMP)
	$(PY) -m pytest tests/integration tests/engine -n $(PYTEST_WORKERS) --dist loadgroup

lint: $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy src layers/core functions
	$(VENV)/bin/cfn-lint template.yaml # .cfnlintrc.yaml adds the informational rules
	$(PY) -m imgpipe.cli validate-asl statemachine/*.asl.json
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --template template.yaml
	@$(MAKE) --no-print-directory sam-build
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download \
	  --compact --quiet # every skip is a "checkov:skip=ID:reason" comment in template.yaml

# sam build runs pip for the template's Runtime, so it needs that Python (3.12) on PATH:
# $$IMGPIPE_LAMBDA_PYTHON, else a working python3.12 on PATH, else pyenv's installs.
sam-build: $(SAM_STAMP)
	@py=; for candidate in "$$IMGPIPE_LAMBDA_PYTHON" python3.12 \
	    $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 2>/dev/null | sort -r); do \
	  [ -n "$$candidate" ] || continue; \
	  py=$$("$$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)' \
	    2>/dev/null) && break; py=; \
	done; \
	if [ -z "$$py" ]; then echo "sam build needs Python 3.12 (the template's Runtime): install it" \
	  "(e.g. pyenv install 3.12) or set IMGPIPE_LAMBDA_PYTHON" >&2; exit 1; fi; \
	echo "sam build with $$py"; \
	PATH="$$(dirname "$$py"):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --cached \
	  --template template.yaml --build-dir .aws-sam/build

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: $(STAMP)
	$(VENV)/bin/imgpipe demo --out out/demo

up: $(STAMP)
	$(VENV)/bin/imgpipe local up

# api/openapi.json is generated from the resolver's routes and models (a test checks it).
openapi: $(STAMP)
	$(VENV)/bin/imgpipe openapi

bench: $(STAMP)
	$(PY) bench/run.py --report bench/report.json
	$(PY) bench/memory.py --report bench/report-memory.json
	$(PY) bench/coldstart.py --report bench/report-coldstart.json

cost: $(STAMP)
	$(VENV)/bin/imgpipe cost --report out/cost.json

SOAK_UPLOADS ?= 500
soak: $(STAMP)
	$(PY) bench/soak.py --uploads $(SOAK_UPLOADS) --kill-interval-s 3 --report bench/soak-report.json

pr: lint test

lock:
	rm -rf /tmp/imgpipe-lock && $(PYTHON) -m venv /tmp/imgpipe-lock
	/tmp/imgpipe-lock/bin/pip install -q -r requirements.in
	(echo "# Generated by 'make lock' from requirements.in"; /tmp/imgpipe-lock/bin/pip freeze) > requirements-dev.txt

# The tool virtualenvs' pins, from their one top-level requirement each.
lock-tools:
	for tool in sam:aws-sam-cli==1.170.0 checkov:checkov==3.3.30; do \
	  name=$${tool%%:*}; rm -rf /tmp/imgpipe-lock-$$name && $(PYTHON) -m venv /tmp/imgpipe-lock-$$name && \
	  /tmp/imgpipe-lock-$$name/bin/pip install -q "$${tool#*:}" && \
	  { head -2 requirements-$$name.txt; /tmp/imgpipe-lock-$$name/bin/pip freeze; } > /tmp/imgpipe-lock-$$name.txt && \
	  mv /tmp/imgpipe-lock-$$name.txt requirements-$$name.txt; \
	done

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .venv-localstack .localstack .aws-sam build out \
	  .pytest_cache .mypy_cache .ruff_cache
