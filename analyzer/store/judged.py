"""Accounts judged on the whole history, kept in the store at each commit.

Judging accounts reads every login and AUTH failure the store holds, and every refusal
that blames a blocklist: seconds and hundreds of megabytes on a big provider's store, for
the Risk page's first load, ``export accounts`` and the nightly mail alike. ``ingest``
judges them after it has committed (``relaywatch.jobs.judge_accounts``) and keeps two
tables here:

    derived/<fingerprint>/judged/<commit mark>-<key>.parquet    the whole history
    derived/<fingerprint>/judged/day-<day>-<key>.parquet        up to the last complete day

The first is read only for the same commit and derived tables (the mark and the
fingerprint), the same rules and ASN database (``key``), and a question about every server,
class and customer up to the last day or later. The second answers the nightly mail's
question (the history up to yesterday): it is read when it was found valid at this commit,
and a commit keeps it valid when it added no row of that day or before (its new parts start
later, and the sessions still open then are the same). Anything else is judged afresh.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from analyzer import schema as s
from analyzer.judgements import blame, risk, rollups
from analyzer.judgements.classify import enforcement_instant
from analyzer.settings.config import Settings
from analyzer.store import derived, tables
from analyzer.store import parquet as store

JUDGED = "judged"
LAST_DAY = b"relaywatch.last_day"  # the last local day of the history judged
VALID_AT = b"relaywatch.valid_at"  # a day's judgement: the commit it was last found valid at
CARRIED = b"relaywatch.carried"  # ... and what it read of the sessions then open
DAY = "day-"
OWN = b"relaywatch."  # the metadata keys above
logger = logging.getLogger(__name__)


@functools.cache
def _rules_digest() -> bytes:
    """The rules' code, read once per process (it does not change while it runs)."""
    return b"".join(
        hashlib.sha256(Path(module.__file__).read_bytes()).digest()
        # and how judgements are kept and derived tables made: a day's is kept over commits
        for module in (risk, rollups, blame, tables, derived, sys.modules[__name__])
    )


def judgement_key(settings: Settings) -> str:
    """What a judgement depends on beyond the commit and the derived tables: the rules'
    code (a new relaywatch judges again) and the ASN database it looked addresses up in."""
    digest = hashlib.sha256(_rules_digest())
    for path in (settings.asn_db, settings.as_names):
        try:
            found = path.stat() if path is not None else None
        except OSError:
            found = None
        digest.update(repr((str(path), found and (found.st_size, found.st_mtime_ns))).encode())
    return digest.hexdigest()[:16]


def _folder(fingerprint: str) -> PurePosixPath:
    return PurePosixPath(store.DERIVED, fingerprint, JUDGED)


def _name(committed: str, key: str) -> str:
    return f"{committed}-{key}.parquet"


def _day_name(day: dt.date, key: str) -> str:
    return f"{DAY}{day.isoformat()}-{key}.parquet"


def _read(path: Path) -> pa.Table | None:
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowInvalid) as exc:  # a damaged file is judged afresh
        logger.warning("not reading the judged accounts %s: %s", path, exc)
        return None


def _without_own(table: pa.Table) -> pa.Table:
    """``table`` without relaywatch's own metadata (pandas' is kept)."""
    kept = {k: v for k, v in (table.schema.metadata or {}).items() if not k.startswith(OWN)}
    return table.replace_schema_metadata(kept)


def _frame(table: pa.Table) -> pd.DataFrame:
    """The accounts, as kept."""
    return _without_own(table).to_pandas()


