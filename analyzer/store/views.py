"""Reading what one view shows: the days, servers, columns and rows it asks for, no more.

The dashboard, the mail and the exports never hold every session. Each asks ``View.read``
for one table over a period — a few columns, the rows an Arrow filter keeps — and the parts
of other days are never opened. The tables:

    sessions        classified sessions (customer, class, reason, period added)
    daily           sessions per local day x server x class x reason x customer x period
    delivery_daily  delivery attempts per local day x server x status x outbound
    logins          sessions with a SASL login per local day x server x class x account x
                    client address x customer
    sources         sessions per local day x server x client address x class x reason x
                    customer x in a customer network
    auth            the sessions with a SASL login, or with AUTH failures from outside every
                    customer network (what judging accounts reads)
    blamed          refused deliveries, with the blocklist, zone and own IP the reply names
    blamed_daily    refused deliveries per local day x server x own IP named x blocklist x
                    status x outbound
    rejects, deliveries, problems
                    the stored events, as ingest wrote them

Classification depends on more than the logs, so the classified sessions and the rollups
are kept per settings fingerprint (``analyzer.store.derived``); a reader that finds one
missing (a store from an older relaywatch, or a customers file edited since) builds it from
its part — one part at a time, so memory stays bounded — and keeps it when it may write to
the store (else in memory, for this process).

``StoreView`` reads a store; ``MemoryView`` answers the same questions about logs parsed in
memory (``serve`` and ``export`` before any ``ingest``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from analyzer import schema as s
from analyzer.judgements import rollups
from analyzer.judgements.customers import local_domains
from analyzer.judgements.pipeline import Analysis, finish_sessions
from analyzer.sessions.build import build_session_tables
from analyzer.settings.config import Settings
from analyzer.store import parquet as store
from analyzer.store.derived import SESSION_ROLLUPS, derive, derived_fingerprint, source_of
from analyzer.store.judged import Judgements, day_end
from analyzer.store.queries import (
    AUTH,
    BLAMED,
    BLAMED_DAILY,
    DAILY,
    DELIVERY_DAILY,
    EVENTS,
    LOGINS,
    PIECE_ROWS,
    SESSIONS,
    TIME_COLUMN,
    View,
    both,
    isin,
    period_filter,
    utc_day,
    utc_days,
)
from analyzer.store.stored import stored_line_summary

logger = logging.getLogger(__name__)

# Rollups: a few rows per day and server, read whole once and kept (a read of a period then
# filters memory instead of opening a file per part).
KEPT_WHOLE = (DAILY, DELIVERY_DAILY, LOGINS, BLAMED_DAILY)
FEW_DAYS = 3
PARTS_BY_TIME = (SESSIONS, AUTH, BLAMED, *EVENTS)  # parts are UTC days of their time column


def _select(table: pa.Table, columns: Sequence[str] | None, where: pc.Expression | None):
    if where is not None:
        table = table.filter(where)
    if columns is not None:
        table = table.select([c for c in columns if c in table.schema.names])
    return table


@dataclass
class MemoryView:
    """``View`` of an analysis in memory (logs parsed now)."""

    analysis: Analysis
    settings: Settings
    customers: pd.DataFrame
    _tables: dict[str, pa.Table] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def version(self) -> str:
        digest = pd.util.hash_pandas_object(
            self.analysis.sessions[[s.SESSION_ID]], index=False
        ).to_numpy()
        return hashlib.sha256(digest.tobytes()).hexdigest()[:12]

    @property
    def inferred_domains(self) -> tuple[str, ...]:
        return self.analysis.inferred_domains

    def _table(self, name: str) -> pa.Table:
        with self._lock:
            if name not in self._tables:
                self._tables[name] = pa.Table.from_pandas(self._frame(name), preserve_index=False)
            return self._tables[name]

    def _frame(self, name: str) -> pd.DataFrame:
        tz = self.settings.timezone
        if name == SESSIONS:
            return self.analysis.sessions
        if name in SESSION_ROLLUPS:
            return SESSION_ROLLUPS[name](self.analysis.sessions, tz)
        if name in (DELIVERY_DAILY, BLAMED, BLAMED_DAILY):
            deliveries = self.analysis.deliveries
            return derive(name, deliveries, self.settings, self.customers, self.domains())
        return getattr(self.analysis, name)

    def read(self, name, columns=None, since=None, until=None, servers=(), where=None):
        table = self._table(name)
        cut = both(
            period_filter(name, since, until, self.settings.timezone),
            isin(s.SERVER, servers) if servers else None,
            where,
        )
        return _pandas(_select(table, columns, cut))

    def days(self, name, since=None, until=None, servers=()) -> list[str]:
        frame = self.read(name, [TIME_COLUMN.get(name, s.TS)], since, until, servers)
        times = frame.iloc[:, 0].dropna()
        return sorted({str(day) for day in times.dt.tz_convert("UTC").dt.date.unique()})

    def servers(self) -> list[str]:
        return sorted(self.analysis.sessions[s.SERVER].dropna().astype(str).unique())

    def domains(self) -> frozenset[str]:
        return self.analysis.local_domains(self.customers, self.settings)

    def read_day(self, name, day, columns=None, since=None, until=None, servers=(), where=None):
        frame = self.read(name, columns, since, until, servers, both(where, utc_day(name, day)))
        return _in_order(name, frame)

    def count_day(self, name, day, since=None, until=None, servers=(), where=None) -> int:
        return len(self.read(name, [], since, until, servers, both(where, utc_day(name, day))))

    def read_days(self, name, days, columns=None, since=None, until=None, servers=(), where=None):
        return self.read(name, columns, since, until, servers, both(where, utc_days(name, days)))

    def read_totals(self, name, keys, sums, since=None, until=None, servers=(), where=None):
        cut = both(
            period_filter(name, since, until, self.settings.timezone),
            isin(s.SERVER, servers) if servers else None,
            where,
        )
        return _totals([_select(self._table(name), None, cut)], keys, sums)

    def read_table(self, name, columns, since=None, until=None, servers=(), where=None):
        cut = both(
            period_filter(name, since, until, self.settings.timezone),
            isin(s.SERVER, servers) if servers else None,
            where,
        )
        return _table([_select(self._table(name), columns, cut)], columns)

    def day_pieces(self, name, day, columns=None, since=None, until=None, servers=(), where=None):
        cut = both(
            period_filter(name, since, until, self.settings.timezone),
            isin(s.SERVER, servers) if servers else None,
            utc_day(name, day),
            where,
        )
        return _pieces(name, [_select(self._table(name), columns, cut)])

    def lines(self) -> pd.DataFrame:
        return self.analysis.lines

    def judged(self, until: dt.date | None) -> pd.DataFrame | None:
        return None  # logs parsed now: nothing was judged before


@dataclass
class StoreView:
    """``View`` of the store at ``root`` as it was committed when opened (``open``)."""

    root: Path
    settings: Settings
    customers: pd.DataFrame
    manifest: store.Manifest
    fingerprint: str
    carry: pd.DataFrame | None  # lines of the sessions still open at the commit
    writable: bool = True
    _kept: dict[str, pa.Table] = field(default_factory=dict, repr=False)  # read-only store
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _open_tables: dict[str, pa.Table] = field(default_factory=dict, repr=False)
    _open_sessions: pd.DataFrame | None = field(default=None, repr=False)
    _open_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _whole: dict[str, pa.Table | None] = field(default_factory=dict, repr=False)
    _whole_locks: dict[str, threading.Lock] = field(
        default_factory=lambda: {name: threading.Lock() for name in KEPT_WHOLE}, repr=False
    )  # one per rollup: a page reading one never waits for the warm-up reading another

    @classmethod
    def open(cls, root: Path, settings: Settings, customers: pd.DataFrame) -> StoreView:
        manifest, carry = store.snapshot(root)
        inferred = tuple(manifest.inferred_domains) if not settings.local_domains else ()
        fingerprint = derived_fingerprint(settings, customers, inferred)
        return cls(root, settings, customers, manifest, fingerprint, carry)

    @property
    def open_sessions(self) -> pd.DataFrame:
        """The sessions still open at the commit, built from the carried lines when first
        asked for (not at start-up: a big provider's carry takes a second)."""
        with self._open_lock:
            if self._open_sessions is None:
                found = pd.DataFrame()
                if self.carry is not None and len(self.carry):
                    gap = self.settings.exim.session_gap_seconds
                    built = build_session_tables(self.carry, self.domains(), gap)
                    if len(built.sessions):
                        found = finish_sessions(built.sessions, self.customers, self.settings)
                self._open_sessions = found
            return self._open_sessions

    @property
    def version(self) -> str:
        return f"{self.manifest.committed}-{self.fingerprint}"

    @property
    def inferred_domains(self) -> tuple[str, ...]:
        return tuple(self.manifest.inferred_domains) if not self.settings.local_domains else ()

    def domains(self) -> frozenset[str]:
        return local_domains(self.customers, self.settings.local_domains) | set(
            self.inferred_domains
        )

    # --- deriving -----------------------------------------------------------------------
    def derive(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        return derive(name, frame, self.settings, self.customers, self.domains())

    def _paths(self, name: str, parts: Sequence[store.Part]) -> list[Path | pa.Table]:
        """The files (or, for a read-only store, kept tables) of ``name`` for ``parts``,
        building what is missing."""
        if name in EVENTS:
            return [self.root / part.path for part in parts]
        found: list[Path | pa.Table] = []
        for part in parts:
            relative = part.derived(self.fingerprint, name)
            path = self.root / relative
            if path.is_file():
                found.append(path)
                continue
            with self._lock:
                if str(relative) in self._kept:
                    found.append(self._kept[str(relative)])
                    continue
                if path.is_file():
                    found.append(path)
                    continue
                built = self._build(name, part, relative)
                found.append(built if isinstance(built, pa.Table) else path)
        return found

    def _build(self, name: str, part: store.Part, relative) -> pa.Table | None:
        classified = self.root / part.derived(self.fingerprint, SESSIONS)
        if name in SESSION_ROLLUPS and classified.is_file():  # no need to classify again
            sessions = pq.read_table(classified).to_pandas()
            frame = SESSION_ROLLUPS[name](sessions, self.settings.timezone)
        else:
            frame = self.derive(name, pq.read_table(self.root / part.path).to_pandas())
        if self.writable:
            try:
                store.write_frame(self.root, relative, frame, self.settings.file_mode)
                return None
            except store.StoreError as exc:
                logger.warning("keeping derived tables in memory: %s", exc)
                self.writable = False
        table = pa.Table.from_pandas(frame, preserve_index=False)
        self._kept[str(relative)] = table
        return table

    # --- reading ------------------------------------------------------------------------
    def _parts(self, name, since, until, servers) -> list[store.Part]:
        first = str(since - dt.timedelta(days=1)) if since else None
        last = str(until + dt.timedelta(days=1)) if until else None
        table = name if name in EVENTS else source_of(name)
        return store.committed_parts(self.root, table, self.manifest, first, last, servers)

    def _open_table(self, name: str) -> pa.Table | None:
        """Sessions still open at the commit (and their rollups): small, kept."""
        if (name != SESSIONS and name not in SESSION_ROLLUPS) or self.open_sessions.empty:
            return None
        with self._lock:
            if name not in self._open_tables:
                frame = self.open_sessions
                if name in SESSION_ROLLUPS:
                    frame = SESSION_ROLLUPS[name](frame, self.settings.timezone)
                self._open_tables[name] = pa.Table.from_pandas(frame, preserve_index=False)
            return self._open_tables[name]

    def _stored(
        self, name: str, parts: Sequence[store.Part], columns, cut, compact: bool = False
    ) -> list[pa.Table]:
        """The rows of ``name`` that ``cut`` keeps in ``parts`` (``compact``: ``_scan``)."""
        sources = self._paths(name, parts)
        files = [p for p in sources if isinstance(p, Path)]
        tables = [t for t in sources if isinstance(t, pa.Table)]
        found = [_scan(files, columns, cut, compact)] if files else []
        return found + [_select(table, columns, cut) for table in tables]

    def _kept_whole(self, name: str) -> pa.Table | None:
        """All of a rollup's stored rows (None: no part yet), read on first use."""
        with self._whole_locks[name]:
            if name not in self._whole:
                found = self._stored(name, self._parts(name, None, None, ()), None, None)
                self._whole[name] = (
                    pa.concat_tables(found, promote_options="permissive").combine_chunks()
                    if found
                    else None
                )
            return self._whole[name]

    def _few_days(self, name: str, since, until) -> bool:
        """A read of a few days of a rollup not kept yet (the first and last days of the
        data, asked at start-up): its parts are read, not the whole table."""
        kept = name in self._whole  # a dict's membership test needs no lock
        return not kept and bool(since and until) and (until - since).days < FEW_DAYS

    def _tables(self, name, columns, since, until, servers, where, days=None, compact=False):
        """Arrow tables of ``name``'s rows in the period (and the UTC ``days``): the stored
        parts', then the open sessions'."""
        chosen = utc_days(name, days) if days is not None else None
        kept = both(
            period_filter(name, since, until, self.settings.timezone),
            isin(s.SERVER, servers) if servers else None,
            where,
        )
        cut = both(kept, chosen)
        if name in KEPT_WHOLE and days is None and not self._few_days(name, since, until):
            whole = self._kept_whole(name)
            found = [] if whole is None else [_select(whole, columns, cut)]
        else:
            parts = self._parts(name, since, until, servers)
            if days is not None:
                parts = [p for p in parts if p.day in days]
            # a part of a UTC day holds rows of that day only when it is cut by the time
            # column the day is of: then filtering on the day would copy it for nothing
            by_day = days is not None and name in PARTS_BY_TIME
            found = self._stored(name, parts, columns, kept if by_day else cut, compact)
        extra = self._open_table(name)
        if extra is not None:
            found.append(_select(extra, columns, cut))
        return found

    def read(self, name, columns=None, since=None, until=None, servers=(), where=None):
        return _frame(self._tables(name, columns, since, until, servers, where), columns)

    def days(self, name, since=None, until=None, servers=()) -> list[str]:
        """The UTC days (ISO) with parts of ``name`` in the period, in order."""
        found = {p.day for p in self._parts(name, since, until, servers) if p.day}
        extra = self._open_table(name)
        if extra is not None and name == SESSIONS:
            found |= set(self.open_sessions[s.START].dropna().dt.date.astype(str))
        return sorted(found)

    def servers(self) -> list[str]:
        """From the part folders' names (and the open sessions): no file is read."""
        names = {
            urllib.parse.unquote(p.server.removeprefix("server="))
            for p in store.committed_parts(self.root, SESSIONS, self.manifest)
        }
        names |= (
            set(self.open_sessions[s.SERVER].dropna().astype(str))
            if len(self.open_sessions)
            else set()
        )
        return sorted(names - {"-"})

    def read_day(self, name, day, columns=None, since=None, until=None, servers=(), where=None):
        """``read`` of one UTC day (sessions by start, then id: the export's order)."""
        tables = self._tables(name, columns, since, until, servers, where, {day})
        return _in_order(name, _frame(tables, columns))

    def count_day(self, name, day, since=None, until=None, servers=(), where=None) -> int:
        tables = self._tables(name, [], since, until, servers, where, {day})
        return sum(table.num_rows for table in tables)

    def read_totals(self, name, keys, sums, since=None, until=None, servers=(), where=None):
        columns = [*keys, *sums, rollups.FIRST_START, rollups.LAST_START]
        return _totals(self._tables(name, columns, since, until, servers, where), keys, sums)

    def read_table(self, name, columns, since=None, until=None, servers=(), where=None):
        return _table(self._tables(name, columns, since, until, servers, where), columns)

    def day_pieces(self, name, day, columns=None, since=None, until=None, servers=(), where=None):
        tables = self._tables(name, columns, since, until, servers, where, {day}, compact=True)
        return _pieces(name, tables)

    def read_days(self, name, days, columns=None, since=None, until=None, servers=(), where=None):
        days = set(days)
        return _frame(self._tables(name, columns, since, until, servers, where, days), columns)

    def lines(self) -> pd.DataFrame:
        return stored_line_summary(self.manifest)

    @property
    def judgements(self) -> Judgements:
        """The accounts ``ingest`` judged at this commit (``analyzer.store.judged``)."""
        parts = (self.root, self.fingerprint, self.manifest, self.settings, self.open_digest)
        return Judgements(*parts, writable=self.writable)

    def open_digest(self, day: dt.date) -> str:
        """What judging accounts up to ``day`` reads of the sessions still open at the commit
        (their AUTH and login rows of that day or before), as a digest; "" when no carried
        line is before the day's end (the sessions are built only then)."""
        tz = self.settings.timezone
        times = self.carry[s.TS] if self.carry is not None and s.TS in self.carry else None
        if times is None or bool((times >= day_end(day, tz)).fillna(False).all()):
            return ""
        digest = hashlib.sha256()
        for name in (AUTH, LOGINS):
            table = self._open_table(name)
            if table is None:
                continue
            rows = _select(table, None, period_filter(name, None, day, tz)).to_pandas()
            hashed = pd.util.hash_pandas_object(rows.astype(str), index=False).to_numpy()
            digest.update(hashed.tobytes())
        return digest.hexdigest()[:16]

    def judged(self, until: dt.date | None) -> pd.DataFrame | None:
        return self.judgements.read(until)


def _frame(tables: Sequence[pa.Table], columns) -> pd.DataFrame:
    if not tables:
        return pd.DataFrame(columns=list(columns or ()))
    # one chunk per column: pandas' takes on Arrow columns of many chunks are slow
    return _pandas(pa.concat_tables(tables, promote_options="permissive"))


def _table(tables: Sequence[pa.Table], columns: Sequence[str]) -> pa.Table:
    """``tables`` as one (no table: no row, and text columns)."""
    if not tables:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return pa.concat_tables(tables, promote_options="permissive")


def _pandas(table: pa.Table) -> pd.DataFrame:
    """A read table as pandas, in the types the stored frame had. One chunk per column:
    pandas' takes on columns of many chunks are slow."""
    return table.combine_chunks().to_pandas()


def _in_order(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Sessions by start, then id; events by time (as the exports write them)."""
    keys = [k for k in ((s.START, s.SESSION_ID) if name == SESSIONS else (s.TS,)) if k in frame]
    return frame.sort_values(keys, kind="stable", ignore_index=True) if keys else frame


def _totals(tables: Sequence[pa.Table], keys: Sequence[str], sums: Sequence[str]) -> pd.DataFrame:
    """The rows of ``tables`` added up by ``keys`` (nulls a key of their own): ``sums``
    summed, the first start the earliest, the last the latest."""
    spans = [rollups.FIRST_START, rollups.LAST_START]
    if not tables:
        return pd.DataFrame(columns=[*keys, *sums, *spans])
    table = pa.concat_tables(tables, promote_options="permissive")
    if not table.num_rows:
        return _pandas(table.select([*keys, *sums, *spans]))
    wanted = [(c, "sum") for c in sums] + [(spans[0], "min"), (spans[1], "max")]
    added = table.group_by(list(keys), use_threads=False).aggregate(wanted)
    names = {f"{c}_{how}": c for c, how in wanted}
    added = added.rename_columns([names.get(c, c) for c in added.column_names])
    return _pandas(added.select([*keys, *sums, *spans]))


def _pieces(name: str, tables: Sequence[pa.Table]) -> Iterator[pd.DataFrame]:
    """``tables`` as one, in the export's order (sorted in Arrow, as ``_in_order`` sorts),
    as pandas frames of at most ``PIECE_ROWS`` rows."""
    if not tables:
        return
    table = pa.concat_tables(_alike(tables), promote_options="permissive")
    names = table.schema.names
    keys = [k for k in ((s.START, s.SESSION_ID) if name == SESSIONS else (s.TS,)) if k in names]
    # stable, nulls last: what pandas' stable sort_values does; a piece is taken at a time,
    # so the day is never held twice
    order = pc.sort_indices(table, [(k, "ascending") for k in keys]) if keys else None
    for first in range(0, table.num_rows, PIECE_ROWS):
        piece = order.slice(first, PIECE_ROWS) if order is not None else None
        found = table.take(piece) if piece is not None else table.slice(first, PIECE_ROWS)
        yield _pandas(_plain(found))


def _scan(files: Sequence[Path], columns, cut, compact: bool = False) -> pa.Table:
    """The rows of Parquet ``files`` that ``cut`` keeps, ``columns`` only; ``compact``: text
    but the session ids as dictionaries (Parquet keeps them so: a busy day of a big store
    takes a third of its plain size; ``_plain`` turns a piece back)."""
    try:
        dataset = ds.dataset([str(f) for f in files], format="parquet")
        names = dataset.schema.names
        wanted = None if columns is None else [c for c in columns if c in names]
        if compact:
            texts = [f.name for f in dataset.schema if f.name != s.SESSION_ID and _is_text(f.type)]
            options = ds.ParquetReadOptions(dictionary_columns=texts)
            files = [str(f) for f in files]
            dataset = ds.dataset(files, format=ds.ParquetFileFormat(read_options=options))
        return dataset.to_table(columns=wanted, filter=cut)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        if compact:  # a filter on text that dictionaries do not take (a search): plainly
            return _scan(files, columns, cut)
        # parts written by different versions disagree on a type: read them one by one
        tables = [pq.read_table(f) for f in files]
        table = pa.concat_tables(tables, promote_options="permissive")
        return _select(table, columns, cut)
    except OSError as exc:
        raise store.StoreError(f"cannot read store: {exc}") from None


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _alike(tables: Sequence[pa.Table]) -> list[pa.Table]:
    """``tables`` with a column that is a dictionary in one a dictionary in all (of large
    strings), so that they can be joined."""
    coded = pa.dictionary(pa.int32(), pa.large_string())
    names = {f.name for table in tables for f in table.schema if pa.types.is_dictionary(f.type)}
    if not names:
        return list(tables)

    def alike(column: pa.ChunkedArray) -> pa.ChunkedArray:
        if pa.types.is_dictionary(column.type):
            return column.cast(coded)
        return pc.dictionary_encode(column.cast(pa.large_string())).cast(coded)

    found = []
    for table in tables:
        for at, name in enumerate(table.column_names):
            if name in names:
                table = table.set_column(at, name, alike(table.column(at)))
        found.append(table)
    return found


def _plain(table: pa.Table) -> pa.Table:
    """``table`` with its dictionaries as large strings (what a plain read gives)."""
    for at, column in enumerate(table.schema):
        if pa.types.is_dictionary(column.type):  # set_column keeps pandas' metadata
            table = table.set_column(at, column.name, table.column(at).cast(pa.large_string()))
    return table


def open_view(
    settings: Settings,
    customers: pd.DataFrame,
    analyse: Callable[[], Analysis],
) -> View:
    """The store when ``ingest`` has filled it, else the logs parsed now (``analyse``)."""
    if settings.store is not None and store.exists(settings.store):
        manifest = store.load_manifest(settings.store)
        if manifest.committed:
            return StoreView.open(settings.store, settings, customers)
    return MemoryView(analyse(), settings, customers)
