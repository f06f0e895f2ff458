"""Events -> sessions: one row per SMTP connection, with what happened in it.

smtpd: one process serves connections one after another, so a session is the run of lines of
one (server, pid) from a ``connect from`` up to the next one; lines of a pid seen before its
first connect form a session cut at the input's start. postscreen: one process serves many
clients at once, so its connections are told apart by client ip:port; a connection that
postscreen PASSes is handed to smtpd, whose session is the one that counts.

Queue ids join a session to its messages (cleanup, qmgr, deliveries), numbered per server and
queue id because short queue ids are reused over weeks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzer import schema as s
from analyzer.patterns.exim import EXIM_RULES
from analyzer.patterns.postfix import POSTFIX_RULES

SMTPD_SESSION_EVENTS = (
    s.EV_CONNECT,
    s.EV_DISCONNECT,
    s.EV_CLIENT,
    s.EV_REJECT,
    s.EV_WARN,
    s.EV_SASL_FAIL,
    s.EV_SASL_OUTAGE,
    s.EV_LOST,
    s.EV_PROTOCOL,
)
POSTSCREEN_SESSION_EVENTS = (
    s.EV_PS_CONNECT,
    s.EV_PS_PASS,
    s.EV_PS_DNSBL,
    s.EV_PS_END,
    s.EV_REJECT,
    s.EV_PROTOCOL,
    s.EV_LOST,
)
MESSAGE_EVENTS = (
    s.EV_CLIENT,
    s.EV_PICKUP,
    s.EV_MESSAGE_ID,
    s.EV_QUEUED,
    s.EV_DELIVERY,
    s.EV_REMOVED,
    s.EV_BOUNCE,
)
LOCAL_TRANSPORTS = ("virtual", "local", "lmtp", "pipe")
_KEY = "_session"
# Lines after which the connection is over (besides disconnect lines).
CLOSING_RULES = frozenset(r.name for r in POSTFIX_RULES + EXIM_RULES if r.closes)
_MSG = "_message"
CONTENT_REJECTED = "content_rejected"


def _flag(frame: pd.DataFrame, column: str, value: str) -> np.ndarray:
    return (frame[column] == value).fillna(False).to_numpy(dtype=bool)


def _stat(stats: pd.Series, name: str) -> pd.DataFrame:
    """Counts "name=ok" or "name=ok/total" from Postfix >= 3 disconnect statistics."""
    found = stats.str.extract(rf"(?:^| ){name}=(?P<ok>\d+)(?:/(?P<total>\d+))?")
    ok = pd.to_numeric(found["ok"], errors="coerce")
    total = pd.to_numeric(found["total"], errors="coerce").fillna(ok)
    return pd.DataFrame({"ok": ok, "total": total}, index=stats.index)


def _codes(column: pd.Series) -> np.ndarray:
    """Integer codes of a column's values (nulls -1), for sorting without comparing strings."""
    return pd.factorize(column, use_na_sentinel=True)[0]


def number_runs(
    frame: pd.DataFrame, keys: list[str], opens: np.ndarray, columns: list[str]
) -> pd.DataFrame:
    """Sort ``frame`` by ``keys`` then ``seq`` and number the runs: a run starts where the
    keys change or where ``opens`` is true (a connect, a message's first line).

    Returns ``columns`` of the sorted rows plus ``_session`` (0, 1, ... in sorted order).
    """
    codes = [_codes(frame[key]) for key in keys]
    order = np.lexsort((frame[s.SEQ].to_numpy(), *reversed(codes)))
    changed = np.zeros(len(order), dtype=bool)
    if len(order):
        changed[0] = True
        for code in codes:
            ordered = code[order]
            changed[1:] |= ordered[1:] != ordered[:-1]
    run = np.cumsum(changed | opens[order]) - 1
    picked = frame[columns].take(order)
    return picked.assign(**{_KEY: run}).reset_index(drop=True)


SESSION_COLUMNS = [
    s.RULE,
    s.SASL_METHOD,
    s.SERVER,
    s.PROGRAM,
    s.PID,
    s.TS,
    s.SEQ,
    s.EVENT,
    s.REJECT_KIND,
    s.STATS,
    s.SASL_USERNAME,
    s.CLIENT_IP,
    s.CLIENT_HOST,
    s.CLIENT_PORT,
    s.HELO,
    s.QUEUE_ID,
]


