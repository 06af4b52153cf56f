"""Shared fixtures: the MicroPython Unix port and the real peers."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "pure"))  # checks.py, shared with the pure tests
sys.path.insert(0, os.path.join(ROOT, "lib"))

from mpy import MicroPython  # noqa: E402
from peers import InfluxDB, Rsyslog, VictoriaMetrics  # noqa: E402


@pytest.fixture(scope="session")
def mp():
    """Runs code under the ``micropython`` binary with lib/ on its path."""
    return MicroPython()


@pytest.fixture(scope="session")
def cpy():
    """Runs code under the ``micropython`` binary in the CircuitPython
    profile (host_tests/cpyprofile.py): CircuitPython's ``time`` and
    ``supervisor``, the bundle's asyncio, no ``socket``."""
    from cpyprofile import CircuitPythonProfile

    return CircuitPythonProfile()


@pytest.fixture(scope="session")
def influxdb():
    """A real InfluxDB 1.6 on loopback for the whole session."""
    db = InfluxDB().start()
    yield db
    db.cleanup()


@pytest.fixture(scope="session")
def victoria():
    """A real VictoriaMetrics on loopback for the whole session (TCP and UDP
    line protocol, InfluxDB v1/v2 write endpoints)."""
    vm = VictoriaMetrics().start()
    yield vm
    vm.cleanup()


@pytest.fixture
def influx_db(influxdb, request):
    """A fresh database name in the session's InfluxDB."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:60]
    influxdb.query('DROP DATABASE "%s"' % name)
    influxdb.create_db(name)
    return name


@pytest.fixture
def rsyslog():
    """A real rsyslog on loopback for one test (UDP and TCP inputs)."""
    r = Rsyslog().start()
    yield r
    r.cleanup()
