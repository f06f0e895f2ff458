"""One chunk of log lines into the store: parsed (here or by a helper), made sessions with the
lines still open carried in from the last chunk, judged, written and committed
(``Chunker.absorb``). ``analyzer.store.ingest`` plans the reads and feeds the chunks, in this
process or through ``analyzer.store.parallel``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer import schema as s
from analyzer.judgements.pipeline import (
    delivery_lines,
    infer_local_domains,
    parse_with,
    problem_lines,
    reject_lines,
)
from analyzer.reading.coverage import BUCKETS, bucket_counts, sample_runs
from analyzer.reading.journal import NORMALISED, normalise
from analyzer.reading.parse import ORDER, START_MONTH, START_YEAR
from analyzer.reading.sources import FORMAT, MTIME, PATH, lines_frame
from analyzer.sessions.build import build_session_tables
from analyzer.sessions.carry import carried_lines, late_links, open_sessions, server_clocks
from analyzer.settings.config import Settings
from analyzer.store import parquet as store
from analyzer.store.derived import derived_fingerprint, write_derived
from analyzer.store.reads import (
    Piece,
    Read,
)

logger = logging.getLogger(__name__)


@dataclass
class IngestSummary:
    files_read: int = 0
    files_unchanged: int = 0
    lines: int = 0
    buckets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    sessions: int = 0
    open_sessions: int = 0
    chunks: int = 0
    notes: list[str] = field(default_factory=list)

    def text(self, root: Path) -> str:
        if not self.lines:
            files = self.files_unchanged + self.files_read
            return f"nothing new in {files} file(s); {root} is up to date"
        bad = self.buckets["unmatched"] + self.buckets["malformed"]
        line = (
            f"ingested {self.lines:,} new lines from {self.files_read} file(s) "
            f"({self.files_unchanged} unchanged) into {root}: {self.sessions:,} sessions "
            f"stored, {self.open_sessions:,} still open"
        )
        if bad:
            line += (
                f"; {self.buckets['unmatched']:,} unmatched and {self.buckets['malformed']:,} "
                "malformed lines (see `relaywatch patterns check`)"
            )
        return line


class PendingCommit(NamedTuple):
    """A chunk stored, not committed yet: the future of its derived tables (None: written)
    and the carries its commit replaces."""

    derived: Future | None
    previous: set[str | None]


@dataclass
class ChunkTimes:
    """Seconds the last chunk spent writing derived tables here, and waiting for a helper's."""

    derived: float = 0.0
    waited: float = 0.0


# ``Chunker.derive_elsewhere``: (chunker, frames, parts written) -> the future of their
# ``write_derived`` in a helper, or None to write them here
DeriveElsewhere = Callable[["Chunker", dict[str, pd.DataFrame], dict[str, list]], Future | None]


