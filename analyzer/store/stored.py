"""Reading the store back: the analysis of everything ``relaywatch ingest`` has stored.

What ``export``, ``report`` and ``serve`` work on once the store exists (see
``analyzer.jobs.load_analysis``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analyzer import schema as s
from analyzer.errors import InputError
from analyzer.judgements.customers import local_domains
from analyzer.judgements.pipeline import DELIVERY_COLUMNS, REJECT_COLUMNS, Analysis, finish_sessions
from analyzer.reading.coverage import BUCKETS, lines_table
from analyzer.reading.sources import PATH
from analyzer.sessions.build import build_session_tables
from analyzer.settings.config import Settings
from analyzer.store import parquet as store


def stored_analysis(root: Path, customers: pd.DataFrame, settings: Settings) -> Analysis:
    """The analysis of everything ingested into the store at ``root``: the stored sessions,
    and those still open at the last commit (built from the carried lines)."""
    manifest, carry = store.snapshot(root)
    inferred = tuple(manifest.inferred_domains) if not settings.local_domains else ()
    domains = local_domains(customers, settings.local_domains) | set(inferred)
    parts = [store.read_table(root, "sessions", manifest)]
    if carry is not None and len(carry):
        built = build_session_tables(carry, domains, settings.exim.session_gap_seconds)
        parts.append(built.sessions)
    found = [p for p in parts if p is not None]
    if not found:
        raise InputError(f"store {root} holds no sessions yet: run `relaywatch ingest`")
    sessions = pd.concat(found, ignore_index=True).sort_values(
        [s.START, "first_seq"], kind="stable", ignore_index=True
    )

    def table(name: str, columns: Sequence[str]) -> pd.DataFrame:
        frame = store.read_table(root, name, manifest)
        if frame is None:
            return pd.DataFrame(columns=list(columns))
        return frame.sort_values(s.TS, kind="stable", ignore_index=True)

    problems = table("problems", store.PROBLEM_COLUMNS)
    return Analysis(
        sessions=finish_sessions(sessions, customers, settings),
        lines=stored_line_summary(manifest),
        problems=problems.sort_values([s.SOURCE, s.LINE_NO], ignore_index=True)[
            [s.SOURCE, s.LINE_NO, s.EVENT, s.RAW]
        ],
        rejects=table("rejects", REJECT_COLUMNS),
        deliveries=table("deliveries", (*DELIVERY_COLUMNS, s.SESSION_ID)),
        inferred_domains=inferred,
    )


def stored_line_summary(manifest: store.Manifest) -> pd.DataFrame:
    """``analyzer.reading.coverage.line_summary`` of every file the store has read."""
    files = sorted(manifest.files, key=lambda f: f.order)
    sources = pd.DataFrame(
        {s.SOURCE: [f.order for f in files], PATH: [f.path for f in files]},
        columns=[s.SOURCE, PATH],
    )
    counts = pd.DataFrame(
        [[int(f.counts.get(bucket, 0)) for bucket in BUCKETS] for f in files],
        index=sources[s.SOURCE],
        columns=list(BUCKETS),
    )
    return lines_table(sources, counts)
