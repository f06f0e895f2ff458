"""Property tests (hypothesis) for the line parsers: no input crashes them, every line is
accounted for exactly once, fields round-trip on generated valid lines, and garbage around
good lines never changes the sessions built from the good ones."""

from __future__ import annotations

import ipaddress

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer import schema as s
from analyzer.outputs.exports import to_iso
from analyzer.sessions.build import build_sessions
from tests.conftest import parse_texts

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KNOWN_EVENTS = {
    value for name, value in vars(s).items() if name.startswith("EV_") and isinstance(value, str)
}
# One line of a log: anything but a line break (the reader splits on those).
line_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
    max_size=300,
)
prefixes = st.sampled_from(
    [
        "",
        "Nov 21 09:15:02 mail1 postfix/smtpd[123]: ",
        "2003-11-21T09:15:02.123456-05:00 mail2 postfix/submission/smtpd[9]: ",
        "Nov 21 09:15:02 mail1 postfix/qmgr[7]: 3F2A41C0B2: ",
        "Nov 21 09:15:02 mail1 postfix/postscreen[8]: ",
        "Nov 21 09:15:02 mx3 exim[100]: ",
        "Nov 31 25:61:99 mail1 postfix/smtpd[x]: ",
    ]
)
attacker_line = st.builds(lambda p, t: p + t, prefixes, line_text)


@FUZZ
@given(st.lists(attacker_line, min_size=1, max_size=20))
def test_any_syslog_text_parses_one_row_per_line(texts):
    events = parse_texts(texts)
    assert sorted(events[s.LINE_NO]) == list(range(1, len(texts) + 1))
    assert set(events[s.EVENT].dropna()) <= KNOWN_EVENTS
    assert events[s.EVENT].notna().all()


# Any stamp the header patterns admit, forged or not: years 0-9999 with any offset or none,
# impossible days and times; read in zones east and west of UTC.
digits = st.integers(0, 99).map("{:02d}".format)
iso_stamp = st.builds(
    lambda year, mo, d, h, mi, sec, frac, zone: f"{year:04d}-{mo}-{d}T{h}:{mi}:{sec}{frac}{zone}",
    st.integers(0, 9999),
    digits,
    digits,
    digits,
    digits,
    digits,
    st.sampled_from(["", ".5", ".123456", ".000000001"]),
    st.sampled_from(["", "Z", "+00:00", "-05:00", "+14:00", "-12:00", "+0530", "-99:99"]),
)
classic_stamp = st.builds(
    lambda mon, d, h, mi, sec: f"{mon} {d} {h}:{mi}:{sec}",
    st.sampled_from(["Jan", "Feb", "Mar", "Nov", "Dec", "Xyz"]),
    st.one_of(digits, st.integers(1, 9).map(" {}".format)),
    digits,
    digits,
    digits,
)
stamped_line = st.builds(
    lambda stamp, rest: f"{stamp} mail1 postfix/smtpd[7]: {rest}",
    st.one_of(iso_stamp, classic_stamp),
    st.sampled_from(
        [
            "connect from a.example[100.64.0.1]",
            "disconnect from a.example[100.64.0.1] ehlo=1 mail=1 quit=1 commands=3",
            "lost connection after CONNECT from unknown[100.64.0.2]",
        ]
    ),
)


@FUZZ
@given(
    st.lists(stamped_line, min_size=1, max_size=12),
    st.sampled_from(["UTC", "America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago"]),
    st.sampled_from([None, 1970, 2003, 2100]),
)
def test_any_stamp_in_any_zone_parses_and_its_sessions_show_in_local_time(texts, zone, year):
    # a time no zone can show once made export and ingest stop with a traceback
    events = parse_texts(texts, year=year, timezone=zone)
    assert sorted(events[s.LINE_NO]) == list(range(1, len(texts) + 1))
    dated = events[s.EVENT] != s.EV_MALFORMED
    assert events.loc[dated, s.TS].notna().all()
    sessions = build_sessions(events)
    assert to_iso(sessions[s.START], zone).notna().all()


exim_prefixes = st.sampled_from(
    [
        "",
        "2003-11-21 09:15:02 ",
        "2003-11-21 09:15:02 [1234] ",
        "2003-11-21 09:15:02 1AOAbC-0001xy-AB ",
    ]
)


