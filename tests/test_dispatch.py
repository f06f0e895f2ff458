"""Dispatch (analyzer.reading.dispatch): trying each line only on the rules whose literal
start its message fits must give what trying every rule gives, row for row, on any input:
every rule's examples, sample_logs/, the real-log corpus, and fuzzed lines (byte flips,
cuts, invalid UTF-8) of every header shape."""

from __future__ import annotations

import re
import re._parser as sre
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analyzer import schema as s
from analyzer.reading import dispatch, headers, parse
from analyzer.reading.dispatch import (
    ALL_RULES,
    MESSAGE_IDS,
    READ_SKIPS,
    SHAPE_EXIM,
    SHAPE_EXIM_SYSLOG,
    SHAPE_NO_PID,
    SHAPE_PID,
    SKIPS,
    extract_groups,
    rule_prefixes,
    whole_line_pattern,
)
from analyzer.reading.parse import StampOptions, match_rules, parse_lines
from analyzer.reading.patterns import Rule
from analyzer.reading.patterns._fragments import (
    EXIM_HEADER,
    SYSLOG_HEADER_CLASSIC,
    SYSLOG_HEADER_ISO,
    exim_host_readings,
)
from analyzer.reading.sources import label_sources, read_logs
from tests.conftest import PROJECT, SAMPLES

FUZZ = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
REAL_LOGS = PROJECT.parent / "shared" / "real-logs"
MAINLOG = "2003-11-21 09:15:02 [100] "
MAINLOG_ZONE = "2003-11-21 09:15:02.123 -0500 "
EXIM_SYSLOG = "Nov 21 09:15:02 mx3 exim[100]: "


def postfix_header(daemon: str) -> str:
    return f"Nov 21 09:15:02 mail1 postfix/{daemon}[100]: "


def whole_lines(rule: Rule) -> list[tuple[str, str, str]]:
    """(line, daemon, shape) for each example of a rule, in each header it can come in."""
    daemon = rule.daemons[0]
    if daemon != "exim":
        return [(postfix_header(daemon) + e, daemon, SHAPE_PID) for e in rule.examples]
    shaped = [(MAINLOG, SHAPE_EXIM), (MAINLOG_ZONE, SHAPE_EXIM), (EXIM_SYSLOG, SHAPE_EXIM_SYSLOG)]
    return [(head + e, daemon, shape) for e in rule.examples for head, shape in shaped]


def binary_lines(texts: list[bytes]) -> pa.Array:
    """Lines as the readers make them: bytes viewed as strings, never checked as UTF-8."""
    return pa.array(texts, pa.large_binary()).view(pa.large_string())


def both(lines: pa.Array, daemons: list[str | None], shapes: list[str], rules=ALL_RULES):
    """match_rules with dispatch and without (a table each, or the exception each raised)."""
    daemon = pd.Series(daemons, dtype=object)
    shape = np.array(shapes, dtype=object)
    outcomes = []
    for how in (True, False):
        try:
            outcomes.append(match_rules(lines, daemon, shape, rules, dispatch=how))
        except Exception as exc:  # the plain loop's own failures must be the same
            outcomes.append(type(exc))
    return outcomes


def assert_same(lines: pa.Array, daemons: list, shapes: list, rules=ALL_RULES) -> pa.Table:
    dispatched, plain = both(lines, daemons, shapes, rules)
    if isinstance(plain, pa.Table):
        assert isinstance(dispatched, pa.Table), dispatched
        assert dispatched.equals(plain), _difference(dispatched, plain, lines)
    else:
        assert dispatched == plain
    return dispatched


def _difference(dispatched: pa.Table, plain: pa.Table, lines: pa.Array) -> str:
    a = dispatched.select(["_row", s.RULE]).to_pandas()
    b = plain.select(["_row", s.RULE]).to_pandas()
    both_rules = a.merge(b, on="_row", how="outer", suffixes=("_dispatch", "_plain"))
    differ = both_rules[both_rules[s.RULE + "_dispatch"] != both_rules[s.RULE + "_plain"]]
    raw = lines.cast(pa.large_binary()).to_pylist()
    return "\n".join(f"{r}: {raw[int(r._row)]!r}" for r in differ.head(5).itertuples())


