"""Exim: file format and server detection, sessions with and without connection logging."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analyzer import schema as s
from analyzer.reading.parse import detect_formats
from analyzer.reading.sources import exim_server_name
from analyzer.sessions.build import build_sessions
from tests.conftest import lines_frame, parse_texts

LOCAL = frozenset({"acme.example"})


@pytest.mark.parametrize(
    ("path", "server"),
    [
        ("/var/log/exim-mail1.log", "mail1"),
        ("/var/log/exim4-mx2/mainlog", "mx2"),
        ("/var/log/exim4-mx2/mainlog.2.gz", "mx2"),
        ("/srv/logs/relay7/mainlog.1", "relay7"),
    ],
)
def test_server_is_named_from_the_file_or_its_folder(path: str, server: str):
    assert exim_server_name(Path(path), {}, None) == server


def test_a_configured_glob_names_the_server(tmp_path: Path):
    log = tmp_path / "exim4" / "mainlog"
    servers = {"smarthost": ("exim4/mainlog*",)}
    assert exim_server_name(log, servers, tmp_path) == "smarthost"


def test_formats_are_detected_per_file():
    lines = pd.concat(
        [
            lines_frame(["2003-11-21 09:15:02 [1] Start queue run: pid=1"] * 3, 0),
            lines_frame(["Nov 21 09:15:02 mail1 postfix/smtpd[1]: connect from a[1.2.3.4]"], 1),
        ],
        ignore_index=True,
    )
    assert detect_formats(lines) == {0: "exim", 1: "syslog"}


def sessions_of(texts: list[str], gap: int = 60) -> pd.DataFrame:
    return build_sessions(parse_texts(texts, fmt="exim"), LOCAL, gap)


def test_with_pid_and_connection_lines_a_session_is_one_process():
    sessions = sessions_of(
        [
            "2003-11-21 09:00:00 [1001] SMTP connection from [198.18.0.10]:4321 I=[192.0.2.13]:587 "
            "(TCP/IP connection count = 1)",
            "2003-11-21 09:00:00 [1002] SMTP connection from [100.64.9.9]:5678 I=[192.0.2.13]:25 "
            "(TCP/IP connection count = 2)",
            "2003-11-21 09:00:01 [1001] 1AOAbC-0001xy-AB <= a@acme.example H=(o) [198.18.0.10]:4321 "
            "I=[192.0.2.13]:587 P=esmtpsa A=plain:a@acme.example S=10 id=x@y",
            "2003-11-21 09:00:01 [1002] H=(spam) [100.64.9.9]:5678 I=[192.0.2.13]:25 F=<x@s.example> "
            "rejected RCPT <v@aol.com>: relay not permitted",
            # the delivery runs in another process and joins by message id
            "2003-11-21 09:00:02 [1003] 1AOAbC-0001xy-AB => v@aol.com R=dnslookup T=remote_smtp "
            'H=mx.aol.com [198.51.100.20] C="250 OK"',
            "2003-11-21 09:00:02 [1001] SMTP connection from (o) [198.18.0.10]:4321 I=[192.0.2.13]:587 "
            "closed by QUIT",
            "2003-11-21 09:00:03 [1002] SMTP connection from (spam) [100.64.9.9]:5678 lost D=3s",
        ]
    )
    assert sessions[s.SESSION_ID].tolist() == [
        "mx3-1001-20031121T090000",
        "mx3-1002-20031121T090000",
    ]
    first, second = sessions.iloc[0], sessions.iloc[1]
    assert (first[s.AUTH_SUCCESSES], first[s.MESSAGES], first[s.EXTERNAL_RECIPIENTS]) == (1, 1, 1)
    assert (second[s.RELAY_DENIED], second[s.CUT]) == (1, "")  # "lost" ends a connection too


def test_default_selectors_make_a_session_per_message_and_per_burst_of_attempts():
    sessions = sessions_of(
        [
            "2003-11-21 09:00:01 1r6Bwm-000000002h3-2n4V <= x@y.example H=mx.y.example [100.64.2.2] "
            "P=esmtp S=812 id=a@y",
            "2003-11-21 09:00:02 1r6Bwm-000000002h3-2n4V => bob@acme.example R=local T=dovecot_lmtp",
            "2003-11-21 09:05:00 H=(x) [100.64.5.5]:1111 F=<a@b.example> rejected RCPT <n1@acme.example>: "
            "Unrouteable address",
            "2003-11-21 09:05:30 H=(x) [100.64.5.5]:1111 F=<a@b.example> rejected RCPT <n2@acme.example>: "
            "Unrouteable address",
            # another client in between does not split the first one's burst
            "2003-11-21 09:05:40 dovecot_login authenticator failed for (u) [100.64.9.9]:5: 535 "
            "Incorrect authentication data",
            "2003-11-21 09:05:45 H=(x) [100.64.5.5]:1111 F=<a@b.example> rejected RCPT <n3@acme.example>: "
            "Unrouteable address",
            # ten minutes later: a new attempt
            "2003-11-21 09:15:45 H=(x) [100.64.5.5]:1112 F=<a@b.example> rejected RCPT <n4@acme.example>: "
            "Unrouteable address",
        ]
    )
    assert sessions[s.SESSION_ID].tolist() == [
        "mx3-1r6Bwm-000000002h3-2n4V-20031121T090001",
        "mx3-100.64.5.5-20031121T090500",
        "mx3-100.64.9.9-20031121T090540",
        "mx3-100.64.5.5-20031121T091545",
    ]
    assert sessions[s.UNKNOWN_USER].tolist() == [0, 3, 0, 1]
    assert sessions[s.AUTH_FAILURES].tolist() == [0, 0, 1, 0]
    assert sessions[s.LOCAL_RECIPIENTS].tolist() == [1, 0, 0, 0]
    assert set(sessions[s.CUT]) == {""}


def test_receiving_side_lines_count_for_the_session_they_belong_to():
    sessions = sessions_of(
        [
            "2024-05-06 10:00:00 [2001] SMTP connection from [203.0.113.5]:4000 I=[192.0.2.13]:25 "
            "(TCP/IP connection count = 1)",
            # a directory harvest by VRFY: unknown users
            "2024-05-06 10:00:01 [2001] VRFY failed for <a@acme.example> H=(x) [203.0.113.5]:4000 "
            "I=[192.0.2.13]:25",
            "2024-05-06 10:00:02 [2001] VRFY failed for <b@acme.example> H=(x) [203.0.113.5]:4000 "
            "I=[192.0.2.13]:25",
            # a discard tells the client 250: nothing refused
            "2024-05-06 10:00:03 [2001] H=(x) [203.0.113.5]:4000 I=[192.0.2.13]:25 "
            "F=<s@example.net> RCPT <c@acme.example>: discarded by RCPT ACL",
            # the DATA ACL refuses a message for its content
            "2024-05-06 10:00:04 [2001] 1s3xQg-000000004aB-0C1d H=(x) [203.0.113.5]:4000 "
            "I=[192.0.2.13]:25 F=<s@example.net> rejected after DATA: This message contains a "
            "virus (Eicar-Test-Signature)",
            # a delivery process logging in to a smarthost: not this client's failure
            "2024-05-06 10:00:04 [2002] 1s3xQt-000000004aB-0C1d plain authenticator failed "
            "H=smarthost.example.net [198.51.100.41] 535 5.7.8 Authentication credentials invalid",
            "2024-05-06 10:00:05 [2001] SMTP connection from (x) [203.0.113.5]:4000 "
            "I=[192.0.2.13]:25 closed by QUIT",
        ]
    )
    assert sessions[s.CLIENT_IP].tolist() == ["203.0.113.5"]
    row = sessions.iloc[0]
    assert (row[s.UNKNOWN_USER], row[s.REJECTED], row[s.AUTH_FAILURES]) == (2, 3, 0)
    assert row[s.CUT] == ""


def test_a_lost_connection_after_the_final_dot_ends_the_session_without_a_message():
    sessions = sessions_of(
        [
            "2024-05-06 10:00:00 [2003] SMTP connection from [203.0.113.6]:4001 "
            "(TCP/IP connection count = 1)",
            "2024-05-06 10:00:09 [2003] 1s3xQq-000000004aB-0C1d SMTP connection lost after final "
            "dot H=(x) [203.0.113.6]:4001 P=esmtp",
        ]
    )
    row = sessions.iloc[0]
    assert (row[s.MESSAGES], row[s.CUT]) == (0, "")
