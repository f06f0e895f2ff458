"""Which log files have new text since the last ingest, and from where.

Files are known by identity, not by name (``analyzer.store.parquet.FileRecord``): device and
inode, a SHA-256 of the first line, and the bytes just before the offset reached. So a
rotated file (renamed, copied and truncated, or compressed later) is read on from where the
last run stopped, and an unchanged file is not even opened. ``analyzer.store.ingest`` reads what
these plans name, in chunks (``chunks``) bounded in bytes and in lines.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer import schema as s
from analyzer.errors import InputError
from analyzer.reading.coverage import RUN_SAMPLES
from analyzer.reading.journal import NORMALISED, normalise, text_format
from analyzer.reading.parse import StampOptions, detect_formats, parse_lines
from analyzer.reading.sources import (
    BLOCK_BYTES,
    FORMAT,
    MTIME,
    PATH,
    STDIN,
    Block,
    first_line,
    is_compressed,
    label_sources,
    lines_frame,
    lines_from_bytes,
    read_blocks,
    read_range,
)
from analyzer.settings.config import Settings
from analyzer.store import parquet as store

# A last line without its newline is left for the next run while the file is this fresh
# (its writer may be in the middle of it); an older one is a truncated line, and read.
PARTIAL_LINE_GRACE = dt.timedelta(minutes=5)
# Lines read from a new file to detect its format and first time stamp.
PROBE_BYTES = 64 * 1024
# A chunk holds at most one line per this many of its bytes (131,072 lines in 16 MiB; mail
# logs average 150-170 bytes a line). A line costs memory whatever its length, so lines
# shorter than that (empty, or two bytes of junk) must not make a chunk dearer than usual.
BYTES_PER_LINE = 128
Progress = Callable[[str], None]


@dataclass
class Read:
    """One file to read in this run, from ``start`` (an offset in its text)."""

    path: Path
    record: store.FileRecord
    stat: os.stat_result
    start: int
    hold_partial: bool
    mtime: pd.Timestamp


def plain_backlog(paths: Sequence[Path], manifest: store.Manifest) -> int:
    """About how many bytes of plain text are new (sizes beyond the offsets of files known by
    inode). Read before planning, so that helpers can be forked before arrow's threads."""
    reached = {(f.dev, f.inode): f.offset for f in manifest.files}
    total = 0
    for path in paths:
        try:
            stat = path.stat()
            if is_compressed(path):
                continue
        except (OSError, InputError):
            continue  # plan_reads says what is wrong with it
        total += max(stat.st_size - reached.get((stat.st_dev, stat.st_ino), 0), 0)
    return total


def plan_reads(
    paths: Sequence[Path],
    manifest: store.Manifest,
    settings: Settings,
    log_format: str,
    now: dt.datetime,
) -> tuple[list[Read], int, list[Path]]:
    """Which files have new text, from where, in the order to read them (oldest first); how
    many are unchanged; which hold not even one whole line."""
    reads, unchanged, empty = [], 0, []
    for path in paths:
        if path == STDIN:
            raise InputError("ingest reads files (or the journal: --journal), not standard input")
        try:
            stat = path.stat()
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from None
        known = _same_file(stat, manifest.files)
        if known is not None and not known.partial:
            unchanged += 1
            continue
        head = first_line(path)
        if head is None:  # not even one whole line yet
            empty.append(path)
            continue
        digest = hashlib.sha256(head).hexdigest()
        mtime = pd.Timestamp(stat.st_mtime, unit="s", tz="UTC")
        compressed = is_compressed(path)
        hold = not compressed and pd.Timestamp(now) - mtime < PARTIAL_LINE_GRACE
        record = match_record(path, stat, digest, manifest.files)
        if record is None:
            record = store.FileRecord(
                order=-1,
                path=str(path),
                dev=stat.st_dev,
                inode=stat.st_ino,
                size=-1,  # not read to its end yet
                mtime_ns=-1,
                head=digest,
            )
        reads.append(Read(path, record, stat, record.offset, hold, mtime))
    _describe_new_files([r for r in reads if r.record.order < 0], settings, log_format)
    reads.sort(key=lambda r: (r.record.first_ts is None, r.record.first_ts or "", r.record.order))
    order = manifest.next_order()
    for read in reads:
        if read.record.order < 0:
            read.record.order = order
            order += 1
            manifest.files.append(read.record)
    return reads, unchanged, empty