# --- reading a rule's literal start -----------------------------------------------------


def test_prefixes_are_read_from_the_regex():
    postfix_id, exim_id = (kind.marker for kind in MESSAGE_IDS)
    by_name = {rule.name: rule_prefixes(rule.regex) for rule in ALL_RULES}
    assert by_name["smtpd_connect"] == {("", b"connect from ")}
    assert by_name["qmgr_removed"] == {(postfix_id, b": removed")}
    assert by_name["smtpd_client"] == {("", b"NOQUEUE: client="), (postfix_id, b": client=")}
    assert by_name["exim_delivery"] == {(exim_id, b" => "), (exim_id, b" -> ")}
    assert by_name["exim_info"] is None  # starts with alternatives that hold classes
    assert by_name["exim_auth_failed"] is None  # starts with a class ("\S+ authenticator")


@pytest.mark.parametrize(
    "regex",
    [
        r"^(?i)connect from (?P<client_host>\S+)$",  # case folded: no literal is certain
        r"^(?i:connect) from .*$",
        r"^\Qconnect\E from .*$",  # RE2 syntax Python does not read
        r"^.*connect from .*$",
        r"^(?P<queue_id>[0-9A-F]+): removed$",  # an id written otherwise: not recognised
        r"^(?:|connect from )x$",
        r"^[[:alpha:]]+ from .*$",  # a class in RE2, a "nested set" in Python
    ],
)
def test_a_start_that_cannot_be_read_is_tried_everywhere(regex):
    prefixes = rule_prefixes(regex)
    assert prefixes is None or all(not marker and literal for marker, literal in prefixes)
    if regex.startswith("^(?:|"):
        assert prefixes == {("", b"x"), ("", b"connect from x")}
    else:
        assert prefixes is None


def characters_of(items) -> set[str]:
    """Every character a parsed regex may consume (only literals, sets and ranges)."""
    chars: set[str] = set()
    for op, av in items:
        if op is sre.LITERAL:
            chars.add(chr(av))
        elif op is sre.RANGE:
            chars.update(map(chr, range(av[0], av[1] + 1)))
        elif op is sre.IN:
            chars |= characters_of(av)
        elif op is sre.BRANCH:
            for branch in av[1]:
                chars |= characters_of(branch)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            chars |= characters_of(av[2])
        elif op is sre.SUBPATTERN:
            chars |= characters_of(av[3])
        else:
            raise AssertionError(f"an id regex with {op}: its characters are not known")
    return chars


def test_ids_end_at_their_separator():
    # the first separator of a message ends an id: no id may hold it
    for kind in MESSAGE_IDS:
        assert kind.sep not in characters_of(sre.parse(kind.value))


def test_the_header_skips_read_are_those_the_rules_use():
    for shape in (SHAPE_PID, SHAPE_EXIM, SHAPE_EXIM_SYSLOG):
        assert READ_SKIPS[shape] == SKIPS[shape]


# --- every rule's examples ----------------------------------------------------------------


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_rule_examples_dispatch_to_that_rule(rule):
    cases = whole_lines(rule)
    lines = binary_lines([line.encode() for line, _, _ in cases])
    daemons, shapes = [d for _, d, _ in cases], [sh for _, _, sh in cases]
    buffer = dispatch._Buffer(lines)
    for shape in set(shapes):
        rows = np.flatnonzero(np.array(shapes) == shape)
        keys = dispatch._Keys(buffer, rows, shape)
        assert keys.candidates(rule_prefixes(rule.regex)).all(), shape
        assert not keys.everywhere.any()  # read, not merely tried everywhere
    matched = assert_same(lines, daemons, shapes)
    assert sorted(matched.column("_row").to_pylist()) == list(range(len(cases)))
    assert set(matched.column(s.RULE).to_pylist()) == {rule.name}


