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
from analyzer.sessions import CONTENT_REJECTED, QUEUED, REMOVED, SessionTables

# Longer than Exim's child silence (30 min), smtpd's timeouts and the unit gap.
SESSION_HOLD = pd.Timedelta(hours=1)
# Longer than Postfix's maximal_queue_lifetime (5 days) and Exim's usual retry limit.
QUEUE_HOLD = pd.Timedelta(days=7)


def server_clocks(
    previous: Mapping[str, pd.Timestamp], events: pd.DataFrame
) -> dict[str, pd.Timestamp]:
    """Per server, the latest time stamp seen so far."""
    clocks = dict(previous)
    dated = events[events[s.TS].notna().to_numpy() & events[s.SERVER].notna().to_numpy()]
    for server, latest in dated.groupby(dated[s.SERVER].astype(str))[s.TS].max().items():
        clocks[server] = max(latest, clocks.get(server, latest))
    return clocks


def open_sessions(tables: SessionTables, clocks: Mapping[str, pd.Timestamp]) -> np.ndarray:
    """True for each session (row of ``tables.sessions``) that later lines may still change."""
    sessions = tables.sessions
    never = pd.Timestamp.min.tz_localize("UTC")
    clock = sessions[s.SERVER].astype(object).map(clocks).fillna(never)
    recent = (sessions[s.END] > clock - SESSION_HOLD).fillna(True).to_numpy(bool)
    messages = tables.messages
    server_of = pd.Series(sessions[s.SERVER].to_numpy(), index=sessions[s.SESSION_ID].to_numpy())
    message_clock = server_of.reindex(messages[s.SESSION_ID]).astype(object).map(clocks)
    message_clock = pd.Series(message_clock.to_numpy(), index=messages.index).fillna(never)
    done = messages[REMOVED].to_numpy(bool) | (messages[CONTENT_REJECTED] > 0).to_numpy()
    hold = pd.to_timedelta(
        np.where(messages[QUEUED].to_numpy(bool), QUEUE_HOLD.value, SESSION_HOLD.value)
    )
    waiting = ~done & (messages["last_ts"].to_numpy() > (message_clock - hold).to_numpy())
    busy = sessions[s.SESSION_ID].isin(set(messages.loc[waiting, s.SESSION_ID])).to_numpy(bool)
    return recent | busy


def carried_lines(
    events: pd.DataFrame, tables: SessionTables, still_open: np.ndarray
) -> pd.DataFrame:
    """The lines of the open sessions and of their messages."""
    ids = set(tables.sessions.loc[still_open, s.SESSION_ID])
    members = tables.members
    seqs = members.loc[members[s.SESSION_ID].isin(ids).to_numpy(), s.SEQ]
    return events[events[s.SEQ].isin(seqs).to_numpy()].reset_index(drop=True)