class Chunker:
    """Parses chunks into the store, carrying open sessions from one chunk to the next."""

    def __init__(
        self,
        settings: Settings,
        domains: frozenset[str],
        root: Path,
        manifest: store.Manifest,
        customers: pd.DataFrame,
    ):
        self.settings = settings
        self.customers = customers
        self.fingerprint: str | None = None
        self.configured = domains
        self.root = root
        self.manifest = manifest
        self.inferred = tuple(manifest.inferred_domains) if not settings.local_domains else ()
        self.run = store.run_of(manifest.committed) + 1
        self.chunk = 0
        self.carry = store.read_carry(root, manifest.carry)
        self.late = store.read_carry(root, manifest.carry_links)
        self.clocks = {k: pd.Timestamp(v) for k, v in manifest.clocks.items()}
        self.open_count = 0
        # Set by ``analyzer.store.parallel.ingest_pipelined``: a chunk's derived tables may then
        # be written by a helper while this process builds the next chunk's sessions; the
        # chunk is committed once they are written (``pending``, ``commit_pending``).
        self.derive_elsewhere: DeriveElsewhere | None = None
        self.pending: PendingCommit | None = None
        self.times = ChunkTimes()
        # Set in ``background_commits``: chunks are then committed in its thread.
        self.committer: ThreadPoolExecutor | None = None
        self.committing: Future | None = None

    def process(self, pieces: Sequence[Piece], summary: IngestSummary) -> None:
        """Parse a chunk read here, then store it (see ``absorb``)."""
        lines, sources = self.frames(pieces)
        self.absorb(pieces, parse_chunk(lines, sources, self.settings), sources, summary)

    def absorb(
        self,
        pieces: Sequence[Piece],
        events: pd.DataFrame,
        sources: pd.DataFrame,
        summary: IngestSummary,
    ) -> None:
        """Build sessions from the carried and the new lines, store the finished ones and
        the new lines' tables, move the files' records on, and commit (see ``pending``)."""
        self.times = ChunkTimes()
        self.clocks = server_clocks(self.clocks, events)
        everything = events
        if self.carry is not None:
            carried = self.carry.reindex(columns=events.columns).astype(events.dtypes.to_dict())
            everything = one_chunk(pd.concat([carried, events], ignore_index=True))
            # The new lines as a view on that copy: the chunk's own frame can go now (when
            # the caller kept no reference to it), not at the end of the chunk.
            events = everything.iloc[len(carried) :].reset_index(drop=True)
        # Without configured local domains, they are learnt as the logs show them delivered.
        learnt = infer_local_domains(events, self.settings, self.configured)
        self.inferred = tuple(sorted(set(self.inferred) | set(learnt)))
        tables = build_session_tables(
            everything, self.configured | set(self.inferred), self.settings.exim.session_gap_seconds
        )
        still_open = open_sessions(tables, self.clocks)
        finished = tables.sessions[~still_open]
        carry = carried_lines(everything, tables, still_open)
        late = late_links(tables, still_open, self.late, self.clocks)
        links = tables.links
        if self.late is not None and len(self.late):
            links = pd.concat([self.late[list(tables.links.columns)], links], ignore_index=True)
        rejects = reject_lines(events)
        deliveries = delivery_lines(events, links.sort_values(s.SEQ, ignore_index=True))
        problems = stored_problems(events, sources)

        self.commit_pending()  # the chunk before, whose derived tables a helper was writing
        self.chunk += 1
        mark = store.mark_of(self.run, self.chunk)
        mode = self.settings.file_mode
        stored = {
            "sessions": (finished, s.START),
            "rejects": (rejects, s.TS),
            "deliveries": (deliveries, s.TS),
            "problems": (problems, s.TS),
        }
        # not synced one by one: the commit makes all the chunk's files durable at once
        written = {
            name: store.write_table(self.root, name, frame, column, mark, mode, sync=False)
            for name, (frame, column) in stored.items()
        }
        derived = self._write_derived({"sessions": finished, "deliveries": deliveries}, written)
        previous = {self.manifest.carry, self.manifest.carry_links}
        self.manifest.carry = (
            store.write_carry(self.root, carry, mark, file_mode=mode) if len(carry) else None
        )
        self.manifest.carry_links = (
            store.write_carry(self.root, late, mark, "links", mode) if len(late) else None
        )
        self._advance(pieces, events, summary)
        self.manifest.clocks = {k: v.isoformat() for k, v in sorted(self.clocks.items())}
        self.manifest.inferred_domains = list(self.inferred)
        self.manifest.committed = mark
        self.pending = PendingCommit(derived, previous)
        if derived is None:
            self.commit_pending()
        self.carry, self.late = carry, late
        self.open_count = int(still_open.sum())
        summary.sessions += len(finished)
        summary.chunks += 1
        logger.info(
            "chunk %s: %d lines, %d sessions, %d lines carried",
            mark,
            len(events),
            len(finished),
            len(carry),
        )

    def _write_derived(
        self, frames: dict[str, pd.DataFrame], written: dict[str, list[store.Part]]
    ) -> Future | None:
        """Write the derived tables of the chunk's parts (``write_derived``) here, or have a
        helper write them (``derive_elsewhere``): then their future."""
        elsewhere = self.derive_elsewhere and self.derive_elsewhere(self, frames, written)
        if elsewhere is not None:
            self.fingerprint = derived_fingerprint(self.settings, self.customers, self.inferred)
            self.times.derived = 0.0
            return elsewhere
        began = time.perf_counter()
        self.fingerprint = write_derived(
            self.root, self.settings, self.customers, self.inferred, frames, written
        )
        self.times.derived = time.perf_counter() - began
        return None

    def commit_pending(self) -> None:
        """Commit the chunk stored last, once its derived tables are written, and delete the
        carries it replaced (nothing to do if it is committed already); in the background
        (``background_commits``): the next chunk's sessions are built meanwhile."""
        if self.pending is None:
            return
        derived, previous = self.pending
        self.pending = None  # whatever happens below, the store stays as at the commit before
        if derived is not None:
            began = time.perf_counter()
            derived.result()
            self.times.waited = time.perf_counter() - began
        self.settle()  # manifests are committed in their order
        # the manifest as it is now (the next chunk goes on changing it)
        manifest = copy.deepcopy(self.manifest)
        replaced = previous - {manifest.carry, manifest.carry_links, None}
        if self.committer is None:
            self._commit(manifest, replaced)
        else:
            self.committing = self.committer.submit(self._commit, manifest, replaced)

    def _commit(self, manifest: store.Manifest, replaced: set[str]) -> None:
        store.commit(self.root, manifest, self.settings.file_mode)
        for name in replaced:
            store.remove_carry(self.root, name)

    def settle(self) -> None:
        """Wait for the commit made in the background (raising what it raised)."""
        committing, self.committing = self.committing, None
        if committing is not None:
            committing.result()

    @contextlib.contextmanager
    def background_commits(self) -> Iterator[None]:
        """Commit chunks in a thread of this process: flushing the file system (a journal
        commit, tens of milliseconds) leaves the next chunk's work going on. The last commit
        is waited for on the way out, whatever happened (its error raised if nothing else
        was)."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as committer:
            self.committer = committer
            try:
                yield
                self.settle()
            finally:
                self.committer = None

    @staticmethod
    def frames(pieces: Sequence[Piece]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The lines and sources frames of a chunk read here."""
        frames = [
            lines_frame(piece.lines, index, piece.first_line_no, piece.places)
            for index, piece in enumerate(pieces)
        ]
        metas = [source_row(index, piece.read) for index, piece in enumerate(pieces)]
        return pd.concat(frames, ignore_index=True), pd.DataFrame(metas)

    def _advance(self, pieces: Sequence[Piece], events: pd.DataFrame, summary: IngestSummary):
        """Move each file's record to the end of what this chunk read."""
        buckets = bucket_counts(events)
        last = last_dated(events)
        for index, piece in enumerate(pieces):
            record, read = piece.read.record, piece.read
            record.offset = piece.end
            record.lines = piece.first_line_no + piece.count - 1
            record.tail = piece.tail.hex()
            record.path = str(read.path)
            record.dev, record.inode = read.stat.st_dev, read.stat.st_ino
            # Size and time as planned mark the file as done: unchanged, it is skipped.
            done = piece.complete
            record.size = read.stat.st_size if done else -1
            record.mtime_ns = read.stat.st_mtime_ns if done else -1
            # a last line left for the next run: the file is not done even if unchanged
            record.partial = read.hold_partial and piece.end < read.stat.st_size
            if index in last.index:
                local = last[index].tz_convert(self.settings.timezone)
                record.year, record.month = local.year, local.month
            for bucket in BUCKETS:
                count = int(buckets.at[index, bucket]) if index in buckets.index else 0
                # empty lines not kept past their run's samples: malformed, counted here
                count += piece.blank if bucket == s.EV_MALFORMED else 0
                record.counts[bucket] = record.counts.get(bucket, 0) + count
                summary.buckets[bucket] += count
            summary.lines += piece.count


