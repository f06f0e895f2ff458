"""Lines -> events: split the syslog header, stamp times, run each daemon's rules.

The hot path is vectorised over pyarrow strings: one anchored header regex per line (its
message part is cut off with a second, group-free regex, which is far cheaper than capturing
``(.*)``), then each rule runs only on the not-yet-matched lines of its own daemons.

Every input line ends up counted in exactly one bucket: a rule, ``unmatched`` (a Postfix
daemon's line no rule knows), ``ignored`` (another program) or ``malformed`` (no syslog
header, e.g. truncated or binary). Unmatched and malformed lines keep their text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import schema as s
from analyzer.patterns import Rule
from analyzer.patterns._fragments import SYSLOG_HEADER, SYSLOG_HEADER_BARE, SYSLOG_INTERNAL
from analyzer.patterns.postfix import POSTFIX_RULES, REJECT_KINDS

STRING = pa.large_string()
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# Daemons whose lines belong to Postfix (any syslog_name prefix: "postfix-in/smtpd").
POSTFIX_DAEMONS = frozenset(
    {d for rule in POSTFIX_RULES for d in rule.daemons}
)
_ROW = "_row"


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


def _arrow(column: pd.Series) -> pa.ChunkedArray:
    array = pa.chunked_array([column.array.__arrow_array__()]) if not isinstance(
        column.array, pd.arrays.ArrowExtensionArray) else column.array._pa_array
    return array.cast(STRING) if array.type != STRING else array


def _blank_to_null(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """RE2 reports an optional group that did not take part as ""; make it null."""
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, array.type), array)


def split_header(lines: pd.DataFrame) -> pd.DataFrame:
    """Split each raw line into syslog header fields and its message.

    Requires: ``raw``. Adds (same index): ``stamp_classic``, ``stamp_iso``, ``server``,
    ``program``, ``pid`` (nullable int), ``message``; all null where a line has no header.
    """
    raw = _arrow(lines[s.RAW])
    header = pc.extract_regex(raw, SYSLOG_HEADER)
    message = pc.replace_substring_regex(raw, SYSLOG_HEADER_BARE, "", max_replacements=1)
    valid = header.is_valid()
    out = {}
    for name in (s.STAMP_CLASSIC, s.STAMP_ISO, s.SERVER, s.PROGRAM):
        out[name] = _blank_to_null(pc.struct_field(header, name))
    pid = _blank_to_null(pc.struct_field(header, s.PID))
    out[s.PID] = pc.cast(pid, pa.int64())
    out[s.MESSAGE] = pc.if_else(valid, message, pa.scalar(None, STRING))
    return pd.DataFrame(
        {k: pd.Series(v, dtype=pd.ArrowDtype(v.type), index=lines.index) for k, v in out.items()}
    )


def stamp_times(lines: pd.DataFrame, header: pd.DataFrame, sources: pd.DataFrame,
                options: StampOptions) -> pd.Series:
    """UTC timestamps of lines from their classic or RFC 3339 stamps (NaT where neither).

    Requires: lines ``source``; header ``stamp_classic``, ``stamp_iso``; sources ``source``,
    ``mtime``. Returns a ``datetime64[us, UTC]`` series on the lines' index.
    """
    result = pd.Series(pd.NaT, index=lines.index, dtype="datetime64[us, UTC]")
    iso = header[s.STAMP_ISO]
    has_iso = iso.notna().to_numpy()
    if has_iso.any():
        result[has_iso] = _iso_times(iso[has_iso], options.timezone)
    classic = header[s.STAMP_CLASSIC]
    has_classic = classic.notna().to_numpy()
    if has_classic.any():
        result[has_classic] = _classic_times(
            classic[has_classic], lines.loc[has_classic, s.SOURCE], sources, options)
    return result


def _iso_times(stamps: pd.Series, timezone: str) -> pd.Series:
    codes, uniques = pd.factorize(stamps)
    text = pd.Series(uniques.astype(str))
    has_offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).to_numpy()
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    if has_offset.any():
        parsed[has_offset] = pd.to_datetime(text[has_offset], format="ISO8601", utc=True)
    if (~has_offset).any():
        naive = pd.to_datetime(text[~has_offset], format="ISO8601")
        parsed[~has_offset] = _localize(naive, timezone)
    return pd.Series(parsed.to_numpy()[codes], index=stamps.index, dtype="datetime64[us, UTC]")


def _localize(naive: pd.Series, timezone: str) -> pd.Series:
    # In the repeated autumn hour we cannot know which of the two was meant: take the first.
    ambiguous = np.ones(len(naive), dtype=bool)
    return (naive.dt.tz_localize(timezone, ambiguous=ambiguous, nonexistent="shift_forward")
            .dt.tz_convert("UTC").astype("datetime64[us, UTC]"))


def _classic_times(stamps: pd.Series, source: pd.Series, sources: pd.DataFrame,
                   options: StampOptions) -> pd.Series:
    arr = _arrow(stamps)
    month_name = pc.utf8_slice_codeunits(arr, 0, 3).to_pandas()
    month = month_name.map(_MONTHS).to_numpy(dtype="float64")
    fields = {
        "day": pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(arr, 4, 6)),
        "hour": pc.utf8_slice_codeunits(arr, 7, 9),
        "minute": pc.utf8_slice_codeunits(arr, 10, 12),
        "second": pc.utf8_slice_codeunits(arr, 13, 15),
    }
    parts = {k: pc.cast(v, pa.int64()).to_numpy() for k, v in fields.items()}
    fraction = pc.utf8_slice_codeunits(arr, 15, 25)
    micro = pc.utf8_rpad(pc.utf8_slice_codeunits(pc.utf8_ltrim(fraction, "."), 0, 6), 6, "0")
    parts["microsecond"] = pc.cast(pc.if_else(pc.equal(fraction, ""), "000000", micro),
                                   pa.int64()).to_numpy()
    year = _classic_years(month, source.to_numpy(), sources, options)
    ok = ~np.isnan(month)
    frame = pd.DataFrame({"year": year, "month": np.where(ok, month, 1), **parts})
    naive = pd.to_datetime(frame, errors="coerce")
    naive[~ok] = pd.NaT
    local = _localize(naive, options.timezone)
    local.index = stamps.index
    return local


def _classic_years(month: np.ndarray, source: np.ndarray, sources: pd.DataFrame,
                   options: StampOptions) -> np.ndarray:
    """Year per classic line: a file's lines are in order, so a drop from Dec to Jan is a new year."""
    filled = pd.Series(month).ffill().bfill().to_numpy()
    previous = np.roll(filled, 1)
    new_file = np.r_[True, source[1:] != source[:-1]]
    rollover = ((previous - filled) > 6) & ~new_file
    offset = pd.Series(rollover.astype(np.int64)).groupby(source).cumsum().to_numpy()
    if options.year is not None:
        return options.year + offset
    years = np.empty(len(month), dtype=np.int64)
    mtimes = sources.set_index(s.SOURCE)["mtime"]
    for src in np.unique(source):
        mask = source == src
        reference = mtimes[src].tz_convert(options.timezone)
        last_month = filled[mask][-1]
        last_year = reference.year if last_month <= reference.month else reference.year - 1
        years[mask] = last_year - (offset[mask][-1] - offset[mask])
    return years


