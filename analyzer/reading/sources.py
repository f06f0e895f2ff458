"""Log files in: globs, compression, decoding, one frame of lines per run.

Compression is recognised by magic bytes, not by name, so a rotated file that was
compressed later, or a ``.1`` file that is really gzip, still reads.
"""

from __future__ import annotations

import bz2
import contextlib
import fnmatch
import glob
import gzip
import io
import lzma
import os
import re
import socket
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer import schema as s
from analyzer.errors import InputError
from analyzer.reading.journal import normalise, text_format

PATH = "path"
MTIME = "mtime"
FORMAT = "format"  # "syslog" (Postfix, syslog-wrapped Exim) or "exim" (an Exim mainlog)
FORMATS = ("auto", "syslog", "exim")
# "-" as a log: standard input (read once, by ``read_logs``; ``ingest`` needs files).
STDIN = Path("-")
# Exim log folders and files that name no server: "/var/log/exim4/mainlog".
_GENERIC_NAMES = {"exim", "exim4", "log", "logs", "mainlog", "mail", "maillog", ""}

_MAGIC = (
    (b"\x1f\x8b", gzip.open),
    (b"BZh", bz2.open),
    (b"\xfd7zXZ\x00", lzma.open),
)
# Read compressed and plain files in blocks of this many bytes (bounded memory per block).
BLOCK_BYTES = 64 * 1024 * 1024


def expand_logs(
    patterns: Iterable[str | os.PathLike[str]], base_dir: Path | None = None
) -> list[Path]:
    """Expand globs (relative ones against ``base_dir``) into existing files, sorted, unique.

    Raises:
        InputError: a pattern that names no readable file (a typo must not yield an empty run).
    """
    found: dict[Path, None] = {}
    for pattern in patterns:
        text = os.path.expanduser(os.fspath(pattern))
        if text == "-":
            found[STDIN] = None
            continue
        if base_dir is not None and not os.path.isabs(text) and text != "-":
            text = os.fspath(base_dir / text)
        if not glob.has_magic(text) and os.path.isdir(text):
            raise InputError(
                f"{os.fspath(pattern)} is a folder, not a log file: name the files in it "
                f"(e.g. '{os.path.join(text, 'mail.log*')}')"
            )
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        matches = [m for m in matches if not os.path.isdir(m)]
        if not matches:
            raise InputError(f"no log file matches {os.fspath(pattern)!r}")
        for match in matches:
            path = Path(match)
            try:
                is_file = path.is_file()
            except OSError as exc:  # e.g. a folder on the way this user may not enter
                raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
            if not is_file:
                raise InputError(f"log file not found: {path}")
            if not os.access(path, os.R_OK):
                raise InputError(f"log file is not readable: {path}")
            found[path] = None
    return list(found)


def is_compressed(path: Path) -> bool:
    """Whether a log is gzip, bzip2 or xz (by its magic bytes, like ``open_log``)."""
    try:
        with open(path, "rb") as probe:
            head = probe.read(6)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return any(head.startswith(magic) for magic, _ in _MAGIC)


def open_log(path: Path):
    """Open a log for binary reading, decompressing gzip, bzip2 or xz by magic bytes."""
    if path == STDIN:
        return _stdin()
    try:
        with open(path, "rb") as probe:
            head = probe.read(6)
        for magic, opener in _MAGIC:
            if head.startswith(magic):
                return opener(path, "rb")
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _stdin():
    """Standard input as a log (decompressed by its magic bytes; never closed here)."""
    handle = sys.stdin.buffer
    head = handle.peek(6)[:6] if hasattr(handle, "peek") else b""
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            return opener(handle, "rb")
    return contextlib.nullcontext(handle)


def iter_line_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[pa.LargeStringArray]:
    """Yield the lines of one file in blocks, decoded as UTF-8 (bad bytes become U+FFFD).

    A block always ends at a line end; the last line is kept even without a newline
    (a truncated line is a line to count, not to lose). Trailing CR is removed.
    """
    for block in read_blocks(path, 0, block_bytes):
        yield block.lines


