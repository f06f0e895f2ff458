"""The store: what ``relaywatch ingest`` parsed, as Parquet, and what it read of which file.

Layout of the folder (``store`` in the config, ``--store``)::

    manifest.json                      files read (identity, offset), clocks, the commit mark
    carry/<mark>.parquet               lines of the sessions still open at that commit
    <table>/day=YYYY-MM-DD/server=NAME/<mark>.parquet
                                       sessions, rejects, deliveries, problems (UTC days)
    derived/<fingerprint>/<table>/day=.../server=.../<mark>.parquet
                                       classified sessions and daily rollups, one per part
                                       they come from (``analyzer.store.views``)

Each chunk of an ingest writes its parts (each under a temporary name, synced, then
renamed), then the manifest the same way. The manifest's ``committed`` mark is the commit:
parts with a later mark belong to a run that did not get there; readers skip them and the
next ingest deletes them. So a run killed at any moment leaves the store as it was at its
last commit, and the next run reads the logs on from the offsets recorded there.

The store holds customers' logins and addresses: its files get ``file_mode`` (owner only by
default), its folders the same with search bits, and each ingest brings what is there to
those modes. No symbolic link inside the store is ever followed (the store folder itself
may be one): writes and deletions go through folder descriptors opened with
``O_NOFOLLOW``, and an ingest that finds a link refuses, naming it, before it changes
anything.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import fcntl
import json
import os
import stat
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analyzer import schema as s
from analyzer.errors import InputError
from analyzer.store.files import FILE_MODE, folder_mode, make_private_folder

MANIFEST = "manifest.json"
CARRY = "carry"
DERIVED = "derived"
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


# Folders opened on the way to a part: never through a link.
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _refused(root: Path, relative: PurePosixPath | str, folder: int | None = None) -> StoreError:
    """The error for an entry of the store that is a link (or, opened as a folder, a file)."""
    name = PurePosixPath(relative)
    is_link = True
    if folder is not None:
        with contextlib.suppress(OSError):
            info = os.stat(name.name, dir_fd=folder, follow_symlinks=False)
            is_link = stat.S_ISLNK(info.st_mode)
    what = "a symbolic link" if is_link else "not a folder"
    return StoreError(
        f"refusing the store {root}: {root / name} is {what} (the store follows no link "
        "inside it; nothing was changed): remove it"
    )


@contextlib.contextmanager
def _folder(root: Path, parts: Sequence[str], file_mode: int | None = None) -> Iterator[int]:
    """A descriptor of the folder ``root/parts...``, reached without following any link
    below ``root`` (made when missing if ``file_mode`` is given)."""
    handle = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for depth, part in enumerate(parts):
            made = False
            if file_mode is not None:
                try:
                    os.mkdir(part, folder_mode(file_mode), dir_fd=handle)
                    made = True
                except FileExistsError:
                    pass
            try:
                child = os.open(part, _FOLDER_FLAGS, dir_fd=handle)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _refused(root, "/".join(parts[: depth + 1]), handle) from None
                raise
            os.close(handle)
            handle = child
            if made and file_mode is not None:
                os.fchmod(handle, folder_mode(file_mode))  # exactly, whatever the umask
        yield handle
    finally:
        os.close(handle)


def exists(root: Path) -> bool:
    """Whether ``ingest`` has filled the store at ``root``."""
    try:
        return (root / MANIFEST).is_file()
    except OSError as exc:  # a folder this user may not enter
        raise StoreError(f"cannot read store {root}: {exc.strerror or exc}") from None


def load_manifest(root: Path) -> Manifest:
    """The store's manifest (an empty one for a new store)."""
    path = root / MANIFEST
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return Manifest()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refused(root, MANIFEST) from None
        raise StoreError(f"cannot read store manifest {path}: {exc}") from None
    try:
        with open(handle, encoding="utf-8") as manifest:
            data = json.loads(manifest.read())
        if data.get("version", 0) > FORMAT_VERSION:
            raise StoreError(f"store {root} was written by a newer relaywatch")
        files = [FileRecord(**f) for f in data.pop("files", [])]
        journals = {k: JournalRecord(**j) for k, j in data.pop("journals", {}).items()}
        return Manifest(**data, files=files, journals=journals)
    except (OSError, ValueError, TypeError) as exc:
        raise StoreError(f"cannot read store manifest {path}: {exc}") from None


