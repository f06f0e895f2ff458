"""Offenders (IP, network, AS), roll-ups and blocklists that never hit a customer or us."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from analyzer import jobs
from analyzer import schema as s
from analyzer.judgements.blocklist import blocklist_entries, render_blocklist
from analyzer.judgements.customers import CUSTOMER_IP, check_customers
from analyzer.judgements.offenders import (
    PROBER,
    network_of,
    probe_sessions,
    roll_up,
    summarize_offenders,
)
from tests.conftest import SAMPLES

CUSTOMERS = check_customers(
    pd.DataFrame(
        {
            "customer_id": ["acme"],
            "name": ["Acme"],
            "domains": ["acme.example"],
            "networks": ["100.64.3.16/28"],
            "contact_email": ["it@acme.example"],
        }
    )
)


def probe(ip: str, reason: str, customer_ip: bool = False, **counts: int) -> dict:
    return {
        s.SESSION_ID: f"x-{ip}-{reason}",
        s.CLIENT_IP: ip,
        s.CLASS: s.SPAM_PROBE,
        s.REASON: reason,
        CUSTOMER_IP: customer_ip,
        s.START: pd.Timestamp("2003-11-21", tz="UTC"),
        s.RELAY_DENIED: counts.get("relay_denied", 0),
        s.AUTH_FAILURES: counts.get("auth_failures", 0),
        s.MESSAGES: 0,
    }


SESSIONS = pd.DataFrame(
    [
        probe("100.64.3.4", s.R_AUTH_FAILURE, auth_failures=5),
        probe("100.64.3.4", s.R_AUTH_FAILURE, auth_failures=3),
        probe("100.64.3.9", s.R_RELAY_PROBE, relay_denied=2),
        probe("100.64.3.20", s.R_AUTH_FAILURE, customer_ip=True, auth_failures=1),  # a customer
        probe("192.0.2.10", s.R_SCAN),  # our own outbound address
        probe("2001:db8:bad::2", s.R_SCAN),
    ]
)
ASNS = pd.DataFrame(
    {
        "ip": ["100.64.3.4", "100.64.3.9"],
        "asn": pd.array([64500, 64500], "Int64"),
        "as_name": ["EXAMPLE-BROADBAND", "EXAMPLE-BROADBAND"],
    }
)


@pytest.fixture
def offenders() -> pd.DataFrame:
    return summarize_offenders(probe_sessions(SESSIONS, ["192.0.2.10"]), ASNS, SESSIONS)


def test_networks_are_24s_and_48s():
    assert network_of(
        pd.Series(["100.64.3.4", "2001:db8:1:2::5", "::ffff:100.64.3.4", "x"])
    ).tolist() == ["100.64.3.0/24", "2001:db8:1::/48", "100.64.3.0/24", pd.NA]


def test_offenders_exclude_customers_and_our_own_addresses(offenders):
    assert offenders["ip"].tolist() == ["100.64.3.4", "100.64.3.9", "2001:db8:bad::2"]
    first = offenders.iloc[0]
    assert (
        first["probe_sessions"],
        first["auth_failures"],
        first["auth_failure"],
        first["asn"],
    ) == (2, 8, 2, 64500)
    assert pd.isna(offenders.iloc[2]["asn"])


def test_roll_ups(offenders):
    by_network = roll_up(offenders, "network")
    assert by_network[["network", "ips", "probe_sessions"]].values.tolist() == [
        ["100.64.3.0/24", 2, 3],
        ["2001:db8:bad::/48", 1, 1],
    ]
    by_asn = roll_up(offenders, "asn")
    assert by_asn[["asn", "ips", "networks", "probe_sessions"]].values.tolist() == [
        [64500, 2, 1, 3]
    ]


def test_a_network_holding_a_customer_is_never_blocked_whole(offenders):
    entries = blocklist_entries(offenders, CUSTOMERS, ["192.0.2.10"], by="network")
    # 100.64.3.0/24 holds acme's 100.64.3.16/28: its offenders are listed one by one
    assert entries["entry"].tolist() == ["100.64.3.4", "100.64.3.9", "2001:db8:bad::/48"]
    assert blocklist_entries(offenders, CUSTOMERS, [], min_sessions=2)["entry"].tolist() == [
        "100.64.3.4"
    ]


def test_postfix_cidr_map_and_plain_list(offenders):
    entries = blocklist_entries(offenders, CUSTOMERS, [])
    postfix = render_blocklist(entries, "postfix", "test")
    rows = [line.split("\t") for line in postfix.splitlines() if not line.startswith("#")]
    assert [r[0] for r in rows] == ["100.64.3.4/32", "100.64.3.9/32", "2001:db8:bad::2/128"]
    assert all(r[1].startswith("REJECT ") for r in rows)
    for cidr, _ in rows:
        ipaddress.ip_network(cidr)
    plain = render_blocklist(entries, "plain", "test").splitlines()
    assert plain[1::2] == ["100.64.3.4", "100.64.3.9", "2001:db8:bad::2"]
    assert plain[0] == (
        "# 2 of 2 sessions spam probes (auth_failure 2); 0 accepted messages; "
        "seen 2003-11-21T00:00:00Z to 2003-11-21T00:00:00Z"
    )
    if shutil.which("postmap"):
        path = Path(os.environ.get("TMPDIR", "/tmp")) / "relaywatch-test.cidr"
        path.write_text(postfix)
        found = subprocess.run(
            ["postmap", "-q", "100.64.3.9", f"cidr:{path}"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert found.stdout.startswith("REJECT")


def test_nftables_set_loads_in_nft(offenders, tmp_path: Path):
    text = render_blocklist(blocklist_entries(offenders, CUSTOMERS, []), "nftables", "test")
    v4, v6 = text.split("set offenders_v6")
    assert [line.strip() for line in v4.splitlines() if line.strip().endswith(",")] == [
        "100.64.3.4,",
        "100.64.3.9,",
    ]
    assert [line.strip() for line in v6.splitlines() if line.strip().endswith(",")][:1] == [
        "2001:db8:bad::2,"
    ]
    if not shutil.which("nft"):
        if os.environ.get("CI"):
            raise AssertionError("CI installs nftables so that nft checks the syntax")
        pytest.skip("nft not installed (apt-get install nftables)")
    path = tmp_path / "block.nft"
    path.write_text(text)
    result = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_samples_top_offenders_match_the_truth(demo_settings):
    text, _ = jobs.export(
        "offenders",
        demo_settings,
        [str(p) for p in sorted((SAMPLES / "postfix").glob("mail.log*"))],
        jobs.ExportOptions(),
    )
    exported = pd.read_csv(pd.io.common.StringIO(text))
    truth = pd.read_csv(SAMPLES / "truth" / "postfix_sessions.csv", keep_default_na=False)
    customers = check_customers(pd.read_csv(SAMPLES / "customers.csv", dtype=str))
    from analyzer.judgements.customers import customer_networks, match_networks

    inside = match_networks(truth["client_ip"], customer_networks(customers)).notna()
    own = truth["client_ip"].isin(demo_settings.own_outbound_ips())
    probes = truth[(truth["class"] == "spam_probe") & ~inside & ~own]
    expected = probes.groupby("client_ip").size().sort_values(ascending=False)
    top = exported.head(20).set_index("ip")["probe_sessions"]
    assert (top == expected.reindex(top.index)).all()
    assert set(exported["ip"]) == set(expected.index)
    # every offender has its AS from the demo database, and none is a customer's
    assert exported.head(20)["asn"].notna().all() and exported.head(20)["as_name"].notna().all()
    assert not match_networks(exported["ip"], customer_networks(customers)).notna().any()


def test_the_blocklist_never_lists_this_host_private_ranges_never_or_own_addresses():
    offenders = pd.DataFrame(
        {
            "ip": [
                "127.0.0.1",
                "::1",
                "fe80::1",
                "10.1.2.3",
                "192.0.2.200",
                "::ffff:192.0.2.10",  # an own address, IPv4-mapped
                "2001:DB8:0:0::BAD",  # an own address, spelled otherwise
                "IPv6:2001:db8::66",  # not an address: never written
                "203.0.113.7",
                "2001:db8:abcd:12::9",  # inside a customer's huge /24 (IPv6)
            ],
            "probe_sessions": [9] * 10,
        }
    )
    offenders["network"] = network_of(offenders["ip"])
    offenders = offenders.assign(
        sessions=9, accepted_messages=0, judgement=PROBER, first_seen=pd.NaT, last_seen=pd.NaT
    )
    for reason in s.REASONS[s.SPAM_PROBE]:
        offenders[reason] = 9 if reason == s.R_SCAN else 0
    customers = CUSTOMERS.assign(networks=CUSTOMERS["networks"] + ";2001:db8:a000::/36")
    own = ["192.0.2.10", "2001:db8::bad"]
    never = ["192.0.2.200/32"]
    entries = blocklist_entries(offenders, customers, own, never=never)
    assert entries["entry"].tolist() == ["203.0.113.7"]
    by_network = blocklist_entries(offenders, customers, own, by="network", never=never)
    assert by_network["entry"].tolist() == ["203.0.113.0/24"]
    with_private = blocklist_entries(offenders, customers, own, never=never, allow_private=True)
    assert with_private["entry"].tolist() == ["10.1.2.3", "203.0.113.7"]
    nft = render_blocklist(with_private, "nftables", "test")
    assert "IPv6:" not in nft and "127.0.0.1" not in nft
