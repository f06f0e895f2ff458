"""Settings: file discovery, relative paths, env overrides, and one clear error per bad key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from analyzer.errors import ConfigError
from analyzer.settings.config import DEMO_CONFIG, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "relaywatch.toml"
    path.write_text(text)
    return path


def test_relative_paths_are_relative_to_the_file(tmp_path: Path):
    settings = load_settings(write(tmp_path, 'customers = "c.csv"\nlogs = ["log/*"]\n'), environ={})
    assert settings.customers == tmp_path / "c.csv"
    assert settings.base_dir == tmp_path and settings.logs == ("log/*",)


def test_without_any_config_the_demo_is_used(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(None, environ={}).config_path == DEMO_CONFIG


def test_environment_names_the_file_and_overrides_keys(tmp_path: Path):
    path = write(tmp_path, 'enforcement_date = "2003-11-21"\ntimezone = "UTC"\n')
    settings = load_settings(
        None, environ={"RELAYWATCH_CONFIG": str(path), "RELAYWATCH_TIMEZONE": "Europe/Berlin"}
    )
    assert settings.timezone == "Europe/Berlin"
    assert settings.enforcement_date == dt.date(2003, 11, 21)


def test_per_server_dates(tmp_path: Path):
    path = write(
        tmp_path, '[servers.mail1]\nenforcement_date = 2003-11-24\noutbound_ip = "192.0.2.10"\n'
    )
    settings = load_settings(path, environ={})
    assert settings.server_enforcement() == {"mail1": dt.date(2003, 11, 24)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('enforcment_date = "2003-11-21"\n', "unknown key 'enforcment_date'"),
        ('enforcement_date = "2003-13-01"\n', "'2003-13-01' is not a date"),
        ('timezone = "Mars/Olympus"\n', "unknown time zone 'Mars/Olympus'"),
        ("year = 1492\n", "year 1492 is out of range"),
        ('logs = "a" "b"\n', "invalid TOML"),
        ('[mail]\nstarttls = "maybe"\n', "mail.starttls: 'maybe' is not true or false"),
        ('[servers.mail1]\nip = "x"\n', r"\[servers.mail1\]: unknown key 'ip'"),
    ],
)
def test_bad_settings_name_the_problem(tmp_path: Path, text: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), environ={})


def test_a_named_config_that_does_not_exist(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found: .*absent.toml"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_cli_overrides_are_checked():
    settings = load_settings(DEMO_CONFIG, environ={})
    assert settings.with_overrides(enforcement_date="2003-11-24").enforcement_date == dt.date(
        2003, 11, 24
    )
    with pytest.raises(ConfigError, match="--enforcement: 'tomorrow' is not a date"):
        settings.with_overrides(enforcement_date="tomorrow")


RULE = """
[[rules]]
name = "greylist"
daemons = ["smtpd"]
event = "reject"
regex = '^greylisted (?P<client_host>[^\\[]*)\\[(?P<client_ip>[0-9.]+)\\] after (?P<stage>[A-Z]+): (?P<reply>.*)$'
example = "greylisted unknown[192.0.2.1] after RCPT: 450 4.7.1 try again later"
"""


def test_a_rule_of_the_config_reads_a_local_shape(tmp_path: Path):
    from analyzer.judgements.pipeline import line_rules
    from tests.conftest import parse_texts

    settings = load_settings(write(tmp_path, RULE), environ={})
    rules = line_rules(settings)
    assert rules[0].name == "config_greylist"  # before the built-in ones
    line = "Nov 21 09:00:00 mx1 postfix/smtpd[7]: greylisted unknown[203.0.113.4] after RCPT: 450 4.7.1 later"
    from analyzer.reading.parse import StampOptions, parse_lines
    from tests.conftest import lines_frame, sources_frame

    event = parse_lines(lines_frame([line]), sources_frame(), StampOptions("UTC", 2003), rules)
    row = event.iloc[0]
    assert (row["rule"], row["event"], row["client_ip"], row["stage"], row["reject_kind"]) == (
        "config_greylist",
        "reject",
        "203.0.113.4",
        "RCPT",
        "policy",
    )
    assert parse_texts([line])["event"].iloc[0] == "unmatched"  # without it


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('event = "reject"', 'event = "bounce"'), "event 'bounce' is not one of"),
        (("(?P<stage>", "(?P<stagex>"), "unknown group 'stagex'"),
        (("[192.0.2.1] after", "[192.0.2.1] before"), "the example does not match"),
        (("regex = '^greylisted", "regex = 'greylisted"), "must be anchored"),
        (('name = "greylist"\n', ""), "missing key 'name'"),
        (("(?P<reply>.*)$'", "(?P<reply>.*$'"), "invalid regex"),
    ],
)
def test_a_bad_rule_names_itself(tmp_path: Path, change, message):
    from analyzer.judgements.pipeline import line_rules

    with pytest.raises(ConfigError, match=message):
        line_rules(load_settings(write(tmp_path, RULE.replace(*change)), environ={}))


def test_blocklist_never_takes_cidrs_and_refuses_anything_else(tmp_path: Path):
    settings = load_settings(
        write(tmp_path, '[blocklist]\nnever = ["192.0.2.200", "2001:DB8::/32"]\n'), environ={}
    )
    assert settings.blocklist.never == ("192.0.2.200/32", "2001:db8::/32")
    assert settings.blocklist.private is False
    with pytest.raises(ConfigError, match="blocklist.never: 'lb.example' is not a CIDR"):
        load_settings(write(tmp_path, '[blocklist]\nnever = ["lb.example"]\n'), environ={})
