# The README's two commands are `make demo` and `make test`; CI runs `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium
TURNSERVER ?= /usr/bin/turnserver

.PHONY: demo serve test install install-test browser turn lint types pytest bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python browser turn
	$(BIN)/pip install --quiet -e '.[test]'

# Debian's Chromium drives the browser tests (no browser download).
browser:
	@command -v $(CHROMIUM) >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's coturn relays media in the TURN tests (tests/turn_server.py runs it on loopback).
turn:
	@command -v $(TURNSERVER) >/dev/null 2>&1 || { \
	  echo "installing Debian's coturn for the TURN tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn >/dev/null; }

demo: install
	$(BIN)/kiosk-assist demo

serve: install
	$(BIN)/kiosk-assist serve

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types:
	$(BIN)/mypy

pytest:
	$(BIN)/python -m pytest --numprocesses=auto --maxprocesses=4 --dist loadgroup

test: install-test lint types pytest

docs: install
	$(BIN)/python -m signaling.protocol_docs > docs/protocol.md

bench: install-test
	$(BIN)/python -m bench.call_setup

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
