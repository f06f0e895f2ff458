"""Reading a log in chunks: which sessions are finished, which lines to carry on.

``relaywatch ingest`` parses a log a chunk at a time, and each run starts where the last one
stopped. A session whose lines straddle a chunk edge must still be built from all of them, so
after each chunk the sessions are split: finished ones are stored for good, and the lines of
the others (with the lines of the messages they accepted) are carried into the next chunk,
where they are parsed sessions again, together with the new lines.

A session is open while its server has logged anything within ``SESSION_HOLD`` of its last
line (a later line of the same process or client could still belong to it), and while a
message it accepted may still get delivery lines: until the queue manager logs it removed,
for at most ``QUEUE_HOLD``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analyzer import schema as s
from analyzer.sessions.build import SessionTables
from analyzer.sessions.messages import CONTENT_REJECTED, QUEUED, REMOVED

# Longer than Exim's child silence (30 min), smtpd's timeouts and the unit gap.
SESSION_HOLD = pd.Timedelta(hours=1)
# Longer than Postfix's maximal_queue_lifetime (5 days) and Exim's usual retry limit.
QUEUE_HOLD = pd.Timedelta(days=7)
# Microsecond stamps for "no clock yet" and "no time stamp" (halved: no overflow when a
# hold is subtracted or added).
FAR_PAST = np.iinfo(np.int64).min // 2
FAR_FUTURE = np.iinfo(np.int64).max // 2


def server_clocks(
    previous: Mapping[str, pd.Timestamp], events: pd.DataFrame
) -> dict[str, pd.Timestamp]:
    """Per server, the latest time stamp seen so far."""
    clocks = dict(previous)
    # only the two columns: a row filter of the whole chunk copies every column
    dated = events[[s.SERVER, s.TS]]
    dated = dated[dated[s.TS].notna().to_numpy() & dated[s.SERVER].notna().to_numpy()]
    for server, latest in dated.groupby(dated[s.SERVER].astype(str))[s.TS].max().items():
        clocks[server] = max(latest, clocks.get(server, latest))
    return clocks


def open_sessions(tables: SessionTables, clocks: Mapping[str, pd.Timestamp]) -> np.ndarray:
    """True for each session (row of ``tables.sessions``) that later lines may still change."""
    sessions = tables.sessions
    clock = _clock_of(sessions[s.SERVER], clocks)
    recent = _micros(sessions[s.END]) > clock - _us(SESSION_HOLD)
    messages = tables.messages
    row = pd.Index(sessions[s.SESSION_ID]).get_indexer(messages[s.SESSION_ID])
    message_clock = np.where(row >= 0, clock[row], FAR_PAST)
    waiting = ~_settled(messages)
    hold = np.where(messages[QUEUED].to_numpy(bool), _us(QUEUE_HOLD), _us(SESSION_HOLD))
    waiting &= _micros(messages["last_ts"]) > message_clock - hold
    busy = np.zeros(len(sessions), dtype=bool)
    busy[row[waiting & (row >= 0)]] = True
    return recent | busy


def _settled(messages: pd.DataFrame) -> np.ndarray:
    """Messages whose session can no longer change: removed from the queue, refused after
    DATA, or with a delivery line for each of its recipients (retries of deferred mail add
    no recipient: a spam run stuck in the queue need not hold its sessions for days)."""
    removed = messages[REMOVED].to_numpy(bool) | (messages[CONTENT_REJECTED] > 0).to_numpy()
    nrcpt = pd.to_numeric(messages[s.NRCPT], errors="coerce").to_numpy(dtype="float64")
    counted = messages[s.RECIPIENTS].to_numpy(dtype="float64")
    tried = messages[QUEUED].to_numpy(bool) & (nrcpt > 0) & (counted >= nrcpt)
    return removed | tried


def late_links(
    tables: SessionTables,
    still_open: np.ndarray,
    earlier: pd.DataFrame | None,
    clocks: Mapping[str, pd.Timestamp],
) -> pd.DataFrame:
    """Links (as ``SessionTables.links``, with ``last_ts``) of messages that may still be
    delivered while their session is stored already, so later delivery attempts still name
    their session; with the ``earlier`` ones, up to ``QUEUE_HOLD`` old."""
    messages = tables.messages
    open_ids = set(tables.sessions.loc[still_open, s.SESSION_ID])
    stored = ~messages[s.SESSION_ID].isin(open_ids).to_numpy(bool)
    kept = messages[stored & ~messages[REMOVED].to_numpy(bool)]
    links = pd.DataFrame(
        {
            s.SERVER: kept[s.SERVER].astype(str).to_numpy(),
            s.QUEUE_ID: kept[s.QUEUE_ID].astype(str).to_numpy(),
            s.SEQ: kept["first_seq"].to_numpy(dtype=np.int64),
            s.SESSION_ID: kept[s.SESSION_ID].astype(str).to_numpy(),
            "last_ts": kept["last_ts"].to_numpy(dtype="datetime64[us]"),
        }
    )
    if earlier is not None and len(earlier):
        links = pd.concat([earlier, links], ignore_index=True)
    young = _micros(links["last_ts"]) > _clock_of(links[s.SERVER], clocks) - _us(QUEUE_HOLD)
    return (
        links[young]
        .drop_duplicates([s.SERVER, s.QUEUE_ID, s.SEQ], keep="last")
        .reset_index(drop=True)
    )


def _us(delta: pd.Timedelta) -> int:
    return delta.value // 1000


def _micros(times: pd.Series) -> np.ndarray:
    """Microseconds since the epoch (NaT: the far future, so an undated line keeps its
    session open until a dated one closes it)."""
    values = times.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    out = values.astype(np.int64)
    out[np.isnat(values)] = FAR_FUTURE
    return out


def _clock_of(servers: pd.Series, clocks: Mapping[str, pd.Timestamp]) -> np.ndarray:
    """Each row's server clock in microseconds (a server without one: the far past)."""
    codes, names = pd.factorize(servers.astype(object), use_na_sentinel=True)
    known = np.array(
        [clocks[n].value // 1000 if n in clocks else FAR_PAST for n in names] + [FAR_PAST],
        dtype=np.int64,
    )
    return known[codes]


def carried_lines(
    events: pd.DataFrame, tables: SessionTables, still_open: np.ndarray
) -> pd.DataFrame:
    """The lines of the open sessions and of their messages."""
    ids = set(tables.sessions.loc[still_open, s.SESSION_ID])
    members = tables.members
    seqs = members.loc[members[s.SESSION_ID].isin(ids).to_numpy(), s.SEQ]
    return events[events[s.SEQ].isin(seqs).to_numpy()].reset_index(drop=True)
