"""Readiness per customer around the enforcement date, and who to call (exports).

Readiness in a period = authenticated sessions / outbound sessions x 100, where outbound =
the customer's sessions that are authenticated, or unauthenticated with reason relay or
relay_denied. Inbound mail to a customer says nothing about its clients, so it never counts.

The call list is the ``at_risk`` and ``broken`` customers, most urgent first, each with what
broke: its last refused relay (when, from which address, to which recipient domain).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from analyzer import schema as s
from analyzer.judgements.rollups import DATE, FIRST_START, LAST_START, SESSIONS, as_rollup_rows

OUTBOUND_REASONS = (s.R_SUBMISSION, s.R_RELAY, s.R_RELAY_DENIED)
# How far back "sent unauthenticated relay mail" (before) / "was refused" (after) counts.
RECENT = pd.Timedelta(days=7)

READY, AT_RISK, BROKEN, INACTIVE = "ready", "at_risk", "broken", "inactive"
STATUSES = (READY, AT_RISK, BROKEN, INACTIVE)
# Who to call first: refused customers have already lost mail, at-risk ones will.
URGENCY = (BROKEN, AT_RISK, READY, INACTIVE)
CALL_STATUSES = (BROKEN, AT_RISK)
LAST_REFUSED = "last_refused"
LAST_REFUSED_CLIENT_IP = "last_refused_client_ip"
LAST_REFUSED_DOMAIN = "last_refused_domain"
REFUSED_COLUMNS = (LAST_REFUSED, LAST_REFUSED_CLIENT_IP, LAST_REFUSED_DOMAIN)
CUSTOMER_EXPORT_COLUMNS = (
    "customer_id", "name", "contact_email",
    "outbound_before", "authenticated_before", "readiness_before_pct",
    "outbound_after", "authenticated_after", "readiness_after_pct",
    "last_unauthenticated", "status", *REFUSED_COLUMNS,
)  # fmt: skip
OUTBOUND = "outbound"  # outbound sessions before and after the date: the call list's volume
# The call list as the dashboard and the mail show it: who, how to reach them, what broke.
CALL_LIST_COLUMNS = (
    "status", "customer_id", "name", "contact_email", OUTBOUND,
    LAST_REFUSED, LAST_REFUSED_CLIENT_IP, LAST_REFUSED_DOMAIN, "last_unauthenticated",
)  # fmt: skip
DAILY_COLUMNS = ("date", "customer_id", "outbound", "authenticated", "readiness_pct")


def outbound_sessions(sessions: pd.DataFrame) -> pd.DataFrame:
    """Customers' outbound sessions, with ``authenticated`` (bool).

    Requires: ``customer_id``, ``class``, ``reason``, ``period``, ``start``.
    """
    mine = sessions[sessions[s.CUSTOMER_ID].notna().to_numpy()]
    outbound = mine[mine[s.REASON].isin(OUTBOUND_REASONS).to_numpy()]
    return outbound.assign(authenticated=(outbound[s.CLASS] == s.AUTHENTICATED).to_numpy())


def _pct(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (part / whole.where(whole > 0) * 100).round(1)


def customer_readiness(
    sessions: pd.DataFrame,
    customers: pd.DataFrame,
    now: pd.Timestamp | None = None,
    rejects: pd.DataFrame | None = None,
    refused: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer (all of them, active or not): the ``customers`` export.

    ``status``: ``broken`` (refused unauthenticated relay after the date within the 7 days
    before ``now``), ``at_risk`` (relayed unauthenticated before the date within those 7
    days, and has not authenticated since the date: it will break), ``inactive`` (no
    outbound session in those 7 days), else ``ready``.
    ``now`` defaults to the last session start in the data (the end of the logs).
    ``last_refused*``: see ``last_refused_relays`` (``rejects``: the refused commands, for
    the recipient domain; None leaves the domain empty; ``refused``: the sessions to find the
    last refused relays in, when ``sessions`` lacks their columns).

    Requires: ``customer_id``, ``class``, ``reason``, ``period``, ``start``, ``end``,
    ``server``, ``client_ip``.
    """
    outbound = outbound_sessions(sessions)
    now = now if now is not None else (sessions[s.START].max() if len(sessions) else None)
    refused = sessions if refused is None else refused
    recent = recent_sessions(outbound, now)
    return readiness_of(as_rollup_rows(outbound), recent, refused, customers, now, rejects)


def recent_sessions(outbound: pd.DataFrame, now: pd.Timestamp | None) -> pd.DataFrame:
    """The outbound sessions of the RECENT days up to ``now`` (none without a ``now``)."""
    if now is None:
        return outbound.iloc[:0]
    starts = outbound[s.START]
    return outbound[((starts > now - RECENT) & (starts <= now)).to_numpy()]


