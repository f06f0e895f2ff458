"""Parsing byte ranges of the logs in other processes: on a Dask cluster (``relaywatch ingest
--dask``), or in helper processes that parse ahead while this one stores (big backlogs).

Parsing is most of an ingest's time, and each range of a file parses on its own: the files
are cut into ranges of about ``chunk_bytes`` at line ends, the workers read and parse them
(so with a remote cluster every worker must see the logs under the same paths), and this
process takes the parsed ranges in file order and builds sessions, stores and commits exactly
as a single-process ingest does (``analyzer.store.chunker.Chunker.absorb``): same store, same
sessions. Compressed files cannot be cut without decompressing them: they are streamed by
this process (``analyzer.store.ingest.ingest``), so no worker ever holds a whole file.

Line numbers and years are what make ranges independent: a worker numbers its range's lines
from 1 and this process shifts them; the year of year-less stamps at each cut is counted on
from the month of the first line there, read here while cutting.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer import schema as s
from analyzer.errors import InputError
from analyzer.reading.coverage import RUN_SAMPLES
from analyzer.reading.sources import (
    TAIL_BYTES,
    Block,
    lines_frame,
    open_log,
    read_blocks,
    read_range,
    skip_to,
)
from analyzer.reading.stamps import MONTHS
from analyzer.settings.config import Settings
from analyzer.store.chunker import (
    Chunker,
    ChunkTimes,
    IngestSummary,
    parse_chunk,
    source_row,
)
from analyzer.store.derived import write_derived
from analyzer.store.reads import Piece, Progress, Read, chunks, line_limit, piece_of, starts
from analyzer.store.spool import read_frame, spool_folder, write_frame

logger = logging.getLogger(__name__)

HELPER_DIED = (
    "a helper process died (out of memory?); the store is as at its last commit: run ingest "
    "again, with a smaller --chunk-mb if memory is short"
)

# Parsing processes besides the main one, by default (``ingest --helpers``). One: on two cores
# it and the main process are both busy once it also writes derived tables (``Balance``), so
# a second takes a share of the same two cores (1 M lines, Postfix: 12.9 s and 531 MiB
# summed RSS with one, 13.4 s and 749 MiB with two; Exim: 13.5 s and 539 MiB, 13.9 s and
# 788 MiB).
HELPERS = 1


LOOKAHEAD = 64 * 1024  # bytes read at a cut to find the next line end
STAMP_BYTES = 16  # enough of the next line for its classic stamp's month and day


@dataclass(frozen=True)
class Range:
    """Bytes ``start``..``end`` of one file's text, whole lines; ``year_month`` of the line
    before (NaN: count from the file's own rule); a helper parses at most ``max_lines``."""

    read: Read
    start: int
    end: int
    year_month: tuple[float, float]
    max_lines: int


class ParsedRange(NamedTuple):
    """A range parsed by a helper: its events (line numbers from 1; or the file in the spool
    folder that holds them, ``analyzer.store.spool``), its sources frame, the ``Piece`` it
    read (without its lines), whether the rest of the range is still to be read (it held
    more lines than a chunk does), and the seconds the helper took."""

    events: pd.DataFrame | Path
    sources: pd.DataFrame
    piece: Piece
    rest: bool
    seconds: float = 0.0


@dataclass
class Balance:
    """Which chunks' derived tables a helper writes (``ingest_pipelined``), from the seconds
    each side has spent per chunk so far: a share of them that leaves this process (sessions,
    store) and the helper (parsing) equally busy: about a third of a Postfix log's chunks, a
    quarter of an Exim mainlog's (its lines parse slower). Only the speed depends on
    it, never the store."""

    main: float = 0.0  # this process's seconds per chunk, derived tables and waits aside
    chunks: int = 0
    derived: float = 0.0  # seconds of derived tables written here
    derived_here: int = 0
    parse: float = 0.0  # the helpers' seconds of parsing
    parsed: int = 0
    shipped: int = 0
    # whether the helpers have parsed every range: then they have nothing else to do
    parsed_all: Callable[[], bool] = lambda: False

    def absorbed(self, seconds: float, times: ChunkTimes, parsed: float) -> None:
        """Count a chunk stored in ``seconds`` (``times``: of its derived tables, and of
        waiting for the ones before) that a helper parsed in ``parsed`` seconds."""
        self.main += seconds - times.derived - times.waited
        self.chunks += 1
        if times.derived:
            self.derived += times.derived
            self.derived_here += 1
        self.parse += parsed
        self.parsed += 1

    def ship(self, helpers: int) -> bool:
        """Whether the next chunk's derived tables go to a helper."""
        if self.parsed_all():
            # the last chunks: the helpers would idle (about 0.5 s of 11 on 1 M Postfix lines)
            self.shipped += 1
            return True
        if not (self.derived_here and self.parsed):
            return False  # nothing measured yet
        main, parse = self.main / self.chunks, self.parse / self.parsed / helpers
        derived = self.derived / self.derived_here
        # main + (1 - share) * derived = parse + share * derived / helpers (per chunk)
        share = (main + derived - parse) / (derived * (1 + 1 / helpers))
        share = min(max(share, 0.0), 1.0)
        wanted = self.shipped < share * (self.chunks + 1) - 0.5  # the nearest whole count
        self.shipped += wanted
        return wanted


def ingest_ranges(
    chunker: Chunker,
    reads: Sequence[Read],
    address: str,
    chunk_bytes: int,
    summary: IngestSummary,
    progress: Progress | None,
) -> None:
    """Parse the reads' new text on the cluster at ``address`` ("local" starts one here)."""
    client, cluster = _connect(address)
    try:
        workers = len(client.scheduler_info().get("workers", {}))

        def submit(function, *args):
            return client.submit(function, *args, pure=False)

        absorb_ranges(chunker, reads, submit, 2 * max(workers, 1), chunk_bytes, summary, progress)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def helper_process(wanted: bool, count: int = HELPERS) -> Iterator[ProcessPoolExecutor | None]:
    """``count`` helper processes for ``ingest_pipelined``, forked at once: called before
    this process has started arrow's thread pools, the forks copy no thread (and forking
    instead of spawning saves each helper a second of importing pandas and pyarrow)."""
    if not wanted:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("fork"))
    try:
        # Tasks that last a moment, so that every helper is forked now, not later.
        for started in [pool.submit(time.sleep, 0.05) for _ in range(count)]:
            started.result()
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def ingest_pipelined(
    chunker: Chunker,
    reads: Sequence[Read],
    chunk_bytes: int,
    summary: IngestSummary,
    progress: Progress | None,
    helper: ProcessPoolExecutor,
    helpers: int = HELPERS,
) -> None:
    """Without a cluster: the helpers parse the next ranges while this process builds
    sessions and writes the store (``helpers``: the pool's processes, see ``HELPERS``), and
    write some chunks' derived tables, as many as keeps both sides equally busy
    (``Balance``). The parsed chunks come through files (``analyzer.store.spool``): one more
    range parsed ahead than there are helpers costs the disk, not memory, and keeps this
    process from waiting when a helper is slow on one."""
    balance = Balance()

    def derive_elsewhere(chunker: Chunker, frames: dict, written: dict) -> Future | None:
        if not balance.ship(helpers):
            return None
        spooled = {name: write_frame(frame, spool) for name, frame in frames.items()}
        basis = (chunker.root, chunker.settings, chunker.customers, chunker.inferred)
        return helper.submit(derive_spooled, *basis, spooled, written)

    with spool_folder() as spool:
        chunker.derive_elsewhere = derive_elsewhere
        try:
            absorb_ranges(
                chunker, reads, helper.submit, helpers + 2, chunk_bytes, summary, progress, spool,
                balance,
            )  # fmt: skip
            chunker.commit_pending()
        except BrokenExecutor:  # from a task's result, or from any submit after that
            raise InputError(HELPER_DIED) from None
        finally:
            chunker.derive_elsewhere = None