def daemon_of(program: pd.Series) -> pd.Series:
    """The Postfix daemon of a syslog program ("postfix/submission/smtpd" -> "smtpd").

    Null for programs that are not Postfix (CRON, dovecot, ...).
    """
    codes, uniques = pd.factorize(program)
    names = [str(p).rsplit("/", 1)[-1] if "/" in str(p) else "" for p in uniques]
    daemons = np.array([n if n in POSTFIX_DAEMONS else None for n in names] + [None],
                       dtype=object)
    return pd.Series(daemons[codes], index=program.index, dtype=pd.ArrowDtype(STRING))


def match_rules(message: pd.Series, daemon: pd.Series,
                rules: Sequence[Rule] = POSTFIX_RULES) -> pa.Table:
    """Run each rule on the unmatched messages of its daemons, first match wins.

    Returns a table with one row per matched line: ``_row`` (position in ``message``),
    ``rule``, ``event`` and every field of ``analyzer.schema.EVENT_FIELDS`` (null where the
    rule has no such group).
    """
    msg = _arrow(message)
    daemon_codes, daemon_names = pd.factorize(daemon)
    positions_by_daemon = {
        name: np.flatnonzero(daemon_codes == code) for code, name in enumerate(daemon_names)
    }
    remaining = {name: pos for name, pos in positions_by_daemon.items()}
    pieces = []
    for rule in rules:
        for name in rule.daemons:
            rows = remaining.get(name)
            if rows is None or len(rows) == 0:
                continue
            taken = msg.take(pa.array(rows))
            found = pc.extract_regex(taken, rule.regex)
            hit = found.is_valid().to_numpy(zero_copy_only=False)
            if not hit.any():
                continue
            pieces.append(_rule_table(rule, rows[hit], found.filter(pa.array(hit))))
            remaining[name] = rows[~hit]
    if not pieces:
        return _rule_table(None, np.array([], dtype=np.int64), None)
    return pa.concat_tables(pieces)


