"""Sending the summary keeps the SMTP password secret: never from a file others may read,
never over a connection others may read; unsent mail is kept owner-only."""

from __future__ import annotations

import dataclasses
import datetime as dt
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer import jobs
from analyzer.cli import cli
from analyzer.errors import ConfigError
from analyzer.outputs.mailer import check_auth_transport, smtp_password, spool_message, write_eml
from analyzer.settings.config import MailConfig, load_settings


def password_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "smtp-password"
    path.write_text("s3cret-7f1\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640, 0o440])
def test_a_password_file_only_its_owner_and_group_may_read_is_used(tmp_path: Path, mode: int):
    mail = MailConfig(username="reports", password_file=password_file(tmp_path, mode))
    assert smtp_password(mail, {}) == "s3cret-7f1"


@pytest.mark.parametrize(
    ("mode", "words"),
    [(0o644, "read by every local user"), (0o604, "read by every"), (0o660, "changed by other")],
)
def test_a_password_file_others_may_read_or_change_is_refused(
    tmp_path: Path, mode: int, words: str
):
    path = password_file(tmp_path, mode)
    mail = MailConfig(username="reports", password_file=path)
    with pytest.raises(ConfigError) as refused:
        smtp_password(mail, {})
    message = str(refused.value)
    assert words in message and str(path) in message and "allow_insecure_password_file" in message
    assert "\n" not in message and "s3cret" not in message
    allowed = dataclasses.replace(mail, allow_insecure_password_file=True)
    assert smtp_password(allowed, {}) == "s3cret-7f1"


def test_the_allowance_is_a_config_key(tmp_path: Path):
    config = tmp_path / "relaywatch.toml"
    config.write_text(
        '[mail]\nusername = "r"\nallow_insecure_password_file = true\n'
        "allow_plaintext_auth = true\nstarttls = false\n"
    )
    mail = load_settings(config, environ={}).mail
    assert mail.allow_insecure_password_file and mail.allow_plaintext_auth


@pytest.mark.parametrize("host", ["smtp.provider.example", "192.0.2.25", "0.0.0.0"])
def test_auth_without_tls_to_another_machine_is_refused(host: str):
    mail = MailConfig(host=host, starttls=False, username="reports")
    with pytest.raises(ConfigError, match="without TLS") as refused:
        smtp_password(mail, {"RELAYWATCH_SMTP_PASSWORD": "s3cret-7f1"})
    assert "allow_plaintext_auth" in str(refused.value) and "s3cret" not in str(refused.value)
    check_auth_transport(dataclasses.replace(mail, allow_plaintext_auth=True))
    check_auth_transport(dataclasses.replace(mail, starttls=True))
    check_auth_transport(dataclasses.replace(mail, username=None))  # no AUTH: no password


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1"])
def test_auth_without_tls_on_this_machine_is_allowed(host: str):
    """The password does not leave the machine (a local MTA on port 25 or 587)."""
    check_auth_transport(MailConfig(host=host, starttls=False, username="reports"))


def test_the_report_refuses_before_the_work_with_one_line(demo_settings, tmp_path, monkeypatch):
    path = password_file(tmp_path, 0o644)
    mail = MailConfig(username="reports", password_file=path, to=("a@b.example",))
    settings = dataclasses.replace(demo_settings, mail=mail)

    def no_work(*args, **kwargs):
        raise AssertionError("the summary was built before the password was checked")

    monkeypatch.setattr(jobs, "open_data", no_work)
    with pytest.raises(ConfigError, match="read by every local user"):
        jobs.nightly(settings, dt.date(2003, 11, 26), dt.date(2003, 11, 26), dns=False)


def test_the_report_command_says_it_in_one_line(tmp_path: Path):
    config = tmp_path / "relaywatch.toml"
    config.write_text(
        '[mail]\nhost = "smtp.provider.example"\nstarttls = false\nusername = "reports"\n'
        'to = ["a@b.example"]\n'
    )
    result = CliRunner().invoke(
        cli, ["report", "--config", str(config), "--no-dns"], env={"RELAYWATCH_SMTP_PASSWORD": "x"}
    )
    assert result.exit_code == 2
    *notices, error = result.stderr.splitlines()  # notices: e.g. "no customers"
    assert error.startswith("relaywatch: error: refusing to send the SMTP password")
    assert "without TLS" not in "".join(notices) and "Traceback" not in result.output


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = "relaywatch summary"
    mail.set_content("customers' logins")
    return mail


@pytest.mark.parametrize(("file_mode", "folder"), [(0o600, 0o700), (0o640, 0o750)])
def test_spooled_and_eml_messages_are_owner_only_unless_a_group_may_read(
    tmp_path: Path, file_mode: int, folder: int
):
    spooled = spool_message(message(), tmp_path / "new" / "spool", "20031126T000000Z", file_mode)
    assert spooled.stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "new" / "spool").stat().st_mode & 0o777 == folder
    assert (tmp_path / "new").stat().st_mode & 0o777 == folder
    eml = write_eml(message(), tmp_path / "out.eml", file_mode)
    assert eml.stat().st_mode & 0o777 == file_mode
