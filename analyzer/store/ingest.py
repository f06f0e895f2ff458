"""``relaywatch ingest``: read what is new in the logs into the store, a chunk at a time.

Memory stays bounded whatever the size of the logs, and whatever their text (a line is cut at
64 KiB as it is read, a chunk is bounded in lines as well as bytes, a run of empty lines is
counted, not held: ``analyzer.store.reads.chunks``): a chunk of lines is parsed, its finished
sessions and its single-line tables (rejects, deliveries, problems) are written to the store,
and only the lines of sessions still open are carried on (``analyzer.sessions.carry``). After each
chunk the store commits (``analyzer.store.parquet``): a run killed at any point loses nothing and
counts nothing twice; the next run goes on from the last commit.

Files are known by identity, not by name (``analyzer.store.reads`` plans what to read):

* rotation by rename: ``mail.log`` becomes ``mail.log.1`` (same inode): read on from the
  offset, and the new ``mail.log`` is a new file;
* copytruncate: the copy ``mail.log.1`` (new inode, same first line, same bytes up to the
  offset) is read on from the offset; the truncated ``mail.log`` starts with another first
  line, so it is a new file;
* a rotated file compressed later (``mail.log.1.gz``): same first line and same text up to
  the offset once decompressed: only what lies beyond is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from analyzer.errors import InputError
from analyzer.judgements.customers import local_domains, read_customers
from analyzer.reading.journal import JOURNAL, journal_lines
from analyzer.reading.sources import is_compressed, read_journal
from analyzer.settings.config import Settings
from analyzer.store import parquet as store
from analyzer.store.chunker import Chunker, IngestSummary, JournalChunker
from analyzer.store.parallel import HELPERS, helper_process, ingest_pipelined, ingest_ranges
from analyzer.store.reads import (
    Progress,
    Read,
    chunks,
    line_limit,
    plain_backlog,
    plan_reads,
)

logger = logging.getLogger(__name__)

# Bytes of log text per chunk: ~70k lines. 12 MB keeps a whole ingest (this process and
# its helper) under 600 MB; 16 MB was ~5 % faster at ~620 MB (1 M-line benchmark logs).
# A chunk also holds at most ``analyzer.store.reads.line_limit`` lines, whatever their length.
CHUNK_BYTES = 12 * 1024 * 1024
# Chunks of new plain text from which helper processes parse ahead.
PIPELINE_CHUNKS = 4


def store_root(settings: Settings) -> Path:
    if settings.store is None:
        raise InputError("no store: set `store` in the config or pass --store DIR")
    return settings.store


def settings_fingerprint(settings: Settings, domains: frozenset[str]) -> str:
    """What the stored sessions depend on (beyond the logs): a change is worth a warning."""
    basis = {
        "timezone": settings.timezone,
        "year": settings.year,
        "local_domains": sorted(domains),
        "reject_patterns": {k: list(v) for k, v in sorted(settings.reject_patterns.items())},
        "rules": [[r.name, list(r.daemons), r.event, r.regex] for r in settings.rules],
        "exim_gap": settings.exim.session_gap_seconds,
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def _check_settings(
    manifest: store.Manifest,
    settings: Settings,
    domains: frozenset[str],
    root: Path,
    summary: IngestSummary,
) -> None:
    """Warn (a note) when the settings that decide how lines are read changed since the store
    was started, and record the current ones."""
    fingerprint = settings_fingerprint(settings, domains)
    if manifest.fingerprint and manifest.fingerprint != fingerprint:
        summary.notes.append(
            "the time zone, year, customer domains, reject patterns or [[rules]] changed since "
            "the store was started: sessions already stored keep the old reading (delete "
            f"{root} and ingest again to rebuild)"
        )
    manifest.fingerprint = fingerprint


def ingest(
    settings: Settings,
    paths: Sequence[Path],
    progress: Progress | None = None,
    log_format: str = "auto",
    chunk_bytes: int = CHUNK_BYTES,
    now: dt.datetime | None = None,
    dask_address: str | None = None,
    wait_seconds: float = 0,
    helpers: int = HELPERS,
) -> IngestSummary:
    """Read what is new in ``paths`` into the store (see the module docstring); with
    ``dask_address``, parse on a Dask cluster (``analyzer.store.parallel.ingest_ranges``), else
    in ``helpers`` processes on a big backlog; ``wait_seconds`` for another ingest holding the
    store."""
    root = store_root(settings)
    customers = read_customers(settings.customers)
    domains = local_domains(customers, settings.local_domains)
    now = now or dt.datetime.now(dt.UTC)
    summary = IngestSummary()
    with store.writing(root, wait_seconds, settings.file_mode):
        manifest = store.load_manifest(root)
        _check_settings(manifest, settings, domains, root, summary)
        # Helpers are worth it for a backlog of several chunks of plain text (compressed files
        # cannot be cut into ranges) on a machine with a second core.
        helpers_wanted = (
            not dask_address
            and helpers > 0
            and (os.cpu_count() or 1) > 1
            and plain_backlog(paths, manifest) > PIPELINE_CHUNKS * chunk_bytes
        )
        with helper_process(helpers_wanted, helpers) as helper:
            reads, unchanged, empty = plan_reads(paths, manifest, settings, log_format, now)
            if empty:
                summary.notes.append(
                    "empty log file(s), no whole line to read yet: "
                    + ", ".join(str(path) for path in empty)
                )
            summary.files_unchanged = unchanged
            summary.files_read = len(reads)
            chunker = Chunker(settings, domains, root, manifest, customers)
            if dask_address:

                def parallel(group: list[Read]) -> None:
                    ingest_ranges(chunker, group, dask_address, chunk_bytes, summary, progress)

            elif helper is not None:

                def parallel(group: list[Read]) -> None:
                    ingest_pipelined(
                        chunker, group, chunk_bytes, summary, progress, helper, helpers
                    )

            else:
                parallel = None
            # Compressed files cannot be cut into ranges: they are streamed here, in order.
            with chunker.background_commits():
                for compressed, group in itertools.groupby(reads, lambda r: is_compressed(r.path)):
                    if compressed or parallel is None:
                        for pieces in chunks(list(group), chunk_bytes, progress):
                            chunker.process(pieces, summary)
                    else:
                        parallel(list(group))
        summary.open_sessions = chunker.open_count
        if chunker.fingerprint:  # tables derived for an older customers file are dead weight
            store.remove_derived_except(root, chunker.fingerprint)
    return summary


def ingest_journal(
    settings: Settings,
    units: Sequence[str] = (),
    progress: Progress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    wait_seconds: float = 0,
) -> IngestSummary:
    """``relaywatch ingest --journal``: read journald's entries (of ``units``, else all) after
    the cursor the store keeps, with ``journalctl -o json``, into the store; the cursor of each
    chunk's last entry is committed with the chunk, like a file's offset."""
    root = store_root(settings)
    customers = read_customers(settings.customers)
    domains = local_domains(customers, settings.local_domains)
    summary = IngestSummary()
    with store.writing(root, wait_seconds, settings.file_mode):
        manifest = store.load_manifest(root)
        _check_settings(manifest, settings, domains, root, summary)
        key = " ".join(sorted(units))
        record = manifest.journals.get(key)
        if record is None:
            record = store.JournalRecord(order=manifest.next_order(), units=sorted(units))
            manifest.journals[key] = record
            manifest.files.append(
                store.FileRecord(record.order, "journal " + key, -1, -1, -1, -1, "", format=JOURNAL)
            )
        chunker = JournalChunker(settings, domains, root, manifest, record, customers)
        done = 0
        for raw in read_journal(record.cursor, units, chunk_bytes, line_limit(chunk_bytes)):
            lines, cursor = journal_lines(raw)
            chunker.process_entries(lines, cursor, summary)
            done += len(lines)
            if progress is not None:
                progress(f"{done:,} journal entries read")
        summary.files_read = int(summary.lines > 0)
        summary.files_unchanged = int(summary.lines == 0)
        summary.open_sessions = chunker.open_count
        if chunker.fingerprint:
            store.remove_derived_except(root, chunker.fingerprint)
    return summary
