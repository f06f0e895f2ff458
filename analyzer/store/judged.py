"""Accounts judged on the whole history, kept in the store at each commit.

Judging accounts reads every login and AUTH failure the store holds, and every refusal
that blames a blocklist: seconds on a big provider's store, for the Risk page's first load,
``export accounts`` and the nightly mail alike. ``ingest`` judges them once after it has
committed (``relaywatch.jobs.judge_accounts``) and keeps the table here:

    derived/<fingerprint>/judged/<commit mark>-<key>.parquet

It is read only for the same commit and derived tables (the mark and the fingerprint), the
same rules and ASN database (``key``), and a question about every server, class and customer
up to the last day or later; anything else is judged afresh, as before.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.judgements import blame, risk, rollups
from analyzer.settings.config import Settings
from analyzer.store import parquet as store
from analyzer.store import tables

JUDGED = "judged"
LAST_DAY = b"relaywatch.last_day"  # the last local day of the history judged
logger = logging.getLogger(__name__)


@functools.cache
def _rules_digest() -> bytes:
    """The rules' code, read once per process (it does not change while it runs)."""
    return b"".join(
        hashlib.sha256(Path(module.__file__).read_bytes()).digest()
        for module in (risk, rollups, blame, tables)
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


def read_judged(
    root: Path, fingerprint: str, committed: str, settings: Settings, until: dt.date | None
) -> pd.DataFrame | None:
    """The accounts kept for this commit, if they answer a question up to ``until``."""
    path = root / _folder(fingerprint) / _name(committed, judgement_key(settings))
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowInvalid) as exc:  # a damaged file is judged afresh
        logger.warning("not reading the judged accounts %s: %s", path, exc)
        return None
    last = (table.schema.metadata or {}).get(LAST_DAY)
    if until is not None and (last is None or until < dt.date.fromisoformat(last.decode())):
        return None
    return table.replace_schema_metadata(
        {k: v for k, v in (table.schema.metadata or {}).items() if k != LAST_DAY}
    ).to_pandas()


def write_judged(
    root: Path,
    fingerprint: str,
    committed: str,
    settings: Settings,
    accounts: pd.DataFrame,
    last_day: dt.date | None,
) -> None:
    """Keep ``accounts`` (judged on the history up to ``last_day``, its last local day) for
    this commit, and drop those of earlier commits."""
    folder = _folder(fingerprint)
    name = _name(committed, judgement_key(settings))
    table = pa.Table.from_pandas(accounts, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    if last_day is not None:
        metadata[LAST_DAY] = last_day.isoformat().encode()
    table = table.replace_schema_metadata(metadata)
    store.write_parquet(root, folder / name, table, settings.file_mode)
    store.remove_others(root, folder, name)
