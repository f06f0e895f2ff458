"""The derived tables: what the dashboard, the mail and the exports read besides the stored
parts, made of them (``analyzer.store.views`` lists them).

Classification depends on more than the logs: the customers file, the enforcement dates,
the time zone and the local domains (``derived_fingerprint``). So the store keeps the
classified sessions and the rollups per fingerprint, one file per part they come from
(``store.Part.derived``): ``ingest`` writes them with its parts in the same commit
(``write_derived``), and a reader that finds one missing builds it from its part
(``derive``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer import schema as s
from analyzer.judgements import rollups
from analyzer.judgements.blame import blame_blocklists, blame_rollup
from analyzer.judgements.customers import local_domains
from analyzer.judgements.pipeline import bounce_rules, finish_sessions
from analyzer.judgements.risk import auth_sessions
from analyzer.sessions.messages import REFUSED_STATUSES
from analyzer.settings.config import Settings
from analyzer.store import parquet as store
from analyzer.store.queries import (
    AUTH,
    BLAMED,
    BLAMED_DAILY,
    DAILY,
    DELIVERY_DAILY,
    LOGINS,
    SESSIONS,
    SOURCES,
)

DERIVED_VERSION = 1
# The tables made of the classified sessions (rollups, and a few sessions), and what makes each.
SESSION_ROLLUPS = {
    DAILY: rollups.daily_sessions, LOGINS: rollups.daily_logins, SOURCES: rollups.daily_sources,
    AUTH: auth_sessions,
}  # fmt: skip


def derived_fingerprint(
    settings: Settings, customers: pd.DataFrame, inferred: Sequence[str] = ()
) -> str:
    """What classified sessions and rollups depend on beyond the stored parts."""
    basis = {
        "version": DERIVED_VERSION,
        "timezone": settings.timezone,
        "enforcement": str(settings.enforcement_date),
        "servers": {k: str(v) for k, v in sorted(settings.server_enforcement().items())},
        "domains": sorted(local_domains(customers, settings.local_domains) | set(inferred)),
        "customers": hashlib.sha256(
            pd.util.hash_pandas_object(customers.astype(str), index=False).to_numpy().tobytes()
        ).hexdigest(),
        "columns": list(customers.columns),
        "own_ips": list(settings.own_outbound_ips()),
        "bounces": [[r.kind, r.regex] for r in bounce_rules(settings)],
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def source_of(name: str) -> str:
    """The stored table a derived table comes from."""
    return "deliveries" if name in (DELIVERY_DAILY, BLAMED, BLAMED_DAILY) else SESSIONS


def derive(
    name: str,
    frame: pd.DataFrame,
    settings: Settings,
    customers: pd.DataFrame,
    domains: frozenset[str],
) -> pd.DataFrame:
    """The derived table ``name`` of one stored part's rows (``frame``: as stored)."""
    if name == SESSIONS:
        return finish_sessions(frame, customers, settings)
    if name in SESSION_ROLLUPS:
        classified = derive(SESSIONS, frame, settings, customers, domains)
        return SESSION_ROLLUPS[name](classified, settings.timezone)
    if name == BLAMED:
        refused = frame[frame[s.STATUS].isin(REFUSED_STATUSES).fillna(False).to_numpy()]
        return blame_blocklists(refused, settings.own_outbound_ips(), bounce_rules(settings))
    if name == BLAMED_DAILY:
        blamed = derive(BLAMED, frame, settings, customers, domains)
        return blame_rollup(blamed, domains, settings.timezone)
    return rollups.daily_deliveries(frame, domains, settings.timezone)


def write_derived(
    root: Path,
    settings: Settings,
    customers: pd.DataFrame,
    inferred: Sequence[str],
    frames: dict[str, pd.DataFrame],
    written: dict[str, Sequence[store.Part]],
) -> str:
    """``ingest``: the derived tables of the parts it just wrote, before it commits them
    (``frames``: the sessions and deliveries of the chunk, ``written``: their parts).
    Classified and blamed once for the whole chunk, then cut along the parts, and not synced
    (the commit makes them durable). Returns the fingerprint they are kept under."""
    fingerprint = derived_fingerprint(settings, customers, inferred)
    domains = local_domains(customers, settings.local_domains) | set(inferred)
    tz, mode = settings.timezone, settings.file_mode

    def write_cut(name: str, table: pa.Table, folders: np.ndarray, source: str) -> None:
        """For each part of ``source`` just written, write its rows of ``table`` as its
        derived table ``name`` (``folders``: each row's part, ``store.part_folders``)."""
        # each part's row positions in one pass, and an Arrow take per part (a pandas frame
        # per part cost more than its rows)
        positions = pd.Series(folders).groupby(folders, sort=False).indices
        for part in written.get(source, ()):
            rows = positions.get(_folder(part), NO_ROWS)
            relative = part.derived(fingerprint, name)
            store.write_parquet(root, relative, table.take(rows), mode, sync=False)

    def write_rollup(name: str, roll_up, frame: pd.DataFrame, folders: np.ndarray, source: str):
        """``roll_up`` of every part's rows of ``frame`` in one call, cut along the parts."""
        rows = roll_up(frame.assign(**{PART_KEY: folders}), tz, by=(PART_KEY,))
        keys = rows.pop(PART_KEY).to_numpy(dtype=object)
        write_cut(name, store.arrow_table(rows), keys, source)

    sessions = frames.get(SESSIONS)
    if sessions is not None and len(sessions):
        classified = finish_sessions(sessions, customers, settings)
        folders = store.part_folders(classified, s.START)
        write_cut(SESSIONS, store.arrow_table(classified), folders, SESSIONS)
        for name, roll_up in SESSION_ROLLUPS.items():
            write_rollup(name, roll_up, classified, folders, SESSIONS)
    deliveries = frames.get("deliveries")
    if deliveries is not None and len(deliveries):
        blamed = derive(BLAMED, deliveries, settings, customers, domains)
        blamed_folders = store.part_folders(blamed, s.TS)
        write_cut(BLAMED, store.arrow_table(blamed), blamed_folders, "deliveries")

        def counts(frame, timezone, by=()):
            return rollups.daily_deliveries(frame, domains, timezone, by)

        def blames(frame, timezone, by=()):
            return blame_rollup(frame, domains, timezone, by)

        write_rollup(
            DELIVERY_DAILY, counts, deliveries, store.part_folders(deliveries, s.TS), "deliveries"
        )
        write_rollup(BLAMED_DAILY, blames, blamed, blamed_folders, "deliveries")
    return fingerprint


# The column by which the rollups (``by``) are made once per chunk, then cut along the parts.
PART_KEY = "_part"
NO_ROWS = np.array([], dtype=np.int64)


def _folder(part: store.Part) -> str:
    """The day and server folders of ``part`` (``store.part_folders``' value for its rows)."""
    return "/".join(part.path.parts[1:3])