@contextlib.contextmanager
def writing(root: Path, wait_seconds: float = 0, file_mode: int = FILE_MODE) -> Iterator[None]:
    """Hold the store's lock for one ingest (waiting up to ``wait_seconds`` for another to
    finish); refuse a store with a link inside, give everything in it ``file_mode`` (its
    folders ``folder_mode``), and delete what an unfinished run left behind."""
    try:
        make_private_folder(root, file_mode)
        with _folder(root, ()) as folder:
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            handle = os.open(".lock", flags, file_mode, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refused(root, ".lock") from None
        raise StoreError(f"cannot write to store {root}: {exc.strerror or exc}") from None
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise StoreError(f"store {root} is busy: another ingest is running") from None
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        files = _survey(root, file_mode)
        _remove(root, _uncommitted(files, load_manifest(root)))
        yield
    finally:
        os.close(handle)


def _survey(root: Path, file_mode: int | None = None) -> list[PurePosixPath]:
    """Every file in the store (relative paths). A link anywhere inside is refused before
    anything is changed; then, with ``file_mode``, files and folders (the store's own
    included) that have another mode get theirs (a folder keeps its setgid bit, which
    gives new files the folder's group)."""
    files: list[PurePosixPath] = []
    wrong: list[tuple[PurePosixPath, bool]] = []  # (path, is a folder)

    def visit(folder: int, relative: PurePosixPath) -> None:
        with os.scandir(folder) as entries:
            listed = list(entries)
        for entry in listed:
            path = relative / entry.name
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                raise _refused(root, path)
            is_folder = stat.S_ISDIR(info.st_mode)
            if file_mode is not None and _mode_for(info.st_mode, file_mode, is_folder):
                wrong.append((path, is_folder))
            if not is_folder:
                files.append(path)
                continue
            try:
                child = os.open(entry.name, _FOLDER_FLAGS, dir_fd=folder)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # made a link meanwhile
                    raise _refused(root, path, folder) from None
                raise
            try:
                visit(child, path)
            finally:
                os.close(child)

    try:
        with _folder(root, ()) as top:
            if file_mode is not None and _mode_for(os.fstat(top).st_mode, file_mode, True):
                wrong.append((PurePosixPath(), True))
            visit(top, PurePosixPath())
    except OSError as exc:
        raise StoreError(f"cannot read store {root}: {exc.strerror or exc}") from None
    for path, is_folder in wrong:
        try:
            _set_mode(root, path, file_mode or FILE_MODE, is_folder)
        except OSError as exc:
            raise StoreError(
                f"cannot set the mode of {root / path} in the store: {exc.strerror or exc} "
                "(does it belong to another user?)"
            ) from None
    return files


def _mode_for(current: int, file_mode: int, is_folder: bool) -> int | None:
    """The mode an entry of mode ``current`` should get (None: it has it)."""
    wanted = (folder_mode(file_mode) | (current & stat.S_ISGID)) if is_folder else file_mode
    return wanted if stat.S_IMODE(current) != wanted else None


def _set_mode(root: Path, path: PurePosixPath, file_mode: int, is_folder: bool) -> None:
    parts = path.parts
    if is_folder:
        with _folder(root, parts) as handle:
            wanted = _mode_for(os.fstat(handle).st_mode, file_mode, True)
            if wanted is not None:
                os.fchmod(handle, wanted)
        return
    with _folder(root, parts[:-1]) as folder:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        handle = os.open(parts[-1], flags, dir_fd=folder)
        try:
            os.fchmod(handle, file_mode)
        finally:
            os.close(handle)


def _uncommitted(files: list[PurePosixPath], manifest: Manifest) -> list[PurePosixPath]:
    """Parts and carries newer than the commit mark, and temporary files."""
    keep = {manifest.carry, manifest.carry_links}

    def doomed(path: PurePosixPath) -> bool:
        top = path.parts[0]
        if path.name.endswith(".tmp"):
            return True
        if top in TABLES and len(path.parts) == 4 and path.suffix == ".parquet":
            return path.stem > manifest.committed
        if top == DERIVED and len(path.parts) == 6 and path.suffix == ".parquet":
            return path.stem > manifest.committed
        return top == CARRY and len(path.parts) == 2 and path.name not in keep

    return [path for path in files if doomed(path)]


def _remove(root: Path, paths: list[PurePosixPath]) -> None:
    for path in paths:
        with _folder(root, path.parts[:-1]) as folder, contextlib.suppress(FileNotFoundError):
            os.unlink(path.name, dir_fd=folder)


def remove_uncommitted(root: Path, manifest: Manifest) -> None:
    """Delete parts and carries newer than the commit mark, and temporary files (a store
    with a link inside is refused first)."""
    _remove(root, _uncommitted(_survey(root), manifest))


def remove_carry(root: Path, name: str) -> None:
    """Delete a carry file the manifest no longer names."""
    _remove(root, [PurePosixPath(CARRY, name)])


def _entries(root: Path, relative: PurePosixPath) -> list[os.DirEntry]:
    """A folder's entries, sorted; a link among them is refused (readers follow none)."""
    try:
        with os.scandir(root / relative) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        if entry.is_symlink():
            raise _refused(root, relative / entry.name)
    return entries


def _parts(root: Path, table: str) -> Iterator[Path]:
    for day in _entries(root, PurePosixPath(table)):
        if day.is_dir(follow_symlinks=False):
            for server in _entries(root, PurePosixPath(table, day.name)):
                if server.is_dir(follow_symlinks=False):
                    for part in _entries(root, PurePosixPath(table, day.name, server.name)):
                        if part.name.endswith(".parquet"):
                            yield Path(part.path)


@dataclass(frozen=True)
class Part:
    """One committed part of a table: where it is (relative to the store), its UTC day
    (None: rows without a time) and its server folder."""

    path: PurePosixPath
    day: str | None
    server: str

    def derived(self, fingerprint: str, name: str) -> PurePosixPath:
        """Where the table ``name`` derived from this part is kept."""
        return PurePosixPath(DERIVED, fingerprint, name, *self.path.parts[1:])


def committed_parts(
    root: Path,
    table: str,
    manifest: Manifest,
    first_day: str | None = None,
    last_day: str | None = None,
    servers: Sequence[str] = (),
) -> list[Part]:
    """The committed parts of ``table`` whose UTC day lies in ``first_day``..``last_day``
    (ISO dates; None: open) and whose server is one of ``servers`` (empty: any). Parts
    without a day are left out when a day bound is given."""
    wanted = {f"server={_safe(name)}" for name in servers}
    found = []
    for day in _entries(root, PurePosixPath(table)):
        if not (day.is_dir(follow_symlinks=False) and day.name.startswith("day=")):
            continue
        name = day.name[4:]
        dated = None if name == "unknown" else name
        if (first_day or last_day) and (
            dated is None or (first_day and dated < first_day) or (last_day and dated > last_day)
        ):
            continue
        for server in _entries(root, PurePosixPath(table, day.name)):
            if not server.is_dir(follow_symlinks=False) or (wanted and server.name not in wanted):
                continue
            for part in _entries(root, PurePosixPath(table, day.name, server.name)):
                path = PurePosixPath(table, day.name, server.name, part.name)
                if part.name.endswith(".parquet") and path.stem <= manifest.committed:
                    found.append(Part(path, dated, server.name))
    return found


def remove_derived_except(root: Path, keep: str) -> None:
    """Delete the derived tables of every fingerprint but ``keep`` (an old customers file,
    time zone or enforcement date): they will never be read again."""
    stale = {e.name for e in _entries(root, PurePosixPath(DERIVED))} - {keep}
    if stale:
        files = _survey(root)
        _remove(root, [p for p in files if p.parts[:2] in {(DERIVED, n) for n in stale}])


def write_frame(
    root: Path, relative: PurePosixPath, frame: pd.DataFrame, file_mode: int = FILE_MODE
) -> None:
    """Write ``frame`` as the Parquet file ``relative`` (``arrow_table``; atomically)."""
    write_parquet(root, relative, arrow_table(frame), file_mode)


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as the Arrow table the store writes; columns with no value at all are kept
    as text, so the parts of a table share one schema."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for index, column in enumerate(table.schema):
        if pa.types.is_null(column.type):
            table = table.set_column(index, column.name, table.column(index).cast(pa.string()))
    return table


def write_parquet(
    root: Path,
    relative: PurePosixPath,
    table: pa.Table,
    file_mode: int = FILE_MODE,
    sync: bool = True,
) -> None:
    """Write ``table`` as the Parquet file ``relative`` (atomically)."""
    _write_atomically(root, relative, lambda out: _parquet(table, out), file_mode, sync)


def _parquet(table: pa.Table, out: BinaryIO) -> None:
    """One Parquet file of the store, without column statistics: readers prune parts (a day of
    a server, one row group) by folder, and they took a third of ingest's writing time."""
    pq.write_table(table, out, write_statistics=False)


def remove_others(root: Path, folder: PurePosixPath, keep: str, alike=lambda _: True) -> None:
    """Delete the files in ``folder`` that are ``alike`` but ``keep`` (no link is followed)."""
    doomed = [e.name for e in _entries(root, folder) if e.is_file() and keep != e.name]
    _remove(root, [folder / name for name in doomed if alike(name)])


def _write_atomically(
    root: Path,
    relative: PurePosixPath,
    write: Callable[[BinaryIO], None],
    file_mode: int,
    sync: bool = True,
) -> None:
    """``write`` a temporary file, fsync, rename it into place: readers see the old file or
    the new one. Never through a link: the folders on the way are opened without following
    any, and the file is created anew. Without ``sync`` the file is not fsynced: for the
    files of a chunk, which no one reads before ``commit`` makes them all durable at once."""
    name, tmp = relative.name, relative.name + ".tmp"
    try:
        with _folder(root, relative.parts[:-1], file_mode) as folder:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=folder)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            handle = os.open(tmp, flags, file_mode, dir_fd=folder)
            try:
                with open(handle, "wb") as out:
                    os.fchmod(handle, file_mode)  # exactly, whatever the umask
                    write(out)
                    out.flush()
                    if sync:
                        os.fsync(out.fileno())
                os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=folder)
                raise
    except OSError as exc:
        raise StoreError(_write_error(root / relative, exc)) from None