def changed_files(paths: Sequence[Path], manifest: store.Manifest) -> list[Path]:
    """The files ``ingest`` would open: new, grown or changed since it last read them."""
    changed = []
    for path in paths:
        try:
            known = _same_file(path.stat(), manifest.files)
        except OSError:
            continue  # gone meanwhile: nothing to read
        if known is None or known.partial:
            changed.append(path)
    return changed


def _same_file(
    stat: os.stat_result, records: Sequence[store.FileRecord]
) -> store.FileRecord | None:
    for record in records:
        if (record.dev, record.inode, record.size, record.mtime_ns) == (
            stat.st_dev,
            stat.st_ino,
            stat.st_size,
            stat.st_mtime_ns,
        ):
            return record
    return None


def match_record(
    path: Path, stat: os.stat_result, head: str, records: Sequence[store.FileRecord]
) -> store.FileRecord | None:
    """The known file whose text this file continues: same first line, and the same bytes
    just before the offset reached (the same inode is tried first)."""
    candidates = sorted(
        (r for r in records if r.head == head),
        key=lambda r: (r.dev, r.inode) != (stat.st_dev, stat.st_ino),
    )
    for record in candidates:
        if continues(path, record.offset, record.tail):
            return record
    return None


def continues(path: Path, offset: int, tail_hex: str) -> bool:
    """Whether the text of ``path`` has ``tail`` just before ``offset``."""
    tail = bytes.fromhex(tail_hex)
    if not tail:
        return offset == 0
    return read_range(path, offset - len(tail), offset) == tail


def _describe_new_files(reads: Sequence[Read], settings: Settings, log_format: str) -> None:
    """Format, server and first time stamp of new files, from their first lines. A journal
    JSON export or an RFC 5424 file keeps that format (its lines are made syslog lines as
    they are read: ``analyzer.store.chunker.parse_chunk``)."""
    if not reads:
        return
    frames, metas, kinds = [], [], []
    for index, read in enumerate(reads):
        text = read_range(read.path, 0, PROBE_BYTES)
        cut = text.rfind(b"\n")
        raw = lines_from_bytes(text[: cut if cut >= 0 else len(text)])
        kinds.append(text_format(raw) if log_format in ("auto", *NORMALISED) else None)
        block = lines_frame(normalise(raw, kinds[-1]), index, 1)
        frames.append(block)
        metas.append({s.SOURCE: index, PATH: str(read.path), MTIME: read.mtime})
    lines = pd.concat(frames, ignore_index=True)
    sources = pd.DataFrame(metas)
    formats = (
        detect_formats(lines)
        if log_format == "auto"
        else dict.fromkeys(range(len(reads)), log_format)
    )
    labelled = label_sources(sources, formats, settings.server_log_globs(), settings.base_dir)
    events = parse_lines(lines, labelled, StampOptions(settings.timezone, settings.year))
    dated = events[events[s.TS].notna().to_numpy()].sort_values(s.LINE_NO)
    first = dated.groupby(s.SOURCE)[s.TS].first()
    for index, read in enumerate(reads):
        record = read.record
        record.format = kinds[index] or str(labelled.at[index, FORMAT])
        server = labelled.at[index, s.SERVER]
        record.server = None if pd.isna(server) else str(server)
        ts = first.get(index, pd.NaT)
        if pd.notna(ts):
            # Year-less stamps count on from the first line's year: pieces of the file,
            # read in later runs or in parallel, then agree on every line's year.
            local = ts.tz_convert(settings.timezone)
            record.first_ts, record.year, record.month = ts.isoformat(), local.year, local.month