@FUZZ
@given(st.lists(st.builds(lambda p, t: p + t, exim_prefixes, line_text), min_size=1, max_size=20))
def test_any_exim_text_parses_one_row_per_line(texts):
    events = parse_texts(texts, fmt="exim")
    assert sorted(events[s.LINE_NO]) == list(range(1, len(texts) + 1))
    assert events[s.EVENT].notna().all()


ipv4 = st.ip_addresses(v=4).map(str)
ip_any = st.one_of(ipv4, st.ip_addresses(v=6).map(lambda a: str(ipaddress.IPv6Address(a))))
label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
hostname = st.one_of(st.just("unknown"), st.builds(lambda a, b: f"{a}.{b}.example", label, label))
local_part = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=16)
address = st.builds(lambda a, b: f"{a}@{b}.example", local_part, label)
# Clients choose their HELO freely: any printable text without line breaks.
helo = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)


@FUZZ
@given(ip=ip_any, host=hostname, sender=address, rcpt=address, helo=helo, pid=st.integers(1, 99999))
def test_reject_fields_round_trip(ip, host, sender, rcpt, helo, pid):
    line = (
        f"Nov 21 09:15:02 mail1 postfix/smtpd[{pid}]: NOQUEUE: reject: RCPT from {host}[{ip}]: "
        f"554 5.7.1 <{rcpt}>: Relay access denied; from=<{sender}> to=<{rcpt}> proto=ESMTP "
        f"helo=<{helo}>"
    )
    row = parse_texts([line]).iloc[0]
    assert row[s.RULE] == "smtpd_noqueue_reject"
    assert (row[s.CLIENT_HOST], row[s.CLIENT_IP]) == (host, ip)
    assert (row[s.SENDER], row[s.RECIPIENT], row[s.HELO]) == (sender, rcpt, helo)
    assert int(row[s.PID]) == pid and row[s.REJECT_KIND] == s.RK_RELAY


@FUZZ
@given(ip=ip_any, host=hostname, user=address, method=st.sampled_from(["PLAIN", "LOGIN"]))
def test_sasl_login_round_trips(ip, host, user, method):
    line = (
        f"Nov 21 09:15:02 mail1 postfix/submission/smtpd[77]: 3F2A41C0B2: client={host}[{ip}], "
        f"sasl_method={method}, sasl_username={user}"
    )
    row = parse_texts([line]).iloc[0]
    assert (row[s.CLIENT_IP], row[s.SASL_METHOD], row[s.SASL_USERNAME]) == (ip, method, user)
    assert row[s.QUEUE_ID] == "3F2A41C0B2"


GOOD = [
    "Nov 21 09:00:00 mail1 postfix/smtpd[100]: connect from office.acme.example[198.18.0.10]",
    "Nov 21 09:00:01 mail1 postfix/smtpd[100]: NOQUEUE: reject: RCPT from "
    "office.acme.example[198.18.0.10]: 554 5.7.1 <x@aol.com>: Relay access denied; "
    "from=<a@acme.example> to=<x@aol.com> proto=ESMTP helo=<pc1>",
    "Nov 21 09:00:02 mail1 postfix/smtpd[100]: disconnect from office.acme.example[198.18.0.10]",
    "Nov 21 09:00:03 mail1 postfix/smtpd[100]: connect from unknown[100.64.1.1]",
    "Nov 21 09:00:04 mail1 postfix/smtpd[100]: warning: unknown[100.64.1.1]: SASL LOGIN "
    "authentication failed: authentication failure",
    "Nov 21 09:00:05 mail1 postfix/smtpd[100]: lost connection after AUTH from unknown[100.64.1.1]",
    "Nov 21 09:00:05 mail1 postfix/smtpd[100]: disconnect from unknown[100.64.1.1]",
]
garbage = st.one_of(
    line_text,
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace").replace("\n", " ")),
    st.just("\x00" * 50),
    st.just("A" * 100_000),
    st.builds(lambda t: "Nov 21 09:00:01 mail1 kernel: " + t, line_text),
)


def _sessions(texts: list[str]) -> pd.DataFrame:
    table = build_sessions(parse_texts(texts))
    return table[[s.START, s.CLIENT_IP, s.AUTH_FAILURES, s.RELAY_DENIED]].reset_index(drop=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(GOOD)), garbage), max_size=6))
def test_garbage_never_changes_the_good_sessions(insertions):
    texts = list(GOOD)
    for position, junk in sorted(insertions, reverse=True):
        texts.insert(position, junk)
    pd.testing.assert_frame_equal(_sessions(texts), _sessions(GOOD))