def derive_spooled(
    root: Path,
    settings: Settings,
    customers: pd.DataFrame,
    inferred: Sequence[str],
    spooled: dict[str, Path],
    written: dict[str, list],
) -> str:
    """In a helper: ``write_derived`` of a chunk's sessions and deliveries, which the main
    process left in the spool folder (it commits the chunk once this is done)."""
    frames = {name: read_frame(path) for name, path in spooled.items()}
    return write_derived(root, settings, customers, inferred, frames, written)


def absorb_ranges(
    chunker: Chunker,
    reads: Sequence[Read],
    submit: Callable[..., Any],
    window: int,
    chunk_bytes: int,
    summary: IngestSummary,
    progress: Progress | None,
    spool: Path | None = None,
    balance: Balance | None = None,
) -> None:
    """Submit the ranges' parsing (``window`` ahead) and store each, in order, as it comes
    (through files in ``spool`` when the workers share this machine's files; ``balance``
    counts the seconds spent on each side)."""

    def parse(index: int, piece_range: Range):
        # on this machine's helpers, the first range is parsed here, as the helpers start
        here = index == 0 and balance is not None
        return (_Here if here else submit)(parse_range, piece_range, chunker.settings, spool)

    jobs = ((r, parse(i, r)) for i, r in enumerate(ranges(reads, chunk_bytes)))
    lines_before: dict[int, int] = {}
    done = 0
    in_flight = _Window(jobs, window)
    if balance is not None:
        balance.parsed_all = in_flight.drained
    for piece_range, future in in_flight:
        events, sources, piece, rest, seconds = future.result()
        record = piece_range.read.record
        before = lines_before.get(id(record), record.lines)
        piece.read, piece.first_line_no = piece_range.read, before + 1
        began = time.perf_counter()
        # handed over, not kept here: ``absorb`` lets it go once it has copied it
        chunker.absorb([piece], _numbered(events, before), sources, summary)
        if balance is not None:
            balance.absorbed(time.perf_counter() - began, chunker.times, seconds)
        if rest:
            # More lines than a chunk holds (short junk lines): the rest is read here, in
            # chunks, before the next range, which the helpers parse meanwhile.
            for pieces in chunks([piece_range.read], chunk_bytes, stop=piece_range.end):
                chunker.process(pieces, summary)
        lines_before[id(record)] = record.lines
        done += 1
        if progress is not None:
            progress(f"{done} ranges parsed, at {piece_range.read.path}")