def smtpd_session_keys(events: pd.DataFrame) -> pd.DataFrame:
    """smtpd session events with ``_session`` (int) assigned, in line order per process.

    Requires: ``daemon``, ``event``, ``server``, ``pid``, ``seq``.
    """
    mask = _flag(events, s.DAEMON, "smtpd") & events[s.EVENT].isin(SMTPD_SESSION_EVENTS).to_numpy()
    smtpd = events.loc[mask, SESSION_COLUMNS]
    return number_runs(
        smtpd, [s.SERVER, s.PID], _flag(smtpd, s.EVENT, s.EV_CONNECT), SESSION_COLUMNS
    )


def postscreen_session_keys(events: pd.DataFrame) -> pd.DataFrame:
    """postscreen events with ``_session`` per client ip:port connection, in line order."""
    mask = (
        _flag(events, s.DAEMON, "postscreen")
        & events[s.EVENT].isin(POSTSCREEN_SESSION_EVENTS).to_numpy()
        & events[s.CLIENT_PORT].notna().to_numpy()
    )
    ps = events.loc[mask, SESSION_COLUMNS]
    return number_runs(
        ps,
        [s.SERVER, s.CLIENT_IP, s.CLIENT_PORT],
        _flag(ps, s.EVENT, s.EV_PS_CONNECT),
        SESSION_COLUMNS,
    )


MESSAGE_COLUMNS = [
    s.SERVER,
    s.QUEUE_ID,
    s.SEQ,
    s.EVENT,
    s.DAEMON,
    s.SENDER,
    s.NRCPT,
    s.SIZE,
    s.RECIPIENT,
    s.RELAY,
]


def build_messages(events: pd.DataFrame, local_domains: frozenset[str]) -> pd.DataFrame:
    """One row per message instance (server, queue id, n-th use of that id).

    Returns: ``server``, ``queue_id``, ``_message``, ``nrcpt``, ``recipients`` (distinct
    delivered-to addresses), ``external_recipients``, ``local_recipients``, ``sender``,
    ``size``, ``content_rejected`` (1 if cleanup refused it after DATA) and ``first_seq``
    (the line that opened it).
    """
    content_reject = _flag(events, s.EVENT, s.EV_REJECT) & _flag(events, s.DAEMON, "cleanup")
    mask = events[s.QUEUE_ID].notna().to_numpy() & (
        events[s.EVENT].isin(MESSAGE_EVENTS).to_numpy() | content_reject
    )
    picked = events.loc[mask, MESSAGE_COLUMNS]
    opens = _flag(picked, s.EVENT, s.EV_CLIENT) | _flag(picked, s.EVENT, s.EV_PICKUP)
    lines = number_runs(picked, [s.SERVER, s.QUEUE_ID], opens, MESSAGE_COLUMNS).rename(
        columns={_KEY: _MSG}
    )

    grouped = lines.groupby(_MSG, sort=True)
    messages = grouped.agg(
        server=(s.SERVER, "first"),
        queue_id=(s.QUEUE_ID, "first"),
        first_seq=(s.SEQ, "min"),
        sender=(s.SENDER, "first"),
    )
    refused = lines[_flag(lines, s.EVENT, s.EV_REJECT)]
    messages[CONTENT_REJECTED] = (
        refused.groupby(_MSG).size().reindex(messages.index, fill_value=0) > 0
    ).astype(np.int64)
    queued = lines[_flag(lines, s.EVENT, s.EV_QUEUED)]
    messages[s.NRCPT] = pd.to_numeric(queued[s.NRCPT], errors="coerce").groupby(queued[_MSG]).max()
    messages[s.SIZE] = pd.to_numeric(queued[s.SIZE], errors="coerce").groupby(queued[_MSG]).max()

    deliveries = lines[_flag(lines, s.EVENT, s.EV_DELIVERY)]
    rcpt = deliveries[[_MSG, s.RECIPIENT, s.RELAY, s.DAEMON]].drop_duplicates([_MSG, s.RECIPIENT])
    is_external = external_recipients(rcpt, local_domains)
    per_message = (
        pd.DataFrame(
            {
                _MSG: rcpt[_MSG].to_numpy(),
                "external": is_external.astype(np.int64),
                "local": (~is_external).astype(np.int64),
            }
        )
        .groupby(_MSG)
        .sum()
    )
    messages[s.RECIPIENTS] = per_message["external"] + per_message["local"]
    messages[s.EXTERNAL_RECIPIENTS] = per_message["external"]
    messages[s.LOCAL_RECIPIENTS] = per_message["local"]
    counts = [s.RECIPIENTS, s.EXTERNAL_RECIPIENTS, s.LOCAL_RECIPIENTS]
    messages[counts] = messages[counts].fillna(0).astype(np.int64)
    return messages.rename_axis(_MSG).reset_index()


