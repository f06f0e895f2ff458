"""Sessions -> class and reason (README: "How sessions are classified"), and the enforcement period.

The decision is one ordered table, ``DECISIONS``: the first condition that holds gives the
class and reason. Keeping it a table makes the precedence visible and testable row by row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from analyzer import schema as s
from analyzer.judgements.customers import CUSTOMER_IP

Condition = Callable[[pd.DataFrame], pd.Series]


def _n(column: str) -> Condition:
    return lambda f: f[column].fillna(0) > 0


def _customer_ip(f: pd.DataFrame) -> pd.Series:
    return f[CUSTOMER_IP].astype(bool)


# (condition, class, reason): first match wins.
DECISIONS: tuple[tuple[Condition, str, str], ...] = (
    (_n(s.AUTH_SUCCESSES), s.AUTHENTICATED, s.R_SUBMISSION),
    (_n(s.AUTH_FAILURES), s.SPAM_PROBE, s.R_AUTH_FAILURE),
    (lambda f: _n(s.RELAY_DENIED)(f) & _customer_ip(f), s.UNAUTHENTICATED, s.R_RELAY_DENIED),
    (_n(s.RELAY_DENIED), s.SPAM_PROBE, s.R_RELAY_PROBE),
    (lambda f: _n(s.MESSAGES)(f) & _n(s.EXTERNAL_RECIPIENTS)(f), s.UNAUTHENTICATED, s.R_RELAY),
    # Accepted, but no delivery line in the input tells where it went: a customer's office
    # relays, anybody else delivers to us.
    (
        lambda f: _n(s.MESSAGES)(f) & ~_n(s.LOCAL_RECIPIENTS)(f) & _customer_ip(f),
        s.UNAUTHENTICATED,
        s.R_RELAY,
    ),
    (_n(s.MESSAGES), s.UNAUTHENTICATED, s.R_INBOUND),
    (_n(s.AUTH_OUTAGES), s.UNAUTHENTICATED, s.R_AUTH_UNAVAILABLE),
    (_n(s.DNSBL_HITS), s.SPAM_PROBE, s.R_RBL),
    # Nothing accepted, and a message refused for its content: spam that reached DATA.
    (_n(s.CONTENT_REJECTS), s.SPAM_PROBE, s.R_CONTENT),
    (_n(s.UNKNOWN_USER), s.SPAM_PROBE, s.R_DICTIONARY),
    (_n(s.REJECTED), s.SPAM_PROBE, s.R_POLICY),
    (_n(s.PROTOCOL_ERRORS), s.SPAM_PROBE, s.R_PROTOCOL),
    (lambda f: pd.Series(True, index=f.index), s.SPAM_PROBE, s.R_SCAN),
)


def classify_sessions(sessions: pd.DataFrame) -> pd.DataFrame:
    """Add ``class`` and ``reason``.

    Requires: the counts of ``analyzer.sessions.build.build_sessions`` and ``customer_ip``.
    """
    s.require_columns(
        sessions,
        (
            s.AUTH_SUCCESSES,
            s.AUTH_FAILURES,
            s.RELAY_DENIED,
            s.MESSAGES,
            s.EXTERNAL_RECIPIENTS,
            s.LOCAL_RECIPIENTS,
            s.AUTH_OUTAGES,
            s.DNSBL_HITS,
            s.UNKNOWN_USER,
            s.CONTENT_REJECTS,
            s.REJECTED,
            s.PROTOCOL_ERRORS,
            CUSTOMER_IP,
        ),
        "classify_sessions",
    )
    conditions = [cond(sessions).to_numpy(dtype=bool) for cond, _, _ in DECISIONS]
    klass = np.select(conditions, [c for _, c, _ in DECISIONS], default=s.SPAM_PROBE)
    reason = np.select(conditions, [r for _, _, r in DECISIONS], default=s.R_SCAN)
    return sessions.assign(**{s.CLASS: klass, s.REASON: reason})


def enforcement_instant(day: dt.date, timezone: str) -> pd.Timestamp:
    """00:00 local time of the enforcement day, in UTC. Where the clocks jump at midnight
    (Santiago, Havana, Beirut) the day starts at its first instant that exists, or at the
    first of two midnights."""
    local = pd.Timestamp(day).tz_localize(timezone, nonexistent="shift_forward", ambiguous=True)
    return local.tz_convert("UTC")


def assign_period(
    sessions: pd.DataFrame,
    enforcement: dt.date | None,
    timezone: str,
    per_server: Mapping[str, dt.date] | None = None,
) -> pd.DataFrame:
    """Add ``period``: ``before`` or ``after`` the enforcement date of the session's server
    (no date configured: ``before``, nothing is enforced yet).

    Requires: ``start``, ``server``.
    """
    default = (
        enforcement_instant(enforcement, timezone)
        if enforcement is not None
        else pd.Timestamp.max.tz_localize("UTC")
    )
    instants = {
        name: enforcement_instant(day, timezone) for name, day in (per_server or {}).items()
    }
    cutoff = sessions[s.SERVER].map(instants).fillna(default) if instants else default
    if isinstance(cutoff, pd.Series):
        cutoff = pd.to_datetime(cutoff, utc=True)
    after = (sessions[s.START] >= cutoff).to_numpy(dtype=bool)
    return sessions.assign(**{s.PERIOD: np.where(after, s.AFTER, s.BEFORE)})
