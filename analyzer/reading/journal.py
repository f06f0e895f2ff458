"""Logs modern hosts keep: journald's JSON export and RFC 5424 syslog, made into syslog lines.

Both are rewritten when they are read, one line into one line, into the RFC 3339 syslog text
every later stage already reads (``STAMP HOST IDENT[PID]: MESSAGE``), so the header split,
the stamps, the rules, the sessions and the store's byte offsets work unchanged. Only files
detected as one of these formats pay for it; a line that is not an entry (a banner, a broken
JSON object) is kept as it is, and is counted as malformed, never dropped.

* ``journalctl -o json``: one JSON object a line; ``__REALTIME_TIMESTAMP`` (microseconds
  since the epoch) becomes a UTC stamp, ``_HOSTNAME`` the host, ``SYSLOG_IDENTIFIER`` the
  program, ``SYSLOG_PID``/``_PID`` the pid. journald writes a ``MESSAGE`` that is not valid
  UTF-8 as an array of byte values: it is decoded (bad bytes become U+FFFD).
* RFC 5424: ``<22>1 2003-11-21T09:15:02.123456-05:00 mail1 postfix/smtpd 1234 - - text``
  (NILVALUE ``-`` for the pid, structured data ``[...]``, a BOM before the text).

``journalctl -o short-iso`` and ``-o short-precise`` need nothing: their stamps are RFC 3339
(offset without a colon) and classic (with a fraction) stamps, which the header split reads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

JOURNAL = "journal"  # journalctl -o json
RFC5424 = "rfc5424"
NORMALISED = (JOURNAL, RFC5424)
STRING = pa.large_string()

TIME, HOST, IDENT, COMM, SYSLOG_PID, PID, MESSAGE, CURSOR = (
    "__REALTIME_TIMESTAMP",
    "_HOSTNAME",
    "SYSLOG_IDENTIFIER",
    "_COMM",
    "SYSLOG_PID",
    "_PID",
    "MESSAGE",
    "__CURSOR",
)
FIELDS = (TIME, HOST, IDENT, COMM, SYSLOG_PID, PID, MESSAGE, CURSOR)
_SCHEMA = pa.schema([(name, pa.string()) for name in FIELDS])
# Below this many lines a block that pyarrow refuses is read line by line.
_BISECT_FLOOR = 256

# RFC 5424: PRI VERSION STAMP HOST APP PROCID MSGID SD [BOM]MSG. Structured data is "-" or
# elements "[id k="v" ...]" whose quoted values may hold escaped "]" and '"'.
_SD = r'(?:-|(?:\[[^\]"]*(?:"(?:[^"\\]|\\.)*"[^\]"]*)*\])+)'
_HEAD_5424 = r"^<[0-9]{1,3}>1 (\S+) (\S+) (\S+) "
_TAIL_5424 = rf" \S+ {_SD}(?: \x{{FEFF}}?|$)"
RFC5424_WITH_PID = _HEAD_5424 + r"([0-9]+)" + _TAIL_5424
RFC5424_ANY = _HEAD_5424 + r"\S+" + _TAIL_5424

# Line shapes for telling formats apart.
_SHAPES = {
    JOURNAL: r"^\{.*\}$",
    RFC5424: r"^<[0-9]{1,3}>1 ",
    # syslog (classic, RFC 3339, short-iso, short-precise) and Exim mainlogs
    "text": r"^(?:[A-Z][a-z]{2} +[0-9]{1,2} [0-9]{2}:|[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:)",
}
SNIFF_LINES = 200


def text_format(lines: pa.Array | pa.ChunkedArray) -> str | None:
    """``"journal"`` or ``"rfc5424"`` if most of the first log-like lines (blank lines,
    comments and banners aside) have that shape; None for syslog and Exim text."""
    head = lines.slice(0, 4 * SNIFF_LINES)
    counts = {
        kind: int(pc.sum(pc.match_substring_regex(head, shape)).as_py() or 0)
        for kind, shape in _SHAPES.items()
    }
    kind = max(counts, key=counts.get)
    return kind if counts[kind] and kind in NORMALISED else None


def normalise(lines: pa.Array, kind: str | None) -> pa.LargeStringArray:
    """The lines of a ``kind`` file as syslog text (unchanged for any other kind)."""
    if kind == JOURNAL:
        return journal_lines(lines)[0]
    if kind == RFC5424:
        return rfc5424_lines(lines)
    return lines


def rfc5424_lines(lines: pa.Array) -> pa.LargeStringArray:
    """``<22>1 STAMP HOST APP PROCID MSGID SD MSG`` -> ``STAMP HOST APP[PROCID]: MSG``."""
    lines = _large(lines)
    out = pc.replace_substring_regex(lines, RFC5424_WITH_PID, r"\1 \2 \3[\4]: ", max_replacements=1)
    return pc.replace_substring_regex(out, RFC5424_ANY, r"\1 \2 \3: ", max_replacements=1)


def journal_lines(lines: pa.Array) -> tuple[pa.LargeStringArray, str | None]:
    """JSON entries -> syslog lines (other lines kept as they are), and the cursor of the last
    entry (None if none has one)."""
    lines = _large(lines)
    entry = pc.and_(pc.starts_with(lines, "{"), pc.ends_with(lines, "}"))
    rows = np.flatnonzero(entry.to_numpy(zero_copy_only=False))
    if not len(rows):
        return lines, None
    subset = lines.take(pa.array(rows))
    # journald writes a MESSAGE that is not UTF-8 as a list of bytes: those lines, rare,
    # are read one by one; the others in one go by pyarrow.
    arrays = pc.match_substring_regex(subset, f'"{MESSAGE}" *: *\\[').to_numpy(zero_copy_only=False)
    fields = _fields(subset, arrays)
    text = _syslog_text(fields)
    position = np.full(len(lines), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    spread = text.take(pa.array(position, mask=position < 0))
    cursors = fields.column(CURSOR).drop_null()
    cursor = cursors[-1].as_py() if len(cursors) else None
    return pc.coalesce(spread, lines), cursor


def _large(lines: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    return lines.cast(STRING) if lines.type != STRING else lines


def _fields(subset: pa.Array, slow: np.ndarray) -> pa.Table:
    """The journal fields of JSON lines (all strings; null where absent or not an entry)."""
    if not slow.any():
        return _arrow_fields(subset)
    parts, start = [], 0
    bounds = np.flatnonzero(np.diff(np.r_[False, slow, False].astype(np.int8)))
    for begin, end in zip(bounds[::2], bounds[1::2], strict=True):
        if begin > start:
            parts.append(_arrow_fields(subset.slice(start, begin - start)))
        parts.append(_python_fields(subset.slice(begin, end - begin)))
        start = end
    if start < len(subset):
        parts.append(_arrow_fields(subset.slice(start)))
    return pa.concat_tables(parts)


def _arrow_fields(subset: pa.Array) -> pa.Table:
    """``_fields`` by pyarrow's JSON reader; a block it refuses (a broken line, a number
    where a string belongs) is halved until the bad lines are read one by one."""
    if len(subset) == 0:
        return _SCHEMA.empty_table()
    if len(subset) <= _BISECT_FLOOR:
        with contextlib.suppress(pa.ArrowInvalid):
            return _read_json(subset)
        return _python_fields(subset)
    try:
        return _read_json(subset)
    except pa.ArrowInvalid:
        half = len(subset) // 2
        return pa.concat_tables(
            [_arrow_fields(subset.slice(0, half)), _arrow_fields(subset.slice(half))]
        )


def _read_json(subset: pa.Array) -> pa.Table:
    lists = pa.LargeListArray.from_arrays([0, len(subset)], subset)
    data = pc.binary_join(lists, pa.scalar("\n", STRING))[0].as_buffer()
    table = pj.read_json(
        pa.BufferReader(data),
        read_options=pj.ReadOptions(block_size=max(len(data) + 1, 1 << 20)),
        parse_options=pj.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore"),
    )
    if table.num_rows != len(subset):  # e.g. a line pyarrow took for nothing
        raise pa.ArrowInvalid("line count changed")
    return table.select(list(FIELDS))


def _python_fields(subset: pa.Array) -> pa.Table:
    """``_fields`` one line at a time (byte-array messages, lines pyarrow refuses)."""
    columns: dict[str, list] = {name: [] for name in FIELDS}
    for line in subset.to_pylist():
        try:
            entry = json.loads(line)
        except (TypeError, ValueError):
            entry = None
        if not isinstance(entry, dict):
            entry = {}
        for name in FIELDS:
            columns[name].append(_text(entry.get(name)))
    return pa.table({name: pa.array(columns[name], pa.string()) for name in FIELDS})


def _text(value) -> str | None:
    """A journal field as text: bytes given as a list of numbers decoded, a repeated field
    (a list of values) read as its first value."""
    if value is None:
        return None
    if isinstance(value, list):
        if value and all(isinstance(v, int) and 0 <= v < 256 for v in value):
            return bytes(value).decode("utf-8", errors="replace")
        return _text(value[0]) if value else None
    if isinstance(value, dict):
        return None
    if isinstance(value, bool):
        return None
    return str(value)


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, STRING)


def _syslog_text(fields: pa.Table) -> pa.Array:
    """``STAMP HOST IDENT[PID]: MESSAGE`` per entry; null for a line without a usable time."""
    micros = fields.column(TIME).combine_chunks().cast(STRING)
    digits = pc.match_substring_regex(micros, r"^[0-9]{1,17}$")
    micros = pc.if_else(digits, micros, pa.scalar(None, STRING))
    when = pc.cast(pc.cast(micros, pa.int64()), pa.timestamp("us"))
    stamp = pc.binary_join_element_wise(
        pc.strftime(when, "%Y-%m-%dT%H:%M:%S").cast(STRING), _lit("+00:00"), _lit("")
    )

    def column(*names: str, default: str) -> pa.Array:
        values = [fields.column(name).combine_chunks().cast(STRING) for name in names]
        return pc.coalesce(*values, pa.scalar(default, STRING))

    host = pc.replace_substring_regex(column(HOST, default="localhost"), r"[\s:]", "_")
    ident = pc.replace_substring_regex(column(IDENT, COMM, default="unknown"), r"[\s\[\]:]", "_")
    pid = column(SYSLOG_PID, PID, default="")
    pid = pc.if_else(
        pc.match_substring_regex(pid, r"^[0-9]+$"),
        pc.binary_join_element_wise(_lit("["), pid, _lit("]"), _lit("")),
        pa.scalar("", STRING),
    )
    message = pc.replace_substring_regex(column(MESSAGE, default=""), r"\r?\n", " ")
    space = _lit(" ")
    text = pc.binary_join_element_wise(
        stamp, space, host, space, ident, pid, _lit(": "), message, _lit("")
    )
    return text.cast(STRING)


def entry_line(entry: dict) -> str:
    """One journal entry (as ``json.loads`` gives it) as the syslog line it becomes: for
    tests and for anyone checking a single line."""
    line = json.dumps(entry)
    text, _ = journal_lines(pa.array([line], STRING))
    return text[0].as_py()


def realtime(ts: dt.datetime) -> str:
    """``__REALTIME_TIMESTAMP`` of a time: microseconds since the epoch, as journald writes."""
    delta = ts.astimezone(dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return str(delta // dt.timedelta(microseconds=1))