@dataclass(frozen=True)
class Judgements:
    """The judgements kept in a store, as of its commit ``manifest.committed``: read, kept
    and renewed (``writable``: False for a store this process may not write)."""

    root: Path
    fingerprint: str
    manifest: store.Manifest
    settings: Settings
    # what judging up to a day reads of the sessions still open at the commit, as a digest
    open_digest: Callable[[dt.date], str]
    writable: bool = True

    def _path(self, name: str) -> Path:
        return self.root / _folder(self.fingerprint) / name

    def read(self, until: dt.date | None) -> pd.DataFrame | None:
        """The accounts kept for this commit, if they answer a question up to ``until``."""
        key, committed = judgement_key(self.settings), self.manifest.committed
        table = _read(self._path(_name(committed, key)))
        last = (table.schema.metadata or {}).get(LAST_DAY) if table is not None else None
        if table is not None and (until is None or (last and until >= _date(last))):
            return _frame(table)
        if until is None:
            return None
        table = _read(self._path(_day_name(until, key)))
        if table is None or (table.schema.metadata or {}).get(VALID_AT) != committed.encode():
            return None
        return _frame(table)

    def keep(self, accounts: pd.DataFrame, last_day: dt.date | None) -> None:
        """Keep ``accounts`` judged on the whole history (up to ``last_day``, its last local
        day) for this commit, and drop those of earlier commits."""
        name = _name(self.manifest.committed, judgement_key(self.settings))
        self._write(name, accounts, {LAST_DAY: last_day.isoformat().encode()} if last_day else {})

    def keep_day(self, accounts: pd.DataFrame, day: dt.date) -> None:
        """Keep ``accounts`` judged on the history up to ``day`` as valid at this commit,
        and for the next ones while they add nothing of that day or before (``renew_day``);
        drop other days'."""
        metadata = {VALID_AT: self.manifest.committed.encode(), CARRIED: self._carried(day)}
        self._write(_day_name(day, judgement_key(self.settings)), accounts, metadata)

    def _carried(self, day: dt.date) -> bytes:
        return self.open_digest(day).encode()

    def _write(self, name: str, accounts: pd.DataFrame | pa.Table, metadata: dict) -> None:
        """Write one judgement; remove the older ones of its kind (whole history, or a day)."""
        if not self.writable:
            return
        table = accounts
        if isinstance(table, pd.DataFrame):
            table = pa.Table.from_pandas(accounts, preserve_index=False)
        table = _without_own(table)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
        folder, day = _folder(self.fingerprint), name.startswith(DAY)
        try:
            store.write_parquet(self.root, folder / name, table, self.settings.file_mode)
            store.remove_others(self.root, folder, name, lambda other: other.startswith(DAY) == day)
        except store.StoreError as exc:  # judged again when asked: slower, still right
            logger.warning("not keeping the judged accounts: %s", exc)

    def renew_day(self, day: dt.date) -> bool:
        """Mark the judgement up to ``day`` valid at this commit if it still is: every part
        committed since it was judged starts after ``day`` ends, and what judging reads of the
        sessions still open (``open_digest``) is the same. False: judge it again."""
        if not self.writable:
            return False
        table = _read(self._path(_day_name(day, judgement_key(self.settings))))
        metadata = (table.schema.metadata or {}) if table is not None else {}
        if table is None or VALID_AT not in metadata:
            return False
        since = metadata[VALID_AT].decode()
        if since > self.manifest.committed:  # kept by a later commit's ingest meanwhile
            return False
        if metadata.get(CARRIED) != self._carried(day):
            return False
        if not self._nothing_since(since, day_end(day, self.settings.timezone)):
            return False
        self._write(_day_name(day, judgement_key(self.settings)), table, {
            **metadata, VALID_AT: self.manifest.committed.encode()
        })  # fmt: skip
        return True

    def _nothing_since(self, since: str, end: pd.Timestamp) -> bool:
        """Whether the sessions and deliveries committed after the commit ``since`` all start
        at ``end`` or later (their parts' times are read: no statistics are kept)."""
        for name, column in (("sessions", s.START), ("deliveries", s.TS)):
            for part in store.committed_parts(self.root, name, self.manifest):
                if part.path.stem <= since or (part.day and part.day > str(end.date())):
                    continue  # judged already, or of a later UTC day than the day's end
                try:
                    times = pq.read_table(self.root / part.path, columns=[column])[column]
                except (OSError, pa.ArrowInvalid, KeyError):
                    return False
                first = pc.min(times).as_py()
                if first is None or pd.Timestamp(first) < end:
                    return False
        return True


def _date(value: bytes) -> dt.date:
    return dt.date.fromisoformat(value.decode())


def day_end(day: dt.date, timezone: str) -> pd.Timestamp:
    """The first instant (UTC) after the local ``day``."""
    return enforcement_instant(day + dt.timedelta(days=1), timezone)
