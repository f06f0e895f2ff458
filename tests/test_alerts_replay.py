"""Alerts end to end: the sample's Postfix log replayed in 10-minute slices through `ingest`
and `alerts`, the mail to a real SMTP server on loopback (aiosmtpd, STARTTLS and AUTH), the
webhook to an HTTP server on loopback; and a DNSBL listing served by a DNS server on loopback.

The sample's phished account (sales@bluebird-travel.example, spam from 2003-11-25 19:59
local until the admins lock it at 2003-11-27 07:40) must raise one volume alert, in the first
slice where the truth's sessions cross the thresholds, and one recovery when the spam ends.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import gzip
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from analyzer import jobs
from analyzer.cli import cli
from analyzer.judgements import alerts as rules
from analyzer.outputs.mailer import MailError
from analyzer.settings.config import load_settings
from analyzer.store import alerts as stored
from analyzer.watch import run_alerts
from tests.conftest import SAMPLES, ingested_sample
from tests.test_dnsbl import LISTED_IP, ZONE, dns_server  # noqa: F401 (a fixture)
from tests.test_report import smtp_server  # noqa: F401 (a fixture)

ACCOUNT = "sales@bluebird-travel.example"
TZ = "America/New_York"
PASSWORD = {"RELAYWATCH_SMTP_PASSWORD": "s3cret"}


class Webhook(http.server.BaseHTTPRequestHandler):
    received: list[dict]

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []
    handler = type("Hook", (Webhook,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()


def sample_lines() -> tuple[list[bytes], pd.Series]:
    """The sample's Postfix lines, oldest file first, and each line's local time."""
    lines: list[bytes] = []
    for name in ("mail.log.3.gz", "mail.log.2.gz", "mail.log.1", "mail.log"):
        data = (SAMPLES / "postfix" / name).read_bytes()
        lines += (gzip.decompress(data) if name.endswith(".gz") else data).splitlines(True)

    def when(line: bytes) -> str:
        text = line[:32].decode("ascii", "replace")
        if text[:1].isdigit():  # RFC 3339 stamps
            return text[:10] + " " + text[11:19]
        return "2003 " + " ".join(text[:15].split())

    stamps = pd.to_datetime(pd.Series([when(x) for x in lines]), format="mixed", errors="coerce")
    return lines, stamps.ffill()


def truth_volume(
    now: pd.Timestamp, since: pd.Timedelta, day: pd.Timestamp | None = None
) -> tuple[int, int]:
    """From the sample's truth: the account's recipients in ``since`` up to ``now``, and its
    busiest clock hour of the 7 days before ``day`` (default: now's local day; while an alert
    holds, the day it was raised) -- the volume rule, independently."""
    truth = pd.read_csv(SAMPLES / "truth" / "postfix_sessions.csv")
    truth["start"] = pd.to_datetime(truth["start"], utc=True, format="ISO8601")
    mine = truth[truth["sasl_username"] == ACCOUNT]
    recent = mine[(mine["start"] > now - since) & (mine["start"] <= now)]["recipients"].sum()
    midnight = (day if day is not None else now).tz_convert(TZ).normalize()
    history = mine[(mine["start"] < midnight) & (mine["start"] >= midnight - pd.Timedelta(days=7))]
    usual = history.groupby(history["start"].dt.floor("h"))["recipients"].sum().max()
    return int(recent), int(0 if pd.isna(usual) else usual)


def replay_config(folder: Path, port: int, cert: Path, hook: str) -> Path:
    config = folder / "relaywatch.toml"
    config.write_text(
        f"""
logs = ["mail.log"]
customers = "{SAMPLES}/customers.csv"
asn_db = "{SAMPLES}/ipasn.dat"
as_names = "{SAMPLES}/asnames.json"
store = "store"
year = 2003
timezone = "{TZ}"
enforcement_date = "2003-11-21"
local_domains = ["provider.example"]

[servers.mail1]
outbound_ip = "192.0.2.10"

[servers.mail2]
outbound_ip = "192.0.2.11"

[mail]
host = "127.0.0.1"
port = {port}
username = "reports"
cafile = "{cert}"
timeout = 5
from = "relaywatch@provider.example"
to = ["postmaster@provider.example"]

[alerts]
to = ["noc@provider.example"]
webhook = "{hook}"

