"""Session building: pid reuse, interleaved servers, cut sessions, postscreen, queue ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyzer import schema as s
from analyzer.reading.parse import StampOptions, parse_lines
from analyzer.sessions.build import _compact_stamps, _opened_messages, build_sessions
from tests.conftest import lines_frame, parse_texts, sources_frame

LOCAL = frozenset({"acme.example", "provider.example"})


def sessions_of(texts: list[str]) -> pd.DataFrame:
    return build_sessions(parse_texts(texts), LOCAL)


def test_pid_reuse_makes_two_sessions():
    sessions = sessions_of(
        [
            "Nov 21 09:00:00 mail1 postfix/smtpd[100]: connect from a.example[100.64.0.1]",
            "Nov 21 09:00:01 mail1 postfix/smtpd[100]: lost connection after EHLO from a.example[100.64.0.1]",
            "Nov 21 09:00:01 mail1 postfix/smtpd[100]: disconnect from a.example[100.64.0.1]",
            # the same smtpd process serves the next client
            "Nov 21 09:00:05 mail1 postfix/smtpd[100]: connect from b.example[100.64.0.2]",
            "Nov 21 09:00:06 mail1 postfix/smtpd[100]: disconnect from b.example[100.64.0.2]",
        ]
    )
    assert list(sessions[s.CLIENT_IP]) == ["100.64.0.1", "100.64.0.2"]
    assert list(sessions[s.CUT]) == ["", ""]
    assert sessions[s.SESSION_ID].is_unique


def test_interleaved_servers_with_the_same_pid_stay_apart():
    sessions = sessions_of(
        [
            "Nov 21 09:00:00 mail1 postfix/smtpd[100]: connect from a.example[100.64.0.1]",
            "Nov 21 09:00:00 mail2 postfix/smtpd[100]: connect from b.example[100.64.0.2]",
            "Nov 21 09:00:01 mail2 postfix/smtpd[100]: NOQUEUE: reject: RCPT from b.example[100.64.0.2]: "
            "554 5.7.1 <x@aol.com>: Relay access denied; from=<y@b.example> to=<x@aol.com> proto=ESMTP "
            "helo=<b.example>",
            "Nov 21 09:00:02 mail1 postfix/smtpd[100]: disconnect from a.example[100.64.0.1]",
            "Nov 21 09:00:02 mail2 postfix/smtpd[100]: disconnect from b.example[100.64.0.2]",
        ]
    )
    by_server = sessions.set_index(s.SERVER)
    assert by_server.loc["mail1", s.RELAY_DENIED] == 0
    assert by_server.loc["mail2", s.RELAY_DENIED] == 1
    assert by_server.loc["mail2", s.HELO] == "b.example"


def test_sessions_cut_at_the_start_and_end_of_the_input():
    sessions = sessions_of(
        [
            # the connect of this one lies before the file
            "Nov 21 09:00:00 mail1 postfix/smtpd[100]: lost connection after AUTH from a.example[100.64.0.1]",
            "Nov 21 09:00:00 mail1 postfix/smtpd[100]: disconnect from a.example[100.64.0.1]",
            # and the disconnect of this one after it
            "Nov 21 09:00:09 mail1 postfix/smtpd[101]: connect from b.example[100.64.0.2]",
        ]
    )
    assert list(sessions[s.CUT]) == ["start", "end"]


def test_a_session_spanning_two_rotated_files_is_one_session():
    older = ["Nov 21 06:25:00 mail1 postfix/smtpd[100]: connect from a.example[100.64.0.1]"]
    newer = ["Nov 21 06:25:02 mail1 postfix/smtpd[100]: disconnect from a.example[100.64.0.1]"]
    # given newest first, as a glob of mail.log* would list them
    lines = pd.concat([lines_frame(newer, 0), lines_frame(older, 1)], ignore_index=True)
    events = parse_lines(lines, sources_frame(2), StampOptions("UTC", 2003))
    sessions = build_sessions(events, LOCAL)
    assert len(sessions) == 1 and sessions[s.CUT].iloc[0] == ""
    assert sessions[s.END].iloc[0] - sessions[s.START].iloc[0] == pd.Timedelta(seconds=2)


def test_queue_ids_join_messages_and_deliveries():
    sessions = sessions_of(
        [
            "Nov 21 09:00:00 mail1 postfix/smtpd[100]: connect from office.acme.example[198.18.0.10]",
            "Nov 21 09:00:01 mail1 postfix/smtpd[100]: 3F2A41C0B2: client=office.acme.example[198.18.0.10]",
            "Nov 21 09:00:01 mail1 postfix/cleanup[200]: 3F2A41C0B2: message-id=<1@acme.example>",
            "Nov 21 09:00:01 mail1 postfix/qmgr[300]: 3F2A41C0B2: from=<a@acme.example>, size=100, nrcpt=2 (queue active)",
            "Nov 21 09:00:02 mail1 postfix/smtpd[100]: disconnect from office.acme.example[198.18.0.10]",
            "Nov 21 09:00:03 mail1 postfix/smtp[400]: 3F2A41C0B2: to=<x@aol.com>, relay=mx.aol.com[198.51.100.20]:25, "
            "delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)",
            "Nov 21 09:00:03 mail1 postfix/virtual[401]: 3F2A41C0B2: to=<b@acme.example>, relay=virtual, delay=1, "
            "delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
            "Nov 21 09:00:03 mail1 postfix/qmgr[300]: 3F2A41C0B2: removed",
        ]
    )
    row = sessions.iloc[0]
    assert (row[s.MESSAGES], row[s.RECIPIENTS]) == (1, 2)
    assert (row[s.EXTERNAL_RECIPIENTS], row[s.LOCAL_RECIPIENTS]) == (1, 1)


def test_a_reused_short_queue_id_opens_a_new_message():
    sessions = sessions_of(
        [
            "Nov 21 09:00:00 mail2 postfix/smtpd[100]: connect from a.example[100.64.0.1]",
            "Nov 21 09:00:01 mail2 postfix/smtpd[100]: 3F2A41C0B2: client=a.example[100.64.0.1]",
            "Nov 21 09:00:02 mail2 postfix/smtpd[100]: disconnect from a.example[100.64.0.1]",
            "Nov 21 09:00:03 mail2 postfix/virtual[401]: 3F2A41C0B2: to=<b@acme.example>, relay=virtual, delay=1, "
            "delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
            # two weeks later the same id names another message, from another client
            "Dec  5 09:00:00 mail2 postfix/smtpd[100]: connect from b.example[100.64.0.2]",
            "Dec  5 09:00:01 mail2 postfix/smtpd[100]: 3F2A41C0B2: client=b.example[100.64.0.2]",
            "Dec  5 09:00:02 mail2 postfix/smtpd[100]: disconnect from b.example[100.64.0.2]",
            "Dec  5 09:00:03 mail2 postfix/smtp[401]: 3F2A41C0B2: to=<x@aol.com>, relay=mx.aol.com[198.51.100.20]:25, "
            "delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)",
        ]
    )
    assert list(sessions[s.EXTERNAL_RECIPIENTS]) == [0, 1]
    assert list(sessions[s.LOCAL_RECIPIENTS]) == [1, 0]


def test_auth_statistics_count_successes_and_failures():
    sessions = sessions_of(
        [
            "Nov 21 09:00:00 mail1 postfix/submission/smtpd[100]: connect from a.example[100.64.0.1]",
            "Nov 21 09:00:02 mail1 postfix/submission/smtpd[100]: disconnect from a.example[100.64.0.1] "
            "ehlo=1 auth=1 quit=1 commands=3",
            "Nov 21 09:01:00 mail1 postfix/smtpd[101]: connect from b.example[100.64.0.2]",
            "Nov 21 09:01:02 mail1 postfix/smtpd[101]: disconnect from b.example[100.64.0.2] "
            "ehlo=1 auth=0/3 commands=1/4",
        ]
    )
    assert list(sessions[s.AUTH_SUCCESSES]) == [1, 0]
    assert list(sessions[s.AUTH_FAILURES]) == [0, 3]
    assert list(sessions[s.SERVICE]) == ["postfix/submission/smtpd", "postfix/smtpd"]


def test_a_mail_command_counts_when_every_recipient_was_refused():
    # "mail=1" has no "/total": the count is 1 (an arrow NaN from the absent total was read
    # as no MAIL command at all before)
    sessions = sessions_of(
        [
            "Nov 21 09:00:00 mail1 postfix/smtpd[100]: connect from a.example[100.64.0.1]",
            "Nov 21 09:00:01 mail1 postfix/smtpd[100]: NOQUEUE: reject: RCPT from "
            "a.example[100.64.0.1]: 554 5.7.1 <v@aol.com>: Relay access denied; "
            "from=<s@x.example> to=<v@aol.com> proto=ESMTP helo=<a.example>",
            "Nov 21 09:00:02 mail1 postfix/smtpd[100]: disconnect from a.example[100.64.0.1] "
            "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4",
            "Nov 21 09:01:00 mail1 postfix/smtpd[101]: connect from b.example[100.64.0.2]",
            "Nov 21 09:01:02 mail1 postfix/smtpd[101]: disconnect from b.example[100.64.0.2] "
            "ehlo=1 mail=2/3 quit=1 commands=4/5",
        ]
    )
    assert list(sessions[s.MESSAGES]) == [0, 0]
    assert list(sessions[s.MAIL_COMMANDS]) == [1, 3]


def test_postscreen_pass_hands_over_and_rejects_stay():
    sessions = sessions_of(
        [
            "Nov 21 09:00:00 mail2 postfix/postscreen[900]: CONNECT from [100.64.3.4]:5000 to [192.0.2.11]:25",
            "Nov 21 09:00:00 mail2 postfix/postscreen[900]: CONNECT from [100.64.9.9]:6000 to [192.0.2.11]:25",
            "Nov 21 09:00:01 mail2 postfix/postscreen[900]: PASS NEW [100.64.3.4]:5000",
            "Nov 21 09:00:01 mail2 postfix/smtpd[100]: connect from a.example[100.64.3.4]",
            "Nov 21 09:00:02 mail2 postfix/postscreen[900]: DNSBL rank 3 for [100.64.9.9]:6000",
            "Nov 21 09:00:03 mail2 postfix/postscreen[900]: NOQUEUE: reject: RCPT from [100.64.9.9]:6000: 550 5.7.1 "
            "Service unavailable; client [100.64.9.9] blocked using zen.spamhaus.org; from=<a@b.example>, "
            "to=<c@acme.example>, proto=ESMTP, helo=<b.example>",
            "Nov 21 09:00:03 mail2 postfix/postscreen[900]: DISCONNECT [100.64.9.9]:6000",
            "Nov 21 09:00:04 mail2 postfix/smtpd[100]: disconnect from a.example[100.64.3.4]",
        ]
    )
    # the postscreen connection that passed is the smtpd session; the refused one stays
    assert list(sessions[s.SERVICE]) == ["postfix/postscreen", "postfix/smtpd"]
    probe = sessions.iloc[0]
    assert (probe[s.CLIENT_IP], probe[s.DNSBL_HITS], probe[s.REJECTED], probe[s.HELO]) == (
        "100.64.9.9",
        2,
        1,
        "b.example",
    )
    assert probe[s.SESSION_ID] == "mail2-900-6000-20031121T090000"


def test_a_hostname_warning_before_connect_does_not_make_a_session():
    sessions = sessions_of(
        [
            "Nov 21 09:00:00 mail1 postfix/smtpd[100]: warning: hostname x.example does not resolve to "
            "address 100.64.0.1: Name or service not known",
            "Nov 21 09:00:00 mail1 postfix/smtpd[100]: connect from unknown[100.64.0.1]",
            "Nov 21 09:00:01 mail1 postfix/smtpd[100]: disconnect from unknown[100.64.0.1]",
        ]
    )
    assert len(sessions) == 1 and sessions[s.CUT].iloc[0] == ""


def test_content_rejected_message_is_not_accepted():
    sessions = sessions_of(
        [
            "Nov 21 09:00:00 mail1 postfix/smtpd[100]: connect from a.example[100.64.0.1]",
            "Nov 21 09:00:01 mail1 postfix/smtpd[100]: 3F2A41C0B2: client=a.example[100.64.0.1]",
            "Nov 21 09:00:02 mail1 postfix/cleanup[200]: 3F2A41C0B2: milter-reject: END-OF-MESSAGE from "
            "a.example[100.64.0.1]: 5.7.1 Spam; from=<x@a.example> to=<b@acme.example> proto=ESMTP helo=<a>",
            "Nov 21 09:00:02 mail1 postfix/smtpd[100]: disconnect from a.example[100.64.0.1]",
        ]
    )
    assert (sessions[s.MESSAGES].iloc[0], sessions[s.REJECTED].iloc[0]) == (0, 1)


# Local domains a server keeps mail for, read from its local deliveries (no config needed).
LOCAL_DELIVERIES = [
    # Postfix virtual, lmtp and local transports: local domains (orig_to's domain too)
    "Nov 21 09:15:05 mx1 postfix/virtual[20235]: 199041033BE: to=<me@Kept.example>, relay=virtual, delay=0.08, delays=0.08/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
    "Nov 21 09:15:05 mx1 postfix/lmtp[2351]: AD6E41CDC05C: to=<admin@lmtp.example>, relay=mx1.example.net[private/dovecot-lmtp], delay=0.15, delays=0.04/0/0.02/0.08, dsn=2.0.0, status=sent (250 2.0.0 Saved)",
    "Nov 21 09:15:05 mx1 postfix/local[2352]: 2A22C263F6: to=<bob@mx1.example.net>, orig_to=<postmaster@alias.example>, relay=local, delay=0.07, delays=0.04/0/0/0.03, dsn=2.0.0, status=sent (delivered to mailbox)",
    # smtp out, even to a content filter on 127.0.0.1: not a local delivery
    "Nov 21 09:15:06 mx1 postfix/smtp[2353]: 3B33C263F6: to=<x@aol.com>, relay=mx.aol.com[198.51.100.20]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 ok)",
    "Nov 21 09:15:06 mx1 postfix/smtp[2354]: 4C44C263F6: to=<y@filtered.example>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 queued)",
]
EXIM_DELIVERIES = [
    "2003-11-21 09:15:04 [1002] 1AOAbC-0001xy-AB => carol <carol@exim-kept.example> R=local_user T=dovecot_lmtp",
    "2003-11-21 09:15:04 [1003] 1AOAbD-0001xy-AB => /var/mail/dave <dave@spool.example> R=localuser T=local_delivery",
    '2003-11-21 09:15:05 [1004] 1AOAbE-0001xy-AB => bob@aol.com R=dnslookup T=remote_smtp H=mx.aol.com [198.51.100.20] C="250 OK"',
]


def test_local_domains_are_read_from_local_deliveries():
    from analyzer.sessions.messages import local_delivery_domains

    postfix = local_delivery_domains(parse_texts(LOCAL_DELIVERIES))
    assert postfix == {"kept.example", "lmtp.example", "mx1.example.net", "alias.example"}
    exim = local_delivery_domains(parse_texts(EXIM_DELIVERIES, fmt="exim"))
    assert exim == {"exim-kept.example", "spool.example"}


def test_exim_lmtp_delivery_is_local_without_configured_domains():
    from analyzer.sessions.messages import local_transport

    events = parse_texts(EXIM_DELIVERIES, fmt="exim")
    assert local_transport(events[events["event"] == "delivery"]).tolist() == [True, True, False]


def test_local_transports_and_domains_on_edge_values():
    from analyzer.sessions.messages import local_delivery_domains, local_transport

    def text(values):
        return pd.array(values, dtype="string[pyarrow]")

    deliveries = pd.DataFrame(
        {
            s.RELAY: text(
                ["dovecot[private/dovecot-lmtp]", None, "smtp[1.2.3.4]:25", "SMTP_out", "", "x"]
            ),
            s.DAEMON: text(["lmtp", "pipe", "smtp", "exim", "exim", None]),
        }
    )
    # the relay's name before "[" or the daemon; an Exim transport without "smtp" (any case)
    assert local_transport(deliveries).tolist() == [True, True, False, False, False, False]
    events = pd.DataFrame(
        {
            s.EVENT: ["delivery"] * 4,
            s.RECIPIENT: text(["a@Example.COM", "b@x_y.org", None, "c@ok.net "]),
            s.ORIG_RECIPIENT: text([None, "alias@Alias.ORG", "e@ok2.net", None]),
            s.RELAY: text(["local"] * 4),
            s.DAEMON: text(["local"] * 4),
        }
    )
    # lower case; "x_y.org" and a trailing space are no domain names
    assert local_delivery_domains(events) == {"example.com", "alias.org", "ok2.net"}
    # columns of several Arrow chunks (frames joined in a chunk) read the same
    joined = pd.concat([events.iloc[:2], events.iloc[2:]], ignore_index=True)
    assert len(joined[s.RECIPIENT].array._pa_array.chunks) == 2
    assert local_delivery_domains(joined) == {"example.com", "alias.org", "ok2.net"}
    assert local_transport(pd.concat([deliveries] * 2, ignore_index=True)).tolist() == [
        True, True, False, False, False, False
    ] * 2  # fmt: skip


# One smtpd process serves connection after connection; an excerpt (a grep of the rejects, a
# log rotated mid-session) lacks their "connect from" lines. Each client's lines must still
# be a session of their own.
EXCERPT = [
    "Nov 21 10:00:01 mx1 postfix/smtpd[500]: NOQUEUE: reject: RCPT from unknown[203.0.113.5]: 554 5.7.1 <x@aol.com>: Relay access denied; from=<a@b.example> to=<x@aol.com> proto=ESMTP helo=<User>",
    "Nov 21 10:00:02 mx1 postfix/smtpd[500]: lost connection after RCPT from unknown[203.0.113.5]",
    "Nov 21 10:00:05 mx1 postfix/smtpd[500]: warning: unknown[198.51.100.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
    "Nov 21 10:00:08 mx1 postfix/smtpd[500]: warning: unknown[198.51.100.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
    "Nov 21 10:00:09 mx1 postfix/smtpd[500]: disconnect from unknown[198.51.100.9] ehlo=1 auth=0/2 quit=1 commands=2/4",
    # the same address again after its disconnect: another connection
    "Nov 21 10:01:00 mx1 postfix/smtpd[500]: warning: unknown[198.51.100.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
    "Nov 21 10:01:09 mx1 postfix/smtpd[500]: NOQUEUE: reject: RCPT from unknown[192.0.2.77]: 550 5.1.1 <nobody@kept.example>: Recipient address rejected: User unknown in virtual mailbox table; from=<a@b.example> to=<nobody@kept.example> proto=ESMTP helo=<User>",
]


def test_lines_without_their_connect_line_split_per_client_and_connection():
    from analyzer.judgements.classify import classify_sessions
    from analyzer.judgements.customers import CUSTOMER_IP

    sessions = build_sessions(parse_texts(EXCERPT))
    classified = classify_sessions(sessions.assign(**{CUSTOMER_IP: False}))
    got = classified[[s.CLIENT_IP, s.CLASS, s.REASON, s.AUTH_FAILURES, s.CUT]]
    assert got.values.tolist() == [
        ["203.0.113.5", s.SPAM_PROBE, s.R_RELAY_PROBE, 0, "both"],
        ["198.51.100.9", s.SPAM_PROBE, s.R_AUTH_FAILURE, 2, "start"],
        ["198.51.100.9", s.SPAM_PROBE, s.R_AUTH_FAILURE, 1, "both"],
        ["192.0.2.77", s.SPAM_PROBE, s.R_DICTIONARY, 0, "both"],
    ]


CONTENT_SPAM = [
    "Nov 21 11:00:00 mx1 postfix/smtpd[600]: connect from unknown[203.0.113.9]",
    "Nov 21 11:00:01 mx1 postfix/smtpd[600]: 4104E3D: client=unknown[203.0.113.9]",
    "Nov 21 11:00:03 mx1 postfix/cleanup[601]: 4104E3D: milter-reject: END-OF-MESSAGE from unknown[203.0.113.9]: 5.7.1 Blocked by SpamAssassin; from=<x@y.example> to=<bob@kept.example> proto=ESMTP helo=<y.example>",
    "Nov 21 11:00:03 mx1 postfix/smtpd[600]: disconnect from unknown[203.0.113.9] ehlo=1 mail=1 rcpt=1 data=0/1 quit=1 commands=4/5",
]


def test_a_message_refused_for_its_content_is_a_content_probe():
    from analyzer.judgements.classify import classify_sessions
    from analyzer.judgements.customers import CUSTOMER_IP

    sessions = build_sessions(parse_texts(CONTENT_SPAM), frozenset({"kept.example"}))
    row = classify_sessions(sessions.assign(**{CUSTOMER_IP: False})).iloc[0]
    assert (row[s.CLASS], row[s.REASON], row[s.MESSAGES], row[s.CONTENT_REJECTS]) == (
        s.SPAM_PROBE,
        s.R_CONTENT,
        0,
        1,
    )


def test_a_before_queue_filter_refusal_takes_back_the_message():
    from analyzer.judgements.classify import classify_sessions
    from analyzer.judgements.customers import CUSTOMER_IP

    lines = [
        "Nov 21 11:00:00 mx1 postfix/smtpd[700]: connect from unknown[203.0.113.10]",
        "Nov 21 11:00:01 mx1 postfix/smtpd[700]: NOQUEUE: client=unknown[203.0.113.10]",
        "Nov 21 11:00:03 mx1 postfix/smtpd[700]: proxy-reject: END-OF-MESSAGE: 554 5.7.1 Spam score too high; from=<x@y.example> to=<bob@kept.example> proto=ESMTP helo=<y.example>",
        "Nov 21 11:00:03 mx1 postfix/smtpd[700]: disconnect from unknown[203.0.113.10] ehlo=1 mail=1 rcpt=1 data=0/1 quit=1 commands=4/5",
    ]
    sessions = build_sessions(parse_texts(lines), frozenset({"kept.example"}))
    row = classify_sessions(sessions.assign(**{CUSTOMER_IP: False})).iloc[0]
    assert (row[s.CLASS], row[s.REASON], row[s.MESSAGES], row[s.CONTENT_REJECTS]) == (
        s.SPAM_PROBE,
        s.R_CONTENT,
        0,
        1,
    )


def test_a_milter_at_rcpt_or_a_temporary_refusal_is_not_content():
    events = parse_texts(
        [
            "Nov 21 11:00:01 mx1 postfix/smtpd[700]: NOQUEUE: milter-reject: RCPT from unknown[203.0.113.10]: 550 5.7.1 Command rejected; from=<x@y.example> to=<bob@kept.example> proto=ESMTP helo=<y.example>",
            "Nov 21 11:00:03 mx1 postfix/cleanup[701]: 4104E3D: milter-reject: END-OF-MESSAGE from unknown[203.0.113.10]: 4.7.1 Try again later (greylisted); from=<x@y.example> to=<bob@kept.example> proto=ESMTP helo=<y.example>",
            "Nov 21 11:00:05 mx1 postfix/cleanup[701]: 4104E3E: milter-reject: END-OF-MESSAGE from unknown[203.0.113.10]: 5.7.1 Blocked by SpamAssassin; from=<x@y.example> to=<bob@kept.example> proto=ESMTP helo=<y.example>",
        ]
    )
    assert events.sort_values(s.SEQ)[s.REJECT_KIND].tolist() == [
        s.RK_POLICY,
        s.RK_POLICY,
        s.RK_CONTENT,
    ]


@pytest.mark.parametrize(
    "stamp, compact",
    [
        ("2003-11-21 09:15:02", "20031121T091502"),  # whole seconds: no fraction
        ("2003-11-21 09:15:02.000123", "20031121T091502.000123"),
        ("2024-02-29 23:59:59.999999", "20240229T235959.999999"),  # leap day, last micro
        ("1969-12-31 23:59:59.5", "19691231T235959.500000"),  # before the epoch
        ("0999-01-02 00:00:00", "09990102T000000"),  # a three-digit year, padded
        (None, "NaT"),
    ],
)
def test_session_ids_carry_compact_utc_stamps(stamp: str | None, compact: str) -> None:
    times = pd.Series(pd.to_datetime([stamp, "2003-11-21"], utc=True, format="ISO8601"))
    assert list(_compact_stamps(times)) == [compact, "20031121T000000"]
    # numpy's ISO text without its separators, trimmed of a zero fraction: the same
    micros = times.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    iso = str(np.datetime_as_string(micros[0], unit="us")).replace("-", "").replace(":", "")
    assert compact == (iso.removesuffix(".000000") if stamp else "NaT")


def test_an_accepted_message_line_opens_the_message_it_is_the_first_line_of() -> None:
    messages = pd.DataFrame(
        {
            s.SERVER: ["mx1", "mx1", "mx2", None],
            s.QUEUE_ID: ["4A1B2", "4A1B2", "77C0D", "9F00E"],
            "first_seq": [10, 40, 20, 30],
        }
    )
    clients = pd.DataFrame(
        {
            s.SERVER: ["mx1", "mx1", "mx1", None, "mx1"],
            s.QUEUE_ID: ["4A1B2", "4A1B2", "77C0D", "9F00E", "4A1B2"],
            # the second instance of a reused queue id; a line of another message (its
            # queue id differs); a null server as a merge joins it; a line no message starts
            s.SEQ: [40, 10, 20, 30, 11],
        }
    )
    assert _opened_messages(clients, messages).tolist() == [1, 0, -1, 3, -1]