class Block(NamedTuple):
    """Lines read from a file, the (decompressed) byte offset just after them, the last
    bytes before that offset (to recognise the file's text later), how many lines the
    block's bytes hold, and the place (0-based) of each line kept among them: None when
    every line is kept (see ``read_blocks``, ``blank_samples``)."""

    lines: pa.LargeStringArray
    end: int
    tail: bytes
    count: int
    places: np.ndarray | None = None

    @property
    def blank(self) -> int:
        """Blank lines read but not kept."""
        return self.count - len(self.lines)


TAIL_BYTES = 64
# One read from a log. Line ends are counted and an overlong line is cut per read, so what
# a block holds is bounded whatever the file: no line end for a gigabyte, or nothing else.
READ_BYTES = 1024 * 1024


def read_blocks(
    path: Path,
    start: int = 0,
    block_bytes: int = BLOCK_BYTES,
    hold_partial: bool = False,
    *,
    stop: int | None = None,
    max_lines: int | None = None,
    blank_samples: int | None = None,
) -> Iterator[Block]:
    """Yield the lines of one file from byte ``start`` (of the decompressed text) in blocks
    of about ``block_bytes`` and at most ``max_lines`` lines, up to byte ``stop``.

    With ``hold_partial``, a last line without its newline is not read: the writer may be
    in the middle of it, and the next run reads it whole. With ``blank_samples``, only the
    first that many lines of a run of empty lines are kept (the rest are counted in
    ``Block.count``): a file of nothing but line ends costs no memory per line.
    """
    position = start
    run = 0  # empty lines just before the block (a run goes on across blocks)
    try:
        with open_log(path) as handle:
            skip_to(handle, start)
            source = handle if stop is None else _Bounded(handle, stop - start)
            for text in line_texts(source, block_bytes, max_lines):
                if text.whole or not hold_partial:
                    position += text.size
                    places = None
                    if blank_samples is not None and len(text.data) == text.lines - 1:
                        # nothing but line ends: no array of empty lines to build and filter
                        lines, places, run = _empty_lines(text.lines, run, blank_samples)
                    elif blank_samples is not None:
                        lines = lines_from_bytes(text.data)
                        lines, places, run = drop_blank_runs(lines, run, blank_samples)
                    else:
                        lines = lines_from_bytes(text.data)
                    yield Block(lines, position, text.tail, text.lines, places)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc


class _Bounded:
    """A reader that ends after ``left`` bytes of ``handle`` (a byte range of a log)."""

    def __init__(self, handle, left: int):
        self.handle, self.left = handle, left

    def read(self, size: int) -> bytes:
        got = self.handle.read(max(min(size, self.left), 0))
        self.left -= len(got)
        return got


class RawLines(NamedTuple):
    """Bytes of whole lines read from a log: ``data`` holds ``lines`` lines joined by
    newlines (a line over ``MAX_LINE_BYTES`` only up to ``KEPT_BYTES``: the rest is not
    kept), ``size`` the bytes they took in the file with their line ends, ``tail`` the last
    of those bytes; ``whole`` False for a last line without its newline."""

    data: bytes
    lines: int
    size: int
    tail: bytes
    whole: bool


def line_texts(handle, block_bytes: int, max_lines: int | None = None) -> Iterator[RawLines]:
    """Read ``handle`` into texts of about ``block_bytes`` and at most ``max_lines`` lines,
    each up to a line end; then what follows the last newline, if anything (``whole``
    False: a line its writer may not have finished).

    Memory stays within a block plus one read: a line is cut as it is read, so a file
    without a line end is read in linear time and never held whole.
    """
    room = max_lines or sys.maxsize
    done: list[bytes] = []  # the block's whole lines, each with its newline
    lines = size = 0  # lines in ``done`` and the file bytes they took
    unended: list[bytes] = []  # the kept start of the line not ended yet
    kept = unended_size = 0  # its bytes kept and its bytes in the file
    tail = recent = b""  # the file's last bytes up to the last line end / read before
    while got := handle.read(READ_BYTES):
        at = 0
        ends_left = int(np.count_nonzero(np.frombuffer(got, np.uint8) == 10))  # 3x bytes.count
        while at < len(got):
            upto, ends = _after_line_ends(got, at, ends_left, room - lines)
            ends_left -= ends
            piece = got[at:upto]
            first = piece.find(b"\n")
            if first < 0:  # the unended line goes on
                if kept < KEPT_BYTES:
                    unended.append(piece[: KEPT_BYTES - kept])
                    kept += len(unended[-1])
                unended_size += len(piece)
            else:
                last = piece.rfind(b"\n")
                done.extend(unended)
                if first <= KEPT_BYTES - kept:
                    done.append(piece[: last + 1])
                else:  # the unended line was too long: keep enough of it to cut and mark
                    done += [piece[: max(KEPT_BYTES - kept, 0)], piece[first : last + 1]]
                lines += ends
                size += unended_size + last + 1
                rest = piece[last + 1 :]
                unended, unended_size = [rest[:KEPT_BYTES]], len(rest)
                kept = len(unended[0])
                tail = _last_bytes(recent, got, at + last + 1)
            at = upto
            if lines and (lines >= room or size >= block_bytes):
                yield _whole_text(done, lines, size, tail)
                done, lines, size = [], 0, 0
        recent = _last_bytes(recent, got, len(got))
    if lines:
        yield _whole_text(done, lines, size, tail)
    if unended_size:
        yield RawLines(b"".join(unended), 1, unended_size, recent, False)


