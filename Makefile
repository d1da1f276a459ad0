# The front door. `make run` starts the assistant; `make test` runs every test. Both install what
# they need first (a Python 3.10 venv with pinned packages), so they work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
# Rasa 3.6 runs on Python 3.8-3.10 only; pyenv ships 3.10 on our machines.
PYTHON_310 ?= $(shell for p in python3.10 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10; do \
  $$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { command -v $$p; break; }; done)

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1

MODEL := models/lorex.tar.gz
# data/nlu/<lang>/ holds each language's training data (Spanish, French); every language's
# shorthand is part of what the intent classifier reads.
TRAINING_INPUTS := config.yml $(wildcard domain/*.yml data/nlu/*.yml data/nlu/*/*.yml data/rules/*.yml) \
  $(wildcard bot/nlu/*.py data/content/shorthand.yml data/content/*/shorthand.yml)

.PHONY: help install browser haproxy db run cluster test lint validate train clean

help:
	@echo "make run    start the assistant (installs, migrates, seeds, trains if needed)"
	@echo "make cluster  the same as two Rasa instances behind HAProxy, on PostgreSQL and Redis"
	@echo "make test   install, then run every test"
	@echo "make train  retrain the model if config or training data changed"

install: $(VENV)/.installed

$(VENV)/.installed: requirements.in constraints.txt
	@if [ -z "$(PYTHON_310)" ]; then \
	  echo "Python 3.10 is required (Rasa 3.6 does not run on 3.11)."; \
	  echo "Install it with 'pyenv install 3.10' or run: make PYTHON_310=/path/to/python3.10 ..."; \
	  exit 1; fi
	@test -x $(PY) || $(PYTHON_310) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.in -c constraints.txt
	@touch $@

# Retrains only when the configuration, the domain, the training data or the NLU components change.
$(MODEL): $(VENV)/.installed $(TRAINING_INPUTS)
	$(RASA) train --config config.yml --domain domain --data data/nlu data/rules \
	  --out models --fixed-model-name lorex
	@touch $@

train: $(MODEL)

# The browser tests drive Debian's Chromium with Playwright (no browser download from elsewhere).
BROWSER := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser: $(BROWSER)

$(BROWSER):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

# `make cluster` puts Debian's HAProxy in front of its Rasa instances.
HAPROXY := /usr/sbin/haproxy

haproxy: $(HAPROXY)

$(HAPROXY):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy

db: install
	$(PY) -m bot.cli migrate
	$(PY) -m bot.cli seed

run: install db train
	$(PY) -m bot.cli run

# Migrates and seeds PostgreSQL itself (creating the databases if missing): see bot/cluster/.
cluster: install train haproxy
	$(PY) -m bot.cli cluster

# No --fail-on-warnings: the intents the agent console triggers (EXTERNAL_*) are rightly absent
# from the NLU data. tests/test_rasa_model.py checks every warning instead.
validate: install
	$(RASA) data validate --domain domain --data data/nlu data/rules

lint: install
	$(VENV)/bin/ruff check bot actions tests
	$(VENV)/bin/mypy

test: install train browser haproxy
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest

clean:
	rm -rf models results var .pytest_cache .mypy_cache .ruff_cache

# The benchmark (bench/run.py): understanding, speed under load against a stock Rasa bot measured
# in the same run, start-up, memory and training. Rewrites bench/results/ (Markdown, PNG plots,
# results.json). Not part of `make test`: nothing in it is a pass/fail test.
.PHONY: bench
bench: install $(MODEL) $(VENV)/.bench-installed
	$(PY) -m bench.run

$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.in bench/constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.in \
	  -c constraints.txt -c bench/constraints.txt
	@touch $@
