"""Lines -> rule matches: each line is tried only on the rules that can match it.

``match_lines`` runs the rules (``analyzer.reading.patterns``) in their order on the lines
of their daemons, first match wins. Most rules can never match most lines: a rule's regex
starts with a literal ("connect from ", a queue id then ": removed", a message id then
" <= "), and a line's message starts with its own bytes. So the literal prefixes each rule
must start with are read from the rule's regex itself (``rule_prefixes``), the first bytes
of each line's message are read from the arrow buffers (after its header, and after a
queue id or message id where one stands first), and a rule's DFA runs only on the lines
whose bytes start with one of its prefixes. A rule whose start cannot be read (a class, a
wildcard, flags) is tried on every line of its daemons, as is every line whose header
cannot be read exactly (syslog lines without a pid; see ``_Keys``). Dispatch only leaves out
rules that cannot match a line, and a line meets its rules in their order, so the first
match is the one the plain loop finds (``analyzer.reading.parse.match_rules``, with
``dispatch=False``). Where a frequent message has its usual form, its groups are then cut
out by its separators (``CUTS``) rather than extracted by RE2, which costs several times more.
"""

from __future__ import annotations

import re
import re._parser as sre  # the stdlib's own parse tree of a regex: its literals, in order
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.reading.patterns import Rule
from analyzer.reading.patterns._fragments import (
    EXIM_MSGID,
    EXIM_MSGID_VALUE,
    EXIM_USUAL_HEADER,
    QUEUE_ID,
    QUEUE_ID_VALUE,
    SKIP_HEADER_EXIM,
    SKIP_HEADER_EXIM_SYSLOG,
    SKIP_HEADER_NO_PID,
    SKIP_HEADER_PID,
)
from analyzer.reading.patterns.exim import EXIM_RULES
from analyzer.reading.patterns.postfix import POSTFIX_RULES

STRING = pa.large_string()
ALL_RULES: tuple[Rule, ...] = POSTFIX_RULES + EXIM_RULES
# How a line's header is skipped before its rules run (see _fragments).
SHAPE_PID, SHAPE_NO_PID, SHAPE_EXIM, SHAPE_EXIM_SYSLOG = "pid", "nopid", "exim", "exim_syslog"
SKIPS = {
    SHAPE_PID: SKIP_HEADER_PID,
    SHAPE_NO_PID: SKIP_HEADER_NO_PID,
    SHAPE_EXIM: SKIP_HEADER_EXIM,
    SHAPE_EXIM_SYSLOG: SKIP_HEADER_EXIM_SYSLOG,
}


def blank_to_null(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """RE2 reports an optional group that did not take part as ""; make it null."""
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, array.type), array)


# --- what a rule's regex must start with -----------------------------------------------------

# Bytes of a message compared with the rules' prefixes (three 64-bit words per line).
KEY_BYTES = 24
# Beyond this many prefixes (alternatives of alternatives), a rule is tried everywhere.
MAX_PREFIXES = 64


@dataclass(frozen=True, slots=True)
class MessageId:
    """An id that may open a message, read past before its first bytes are compared.

    Attributes:
        marker: a character that stands for the id in a rule's regex while it is read.
        fragment: the id as the rules write it (replaced by ``marker``).
        value: the id's regex, without a group.
        sep: what rules put right after the id; the id cannot hold it, so the first ``sep``
            of a message ends the id.
    """

    marker: str
    fragment: str
    value: str
    sep: str


MESSAGE_IDS = (
    MessageId("\ue000", QUEUE_ID, QUEUE_ID_VALUE, ":"),  # "3F2A41C0B2: removed"
    MessageId("\ue001", EXIM_MSGID, EXIM_MSGID_VALUE, " "),  # "1AOAbC-0001xy-AB <= ..."
)
_BY_MARKER = {kind.marker: kind for kind in MESSAGE_IDS}
# A prefix: "" and the literal the message starts with, or an id's marker and the literal
# that follows the id (starting with its ``sep``). None: the rule may start anywhere.
Prefixes = frozenset[tuple[str, bytes]] | None
_Options = list[tuple[str, bool]]  # (literal so far, whether more may follow)
_STOP: _Options = [("", False)]
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}


