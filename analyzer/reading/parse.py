"""Lines -> events: split the syslog header, stamp times, run each daemon's rules.

The hot path is vectorised over pyarrow strings (RE2): a header regex per line (a cheap
pattern for the usual shape first), then each rule runs only on the not-yet-matched lines
of its own daemons whose message can start as its regex does (``analyzer.reading.dispatch``),
on the whole line behind a cheap skip of the header, so no separate message column is ever
copied out of the lines.

Every input line ends up counted in exactly one bucket: a rule, ``unmatched`` (a Postfix
daemon's line no rule knows), ``ignored`` (another program) or ``malformed`` (no syslog
header, e.g. truncated or binary). Unmatched and malformed lines keep their text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import schema as s
from analyzer.reading import stamps
from analyzer.reading.dispatch import (
    ALL_RULES,
    SHAPE_EXIM,
    SHAPE_EXIM_SYSLOG,
    SHAPE_NO_PID,
    SHAPE_PID,
    STRING,
    blank_to_null,
    extract_groups,
    groups_of,
    match_lines,
    whole_line_pattern,
)
from analyzer.reading.headers import EXIM, as_arrow, single_array, split_header, spread_rows
from analyzer.reading.patterns import ReasonRule, Rule
from analyzer.reading.patterns._fragments import (
    EXIM_ADDRESS_SHAPE,
    EXIM_HEADER,
    EXIM_HELO_END,
    EXIM_HOST_START,
    EXIM_HOST_STARTS,
    SYSLOG_HEADER,
    SYSLOG_INTERNAL,
    exim_host_readings,
)
from analyzer.reading.patterns.exim import EXIM_HOST_LAST, EXIM_REJECT_KINDS
from analyzer.reading.patterns.postfix import POSTFIX_RULES, REJECT_KINDS

DEFAULT_REJECT_KINDS: tuple[ReasonRule, ...] = REJECT_KINDS + EXIM_REJECT_KINDS
# Daemons whose lines belong to Postfix (any syslog_name prefix: "postfix-in/smtpd").
POSTFIX_DAEMONS = frozenset({d for rule in POSTFIX_RULES for d in rule.daemons})
_ROW = "_row"  # a matched line's position among the lines (match_rules' tables)
EXIM_PROGRAMS = frozenset({"exim", "exim4"})


@dataclass(frozen=True, slots=True)
class StampOptions:
    """How to turn syslog stamps into UTC times.

    Attributes:
        timezone: IANA zone of stamps without an offset (classic syslog stamps).
        year: year of the first classic (year-less) line of each file; None infers it from
            the file's modification time, counting back over Dec -> Jan rollovers.
    """

    timezone: str = "UTC"
    year: int | None = None


def stamp_times(
    lines: pd.DataFrame, header: pd.DataFrame, sources: pd.DataFrame, options: StampOptions
) -> pd.Series:
    """UTC timestamps of lines from their classic or RFC 3339 stamps (NaT where neither, and
    outside ``stamps.TIME_RANGE``: no time zone could show those).

    Requires: lines ``source``; header ``stamp_classic``, ``stamp_iso``; sources ``source``,
    ``mtime``. Returns a ``datetime64[us, UTC]`` series on the lines' index.
    """
    result = np.full(len(lines), stamps.NAT)
    iso = header[s.STAMP_ISO]
    has_iso = iso.notna().to_numpy()
    if has_iso.any():
        result[has_iso] = stamps.iso_times(as_arrow(iso[has_iso]), options.timezone)
    classic = header[s.STAMP_CLASSIC]
    has_classic = classic.notna().to_numpy()
    if has_classic.any():
        fields = stamps.classic_fields(as_arrow(classic[has_classic]))
        year = _classic_years(fields[0], lines[s.SOURCE].to_numpy()[has_classic], sources, options)
        result[has_classic] = stamps.classic_times(fields, year, options.timezone)
    result[~stamps.in_time_range(result)] = stamps.NAT
    return pd.Series(pd.DatetimeIndex(result).tz_localize("UTC"), index=lines.index)


# Optional ``sources`` columns for a file read in pieces (``relaywatch ingest``): the year and
# month of the last dated line before this piece, so classic stamps continue that count.
START_YEAR = "start_year"
START_MONTH = "start_month"
# Optional ``sources`` column: the file's place in the store's order of files (see _sequence).
ORDER = "order"


def _classic_years(
    month: np.ndarray, source: np.ndarray, sources: pd.DataFrame, options: StampOptions
) -> np.ndarray:
    """Year per classic line: a file's lines are in order, so Dec -> Jan starts a new year.

    A piece that continues a file (``start_year``/``start_month`` in ``sources``) counts on
    from the line before it; a whole file counts from ``--year`` (its first line's year) or
    back from its modification time (its last line's year).
    """
    filled = pd.Series(np.where(month > 0, month, np.nan)).ffill().bfill().to_numpy()
    previous = np.roll(filled, 1)
    new_file = np.r_[True, source[1:] != source[:-1]]
    rollover = ((previous - filled) > 6) & ~new_file
    offset = pd.Series(rollover.astype(np.int64)).groupby(source).cumsum().to_numpy()
    named = sources.set_index(s.SOURCE)
    years = np.empty(len(month), dtype=np.int64)
    for src in np.unique(source):
        mask = source == src
        if START_YEAR in named.columns and pd.notna(named.at[src, START_YEAR]):
            first_month = filled[mask][0]
            start = int(named.at[src, START_YEAR])
            start += int(named.at[src, START_MONTH] - first_month > 6)
            years[mask] = start + offset[mask]
        elif options.year is not None:
            years[mask] = options.year + offset[mask]
        else:
            reference = named.at[src, "mtime"].tz_convert(options.timezone)
            last_month = filled[mask][-1]
            last_year = reference.year if last_month <= reference.month else reference.year - 1
            years[mask] = last_year - (offset[mask][-1] - offset[mask])
    return years


def daemon_of(program: pd.Series) -> pd.Series:
    """The daemon of a syslog program ("postfix/submission/smtpd" -> "smtpd", "exim4" -> "exim").

    Null for programs we have no rules for (CRON, dovecot, ...).
    """
    codes, uniques = pd.factorize(program)
    names = [str(p).rsplit("/", 1)[-1] if "/" in str(p) else "" for p in uniques]
    daemons = np.array(
        [
            EXIM if str(p) in EXIM_PROGRAMS else n if n in POSTFIX_DAEMONS else None
            for p, n in zip(uniques, names, strict=True)
        ]
        + [None],
        dtype=object,
    )
    return pd.Series(daemons[codes], index=program.index, dtype=pd.ArrowDtype(STRING))


def match_rules(
    raw: pd.Series | pa.Array,
    daemon: pd.Series,
    shape: np.ndarray,
    rules: Sequence[Rule] = ALL_RULES,
    dispatch: bool = True,
) -> pa.Table:
    """Run each rule on the still unmatched lines of its daemons, first match wins.

    ``shape`` (per line: "pid", "nopid", "exim" or "exim_syslog") says how the header is
    skipped. A line is tried only on the rules whose literal start its message's first bytes
    fit (``analyzer.reading.dispatch``; ``dispatch=False`` tries every rule and extracts with
    the regex only: the same result, slower). A cheap match (RE2's DFA, no groups) finds a
    rule's lines; groups are extracted from those lines only (cut by their separators where
    a frequent message has its usual form), so every line is extracted once at most.

    Returns a table with one row per matched line: ``_row`` (position in ``raw``),
    ``rule``, ``event`` and every field of ``analyzer.schema.EVENT_FIELDS`` (null where the
    rule has no such group).
    """
    lines = single_array(raw) if isinstance(raw, pd.Series) else raw
    # every Exim host rule's first and last readings (see read_hosts)
    places = [r for rule in rules for r in (exim_host_readings(rule.regex) or ())[1:]]

    def read(rule: Rule, kind: str, rows: np.ndarray, claimed: pa.Array) -> pa.Table:
        readings, untrusted = exim_host_readings(rule.regex), None
        first = None if readings is None else readings[0]
        found = extract_groups(rule, claimed, kind, cut=dispatch, reading=first)
        if readings is not None and rule.name in EXIM_HOST_LAST:
            found = read_last(found, readings[2], claimed, kind)
        elif readings is not None:
            found, untrusted = read_hosts(found, readings, claimed, kind, places)
        return _rule_table(rule, rows, found, untrusted)

    if dispatch:
        pieces = match_lines(lines, daemon, shape, rules, read)
    else:
        pieces = _every_line(lines, groups_of(daemon, shape), rules, read)
    if not pieces:
        return _rule_table(None, np.array([], dtype=np.int64), None)
    return pa.concat_tables(pieces)


def _every_line(
    lines: pa.Array,
    groups: dict,
    rules: Sequence[Rule],
    read: Callable[[Rule, str, np.ndarray, pa.Array], pa.Table],
) -> list[pa.Table]:
    """Each rule on every still unmatched line of its daemons (the loop before dispatch)."""
    remaining = {key: (rows, lines.take(pa.array(rows))) for key, rows in groups.items()}
    pieces = []
    for rule in rules:
        for (name, kind), (rows, subset) in list(remaining.items()):
            if name not in rule.daemons or len(rows) == 0:
                continue
            pattern = whole_line_pattern(rule.regex, kind)
            hit = pc.match_substring_regex(subset, pattern).to_numpy(zero_copy_only=False)
            if not hit.any():
                continue
            mask = pa.array(hit)
            pieces.append(read(rule, kind, rows[hit], subset.filter(mask)))
            remaining[(name, kind)] = (rows[~hit], subset.filter(pc.invert(mask)))
    return pieces


_HOST_STARTS = re.compile(EXIM_HOST_START)
_HELO_ENDS = re.compile(EXIM_HELO_END)
UNTRUSTED_FIELDS = (s.CLIENT_IP, s.CLIENT_PORT, s.CLIENT_HOST, s.HELO)  # left empty, not guessed


def read_last(found: pa.Array, last: str, lines: pa.Array, shape: str) -> pa.Array:
    """A rule's groups at the ``last`` place it fits (EXIM_HOST_LAST); the cheaper first
    reading (``found``) finds the same where no HELO holds a ") [" (or a ")", where it
    fails)."""
    helo = pc.count_substring(lines, ") [").to_numpy(zero_copy_only=False) > 1
    again = np.flatnonzero(found.is_null().to_numpy(zero_copy_only=False) | helo)
    if len(again):
        last = whole_line_pattern(last, shape)
        found = _patch(found, again, pc.extract_regex(lines.take(pa.array(again)), last))
    return found


def read_hosts(
    found: pa.Array,
    readings: tuple[str, str, str],
    lines: pa.Array,
    shape: str,
    places: Sequence[str],
) -> tuple[pa.Array, np.ndarray]:
    """A rule's groups on its ``lines`` read at the first place it fits (``found``: its
    first reading's), and which lines do not say who their client is (_fragments.EXIM_HOST):
    those naming another address a host could begin at (EXIM_HOST_START) where ``_doubtful``
    finds a doubt."""
    lazy = whole_line_pattern(readings[1], shape)
    redo = np.flatnonzero(found.is_null().to_numpy(zero_copy_only=False))  # ")" in a HELO
    if len(redo):
        found = _patch(found, redo, pc.extract_regex(lines.take(pa.array(redo)), lazy))
    ip = pc.struct_field(found, s.CLIENT_IP)
    shaped = pc.match_substring_regex(ip, f"^{EXIM_ADDRESS_SHAPE}$")
    untrusted = ~pc.fill_null(shaped, False).to_numpy(zero_copy_only=False)
    # naming one address a host could begin at, a line has it in every reading (if any)
    several = pc.match_substring_regex(lines, EXIM_HOST_STARTS).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(several & ~untrusted)
    if len(rows):
        picked, at = lines.take(pa.array(rows)), pa.array(rows)
        after = pc.struct_field(found, "_after").take(at)
        untrusted[rows] = _doubtful(picked, ip.take(at), after, shape, places)
    return found, untrusted


def _doubtful(
    lines: pa.Array, ips: pa.Array, afters: pa.Array, shape: str, places: Sequence[str]
) -> np.ndarray:
    """Which ``lines`` (address read in ``ips``, then ``afters``) name another that may be
    Exim's: before it, after it ending a HELO (") [ip]"), or where a host rule reads one
    (``places``). Not: a reply repeating "[ip]", a callout's "host [ip]", a subject's "H=[ip]"."""
    # the address read, and at most a reply after it that repeats it: no other address
    later = pc.count_substring_regex(afters, EXIM_HOST_START).to_numpy(zero_copy_only=False)
    first_later = pc.struct_field(pc.extract_regex(afters, EXIM_HOST_START), "address")
    echo = (later == 1) & pc.fill_null(pc.equal(first_later, ips), False).to_numpy(False)
    starts = pc.count_substring_regex(lines, EXIM_HOST_START).to_numpy(zero_copy_only=False)
    other = ~(echo & (starts == 2))
    doubtful = np.zeros(len(lines), dtype=bool)
    texts, reads, tails = lines.to_pylist(), ips.to_pylist(), afters.to_pylist()
    for row in np.flatnonzero(other):
        text, read, tail = texts[row], reads[row], tails[row] or ""
        end = len(text) - len(tail)  # where the address read ends
        named = [(m.end(), m["address"]) for m in _HOST_STARTS.finditer(text)]
        other[row] = any(address != read for _, address in named)
        doubtful[row] = any(at < end and address != read for at, address in named) or any(
            address != read for address in _HELO_ENDS.findall(tail)
        )
    check = np.flatnonzero(other & ~doubtful)
    if len(check):
        subset = lines.take(pa.array(check))
        ends = pc.binary_length(afters.take(pa.array(check)))
        for regex in places:
            found = pc.extract_regex(subset, whole_line_pattern(regex, shape))
            there = pc.binary_length(pc.struct_field(found, "_after"))
            elsewhere = pc.fill_null(pc.not_equal(there, ends), False)
            doubtful[check] |= elsewhere.to_numpy(zero_copy_only=False)
    return doubtful


def _patch(found: pa.StructArray, rows: np.ndarray, values: pa.StructArray) -> pa.StructArray:
    """``found`` with its ``rows`` replaced by ``values`` (one per row, in order)."""
    spread = spread_rows(values, rows, len(found))
    replaced = np.zeros(len(found), dtype=bool)
    replaced[rows] = True
    mask = pa.array(replaced)
    names = [found.type.field(i).name for i in range(found.type.num_fields)]
    fields = [pc.if_else(mask, spread.field(n), pc.struct_field(found, n)) for n in names]
    return pa.StructArray.from_arrays(fields, names=names)


def _rule_table(
    rule: Rule | None, rows: np.ndarray, found: pa.Array | None, untrusted: np.ndarray | None = None
) -> pa.Table:
    count = len(rows)
    columns = {
        _ROW: pa.array(rows, pa.int64()),
        s.RULE: pa.repeat(pa.scalar(rule.name if rule else None, STRING), count),
        s.EVENT: pa.repeat(pa.scalar(rule.event if rule else None, STRING), count),
    }
    groups = set(rule.groups) if rule else set()
    constants = dict(rule.constants) if rule else {}
    for field in s.EVENT_FIELDS:
        if field in constants:
            columns[field] = pa.repeat(pa.scalar(constants[field], STRING), count)
        elif field in groups:
            columns[field] = blank_to_null(pc.struct_field(found, field)).cast(STRING)
            if untrusted is not None and field in UNTRUSTED_FIELDS:
                columns[field] = pc.if_else(
                    pa.array(untrusted), pa.nulls(count, STRING), columns[field]
                )
        else:
            columns[field] = pa.nulls(count, STRING)
    return pa.table(columns)


def parse_lines(
    lines: pd.DataFrame,
    sources: pd.DataFrame,
    options: StampOptions,
    rules: Sequence[Rule] = ALL_RULES,
    keep_all_text: bool = False,
    reject_kinds: Sequence[ReasonRule] = DEFAULT_REJECT_KINDS,
) -> pd.DataFrame:
    """Turn a frame of lines into one row per line, matched lines first (sort by ``seq`` for
    input order: nothing downstream needs it, and sorting every column costs).

    Requires: lines ``source``, ``line_no``, ``raw``; sources ``source``, ``mtime``.
    Returns: ``source``, ``line_no``, ``seq``, ``ts``, ``server``, ``program``, ``daemon``,
    ``pid``, ``rule``, ``event``, the event fields, and ``raw`` (kept for unmatched and
    malformed lines only, unless ``keep_all_text``). Other programs' lines become one
    ``ignored`` row each, without text, so they are counted but cost little.
    """
    s.require_columns(lines, (s.SOURCE, s.LINE_NO, s.RAW), "parse_lines")
    raw = single_array(lines[s.RAW])
    exim_servers = exim_server_per_line(lines, sources)
    header = split_header(lines, raw, exim_servers)
    ts = stamp_times(lines, header, sources, options)
    daemon = daemon_of(header[s.PROGRAM])
    shape = np.where(header[s.PID].notna().to_numpy(), SHAPE_PID, SHAPE_NO_PID).astype(object)
    shape[(daemon == EXIM).fillna(False).to_numpy() & (shape == SHAPE_PID)] = SHAPE_EXIM_SYSLOG
    if exim_servers is not None:
        shape[pd.notna(exim_servers)] = SHAPE_EXIM
    matched = match_rules(raw, daemon, shape, rules)
    matched_rows = matched.column(_ROW).to_numpy()

    n = len(lines)
    event = np.full(n, s.EV_IGNORED, dtype=object)
    has_header = header[s.SERVER].notna().to_numpy()
    is_postfix = daemon.notna().to_numpy()
    event[~has_header] = s.EV_MALFORMED
    headless = np.flatnonzero(~has_header)
    if len(headless):
        # syslog's own lines ("-- MARK --", "last message repeated 3 times") are not damage
        internal = pc.match_substring_regex(raw.take(pa.array(headless)), SYSLOG_INTERNAL)
        event[headless[internal.to_numpy(zero_copy_only=False)]] = s.EV_IGNORED
    event[has_header & is_postfix] = s.EV_UNMATCHED
    # A header whose stamp did not convert (e.g. "Feb 30") is as unusable as no header.
    event[has_header & ts.isna().to_numpy()] = s.EV_MALFORMED
    # Matched lines keep their rule's fields; every other line gets a row without fields.
    kept = event[matched_rows] != s.EV_MALFORMED
    if not kept.all():  # filtering every column is not free: only when needed
        matched = matched.filter(pa.array(kept))
    claimed = np.zeros(n, dtype=bool)
    claimed[matched_rows[kept]] = True
    others = np.flatnonzero(~claimed)
    rest = {
        _ROW: pa.array(others, pa.int64()),
        s.RULE: pa.nulls(len(others), STRING),
        s.EVENT: pa.array(event[others], STRING),
    }
    rest.update({name: pa.nulls(len(others), STRING) for name in s.EVENT_FIELDS})
    table = pa.concat_tables([matched, pa.table(rest)])
    rows = table.column(_ROW).to_numpy()
    taken = pa.array(rows)

    keep_text = (
        np.isin(
            table.column(s.EVENT).to_numpy(zero_copy_only=False), [s.EV_UNMATCHED, s.EV_MALFORMED]
        )
        | keep_all_text
    )
    out = pd.DataFrame(
        {
            s.SOURCE: lines[s.SOURCE].to_numpy()[rows],
            s.LINE_NO: lines[s.LINE_NO].to_numpy()[rows],
            s.SEQ: _sequence(lines, ts, sources)[rows],
            s.TS: ts.array.take(rows),
            **{
                name: pd.arrays.ArrowExtensionArray(single_array(column).take(taken))
                for name, column in (
                    (s.SERVER, header[s.SERVER]),
                    (s.PROGRAM, header[s.PROGRAM]),
                    (s.DAEMON, daemon),
                )
            },
            s.PID: header[s.PID].array.take(rows),
            **{
                name: pd.arrays.ArrowExtensionArray(table.column(name))
                for name in (s.EVENT, s.RULE, *s.EVENT_FIELDS)
            },
            # only the text of lines someone must look at is copied (null index: null text)
            s.RAW: pd.arrays.ArrowExtensionArray(raw.take(pa.array(rows, mask=~keep_text))),
        }
    )
    return classify_rejects(out, reject_kinds)


def exim_server_per_line(lines: pd.DataFrame, sources: pd.DataFrame) -> np.ndarray | None:
    """The server of each Exim-mainlog line (None for syslog lines); None if there are none.

    Requires: sources ``format`` and ``server`` (see ``analyzer.reading.sources.label_sources``);
    sources without them are all syslog.
    """
    if "format" not in sources.columns or not (sources["format"] == "exim").any():
        return None
    named = sources.set_index(s.SOURCE)
    server = named[s.SERVER].astype(object).where(named["format"] == "exim", None)
    values = server.reindex(lines[s.SOURCE].to_numpy()).to_numpy(dtype=object)
    return np.where(pd.notna(values), values, None)


def detect_formats(lines: pd.DataFrame, sample: int = 50) -> dict[int, str]:
    """Per source: "exim" if most of its first log lines (blank lines, comments and banners
    aside) start with Exim's stamp ("2003-11-21 09:15:02"), else "syslog" (classic, RFC 3339,
    and what ``analyzer.reading.journal`` made of journal and RFC 5424 files)."""
    # Only the first rows of each source are looked at (sources are contiguous runs of rows),
    # never a filtered copy of every line.
    if lines.empty:
        return {}
    source = lines[s.SOURCE].to_numpy()
    starts = np.flatnonzero(np.r_[True, source[1:] != source[:-1]])
    ends = np.r_[starts[1:], len(source)]
    rows = [np.arange(a, min(a + 4 * sample, b)) for a, b in zip(starts, ends, strict=True)]
    first = lines.iloc[np.concatenate(rows)]
    head = first[first[s.RAW].str.len() > 0].groupby(s.SOURCE, sort=False).head(4 * sample)
    raw = as_arrow(head[s.RAW])
    exim = pc.match_substring_regex(raw, EXIM_HEADER).to_numpy(zero_copy_only=False)
    syslog = pc.match_substring_regex(raw, SYSLOG_HEADER).to_numpy(zero_copy_only=False)
    frame = pd.DataFrame({"exim": exim, "log": exim | syslog}, index=head[s.SOURCE].to_numpy())
    counts = frame.groupby(level=0, sort=False).sum()
    formats = {int(src): "syslog" for src in np.unique(source)}
    for src, row in counts.iterrows():
        formats[int(src)] = "exim" if row["exim"] > row["log"] / 2 else "syslog"
    return formats


def _sequence(lines: pd.DataFrame, ts: pd.Series, sources: pd.DataFrame) -> np.ndarray:
    """Global line order: files by their first time stamp (rotated sets in any order), or by
    the store's ``order`` of files when given, then line number. Lines of one process are
    written in this order, whatever the clock says."""
    if ORDER in sources.columns:
        rank = sources.set_index(s.SOURCE)[ORDER].astype(np.int64)
    else:
        first = ts.groupby(lines[s.SOURCE].to_numpy()).min().reindex(sources[s.SOURCE])
        # Files without a single time stamp go last; ties keep the order they were given in.
        rank = first.rank(method="first", na_option="bottom").astype(np.int64) - 1
    return rank.reindex(lines[s.SOURCE].to_numpy()).to_numpy(np.int64) * (1 << 32) + lines[
        s.LINE_NO
    ].to_numpy(np.int64)


def _flag_of(column: pd.Series, value: str) -> np.ndarray:
    return (column == value).fillna(False).to_numpy(dtype=bool)


# Stages at which a refusal is about the message itself, not its envelope.
CONTENT_STAGES = ("DATA", "END-OF-MESSAGE", "DATA content", "header", "body")


def _content_refusals(rejects: pd.DataFrame, action: pa.Array, reply: pa.Array) -> pa.Array:
    """Which rejects refuse a message for its content, for good: cleanup's (it refuses what
    it reads: headers, body, a milter's verdict on them), a before-queue filter's, a rule's
    that says so, or a milter's at DATA or END-OF-MESSAGE; never a temporary 4xx (greylisting,
    a filter's soft reject). A milter at RCPT judges the envelope, not the content."""
    cleanup = pa.array(_flag_of(rejects[s.DAEMON], "cleanup"))
    whole = pc.is_in(action, value_set=pa.array(["proxy-reject", "content"], action.type))
    milter = pc.is_in(action, value_set=pa.array(s.CONTENT_ACTIONS, action.type))
    stage = as_arrow(rejects[s.STAGE].fillna(""))
    late = pc.is_in(stage, value_set=pa.array(CONTENT_STAGES, stage.type))
    soft = r"^\s*4[0-9]{2}\b|^\s*4\.[0-9]|(?i)temporarily rejected"  # sa-exim: no code
    temporary = pc.or_(
        pc.match_substring_regex(reply, soft),
        pc.match_substring_regex(as_arrow(rejects[s.DETAIL].fillna("")), soft),
    )
    for code in (s.SMTP_CODE, s.DSN):
        temporary = pc.or_(temporary, pc.starts_with(as_arrow(rejects[code].fillna("")), "4"))
    decided = pc.or_(pc.or_(cleanup, whole), pc.and_(milter, late))
    return pc.and_(decided, pc.invert(temporary))


def classify_rejects(
    events: pd.DataFrame, reasons: Sequence[ReasonRule] = DEFAULT_REJECT_KINDS
) -> pd.DataFrame:
    """Add ``reject_kind`` (relay_denied, unknown_user, dnsbl, content, policy) to reject
    events and fill ``dnsbl_zone`` (e.g. from "blocked using ZONE"). A refusal of the message
    itself (``action`` in ``CONTENT_ACTIONS``: milter, before-queue filter; any refusal by
    Postfix's cleanup: header and body checks) is ``content``;
    else the first matching reason wins, and a reject no reason knows is ``policy``.
    Requires: ``event``, ``reply``, ``action``."""
    kind = pd.Series(pd.NA, index=events.index, dtype=pd.ArrowDtype(STRING))
    zone = events[s.DNSBL_ZONE].copy()
    rejects = (events[s.EVENT] == s.EV_REJECT).fillna(False).to_numpy()
    if rejects.any():
        reply = as_arrow(events.loc[rejects, s.REPLY].fillna(""))
        action = as_arrow(events.loc[rejects, s.ACTION].fillna(""))
        content = _content_refusals(events.loc[rejects], action, reply)
        chosen = pc.if_else(content, pa.scalar(s.RK_CONTENT, STRING), pa.nulls(len(reply), STRING))
        for reason in reasons:
            undecided = chosen.is_null()
            hit = pc.and_(undecided, pc.match_substring_regex(reply, reason.regex))
            chosen = pc.if_else(hit, pa.scalar(reason.kind, STRING), chosen)
            if "dnsbl_zone" in reason.regex:
                found = pc.struct_field(pc.extract_regex(reply, reason.regex), s.DNSBL_ZONE)
                zone_values = pc.if_else(hit, found, as_arrow(zone[rejects]))
                zone.loc[rejects] = pd.arrays.ArrowExtensionArray(zone_values.cast(STRING))
        chosen = pc.fill_null(chosen, s.RK_POLICY)
        kind.loc[rejects] = pd.arrays.ArrowExtensionArray(chosen)
    return events.assign(**{s.REJECT_KIND: kind, s.DNSBL_ZONE: zone})