def _rule_table(rule: Rule | None, rows: np.ndarray, found: pa.ChunkedArray | None) -> pa.Table:
    count = len(rows)
    columns = {
        _ROW: pa.array(rows, pa.int64()),
        s.RULE: pa.array([rule.name if rule else None] * count, STRING),
        s.EVENT: pa.array([rule.event if rule else None] * count, STRING),
    }
    groups = set(rule.groups) if rule else set()
    for field in s.EVENT_FIELDS:
        if field in groups:
            columns[field] = _blank_to_null(pc.struct_field(found, field)).cast(STRING)
        else:
            columns[field] = pa.nulls(count, STRING)
    return pa.table(columns)


def parse_lines(lines: pd.DataFrame, sources: pd.DataFrame, options: StampOptions,
                rules: Sequence[Rule] = POSTFIX_RULES, keep_all_text: bool = False) -> pd.DataFrame:
    """Turn a frame of lines into one row per line that matters, in input order.

    Requires: lines ``source``, ``line_no``, ``raw``; sources ``source``, ``mtime``.
    Returns: ``source``, ``line_no``, ``seq``, ``ts``, ``server``, ``program``, ``daemon``,
    ``pid``, ``rule``, ``event``, the event fields, and ``raw`` (kept for unmatched and
    malformed lines only, unless ``keep_all_text``). Other programs' lines become one
    ``ignored`` row each, without text, so they are counted but cost little.
    """
    s.require_columns(lines, (s.SOURCE, s.LINE_NO, s.RAW), "parse_lines")
    header = split_header(lines)
    ts = stamp_times(lines, header, sources, options)
    daemon = daemon_of(header[s.PROGRAM])
    matched = match_rules(header[s.MESSAGE], daemon, rules)
    matched_rows = matched.column(_ROW).to_numpy()

    n = len(lines)
    event = np.full(n, s.EV_IGNORED, dtype=object)
    has_header = header[s.SERVER].notna().to_numpy()
    is_postfix = daemon.notna().to_numpy()
    event[~has_header] = s.EV_MALFORMED
    raw = _arrow(lines[s.RAW])
    if (~has_header).any():
        # syslog's own lines ("-- MARK --", "last message repeated 3 times") are not damage
        internal = pc.match_substring_regex(raw, SYSLOG_INTERNAL).to_numpy(zero_copy_only=False)
        event[~has_header & internal] = s.EV_IGNORED
    event[has_header & is_postfix] = s.EV_UNMATCHED
    # A header whose stamp did not convert (e.g. "Feb 30") is as unusable as no header.
    event[has_header & ts.isna().to_numpy()] = s.EV_MALFORMED
    position = np.full(n, -1, dtype=np.int64)
    position[matched_rows] = np.arange(len(matched_rows))
    matched_ok = matched_rows[event[matched_rows] != s.EV_MALFORMED]
    event[matched_ok] = np.asarray(matched.column(s.EVENT).to_numpy(zero_copy_only=False),
                                   dtype=object)[position[matched_ok]]
    position[event == s.EV_MALFORMED] = -1

    index = pa.array(np.where(position >= 0, position, 0))
    null_mask = pa.array(position < 0)
    fields = {}
    for name in (s.RULE, *s.EVENT_FIELDS):
        column = matched.column(name)
        taken = column.take(index) if len(column) else pa.nulls(n, STRING)
        fields[name] = pc.if_else(null_mask, pa.scalar(None, STRING), taken)

    keep_text = (event == s.EV_UNMATCHED) | (event == s.EV_MALFORMED) | keep_all_text
    seq = _sequence(lines, ts, sources)
    out = pd.DataFrame({
        s.SOURCE: lines[s.SOURCE].to_numpy(),
        s.LINE_NO: lines[s.LINE_NO].to_numpy(),
        s.SEQ: seq,
        s.TS: ts.array,
        s.SERVER: header[s.SERVER].array,
        s.PROGRAM: header[s.PROGRAM].array,
        s.DAEMON: daemon.array,
        s.PID: header[s.PID].array,
        s.EVENT: pd.array(event, dtype=pd.ArrowDtype(STRING)),
        **{k: pd.arrays.ArrowExtensionArray(v) for k, v in fields.items()},
        s.RAW: pd.arrays.ArrowExtensionArray(pc.if_else(pa.array(keep_text), raw,
                                                        pa.scalar(None, STRING))),
    })
    out[s.TS] = out[s.TS].astype("datetime64[us, UTC]")
    out = classify_rejects(out)
    return out.sort_values(s.SEQ, kind="stable", ignore_index=True)


