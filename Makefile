# Two commands set everything up on a fresh machine: `make run` and `make test`.
# The first interpreter that actually runs: pyenv shims exist for versions that are not selected.
PYTHON ?= $(shell for p in python3.12 python3.13 $$HOME/.pyenv/versions/3.12*/bin/python3.12 \
	$$HOME/.pyenv/versions/3.13*/bin/python3.13; do "$$p" -c 'import sys; assert sys.version_info >= (3, 12)' \
	2>/dev/null && { echo "$$p"; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

POLICY ?= policies/
LISTEN ?= 127.0.0.1:8080
STATE  ?= memory://

.DEFAULT_GOAL := help
.PHONY: help venv run test lint bench fuzz image clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "riskwall needs Python 3.12+ (python3.12 not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install riskwall with its test tools

run: $(STAMP) ## run the sidecar on $(LISTEN) with $(POLICY) and in-memory state
	$(BIN)/riskwall run --policy $(POLICY) --listen $(LISTEN) --state $(STATE)

test: $(STAMP) ## run every test (unit, Redis, end-to-end through a real sidecar)
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff and mypy (and hadolint on the Dockerfiles)
	$(BIN)/ruff check addons tests bench examples
	$(BIN)/mypy
	@if [ -x $(BIN)/hadolint ]; then $(BIN)/hadolint Dockerfile examples/compose/bot/Dockerfile; \
	else echo "hadolint not installed: Dockerfiles not linted"; fi

fuzz: $(STAMP) ## long property-based fuzzing of every venue adapter (bounded: a few thousand cases each)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/fuzz -q

bench: $(STAMP) ## latency and throughput vs bare mitmproxy, memory and Redis stores (not a test)
	$(BIN)/python bench/bench_proxy.py

image: ## build the container image (needs a running Docker engine)
	@docker info >/dev/null 2>&1 || { echo "no Docker engine answers here: build the image where one runs"; exit 1; }
	docker build -t riskwall:$$(git rev-parse --short HEAD 2>/dev/null || echo dev) -t riskwall:latest .

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info addons/*.egg-info