def _after_line_ends(data: bytes, at: int, ends_left: int, count: int) -> tuple[int, int]:
    """The offset just after the ``count``-th line end of ``data`` from ``at`` (its end if
    it has fewer: ``ends_left``), and the line ends before that offset."""
    if ends_left <= count:
        return len(data), ends_left
    ends = np.flatnonzero(np.frombuffer(data, np.uint8, offset=at) == 10)
    return at + int(ends[count - 1]) + 1, count


def _last_bytes(before: bytes, data: bytes, end: int) -> bytes:
    """The last ``TAIL_BYTES`` of the file up to ``data[:end]`` (``before``: those before
    ``data``)."""
    last = data[max(end - TAIL_BYTES, 0) : end]
    return last if len(last) == TAIL_BYTES else (before + last)[-TAIL_BYTES:]


def _whole_text(done: list[bytes], lines: int, size: int, tail: bytes) -> RawLines:
    # The last line end (CRLF or LF) is the block's edge, not part of a line.
    done[-1] = done[-1][:-1]
    while done and not done[-1]:
        done.pop()
    if done and done[-1].endswith(b"\r"):
        done[-1] = done[-1][:-1]
    return RawLines(b"".join(done), lines, size, tail, True)


def _empty_lines(
    count: int, run: int, samples: int
) -> tuple[pa.LargeStringArray, np.ndarray | None, int]:
    """``drop_blank_runs`` of ``count`` empty lines."""
    kept = min(max(samples - run, 0), count)
    places = None if kept == count else np.arange(kept)
    return pa.array([""] * kept, pa.large_string()), places, run + count


def drop_blank_runs(
    lines: pa.LargeStringArray, run: int, samples: int
) -> tuple[pa.LargeStringArray, np.ndarray | None, int]:
    """The lines without the empty ones beyond the first ``samples`` of each run of them
    (``run``: empty lines just before these, a run that goes on), the place of each line
    kept (None: all are), and the empty lines at the end (the run the next block goes on).
    """
    offsets = np.frombuffer(lines.buffers()[1], np.int64, len(lines) + 1, lines.offset * 8)
    blank = offsets[1:] == offsets[:-1]
    if not blank.any():
        return lines, None, 0
    place = np.arange(len(lines))
    # the last non-empty line at or before each line (-1 - run: before the block)
    written = np.maximum.accumulate(np.where(blank, -1 - run, place))
    keep = ~blank | (place - written <= samples)
    run_after = len(lines) - 1 - int(written[-1])
    if keep.all():
        return lines, None, run_after
    kept = np.flatnonzero(keep)
    return lines.filter(pa.array(keep)), kept, run_after


def skip_to(handle, offset: int) -> None:
    """Move a just-opened log to ``offset``: a seek for plain files, reading for compressed."""
    if offset <= 0:
        return
    if isinstance(handle, io.BufferedReader):
        handle.seek(offset)
        return
    left = offset
    while left > 0:
        got = handle.read(min(left, READ_BYTES))
        if not got:
            break
        left -= len(got)