def external_recipients(deliveries: pd.DataFrame, local_domains: frozenset[str]) -> np.ndarray:
    """True where a delivered-to address leaves the provider.

    With known local domains (the provider's and its customers'), the recipient's domain
    decides; without them, the transport does (smtp out vs. virtual/local/lmtp/pipe).
    """
    if local_domains:
        domain = deliveries[s.RECIPIENT].str.extract(r"@(?P<domain>[^@]*)$")["domain"].str.lower()
        return ~domain.isin(local_domains).fillna(False).to_numpy(dtype=bool)
    relay = deliveries[s.RELAY].fillna("").str.split("[", n=1).str[0]
    return ~(relay.isin(LOCAL_TRANSPORTS) | deliveries[s.DAEMON].isin(LOCAL_TRANSPORTS)).to_numpy(
        bool
    )


def _aggregate(keyed: pd.DataFrame) -> pd.DataFrame:
    """Per ``_session``: times, client, counts of each kind of event."""
    ev = keyed[s.EVENT]
    kind = keyed[s.REJECT_KIND]
    is_reject = (ev == s.EV_REJECT).fillna(False)
    stats = keyed[s.STATS].where(ev == s.EV_DISCONNECT)
    auth = _stat(stats, "auth")
    mail = _stat(stats, "mail")
    flags = pd.DataFrame(
        {
            _KEY: keyed[_KEY].to_numpy(),
            "connects": ((ev == s.EV_CONNECT) | (ev == s.EV_PS_CONNECT)).fillna(False).to_numpy(),
            "ends": (
                (ev == s.EV_DISCONNECT) | (ev == s.EV_PS_END) | keyed[s.RULE].isin(CLOSING_RULES)
            )
            .fillna(False)
            .to_numpy(),
            "passes": (ev == s.EV_PS_PASS).fillna(False).to_numpy(),
            s.MESSAGES: (ev == s.EV_CLIENT).fillna(False).to_numpy(),
            # Exim's A= may name the authenticator alone: a method is a success too.
            "sasl_ok_lines": (
                (ev == s.EV_CLIENT)
                & (keyed[s.SASL_USERNAME].notna() | keyed[s.SASL_METHOD].notna())
            )
            .fillna(False)
            .to_numpy(),
            "stat_auth_ok": auth["ok"].fillna(0).to_numpy(),
            "stat_auth_failed": (auth["total"] - auth["ok"]).fillna(0).to_numpy(),
            "stat_mail": mail["total"].fillna(0).to_numpy(),
            "sasl_fail_lines": (ev == s.EV_SASL_FAIL).fillna(False).to_numpy(),
            s.AUTH_OUTAGES: (ev == s.EV_SASL_OUTAGE).fillna(False).to_numpy(),
            s.REJECTED: is_reject.to_numpy(),
            s.RELAY_DENIED: (is_reject & (kind == s.RK_RELAY)).fillna(False).to_numpy(),
            s.UNKNOWN_USER: (is_reject & (kind == s.RK_UNKNOWN_USER)).fillna(False).to_numpy(),
            s.DNSBL_HITS: ((is_reject & (kind == s.RK_DNSBL)) | (ev == s.EV_PS_DNSBL))
            .fillna(False)
            .to_numpy(),
            s.POLICY_REJECTS: (is_reject & (kind == s.RK_POLICY)).fillna(False).to_numpy(),
            s.PROTOCOL_ERRORS: (ev == s.EV_PROTOCOL).fillna(False).to_numpy(),
        }
    )
    sums = flags.groupby(_KEY, sort=True).sum()
    firsts = keyed.groupby(_KEY, sort=True).agg(
        server=(s.SERVER, "first"),
        service=(s.PROGRAM, "first"),
        pid=(s.PID, "first"),
        start=(s.TS, "min"),
        end=(s.TS, "max"),
        first_seq=(s.SEQ, "min"),
        client_ip=(s.CLIENT_IP, "first"),
        client_host=(s.CLIENT_HOST, "first"),
        helo=(s.HELO, "first"),
    )
    users = keyed[_flag(keyed, s.EVENT, s.EV_CLIENT)].groupby(_KEY)[s.SASL_USERNAME].first()
    out = firsts.join(sums)
    out[s.SASL_USERNAME] = users.reindex(out.index)
    out[s.AUTH_SUCCESSES] = np.maximum(out.pop("sasl_ok_lines"), out.pop("stat_auth_ok"))
    # "auth=0/1" also counts an AUTH that failed because our auth server was down.
    stat_failed = np.maximum(out.pop("stat_auth_failed") - out[s.AUTH_OUTAGES], 0)
    out[s.AUTH_FAILURES] = np.maximum(out.pop("sasl_fail_lines"), stat_failed)
    out[s.MAIL_COMMANDS] = np.maximum(out.pop("stat_mail"), out[s.MESSAGES])
    # Units of Exim's default logging have no connection lines to miss: never "cut".
    unit = keyed[UNIT].groupby(keyed[_KEY]).any() if UNIT in keyed else False
    out[s.HAS_CONNECT] = (out.pop("connects") > 0) | unit
    out[s.HAS_END] = (out.pop("ends") > 0) | unit
    return out