def rule_prefixes(regex: str) -> Prefixes:
    """The literals every line a rule (``^...$``) matches starts with, as far as the regex
    says for certain: alternatives and optional parts give several, and reading stops at
    the first class, wildcard or repetition. None where it starts with none."""
    body = regex[1:-1]  # as whole_line_pattern reads it
    for kind in MESSAGE_IDS:
        body = body.replace(kind.fragment, kind.marker)
    try:
        with warnings.catch_warnings():
            # RE2 syntax Python reads otherwise ("[[:alpha:]]" is a class in RE2 and a
            # "possible nested set" warning here) or not at all: no guess
            warnings.simplefilter("error")
            parsed = sre.parse(f"(?:{body})")
    except (re.error, Warning, RecursionError, OverflowError, ValueError, TypeError):
        return None
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return None
    options = _sequence(list(parsed))
    if options is None:
        return None
    prefixes = set()
    for text, _ in _pruned([(text, False) for text, _ in options]):
        kind = _BY_MARKER.get(text[:1])
        literal = _before_marker(text[1:] if kind else text)
        if kind and not literal.startswith(kind.sep):
            return None  # an id not followed by its separator: where it ends is unknown
        if not literal:
            return None
        prefixes.add((kind.marker if kind else "", literal.encode()[:KEY_BYTES]))
    return frozenset(prefixes)


def _before_marker(text: str) -> str:
    cut = [i for i, char in enumerate(text) if char in _BY_MARKER]
    return text[: cut[0]] if cut else text


def _sequence(items: list) -> _Options | None:
    """The literals a sequence of parsed items starts with (None: too many)."""
    options: _Options = [("", True)]
    for op, av in items:
        if not any(going for _, going in options):
            break
        more = _element(op, av)
        if more is None:
            return None
        grown = [
            ((text + extra)[:KEY_BYTES], going and further and len(text + extra) < KEY_BYTES)
            for text, going in options
            for extra, further in (more if going else [("", False)])
        ]
        options = _pruned(grown)
        if len(options) > MAX_PREFIXES:
            return None
    return options


def _pruned(options: _Options) -> _Options:
    """Without the options a shorter finished one already covers ("warning: " covers
    "warning: TLS": a line that starts with the longer starts with the shorter)."""
    done = {text for text, going in options if not going}
    return [
        (text, going)
        for text, going in dict.fromkeys(options)
        if not any(text.startswith(d) and (d != text or going) for d in done)
    ]


def _element(op: object, av: object) -> _Options | None:
    if op is sre.LITERAL:
        char = chr(av)  # type: ignore[arg-type]
        # only plain ASCII (never the 0 that pads a short message), and the id markers
        return [(char, True)] if char in _BY_MARKER or 0 < ord(char) < 128 else _STOP
    if op is sre.IN:  # a small set of single characters: "[245]"
        chars = [v for o, v in av if o is sre.LITERAL and 0 < v < 128]  # type: ignore[union-attr]
        same = len(chars) == len(av) and len(chars) <= 8  # type: ignore[arg-type]
        return [(chr(v), True) for v in chars] if same else _STOP
    if op is sre.SUBPATTERN:
        _, add_flags, del_flags, items = av  # type: ignore[misc]
        return _STOP if add_flags or del_flags else _sequence(list(items))
    if op is sre.BRANCH:
        options: _Options = []
        for branch in av[1]:  # type: ignore[index]
            found = _sequence(list(branch))
            if found is None:
                return None
            options += found
        return options
    if op in _REPEATS:
        low, high, items = av  # type: ignore[misc]
        once = _sequence(list(items))
        if once is None:
            return None
        if high == 0:
            return [("", True)]
        # after one pass more may follow, unless the item is only optional
        taken = [(text, going and high == 1) for text, going in once]
        return ([("", True)] if low == 0 else []) + taken
    return _STOP  # a class, a wildcard, an anchor, a look-around...


# The built-in rules' prefixes, read once (a parse of every regex costs a tenth of a second).
BUILT_IN_PREFIXES: dict[str, Prefixes] = {
    rule.regex: rule_prefixes(rule.regex) for rule in ALL_RULES
}
# How many bytes an id and its separator take at most.
_ID_WIDTHS = {
    kind.marker: sre.parse(kind.value).getwidth()[1] + len(kind.sep) for kind in MESSAGE_IDS
}


