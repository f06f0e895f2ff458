"""`relaywatch init` and a new user's first day: a starter config from their own logs, and
neutral defaults (never the demo's customers, zone or domains) for logs named without one."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer import jobs
from analyzer.cli import cli
from analyzer.errors import InputError
from analyzer.judgements.customers import read_customers
from analyzer.settings.config import FROM_DEFAULTS, FROM_FILE, load_settings, machine_timezone

# A small provider that is not the sample's: its own host (an FQDN, dotted), domains and
# clients. Classic stamps: the year comes from the file.
OWN_LOG = """\
Mar  2 08:00:00 gw-1.example.net postfix/smtpd[500]: connect from unknown[203.0.113.5]
Mar  2 08:00:01 gw-1.example.net postfix/smtpd[500]: 1A2B3C4D5E: client=unknown[203.0.113.5]
Mar  2 08:00:01 gw-1.example.net postfix/cleanup[501]: 1A2B3C4D5E: message-id=<a@sender.example>
Mar  2 08:00:01 gw-1.example.net postfix/qmgr[502]: 1A2B3C4D5E: from=<a@sender.example>, size=900, nrcpt=1 (queue active)
Mar  2 08:00:02 gw-1.example.net postfix/smtpd[500]: disconnect from unknown[203.0.113.5] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Mar  2 08:00:02 gw-1.example.net postfix/virtual[503]: 1A2B3C4D5E: to=<anna@ourmail.example>, relay=virtual, delay=1, delays=0.5/0/0/0.5, dsn=2.0.0, status=sent (delivered to maildir)
Mar  2 08:00:02 gw-1.example.net postfix/qmgr[502]: 1A2B3C4D5E: removed
Mar  2 09:00:00 gw-1.example.net postfix/smtpd[500]: connect from office[198.18.7.9]
Mar  2 09:00:01 gw-1.example.net postfix/smtpd[500]: 2B3C4D5E6F: client=office[198.18.7.9]
Mar  2 09:00:01 gw-1.example.net postfix/qmgr[502]: 2B3C4D5E6F: from=<boss@ourmail.example>, size=900, nrcpt=1 (queue active)
Mar  2 09:00:02 gw-1.example.net postfix/smtpd[500]: disconnect from office[198.18.7.9] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Mar  2 09:00:03 gw-1.example.net postfix/smtp[504]: 2B3C4D5E6F: to=<friend@gmail.com>, relay=gmail-smtp-in.l.google.com[192.0.2.99]:25, delay=2, delays=0.5/0/0.5/1, dsn=2.0.0, status=sent (250 ok)
Mar  2 09:00:03 gw-1.example.net postfix/qmgr[502]: 2B3C4D5E6F: removed
"""


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def own_log(tmp_path: Path) -> Path:
    log = tmp_path / "logs" / "mail.log"
    log.parent.mkdir()
    log.write_text(OWN_LOG)
    return log


def test_init_writes_a_config_that_loads_and_names_what_the_logs_show(
    tmp_path: Path, own_log: Path
):
    folder = tmp_path / "etc"
    folder.mkdir()
    written, found = jobs.init_config(
        folder,
        [str(own_log.parent / "mail.log*")],
        "/var/lib/relaywatch/store",
        dt.date(2026, 12, 15),
        environ={"TZ": "Europe/Berlin"},
        today=dt.date(2026, 12, 2),
    )
    assert written == [folder / "relaywatch.toml", folder / "customers.csv"]
    assert found.servers == ("gw-1.example.net",) and found.local_domains == ("ourmail.example",)
    data = tomllib.loads(written[0].read_text())  # valid TOML, server name quoted
    assert data["logs"] == [str(own_log.parent / "mail.log*")]
    assert data["timezone"] == "Europe/Berlin"
    assert data["local_domains"] == ["ourmail.example"]
    assert data["servers"] == {"gw-1.example.net": {}}
    settings = load_settings(written[0], environ={})
    assert settings.enforcement_date == dt.date(2026, 12, 15)
    assert settings.store == Path("/var/lib/relaywatch/store")
    assert settings.customers == folder / "customers.csv"
    assert read_customers(settings.customers).empty  # header + commented example row


def test_init_never_overwrites_without_force_and_keeps_customers(tmp_path: Path, own_log: Path):
    (tmp_path / "relaywatch.toml").write_text("# mine\n")
    (tmp_path / "customers.csv").write_text("customer_id,name,domains,networks,contact_email\n")
    with pytest.raises(InputError, match="exists: not overwritten"):
        jobs.init_config(tmp_path, [str(own_log)])
    assert (tmp_path / "relaywatch.toml").read_text() == "# mine\n"
    written, _ = jobs.init_config(tmp_path, [str(own_log)], force=True)
    assert written == [tmp_path / "relaywatch.toml"]  # the customers file is the user's data
    assert "logs = [" in (tmp_path / "relaywatch.toml").read_text()


def test_init_looks_in_the_usual_places(tmp_path: Path, own_log: Path):
    usual = (str(tmp_path / "none" / "maillog*"), str(own_log.parent / "mail.log*"))
    _, found = jobs.init_config(tmp_path, usual_logs=usual)
    assert found.logs == (usual[1],) and found.files == 1
    with pytest.raises(InputError, match="no mail logs in the usual places"):
        jobs.init_config(tmp_path, usual_logs=usual[:1], force=True)


def test_init_then_export_and_serve_show_the_users_log_not_the_demo(
    tmp_path: Path, own_log: Path, monkeypatch
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("RELAYWATCH_CONFIG", raising=False)
    result = run("init", "--logs", str(own_log))
    assert result.exit_code == 0, result.output
    assert "relaywatch ingest" in result.stdout and "relaywatch serve" in result.stdout
    result = run("export", "sessions", "--no-dns")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["server"], r["client_ip"], r["class"], r["reason"]) for r in rows] == [
        ("gw-1.example.net", "203.0.113.5", "unauthenticated", "inbound"),
        ("gw-1.example.net", "198.18.7.9", "unauthenticated", "relay"),
    ]
    assert {r["customer_id"] for r in rows} == {""}  # no demo customer received them
    assert {r["period"] for r in rows} == {"before"}  # no enforcement date yet
    assert "bundled demo" not in result.stderr
    assert "no customers: sessions are not attributed" in result.stderr
    from analyzer.settings.config import load_settings as load
    from analyzer.settings.notices import settings_notes
    from dashboard.data import load_data

    data = load_data(load(work / "relaywatch.toml"), dns=False)
    assert len(data.view.read("sessions")) == 2
    assert "No customers" in " ".join(settings_notes(data.settings, False))


def test_logs_named_without_a_config_get_neutral_defaults(
    tmp_path: Path, own_log: Path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, environ={"TZ": "Asia/Tokyo"}, logs_named=True)
    assert settings.origin == FROM_DEFAULTS and settings.config_path is None
    assert (settings.timezone, settings.timezone_inferred) == ("Asia/Tokyo", True)
    assert settings.customers is None and settings.enforcement_date is None
    assert settings.local_domains == () and settings.year is None
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    result = run("export", "sessions", str(own_log), "--no-dns")
    assert result.exit_code == 0, result.output
    assert "no config file: neutral defaults" in result.stderr
    assert "time zone Asia/Tokyo" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["start"].endswith("+09:00")  # this machine's zone, not New York's
    assert rows[0]["reason"] == "inbound"  # ourmail.example inferred as local


def test_a_store_named_without_a_config_is_never_judged_with_the_demo_s_settings(
    tmp_path: Path, own_log: Path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RELAYWATCH_CONFIG", raising=False)
    monkeypatch.delenv("RELAYWATCH_STORE", raising=False)
    store = tmp_path / "store"
    # without logs: an error, not the demo's sample logs ingested into the user's store
    result = run("ingest", "--store", str(store))
    assert result.exit_code == 2 and "no logs given" in result.stderr
    assert "bundled demo" not in result.stderr and not store.exists()
    assert run("ingest", str(own_log), "--store", str(store)).exit_code == 0
    result = run("export", "sessions", "--store", str(store), "--no-dns")
    assert result.exit_code == 0, result.output
    assert "bundled demo" not in result.stderr and "neutral defaults" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # the user's two sessions, with no demo customer and no demo enforcement date
    assert [(r["client_ip"], r["customer_id"], r["period"]) for r in rows] == [
        ("203.0.113.5", "", "before"),
        ("198.18.7.9", "", "before"),
    ]
    settings = load_settings(None, environ={"RELAYWATCH_STORE": str(store)})
    assert settings.origin == FROM_DEFAULTS and settings.store == store


def test_a_bare_command_still_opens_the_demo_and_says_so(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RELAYWATCH_CONFIG", raising=False)
    result = run("export", "customers", "--no-dns", "--status", "broken")
    assert result.exit_code == 0, result.output
    assert "showing the bundled demo" in result.stderr
    assert len(result.stdout.splitlines()) > 1  # the demo's customers


def test_a_config_in_the_folder_is_used_not_the_demo(tmp_path: Path, monkeypatch):
    (tmp_path / "relaywatch.toml").write_text('timezone = "UTC"\n')
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, environ={})
    assert settings.origin == FROM_FILE and settings.config_path == tmp_path / "relaywatch.toml"


@pytest.mark.parametrize(
    ("tz_env", "etc_timezone", "localtime", "expected"),
    [
        ("Europe/Paris", "Asia/Tokyo", "../usr/share/zoneinfo/America/Chicago", "Europe/Paris"),
        (":Europe/Paris", None, None, "Europe/Paris"),
        ("", "Asia/Tokyo\n", "../usr/share/zoneinfo/America/Chicago", "Asia/Tokyo"),
        ("", None, "/usr/share/zoneinfo/America/Chicago", "America/Chicago"),
        ("Not/AZone", "garbage zone", None, "UTC"),
        ("", None, None, "UTC"),
    ],
)
def test_machine_timezone(tmp_path: Path, tz_env, etc_timezone, localtime, expected):
    if etc_timezone is not None:
        (tmp_path / "timezone").write_text(etc_timezone)
    if localtime is not None:
        (tmp_path / "localtime").symlink_to(localtime)
    assert machine_timezone({"TZ": tz_env}, tmp_path) == expected


def test_no_bundled_demo_is_one_clear_error(tmp_path: Path, monkeypatch):
    from analyzer.errors import ConfigError
    from analyzer.settings import config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "DEMO_CONFIG", tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="run `relaywatch init`"):
        load_settings(None, environ={})


def test_unreadable_logs_in_the_usual_place_are_said_not_missed():
    import os
    import shutil
    import tempfile

    from tests.conftest import as_nobody

    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    root = Path(tempfile.mkdtemp())  # pytest's tmp_path is closed to other users
    try:
        root.chmod(0o755)
        (root / "log").mkdir(mode=0o755)
        log = root / "log" / "mail.log"
        log.write_text(OWN_LOG)
        log.chmod(0o600)  # as /var/log/mail.log is to a user outside group adm
        (root / "out").mkdir()
        (root / "out").chmod(0o777)
        usual = (str(root / "log" / "mail.log*"),)
        message = as_nobody(lambda: jobs.init_config(root / "out", usual_logs=usual))
        assert message == f"log file is not readable: {log}"
        assert not (root / "out" / "relaywatch.toml").exists()
    finally:
        shutil.rmtree(root)
