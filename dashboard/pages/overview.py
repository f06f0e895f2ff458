"""Overview: sessions per day around the date (unauthenticated split into inbound mail and
customers' relays), and the numbers that matter."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, callback, dcc, html

from analyzer import schema as s
from analyzer.messages import REFUSED_STATUSES
from analyzer.readiness import OUTBOUND_REASONS
from analyzer.traffic import COLORS
from dashboard import ids
from dashboard.components import card, empty_state
from dashboard.data import (
    DashboardData,
    Filters,
    current,
    daily_traffic_counts,
    filter_events,
    filter_sessions,
    period_days,
    readiness_table,
)
from dashboard.figures import sessions_per_day

dash.register_page(__name__, path="/", name="Overview", title="relaywatch - overview")


def layout(**_query: str) -> html.Div:
    if current().sessions.empty:
        return empty_state(
            "No SMTP sessions in the configured logs. Check `logs` in the config "
            "and run `relaywatch patterns check` to see what was read."
        )
    return html.Div(
        [
            html.Div(id=ids.OVERVIEW_CARDS, className="cards"),
            html.Div(
                dcc.Graph(id=ids.OVERVIEW_CLASS_CHART, config={"displaylogo": False}),
                className="section",
            ),
        ]
    )


def share(sessions: pd.DataFrame, period: str) -> str:
    """Authenticated share of customers' outbound sessions in a period, as text."""
    mine = sessions[
        sessions[s.CUSTOMER_ID].notna().to_numpy()
        & sessions[s.REASON].isin(OUTBOUND_REASONS).to_numpy()
        & (sessions[s.PERIOD] == period).to_numpy()
    ]
    if mine.empty:
        return "–"
    return f"{(mine[s.CLASS] == s.AUTHENTICATED).mean() * 100:.0f} %"


def overview_cards(data: DashboardData, filters: Filters) -> list[html.A]:
    sessions = filter_sessions(data, filters)
    relays = sessions[(sessions[s.RELAY_DENIED] > 0).to_numpy()]
    unready = int((relays[s.REASON] == s.R_RELAY_DENIED).sum())
    statuses = readiness_table(data, filters)["status"].value_counts()
    deliveries = filter_events(data.analysis.deliveries, data, filters)
    refused = deliveries[deliveries[s.STATUS].isin(REFUSED_STATUSES).to_numpy()]
    return [
        card(
            "Authenticated share of outbound",
            f"{share(sessions, s.BEFORE)} → {share(sessions, s.AFTER)}",
            "customers' relayed mail, before → after the date",
            "/customers",
            COLORS[s.AUTHENTICATED],
        ),
        *unauthenticated_cards(sessions),
        card(
            "Customers at risk / broken",
            f"{int(statuses.get('at_risk', 0))} / {int(statuses.get('broken', 0))}",
            "at risk: still relaying without AUTH; broken: refused since the date",
            "/customers",
        ),
        card(
            "Refused relay attempts",
            f"{len(relays):,}",
            f"{unready:,} from unready customers, {len(relays) - unready:,} probes",
            "/relays",
        ),
        card(
            "AUTH failures",
            f"{int(sessions[s.AUTH_FAILURES].sum()):,}",
            f"in {int((sessions[s.REASON] == s.R_AUTH_FAILURE).sum()):,} password-guessing "
            "sessions",
            "/offenders",
            COLORS[s.SPAM_PROBE],
        ),
        card(
            "Own outbound IPs",
            f"{len(data.settings.own_outbound_ips())}",
            f"{len(refused):,} deliveries deferred or bounced by remote servers",
            "/risk",
        ),
    ]


def unauthenticated_cards(sessions: pd.DataFrame) -> list[html.A]:
    """Unauthenticated sessions in two cards: customers' relays (the warning) apart from
    inbound mail (harmless), in the colours of the chart."""
    unauthenticated = sessions[(sessions[s.CLASS] == s.UNAUTHENTICATED).to_numpy()]
    count = unauthenticated[s.REASON].value_counts()
    relayed, refused = int(count.get(s.R_RELAY, 0)), int(count.get(s.R_RELAY_DENIED, 0))
    outage = int(count.get(s.R_AUTH_UNAVAILABLE, 0))
    detail = f"{relayed:,} accepted: will break; {refused:,} refused: broke"
    if outage:
        detail += f"; {outage:,} more while our AUTH was down"
    return [
        card(
            "Customer relays without AUTH",
            f"{relayed + refused:,}",
            detail,
            "/customers",
            COLORS[s.R_RELAY_DENIED if refused else s.R_RELAY],
        ),
        card(
            "Inbound mail (no AUTH needed)",
            f"{int(count.get(s.R_INBOUND, 0)):,}",
            "unauthenticated but harmless: mail to our customers",
            "/sessions",
            COLORS[s.R_INBOUND],
        ),
    ]


@callback(
    Output(ids.OVERVIEW_CLASS_CHART, "figure"),
    Output(ids.OVERVIEW_CARDS, "children"),
    Input(ids.FILTERS, "data"),
)
def update_overview(filters_data):
    data, filters = current(), Filters.from_store(filters_data)
    sessions, tz = filter_sessions(data, filters), data.settings.timezone
    daily = daily_traffic_counts(sessions, tz, period_days(data, filters))
    chart = sessions_per_day(
        daily, data.settings.enforcement_date, data.settings.server_enforcement()
    )
    return chart, overview_cards(data, filters)
