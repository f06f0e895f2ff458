"""The store: what ``relaywatch ingest`` parsed, as Parquet, and what it read of which file.

Layout of the folder (``store`` in the config, ``--store``)::

    manifest.json                      files read (identity, offset), clocks, the commit mark
    carry/<mark>.parquet               lines of the sessions still open at that commit
    <table>/day=YYYY-MM-DD/server=NAME/<mark>.parquet
                                       sessions, rejects, deliveries, problems (UTC days)

Each chunk of an ingest writes its parts (each under a temporary name, synced, then
renamed), then the manifest the same way. The manifest's ``committed`` mark is the commit:
parts with a later mark belong to a run that did not get there; readers skip them and the
next ingest deletes them. So a run killed at any moment leaves the store as it was at its
last commit, and the next run reads the logs on from the offsets recorded there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analyzer import schema as s
from analyzer.errors import InputError

MANIFEST = "manifest.json"
CARRY = "carry"
TABLES = ("sessions", "rejects", "deliveries", "problems")
# The problems table: unmatched and malformed lines, with time and server for partitioning.
PROBLEM_COLUMNS = (s.TS, s.SERVER, s.SOURCE, s.LINE_NO, s.EVENT, s.RAW)
FORMAT_VERSION = 1


class StoreError(InputError):
    """The store cannot be read or written (read-only, full, busy, from a newer version)."""


@dataclass
class FileRecord:
    """One log file as the store knows it: who it is, and how far it was read.

    A file is known by its device and inode and by a hash of its first line (so a renamed
    file is the same file, and a truncated or replaced one is not); ``tail`` (the last bytes
    read) confirms a copy or a compressed copy holds the same text up to ``offset``.
    """

    order: int  # place in the order of files: line order is (order, line number)
    path: str
    dev: int
    inode: int
    size: int  # on disk, with mtime_ns: unchanged files are skipped without reading
    mtime_ns: int
    head: str  # sha256 of the first line
    offset: int = 0  # bytes of (decompressed) text read
    lines: int = 0  # lines read
    tail: str = ""  # hex of the last bytes read
    format: str = "syslog"
    server: str | None = None
    year: int | None = None  # year and month of the last dated line read (classic stamps
    month: int | None = None  # count on from it)
    first_ts: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # lines per bucket
    partial: bool = False  # a last line without newline was left for the next run


@dataclass
class JournalRecord:
    """The journal as the store knows it (``relaywatch ingest --journal``): how far it was
    read, by journald's cursor of the last entry stored. Its lines and counts are kept by a
    ``FileRecord`` of the same ``order`` (path ``journal``, no device, inode or size: no file
    is ever taken for it), so the store's line counts include the journal's."""

    order: int  # place in the order of files (line order is (order, line number))
    units: list[str] = field(default_factory=list)  # systemd units read (none: all)
    cursor: str | None = None


@dataclass
class Manifest:
    version: int = FORMAT_VERSION
    committed: str = ""  # mark of the last commit; "" before the first
    carry: str | None = None
    carry_links: str | None = None  # links of queued messages whose session is stored
    clocks: dict[str, str] = field(default_factory=dict)  # latest time seen per server
    fingerprint: str = ""  # the settings the sessions were built with
    # local domains learnt from local deliveries (no `local_domains` configured)
    inferred_domains: list[str] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    # the journal read by ``ingest --journal``, per set of units ("" for the whole journal)
    journals: dict[str, JournalRecord] = field(default_factory=dict)

    def next_order(self) -> int:
        orders = [f.order for f in self.files] + [j.order for j in self.journals.values()]
        return max(orders, default=-1) + 1


def mark_of(run: int, chunk: int) -> str:
    """Commit marks sort as strings: run, then chunk within the run."""
    return f"{run:06d}-{chunk:06d}"


def run_of(mark: str) -> int:
    return int(mark.split("-")[0]) if mark else 0


def exists(root: Path) -> bool:
    """Whether ``ingest`` has filled the store at ``root``."""
    try:
        return (root / MANIFEST).is_file()
    except OSError as exc:  # a folder this user may not enter
        raise StoreError(f"cannot read store {root}: {exc.strerror or exc}") from None


def load_manifest(root: Path) -> Manifest:
    """The store's manifest (an empty one for a new store)."""
    path = root / MANIFEST
    if not path.exists():
        return Manifest()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version", 0) > FORMAT_VERSION:
            raise StoreError(f"store {root} was written by a newer relaywatch")
        files = [FileRecord(**f) for f in data.pop("files", [])]
        journals = {k: JournalRecord(**j) for k, j in data.pop("journals", {}).items()}
        return Manifest(**data, files=files, journals=journals)
    except (OSError, ValueError, TypeError) as exc:
        raise StoreError(f"cannot read store manifest {path}: {exc}") from None