# --- the first bytes of each line's message ------------------------------------------------

# Bytes read to find a pid's "]: " (past them, the search goes on line by line).
WINDOW = 64
# The parts of each Exim header skip, one group each (every part is certain where it ends: a
# run is always followed by a character it cannot hold). The skip may end after the head,
# the stamp, its zone or the pid (and, in syslog, before a piece's number): never elsewhere.
_STAMP = r"(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+ )"
STAMP_PARTS = {
    SHAPE_EXIM: rf"^{_STAMP}(?P<zone>[+-][0-9]{{4}} )?(?P<pid>\[[0-9]+\] )?",
    SHAPE_EXIM_SYSLOG: (
        r"^(?P<head>[^\]]*\]: )(?P<piece>\[1[\\/][0-9]+\] )?"
        rf"(?:{_STAMP}(?P<zone>[+-][0-9]{{4}} )?)?(?P<pid>\[[0-9]+\] )?"
    ),
}
# The header skips these readings follow: a skip changed in _fragments is not read here
# until this module learns it (its lines are tried on every rule meanwhile).
READ_SKIPS = {
    SHAPE_PID: r"^[^\]]*\]: ",
    SHAPE_EXIM: r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+(?: [+-][0-9]{4})?(?: \[[0-9]+\])? ",
    SHAPE_EXIM_SYSLOG: (
        r"^[^\]]*\]: (?:\[1[\\/][0-9]+\] )?"
        r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+(?: [+-][0-9]{4})? )?(?:\[[0-9]+\] )?"
    ),
}


class _Buffer:
    """The bytes of an array of lines, read in place from its arrow buffers."""

    def __init__(self, lines: pa.Array):
        binary = lines.cast(pa.large_binary())
        offsets = np.frombuffer(binary.buffers()[1], dtype=np.int64)
        offsets = offsets[binary.offset : binary.offset + len(binary) + 1]
        self.begin, self.end = offsets[:-1], offsets[1:]
        body = binary.buffers()[2]
        self.data = (
            np.frombuffer(body, dtype=np.uint8) if body is not None else np.zeros(0, np.uint8)
        )
        self.binary = binary
        self.null = binary.is_null().to_numpy(zero_copy_only=False)

    def read(self, at: np.ndarray, end: np.ndarray, width: int) -> np.ndarray:
        """``width`` bytes from each ``at`` (rows x width; 0 past ``end`` and for ``at`` < 0)."""
        if len(self.data) < width:
            data = np.concatenate([self.data, np.zeros(width, dtype=np.uint8)])
        else:
            data = self.data
        windows = np.lib.stride_tricks.sliding_window_view(data, width)
        last = len(windows) - 1
        rows = windows[np.clip(at, 0, last)]  # a copy, row by row
        for row in np.flatnonzero(at > last):  # the buffer's last few bytes: read one by one
            tail = data[at[row] : at[row] + width]
            rows[row] = np.concatenate([tail, np.zeros(width - len(tail), dtype=np.uint8)])
        length = np.where(at >= 0, np.clip(end - at, 0, width), 0)
        short = np.flatnonzero(length < width)  # few: most lines are longer than a read
        rows[short] *= np.arange(width) < length[short, None]
        return rows

    def after_pid(self, rows: np.ndarray) -> np.ndarray:
        """After each line's first "]" and its ": " (-1 if not followed by ": ")."""
        begin, end = self.begin[rows], self.end[rows]
        head = self.read(begin, end, WINDOW)
        bracket = head == ord("]")
        first, seen = begin + np.argmax(bracket, axis=1), bracket.any(axis=1)
        far = np.flatnonzero(~seen & (end - begin > WINDOW))
        if len(far):  # a long header: the search goes on past the window (few lines)
            found = pc.find_substring(self.binary.take(pa.array(rows[far])), "]")
            found = pc.fill_null(found, -1).to_numpy(zero_copy_only=False)
            first[far], seen[far] = begin[far] + found, found >= 0
        after = self.read(np.where(seen, first + 1, -1), end, 2)
        fits = seen & (after[:, 0] == ord(":")) & (after[:, 1] == ord(" "))
        return np.where(fits, first + 3, -1)


def _words(matrix: np.ndarray) -> np.ndarray:
    """Rows of bytes as big-endian 64-bit words: a prefix compares as a masked word."""
    return np.ascontiguousarray(matrix).view(">u8").astype(np.uint64)