def test_an_unreadable_rule_keeps_its_place_in_the_order():
    first = Rule("config_everything", ("smtpd", "exim"), s.EV_INFO, r"^(?i:(?P<detail>.*))$")
    texts = [
        postfix_header("smtpd") + "connect from a[192.0.2.1]",
        MAINLOG + "Start queue run: pid=1",
    ]
    lines = binary_lines([t.encode() for t in texts])
    matched = assert_same(lines, ["smtpd", "exim"], [SHAPE_PID, SHAPE_EXIM], (first, *ALL_RULES))
    assert matched.column(s.RULE).to_pylist() == ["config_everything"] * 2
    # appended (as the config's rules are), it takes what no built-in rule reads
    last = Rule("config_last", ("smtpd",), s.EV_INFO, r"^(?i:CONNECT FROM) (?P<detail>.*)$")
    texts = [postfix_header("smtpd") + "Connect From x", postfix_header("smtpd") + "connect from x"]
    lines = binary_lines([t.encode() for t in texts])
    matched = assert_same(lines, ["smtpd"] * 2, [SHAPE_PID] * 2, (*ALL_RULES, last))
    assert matched.column(s.RULE).to_pylist() == ["config_last"] * 2


def test_a_regex_re2_refuses_fails_as_in_the_plain_loop():
    bad = Rule("config_bad", ("smtpd",), s.EV_INFO, r"^connect from (?=x)$")  # look-ahead
    lines = binary_lines([(postfix_header("smtpd") + "hello").encode()])
    dispatched, plain = both(lines, ["smtpd"], [SHAPE_PID], (*ALL_RULES, bad))
    assert dispatched == plain == pa.ArrowInvalid


# --- whole logs ------------------------------------------------------------------------------


def read_and_compare(paths: list[Path], monkeypatch) -> pd.DataFrame:
    """parse_lines with dispatch, checked against parse_lines with the plain loop."""
    lines, sources = read_logs(paths)
    sources = label_sources(sources, parse.detect_formats(lines), {}, None)
    dispatched = parse_lines(lines, sources, StampOptions())
    plain, calls = parse.match_rules, []

    def every_line(*args):
        calls.append(len(args[0]))
        return plain(*args, dispatch=False)

    with monkeypatch.context() as patch:
        patch.setattr(parse, "match_rules", every_line)
        reference = parse_lines(lines, sources, StampOptions())
    assert calls, "the plain loop ran"
    pd.testing.assert_frame_equal(dispatched, reference)
    return dispatched


def test_sample_logs_parse_the_same(monkeypatch):
    logs = [*SAMPLES.glob("postfix/mail.log*"), *SAMPLES.glob("exim/**/*log*")]
    events = read_and_compare(sorted(p for p in logs if p.is_file()), monkeypatch)
    assert len(events) > 40_000
    assert events[s.RULE].notna().mean() > 0.9
    assert events[s.RULE].nunique() > 40


@pytest.mark.skipif(not REAL_LOGS.is_dir(), reason=f"no real-log corpus at {REAL_LOGS}")
def test_real_logs_parse_the_same(monkeypatch):
    events = read_and_compare(sorted(REAL_LOGS.glob("*/*.log")), monkeypatch)
    assert len(events) > 5_000
    assert events[s.RULE].nunique() > 60


# --- fuzzed lines ---------------------------------------------------------------------------