def read_range(path: Path, start: int, stop: int) -> bytes:
    """The bytes ``start``..``stop`` of a log's (decompressed) text; shorter if it ends first."""
    try:
        with open_log(path) as handle:
            skip_to(handle, start)
            return handle.read(max(stop - start, 0))
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc


def first_line(path: Path, limit: int = 4096) -> bytes | None:
    """A log's first line with its newline (at most ``limit`` bytes); None while it has none."""
    head = read_range(path, 0, limit)
    cut = head.find(b"\n")
    if cut >= 0:
        return head[: cut + 1]
    return head if len(head) >= limit else None


# No syslog daemon writes lines this long (rsyslog's default limit is 8 KiB); longer ones are
# attacks or corruption. They are cut, marked and still counted, so a run of 1 MB lines
# cannot eat the memory and regex time of a million real ones.
MAX_LINE_BYTES = 64 * 1024
CUT_MARK = b" [relaywatch: line cut at 64 KiB]"
# What is kept of a line without its end yet: enough for ``lines_from_bytes`` to cut and
# mark it (a CR before the newline does not count, so one byte more than that).
KEPT_BYTES = MAX_LINE_BYTES + 2


def lines_from_bytes(data: bytes) -> pa.LargeStringArray:
    """Split newline-separated bytes into a string array (CRLF read as LF; lines over
    ``MAX_LINE_BYTES`` cut and marked).

    The lines' bytes are joined into one buffer and the array is built from that buffer and
    the line offsets, without a Python string per line; bad UTF-8 becomes U+FFFD.
    """
    fast = _plain_lines(data)
    if fast is not None:
        return fast
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        data = data.decode("utf-8", errors="replace").encode("utf-8")
    if b"\r\n" in data:
        data = data.replace(b"\r\n", b"\n")
    parts = data.split(b"\n")
    lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    for i in np.flatnonzero(lengths > MAX_LINE_BYTES):  # rare: only the overlong lines
        parts[i] = parts[i][:MAX_LINE_BYTES].decode("utf-8", "ignore").encode() + CUT_MARK
        lengths[i] = len(parts[i])
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(
        len(parts), pa.py_buffer(offsets), pa.py_buffer(b"".join(parts))
    )


def _plain_lines(data: bytes) -> pa.LargeStringArray | None:
    """``lines_from_bytes`` for the usual text (ASCII or valid UTF-8, LF only, no overlong
    line) with numpy: a third of the time of splitting into Python bytes objects. None for
    anything else."""
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    raw = np.frombuffer(data, dtype=np.uint8)
    newline = raw == 10
    ends = np.flatnonzero(newline)
    starts = np.r_[0, ends + 1]
    lengths = np.r_[ends, len(raw)] - starts
    if lengths.max() > MAX_LINE_BYTES or (raw[ends[ends > 0] - 1] == 13).any():
        return None
    offsets = np.r_[starts - np.arange(len(starts)), len(raw) - len(ends)].astype(np.int64)
    body = raw[~newline] if len(ends) else raw
    return pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(body))