def _write_error(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        why = "the disk is full"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "it is read-only"
    else:
        why = exc.strerror or str(exc)
    return f"cannot write to store ({path.parent}): {why}; the store is as at its last commit"


def part_folders(frame: pd.DataFrame, time_column: str) -> np.ndarray:
    """For each row of ``frame``, the folders of the part ``write_table`` puts it in
    (``day=YYYY-MM-DD/server=NAME``)."""
    micros = frame[time_column].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    day_codes, days = pd.factorize(micros.astype("datetime64[D]"), use_na_sentinel=False)
    server_codes, servers = pd.factorize(frame[s.SERVER].astype(object).fillna("-"))
    # a name per (day, server) met, not per row: quoting a name costs microseconds
    names = np.array(
        ["/".join(_folder_names(day, server)) for day in days for server in servers],
        dtype=object,
    )
    return names[day_codes.astype(np.int64) * len(servers) + server_codes]


def write_table(
    root: Path,
    table: str,
    frame: pd.DataFrame,
    time_column: str,
    mark: str,
    file_mode: int = FILE_MODE,
    sync: bool = True,
) -> list[Part]:
    """Write ``frame`` as parts of ``table``, one per UTC day (of ``time_column``) and server,
    with ``file_mode``. Returns the parts written."""
    if frame.empty:
        return []
    micros = frame[time_column].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    day = micros.astype("datetime64[D]")
    server_codes, servers = pd.factorize(frame[s.SERVER].astype(object).fillna("-"), sort=True)
    day_codes, days = pd.factorize(day, sort=True, use_na_sentinel=False)
    order = np.lexsort((server_codes, day_codes))
    data = pa.Table.from_pandas(frame, preserve_index=False).take(pa.array(order))
    key = day_codes[order].astype(np.int64) * len(servers) + server_codes[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    written = []
    for start, end in zip(starts, ends, strict=True):
        one_day = days[day_codes[order[start]]]
        server = servers[server_codes[order[start]]]
        relative = PurePosixPath(table, *_folder_names(one_day, server))
        part = data.slice(start, end - start)
        _write_atomically(
            root,
            relative / f"{mark}.parquet",
            lambda out, t=part: _parquet(t, out),
            file_mode,
            sync,
        )
        written.append(
            Part(
                relative / f"{mark}.parquet",
                None if np.isnat(one_day) else str(one_day),
                relative.parts[-1],
            )
        )
    return written


def _folder_names(day: np.datetime64, server: object) -> tuple[str, str]:
    """The folders of the part of one UTC ``day`` (NaT: "unknown") and ``server``."""
    return f"day={'unknown' if np.isnat(day) else day}", f"server={_safe(str(server))}"


def _safe(name: str) -> str:
    return urllib.parse.quote(name, safe="") or "-"


def write_carry(
    root: Path, frame: pd.DataFrame, mark: str, kind: str = "lines", file_mode: int = FILE_MODE
) -> str:
    name = f"{mark}-{kind}.parquet"
    table = pa.Table.from_pandas(frame, preserve_index=False)
    relative = PurePosixPath(CARRY, name)
    _write_atomically(root, relative, lambda out: _parquet(table, out), file_mode)
    return name


def commit(root: Path, manifest: Manifest, file_mode: int = FILE_MODE) -> None:
    """Make the manifest (and with it every part up to its mark) the store's state: the
    files written without ``sync`` are made durable first, in one go."""
    _sync_filesystem(root)
    text = json.dumps(dataclasses.asdict(manifest), indent=1, sort_keys=True)
    _write_atomically(
        root, PurePosixPath(MANIFEST), lambda out: out.write(text.encode("utf-8")), file_mode
    )
    with contextlib.suppress(OSError), _folder(root, ()) as folder:
        os.fsync(folder)  # make the rename itself durable


def _sync_filesystem(root: Path) -> None:
    """Flush the store's file system (Linux ``syncfs``, else ``sync``): one flush per commit
    costs a journal commit, an fsync per file one each (80 files: 22 ms against 32-44 ms)."""
    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    if syncfs is None:
        return os.sync()
    with _folder(root, ()) as folder:
        if syncfs(folder) != 0:
            error = ctypes.get_errno()
            raise StoreError(_write_error(root / MANIFEST, OSError(error, os.strerror(error))))


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
    _entries(root, PurePosixPath())  # a link in the store (carry itself...) is refused
    _entries(root, PurePosixPath(CARRY))
    try:
        return pq.read_table(root / CARRY / name).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise StoreError(f"cannot read store {root}: {exc}") from None


def snapshot(root: Path) -> tuple[Manifest, pd.DataFrame | None]:
    """The manifest and its carried lines. An ingest committing meanwhile deletes the carry
    this manifest names (parts are never deleted once committed): then read the new one."""
    for _ in range(5):
        manifest = load_manifest(root)
        try:
            return manifest, read_carry(root, manifest.carry)
        except StoreError:
            if load_manifest(root).carry == manifest.carry:
                raise
    raise StoreError(f"store {root} changes too fast to be read: try again")