def build_sessions(
    events: pd.DataFrame, local_domains: frozenset[str] = frozenset(), exim_gap_seconds: int = 60
) -> pd.DataFrame:
    """One row per SMTP session, before classification.

    Requires: parsed events (``analyzer.parse.parse_lines``). Adds, per session:
    ``session_id``, ``server``, ``service``, ``pid``, ``start``, ``end``, ``client_ip``,
    ``client_host``, ``helo``, ``sasl_username``, ``auth_successes``, ``auth_failures``,
    ``auth_outages``, ``messages``, ``recipients``, ``external_recipients``,
    ``local_recipients``, ``relay_denied``, ``rejected``, ``unknown_user``, ``dnsbl_hits``,
    ``policy_rejects``, ``protocol_errors``, ``mail_commands``, ``cut``.
    """
    s.require_columns(events, (s.EVENT, s.DAEMON, s.SERVER, s.PID, s.SEQ, s.TS), "build_sessions")
    messages = build_messages(events, local_domains)
    families = []
    for keyed, id_part in (
        (smtpd_session_keys(events), _pid_part),
        (exim_connection_keys(events), _pid_part),
        (exim_unit_keys(events, exim_gap_seconds), _unit_part),
    ):
        sessions = (
            _aggregate(keyed).drop(columns="passes").join(_messages_per_session(keyed, messages))
        )
        # A message refused after DATA (header/body checks, milter) was never accepted.
        refused = sessions.pop(CONTENT_REJECTED).fillna(0).astype(np.int64)
        sessions[s.MESSAGES] -= refused
        sessions[s.REJECTED] += refused
        sessions[s.POLICY_REJECTS] += refused
        families.append(sessions.assign(**{ID_PART: id_part(keyed, sessions)}))
    ps = postscreen_session_keys(events)
    ps_sessions = _aggregate(ps)
    # Handed over to smtpd after PASS: that smtpd session is the one of record.
    ps_sessions = ps_sessions[ps_sessions.pop("passes") == 0]
    ports = ps.groupby(_KEY)[s.CLIENT_PORT].first().reindex(ps_sessions.index).astype(str)
    families.append(ps_sessions.assign(**{ID_PART: _pid_part(ps, ps_sessions) + "-" + ports}))
    sessions = pd.concat(families, ignore_index=True)
    for column in (s.RECIPIENTS, s.EXTERNAL_RECIPIENTS, s.LOCAL_RECIPIENTS):
        sessions[column] = sessions[column].fillna(0).astype(np.int64)
    return _finish(sessions)


ID_PART = "_id_part"
UNIT = "_unit"  # Exim without connection logging: an arrival or a cluster of attempts


def _pid_part(keyed: pd.DataFrame, sessions: pd.DataFrame) -> pd.Series:
    return sessions[s.PID].astype("Int64").astype(str)


def _unit_part(keyed: pd.DataFrame, sessions: pd.DataFrame) -> pd.Series:
    """An arrival is named by its message id, an attempt cluster by its client address."""
    ids = keyed[_flag(keyed, s.EVENT, s.EV_CLIENT)].groupby(_KEY)[s.QUEUE_ID].first()
    return ids.reindex(sessions.index).fillna(sessions[s.CLIENT_IP]).astype(str)


EXIM_SESSION_EVENTS = SMTPD_SESSION_EVENTS