BASES = [case for rule in ALL_RULES for case in whole_lines(rule)]
BASES += [
    (
        postfix_header("smtpd").replace("[100]", "") + "connect from a[1.2.3.4]",
        "smtpd",
        SHAPE_NO_PID,
    )
]
NOISE = [
    b"\xff",
    b"\xc3",
    b"\x80",
    b"\xed\xa0\x80",
    b"\t",
    b"  ",
    b"\x00",
    b"]",
    b"]: ",
    b"[",
    b" ",
    b":",
]
NOISE += [
    b"1AOAbC-0001xy-AB ",
    b"3F2A41C0B2: ",
    b"[1\\3] ",
    b"[42] ",
    b"+0100 ",
    b"2003-11-21 09:15:02 ",
]
edit = st.tuples(
    st.sampled_from(["flip", "cut", "insert"]), st.integers(0, 400), st.integers(0, 255)
)
mutated = st.tuples(
    st.sampled_from(range(len(BASES))),
    st.lists(st.tuples(edit, st.sampled_from(NOISE)), max_size=3),
    st.sampled_from([None, None, None, "smtpd", "exim", "qmgr", "postscreen"]),
    st.sampled_from([None, None, None, SHAPE_PID, SHAPE_NO_PID, SHAPE_EXIM, SHAPE_EXIM_SYSLOG]),
)


def mutate(line: bytes, edits) -> bytes:
    for (how, at, byte), noise in edits:
        at = at % (len(line) + 1)
        if how == "flip" and at < len(line):
            line = line[:at] + bytes([byte]) + line[at + 1 :]
        elif how == "cut":
            line = line[:at]
        else:
            line = line[:at] + noise + line[at:]
    return line


@FUZZ
@given(st.lists(mutated, min_size=1, max_size=40))
def test_fuzzed_lines_match_the_same(cases):
    texts, daemons, shapes = [], [], []
    for base, edits, daemon, shape in cases:
        line, base_daemon, base_shape = BASES[base]
        texts.append(mutate(line.encode(), edits))
        daemons.append(daemon or base_daemon)
        shapes.append(shape or base_shape)
    lines = binary_lines(texts)
    assert_same(lines, daemons, shapes)
    # and the header reading is sound: every place its skip may end is a start read
    buffer = dispatch._Buffer(lines)
    for shape in (SHAPE_PID, SHAPE_EXIM, SHAPE_EXIM_SYSLOG):
        rows = np.flatnonzero(np.array(shapes) == shape)
        keys = dispatch._Keys(buffer, rows, shape)
        for position, row in enumerate(rows):
            text = texts[row].decode("latin-1")
            ends = {p for p in range(len(text) + 1) if re.fullmatch(SKIPS[shape], text[:p])}
            read = {int(start[position]) - int(buffer.begin[row]) for start in keys.starts}
            assert keys.everywhere[position] or ends <= read, (texts[row], ends, read)


stamp_part = st.sampled_from(
    ["2003-11-21 ", "2003-11-2x ", "09:15:02 ", "09:15:02.123456 ", "9 ", ": ", "-0500 ", "+01000 "]
    + ["[100] ", "[1] ", "[1\\3] ", "[1/3] ", "[] ", "[1\\] ", "  ", "0" * 70 + " "]
)


@FUZZ
@given(
    st.lists(st.tuples(st.lists(stamp_part, max_size=6), st.sampled_from(BASES)), max_size=20),
    st.booleans(),
)
def test_exim_stamps_of_any_shape_match_the_same(cases, syslog):
    head = EXIM_SYSLOG if syslog else ""
    shape = SHAPE_EXIM_SYSLOG if syslog else SHAPE_EXIM
    texts = []
    for parts, (line, _, _) in cases:
        message = line.split(": ", 1)[-1] if line.startswith("Nov") else line
        message = message[len(MAINLOG) :] if line.startswith(MAINLOG) else message
        texts.append((head + "".join(parts) + message).encode())
    if texts:
        assert_same(binary_lines(texts), ["exim"] * len(texts), [shape] * len(texts))


