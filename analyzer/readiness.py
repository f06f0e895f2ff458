"""Readiness per customer around the enforcement date, and who to call (exports).

Readiness in a period = authenticated sessions / outbound sessions x 100, where outbound =
the customer's sessions that are authenticated, or unauthenticated with reason relay or
relay_denied. Inbound mail to a customer says nothing about its clients, so it never counts.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from analyzer import schema as s

OUTBOUND_REASONS = (s.R_SUBMISSION, s.R_RELAY, s.R_RELAY_DENIED)
# How far back "sent unauthenticated relay mail" (before) / "was refused" (after) counts.
RECENT = pd.Timedelta(days=7)

READY, AT_RISK, BROKEN, INACTIVE = "ready", "at_risk", "broken", "inactive"
STATUSES = (READY, AT_RISK, BROKEN, INACTIVE)
CUSTOMER_EXPORT_COLUMNS = (
    "customer_id", "name", "contact_email",
    "outbound_before", "authenticated_before", "readiness_before_pct",
    "outbound_after", "authenticated_after", "readiness_after_pct",
    "last_unauthenticated", "status",
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
    sessions: pd.DataFrame, customers: pd.DataFrame, now: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per customer (all of them, active or not): the ``customers`` export.

    ``status``: ``broken`` (refused unauthenticated relay after the date within the 7 days
    before ``now``), ``at_risk`` (relayed unauthenticated before the date within those 7
    days, and has not authenticated since the date: it will break), ``inactive`` (no
    outbound session in those 7 days), else ``ready``.
    ``now`` defaults to the last session start in the data (the end of the logs).
    """
    outbound = outbound_sessions(sessions)
    now = now if now is not None else (sessions[s.START].max() if len(sessions) else None)
    if now is None:
        recent = outbound.iloc[:0]
    else:
        recent = outbound[
            ((outbound[s.START] > now - RECENT) & (outbound[s.START] <= now)).to_numpy()
        ]
    counts = (
        outbound.groupby([s.CUSTOMER_ID, s.PERIOD])["authenticated"]
        .agg(["size", "sum"])
        .unstack(s.PERIOD, fill_value=0)
    )
    table = customers[["customer_id", "name", "contact_email"]].set_index("customer_id")
    for period in (s.BEFORE, s.AFTER):
        size = counts.get(("size", period), pd.Series(dtype="int64"))
        done = counts.get(("sum", period), pd.Series(dtype="int64"))
        table[f"outbound_{period}"] = size.reindex(table.index).fillna(0).astype("int64")
        table[f"authenticated_{period}"] = done.reindex(table.index).fillna(0).astype("int64")
        table[f"readiness_{period}_pct"] = _pct(
            table[f"authenticated_{period}"], table[f"outbound_{period}"]
        )
    unauthenticated = outbound[~outbound["authenticated"]]
    table["last_unauthenticated"] = (
        unauthenticated.groupby(s.CUSTOMER_ID)[s.START].max().reindex(table.index)
    )
    broken = _ids(recent, s.AFTER, s.R_RELAY_DENIED)
    # Once the date has passed, authenticating shows the customer's clients were fixed.
    fixed = _ids(
        outbound[outbound[s.START] <= now] if now is not None else outbound, s.AFTER, s.R_SUBMISSION
    )
    at_risk = _ids(recent, s.BEFORE, s.R_RELAY) - fixed
    active = set(recent[s.CUSTOMER_ID])
    ids = table.index.to_series()
    table["status"] = np.select(
        [ids.isin(broken), ids.isin(at_risk), ~ids.isin(active)],
        [BROKEN, AT_RISK, INACTIVE],
        default=READY,
    )
    return table.reset_index()[list(CUSTOMER_EXPORT_COLUMNS)]


def _ids(recent: pd.DataFrame, period: str, reason: str) -> set[str]:
    hit = (recent[s.PERIOD] == period) & (recent[s.REASON] == reason)
    return set(recent.loc[hit.to_numpy(), s.CUSTOMER_ID])


def daily_readiness(sessions: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Per local day and customer with outbound sessions: ``date``, ``customer_id``,
    ``outbound``, ``authenticated``, ``readiness_pct``."""
    outbound = outbound_sessions(sessions)
    day = outbound[s.START].dt.tz_convert(timezone).dt.date.rename("date")
    daily = (
        outbound.groupby([day, outbound[s.CUSTOMER_ID]])["authenticated"]
        .agg(outbound="size", authenticated="sum")
        .reset_index()
    )
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
