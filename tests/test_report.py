"""The nightly summary: contents against the exports, escaping, and delivery over
STARTTLS + AUTH to a real SMTP server (aiosmtpd) on 127.0.0.1, failures included."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import io
import socket
import ssl
from email import policy
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from analyzer import jobs
from analyzer import schema as s
from analyzer.cli import cli
from analyzer.outputs import traffic
from analyzer.outputs.mailer import MailError
from analyzer.outputs.report import build_report, render_html
from analyzer.settings.config import MailConfig
from tests.conftest import parse_texts

DAY = dt.date(2003, 11, 26)  # the cracked account's busiest day in the samples


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made in the test (and trusted through mail.cafile)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relaywatch test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope.original_content or envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_server(tmp_path: Path):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == b"reports"
            and auth_data.password == b"s3cret"
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield inbox, port, cert
    controller.stop()


def mail_settings(demo_settings, tmp_path: Path, port: int, cafile: Path, retries: int = 2):
    mail = MailConfig(
        host="127.0.0.1",
        port=port,
        starttls=True,
        username="reports",
        cafile=cafile,
        timeout=5,
        retries=retries,
        spool=tmp_path / "spool",
        from_addr="relaywatch@provider.example",
        to=("postmaster@provider.example",),
    )
    return dataclasses.replace(demo_settings, mail=mail, store=tmp_path / "store")


def test_the_report_is_sent_over_starttls_with_auth(demo_settings, tmp_path, smtp_server):
    inbox, port, cert = smtp_server
    settings = mail_settings(demo_settings, tmp_path, port, cert)
    line = jobs.nightly(
        settings, DAY, DAY, environ={"RELAYWATCH_SMTP_PASSWORD": "s3cret"}, dns=False
    )
    assert "sent to postmaster@provider.example" in line
    assert len(inbox.messages) == 1
    message = email.message_from_bytes(inbox.messages[0], policy=policy.default)
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "text/csv",
    ]
    assert message["Subject"] == "relaywatch summary for 2003-11-26"
    assert len(inbox.messages[0]) < 300_000

    # key numbers equal what the exports say for that day
    text = message.get_body(("plain",)).get_content()
    sessions_csv, _ = jobs.export(
        "sessions", settings, (), jobs.ExportOptions(since=DAY, until=DAY)
    )
    exported = pd.read_csv(io.StringIO(sessions_csv))
    for klass, label in ((s.AUTHENTICATED, "Authenticated"), (s.SPAM_PROBE, "Spam probes")):
        count = int((exported["class"] == klass).sum())
        assert f"{label:<16} {count:7d}" in text
    assert "sales@bluebird-travel.example" in text  # the cracked account's volume jumped
    risky = text.split("(lock or reset these first)")[1].split("OWN SERVERS")[0]
    assert risky.strip().startswith("sales@bluebird-travel.example (c002): critical")
    own = text.split("BLACKLIST RISK OF OWN OUTBOUND IPS")[1].split("HIGH-RISK")[0]
    risk_csv, _ = jobs.export(
        "risk", settings, (), jobs.ExportOptions(since=DAY, until=DAY, dns=False)
    )
    for row in pd.read_csv(io.StringIO(risk_csv)).itertuples():
        assert f"{row.ip}: {row.level} ({row.risk_score}/100)" in own
    html = message.get_body(("html",)).get_content()
    cid = message.get_payload()[0].get_payload()[1].get_payload()[1]["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    attachment = next(p for p in message.walk() if p.get_content_type() == "text/csv")
    call_list = pd.read_csv(io.StringIO(attachment.get_content()))
    expected, _ = jobs.export(
        "customers", settings, (), jobs.ExportOptions(statuses=("at_risk", "broken"), until=DAY)
    )
    assert set(call_list["customer_id"]) == set(pd.read_csv(io.StringIO(expected))["customer_id"])


def report_config(demo_settings, tmp_path: Path, port: int, cert: Path, logs: str) -> Path:
    """A config file for `relaywatch report` on the sample Postfix ``logs``, mailing through
    the test server (login "reports"; the store, and so the spool, under ``tmp_path``)."""
    config = tmp_path / "relaywatch.toml"
    demo = demo_settings.config_path.parent
    config.write_text(
        f'logs = ["{demo}/postfix/{logs}"]\ncustomers = "{demo}/customers.csv"\n'
        f'year = 2003\ntimezone = "America/New_York"\nstore = "{tmp_path}/store"\n'
        f'[mail]\nhost = "127.0.0.1"\nport = {port}\nusername = "reports"\ncafile = "{cert}"\n'
        'to = ["postmaster@provider.example"]\nretries = 1\ntimeout = 5\n'
    )
    return config


def test_a_wrong_password_is_one_line_exit_2_and_the_message_is_spooled(
    demo_settings, tmp_path, smtp_server, monkeypatch
):
    inbox, port, cert = smtp_server
    config = report_config(demo_settings, tmp_path, port, cert, "mail.log*")
    monkeypatch.setenv("RELAYWATCH_SMTP_PASSWORD", "not-the-s3cret-b81f")
    result = CliRunner().invoke(
        cli,
        ["report", "--config", str(config), "--since", str(DAY), "--until", str(DAY), "--no-dns"],
    )
    assert result.exit_code == 2
    assert "refused the login 'reports'" in result.stderr
    assert "not-the-s3cret-b81f" not in result.stderr  # secrets never in messages
    assert len(result.stderr.strip().splitlines()) == 1
    spooled = list((tmp_path / "store" / "spool").glob("relaywatch-*.eml"))
    assert len(spooled) == 1 and b"relaywatch summary" in spooled[0].read_bytes()
    assert inbox.messages == []


def test_a_dead_server_fails_after_the_retries_and_spools(demo_settings, tmp_path):
    settings = mail_settings(demo_settings, tmp_path, free_port(), None, retries=2)
    with pytest.raises(MailError, match=r"after 2 attempt\(s\).*kept in .*spool"):
        jobs.nightly(settings, DAY, DAY, environ={"RELAYWATCH_SMTP_PASSWORD": "x"}, dns=False)
    assert len(list((tmp_path / "spool").glob("*.eml"))) == 1


def test_an_untrusted_certificate_is_refused(demo_settings, tmp_path, smtp_server):
    _, port, _ = smtp_server
    settings = mail_settings(demo_settings, tmp_path, port, None, retries=1)
    with pytest.raises(MailError, match="certificate not trusted"):
        jobs.nightly(settings, DAY, DAY, environ={"RELAYWATCH_SMTP_PASSWORD": "s3cret"}, dns=False)


def test_eml_writes_instead_of_sending(demo_settings, tmp_path):
    out = tmp_path / "out.eml"
    jobs.nightly(demo_settings, DAY, DAY, eml=out, dns=False)
    message = email.message_from_bytes(out.read_bytes(), policy=policy.default)
    assert message.get_content_type() == "multipart/mixed"


def test_html_escapes_attackers_helo():
    events = parse_texts(
        [
            "2003-11-26 10:00:00 H=(<script>alert`1`</script>) [100.64.77.7]:5000 "
            "rejected RCPT <v@aol.com>: relay not permitted",
        ],
        fmt="exim",
        timezone="UTC",
    )
    from analyzer.judgements.classify import assign_period, classify_sessions
    from analyzer.judgements.customers import attribute_customers, check_customers
    from analyzer.sessions.build import build_sessions

    customers = check_customers(
        pd.DataFrame(
            {
                "customer_id": ["a"],
                "name": ["A"],
                "domains": ["a.example"],
                "networks": [""],
                "contact_email": ["x@a.example"],
            }
        )
    )
    sessions = assign_period(
        classify_sessions(attribute_customers(build_sessions(events), customers)), DAY, "UTC"
    )
    assert sessions[s.HELO].iloc[0].startswith("<script>")
    from analyzer.judgements.pipeline import DELIVERY_COLUMNS

    empty = pd.DataFrame({c: pd.Series(dtype="string") for c in DELIVERY_COLUMNS}).assign(
        **{s.TS: pd.Series(dtype="datetime64[us, UTC]")}
    )
    report = build_report(
        sessions, empty, customers, pd.DataFrame(columns=["ip", "asn", "as_name"]), DAY, DAY, "UTC"
    )
    html = render_html(report, None)
    assert "<script>" not in html and "&lt;script&gt;alert`1`&lt;/script&gt;" in html


def test_verbose_runs_never_show_the_smtp_password(
    demo_settings, tmp_path, smtp_server, monkeypatch
):
    inbox, port, cert = smtp_server
    config = report_config(demo_settings, tmp_path, port, cert, "mail.log")
    monkeypatch.setenv("RELAYWATCH_SMTP_PASSWORD", "s3cret")
    args = ["-v", "report", "--config", str(config), "--since", "2003-12-01", "--no-dns"]
    result = CliRunner().invoke(cli, [*args, "--until", "2003-12-01"])
    assert result.exit_code == 0, result.output
    assert len(inbox.messages) == 1
    # neither the password nor its AUTH PLAIN / LOGIN encodings, in any output or the mail
    secrets = ("s3cret", "czNjcmV0", "AHJlcG9ydHMAczNjcmV0")
    for text in (result.stdout, result.stderr, inbox.messages[0].decode("ascii", "replace")):
        assert not any(secret in text for secret in secrets)


def test_the_mail_splits_unauthenticated_into_inbound_and_customers_relays(demo_settings, tmp_path):
    out = tmp_path / "out.eml"
    jobs.nightly(demo_settings, DAY, DAY, eml=out, dns=False)
    message = email.message_from_bytes(out.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    sessions_csv, _ = jobs.export(
        "sessions", demo_settings, (), jobs.ExportOptions(since=DAY, until=DAY)
    )
    exported = pd.read_csv(io.StringIO(sessions_csv))
    reasons = exported.loc[exported["class"] == s.UNAUTHENTICATED, "reason"].value_counts()
    assert reasons[s.R_INBOUND] > 0 and reasons[s.R_RELAY_DENIED] > 0  # both kinds that day
    lines = text.split("SESSIONS")[1].split("REFUSED RELAYS")[0]
    for group in traffic.UNAUTHENTICATED_GROUPS:
        count = int(reasons.get(group, 0))
        assert f"    {traffic.LABELS[group]:<30} {count:7d}" in lines  # under Unauthenticated
        assert traffic.COLORS[group] in html  # the dashboard's colour as a swatch
    assert lines.index("Unauthenticated") < lines.index("Inbound mail") < lines.index("Spam")


def test_the_mail_chart_stacks_the_same_groups_in_the_dashboards_colours(demo_settings):
    from analyzer.judgements.customers import read_customers
    from analyzer.outputs.report import class_chart_png

    analysis = jobs.load_analysis(demo_settings)
    report = build_report(
        analysis.sessions,
        analysis.deliveries,
        read_customers(demo_settings.customers),
        pd.DataFrame(columns=["ip", "asn", "as_name"]),
        DAY,
        DAY,
        demo_settings.timezone,
    )
    assert list(report.daily_traffic.columns) == list(traffic.GROUPS)
    assert len(report.daily_traffic) == 8  # the 7 baseline days and the report's day
    unauthenticated = next(c for c in report.classes if c["class"] == s.UNAUTHENTICATED)
    assert sum(g["count"] for g in report.unauthenticated) == unauthenticated["count"]
    assert (
        int(report.daily_traffic.iloc[-1][list(traffic.UNAUTHENTICATED_GROUPS)].sum())
        == (unauthenticated["count"])
    )
    assert class_chart_png(report).startswith(b"\x89PNG")


def test_the_mails_call_list_is_most_urgent_first_with_what_broke(demo_settings, tmp_path):
    until = dt.date(2003, 11, 22)  # broken and at-risk customers both
    out = tmp_path / "out.eml"
    jobs.nightly(demo_settings, until, until, eml=out, dns=False)
    message = email.message_from_bytes(out.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    expected, _ = jobs.export(
        "customers",
        demo_settings,
        (),
        jobs.ExportOptions(statuses=("broken", "at_risk"), until=until),
    )
    rows = pd.read_csv(io.StringIO(expected), dtype=str, keep_default_na=False)
    calls = text.split("To call (also attached as CSV):")[1].split("NEW OFFENDERS")[0]
    called = [line.split()[2] for line in calls.splitlines() if line.startswith("  - ")]
    assert called == rows["customer_id"].tolist()  # the export's order: broken first
    first = rows.iloc[0]
    assert first["status"] == "broken"
    assert (
        f"last refused relay {first['last_refused']} from {first['last_refused_client_ip']} "
        f"to {first['last_refused_domain']}"
    ) in calls
    attachment = next(p for p in message.walk() if p.get_content_type() == "text/csv")
    assert attachment.get_content() == expected  # the attachment is that export


@pytest.mark.parametrize("day", ["2003-11-20", "2003-11-22", "2003-11-24", "2003-11-26"])
def test_the_nightly_summary_from_tables_equals_the_one_from_every_session(demo_settings, day):
    # From a view the mail reads rollups, the customers export as of two days and the spam
    # probes of its new offenders, never the period's sessions: it must say what a summary
    # of every session says.
    from analyzer.judgements.asn import load_lookup, lookup_frame
    from analyzer.judgements.customers import read_customers
    from analyzer.judgements.offenders import probe_sessions
    from analyzer.judgements.pipeline import bounce_rules

    since = until = dt.date.fromisoformat(day)
    customers = read_customers(demo_settings.customers)
    view = jobs.open_data(demo_settings, customers=customers)
    read = jobs.nightly_report(view, customers, demo_settings, since, until, [], dns=False)
    analysis = jobs.load_analysis(demo_settings, customers=customers)
    own = demo_settings.own_outbound_ips()
    lookup = load_lookup(demo_settings.asn_db, demo_settings.as_names)
    probes = probe_sessions(analysis.sessions, own)
    whole = build_report(
        analysis.sessions,
        analysis.deliveries,
        customers,
        lookup_frame(probes[s.CLIENT_IP], lookup),
        since,
        until,
        demo_settings.timezone,
        own,
        view.domains(),
        bounce_rules=bounce_rules(demo_settings),
        probes_per_message=demo_settings.blocklist.probes_per_message,
        rejects=analysis.rejects,
    )
    for name in (
        "classes", "unauthenticated", "relays_customers", "relays_probes", "auth_failures",
        "auth_failures_baseline", "statuses", "status_changes", "new_offenders", "top_asns",
        "account_jumps", "servers",
    ):  # fmt: skip
        assert getattr(read, name) == getattr(whole, name), name
    pd.testing.assert_frame_equal(read.daily_traffic, whole.daily_traffic)
    assert read.call_rows == whole.call_rows
    assert sum(read.statuses.values()) == len(customers)