def _numbered(events: pd.DataFrame | Path, before: int) -> pd.DataFrame:
    """A range's events (read from the spool) numbered after the ``before`` lines of the
    file that came before the range."""
    if isinstance(events, Path):
        events = read_frame(events)
    events[s.LINE_NO] += before
    events[s.SEQ] += before
    return events


class _Here:
    """A task done in this process when its result is wanted: the first range, which this
    process would otherwise wait for idle, while the helpers parse the next ones."""

    def __init__(self, function: Callable, *args: Any):
        self.task = (function, args)

    def result(self) -> Any:
        function, args = self.task
        return function(*args)

    def done(self) -> bool:
        return False  # done only once asked for


class _Window:
    """The jobs, ``size`` submitted ahead of the one being stored (bounded memory)."""

    def __init__(self, jobs: Iterator, size: int):
        self.jobs, self.size = jobs, size
        self.in_flight: deque = deque()
        self.submitted_all = False

    def __iter__(self) -> Iterator:
        for job in self.jobs:
            self.in_flight.append(job)
            if len(self.in_flight) >= self.size:
                yield self.in_flight.popleft()
        self.submitted_all = True
        while self.in_flight:
            yield self.in_flight.popleft()

    def drained(self) -> bool:
        """Whether every job is submitted and the ones not yet stored are done."""
        return self.submitted_all and all(future.done() for _, future in self.in_flight)