@contextlib.contextmanager
def writing(root: Path, wait_seconds: float = 0) -> Iterator[None]:
    """Hold the store's lock for one ingest (waiting up to ``wait_seconds`` for another to
    finish); delete what an unfinished run left behind."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / ".lock", "a+")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise StoreError(f"cannot write to store {root}: {exc.strerror or exc}") from None
    deadline = time.monotonic() + wait_seconds
    with handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise StoreError(f"store {root} is busy: another ingest is running") from None
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        remove_uncommitted(root, load_manifest(root))
        yield


def _parts(root: Path, table: str) -> Iterator[Path]:
    base = root / table
    if not base.is_dir():
        return
    for day in sorted(base.iterdir()):
        if day.is_dir():
            for server in sorted(day.iterdir()):
                if server.is_dir():
                    yield from sorted(server.glob("*.parquet"))


def remove_uncommitted(root: Path, manifest: Manifest) -> None:
    """Delete parts and carries newer than the commit mark, and temporary files."""
    committed = manifest.committed
    doomed = [p for t in TABLES for p in _parts(root, t) if p.stem > committed]
    carry = root / CARRY
    if carry.is_dir():
        keep = {manifest.carry, manifest.carry_links}
        doomed += [p for p in carry.iterdir() if p.name not in keep]
    doomed += list(root.rglob("*.tmp"))
    for path in doomed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _write_atomically(path: Path, write) -> None:
    """``write(tmp)``, fsync, rename into place: readers see the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StoreError(_write_error(path, exc)) from None


def _write_error(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        why = "the disk is full"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "it is read-only"
    else:
        why = exc.strerror or str(exc)
    return f"cannot write to store ({path.parent}): {why}; the store is as at its last commit"


def write_table(root: Path, table: str, frame: pd.DataFrame, time_column: str, mark: str) -> int:
    """Write ``frame`` as parts of ``table``, one per UTC day (of ``time_column``) and server.
    Returns the number of parts written."""
    if frame.empty:
        return 0
    micros = frame[time_column].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    day = micros.astype("datetime64[D]")
    server_codes, servers = pd.factorize(frame[s.SERVER].astype(object).fillna("-"), sort=True)
    day_codes, days = pd.factorize(day, sort=True, use_na_sentinel=False)
    order = np.lexsort((server_codes, day_codes))
    data = pa.Table.from_pandas(frame, preserve_index=False).take(pa.array(order))
    key = day_codes[order].astype(np.int64) * len(servers) + server_codes[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    for start, end in zip(starts, ends, strict=True):
        one_day = days[day_codes[order[start]]]
        day_name = "unknown" if np.isnat(one_day) else str(one_day)
        server = str(servers[server_codes[order[start]]])
        folder = root / table / f"day={day_name}" / f"server={_safe(server)}"
        part = data.slice(start, end - start)
        _write_atomically(folder / f"{mark}.parquet", lambda tmp, t=part: pq.write_table(t, tmp))
    return len(starts)


def _safe(name: str) -> str:
    return urllib.parse.quote(name, safe="") or "-"


def write_carry(root: Path, frame: pd.DataFrame, mark: str, kind: str = "lines") -> str:
    name = f"{mark}-{kind}.parquet"
    table = pa.Table.from_pandas(frame, preserve_index=False)
    _write_atomically(root / CARRY / name, lambda tmp: pq.write_table(table, tmp))
    return name


def commit(root: Path, manifest: Manifest) -> None:
    """Make the manifest (and with it every part up to its mark) the store's state."""
    text = json.dumps(dataclasses.asdict(manifest), indent=1, sort_keys=True)
    _write_atomically(root / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    with contextlib.suppress(OSError):  # make the rename itself durable
        folder = os.open(root, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def read_table(root: Path, table: str, manifest: Manifest) -> pd.DataFrame | None:
    """Every committed part of ``table`` as one frame (None if there is none)."""
    parts = [p for p in _parts(root, table) if p.stem <= manifest.committed]
    if not parts:
        return None
    try:
        tables = [pq.read_table(p) for p in parts]
    except (OSError, pa.ArrowException) as exc:
        raise StoreError(f"cannot read store {root}: {exc}") from None
    return pa.concat_tables(tables, promote_options="permissive").to_pandas()


def read_carry(root: Path, name: str | None) -> pd.DataFrame | None:
    if not name:
        return None
    try:
        return pq.read_table(root / CARRY / name).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise StoreError(f"cannot read store {root}: {exc}") from None