[dashboard]
url = "https://relaywatch.provider.example"
""",
        encoding="utf-8",
    )
    return config


def test_a_replayed_cracked_account_raises_one_alert_and_one_recovery(
    tmp_path,
    smtp_server,  # noqa: F811 (a fixture)
    webhook,
):
    inbox, port, cert = smtp_server
    hook, posted = webhook
    settings = load_settings(replay_config(tmp_path, port, cert, hook), environ={})
    lines, stamps = sample_lines()
    log, done = tmp_path / "mail.log", 0

    def replay_until(local: str):
        nonlocal done
        upto = int((stamps < pd.Timestamp(local)).sum())
        with log.open("ab") as out:
            out.writelines(lines[done:upto])
        done = upto
        jobs.ingest_logs(settings, ())
        return run_alerts(settings, dns=False, environ=PASSWORD)

    def volume(run) -> list[str]:
        return run.sent[run.sent[rules.KEY] == f"volume:{ACCOUNT}"][rules.KIND].tolist()

    assert volume(replay_until("2003-11-25 22:00")) == []
    raised, expected = [], None
    for cut in pd.date_range("2003-11-25 22:10", "2003-11-25 23:30", freq="10min"):
        run = replay_until(str(cut))
        raised += [(cut, kind) for kind in volume(run)]
        recent, usual = truth_volume(run.now, rules.HOUR)
        if expected is None and recent >= 50 and recent > 5 * usual:
            expected = cut
    assert expected is not None
    assert raised == [(expected, "alert")]  # in the first slice that shows it, once
    run = replay_until("2003-11-27 07:00")  # a day of spam: reminders, never a recovery
    assert "recovered" not in volume(run)
    state = stored.read_state(settings.store).set_index(rules.KEY)
    raised_at = state.loc[f"volume:{ACCOUNT}", rules.FIRST_RAISED]
    recovered, expected = [], None
    for cut in pd.date_range("2003-11-27 07:10", "2003-11-27 10:30", freq="10min"):
        run = replay_until(str(cut))
        recovered += [(cut, kind) for kind in volume(run)]
        held, usual = truth_volume(run.now, rules.HOLD, raised_at)
        if expected is None and held <= 2 * usual:  # per hour over the 2 hours
            expected = cut
    assert expected is not None
    assert recovered == [(expected, "recovered")]

    mails = [email.message_from_bytes(m, policy=email.policy.default) for m in inbox.messages]
    about = [m for m in mails if ACCOUNT in m["Subject"]]
    assert about[0]["Subject"].startswith(f"[relaywatch] ALERT: {ACCOUNT} sent to ")
    assert about[-1]["Subject"] == f"[relaywatch] RECOVERED: {ACCOUNT}: back to its usual volume"
    assert all(m["To"] == "noc@provider.example" for m in mails)
    body = about[0].get_content()
    assert "/etc/dovecot/deny-users" in body
    assert (
        f"https://relaywatch.provider.example/sessions?since=2003-11-25&until=2003-11-25&q={ACCOUNT.replace('@', '%40')}"
        in body
    )
    texts = [p["text"] for p in posted]
    assert [t.splitlines()[0] for t in texts] == [m["Subject"] for m in mails]  # one POST each
    kinds = [p["alert"]["kind"] for p in posted if p["alert"]["subject"] == ACCOUNT]
    assert kinds[0] == "alert" and kinds[-1] == "recovered" and "alert" not in kinds[1:]
    # the state says what was said: the account's alert cleared, first raised at its slice
    state = stored.read_state(settings.store).set_index(rules.KEY)
    assert state.loc[f"volume:{ACCOUNT}", rules.STATUS] == rules.CLEARED


def test_a_listing_raises_one_alert_and_a_second_run_none(tmp_path, dns_server, webhook):  # noqa: F811
    hook, posted = webhook
    settings = ingested_sample(tmp_path / "sample")
    dnsbl = dataclasses.replace(settings.dnsbl, zones=(ZONE,), nameservers=(dns_server,), timeout=2)
    alerts = dataclasses.replace(settings.alerts, webhook=hook, to=())
    settings = dataclasses.replace(
        settings, dnsbl=dnsbl, alerts=alerts, mail=dataclasses.replace(settings.mail, to=())
    )
    first = run_alerts(settings)
    assert first.sent[rules.KEY].tolist() == [f"dnsbl_listing:{LISTED_IP}:{ZONE}"]
    assert posted[0]["alert"]["summary"] == f"{LISTED_IP} is listed on {ZONE}"
    second = run_alerts(settings)
    assert second.sent.empty and len(posted) == 1
    assert second.active == 1


def test_an_alert_a_channel_refused_is_sent_at_the_next_run_once(
    tmp_path,
    dns_server,  # noqa: F811 (a fixture)
    webhook,
):
    hook, posted = webhook
    settings = ingested_sample(tmp_path / "sample")
    dnsbl = dataclasses.replace(settings.dnsbl, zones=(ZONE,), nameservers=(dns_server,), timeout=2)
    with socket.socket() as probe:  # a loopback port nothing listens on: the hook is down
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    settings = dataclasses.replace(
        settings,
        dnsbl=dnsbl,
        alerts=dataclasses.replace(settings.alerts, webhook=down, to=()),
        mail=dataclasses.replace(settings.mail, to=()),
    )
    with pytest.raises(
        MailError,
        match=r"webhook http://127\.0\.0\.1 refused the alert.*"
        r"\(tried again at the next run\)",
    ):
        run_alerts(settings)
    assert len(stored.read_outbox(settings.store)) == 1
    up = dataclasses.replace(settings, alerts=dataclasses.replace(settings.alerts, webhook=hook))
    second = run_alerts(up)
    assert second.sent.empty  # nothing new: the listing was judged by the first run ...
    assert [p["alert"]["kind"] for p in posted] == ["alert"]  # ... and said now, once
    assert stored.read_outbox(settings.store) == []
    run_alerts(up)
    assert len(posted) == 1


def test_a_message_no_channel_took_for_a_day_is_spooled_and_no_longer_tried(
    tmp_path,
    dns_server,  # noqa: F811 (a fixture)
):
    settings = ingested_sample(tmp_path / "sample")
    with socket.socket() as probe:  # nothing listens here: SMTP and the hook are down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = dataclasses.replace(
        settings,
        dnsbl=dataclasses.replace(
            settings.dnsbl, zones=(ZONE,), nameservers=(dns_server,), timeout=2
        ),
        alerts=dataclasses.replace(
            settings.alerts, webhook=f"http://127.0.0.1:{port}/hook", to=("noc@x.example",)
        ),
        mail=dataclasses.replace(
            settings.mail, host="127.0.0.1", port=port, retries=1, timeout=1, starttls=False
        ),
    )
    with pytest.raises(MailError):
        run_alerts(settings, environ=PASSWORD)
    [entry] = stored.read_outbox(settings.store)
    assert entry["channels"] == ["mail", "webhook"]
    # a day later, still down: the mail goes to the spool, the outbox is emptied
    state = json.loads((settings.store / stored.STATE_FILE).read_text())
    state["outbox"][0]["since"] = "2003-01-01T00:00:00+00:00"
    (settings.store / stored.STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(MailError, match="not sent for 24 hours, no longer tried: .*kept in"):
        run_alerts(settings, environ=PASSWORD)
    assert stored.read_outbox(settings.store) == []
    [spooled] = (settings.store / "spool").glob("relaywatch-*.eml")
    assert f"{LISTED_IP} is listed on {ZONE}" in spooled.read_text()


def test_the_alerts_command_and_its_mistakes(tmp_path, webhook):
    hook, posted = webhook
    settings = ingested_sample(tmp_path / "sample")
    config = str(settings.config_path)
    # the 10-minute job: ingest (nothing new), then alerts (the sample ends quiet)
    with open(config, "a", encoding="utf-8") as out:
        out.write(f'\n[alerts]\nwebhook = "{hook}"\n')
    job = CliRunner().invoke(cli, ["ingest", "--config", config, "--alerts"], env=PASSWORD)
    assert job.exit_code == 0, job.output
    assert job.stdout.startswith("nothing new in 9 file(s)")
    assert "alerts at 2003-12-05T11:24:59+00:00 (the logs' time): 0 alert" in job.stderr
    assert posted == [] and (settings.store / stored.STATE_FILE).exists()
    dry = CliRunner().invoke(cli, ["alerts", "--config", config, "--dry-run", "--no-dns"])
    assert dry.exit_code == 0, dry.output
    assert "alerts at 2003-12-05T11:24:59+00:00 (the logs' time): 0 alert" in dry.stderr
    assert json.loads((settings.store / stored.STATE_FILE).read_text()) == {
        "state": [],
        "outbox": [],
    }
    # no one to tell: one line, status 2
    empty = tmp_path / "none.toml"
    empty.write_text(f'store = "{settings.store}"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["alerts", "--config", str(empty), "--no-dns"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "relaywatch: error: alerts: no one to tell: set alerts.to, mail.to or alerts.webhook"
    )
    missing = tmp_path / "missing.toml"
    missing.write_text(f'store = "{tmp_path / "nothing"}"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["alerts", "--config", str(missing), "--dry-run"])
    assert result.exit_code == 2 and "run `relaywatch ingest` first" in result.stderr
