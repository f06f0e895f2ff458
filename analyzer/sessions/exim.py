"""Exim sessions: with connection logging (pid runs joined to the daemon's connection line),
and without it (arrivals and bursts of one client's attempts)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzer import schema as s
from analyzer.sessions.runs import (
    _KEY,
    SESSION_COLUMNS,
    SMTPD_SESSION_EVENTS,
    _codes,
    _flag,
    _micros,
    first_valid,
    number_runs,
    reduce_times,
    slices,
)

UNIT = "_unit"  # Exim without connection logging: an arrival or a cluster of attempts

EXIM_SESSION_EVENTS = SMTPD_SESSION_EVENTS


EximLines = tuple[pd.DataFrame, np.ndarray]


def exim_session_lines(events: pd.DataFrame) -> EximLines:
    """Exim session lines, and per line whether its server logs connections with pids (both
    kinds of Exim session start from them: found once, passed to both)."""
    mask = _flag(events, s.DAEMON, "exim") & events[s.EVENT].isin(EXIM_SESSION_EVENTS).to_numpy()
    exim = events.loc[mask, SESSION_COLUMNS]
    opened = exim.loc[_flag(exim, s.EVENT, s.EV_CONNECT) & exim[s.PID].notna().to_numpy(), s.SERVER]
    logs_connections = (
        exim[s.SERVER].isin(opened.unique()).to_numpy() & exim[s.PID].notna().to_numpy()
    )
    return exim, logs_connections


# An Exim child's lines are seconds apart; the same pid after this long is another child.
CHILD_SILENCE = pd.Timedelta(minutes=30)


def exim_connection_keys(events: pd.DataFrame, found: EximLines | None = None) -> pd.DataFrame:
    """Exim with ``+pid +smtp_connection``: the daemon logs "SMTP connection from [ip]:port"
    under its own pid, then the child it forks handles the connection and logs the rest
    under the child's pid (deliveries run in yet other processes).

    So a session is a child's run of lines (split where the pid falls silent for longer
    than ``CHILD_SILENCE``: pids come back on a busy server, and several "closing" lines
    such as "dropped" then "no MAIL" follow each other). The daemon's connection line joins
    the first child run of the same client address and port that starts within
    ``CHILD_SILENCE`` after it (a child may say nothing until its command timeout). A
    connection line no child run follows is a session of its own (the client left first).

    The session's address and port are its connection line's: the daemon wrote it before
    the client said anything, so no HELO or other client text can have shaped it. A child
    line that names another address (or none: a line whose client is in doubt, see
    ``analyzer.reading.parse.read_hosts``) neither keeps the run from its connection (any of the
    run's addresses joins it) nor gives the session or its lines their address.
    """
    exim, logs_connections = exim_session_lines(events) if found is None else found
    is_connect = _flag(exim, s.EVENT, s.EV_CONNECT)
    # the children's rows, taken once (sorted) by number_runs, not copied first
    children = np.flatnonzero(logs_connections & ~is_connect)
    keyed = number_runs(
        exim,
        [s.SERVER, s.PID],
        np.zeros(len(children), dtype=bool),
        SESSION_COLUMNS,
        CHILD_SILENCE,
        rows=children,
    )
    connects = exim[logs_connections & is_connect].reset_index(drop=True)
    joined = _join_connections(connects, keyed, CHILD_SILENCE)
    unmatched = joined[s.PID + "_child"].isna().to_numpy()
    first_new = (keyed[_KEY].max() + 1) if len(keyed) else 0
    keys = joined["_child_key"].to_numpy(dtype="float64", copy=True)
    keys[unmatched] = first_new + np.arange(unmatched.sum())
    pids = joined[s.PID + "_child"].where(~unmatched, joined[s.PID])
    opened = connects.assign(**{_KEY: keys.astype(np.int64), s.PID: pids.astype("Int64").array})
    keyed = _connection_address(keyed, opened[~unmatched])
    combined = pd.concat([opened[SESSION_COLUMNS + [_KEY]], keyed], ignore_index=True)
    # by run, then line (numpy's stable lexsort on the two numbers: sort_values took twice)
    order = np.lexsort((combined[s.SEQ].to_numpy(), combined[_KEY].to_numpy()))
    return combined.take(order).reset_index(drop=True)


def _connection_address(keyed: pd.DataFrame, opened: pd.DataFrame) -> pd.DataFrame:
    """Child lines of runs joined to a connection line (``opened``: those lines, keyed) get
    its client address and port."""
    at = pd.Index(opened[_KEY]).get_indexer(keyed[_KEY])
    joined = np.flatnonzero(at >= 0)
    if not len(joined):
        return keyed
    columns = {}
    for column in (s.CLIENT_IP, s.CLIENT_PORT):
        values = keyed[column].copy()
        values.iloc[joined] = opened[column].array.take(at[joined])
        columns[column] = values
    return keyed.assign(**columns)


def _join_connections(
    connects: pd.DataFrame, keyed: pd.DataFrame, window: pd.Timedelta
) -> pd.DataFrame:
    """For each connection line, the child run (``_child_key``, ``pid_child``) of the same
    server that names its client address and port (when both name one) on any of its lines
    and starts next within ``window``."""
    # keyed comes sorted by run (number_runs): minima and firsts are reductions over slices
    key = keyed[_KEY].to_numpy()
    labels, starts = slices(key)
    runs = pd.DataFrame(
        {
            "_child_key": labels,
            s.TS: reduce_times(keyed[s.TS], starts, np.minimum),
            s.PID + "_child": first_valid(keyed[s.PID], key, labels).array,
        }
    )
    named = keyed.loc[
        keyed[s.CLIENT_IP].notna().to_numpy(), [_KEY, s.SERVER, s.CLIENT_IP, s.CLIENT_PORT]
    ].drop_duplicates()
    firsts = named.rename(columns={_KEY: "_child_key"}).merge(runs, on="_child_key")
    left = connects[[s.SERVER, s.CLIENT_IP, s.CLIENT_PORT, s.TS, s.PID]].assign(
        _row=np.arange(len(connects))
    )
    result = left.assign(_child_key=np.nan, **{s.PID + "_child": pd.NA})
    taken: set[int] = set()
    for by in ([s.SERVER, s.CLIENT_IP, s.CLIENT_PORT], [s.SERVER, s.CLIENT_IP]):
        pending = result[result["_child_key"].isna()]
        free = firsts[~firsts["_child_key"].isin(taken)]
        if pending.empty or free.empty:
            break
        lhs = pending[[*by, s.TS, "_row"]].dropna(subset=by)
        rhs = free[[*by, s.TS, "_child_key", s.PID + "_child"]].dropna(subset=by)
        # the keys as numbers (the same text, the same number on both sides): merge_asof
        # matches numbers faster than text
        for column in by:
            codes = pd.factorize(pd.concat([lhs[column], rhs[column]], ignore_index=True))[0]
            lhs, rhs = (
                lhs.assign(**{column: codes[: len(lhs)]}),
                rhs.assign(**{column: codes[len(lhs) :]}),
            )
        lhs, rhs = lhs.sort_values(s.TS), rhs.sort_values(s.TS)
        found = pd.merge_asof(lhs, rhs, on=s.TS, by=by, direction="forward", tolerance=window)
        found = found.dropna(subset=["_child_key"]).drop_duplicates("_child_key")
        result = result.set_index("_row")
        result.loc[found["_row"], "_child_key"] = found["_child_key"].to_numpy()
        result.loc[found["_row"], s.PID + "_child"] = found[s.PID + "_child"].to_numpy()
        result = result.reset_index()
        taken.update(found["_child_key"].astype(int))
    return result.sort_values("_row").reset_index(drop=True)


def exim_unit_keys(
    events: pd.DataFrame, gap_seconds: int, found: EximLines | None = None
) -> pd.DataFrame:
    """Exim without connection lines (its default log selectors): each accepted message is a
    session, and so is each run of one client's other lines (rejects, AUTH failures, protocol
    errors, lost connections) with gaps shorter than ``gap_seconds``."""
    exim, logs_connections = exim_session_lines(events) if found is None else found
    lines = _client_from_message(exim[~logs_connections])
    arrival = _flag(lines, s.EVENT, s.EV_CLIENT)
    order = np.lexsort(
        (
            lines[s.SEQ].to_numpy(),
            lines[s.TS].to_numpy(),
            _codes(lines[s.CLIENT_IP]),
            _codes(lines[s.SERVER]),
            arrival,
        )
    )
    ordered = lines.take(order).reset_index(drop=True)
    server = _codes(ordered[s.SERVER])
    client = _codes(ordered[s.CLIENT_IP])
    ts = _micros(ordered[s.TS])
    is_arrival = arrival[order]
    new = np.ones(len(ordered), dtype=bool)
    if len(ordered) > 1:
        same = (server[1:] == server[:-1]) & (client[1:] == client[:-1])
        close = (ts[1:] - ts[:-1]) < gap_seconds * 1_000_000
        new[1:] = ~(same & close & ~is_arrival[1:] & ~is_arrival[:-1])
    keys = np.cumsum(new) - 1
    # A line that names a message (sa-exim, a blackhole) belongs to the unit of that message's
    # arrival, or of its refusal when it was never accepted: one session, not two.
    owner = pd.DataFrame(
        {"_s": server, "_q": ordered[s.QUEUE_ID].to_numpy(), "_a": is_arrival, _KEY: keys}
    )
    named = owner[owner["_q"].notna().to_numpy()]
    # the arrival's unit where there is one, else the message's first line's
    target = named.sort_values("_a", ascending=False, kind="stable").drop_duplicates(["_s", "_q"])
    moved = named[~named["_a"].to_numpy()].reset_index()
    joined = moved.merge(target[["_s", "_q", _KEY]], on=["_s", "_q"], suffixes=("", "_to"))
    keys[joined["index"].to_numpy()] = joined[_KEY + "_to"].to_numpy()
    unit = ordered.assign(**{_KEY: keys, UNIT: True})
    return unit.sort_values([_KEY, s.SEQ], kind="stable", ignore_index=True)


def _client_from_message(lines: pd.DataFrame) -> pd.DataFrame:
    """Lines that name a message but no client (sa-exim's verdict) get the client of another
    line of the same server and message id."""
    missing = lines[s.CLIENT_IP].isna().to_numpy() & lines[s.QUEUE_ID].notna().to_numpy()
    if not missing.any():
        return lines
    known = lines.loc[lines[s.CLIENT_IP].notna().to_numpy() & lines[s.QUEUE_ID].notna().to_numpy()]
    clients = known.drop_duplicates([s.SERVER, s.QUEUE_ID]).set_index([s.SERVER, s.QUEUE_ID])
    wanted = pd.MultiIndex.from_frame(lines.loc[missing, [s.SERVER, s.QUEUE_ID]])
    filled = clients[s.CLIENT_IP].reindex(wanted).to_numpy()
    out = lines.copy()
    out.loc[missing, s.CLIENT_IP] = filled
    return out
