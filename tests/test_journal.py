"""Logs modern hosts keep: journald's JSON export, RFC 5424, journalctl's short formats.

The sample's Postfix logs are converted here into each format (a JSON export carries absolute
times: ``__REALTIME_TIMESTAMP`` comes from the parsed stamps) and read with no format flag:
the sessions must be those of the syslog files, every column.
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from analyzer import schema as s
from analyzer.jobs import read_inputs
from analyzer.reading import journal
from analyzer.reading.parse import StampOptions, detect_formats, parse_lines
from analyzer.reading.patterns._fragments import SYSLOG_HEADER
from analyzer.reading.sources import expand_logs, read_logs
from analyzer.settings.config import Settings
from tests.conftest import SAMPLES, lines_frame, parse_texts
from tests.test_ingest import assert_same, parsed

POSTFIX = (SAMPLES / "postfix" / "mail.log.1", SAMPLES / "postfix" / "mail.log")
HEADER = re.compile(SYSLOG_HEADER)


def entries(settings: Settings, path: Path) -> list[tuple[str, dict | None]]:
    """Each line of a syslog file with its fields (None for a line without a usable header
    or time): ``ts`` (UTC), ``server``, ``program``, ``pid``, ``message``."""
    lines, sources = read_inputs([path], settings)
    events = parse_lines(
        lines, sources, StampOptions(settings.timezone, settings.year), keep_all_text=True
    ).sort_values(s.SEQ)
    out = []
    for raw, ts, server, program, pid in zip(
        events[s.RAW],
        events[s.TS],
        events[s.SERVER],
        events[s.PROGRAM],
        events[s.PID],
        strict=True,
    ):
        found = HEADER.match(raw) if pd.notna(server) and pd.notna(ts) else None
        if found is None:
            out.append((raw, None))
            continue
        fields = {"ts": ts, "server": server, "program": program, "message": raw[found.end() :]}
        fields["pid"] = None if pd.isna(pid) else str(pid)
        out.append((raw, fields))
    return out


def as_json(settings: Settings, path: Path, target: Path, start: int = 0) -> list[str]:
    """``journalctl -o json`` lines of a syslog file (lines without a header kept as text)."""
    lines = []
    for number, (raw, fields) in enumerate(entries(settings, path), start):
        if fields is None:
            lines.append(raw)
            continue
        entry = {
            "__CURSOR": f"s=0123;i={number:x}",
            "__REALTIME_TIMESTAMP": journal.realtime(fields["ts"].to_pydatetime()),
            "_HOSTNAME": fields["server"],
            "SYSLOG_IDENTIFIER": fields["program"],
            "MESSAGE": fields["message"],
        }
        if fields["pid"] is not None:
            entry["_PID"] = fields["pid"]
        lines.append(json.dumps(entry, separators=(",", ":")))
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def as_rfc5424(settings: Settings, path: Path, target: Path) -> None:
    """An RFC 5424 copy of a syslog file: some lines with structured data and a BOM."""
    lines = []
    for number, (raw, fields) in enumerate(entries(settings, path)):
        if fields is None:
            lines.append(raw)
            continue
        stamp = fields["ts"].tz_convert(settings.timezone).isoformat(timespec="microseconds")
        data = f'[meta@32473 seq="{number}" note="a \\"quoted\\" \\]"]' if number % 7 else "-"
        bom = "\ufeff" if number % 5 == 0 else ""
        lines.append(
            f"<22>1 {stamp} {fields['server']} {fields['program']} {fields['pid'] or '-'} "
            f"- {data} {bom}{fields['message']}"
        )
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("convert", [as_json, as_rfc5424], ids=["journal-json", "rfc5424"])
def test_converted_sample_gives_the_same_sessions(
    demo_settings: Settings, tmp_path: Path, convert
) -> None:
    copies = []
    for path in POSTFIX:
        copy = tmp_path / path.name
        convert(demo_settings, path, copy)
        copies.append(copy)
    _, sources = read_inputs(copies, demo_settings)
    assert list(sources["format"]) == ["syslog", "syslog"]
    got = parsed(demo_settings, *copies)
    assert len(got.sessions) > 100
    assert_same(got, parsed(demo_settings, *POSTFIX))


def read_text(tmp_path: Path, text: str, name: str = "log") -> pd.DataFrame:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    lines, _ = read_logs([path])
    return lines


def test_a_message_given_as_bytes_with_bad_utf8_is_decoded(tmp_path: Path) -> None:
    good = {
        "__REALTIME_TIMESTAMP": "1069424102123456",
        "_HOSTNAME": "mail1",
        "SYSLOG_IDENTIFIER": "postfix/smtpd",
        "_PID": "123",
        "MESSAGE": "connect from a.example[192.0.2.1]",
    }
    binary = dict(good, MESSAGE=list(b"connect from caf\xe9.example[192.0.2.2]"))
    empty = dict(good, MESSAGE=None, SYSLOG_PID="77")
    text = "\n".join(json.dumps(e, separators=(",", ":")) for e in (good, binary, empty))
    lines = read_text(tmp_path, text + '\n{"broken\n')
    raw = list(lines[s.RAW])
    assert raw[0] == (
        "2003-11-21T14:15:02.123456+00:00 mail1 postfix/smtpd[123]: "
        "connect from a.example[192.0.2.1]"
    )
    assert raw[1].endswith("postfix/smtpd[123]: connect from caf\ufffd.example[192.0.2.2]")
    assert raw[2] == "2003-11-21T14:15:02.123456+00:00 mail1 postfix/smtpd[77]: "
    assert raw[3] == '{"broken'  # kept, counted as malformed
    events = parse_lines(lines, _sources(), StampOptions("UTC", 2003)).sort_values(s.SEQ)
    assert list(events[s.EVENT])[:2] == ["connect", "connect"]
    assert list(events[s.CLIENT_HOST])[:2] == ["a.example", "caf\ufffd.example"]
    assert list(events[s.EVENT])[3] == s.EV_MALFORMED


def _sources() -> pd.DataFrame:
    from tests.conftest import sources_frame

    return sources_frame()


def test_journalctl_short_iso_and_short_precise(tmp_path: Path) -> None:
    texts = [
        "2003-11-21T09:15:02-0500 mail1 postfix/smtpd[123]: connect from a.example[192.0.2.1]",
        "2003-11-21T09:15:03.250000-0500 mail1 postfix/smtpd[123]: disconnect from "
        "a.example[192.0.2.1] ehlo=1 quit=1 commands=2",
        "Nov 21 09:15:02.123456 mail1 postfix/smtpd[124]: connect from b.example[192.0.2.2]",
    ]
    events = parse_texts(texts, timezone="America/New_York").sort_values(s.SEQ)
    assert list(events[s.EVENT]) == ["connect", "disconnect", "connect"]
    assert [t.isoformat() for t in events[s.TS]] == [
        "2003-11-21T14:15:02+00:00",
        "2003-11-21T14:15:03.250000+00:00",
        "2003-11-21T14:15:02.123456+00:00",
    ]
    # and read from files, the format told by their text
    for number, text in enumerate(texts):
        lines = read_text(tmp_path, text + "\n", f"short{number}.log")
        assert detect_formats(lines) == {0: "syslog"}
        assert list(lines[s.RAW]) == [text]


def test_a_one_digit_day_after_one_space(tmp_path: Path) -> None:
    events = parse_texts(
        [
            "Jul 2 12:24:48 mail1 postfix/smtpd[123]: connect from a.example[192.0.2.1]",
            "Jul  2 12:24:49 mail1 postfix/smtpd[123]: connect from a.example[192.0.2.1]",
            "Jul 2 12:24:50.5 mail1 postfix/smtpd[123]: connect from a.example[192.0.2.1]",
            "Jul 2 12:24:51 mail1 -- MARK --",
        ],
        timezone="America/New_York",
    ).sort_values(s.SEQ)
    assert list(events[s.EVENT]) == ["connect", "connect", "connect", s.EV_IGNORED]
    assert [t.isoformat() for t in events[s.TS][:3]] == [
        "2003-07-02T16:24:48+00:00",
        "2003-07-02T16:24:49+00:00",
        "2003-07-02T16:24:50.500000+00:00",
    ]


EXIM_LINE = "2003-11-21 09:15:02 1aBcDe-000123-AB <= a@example.org H=mx.example [192.0.2.1]"
SYSLOG_LINE = "2003-11-21T09:15:02-05:00 mail1 postfix/smtpd[1]: connect from a[192.0.2.1]"
JSON_LINE = json.dumps(
    {
        "__REALTIME_TIMESTAMP": "1069424102000000",
        "_HOSTNAME": "mail1",
        "SYSLOG_IDENTIFIER": "postfix/smtpd",
        "_PID": "1",
        "MESSAGE": "connect from a[192.0.2.1]",
    }
)
RFC5424_LINE = "<22>1 2003-11-21T09:15:02-05:00 mail1 postfix/smtpd 1 - - connect from a[192.0.2.1]"
BANNER = "\n# exported by the night shift\n=== mail server log ===\n-- Logs begin at ... --\n"


@pytest.mark.parametrize(
    ("line", "fmt", "kind"),
    [
        (EXIM_LINE, "exim", None),
        (SYSLOG_LINE, "syslog", None),
        (JSON_LINE, "syslog", journal.JOURNAL),
        (RFC5424_LINE, "syslog", journal.RFC5424),
    ],
)
def test_a_file_starting_with_a_blank_line_or_a_banner(
    tmp_path: Path, line: str, fmt: str, kind: str | None
) -> None:
    text = BANNER + "\n".join([line] * 3) + "\n"
    raw = pa.array(text.splitlines(), pa.large_string())
    assert journal.text_format(raw) == kind
    lines = read_text(tmp_path, text)
    assert detect_formats(lines) == {0: fmt}
    assert list(lines[s.RAW])[:4] == BANNER.splitlines()  # kept (malformed), never dropped
    if fmt == "syslog":
        assert list(lines[s.RAW])[4] == (
            SYSLOG_LINE
            if kind != journal.JOURNAL
            else SYSLOG_LINE.replace("09:15:02-05:00", "14:15:02.000000+00:00")
        )


def test_standard_input_as_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO((JSON_LINE + "\n").encode())))
    )
    paths = expand_logs(["-"])
    lines, sources = read_logs(paths)
    assert list(lines[s.RAW]) == [SYSLOG_LINE.replace("09:15:02-05:00", "14:15:02.000000+00:00")]
    assert list(sources["path"]) == ["-"]


def test_many_journal_lines_with_some_broken_ones_keep_their_places() -> None:
    good = json.dumps(
        {
            "__REALTIME_TIMESTAMP": "1069424102000000",
            "_HOSTNAME": "h",
            "SYSLOG_IDENTIFIER": "x",
            "MESSAGE": "m",
            "__CURSOR": "c",
        },
        separators=(",", ":"),
    )
    texts = [good] * 5000
    for at in (3, 999, 4000):
        texts[at] = '{"MESSAGE":"cut'  # not an object: kept
    texts[2000] = '{"MESSAGE":5,"__REALTIME_TIMESTAMP":"1069424102000000"}'  # a number
    out, cursor = journal.journal_lines(pa.array(texts, pa.large_string()))
    got = out.to_pylist()
    assert cursor == "c"
    assert [got[i] for i in (3, 999, 4000)] == ['{"MESSAGE":"cut'] * 3
    assert got[2000] == "2003-11-21T14:15:02.000000+00:00 localhost unknown: 5"
    assert got[0] == "2003-11-21T14:15:02.000000+00:00 h x: m"
    assert len(got) == 5000


def test_lines_frame_helper_still_reads_plain_text() -> None:
    assert detect_formats(lines_frame([SYSLOG_LINE])) == {0: "syslog"}
