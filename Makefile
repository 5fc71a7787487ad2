# Two commands on a fresh machine: `make run` (install + start the app) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: run test test-slow test-all install install-dev browser reproduce data benchmark load-test

$(VENV)/.installed: requirements.txt requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's Chromium drives the browser tests (Playwright's own download needs the internet).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null)

run: install
	$(PY) app.py

test: install-dev browser
	$(PY) -m pytest -q -m "not slow"

test-slow: install-dev
	$(PY) -m pytest -q -m slow

test-all: test test-slow

reproduce: install
	$(PY) -m finetune reproduce
	$(PY) -m finetune.persona_eval
	$(PY) -m finetune results --readme README.md

data: install-dev
	$(PY) -m tools.build_data

benchmark: install-dev
	$(PY) -m benchmarks

load-test: install-dev
	$(PY) -m benchmarks.load_test
