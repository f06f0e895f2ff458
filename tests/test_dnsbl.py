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
from analyzer.io.dnsbl import check_dnsbl, make_resolver, query_name
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
}


class ZoneResolver(BaseResolver):
    """Answers from RECORDS; any other name is NXDOMAIN (not listed)."""

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        kind = QTYPE[request.q.qtype]
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
