"""Rules as data: each compiles in RE2, names only known columns, matches its own examples,
and has at least one annotated real-format line in tests/data/lines/."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from analyzer import schema as s
from analyzer.reading.parse import ALL_RULES, DEFAULT_REJECT_KINDS
from analyzer.reading.patterns._fragments import exim_host_readings
from analyzer.reading.patterns.exim import EXIM_HOST_LAST
from tests.conftest import DATA, parse_texts, read_annotated

ANNOTATED = sorted((DATA / "lines").glob("*/*.log"))
ALL_CASES = [(path, *case) for path in ANNOTATED for case in read_annotated(path)]
COLUMNS = set(s.EVENT_FIELDS) | {s.RULE, s.EVENT}
HEADER_FIELDS = {s.SERVER, s.PROGRAM, s.PID, s.TS, s.DAEMON, s.REJECT_KIND}


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_rule_compiles_in_re2_with_known_groups(rule):
    pc.extract_regex(pa.array(["x"]), rule.regex)  # raises if RE2 rejects it
    assert set(rule.groups) <= set(s.EVENT_FIELDS), set(rule.groups) - set(s.EVENT_FIELDS)
    assert rule.regex.startswith("^") and rule.regex.endswith("$")


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_rule_has_no_unchecked_greedy_wildcard_before_the_client(rule):
    # fail2ban's RE_WRONG_GREED: ".*" before a captured host lets an attacker pick the host.
    # Exim writes the client's HELO (any text) before the address: there the HELO is greedy
    # on purpose, and the parser never takes an Exim client address on a rule's word alone
    # (analyzer.reading.parse.read_hosts, checked in tests/test_forged_helo.py).
    if "(?P<client_ip>" not in rule.regex:
        return
    before_client = rule.regex.split("(?P<client_ip>")[0]
    if rule.daemons != ("exim",):
        assert not re.search(r"\.\*(?!\?)", before_client)
        return
    lazy, lazy_after, greedy = exim_host_readings(rule.regex)
    for reading in (lazy, lazy_after):
        assert not re.search(r"\.\*(?!\?)", reading.split("(?P<client_ip>")[0])
    assert not re.search(r"\.\*\?", greedy.split("(?P<client_ip>")[0])
    for reading in (lazy, lazy_after, greedy):  # each compiles in RE2
        pc.extract_regex(pa.array(["x"]), reading)


def test_hosts_read_greedily_are_those_exim_writes_last():
    # EXIM_HOST_LAST keeps the greedy reading even where the lazy one differs: only rules
    # whose every field after the host is Exim's own (no sender, recipient, reply, DN).
    rules = {rule.name: rule for rule in ALL_RULES}
    assert EXIM_HOST_LAST <= set(rules)
    for name in EXIM_HOST_LAST:
        after = rules[name].regex.split("(?P<client_ip>")[1]
        assert "sender" not in after and "recipient" not in after and "reply" not in after
        assert "DN=" not in after


def test_rule_names_are_unique():
    names = [r.name for r in ALL_RULES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_rule_examples_are_claimed_by_that_rule(rule):
    assert rule.examples, "every rule carries at least one example"
    daemon = rule.daemons[0]
    if daemon == "exim":  # as a mainlog line and as a syslog-wrapped one
        mainlog = [f"2003-11-21 09:15:02 [100] {example}" for example in rule.examples]
        events = parse_texts(mainlog, fmt="exim").sort_values(s.SEQ)
        assert list(events[s.RULE]) == [rule.name] * len(mainlog)
        prefix = "Nov 21 09:15:02 mx3 exim[100]: "
    else:
        prefix = f"Nov 21 09:15:02 mail1 postfix/{daemon}[100]: "
    lines = [prefix + example for example in rule.examples]
    events = parse_texts(lines).sort_values(s.SEQ)
    assert list(events[s.RULE]) == [rule.name] * len(lines)


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_rule_has_an_annotated_line(rule):
    assert any(expect.get("rule") == rule.name for _, _, expect, _ in ALL_CASES)


@pytest.mark.parametrize("reason", DEFAULT_REJECT_KINDS, ids=lambda r: r.name)
def test_reject_kind_examples(reason):
    for example in reason.examples:
        assert re.search(reason.regex, example)


@pytest.mark.parametrize(
    ("path", "number", "expect", "line"),
    ALL_CASES,
    ids=[f"{p.name}:{n}" for p, n, _, _ in ALL_CASES],
)
def test_annotated_line(path: Path, number: int, expect: dict, line: str):
    mainlog = path.parent.name == "exim" and not path.name.startswith("syslog")
    row = parse_texts([line], fmt="exim" if mainlog else "syslog").iloc[0]
    if expect.get("match") is False:
        assert pd.isna(row[s.RULE]), f"claimed by {row[s.RULE]}"
        if "event" in expect:
            assert row[s.EVENT] == expect["event"]
        return
    for field, wanted in expect.items():
        assert field in COLUMNS | HEADER_FIELDS, f"unknown field {field} in expectation"
        got = row[field]
        if field == s.TS:
            got = got.isoformat()
        if wanted is None:
            assert pd.isna(got), f"{field}: expected empty, got {got!r}"
        else:
            assert not pd.isna(got) and got == wanted, f"{field}: expected {wanted!r}, got {got!r}"