def _connect(address: str):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError(
            "--dask needs dask.distributed: pip install 'relaywatch[dask]' (or 'dask[distributed]')"
        ) from None
    try:
        if address == "local":
            cluster = LocalCluster(
                n_workers=os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
            return Client(cluster), cluster
        return Client(address, timeout="5s"), None
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def ranges(reads: Sequence[Read], chunk_bytes: int) -> Iterator[Range]:
    """The reads' new text cut into ranges at line ends, each with its year state (plain
    files only: ``analyzer.store.ingest.ingest`` streams compressed ones itself)."""
    for read, start, _ in starts(reads):
        record = read.record
        state = (np.nan, np.nan) if record.year is None else (record.year, record.month)
        size = read.stat.st_size
        while start < size:
            cut, following = _line_end_after(read.path, start + chunk_bytes, size)
            yield Range(read, start, cut, state, line_limit(chunk_bytes))
            state = _year_at(following, state)
            start = cut


def _line_end_after(path: Path, offset: int, size: int) -> tuple[int, bytes]:
    """The offset just after the first newline at or after ``offset`` (or ``size``), and
    the bytes read after it (the start of the next line). One pass, whatever the distance
    to that newline (a gigabyte without one is read once, a bit at a time)."""
    if offset >= size:
        return size, b""
    with open_log(path) as handle:
        skip_to(handle, offset)
        while offset < size:
            data = handle.read(LOOKAHEAD)
            if not data:
                break
            found = data.find(b"\n")
            if found >= 0:
                following = data[found + 1 : found + 1 + STAMP_BYTES]
                if len(following) < STAMP_BYTES:  # the newline was at the end of what was read
                    following += handle.read(STAMP_BYTES - len(following))
                return offset + found + 1, following
            offset += len(data)
    return size, b""


_CLASSIC = re.compile(("^(" + "|".join(MONTHS) + ") [ 0-9][0-9] ").encode())


def _year_at(line: bytes, state: tuple[float, float]) -> tuple[float, float]:
    """The year state at the start of ``line``: the previous state, a year on if the
    line's month is more than six months before the state's (Dec -> Jan)."""
    year, month = state
    if np.isnan(year):
        return state
    found = _CLASSIC.match(line)
    if found is None:
        return state
    first_month = float(MONTHS.index(found.group(1).decode()) + 1)
    return (year + (month - first_month > 6), first_month)


def parse_range(piece: Range, settings: Settings, spool: Path | None = None) -> ParsedRange:
    """On a worker: read and parse one range, or only its first ``max_lines`` lines (read as
    ``analyzer.store.reads.chunks`` reads: overlong lines cut, runs of empty lines sampled);
    with ``spool``, the events are left in a file there."""
    began = time.perf_counter()
    read = piece.read
    blocks, kept = [], 0
    found = read_blocks(
        read.path,
        piece.start,
        max(piece.end - piece.start, 1),
        read.hold_partial,
        stop=piece.end,
        max_lines=piece.max_lines,
        blank_samples=RUN_SAMPLES,
    )
    for block in found:
        blocks.append(block)
        kept += len(block.lines)
        if kept >= piece.max_lines:
            break  # the caller reads the rest (``ParsedRange.rest``)
    rest = bool(blocks) and kept >= piece.max_lines and blocks[-1].end < piece.end
    if not blocks:  # nothing but a line its writer has not finished: the offset stays
        before = read_range(read.path, max(piece.start - TAIL_BYTES, 0), piece.start)
        blocks = [Block(pa.array([], pa.large_string()), piece.start, before, 0)]
    parsed = piece_of(read, 1, blocks, piece.end >= read.stat.st_size and not rest)
    sources = pd.DataFrame([source_row(0, read, piece.year_month)])
    events = parse_chunk(lines_frame(parsed.lines, 0, 1, parsed.places), sources, settings)
    parsed.lines = parsed.places = None  # shipped back as events, not twice
    if spool is not None:
        events = write_frame(events, spool)
    return ParsedRange(events, sources, parsed, rest, time.perf_counter() - began)
