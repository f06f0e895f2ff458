"""Every class and reason of the classification table, one row each, plus the enforcement period."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analyzer import schema as s
from analyzer.judgements.classify import assign_period, classify_sessions
from analyzer.judgements.customers import CUSTOMER_IP

COUNTS = (
    s.AUTH_SUCCESSES,
    s.AUTH_FAILURES,
    s.AUTH_OUTAGES,
    s.RELAY_DENIED,
    s.MESSAGES,
    s.EXTERNAL_RECIPIENTS,
    s.LOCAL_RECIPIENTS,
    s.DNSBL_HITS,
    s.UNKNOWN_USER,
    s.CONTENT_REJECTS,
    s.REJECTED,
    s.PROTOCOL_ERRORS,
)

# (what happened, from a customer network?, expected class, expected reason)
CASES = [
    (
        {s.AUTH_SUCCESSES: 1, s.MESSAGES: 1, s.EXTERNAL_RECIPIENTS: 1},
        False,
        s.AUTHENTICATED,
        s.R_SUBMISSION,
    ),
    # AUTH failed twice, then the right password: a person who mistyped
    ({s.AUTH_SUCCESSES: 1, s.AUTH_FAILURES: 2}, False, s.AUTHENTICATED, s.R_SUBMISSION),
    ({s.AUTH_SUCCESSES: 1}, True, s.AUTHENTICATED, s.R_SUBMISSION),  # AUTH then QUIT
    ({s.MESSAGES: 1, s.LOCAL_RECIPIENTS: 2}, False, s.UNAUTHENTICATED, s.R_INBOUND),
    # accepted with one unknown recipient: still inbound mail
    (
        {s.MESSAGES: 1, s.LOCAL_RECIPIENTS: 1, s.UNKNOWN_USER: 1, s.REJECTED: 1},
        False,
        s.UNAUTHENTICATED,
        s.R_INBOUND,
    ),
    ({s.MESSAGES: 1, s.EXTERNAL_RECIPIENTS: 3}, True, s.UNAUTHENTICATED, s.R_RELAY),
    # accepted from a customer office, deliveries outside the input: a relay
    ({s.MESSAGES: 1}, True, s.UNAUTHENTICATED, s.R_RELAY),
    ({s.MESSAGES: 1}, False, s.UNAUTHENTICATED, s.R_INBOUND),
    ({s.RELAY_DENIED: 2, s.REJECTED: 2}, True, s.UNAUTHENTICATED, s.R_RELAY_DENIED),
    (
        {s.RELAY_DENIED: 1, s.REJECTED: 1, s.MESSAGES: 1, s.EXTERNAL_RECIPIENTS: 1},
        True,
        s.UNAUTHENTICATED,
        s.R_RELAY_DENIED,
    ),
    ({s.AUTH_OUTAGES: 1}, True, s.UNAUTHENTICATED, s.R_AUTH_UNAVAILABLE),
    ({s.AUTH_FAILURES: 5}, False, s.SPAM_PROBE, s.R_AUTH_FAILURE),
    # a customer with a wrong password is still a failed login (any AUTH failure makes a probe)
    ({s.AUTH_FAILURES: 1, s.RELAY_DENIED: 1, s.REJECTED: 1}, True, s.SPAM_PROBE, s.R_AUTH_FAILURE),
    ({s.RELAY_DENIED: 3, s.REJECTED: 3}, False, s.SPAM_PROBE, s.R_RELAY_PROBE),
    ({s.DNSBL_HITS: 1, s.REJECTED: 1}, False, s.SPAM_PROBE, s.R_RBL),
    ({s.UNKNOWN_USER: 7, s.REJECTED: 7}, False, s.SPAM_PROBE, s.R_DICTIONARY),
    # a message refused for its content (milter, filter) and nothing accepted
    ({s.CONTENT_REJECTS: 1, s.REJECTED: 1}, False, s.SPAM_PROBE, s.R_CONTENT),
    # ... before which another message was accepted: inbound mail, flagged by the count
    (
        {s.MESSAGES: 1, s.LOCAL_RECIPIENTS: 1, s.CONTENT_REJECTS: 1, s.REJECTED: 1},
        False,
        s.UNAUTHENTICATED,
        s.R_INBOUND,
    ),
    ({s.REJECTED: 1}, False, s.SPAM_PROBE, s.R_POLICY),
    ({s.PROTOCOL_ERRORS: 1}, False, s.SPAM_PROBE, s.R_PROTOCOL),
    ({}, False, s.SPAM_PROBE, s.R_SCAN),
    ({}, True, s.SPAM_PROBE, s.R_SCAN),
]


def session_row(counts: dict, customer_ip: bool) -> dict:
    return {**{c: 0 for c in COUNTS}, **counts, CUSTOMER_IP: customer_ip}


@pytest.mark.parametrize(
    ("counts", "customer_ip", "klass", "reason"),
    CASES,
    ids=[f"{c[2]}-{c[3]}-{i}" for i, c in enumerate(CASES)],
)
def test_class_and_reason(counts, customer_ip, klass, reason):
    sessions = pd.DataFrame([session_row(counts, customer_ip)])
    result = classify_sessions(sessions).iloc[0]
    assert (result[s.CLASS], result[s.REASON]) == (klass, reason)


def test_every_reason_of_the_spec_is_covered():
    covered = {(klass, reason) for _, _, klass, reason in CASES}
    wanted = {(klass, reason) for klass, reasons in s.REASONS.items() for reason in reasons}
    assert covered == wanted


def test_period_starts_at_local_midnight_and_servers_may_differ():
    starts = pd.to_datetime(
        [
            "2003-11-21T04:59:59Z",
            "2003-11-21T05:00:00Z",
            "2003-11-23T12:00:00Z",
            "2003-11-24T05:00:00Z",
        ],
        utc=True,
    )
    sessions = pd.DataFrame({s.START: starts, s.SERVER: ["mail1", "mail1", "mail2", "mail2"]})
    result = assign_period(
        sessions, dt.date(2003, 11, 21), "America/New_York", {"mail2": dt.date(2003, 11, 24)}
    )
    assert list(result[s.PERIOD]) == [s.BEFORE, s.AFTER, s.BEFORE, s.AFTER]