def line_limit(chunk_bytes: int) -> int:
    """The most lines a chunk of ``chunk_bytes`` holds (``BYTES_PER_LINE``)."""
    return max(chunk_bytes // BYTES_PER_LINE, 1)


@dataclass
class Piece:
    """Lines of one file within a chunk: ``count`` lines from ``first_line_no``, ending at
    byte ``end`` of its text (``tail``: the bytes just before). Of a run of empty lines only
    the first ``RUN_SAMPLES`` are kept: ``blank`` counts the others, ``places`` gives each
    kept line's place among the ``count`` (None: every line is kept)."""

    read: Read
    first_line_no: int
    count: int
    end: int
    tail: bytes
    lines: pa.LargeStringArray | None = None  # None when parsed elsewhere (Dask)
    complete: bool = False  # the file was read to its end
    places: np.ndarray | None = None
    blank: int = 0


def piece_of(read: Read, first_line_no: int, blocks: Sequence[Block], complete: bool) -> Piece:
    """One piece of the consecutive ``blocks`` of ``read``'s file."""
    before = np.cumsum([0] + [block.count for block in blocks])
    places = None
    if any(block.places is not None for block in blocks):
        places = np.concatenate(
            [
                (np.arange(len(block.lines)) if block.places is None else block.places) + first
                for block, first in zip(blocks, before, strict=False)
            ]
        )
    lines = pa.concat_arrays([b.lines for b in blocks]) if len(blocks) > 1 else blocks[0].lines
    count, blank = int(before[-1]), sum(block.blank for block in blocks)
    return Piece(
        read, first_line_no, count, blocks[-1].end, blocks[-1].tail, lines, complete, places, blank
    )


def chunks(
    reads: Sequence[Read],
    chunk_bytes: int,
    progress: Progress | None = None,
    stop: int | None = None,
) -> Iterator[list[Piece]]:
    """The new text of the files in chunks of about ``chunk_bytes`` and at most about
    ``line_limit(chunk_bytes)`` lines kept (a run of empty lines beyond its samples costs
    nothing); with ``stop``, the (one) read ends at that byte."""
    max_lines = line_limit(chunk_bytes)
    pending: list[Piece] = []
    size = kept = done = 0
    for read, start, lines in starts(reads):
        ends_file = stop is None or stop >= read.stat.st_size
        blocks: list[Block] = []
        found = read_blocks(
            read.path,
            start,
            chunk_bytes,
            read.hold_partial,
            stop=stop,
            max_lines=max_lines,
            blank_samples=RUN_SAMPLES,
        )
        for block, last in _with_last(found):
            blocks.append(block)
            size += block.end - start
            done += block.end - start
            kept += len(block.lines)
            start = block.end
            if size >= chunk_bytes or kept >= max_lines:
                pending.append(piece_of(read, lines + 1, blocks, last and ends_file))
                lines += pending[-1].count
                blocks = []
                if progress is not None:
                    progress(f"{done / 2**20:,.0f} MB read, at {read.path}")
                yield pending
                pending, size, kept = [], 0, 0
        if blocks:
            pending.append(piece_of(read, lines + 1, blocks, ends_file))
    if pending:
        yield pending


def _with_last(items: Iterator) -> Iterator[tuple[Any, bool]]:
    """Each item, and whether it is the last one."""
    previous = sentinel = object()
    for item in items:
        if previous is not sentinel:
            yield previous, False
        previous = item
    if previous is not sentinel:
        yield previous, True


def starts(reads: Sequence[Read]) -> Iterator[tuple[Read, int, int]]:
    """Each read with the offset and line count it starts from. A file read twice in one run
    (a copy and its compressed twin) goes on where the first read stopped, and is skipped
    if its text differs from there on."""
    reached: dict[int, Read] = {}
    for read in reads:
        record = read.record
        before = reached.get(id(record))
        reached[id(record)] = read
        if before is not None:  # read earlier in this batch (maybe not yet committed)
            offset, lines, tail = _end_of(before)
        elif record.offset != read.start:  # read and committed earlier in this run
            offset, lines, tail = record.offset, record.lines, bytes.fromhex(record.tail)
        else:
            yield read, read.start, record.lines
            continue
        if continues(read.path, offset, tail.hex()):
            yield read, offset, lines


def _end_of(read: Read) -> tuple[int, int, bytes]:
    """Where a read stops: the end of its file's text, its line count and last bytes. Read
    again from the start: only for the rare file read twice in one run, whose first read may
    not be committed yet."""
    offset = 0
    lines = 0
    tail = b""
    found = read_blocks(
        read.path, 0, BLOCK_BYTES, read.hold_partial, max_lines=line_limit(BLOCK_BYTES)
    )
    for block in found:
        offset, lines, tail = block.end, lines + block.count, block.tail
    return offset, lines, tail