def _sequence(lines: pd.DataFrame, ts: pd.Series, sources: pd.DataFrame) -> np.ndarray:
    """Global line order: files by their first time stamp (rotated sets in any order), then
    line number. Lines of one process are written in this order, whatever the clock says."""
    first = ts.groupby(lines[s.SOURCE].to_numpy()).min().reindex(sources[s.SOURCE])
    # Files without a single time stamp go last; ties keep the order they were given in.
    rank = first.rank(method="first", na_option="bottom").astype(np.int64) - 1
    return rank.reindex(lines[s.SOURCE].to_numpy()).to_numpy(np.int64) * (1 << 32) + \
        lines[s.LINE_NO].to_numpy(np.int64)


def classify_rejects(events: pd.DataFrame) -> pd.DataFrame:
    """Add ``reject_kind`` (relay_denied, unknown_user, dnsbl, policy) to reject events and fill
    ``dnsbl_zone`` from "blocked using ZONE". Requires: ``event``, ``reply``."""
    kind = pd.Series(pd.NA, index=events.index, dtype=pd.ArrowDtype(STRING))
    zone = events[s.DNSBL_ZONE].copy()
    rejects = (events[s.EVENT] == s.EV_REJECT).fillna(False).to_numpy()
    if rejects.any():
        reply = _arrow(events.loc[rejects, s.REPLY].fillna(""))
        chosen = pa.nulls(len(reply), STRING)
        for reason in REJECT_KINDS:
            undecided = chosen.is_null()
            hit = pc.and_(undecided, pc.match_substring_regex(reply, reason.regex))
            chosen = pc.if_else(hit, pa.scalar(reason.kind, STRING), chosen)
            if "dnsbl_zone" in reason.regex:
                found = pc.struct_field(pc.extract_regex(reply, reason.regex), s.DNSBL_ZONE)
                zone_values = pc.if_else(hit, found, _arrow(zone[rejects]))
                zone.loc[rejects] = pd.arrays.ArrowExtensionArray(zone_values.cast(STRING))
        chosen = pc.fill_null(chosen, s.RK_POLICY)
        kind.loc[rejects] = pd.arrays.ArrowExtensionArray(chosen)
    return events.assign(**{s.REJECT_KIND: kind, s.DNSBL_ZONE: zone})