@FUZZ
@given(
    st.lists(
        st.tuples(st.lists(stamp_part, max_size=6), st.sampled_from(BASES), st.sampled_from(NOISE)),
        max_size=20,
    )
)
@example([(["2003-11-21 ", "09:15:02 ", "[100] "], BASES[0], b"\xff")])
def test_exim_headers_are_cut_as_the_regex_extracts_them(cases):
    # Exim's usual header is cut at fixed places, any other extracted: the same struct
    texts = [b""]  # (an empty line, and a null, have no header)
    for parts, (line, _, _), noise in cases:
        message = line.split(": ", 1)[-1] if line.startswith("Nov") else line
        texts.append("".join(parts).encode() + noise + message.encode())
    lines = pa.array([*texts, None], pa.large_binary()).view(pa.large_string())
    assert headers.exim_headers(lines).equals(pc.extract_regex(lines, EXIM_HEADER))
    usual = binary_lines([MAINLOG.encode() + b"H=x", b"2003-11-21 09:15:02 [4294967296] \xff"])
    assert headers.exim_headers(usual).equals(pc.extract_regex(usual, EXIM_HEADER))


syslog_part = st.sampled_from(
    ["Nov 21 ", "Nov  7 ", "Jul 2 ", "nov 21 ", "2003-11-21T", "09:15:02", "09:15:02.123456"]
    + ["-05:00", "Z", " ", "  ", "mail1 ", "mail[1] ", "postfix/smtpd", "[100]", "[]", ": "]
)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.lists(syslog_part, max_size=7), st.sampled_from(BASES), st.sampled_from(NOISE)
        ),
        max_size=20,
    ),
    st.booleans(),
)
@example(
    [(["Nov  7 ", "09:15:02", " ", "mail1 ", "postfix/smtpd", "[100]", ": "], BASES[0], b"")], True
)
def test_syslog_headers_are_cut_as_the_regex_extracts_them(cases, classic):
    texts = [b"", postfix_header("smtpd").encode(), b"2003-11-21T09:15:02Z mail1 x[1]: \xff"]
    for parts, (line, _, _), noise in cases:
        message = line.split(": ", 1)[-1] if line.startswith("Nov") else line
        texts.append("".join(parts).encode() + noise + message.encode())
    lines = pa.array([*texts, None], pa.large_binary()).view(pa.large_string())
    pattern = SYSLOG_HEADER_CLASSIC if classic else SYSLOG_HEADER_ISO
    every = np.ones(len(lines), dtype=bool)
    assert headers.syslog_headers(lines, every, classic).equals(pc.extract_regex(lines, pattern))
    # a few rows of many: picked, cut or extracted, and spread back to their places
    many = pa.concat_arrays([lines] + [binary_lines([b"x"] * 20 * len(lines))])
    rows = np.zeros(len(many), dtype=bool)
    rows[: len(lines)] = True
    found = headers.syslog_headers(many, rows, classic).slice(0, len(lines))
    assert found.equals(pc.extract_regex(lines, pattern))


# --- cutting frequent messages by their separators ------------------------------------------

# Each cut rule's message with holes, filled with usual values or text rich in separators.
CUT_MESSAGES = {
    "delivery": "{q}: to=<{a}>, {o}relay={h}, delay={n}, delays={s}, dsn={d}, status={w} ({r})",
    "smtpd_connect": "connect from {h}[{i}]{e}",
    "smtpd_disconnect": "disconnect from {h}[{i}]{e}",
    "smtpd_client": "{q}: client={h}[{i}]{e}",
    "cleanup_message_id": "{q}: {o}message-id={m}",
    "qmgr_queued": "{q}: from=<{a}>, size={k}, nrcpt={k} (queue active){e}",
    "qmgr_removed": "{q}: removed{e}",
    "exim_connection_open": "SMTP connection from [{x}]:{k} I=[{x}]:{k}{t}",
}
NOISE_TEXT = st.one_of(
    st.text("ab@.0123456789:<>,;()[]= -_\\\"'\xe9", max_size=14),
    st.binary(max_size=4).map(lambda b: b.decode("latin-1")),
)


