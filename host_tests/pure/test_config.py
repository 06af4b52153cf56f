"""Firmware configuration: JSON document -> monitoring.start kwargs."""

from monitoring.boardsettings import board_settings
from monitoring.config import log_level, merge, to_start_kwargs


def test_full_document():
    doc = {
        "device": "pico-1", "firmware": "demo-1",
        "influx": {"transport": "http", "host": "10.0.0.2", "port": 8086, "db": "board",
                   "interval": 5, "precision": "s"},
        "syslog": {"host": "10.0.0.3", "transport": "tcp", "framing": "lf"},
        "control": {"port": 2323, "token": "t0k"},
        "trace": {"interval_ms": 100},
        "prometheus": {"enabled": False, "port": 9100},
    }
    kw, errors = to_start_kwargs(doc)
    assert errors == []
    assert kw == {
        "hostname": "pico-1", "firmware": "demo-1",
        "influx": ("10.0.0.2", 8086), "transport": "http", "interval": 5, "precision": "s",
        "db": "board",
        "syslog": ("10.0.0.3", 514), "syslog_transport": "tcp", "syslog_format": "rfc5424",
        "syslog_framing": "lf",
        "listen_port": 2323, "control_token": "t0k",
        "trace_port": 4242, "trace_interval_ms": 100,
    }


def test_bad_section_is_off_with_one_message_naming_the_key():
    doc = {"influx": {"host": "h", "port": 8089},
           "syslog": {"host": "h", "port": "514"},
           "control": {"port": 2323, "colour": "red"},
           "trace": {"port": 0}}
    kw, errors = to_start_kwargs(doc)
    assert kw["influx"] == ("h", 8089) and kw["transport"] == "udp"
    assert "syslog" not in kw and "listen_port" not in kw and "trace_port" not in kw
    assert len(errors) == 3
    assert errors[0].startswith("config: syslog.port: expected an integer from 1 to 65535")
    assert errors[0].endswith("(syslog off)")
    assert errors[1] == "config: control.colour: unknown key (control off)"
    assert errors[2].startswith("config: trace.port:")


def test_required_keys_and_http_needs_a_database():
    kw, errors = to_start_kwargs({"influx": {"port": 1}, "syslog": {}})
    assert "influx" not in kw and "syslog" not in kw
    assert errors == ["config: influx.host: required (influx off)",
                      "config: syslog.host: required (syslog off)"]
    kw, errors = to_start_kwargs({"influx": {"host": "h", "port": 1, "transport": "http"}})
    assert "influx" not in kw and "influx.db" in errors[0]


def test_device_name_and_log_level():
    kw, errors = to_start_kwargs({"device": "bad name"}, "dflt")
    assert kw["hostname"] == "dflt" and errors and errors[0].startswith("config: device:")
    errors = []
    assert log_level({"log_level": "loud"}, errors) == "info" and "log_level" in errors[0]
    assert log_level({}, []) == "info"


def test_merge_overrides_one_level_deep():
    base = {"influx": {"host": "a", "port": 1}, "device": "x"}
    over = {"influx": {"port": 2}, "trace": None}
    assert merge(base, over) == {"influx": {"host": "a", "port": 2}, "device": "x", "trace": None}
    assert base["influx"]["port"] == 1


def test_buffer_sizes_for_small_boards():
    doc = {"influx": {"host": "h", "port": 8089, "buffer_size": 2048},
           "syslog": {"host": "h", "queue": 1024}}
    kw, errors = to_start_kwargs(doc)
    assert errors == []
    assert kw["buffer_size"] == 2048 and kw["syslog_queue"] == 1024
    kw, errors = to_start_kwargs({"influx": {"host": "h", "port": 1, "buffer_size": 100}})
    assert "influx" not in kw
    assert errors == ["config: influx.buffer_size: expected an integer from 512 to 1048576, "
                      "got 100 (influx off)"]


def test_board_settings_checked_with_defaults_and_no_password_in_messages():
    doc = {"wifi": {"ssid": "plant-net", "password": "pw", "country": "GB"},
           "ntp": {"host": "10.0.0.1"}, "watchdog_ms": 8000, "heartbeat_s": 2.5}
    errors = []
    assert board_settings(doc, errors) == [doc["wifi"], "10.0.0.1", 8000, 2.5] and errors == []
    assert board_settings({}, errors) == [None, None, 0, 10] and errors == []
    assert board_settings({"ntp": {}, "watchdog_ms": 0}, errors) == [None, None, 0, 10]
    assert errors == []
    bad = {"wifi": {"ssid": "plant-net", "password": 12345678}, "ntp": "pool.ntp.org",
           "watchdog_ms": 500, "heartbeat_s": True}
    assert board_settings(bad, errors) == [None, None, 0, 10]
    assert errors == [
        "config: wifi: expected an object of strings: ssid, password, country (network off)",
        "config: ntp: expected an object of strings: host, got 'pool.ntp.org'"
        " (the board's NTP server)",
        "config: watchdog_ms: expected 0 (off) or an integer from 1000 to 3600000, got 500"
        " (watchdog off)",
        "config: heartbeat_s: expected a number from 0.1 to 86400, got True (10 s)",
    ]


def test_board_settings_name_an_unknown_top_level_key():
    """A misspelt section (``influxdb`` for ``influx``) would leave that
    capability off without a word; the firmware's reading names it."""
    errors = []
    doc = {"device": "d", "firmware": "f", "log_level": "info", "influxdb": {"host": "h"},
           "heartbeat": 5, "influx": None, "syslog": None, "control": None, "trace": None,
           "prometheus": None, "wifi": None, "ntp": None, "watchdog_ms": 0, "heartbeat_s": 10}
    assert board_settings(doc, errors) == [None, None, 0, 10]
    assert sorted(errors) == ["config: heartbeat: unknown key (ignored)",
                              "config: influxdb: unknown key (ignored)"]


def test_device_names_start_would_refuse_are_refused_here():
    """The device name becomes start()'s hostname: a name start() refuses
    (a final backslash, a DEL character) must be caught here, with the
    default used, or the whole of monitoring fails to start."""
    for dev in ("pico\\", "a\x7fb", "a\\,b"):
        kw, errors = to_start_kwargs({"device": dev}, "dflt")
        assert kw["hostname"] == "dflt" and len(errors) == 1, (dev, kw, errors)
        assert errors[0].startswith("config: device: expected a name"), errors
    kw, errors = to_start_kwargs({"device": "pi:co-1.lan"}, "dflt")
    assert kw["hostname"] == "pi:co-1.lan" and errors == []


def test_an_empty_host_turns_its_section_off_with_a_message():
    """``"host": ""`` (a template left unfilled) is no host: the section is
    off with a message, not started with every send failing."""
    kw, errors = to_start_kwargs({"influx": {"host": ""}, "syslog": {"host": ""}})
    assert "influx" not in kw and "syslog" not in kw, kw
    assert errors == ["config: influx.host: expected a host name or address, got '' (influx off)",
                      "config: syslog.host: expected a host name or address, got '' (syslog off)"]
