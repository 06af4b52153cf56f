"""Configuration documents: sections checked by their capabilities, the
firmware's own keys, files merged."""

import monitoring
from monitoring.boardsettings import board_settings
from monitoring.config import merge, validate


def test_full_document_is_checked_with_defaults_filled_in():
    doc = {
        "hostname": "pico-1", "firmware": "demo-1", "log_level": "info", "wifi": None,
        "influx": {"transport": "http", "host": "10.0.0.2", "port": 8086, "db": "board",
                   "interval_s": 5, "precision": "s"},
        "syslog": {"host": "10.0.0.3", "transport": "tcp", "framing": "lf"},
        "control": {"port": 2323, "token": "t0k"},
        "trace": {"interval_ms": 100},
        "prometheus": {"enabled": False, "port": 9100},
    }
    good, errors = validate(doc)
    assert errors == [] and good == doc
    opts = monitoring.check(doc)
    assert sorted(opts) == ["control", "influx", "sources", "syslog", "trace"]
    assert opts["influx"] == {
        "host": "10.0.0.2", "port": 8086, "transport": "http", "db": "board", "org": None,
        "bucket": None, "token": None, "username": None, "password": None, "interval_s": 5,
        "precision": "s", "buffer_bytes": 4096, "mtu_bytes": 512, "timeout_ms": 5000,
        "string_newlines": None, "ca": None, "insecure": False, "cert": None, "key": None,
        "server_name": None}
    assert opts["syslog"]["port"] == 514 and opts["syslog"]["format"] == "rfc5424"
    assert opts["trace"] == {"port": 4242, "addr": "0.0.0.0", "interval_ms": 100,
                             "buffer_bytes": 1024}
    assert opts["sources"] == {"builtin": True, "net": False, "asyncio_lag_ms": 100}


def test_bad_section_is_off_with_one_message_naming_the_key():
    doc = {"influx": {"host": "h", "port": 8089, "transport": "udp"},
           "syslog": {"host": "h", "port": "514"},
           "control": {"port": 2323, "colour": "red"},
           "trace": {"port": -1}}
    good, errors = validate(doc)
    assert good == {"influx": doc["influx"]}
    assert errors[:2] == [
        "config: control.colour: unknown key (known: port, addr, token, clients) (control off)",
        "config: syslog.port: expected an integer from 1 to 65535, got '514' (syslog off)"]
    assert errors[2] == ("config: trace.port: expected an integer from 0 to 65535, got -1 "
                         "(trace off)")


def test_syslog_port_follows_the_transport():
    def port(**kw):
        kw["host"] = "h"
        return monitoring.check({"syslog": kw})["syslog"]["port"]

    assert port() == 514 and port(transport="tcp") == 514
    assert port(transport="relp") == 2514
    assert port(transport="relp", port=20514) == 20514 and port(port=5140) == 5140
    try:
        monitoring.check({"syslog": {"host": "h", "transport": "rlp"}})
    except ValueError as e:
        assert str(e) == "syslog.transport: expected one of udp, tcp, tls, relp, got 'rlp'", str(e)
    else:
        raise AssertionError("accepted")


def test_start_raises_what_validate_reports():
    """One check: start() refuses with the message validate() prints."""
    try:
        monitoring.check({"syslog": {"host": "h", "port": "514"}})
    except ValueError as e:
        assert str(e) == "syslog.port: expected an integer from 1 to 65535, got '514'"
    else:
        raise AssertionError("accepted")


def test_required_keys_and_http_needs_a_database():
    good, errors = validate({"influx": {"port": 1}, "syslog": {}})
    assert good == {}
    assert errors == ["config: influx.host: required (influx off)",
                      "config: syslog.host: required (syslog off)"]
    good, errors = validate({"influx": {"host": "h", "port": 1, "transport": "http"}})
    assert good == {} and errors == [
        "config: influx.db: required for http (InfluxDB 1.x), or org and bucket (2.x) "
        "(influx off)"]
    good, errors = validate({"influx": {"host": "h", "org": "o", "bucket": "b"}})
    assert errors == []


