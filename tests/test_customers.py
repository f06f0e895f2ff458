"""Customers: CIDR matching (IPv4, IPv6, most specific wins), SASL attribution, bad input."""

from __future__ import annotations

import pandas as pd
import pytest

from analyzer import schema as s
from analyzer.errors import ConfigError
from analyzer.judgements.customers import (
    CUSTOMER_IP,
    attribute_customers,
    check_customers,
    customer_networks,
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