def recent_rows(counted: pd.DataFrame, now: pd.Timestamp | None) -> pd.DataFrame:
    """The rollup rows (``analyzer.judgements.rollups.daily_sessions``) with a session in the RECENT
    days up to ``now``: those whose first or last start lies there. Exact, not a guess: a
    row holds one local day, so a row with sessions in the window and neither end in it
    would span the whole window, 7 days. They name the same customers, periods and
    reasons as ``recent_sessions``, without reading a session."""
    if now is None:
        return counted.iloc[:0]

    def within(times: pd.Series) -> np.ndarray:
        return ((times > now - RECENT) & (times <= now)).fillna(False).to_numpy(bool)

    return counted[within(counted[FIRST_START]) | within(counted[LAST_START])]


def readiness_of(
    counted: pd.DataFrame,
    recent: pd.DataFrame,
    refused: pd.DataFrame,
    customers: pd.DataFrame,
    now: pd.Timestamp | None,
    rejects: pd.DataFrame | None,
) -> pd.DataFrame:
    """``customer_readiness`` from counts: ``counted``, customers' outbound sessions or
    rollup rows of them (``analyzer.judgements.rollups.daily_sessions``: ``sessions``,
    ``first_start``, ``last_start`` per class, reason and period); ``recent``: the outbound
    sessions of the RECENT days up to ``now``, or the rollup rows of them (``recent_rows``);
    ``refused``: sessions holding the customers' refused relays."""
    authenticated = (counted[s.CLASS] == s.AUTHENTICATED).fillna(False).to_numpy(bool)
    counts = (
        counted.assign(_done=np.where(authenticated, counted[SESSIONS], 0))
        .groupby([s.CUSTOMER_ID, s.PERIOD])
        .agg(size=(SESSIONS, "sum"), done=("_done", "sum"))
        .unstack(s.PERIOD, fill_value=0)
    )
    table = customers[["customer_id", "name", "contact_email"]].set_index("customer_id")
    for period in (s.BEFORE, s.AFTER):
        size = counts.get(("size", period), pd.Series(dtype="int64"))
        done = counts.get(("done", period), pd.Series(dtype="int64"))
        table[f"outbound_{period}"] = size.reindex(table.index).fillna(0).astype("int64")
        table[f"authenticated_{period}"] = done.reindex(table.index).fillna(0).astype("int64")
        table[f"readiness_{period}_pct"] = _pct(
            table[f"authenticated_{period}"], table[f"outbound_{period}"]
        )
    unauthenticated = counted[~authenticated]
    table["last_unauthenticated"] = (
        unauthenticated.groupby(s.CUSTOMER_ID)[LAST_START].max().reindex(table.index)
    )
    broken = _ids(recent, s.AFTER, s.R_RELAY_DENIED)
    # Once the date has passed, authenticating shows the customer's clients were fixed.
    fixed = _ids(
        counted[(counted[FIRST_START] <= now).to_numpy()] if now is not None else counted,
        s.AFTER,
        s.R_SUBMISSION,
    )
    at_risk = _ids(recent, s.BEFORE, s.R_RELAY) - fixed
    active = _distinct(recent[s.CUSTOMER_ID])
    ids = table.index.to_series()
    table["status"] = np.select(
        [ids.isin(broken), ids.isin(at_risk), ~ids.isin(active)],
        [BROKEN, AT_RISK, INACTIVE],
        default=READY,
    )
    table = table.join(last_refused_relays(refused, rejects))
    return table.reset_index()[list(CUSTOMER_EXPORT_COLUMNS)]


def last_refused_sessions(sessions: pd.DataFrame) -> pd.DataFrame:
    """Each customer's last ``relay_denied`` session (``customer_id``, ``server``,
    ``client_ip``, ``start``, ``end``)."""
    refused = sessions[
        (sessions[s.REASON] == s.R_RELAY_DENIED).to_numpy()
        & sessions[s.CUSTOMER_ID].notna().to_numpy()
    ]
    return (
        refused.sort_values([s.START, s.SESSION_ID] if s.SESSION_ID in refused else s.START)
        .groupby(s.CUSTOMER_ID, sort=True)
        .tail(1)[[s.CUSTOMER_ID, s.SERVER, s.CLIENT_IP, s.START, s.END]]
    )


def last_refused_relays(sessions: pd.DataFrame, rejects: pd.DataFrame | None) -> pd.DataFrame:
    """What broke, per customer with a refused relay: the start of its last ``relay_denied``
    session (``last_refused``), that session's client address, and the domain of the last
    recipient refused in it (from the reject lines of the same server and address during
    the session; empty when ``rejects`` is None or holds no such line).

    Requires: sessions ``customer_id``, ``reason``, ``start``, ``end``, ``server``,
    ``client_ip``; rejects ``ts``, ``server``, ``client_ip``, ``recipient``, ``reject_kind``
    (``Analysis.rejects``). Returns: indexed by ``customer_id``, ``REFUSED_COLUMNS``.
    """
    last = last_refused_sessions(sessions)
    table = pd.DataFrame(
        {
            LAST_REFUSED: last[s.START].to_numpy(),
            LAST_REFUSED_CLIENT_IP: last[s.CLIENT_IP].astype("string").to_numpy(),
            LAST_REFUSED_DOMAIN: _refused_domains(last, rejects).to_numpy(),
        },
        index=pd.Index(last[s.CUSTOMER_ID].astype(str).to_numpy(), name="customer_id"),
    )
    # a time even with no refusal (no session read: no type to take)
    text = {LAST_REFUSED_CLIENT_IP: "string", LAST_REFUSED_DOMAIN: "string"}
    return table.astype({LAST_REFUSED: "datetime64[us, UTC]", **text})