def _exim_lines(events: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Exim session lines, and per line whether its server logs connections with pids."""
    mask = _flag(events, s.DAEMON, "exim") & events[s.EVENT].isin(EXIM_SESSION_EVENTS).to_numpy()
    exim = events.loc[mask, SESSION_COLUMNS]
    opened = exim[_flag(exim, s.EVENT, s.EV_CONNECT) & exim[s.PID].notna().to_numpy()]
    logs_connections = (
        exim[s.SERVER].isin(set(opened[s.SERVER])).to_numpy() & exim[s.PID].notna().to_numpy()
    )
    return exim, logs_connections


def exim_connection_keys(events: pd.DataFrame) -> pd.DataFrame:
    """Exim with ``+pid +smtp_connection``: one receiving process per connection, from its
    "SMTP connection from" line on (deliveries run in other processes)."""
    exim, logs_connections = _exim_lines(events)
    lines = exim[logs_connections]
    return number_runs(
        lines, [s.SERVER, s.PID], _flag(lines, s.EVENT, s.EV_CONNECT), SESSION_COLUMNS
    )


def exim_unit_keys(events: pd.DataFrame, gap_seconds: int) -> pd.DataFrame:
    """Exim without connection lines (its default log selectors): each accepted message is a
    session, and so is each run of one client's other lines (rejects, AUTH failures, protocol
    errors, lost connections) with gaps shorter than ``gap_seconds``."""
    exim, logs_connections = _exim_lines(events)
    lines = exim[~logs_connections]
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
    ts = ordered[s.TS].dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(np.int64)
    is_arrival = arrival[order]
    new = np.ones(len(ordered), dtype=bool)
    if len(ordered) > 1:
        same = (server[1:] == server[:-1]) & (client[1:] == client[:-1])
        close = (ts[1:] - ts[:-1]) < gap_seconds * 1_000_000
        new[1:] = ~(same & close & ~is_arrival[1:] & ~is_arrival[:-1])
    return ordered.assign(**{_KEY: np.cumsum(new) - 1, UNIT: True})


def _messages_per_session(keyed: pd.DataFrame, messages: pd.DataFrame) -> pd.DataFrame:
    """Recipient counts per session, joining accepted-message lines (Postfix ``client=``,
    Exim ``<=``) to messages by queue id."""
    clients = keyed[_flag(keyed, s.EVENT, s.EV_CLIENT)][[_KEY, s.SERVER, s.QUEUE_ID, s.SEQ]]
    # A client= line opens the message instance whose first line it is.
    joined = clients.merge(
        messages,
        left_on=[s.SERVER, s.QUEUE_ID, s.SEQ],
        right_on=[s.SERVER, s.QUEUE_ID, "first_seq"],
        how="left",
    )
    # qmgr's nrcpt also counts recipients whose delivery lines fall outside the input.
    counted = np.maximum(
        joined[s.NRCPT].fillna(0).to_numpy(), joined[s.RECIPIENTS].fillna(0).to_numpy()
    )
    frame = pd.DataFrame(
        {
            _KEY: joined[_KEY].to_numpy(),
            s.RECIPIENTS: counted,
            s.EXTERNAL_RECIPIENTS: joined[s.EXTERNAL_RECIPIENTS].fillna(0).to_numpy(),
            s.LOCAL_RECIPIENTS: joined[s.LOCAL_RECIPIENTS].fillna(0).to_numpy(),
            CONTENT_REJECTED: joined[CONTENT_REJECTED].fillna(0).to_numpy(),
        }
    )
    return frame.groupby(_KEY).sum().astype(np.int64)


def _finish(sessions: pd.DataFrame) -> pd.DataFrame:
    cut = np.select(
        [
            ~sessions[s.HAS_CONNECT] & ~sessions[s.HAS_END],
            ~sessions[s.HAS_CONNECT],
            ~sessions[s.HAS_END],
        ],
        ["both", "start", "end"],
        default="",
    )
    sessions = sessions.assign(**{s.CUT: cut})
    sessions = sessions.sort_values([s.START, "first_seq"], kind="stable", ignore_index=True)
    start = sessions[s.START]
    stamp = start.dt.strftime("%Y%m%dT%H%M%S") + np.where(
        start.dt.microsecond > 0, "." + start.dt.strftime("%f"), ""
    )
    base = sessions[s.SERVER].astype(str) + "-" + sessions.pop(ID_PART) + "-" + stamp.astype(str)
    repeat = base.groupby(base).cumcount()
    session_id = base.where(repeat == 0, base + "-" + (repeat + 1).astype(str))
    return sessions.assign(**{s.SESSION_ID: session_id.to_numpy()})