def test_hostname_and_unknown_keys():
    good, errors = validate({"hostname": "bad name", "influxdb": {"host": "h"}, "heartbeat": 5,
                             "watchdog_ms": 0})
    assert good == {"watchdog_ms": 0}
    assert errors[0].startswith("config: heartbeat: unknown key (known: hostname, firmware, ")
    assert errors[1] == ("config: hostname: expected a name without spaces, ',' or '=', "
                         "got 'bad name' (default used)")
    assert errors[2].startswith("config: influxdb: unknown key") and errors[2].endswith(
        " (ignored)")


def test_hostnames_start_would_refuse_are_refused():
    """A hostname start() refuses (a final backslash, a DEL character) is
    caught by validate, with the default used, not by start failing."""
    for dev in ("pico\\", "a\x7fb", "a\\,b"):
        good, errors = validate({"hostname": dev})
        assert good == {} and len(errors) == 1, (dev, good, errors)
        assert errors[0].startswith("config: hostname: expected a name"), errors
    good, errors = validate({"hostname": "pi:co-1.lan"})
    assert good == {"hostname": "pi:co-1.lan"} and errors == []


def test_merge_overrides_one_level_deep():
    base = {"influx": {"host": "a", "port": 1}, "hostname": "x"}
    over = {"influx": {"port": 2}, "trace": None}
    assert merge(base, over) == {"influx": {"host": "a", "port": 2}, "hostname": "x",
                                 "trace": None}
    assert base["influx"]["port"] == 1


def test_buffer_sizes_for_small_boards():
    doc = {"influx": {"host": "h", "port": 8089, "transport": "udp", "buffer_bytes": 2048},
           "syslog": {"host": "h", "queue_bytes": 1024}}
    good, errors = validate(doc)
    assert errors == [] and good == doc
    good, errors = validate({"influx": {"host": "h", "transport": "udp", "buffer_bytes": 100}})
    assert errors == ["config: influx.buffer_bytes: expected an integer from 256 to 1048576, "
                      "got 100 (influx off)"]


def test_board_settings_checked_with_defaults_and_no_password_in_messages():
    doc = {"wifi": {"ssid": "plant-net", "password": "pw", "country": "GB"},
           "ntp": {"host": "10.0.0.1"}, "watchdog_ms": 8000, "heartbeat_s": 2.5,
           "log_level": "debug"}
    errors = []
    assert board_settings(doc, errors) == {
        "wifi": doc["wifi"], "ntp": "10.0.0.1", "watchdog_ms": 8000, "heartbeat_s": 2.5,
        "log_level": "debug", "sleep_s": 0} and errors == []
    dflt = {"wifi": None, "ntp": None, "watchdog_ms": 0, "heartbeat_s": 10, "log_level": "info",
            "sleep_s": 0}
    assert board_settings({}, errors) == dflt and errors == []
    assert board_settings({"ntp": {}, "watchdog_ms": 0}, errors) == dflt and errors == []
    bad = {"wifi": {"ssid": "plant-net", "password": 12345678}, "ntp": "pool.ntp.org",
           "watchdog_ms": 500, "heartbeat_s": True, "log_level": "loud"}
    assert board_settings(bad, errors) == dflt
    assert errors == [
        "config: wifi: expected an object of strings: ssid, password, country (network off)",
        "config: ntp: expected an object of strings: host, got 'pool.ntp.org'"
        " (the board's NTP server)",
        "config: watchdog_ms: expected 0 (off) or an integer from 1000 to 3600000, got 500"
        " (watchdog off)",
        "config: heartbeat_s: expected a number from 0.1 to 86400, got True (10 s)",
        "config: log_level: expected one of debug, info, warning, error, critical, got 'loud'"
        " (info)",
    ]


def test_an_empty_host_turns_its_section_off_with_a_message():
    """``"host": ""`` (a template left unfilled) is no host: the section is
    off with a message, not started with every send failing."""
    good, errors = validate({"influx": {"host": ""}, "syslog": {"host": ""}})
    assert good == {}, good
    assert errors == ["config: influx.host: expected a host name or address, got '' (influx off)",
                      "config: syslog.host: expected a host name or address, got '' (syslog off)"]