class JournalChunker(Chunker):
    """A ``Chunker`` whose lines come from the journal: it moves the journal's cursor on."""

    def __init__(self, settings, domains, root, manifest, record: store.JournalRecord, customers):
        super().__init__(settings, domains, root, manifest, customers)
        self.record = record
        self.lines = next(f for f in manifest.files if f.order == record.order)
        self.cursor: str | None = None

    def process_entries(
        self, lines: pa.LargeStringArray, cursor: str | None, summary: IngestSummary
    ) -> None:
        """Parse and store one chunk of entries (already syslog lines) ending at ``cursor``."""
        frame = lines_frame(lines, 0, self.lines.lines + 1)
        sources = pd.DataFrame(
            [
                {
                    s.SOURCE: 0,
                    PATH: "journal",
                    MTIME: pd.Timestamp.now("UTC"),
                    FORMAT: "syslog",
                    s.SERVER: None,
                    ORDER: self.record.order,
                    START_YEAR: np.nan,
                    START_MONTH: np.nan,
                }
            ]
        )
        self.cursor = cursor
        self.absorb([], parse_chunk(frame, sources, self.settings), sources, summary)

    def _advance(self, pieces: Sequence[Piece], events: pd.DataFrame, summary: IngestSummary):
        if self.cursor is not None:  # entries without a cursor: keep the last one known
            self.record.cursor = self.cursor
        self.lines.lines += len(events)
        counts = bucket_counts(events)
        for bucket in BUCKETS:
            count = int(counts[bucket].sum()) if bucket in counts.columns else 0
            self.lines.counts[bucket] = self.lines.counts.get(bucket, 0) + count
            summary.buckets[bucket] += count
        summary.lines += len(events)


