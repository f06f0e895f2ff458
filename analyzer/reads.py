"""Which log files have new text since the last ingest, and from where.

Files are known by identity, not by name (``analyzer.io.store.FileRecord``): device and
inode, a SHA-256 of the first line, and the bytes just before the offset reached. So a
rotated file (renamed, copied and truncated, or compressed later) is read on from where the
last run stopped, and an unchanged file is not even opened. ``analyzer.ingest`` reads what
these plans name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analyzer import schema as s
from analyzer.config import Settings
from analyzer.errors import InputError
from analyzer.io import store
from analyzer.io.journal import NORMALISED, normalise, text_format
from analyzer.io.sources import (
    FORMAT,
    MTIME,
    PATH,
    STDIN,
    first_line,
    is_compressed,
    label_sources,
    lines_frame,
    lines_from_bytes,
    read_range,
)
from analyzer.parse import StampOptions, detect_formats, parse_lines

# A last line without its newline is left for the next run while the file is this fresh
# (its writer may be in the middle of it); an older one is a truncated line, and read.
PARTIAL_LINE_GRACE = dt.timedelta(minutes=5)
# Lines read from a new file to detect its format and first time stamp.
PROBE_BYTES = 64 * 1024


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
    they are read: ``analyzer.ingest.parse_chunk``)."""
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
