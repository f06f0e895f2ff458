"""Customers: CIDR matching (IPv4, IPv6, most specific wins), SASL attribution, bad input."""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from analyzer import schema as s
from analyzer.errors import ConfigError
from analyzer.judgements.customers import (
    CUSTOMER_IP,
    _split,
    attribute_customers,
    check_customers,
    customer_networks,
    ip_halves,
    local_domains,
    match_networks,
)

CUSTOMERS = check_customers(
    pd.DataFrame(
        {
            "customer_id": ["acme", "beta", "gamma"],
            "name": ["Acme", "Beta", "Gamma"],
            "domains": ["acme.example; acme-mail.example", "beta.example", "gamma.example"],
            "networks": ["198.18.0.0/28;198.18.9.0/29", "198.18.0.0/24", "2001:db8:10::/48"],
            "contact_email": ["it@acme.example", "it@beta.example", "it@gamma.example"],
        }
    )
)


def test_most_specific_network_wins_and_ipv6_and_mapped_addresses_match():
    ips = pd.Series(
        [
            "198.18.0.5",
            "198.18.0.200",
            "198.18.9.7",
            "2001:db8:10::25",
            "::ffff:198.18.0.5",
            "100.64.0.1",
            "unknown",
            None,
        ]
    )
    got = match_networks(ips, customer_networks(CUSTOMERS))
    assert got.tolist() == ["acme", "beta", "acme", "gamma", "acme", pd.NA, pd.NA, pd.NA]


def test_sasl_username_decides_before_the_client_address():
    sessions = pd.DataFrame(
        {
            s.SASL_USERNAME: ["alice@acme-mail.example", "gamma", None, "x@elsewhere.example"],
            s.CLIENT_IP: ["198.18.0.200", "100.64.0.1", "198.18.0.200", "100.64.0.2"],
        }
    )
    result = attribute_customers(sessions, CUSTOMERS)
    assert result[s.CUSTOMER_ID].tolist() == ["acme", "gamma", "beta", pd.NA]
    assert result[CUSTOMER_IP].tolist() == [True, False, True, False]


def test_local_domains_include_every_customer_domain():
    assert local_domains(CUSTOMERS, ("Provider.example",)) == {
        "acme.example",
        "acme-mail.example",
        "beta.example",
        "gamma.example",
        "provider.example",
    }


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("networks", "198.18.0.0/33", "customer acme: bad network '198.18.0.0/33'"),
        ("networks", "not-an-ip", "bad network 'not-an-ip'"),
        ("customer_id", "beta", "customer_id 'beta' appears twice"),
    ],
)
def test_bad_customers_are_one_clear_error(column, value, message):
    table = CUSTOMERS.copy()
    table.loc[0, column] = value
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("/", "/")):
        check_customers(table)


def test_a_wrong_header_names_the_expected_one():
    with pytest.raises(ConfigError, match="expected header: customer_id,name,domains,networks"):
        check_customers(CUSTOMERS.rename(columns={"networks": "cidrs"}))


def address_halves(text: str | None) -> tuple[bool, int, int]:
    """What ``ip_halves`` gives for one address, read by ``ipaddress`` alone."""
    try:
        address = ipaddress.ip_address(str(text).removeprefix("IPv6:"))
    except ValueError:
        return False, 0, 0
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return True, *_split(address)


octet = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["01", "00", "007", "", "x"]))
quads = st.lists(octet, min_size=3, max_size=5).map(".".join)
addresses = st.one_of(
    quads,
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: f"IPv6:{a}"),
    st.text(alphabet="0123456789.:abcdef\u0661 ", max_size=20),
    st.none(),
)


@given(st.lists(addresses, max_size=30))
@example(["10.0.0.1", "10.0.0.1", "01.2.3.4", "256.1.1.1", "::ffff:10.0.0.1", "\u0661.2.3.4"])
@example(["1.2.3.4\n", " 1.2.3.4", "255.255.255.255", "0.0.0.0", "IPv6:::1", "", None])
def test_addresses_are_read_as_ipaddress_reads_them(texts: list[str | None]) -> None:
    # dotted quads are read in Arrow, the rest by ipaddress: the same halves either way
    for dtype in ("large_string[pyarrow]", object):
        valid, hi, lo = ip_halves(pd.Series(texts, dtype=dtype))
        want = [address_halves(text) for text in texts]
        assert valid.tolist() == [w[0] for w in want]
        assert hi.tolist() == [w[1] for w in want] and lo.tolist() == [w[2] for w in want]
        assert hi.dtype == lo.dtype == np.uint64


def one_pass_per_network(ips: pd.Series, networks: pd.DataFrame) -> list:
    """The rule, network by network: a more specific network takes an address over a less
    specific one, and of the same network listed twice the first keeps it."""
    valid, hi, lo = ip_halves(ips)
    best, best_prefix = [None] * len(ips), [-1] * len(ips)
    for net in networks.itertuples(index=False):
        for i in range(len(ips)):
            address = (int(hi[i]) << 64) | int(lo[i])
            first = (int(net.lo_hi) << 64) | int(net.lo_lo)
            last = (int(net.hi_hi) << 64) | int(net.hi_lo)
            if valid[i] and first <= address <= last and net.prefix > best_prefix[i]:
                best[i], best_prefix[i] = net.customer_id, net.prefix
    return [pd.NA if b is None else b for b in best]


def nets_and_ips(draw_network, draw_address):
    return st.tuples(
        st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3"]), draw_network), max_size=12),
        st.lists(st.one_of(draw_address, st.none(), st.just("unknown")), max_size=25),
    )


# small spaces, so that networks nest, repeat and hold the addresses drawn
v4_networks = st.builds(
    lambda a, b, bits: f"10.{a}.{b}.0/{bits}",
    st.integers(0, 3), st.integers(0, 3), st.sampled_from([8, 14, 16, 23, 24, 30, 32]),
)  # fmt: skip
v4_addresses = st.builds(
    lambda a, b, c: f"10.{a}.{b}.{c}", st.integers(0, 4), st.integers(0, 4), st.integers(0, 9)
)
v6_networks = st.builds(
    lambda a, bits: f"2001:db8:{a}::/{bits}",
    st.integers(0, 3), st.sampled_from([0, 16, 32, 47, 48, 64, 120, 128]),
)  # fmt: skip
v6_addresses = st.one_of(
    st.builds(lambda a, b: f"2001:db8:{a}::{b}", st.integers(0, 4), st.integers(0, 3)),
    v4_addresses.map(lambda a: f"::ffff:{a}"),
    st.just("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
)


@given(
    st.one_of(
        nets_and_ips(v4_networks, v4_addresses),
        nets_and_ips(st.one_of(v4_networks, v6_networks), st.one_of(v4_addresses, v6_addresses)),
    )
)
@example(([("c1", "10.0.0.0/8"), ("c2", "10.0.0.0/8"), ("c3", "10.0.0.0/24")], ["10.0.0.1"]))
@example(([("c1", "2001:db8:0::/0"), ("c2", "10.1.0.0/16")], ["10.1.2.3", "::1", None]))
def test_an_address_goes_to_the_most_specific_network_then_the_first_listed(drawn) -> None:
    listed, texts = drawn
    customers = pd.DataFrame(
        {"customer_id": [c for c, _ in listed], "networks": [n for _, n in listed]}
    )
    networks = customer_networks(customers)
    ips = pd.Series(texts, dtype=object)
    assert match_networks(ips, networks).tolist() == one_pass_per_network(ips, networks)