def _starts_with(words: np.ndarray, literal: bytes) -> np.ndarray:
    size = -(-len(literal) // 8) * 8
    value = np.frombuffer(literal.ljust(size, b"\0"), ">u8").astype(np.uint64)
    mask = np.frombuffer((b"\xff" * len(literal)).ljust(size, b"\0"), ">u8").astype(np.uint64)
    hit = (words[:, 0] & mask[0]) == value[0]
    for word in range(1, size // 8):
        hit &= (words[:, word] & mask[word]) == value[word]
    return hit


class _Keys:
    """The first bytes of the messages of one (daemon, shape) group of lines.

    A message starts where the shape's header skip ends. After a pid's "]: " that is one
    place; an Exim stamp's optional zone and pid ("10:06:00 +0100 [4301] ") give several
    (``STAMP_PARTS``): the skip may end at any of them, so a rule is tried where any of them
    starts with one of its prefixes. Syslog lines without a pid (the skip may end after any
    " word: ") are tried on every rule."""

    def __init__(self, buffer: _Buffer, rows: np.ndarray, shape: str):
        self.buffer, self.rows, self.end = buffer, rows, buffer.end[rows]
        self.open = np.ones(len(rows), dtype=bool)  # not matched yet
        begin = buffer.begin[rows]
        self.everywhere = buffer.null[rows].copy()  # as the plain loop sees them
        self.starts: list[np.ndarray] = []
        self._words: dict[tuple[str, int], np.ndarray] = {}
        self._hits: dict[tuple[str, int, bytes], np.ndarray] = {}
        if shape not in READ_SKIPS or READ_SKIPS[shape] != SKIPS.get(shape):
            self.everywhere[:] = True
            return
        if shape == SHAPE_PID:
            self.starts = [buffer.after_pid(rows)]
        else:
            # read as bytes (Latin-1 for RE2): every place a skip may end, whatever the UTF-8
            every = len(rows) == len(buffer.binary)  # (rows ascend: then they are all)
            heads = buffer.binary if every else buffer.binary.take(pa.array(rows))
            found = pc.extract_regex(heads, STAMP_PARTS[shape])
            read = found.is_valid().to_numpy(zero_copy_only=False)
            size = {
                name: pc.fill_null(pc.binary_length(pc.struct_field(found, name)), 0)
                .to_numpy(zero_copy_only=False)
                .astype(np.int64)
                for name in re.compile(STAMP_PARTS[shape]).groupindex
            }
            none = np.zeros(len(rows), dtype=np.int64)
            at = begin + size.get("head", none)
            ends = [at] if "head" in size else []  # syslog: before a piece too
            for part in ("piece", "stamp", "zone", "pid"):
                at = at + size.get(part, none)
                ends.append(np.where(size.get(part, none) > 0, at, -1))
            self.starts = [np.where(read, e, -1) for e in ends]
        self.starts = [e for e in self.starts if (e >= 0).any()]

    def _words_at(self, index: int, kind: MessageId | None) -> np.ndarray:
        """The first KEY_BYTES of a message from its start number ``index``, or (``kind``)
        from the ``sep`` after the id that opens it (0 where no such id does)."""
        at = self.starts[index]
        rows = np.flatnonzero(at >= 0)  # read only the lines with such a start
        at, end = at[rows], self.end[rows]
        if kind is not None and len(rows):
            width = _ID_WIDTHS[kind.marker]
            head = self.buffer.read(at, end, width)
            chunks = pa.py_buffer(head.tobytes())
            offsets = pa.py_buffer(np.arange(len(at) + 1, dtype=np.int64) * width)
            heads = pa.LargeBinaryArray.from_buffers(
                pa.large_binary(), len(at), [None, offsets, chunks]
            )
            pattern = f"^(?:{kind.value}){re.escape(kind.sep)}"
            opened = pc.match_substring_regex(heads, pattern).to_numpy(zero_copy_only=False)
            rows = rows[opened]
            at = at[opened] + np.argmax(head[opened] == ord(kind.sep), axis=1)
            end = end[opened]
        words = np.zeros((len(self.end), KEY_BYTES // 8), dtype=np.uint64)
        if len(rows):
            words[rows] = _words(self.buffer.read(at, end, KEY_BYTES))
        return words

    def candidates(self, prefixes: Prefixes) -> np.ndarray:
        """Which open lines (positions in ``rows``) a rule with these prefixes may match."""
        if prefixes is None:
            return self.open.copy()
        maybe = self.everywhere.copy()
        for index in range(len(self.starts)):
            for marker, literal in prefixes:
                if (marker, index) not in self._words:
                    kind = _BY_MARKER.get(marker)
                    self._words[(marker, index)] = self._words_at(index, kind)
                if (marker, index, literal) not in self._hits:  # rules share prefixes ("H=")
                    words = self._words[(marker, index)]
                    self._hits[(marker, index, literal)] = _starts_with(words, literal)
                maybe |= self._hits[(marker, index, literal)]
        return maybe & self.open

    def close(self, matched: np.ndarray) -> None:
        """Take the ``matched`` positions out; once half the lines are out, drop them from
        every array, so later rules compare only what is left."""
        self.open[matched] = False
        if self.open.sum() * 2 >= len(self.open):
            return
        keep = self.open
        self.rows, self.end, self.everywhere = (
            self.rows[keep],
            self.end[keep],
            self.everywhere[keep],
        )
        self.starts = [start[keep] for start in self.starts]
        self._words = {key: words[keep] for key, words in self._words.items()}
        self._hits = {}  # cheaper to compare again than to filter
        self.open = np.ones(len(self.rows), dtype=bool)


# --- running the rules -------------------------------------------------------------------

Reader = Callable[[Rule, str, np.ndarray, pa.Array], pa.Table]


def groups_of(daemon: pd.Series, shape: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """The rows (ascending) of each (daemon, shape), in the order the rules visit them."""
    codes, names = pd.factorize(daemon)
    shape_codes, shape_names = pd.factorize(pd.Series(shape, dtype=object))
    # one pass over the lines: group rows by (daemon, shape) via a combined integer code
    combined = np.where(codes >= 0, codes * len(shape_names) + shape_codes, -1)
    order = np.argsort(combined, kind="stable")
    bounds = np.searchsorted(combined[order], np.arange(len(names) * len(shape_names) + 1))
    groups = {}
    for code, name in enumerate(names):
        for shape_code, kind in enumerate(shape_names):
            group = code * len(shape_names) + shape_code
            rows = np.sort(order[bounds[group] : bounds[group + 1]])
            if len(rows):
                groups[(name, kind)] = rows
    return groups


def match_lines(
    lines: pa.Array, daemon: pd.Series, shape: np.ndarray, rules: Sequence[Rule], read: Reader
) -> list[pa.Table]:
    """Each rule on the still unmatched lines of its daemons that it may match (``_Keys``),
    first match wins: ``read`` makes a table of a rule's groups on the lines it matched."""
    groups, buffer = groups_of(daemon, shape), _Buffer(lines)
    keys: dict[tuple[str, str], _Keys] = {}
    pieces = []
    for rule in rules:
        known = rule.regex in BUILT_IN_PREFIXES
        prefixes = BUILT_IN_PREFIXES[rule.regex] if known else rule_prefixes(rule.regex)
        for (name, kind), rows in groups.items():
            if name not in rule.daemons:
                continue
            if (name, kind) not in keys:
                keys[(name, kind)] = _Keys(buffer, rows, kind)
            group = keys[(name, kind)]
            tried = np.flatnonzero(group.candidates(prefixes))
            pattern = whole_line_pattern(rule.regex, kind)
            if not len(tried):
                if not known and group.open.any():  # a regex RE2 refuses fails as it would
                    pc.match_substring_regex(pa.array([""], STRING), pattern)
                continue
            subset = lines.take(pa.array(group.rows[tried]))
            hit = pc.match_substring_regex(subset, pattern).to_numpy(zero_copy_only=False)
            if not hit.any():
                continue
            claimed = subset.filter(pa.array(hit))
            pieces.append(read(rule, kind, group.rows[tried[hit]], claimed))
            group.close(tried[hit])
    return pieces


def whole_line_pattern(regex: str, shape: str = SHAPE_PID) -> str:
    """A rule's message pattern (``^...$``) made to match the whole line, header included."""
    return f"{SKIPS[shape]}(?:{regex[1:-1]})$"


# --- cutting the most frequent messages -------------------------------------------------------

_POSTFIX = {rule.name: rule for rule in POSTFIX_RULES}
_EXIM = {rule.name: rule for rule in EXIM_RULES}
_ADDRESS = r"[0-9A-Fa-f:.]+"
_QID, _HOST = QUEUE_ID_VALUE, r"[^\s\[\]]+\[[0-9A-Fa-f:.]+\]"


@dataclass(frozen=True, slots=True)
class Cut:
    """A frequent message's usual form, whose fields its separators cut out exactly.

    Attributes:
        rule: the rule whose groups are cut (only that regex: a changed rule is not cut).
        form: the usual form (``^...$``, no groups). On a line in this form each step's
            separator cannot occur in the field before it, so the rule's groups are the
            text between the separators (tests/test_dispatch.py checks it against RE2).
        steps: (group or "", separator): the text up to the separator's first occurrence
            is the group (nothing for ""), and the cut goes on after the separator.
        last: (group, text it starts with, bytes it ends with) for what is left: the group
            is that without them.
        shape: the header the lines have (SHAPE_PID; SHAPE_EXIM: Exim's usual header,
            EXIM_USUAL_HEADER). A last step's separator may be missing: the group is the rest.
        after: the group after which what is left is ``_after`` (an Exim host rule's first
            reading, ``_fragments.exim_host_readings``, whose groups are cut).
    """

    rule: Rule
    form: str
    steps: tuple[tuple[str, str], ...]
    last: tuple[str, str, int] | None = None
    shape: str = SHAPE_PID
    after: str | None = None

    def whole_line(self) -> str:
        """The usual form of the whole line: its header's usual form, then ``form``."""
        if self.shape == SHAPE_EXIM:
            return EXIM_USUAL_HEADER + self.form[1:]
        return whole_line_pattern(self.form, self.shape)


# How the usual header of each shape a cut reads ends (``Cut.whole_line``).
_HEADER_ENDS = {SHAPE_PID: "]: ", SHAPE_EXIM: "] "}


CUTS = {
    cut.rule.name: cut
    for cut in (
        Cut(  # "3F2A41C0B2: to=<b@x>, relay=mx[1.2.3.4]:25, delay=2.1, delays=..., dsn=2.0.0,"
            _POSTFIX["delivery"],
            rf"^{_QID}: to=<[^>,]*>, relay=[^,]+, delay=[0-9.]+, delays=[0-9./]+, "
            r"dsn=[245]\.[0-9]{1,3}\.[0-9]{1,3}, status=[A-Za-z]+ \(.*\)$",
            (("queue_id", ": to=<"), ("recipient", ">, relay="), ("relay", ", delay="))
            + (("delay", ", delays="), ("delays", ", dsn="), ("dsn", ", status="))
            + (("status", " ("),),
            ("reply", "", 1),
        ),
        Cut(  # "connect from mail.example[192.0.2.1]"
            _POSTFIX["smtpd_connect"],
            rf"^connect from {_HOST}$",
            (("", "connect from "), ("client_host", "["), ("client_ip", "]")),
        ),
        Cut(  # "disconnect from mail.example[192.0.2.1] ehlo=1 mail=1 quit=1 commands=3"
            _POSTFIX["smtpd_disconnect"],
            rf"^disconnect from {_HOST}(?: .*)?$",
            (("", "disconnect from "), ("client_host", "["), ("client_ip", "]")),
            ("stats", " ", 0),
        ),
        Cut(  # "3F2A41C0B2: client=mail.example[192.0.2.1]"
            _POSTFIX["smtpd_client"],
            rf"^{_QID}: client={_HOST}$",
            (("queue_id", ": client="), ("client_host", "["), ("client_ip", "]")),
        ),
        Cut(  # "3F2A41C0B2: message-id=<20031121091503.1234@acme.example>"
            _POSTFIX["cleanup_message_id"],
            rf"^{_QID}: message-id=<[^<>]*>$",
            (("queue_id", ": message-id=<"),),
            ("message_id", "", 1),
        ),
        Cut(  # "3F2A41C0B2: from=<a@x>, size=2345, nrcpt=2 (queue active)"
            _POSTFIX["qmgr_queued"],
            rf"^{_QID}: from=<[^>]*>, size=[0-9]+, nrcpt=[0-9]+ \(queue active\)$",
            (("queue_id", ": from=<"), ("sender", ">, size="), ("size", ", nrcpt="))
            + (("nrcpt", " ("),),
        ),
        Cut(_POSTFIX["qmgr_removed"], rf"^{_QID}: removed$", (("queue_id", ":"),)),
        Cut(  # "SMTP connection from [192.0.2.1]:4711 I=[192.0.2.13]:25 (TCP/IP connection..."
            _EXIM["exim_connection_open"],
            rf"^SMTP connection from \[{_ADDRESS}\]:[0-9]+ I=\[{_ADDRESS}\]:[0-9]+"
            r"(?: \(TCP/IP connection count = [0-9]+\))?$",
            (("", "SMTP connection from ["), ("client_ip", "]"), ("", ":"))
            + (("client_port", " I=["), ("local_ip", "]:"), ("local_port", " ")),
            shape=SHAPE_EXIM,
            after="client_ip",
        ),
    )
}


def extract_groups(
    rule: Rule, lines: pa.Array, shape: str, cut: bool = True, reading: str | None = None
) -> pa.Array:
    """``pc.extract_regex`` of a rule (or of its ``reading``: an Exim host rule's first, see
    ``_fragments.exim_host_readings``) on lines it matched (a struct of its groups): with
    ``cut``, cut by separators where a line is in the rule's usual form (``CUTS``), which
    costs a fraction of RE2's extraction, and extracted by the regex everywhere else."""
    pattern = whole_line_pattern(reading or rule.regex, shape)
    usual_form = CUTS.get(rule.name) if cut else None
    if usual_form is None or usual_form.rule != rule or usual_form.shape != shape or not len(lines):
        return pc.extract_regex(lines, pattern)
    kind = pc.extract_regex(lines.slice(0, 0), pattern).type
    form = usual_form.whole_line()
    return cut_where_usual(lines, form, lambda usual: _cut(usual, usual_form, kind), pattern)


def cut_where_usual(
    lines: pa.Array, form: str, cut: Callable[[pa.Array], pa.Array], pattern: str
) -> pa.Array:
    """``pc.extract_regex(lines, pattern)``, made by ``cut`` on the lines that match ``form``
    (a usual form, in which cutting gives exactly the groups) and by RE2 on the others."""
    matched = pc.fill_null(pc.match_substring_regex(lines, form), False)
    if pc.all(matched).as_py():  # (the usual case: no rows to pick)
        return cut(lines)
    usual = matched.to_numpy(zero_copy_only=False)
    usual_rows, other_rows = np.flatnonzero(usual), np.flatnonzero(~usual)
    if not len(usual_rows):
        return pc.extract_regex(lines, pattern)
    found = cut(lines.take(pa.array(usual_rows)))
    extracted = pc.extract_regex(lines.take(pa.array(other_rows)), pattern)
    order = np.argsort(np.concatenate([usual_rows, other_rows]), kind="stable")
    return pa.concat_arrays([found, extracted]).take(pa.array(order))


def _cut(lines: pa.Array, cut: Cut, kind: pa.StructType) -> pa.StructArray:
    rest = lines.cast(pa.large_binary())
    values: dict[str, pa.Array] = {}
    steps = (("", _HEADER_ENDS[cut.shape]), *cut.steps)
    for at, (group, separator) in enumerate(steps):
        parts = pc.split_pattern(rest, separator, max_splits=1)
        if group:
            values[group] = pc.list_element(parts, 0)
        if at == len(steps) - 1 and cut.last is None:
            break  # (its separator may be missing)
        rest = pc.list_element(parts, 1)
        if group and group == cut.after:
            values["_after"] = rest
    if cut.last is not None:
        group, start, end = cut.last
        if start:  # (binary_slice from a start past some strings' ends fails: pyarrow 26)
            rest = pc.replace_substring(rest, start, "", max_replacements=1)
        values[group] = pc.binary_slice(rest, 0, -end) if end else rest
    empty = pa.array([b""] * len(lines), pa.large_binary())  # a group that took no part
    fields = [kind.field(i) for i in range(kind.num_fields)]
    columns = [values.get(f.name, empty).view(f.type) for f in fields]
    return pa.StructArray.from_arrays(columns, fields=fields)