def read_logs(
    paths: list[Path], limit_bytes: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read files into one frame of lines and a frame describing the files (with
    ``limit_bytes``, about that many bytes of text from the start of each: a sample).

    A journal JSON export or an RFC 5424 file (told by its first lines) is read as the
    syslog lines it holds (``analyzer.reading.journal``), one line for one line.

    Returns:
        lines: ``source`` (index into sources), ``line_no`` (1-based), ``raw`` (string).
        sources: ``source``, ``path``, ``mtime`` (UTC) for each file, in the given order.
    """
    frames = []
    meta = []
    for index, path in enumerate(paths):
        try:
            stamp = path.stat().st_mtime if path != STDIN else pd.Timestamp.now("UTC").timestamp()
            mtime = pd.Timestamp(stamp, unit="s", tz="UTC")
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from exc
        meta.append({s.SOURCE: index, PATH: str(path), MTIME: mtime})
        first = 1
        kind = None
        for block in read_blocks(path, 0, min(BLOCK_BYTES, limit_bytes or BLOCK_BYTES)):
            if first == 1:
                kind = text_format(block.lines)
            frames.append(lines_frame(normalise(block.lines, kind), index, first))
            first += block.count
            if limit_bytes is not None and block.end >= limit_bytes:
                break
    sources = pd.DataFrame(meta, columns=[s.SOURCE, PATH, MTIME])
    if not frames:
        return lines_frame(pa.array([], pa.large_string()), 0, 1), sources
    return pd.concat(frames, ignore_index=True), sources


def lines_frame(
    block: pa.LargeStringArray, source: int, first_line_no: int, places: np.ndarray | None = None
) -> pd.DataFrame:
    """The lines frame of one file's lines: ``line_no`` counts on from ``first_line_no``, or
    is ``first_line_no`` plus each line's place (``Block.places``: lines were left out)."""
    count = len(block)
    numbers = np.arange(count, dtype=np.int64) if places is None else places.astype(np.int64)
    return pd.DataFrame(
        {
            s.SOURCE: np.full(count, source, dtype=np.int32),
            s.LINE_NO: numbers + first_line_no,
            s.RAW: pd.arrays.ArrowExtensionArray(block),
        }
    )


def exim_server_name(
    path: Path, servers: Mapping[str, Sequence[str]], base_dir: Path | None
) -> str:
    """The server an Exim mainlog belongs to (Exim lines name no host).

    A ``[servers.NAME] logs`` glob that matches the path wins; else the file name
    (``exim-mail1.log`` -> ``mail1``), else the folder (``/var/log/exim4-mx2/mainlog`` ->
    ``mx2``), else this machine's host name (``/var/log/exim4/mainlog``).
    """
    resolved = path.resolve()
    for name, globs in sorted(servers.items()):
        for pattern in globs:
            full = (
                pattern if base_dir is None or os.path.isabs(pattern) else str(base_dir / pattern)
            )
            if fnmatch.fnmatch(str(resolved), str(Path(full).resolve())) or fnmatch.fnmatch(
                str(path), full
            ):
                return name
    for candidate in (path.name, path.parent.name):
        stem = re.sub(r"(?:\.(?:log|gz|bz2|xz|[0-9]+))+$", "", candidate)
        stem = re.sub(r"^exim4?[-_.]?", "", stem)
        stem = re.sub(r"^mainlog[-_.]?", "", stem)
        if stem.lower() not in _GENERIC_NAMES:
            return stem
    return socket.gethostname().split(".")[0]


def label_sources(
    sources: pd.DataFrame,
    formats: Mapping[int, str],
    servers: Mapping[str, Sequence[str]],
    base_dir: Path | None,
) -> pd.DataFrame:
    """Add ``format`` (per source, as detected or forced) and ``server`` (Exim mainlogs)."""
    fmt = sources[s.SOURCE].map(formats).astype(object).fillna("syslog")
    server = [
        exim_server_name(Path(p), servers, base_dir) if f == "exim" else None
        for p, f in zip(sources[PATH], fmt, strict=True)
    ]
    return sources.assign(**{FORMAT: fmt.to_numpy(), s.SERVER: server})


# journald, read through journalctl (its JSON made syslog lines by analyzer.reading.journal)


def journalctl_command(cursor: str | None, units: Sequence[str]) -> list[str]:
    """``journalctl -o json`` for the entries after ``cursor`` of ``units`` (all if none)."""
    command = ["journalctl", "-o", "json", "--no-pager"]
    if cursor:
        command += ["--after-cursor", cursor]
    for unit in units:
        command += ["-u", unit]
    return command


def read_journal(
    cursor: str | None, units: Sequence[str], block_bytes: int, max_lines: int | None = None
) -> Iterator[pa.LargeStringArray]:
    """The raw JSON lines journalctl prints after ``cursor``, in blocks of whole lines (about
    ``block_bytes``, at most ``max_lines``).

    Raises:
        InputError: journalctl is missing or fails.
    """
    command = journalctl_command(cursor, units)
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
        except OSError as exc:
            raise InputError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
        try:
            for text in line_texts(process.stdout, block_bytes, max_lines):
                if text.whole:  # a last line without its newline is an entry not finished
                    yield lines_from_bytes(text.data)
        finally:
            process.stdout.close()
            code = process.wait()
        if code != 0:
            errors.seek(0)
            why = errors.read().decode("utf-8", "replace").strip() or f"exit status {code}"
            raise InputError(f"{' '.join(command)} failed: {why}")
    # a last line without its newline is an entry journalctl did not finish: not read
