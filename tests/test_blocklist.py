"""Blocklists weigh a source's good traffic against its probes: big mailers with a few typos
and dropped connections are never listed, sources that only probe always are."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import ipaddress
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from analyzer import jobs
from analyzer import schema as s
from analyzer.judgements.blocklist import blocklist_entries, mail_networks
from analyzer.judgements.customers import check_customers
from analyzer.judgements.offenders import (
    MAILER,
    PROBER,
    judge,
    probe_sessions,
    source_traffic,
    summarize_offenders,
)
from analyzer.settings.config import load_settings
from tests.conftest import SAMPLES

NO_CUSTOMERS = check_customers(
    pd.DataFrame(columns=["customer_id", "name", "domains", "networks", "contact_email"])
)
FORMATS = ("plain", "postfix", "nftables")


def session(ip: str, klass: str, reason: str, messages: int = 0, n: int = 0) -> dict:
    return {
        s.SESSION_ID: f"{ip}-{reason}-{n}",
        s.CLIENT_IP: ip,
        s.CLASS: klass,
        s.REASON: reason,
        s.MESSAGES: messages,
        "customer_ip": False,
        s.START: pd.Timestamp("2003-11-21", tz="UTC") + pd.Timedelta(hours=n),
        s.RELAY_DENIED: 0,
        s.AUTH_FAILURES: 0,
    }


def test_a_mailer_is_judged_on_all_its_traffic():
    # 198.51.100.21: 100 accepted inbound messages, 5 sessions to mistyped recipients, 1 drop.
    # 203.0.113.9: one message got through among 12 dictionary sessions. 203.0.113.66: probes.
    rows = [session("198.51.100.21", s.UNAUTHENTICATED, s.R_INBOUND, 1, n) for n in range(100)]
    rows += [session("198.51.100.21", s.SPAM_PROBE, s.R_DICTIONARY, 0, n) for n in range(5)]
    rows += [session("198.51.100.21", s.SPAM_PROBE, s.R_SCAN, 0, 99)]
    rows += [session("203.0.113.9", s.UNAUTHENTICATED, s.R_INBOUND, 1)]
    rows += [session("203.0.113.9", s.SPAM_PROBE, s.R_DICTIONARY, 0, n) for n in range(12)]
    rows += [session("203.0.113.66", s.SPAM_PROBE, s.R_SCAN, 0, n) for n in range(2)]
    sessions = pd.DataFrame(rows)
    traffic = source_traffic(sessions)
    assert traffic.loc["198.51.100.21"].tolist() == [106, 100]
    assert traffic.loc["203.0.113.66"].tolist() == [2, 0]
    offenders = summarize_offenders(probe_sessions(sessions), pd.DataFrame(), sessions).set_index(
        "ip"
    )
    assert offenders.loc["198.51.100.21", ["probe_sessions", "dictionary", "scan"]].tolist() == [
        6,
        5,
        1,
    ]
    assert offenders["judgement"].to_dict() == {
        "203.0.113.9": PROBER,  # 12 probe sessions outweigh 1 message
        "198.51.100.21": MAILER,
        "203.0.113.66": PROBER,
    }
    entries = blocklist_entries(offenders.reset_index(), NO_CUSTOMERS, [])
    assert entries["entry"].tolist() == ["203.0.113.9", "203.0.113.66"]
    assert entries["evidence"].tolist()[0] == (
        "12 of 13 sessions spam probes (dictionary 12); 1 accepted messages; "
        "seen 2003-11-21T00:00:00Z to 2003-11-21T11:00:00Z"
    )
    # a stricter weighing lists the mailer too; by network its /24 stays unblocked whole
    strict = summarize_offenders(probe_sessions(sessions), pd.DataFrame(), sessions, 0.05)
    assert set(strict.loc[strict["judgement"] == PROBER, "ip"]) == set(offenders.index)
    by_network = blocklist_entries(
        strict, NO_CUSTOMERS, [], by="network", delivering_networks=mail_networks(traffic)
    )
    assert by_network["entry"].tolist() == ["203.0.113.9", "198.51.100.21", "203.0.113.66"]


@pytest.mark.parametrize(
    ("probes", "accepted", "ratio", "verdict"),
    [
        (5, 100, 1.0, MAILER),
        (100, 100, 1.0, PROBER),  # as many probe sessions as messages: overwhelmed
        (3, 0, 1.0, PROBER),
        (5, 100, 0.01, PROBER),
        (50, 10, 10.0, MAILER),
    ],
)
def test_judge(probes, accepted, ratio, verdict):
    assert judge(pd.Series([probes]), pd.Series([accepted]), ratio).tolist() == [verdict]


MAILERS = {"198.51.100.21": "omr-m1.mx.aol.example", "198.51.100.31": "mta5.am0.yahoo.example"}
PROBER_IP, SCANNER_IP = "203.0.113.66", "203.0.113.67"


def mailer_log(days: int = 21) -> str:
    """Two big mailers deliver every hour for weeks, one session in ~40 to a mistyped recipient,
    one in ~100 dropped; a prober tries addresses every day; a scanner connects and leaves."""
    lines = []
    start = dt.datetime(2003, 11, 1, tzinfo=dt.UTC)
    pid, queue = 1000, 0x3F2A410000

    def at(t: dt.datetime) -> str:
        return t.isoformat(timespec="microseconds").replace("+00:00", "+00:00")

    for hour in range(days * 24):
        t0 = start + dt.timedelta(hours=hour)
        for k, (ip, name) in enumerate(MAILERS.items()):
            pid += 1
            queue += 1
            t = t0 + dt.timedelta(minutes=7 * k)
            host = f"{name}[{ip}]"
            smtpd = f"mx1 postfix/smtpd[{pid}]"
            lines.append(f"{at(t)} {smtpd}: connect from {host}")
            if (hour + k) % 97 == 5:  # a dropped connection
                lines.append(f"{at(t)} {smtpd}: lost connection after CONNECT from {host}")
                lines.append(f"{at(t)} {smtpd}: disconnect from {host} commands=0/0")
                continue
            if (hour + k) % 41 == 3:  # a sender's typo
                lines.append(
                    f"{at(t)} {smtpd}: NOQUEUE: reject: RCPT from {host}: 550 5.1.1 "
                    "<jonh@acme.example>: Recipient address rejected: User unknown in virtual "
                    "mailbox table; from=<a@aol.example> to=<jonh@acme.example> proto=ESMTP "
                    "helo=<mx>"
                )
                lines.append(
                    f"{at(t)} {smtpd}: disconnect from {host} ehlo=1 mail=1 rcpt=0/1 quit=1 "
                    "commands=3/4"
                )
                continue
            qid = f"{queue:X}"
            lines.append(f"{at(t)} {smtpd}: {qid}: client={host}")
            lines.append(f"{at(t)} mx1 postfix/cleanup[77]: {qid}: message-id=<{qid}@example>")
            lines.append(
                f"{at(t)} mx1 postfix/qmgr[78]: {qid}: from=<a@aol.example>, size=2048, "
                "nrcpt=1 (queue active)"
            )
            lines.append(
                f"{at(t)} {smtpd}: disconnect from {host} ehlo=1 mail=1 rcpt=1 data=1 quit=1 "
                "commands=5"
            )
        if hour % 24 == 2:
            pid += 1
            t = t0 + dt.timedelta(minutes=30)
            smtpd = f"mx1 postfix/smtpd[{pid}]"
            host = f"unknown[{PROBER_IP}]"
            lines.append(f"{at(t)} {smtpd}: connect from {host}")
            for user in ("admin", "info", "sales"):
                lines.append(
                    f"{at(t)} {smtpd}: NOQUEUE: reject: RCPT from {host}: 550 5.1.1 "
                    f"<{user}@acme.example>: Recipient address rejected: User unknown in "
                    f"virtual mailbox table; from=<x@y.example> to=<{user}@acme.example> "
                    "proto=ESMTP helo=<ylmf-pc>"
                )
            lines.append(
                f"{at(t)} {smtpd}: disconnect from {host} ehlo=1 mail=1 rcpt=0/3 quit=1 "
                "commands=3/6"
            )
            pid += 1
            smtpd = f"mx1 postfix/smtpd[{pid}]"
            host = f"unknown[{SCANNER_IP}]"
            lines.append(f"{at(t)} {smtpd}: connect from {host}")
            lines.append(f"{at(t)} {smtpd}: disconnect from {host} ehlo=1 quit=1 commands=2")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def mailer_logs(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("mailers")
    (folder / "mail.log").write_text(mailer_log())
    (folder / "relaywatch.toml").write_text(
        'timezone = "UTC"\nlocal_domains = ["acme.example"]\nlogs = ["mail.log"]\n'
    )
    return folder / "mail.log", folder / "relaywatch.toml"


def export(kind: str, settings, logs: list[str], **options) -> str:
    return jobs.export(kind, settings, logs, jobs.ExportOptions(dns=False, **options))[0]


def test_weeks_of_big_mailers_with_typos_are_never_blocklisted(mailer_logs, tmp_path):
    log, config = mailer_logs
    settings = load_settings(config, environ={})
    offenders = pd.read_csv(io.StringIO(export("offenders", settings, [str(log)])))
    judged = offenders.set_index("ip")
    assert set(judged.index) == {*MAILERS, PROBER_IP, SCANNER_IP}
    for ip in MAILERS:  # they did send typos and drops: probe sessions, but mailers
        assert judged.loc[ip, "dictionary"] > 5 and judged.loc[ip, "scan"] > 2
        assert judged.loc[ip, "accepted_messages"] > 400
        assert judged.loc[ip, "judgement"] == MAILER
    assert judged.loc[PROBER_IP, ["probe_sessions", "accepted_messages"]].tolist() == [21, 0]
    assert judged.loc[SCANNER_IP, "judgement"] == PROBER
    for fmt in FORMATS:
        for by in ("ip", "network"):
            text = export("blocklist", settings, [str(log)], blocklist_format=fmt, by=by)
            for ip in MAILERS:
                assert ip not in text and ip.rsplit(".", 1)[0] + ".0/24" not in text
            assert (PROBER_IP in text) == (by == "ip")  # by network: its /24 whole
            assert ("203.0.113.0/24" in text) == (by == "network")
            if fmt == "nftables":
                check_nft(text, tmp_path / f"block-{by}.nft")
    # every source whose sessions were all probes and that passes --min-sessions is listed
    text = export("blocklist", settings, [str(log)], min_sessions=21)
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        PROBER_IP,
        SCANNER_IP,
    ]
    assert export("blocklist", settings, [str(log)], min_sessions=22).strip() == ""


def test_the_samples_big_mailers_are_off_every_blocklist(demo_settings, tmp_path):
    logs = [str(p) for p in sorted((SAMPLES / "postfix").glob("mail.log*"))]
    sessions = pd.read_csv(io.StringIO(export("sessions", demo_settings, logs)))
    per_ip = sessions.groupby("client_ip").agg(
        classes=("class", lambda v: set(v)), customer=("customer_id", "count")
    )
    only_probes = set(
        per_ip.index[(per_ip["classes"] == {s.SPAM_PROBE}) & (per_ip["customer"] == 0)]
    )
    assert len(only_probes) > 250
    big = ["198.51.100.21", "198.51.100.31", "198.51.100.41", "198.51.100.51"]
    for fmt in FORMATS:
        text = export("blocklist", demo_settings, logs, blocklist_format=fmt)
        assert not [ip for ip in big if f"{ip}\n" in text or f"{ip}/32" in text or f"{ip}," in text]
        listed = {e.split("/")[0] for e in listed_entries(text)}
        assert only_probes - {"192.0.2.10", "192.0.2.11"} <= listed | set(
            demo_settings.own_outbound_ips()
        )
        if fmt == "nftables":
            check_nft(text, tmp_path / "sample.nft")


def listed_entries(text: str) -> list[str]:
    """The addresses and CIDRs a blocklist of any format holds (its other lines skipped)."""
    entries = []
    for line in text.splitlines():
        field = line.strip().rstrip(",").split("\t")[0]
        try:
            ipaddress.ip_network(field, strict=False)
        except ValueError:
            continue
        entries.append(field.removesuffix("/32").removesuffix("/128"))
    return entries


def check_nft(text: str, path: Path) -> None:
    if not shutil.which("nft"):
        pytest.skip("nft not installed (apt-get install nftables)")
    path.write_text(text)
    result = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


HEALTH_CHECKERS = {
    "localhost[127.0.0.1]": "127.0.0.1",
    "localhost[::1]": "::1",
    "lb1.internal[10.0.0.5]": "10.0.0.5",
    "nagios.provider.example[198.51.100.99]": "198.51.100.99",
}


def health_check_log() -> str:
    """Monitoring and a load balancer connect, EHLO and QUIT every five minutes (each is a
    ``scan``), beside one real scanner."""
    lines = []
    start = dt.datetime(2003, 11, 21, tzinfo=dt.UTC)
    pid = 5000
    for step in range(288):
        t = (start + dt.timedelta(minutes=5 * step)).isoformat(timespec="microseconds")
        for host in [*HEALTH_CHECKERS, f"unknown[{SCANNER_IP}]"]:
            pid += 1
            lines.append(f"{t} mx1 postfix/smtpd[{pid}]: connect from {host}")
            lines.append(
                f"{t} mx1 postfix/smtpd[{pid}]: disconnect from {host} ehlo=1 quit=1 commands=2"
            )
    return "\n".join(lines) + "\n"


def test_health_checks_are_never_blocklisted(tmp_path):
    (tmp_path / "mail.log").write_text(health_check_log())
    config = tmp_path / "relaywatch.toml"
    config.write_text(
        'timezone = "UTC"\nlogs = ["mail.log"]\n[blocklist]\nnever = ["198.51.100.99"]\n'
    )
    settings = load_settings(config, environ={})
    log = [str(tmp_path / "mail.log")]
    offenders = pd.read_csv(io.StringIO(export("offenders", settings, log)))
    assert set(offenders["ip"]) == {*HEALTH_CHECKERS.values(), SCANNER_IP}  # all seen as scans
    for fmt in FORMATS:
        for by in ("ip", "network"):
            text = export("blocklist", settings, log, blocklist_format=fmt, by=by)
            entries = listed_entries(text)
            assert not [e for e in entries if e.split("/")[0] in HEALTH_CHECKERS.values()]
            assert not [e for e in entries if e.startswith(("127.", "10.", "198.51.100."))]
            assert SCANNER_IP in text or "203.0.113.0/24" in text
            if fmt == "nftables":
                check_nft(text, tmp_path / f"health-{by}.nft")
    # a provider that wants its private ranges blocked says so; loopback stays off regardless
    private = settings.with_overrides(
        blocklist=dataclasses.replace(settings.blocklist, private=True)
    )
    plain = export("blocklist", private, log).splitlines()
    assert "10.0.0.5" in plain and "127.0.0.1" not in plain and "::1" not in plain
