"""Blocklist-bounce rules: every rule claims its own examples, and each real-format delivery
line in tests/data/bounces/ gets the provider and the named own IP it should."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from analyzer import schema as s
from analyzer.judgements.blame import NAMED_IP, PROVIDER, blame_blocklists
from analyzer.reading.patterns.bounces import BLOCKLIST_BOUNCES
from tests.conftest import DATA, parse_texts, read_annotated

OWN = ("192.0.2.1", "192.0.2.10", "192.0.2.11", "192.0.2.13", "2001:db8::10")
CASES = read_annotated(DATA / "bounces" / "blocklist.log")


def _delivery(line: str) -> pd.Series:
    fmt = "exim" if re.match(r"\d{4}-\d\d-\d\d ", line) else "syslog"
    events = parse_texts([line], fmt=fmt)
    deliveries = events[(events[s.EVENT] == s.EV_DELIVERY).fillna(False).to_numpy()]
    assert len(deliveries) == 1, f"not parsed as a delivery: {line}"
    return blame_blocklists(deliveries, OWN).iloc[0]


@pytest.mark.parametrize(("number", "expect", "line"), CASES, ids=[str(c[0]) for c in CASES])
def test_bounce_line(number, expect, line):
    row = _delivery(line)
    for field, column in (("provider", PROVIDER), ("named_ip", NAMED_IP)):
        got = None if pd.isna(row[column]) else row[column]
        assert got == expect[field], f"line {number}: {field}"


@pytest.mark.parametrize("rule", BLOCKLIST_BOUNCES, ids=lambda r: r.name)
def test_rule_claims_its_examples_first(rule):
    assert rule.examples
    frame = pd.DataFrame({s.STATUS: ["bounced"] * len(rule.examples), s.REPLY: list(rule.examples)})
    blamed = blame_blocklists(frame, OWN)
    assert list(blamed[PROVIDER]) == [rule.kind] * len(rule.examples)


@pytest.mark.parametrize("rule", BLOCKLIST_BOUNCES, ids=lambda r: r.name)
def test_rule_has_a_full_log_line(rule):
    assert any(expect["provider"] == rule.kind for _, expect, _ in CASES)


def test_zone_named_in_the_reply_is_kept():
    frame = pd.DataFrame(
        {
            s.STATUS: ["bounced", "deferred", "sent"],
            s.REPLY: [
                "said: 554 5.7.1 Client host [192.0.2.10] blocked using zen.spamhaus.org; x",
                "said: 550 5.7.1 192.0.2.11 is listed at psbl.surriel.com",
                "250 2.0.0 Ok: queued as 3F2A41C0B2 (listed at nowhere.example)",
            ],
        }
    )
    blamed = blame_blocklists(frame, OWN)
    assert list(blamed[s.DNSBL_ZONE].fillna("-")) == ["zen.spamhaus.org", "psbl.surriel.com", "-"]
    assert list(blamed[NAMED_IP].fillna("-")) == ["192.0.2.10", "192.0.2.11", "-"]
    assert pd.isna(blamed[PROVIDER].iloc[2])  # a delivered message blames nothing