def one_chunk(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each arrow column in one chunk (parsing and ``concat`` leave two or
    more, and every row selection on a chunked column costs several times more)."""
    combined = {}
    for name, column in frame.items():
        data = getattr(column.array, "_pa_array", None)
        if isinstance(data, pa.ChunkedArray) and data.num_chunks > 1:
            combined[name] = pd.arrays.ArrowExtensionArray(data.combine_chunks())
    return frame.assign(**combined) if combined else frame


def last_dated(events: pd.DataFrame) -> pd.Series:
    """Per source, the time stamp of its last line that has one."""
    dated = np.flatnonzero(events[s.TS].notna().to_numpy())
    source = events[s.SOURCE].to_numpy()[dated]
    line = events[s.LINE_NO].to_numpy()[dated]
    frame = pd.DataFrame({"source": source, "line": line})
    rows = dated[frame.groupby("source")["line"].idxmax().to_numpy()]
    return pd.Series(events[s.TS].iloc[rows].array, index=events[s.SOURCE].to_numpy()[rows])


def source_row(index: int, read: Read, year_month: tuple[float, float] | None = None) -> dict:
    """A chunk's ``sources`` row for a piece of ``read``'s file; classic stamps count years on
    from ``year_month`` (default: the record's, i.e. the last dated line read before)."""
    record = read.record
    if year_month is None:
        year_month = (
            (np.nan, np.nan) if record.year is None else (float(record.year), float(record.month))
        )
    return {
        s.SOURCE: index,
        PATH: str(read.path),
        MTIME: read.mtime,
        FORMAT: record.format,
        s.SERVER: record.server,
        ORDER: record.order,
        START_YEAR: year_month[0],
        START_MONTH: year_month[1],
    }


# Event fields that only `patterns check` shows: no session, table or page reads them, so a
# chunk drops them before it is shipped between processes, carried and concatenated.
UNSTORED_FIELDS = (
    s.SASL_SENDER,
    s.SASL_REASON,
    s.STAGE,
    s.SMTP_CODE,
    s.PROTO,
    s.DELAY,
    s.DELAYS,
    s.MESSAGE_ID,
    s.NEW_QUEUE_ID,
    s.DNSBL_RANK,
    s.PS_VERDICT,
    s.LOCAL_IP,
    s.LOCAL_PORT,
)


def parse_chunk(lines: pd.DataFrame, sources: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """``parse_lines`` with the settings' time zone, year and reject texts, without the
    fields nothing after parsing reads (``UNSTORED_FIELDS``). Lines of journal and RFC 5424
    files (``format`` in ``sources``) are first made syslog lines."""
    lines, sources = as_syslog(lines, sources)
    events = parse_with(lines, sources, settings)
    return events.drop(columns=list(UNSTORED_FIELDS))


def as_syslog(lines: pd.DataFrame, sources: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The lines of journal and RFC 5424 sources as syslog lines (``analyzer.reading.journal``),
    those sources then labelled syslog; others untouched."""
    if FORMAT not in sources.columns or not sources[FORMAT].isin(NORMALISED).any():
        return lines, sources
    raw = lines[s.RAW].array._pa_array.combine_chunks()
    source = lines[s.SOURCE].to_numpy()
    pieces = []
    for src, kind in zip(sources[s.SOURCE], sources[FORMAT], strict=True):
        rows = np.flatnonzero(source == src)
        if len(rows) and kind in NORMALISED:
            pieces.append((rows, normalise(raw.take(pa.array(rows)), kind)))
    if pieces:
        position = np.arange(len(raw))
        parts = [raw]
        for rows, text in pieces:
            position[rows] = sum(map(len, parts)) + np.arange(len(rows))
            parts.append(text)
        raw = pa.concat_arrays(parts).take(pa.array(position))
    lines = lines.assign(**{s.RAW: pd.arrays.ArrowExtensionArray(raw)})
    labels = sources[FORMAT].where(~sources[FORMAT].isin(NORMALISED), "syslog")
    return lines, sources.assign(**{FORMAT: labels})


def stored_problems(events: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """Unmatched and malformed lines with their time and server (the store's partitions),
    named by the file's place in the store's order; of a run of them, only the first
    ``RUN_SAMPLES`` (the manifest counts them all)."""
    bad = sample_runs(problem_lines(events, store.PROBLEM_COLUMNS))
    order = sources.set_index(s.SOURCE)[ORDER]
    return bad.assign(**{s.SOURCE: order.reindex(bad[s.SOURCE].to_numpy()).to_numpy(np.int64)})
