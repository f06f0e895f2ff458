"""Live DNSBL lookups through dnspython against a real DNS server on 127.0.0.1 (dnslib,
in-process): a listing with its TXT reason, a clean IP, Spamhaus's error answer, a dead
server, and the `risk` export wired to them through the config."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator

import pandas as pd
import pytest
from click.testing import CliRunner
from dnslib import QTYPE, RCODE, RR, TXT, A
from dnslib.server import BaseResolver, DNSServer

from analyzer.cli import cli
from analyzer.errors import ConfigError
from analyzer.judgements.dnsbl import check_dnsbl, make_resolver, query_name
from tests.conftest import SAMPLES

ZONE = "bl.test"
LISTED_IP, CLEAN_IP, ERROR_IP = "192.0.2.10", "192.0.2.11", "192.0.2.12"
REASON = "Listed for spam from a cracked account, see https://bl.test/q?192.0.2.10"
RECORDS = {
    (query_name(LISTED_IP, ZONE), "A"): [A("127.0.0.2")],
    (query_name(LISTED_IP, ZONE), "TXT"): [TXT(REASON)],
    (query_name(ERROR_IP, ZONE), "A"): [A("127.255.255.254")],
    (query_name("192.0.2.14", ZONE), "A"): [A("127.255.255.1")],  # any 127.255.255.x
    (query_name("192.0.2.15", ZONE), "A"): [A("127.0.0.2"), A("127.255.255.254")],
    # RFC 5782 test entries: every working list has 127.0.0.2 and never 127.0.0.1
    (query_name("127.0.0.2", ZONE), "A"): [A("127.0.0.2")],
}
# Zones that fail the test entries: a resolver that answers nothing for them, a list that
# answers everything, a list that refuses this resolver, a server that refuses the query.
BROKEN = {
    "nothing.test": None,
    "everything.test": "127.0.0.2",
    "refuses.test": "127.255.255.254",
    "refused.test": "REFUSED",
}


class ZoneResolver(BaseResolver):
    """Answers from RECORDS; any other name is NXDOMAIN (not listed)."""

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        kind = QTYPE[request.q.qtype]
        broken = next((z for z in BROKEN if name.endswith("." + z)), None)
        if broken is not None:
            answer = BROKEN[broken]
            if answer == "REFUSED":
                reply.header.rcode = RCODE.REFUSED
            elif answer and kind == "A":
                reply.add_answer(RR(name, QTYPE.A, rdata=A(answer), ttl=60))
            elif not answer:
                reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rdata in RECORDS.get((name, kind), []):
            reply.add_answer(RR(name, getattr(QTYPE, kind), rdata=rdata, ttl=60))
        if not any(key[0] == name for key in RECORDS):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class QuietLog:
    """dnslib logs every query to stdout; the CLI test reads stdout as CSV."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


@pytest.fixture(scope="module")
def dns_server() -> Iterator[str]:
    server = DNSServer(ZoneResolver(), address="127.0.0.1", port=0, logger=QuietLog())
    server.start_thread()
    try:
        yield f"127.0.0.1:{server.server.server_address[1]}"
    finally:
        server.stop()