def hole(*usual: str):
    """Mostly a usual value (the first most of all), sometimes noise."""
    pick = {0: NOISE_TEXT, 1: st.sampled_from(usual)}
    return st.integers(0, 9).flatmap(lambda k: pick.get(k, st.just(usual[0])))


HOLES = {
    "q": hole("3F2A41C0B2", "4Hd2Qx3TQdzVkpF", "NOQUEUE", "3F2A", "3F2A41C0B2:"),
    "o": hole("", "", "orig_to=<a@b>, ", "resent-", "conn_use=2, "),
    "d": hole("2.0.0", "5.1.10", "4.4.1"),
    "n": hole("2.1", "0", "0.1/0", "25"),
    "s": hole("0.1/0/0.9/1.1", "0", "1/2.", "a"),
    "k": hole("2345", "0", "1.5"),
    "a": hole("a@b.example", "", "<a@b", "a b@c"),
    "h": hole("mx.example[192.0.2.1]:25", "local", "unknown", "a,b"),
    "i": hole("192.0.2.1", "2001:db8::1", "IPv6:2001:db8::1", "unknown"),
    "w": hole("sent", "bounced", "deferred"),
    "r": hole("250 2.0.0 Ok (queued as 9A)", "", "a) (b", "x)"),
    "m": hole("<m@x>", "<>", "m@x", "<m@x", "<a<b>"),
    "e": hole("", "", " ", " ehlo=1 quit=1 commands=2", ":25", ", sasl_method=PLAIN"),
    "x": hole("192.0.2.1", "2001:db8::1", "", "1.2.3.4]:5", "::ffff:192.0.2.1"),
    "t": hole("", " (TCP/IP connection count = 2)", " (TCP/IP connection count = )", " lost"),
}


@FUZZ
@given(st.sampled_from(sorted(CUT_MESSAGES)), st.data())
def test_a_cut_gives_what_the_regex_extracts(name, data):
    rule = next(rule for rule in ALL_RULES if rule.name == name)
    exim = dispatch.CUTS[name].shape == SHAPE_EXIM
    texts = []
    for _ in range(data.draw(st.integers(1, 12))):
        holes = re.split(r"\{(\w)\}", CUT_MESSAGES[name])
        message = "".join(data.draw(HOLES[part]) if i % 2 else part for i, part in enumerate(holes))
        head = data.draw(hole(MAINLOG, MAINLOG_ZONE)) if exim else postfix_header(rule.daemons[0])
        texts.append((head + message).encode("utf-8", "surrogateescape"))
    check_cut(rule, binary_lines(texts))


def check_cut(rule: Rule, lines: pa.Array) -> int:
    """The cut and RE2 agree on the lines the rule matches (an Exim host rule: its first
    reading); how many were cut."""
    shape = dispatch.CUTS[rule.name].shape
    reading = exim_host_readings(rule.regex)
    regex = rule.regex if reading is None else reading[0]
    pattern = whole_line_pattern(regex, shape)
    claimed = lines.filter(pc.match_substring_regex(lines, pattern))
    cut = extract_groups(rule, claimed, shape, reading=regex)
    assert cut.equals(pc.extract_regex(claimed, pattern))
    assert cut == extract_groups(rule, claimed, shape, cut=False, reading=regex)
    form = dispatch.CUTS[rule.name].whole_line()
    return pc.sum(pc.match_substring_regex(claimed, form)).as_py() or 0


@pytest.mark.parametrize("name", sorted(dispatch.CUTS))
def test_cuts_are_taken_on_usual_lines(name):
    rule = dispatch.CUTS[name].rule
    shape = dispatch.CUTS[name].shape
    lines = [line.encode() for line, _, line_shape in whole_lines(rule) if line_shape == shape]
    assert check_cut(rule, binary_lines(lines)) >= 1  # the examples have the usual form
    assert name in CUT_MESSAGES
