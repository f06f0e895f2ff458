"""Which sessions stay open at a chunk's end, and which lines are carried on."""

from __future__ import annotations

import pandas as pd

from analyzer import schema as s
from analyzer.sessions.build import build_session_tables
from analyzer.sessions.carry import carried_lines, open_sessions, server_clocks
from tests.conftest import parse_texts

CONNECT = "Nov 21 {t} mail1 postfix/smtpd[{pid}]: connect from unknown[203.0.113.{pid}]"
DISCONNECT = "Nov 21 {t} mail1 postfix/smtpd[{pid}]: disconnect from unknown[203.0.113.{pid}]"
ACCEPTED = [
    "Nov 21 09:00:00 mail1 postfix/smtpd[7]: connect from office.acme.example[198.18.0.10]",
    "Nov 21 09:00:01 mail1 postfix/smtpd[7]: 3F2A41C0B2: client=office.acme.example"
    "[198.18.0.10], sasl_method=PLAIN, sasl_username=alice@acme.example",
    "Nov 21 09:00:02 mail1 postfix/qmgr[400]: 3F2A41C0B2: from=<alice@acme.example>, "
    "size=2345, nrcpt=2 (queue active)",
    "Nov 21 09:00:03 mail1 postfix/smtpd[7]: disconnect from office.acme.example[198.18.0.10]",
    "Nov 21 09:00:04 mail1 postfix/smtp[300]: 3F2A41C0B2: to=<bob@aol.com>, relay=mx.aol.com"
    "[198.51.100.20]:25, delay=2, delays=0.1/0/1/1, dsn=2.0.0, status=sent (250 ok)",
]
SECOND_RECIPIENT = (
    "Nov 21 09:00:05 mail1 postfix/smtp[300]: 3F2A41C0B2: to=<carol@aol.com>, relay=mx.aol.com"
    "[198.51.100.20]:25, delay=3, delays=0.1/0/1/1, dsn=4.7.1, status=deferred (421 later)"
)


def split(lines: list[str], now: str):
    """(open flags by client ip, carried raw lines) with the server's clock at ``now``."""
    events = parse_texts(lines)
    tables = build_session_tables(events)
    clocks = server_clocks({}, events)
    clocks["mail1"] = max(clocks["mail1"], pd.Timestamp(now))
    still_open = open_sessions(tables, clocks)
    flags = dict(zip(tables.sessions[s.CLIENT_IP], still_open, strict=True))
    return flags, carried_lines(events, tables, still_open)


def test_a_session_is_open_until_its_server_has_been_quiet_for_an_hour() -> None:
    lines = [CONNECT.format(t="09:00:00", pid=5), DISCONNECT.format(t="09:00:09", pid=5)]
    assert split(lines, "2003-11-21T09:30:00Z")[0] == {"203.0.113.5": True}
    assert split(lines, "2003-11-21T10:00:10Z")[0] == {"203.0.113.5": False}


def test_a_session_without_its_end_is_carried_whole() -> None:
    lines = [CONNECT.format(t="09:00:00", pid=5), CONNECT.format(t="09:59:00", pid=6)]
    flags, carried = split(lines, "2003-11-21T10:30:00Z")
    assert flags == {"203.0.113.5": False, "203.0.113.6": True}
    assert list(carried[s.CLIENT_IP]) == ["203.0.113.6"]


def test_a_message_waiting_for_a_recipient_holds_its_session_and_its_lines() -> None:
    flags, carried = split(ACCEPTED, "2003-11-22T09:00:00Z")  # a day later: one of 2 tried
    assert flags == {"198.18.0.10": True}
    assert sorted(carried[s.EVENT]) == sorted(
        ["connect", "client", "queued", "disconnect", "delivery"]
    )


def test_a_message_tried_for_every_recipient_lets_its_session_go() -> None:
    flags, carried = split([*ACCEPTED, SECOND_RECIPIENT], "2003-11-22T09:00:00Z")
    assert flags == {"198.18.0.10": False}  # deferred retries add no recipient
    assert carried.empty


def test_a_message_in_the_queue_is_let_go_after_a_week() -> None:
    flags, _ = split(ACCEPTED, "2003-11-28T10:00:00Z")
    assert flags == {"198.18.0.10": False}