# Reject lines and session ends may be logged to the second (Exim) while starts are finer.
SLACK = pd.Timedelta(seconds=1)


def _refused_domains(last: pd.DataFrame, rejects: pd.DataFrame | None) -> pd.Series:
    """For each of ``last``'s sessions, the recipient domain of its last refused relay."""
    if rejects is None or rejects.empty or last.empty:
        return pd.Series(pd.NA, index=last.index, dtype="string")
    relayed = rejects[(rejects[s.REJECT_KIND] == s.RK_RELAY).fillna(False).to_numpy()]
    keys = [s.SERVER, s.CLIENT_IP]
    text = {k: "string" for k in keys}
    pairs = (
        last.reset_index(names="_row")
        .astype(text)
        .merge(relayed[[*keys, s.TS, s.RECIPIENT]].astype(text), on=keys, how="inner")
    )
    end = pairs[s.END].fillna(pairs[s.START])
    during = pairs[
        ((pairs[s.TS] >= pairs[s.START] - SLACK) & (pairs[s.TS] <= end + SLACK)).to_numpy()
    ]
    latest = during.sort_values(s.TS, kind="stable").groupby("_row").tail(1).set_index("_row")
    return recipient_domain(latest[s.RECIPIENT]).reindex(last.index)


def recipient_domain(recipients: pd.Series) -> pd.Series:
    """``<Bob@AOL.com>`` -> ``aol.com``; empty for what has no domain."""
    domain = recipients.astype("string").str.extract(r"@(?P<domain>[^@<>\s]+)>?$")["domain"]
    return domain.str.lower()


def call_list(table: pd.DataFrame) -> pd.DataFrame:
    """The ``broken`` and ``at_risk`` rows of a ``customer_readiness`` table, most urgent
    first (``by_urgency``), with ``outbound`` = outbound sessions before + after."""
    return by_urgency(filter_status(table, CALL_STATUSES))


def by_urgency(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of a ``customer_readiness`` table in the order to call them: ``URGENCY`` of the
    status, then most outbound sessions (more of their mail is at stake), then
    ``customer_id``; adds ``outbound``."""
    ranked = table.assign(
        **{
            OUTBOUND: table["outbound_before"] + table["outbound_after"],
            "_urgency": table["status"].map({v: i for i, v in enumerate(URGENCY)}),
        }
    )
    ranked = ranked.sort_values(
        ["_urgency", OUTBOUND, "customer_id"], ascending=[True, False, True], kind="stable"
    )
    return ranked.drop(columns="_urgency").reset_index(drop=True)


def _ids(recent: pd.DataFrame, period: str, reason: str) -> set[str]:
    hit = (recent[s.PERIOD] == period) & (recent[s.REASON] == reason)
    return _distinct(recent.loc[hit.to_numpy(), s.CUSTOMER_ID])


def _distinct(ids: pd.Series) -> set[str]:
    # distinct first: a set of 100 k Arrow values, one by one, takes a quarter second
    return set(ids.dropna().unique())


def daily_readiness(sessions: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Per local day and customer with outbound sessions: ``date``, ``customer_id``,
    ``outbound``, ``authenticated``, ``readiness_pct``."""
    outbound = outbound_sessions(sessions)
    day = outbound[s.START].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    return daily_readiness_of(outbound.assign(**{DATE: day, SESSIONS: 1}))


def daily_readiness_of(counted: pd.DataFrame) -> pd.DataFrame:
    """``daily_readiness`` from counts: customers' outbound sessions or rollup rows of
    them, with ``date`` (local midnight) and ``sessions``."""
    authenticated = (counted[s.CLASS] == s.AUTHENTICATED).fillna(False).to_numpy(bool)
    counted = counted.assign(_done=np.where(authenticated, counted[SESSIONS], 0))
    daily = (
        counted.groupby([counted[DATE].dt.date.rename("date"), counted[s.CUSTOMER_ID]])
        .agg(outbound=(SESSIONS, "sum"), authenticated=("_done", "sum"))
        .reset_index()
    )
    daily["outbound"] = daily["outbound"].astype("int64")
    daily["authenticated"] = daily["authenticated"].astype("int64")
    daily["readiness_pct"] = _pct(daily["authenticated"], daily["outbound"])
    return daily.sort_values(["date", "customer_id"], kind="stable")[list(DAILY_COLUMNS)]


def filter_status(table: pd.DataFrame, statuses: tuple[str, ...]) -> pd.DataFrame:
    """Rows whose ``status`` is one of ``statuses`` (all rows when empty)."""
    return table[table["status"].isin(statuses).to_numpy()] if statuses else table


def as_of(day: dt.date | None, timezone: str) -> pd.Timestamp | None:
    """The end of a local day, as the ``now`` of a status; None stays None."""
    if day is None:
        return None
    return pd.Timestamp(day + dt.timedelta(days=1)).tz_localize(timezone).tz_convert("UTC")