@pytest.fixture()
def dead_server() -> Iterator[str]:
    """A UDP port that takes queries and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def _status(frame: pd.DataFrame, ip: str) -> dict:
    return frame.set_index("ip").loc[ip].to_dict()


def test_query_names():
    assert query_name("192.0.2.10", "zen.spamhaus.org") == "10.2.0.192.zen.spamhaus.org"
    assert query_name("2001:db8::1", "x.test").startswith("1.0.0.0.0.0.0.0")
    assert query_name("2001:db8::1", "x.test").endswith(".8.b.d.0.1.0.0.2.x.test")


def test_listed_clean_and_error(dns_server):
    result = check_dnsbl([LISTED_IP, CLEAN_IP, ERROR_IP], [ZONE], [dns_server], timeout=2)
    listed = _status(result, LISTED_IP)
    assert listed["dnsbl_status"] == "listed"
    assert listed["answer"] == "127.0.0.2"
    assert listed["detail"] == REASON
    assert _status(result, CLEAN_IP)["dnsbl_status"] == "clean"
    error = _status(result, ERROR_IP)
    assert error["dnsbl_status"] == "error"  # 127.255.255.254 is never a listing
    assert "public or open resolver" in error["detail"]


def test_dead_server_is_unknown_within_the_timeout(dead_server):
    started = time.monotonic()
    result = check_dnsbl([LISTED_IP, CLEAN_IP], [ZONE, "other.test"], [dead_server], timeout=1)
    elapsed = time.monotonic() - started
    assert set(result["dnsbl_status"]) == {"unknown"}
    assert elapsed < 2.5  # queries run in parallel, each bounded by the timeout
    assert "within 1 s" in result["detail"].iloc[0]


@pytest.mark.parametrize("bad", ["dns.example", "127.0.0.1:99999", "127.0.0.1:x", "[::1]"])
def test_bad_nameserver_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="dnsbl.nameservers"):
        make_resolver([bad], 1)


def test_risk_export_reports_live_listing(dns_server, tmp_path):
    """The sample's mail1 sends from the listed IP, mail2 from the clean one."""
    config = tmp_path / "relaywatch.toml"
    config.write_text(
        f"""
logs = ["{SAMPLES}/postfix/mail.log*"]
customers = "{SAMPLES}/customers.csv"
asn_db = "{SAMPLES}/ipasn.dat"
year = 2003
timezone = "America/New_York"
enforcement_date = "2003-11-21"
local_domains = ["provider.example"]

[servers.mail1]
outbound_ip = "{LISTED_IP}"

[servers.mail2]
outbound_ip = "{CLEAN_IP}"

[dnsbl]
zones = ["{ZONE}"]
nameservers = ["{dns_server}"]
timeout = 2
""",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["export", "risk", "--config", str(config)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(io.StringIO(result.stdout)).set_index("ip")
    assert list(rows.index) == [LISTED_IP, CLEAN_IP]  # riskiest first
    assert rows.loc[LISTED_IP, "listed_on"] == ZONE
    assert rows.loc[LISTED_IP, "level"] == "critical"
    assert REASON in rows.loc[LISTED_IP, "evidence"]
    assert rows.loc[CLEAN_IP, "dnsbl_clean"] == ZONE
    assert pd.isna(rows.loc[CLEAN_IP, "listed_on"])
    assert rows.loc[CLEAN_IP, "level"] == "high"  # refusals and the cracked account, no listing
    assert (rows["blocklist_bounces"] > 100).all()


def test_every_127_255_255_answer_is_an_error_even_mixed_with_a_listing(dns_server):
    result = check_dnsbl(["192.0.2.14", "192.0.2.15"], [ZONE], [dns_server], timeout=2)
    assert list(result["dnsbl_status"]) == ["error", "error"]
    assert _status(result, "192.0.2.15")["answer"] == "127.0.0.2;127.255.255.254"


def test_a_bad_own_address_and_repeated_zones(dns_server):
    result = check_dnsbl(["192.0.2.10 ", LISTED_IP], [ZONE, ZONE], [dns_server], timeout=2)
    assert len(result) == 2  # the zone once per address
    assert _status(result, "192.0.2.10 ")["dnsbl_status"] == "error"
    assert _status(result, LISTED_IP)["dnsbl_status"] == "listed"


def test_a_zone_that_fails_its_test_entries_is_unknown_never_clean(dns_server):
    """RFC 5782: 127.0.0.2 must be listed, 127.0.0.1 must not; else the zone's answers (a
    clean one above all) are not trusted, and the reason is said."""
    from analyzer.judgements.dnsbl import unverified_zones

    zones = [ZONE, *BROKEN]
    result = check_dnsbl([LISTED_IP, CLEAN_IP], zones, [dns_server], timeout=2)
    status = result.set_index(["ip", "zone"])
    assert status.loc[(CLEAN_IP, ZONE), "dnsbl_status"] == "clean"  # a verified zone
    assert status.loc[(LISTED_IP, ZONE), "dnsbl_status"] == "listed"
    for zone in BROKEN:
        for ip in (LISTED_IP, CLEAN_IP):
            assert status.loc[(ip, zone), "dnsbl_status"] == "unknown", zone
            assert status.loc[(ip, zone), "detail"].startswith("zone not verified: "), zone
    lines = {line.split()[1]: line for line in unverified_zones(result)}
    assert set(lines) == set(BROKEN)
    assert "127.0.0.2 is not listed: the resolver answers nothing" in lines["nothing.test"]
    assert "lists even 127.0.0.1: it answers everything" in lines["everything.test"]
    assert (
        "refuses this resolver (query through a public or open resolver)" in lines["refuses.test"]
    )
    assert "127.0.0.2 got no answer" in lines["refused.test"]


def test_the_risk_export_and_stderr_say_a_zone_was_not_verified(dns_server, tmp_path):
    config = tmp_path / "relaywatch.toml"
    config.write_text(
        f"""
logs = ["{SAMPLES}/postfix/mail.log"]
year = 2003
timezone = "America/New_York"
outbound_ips = ["{CLEAN_IP}"]
[dnsbl]
zones = ["nothing.test"]
nameservers = ["{dns_server}"]
timeout = 2
""",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["export", "risk", "--config", str(config)])
    assert result.exit_code == 0, result.output
    row = pd.read_csv(io.StringIO(result.stdout)).set_index("ip").loc[CLEAN_IP]
    assert row["dnsbl_unknown"] == "nothing.test" and pd.isna(row["dnsbl_clean"])
    assert "not listed on" not in row["evidence"]
    assert "DNSBL status unknown for nothing.test (zone not verified:" in row["evidence"]
    assert "relaywatch: DNSBL nothing.test not verified, its answers are not used" in result.stderr
