"""Overview: sessions per day around the date (unauthenticated split into inbound mail and
customers' relays), and the numbers that matter."""

from __future__ import annotations

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, callback, dcc, html

from analyzer import schema as s
from analyzer.judgements import rollups
from analyzer.judgements.readiness import OUTBOUND_REASONS
from analyzer.outputs.traffic import COLORS, GROUPS, TRAFFIC
from analyzer.sessions.messages import REFUSED_STATUSES
from dashboard import ids
from dashboard.components import card, empty_state
from dashboard.data import (
    DashboardData,
    Filters,
    current,
    daily_rollup,
    data_days,
    delivery_rollup,
    period_days,
    readiness_table,
    rollup_counts,
    traffic_rollup,
)
from dashboard.figures import sessions_per_day

dash.register_page(__name__, path="/", name="Overview", title="relaywatch - overview")


def layout(**_query: str) -> html.Div:
    if data_days(current())[0] is None:
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


def share(rollup: pd.DataFrame, period: str) -> str:
    """Authenticated share of customers' outbound sessions in a period, as text."""
    mine = rollup[
        rollup[s.CUSTOMER_ID].notna().to_numpy()
        & rollup[s.REASON].isin(OUTBOUND_REASONS).to_numpy()
        & (rollup[s.PERIOD] == period).fillna(False).to_numpy()
    ]
    total = int(mine[rollups.SESSIONS].sum())
    if not total:
        return "–"
    done = int(mine.loc[(mine[s.CLASS] == s.AUTHENTICATED).to_numpy(), rollups.SESSIONS].sum())
    return f"{done / total * 100:.0f} %"


def total(rollup: pd.DataFrame, keep=None, count: str = rollups.SESSIONS) -> int:
    """The rollup's ``count`` summed over the rows ``keep`` selects (all: None)."""
    rows = rollup if keep is None else rollup[pd.Series(keep).fillna(False).to_numpy()]
    return int(rows[count].sum())


def overview_cards(data: DashboardData, filters: Filters) -> list[html.A]:
    rollup = daily_rollup(data, filters)
    relays = total(rollup, count=rollups.RELAY_SESSIONS)
    unready = total(rollup, rollup[s.REASON] == s.R_RELAY_DENIED, rollups.RELAY_SESSIONS)
    statuses = readiness_table(data, filters)["status"].value_counts()
    deliveries = delivery_rollup(data, filters)
    refused = total(deliveries, deliveries[s.STATUS].isin(REFUSED_STATUSES), rollups.DELIVERIES)
    return [
        card(
            "Authenticated share of outbound",
            f"{share(rollup, s.BEFORE)} → {share(rollup, s.AFTER)}",
            "customers' relayed mail, before → after the date",
            "/customers",
            COLORS[s.AUTHENTICATED],
        ),
        *unauthenticated_cards(rollup),
        card(
            "Customers at risk / broken",
            f"{int(statuses.get('at_risk', 0))} / {int(statuses.get('broken', 0))}",
            "at risk: still relaying without AUTH; broken: refused since the date",
            "/customers",
        ),
        card(
            "Refused relay attempts",
            f"{relays:,}",
            f"{unready:,} from unready customers, {relays - unready:,} probes",
            "/relays",
        ),
        card(
            "AUTH failures",
            f"{total(rollup, count=s.AUTH_FAILURES):,}",
            f"in {total(rollup, rollup[s.REASON] == s.R_AUTH_FAILURE):,} password-guessing "
            "sessions",
            "/offenders",
            COLORS[s.SPAM_PROBE],
        ),
        card(
            "Own outbound IPs",
            f"{len(data.settings.own_outbound_ips())}",
            f"{refused:,} deliveries deferred or bounced by remote servers",
            "/risk",
        ),
    ]


def unauthenticated_cards(rollup: pd.DataFrame) -> list[html.A]:
    """Unauthenticated sessions in two cards: customers' relays (the warning) apart from
    inbound mail (harmless), in the colours of the chart."""
    unauthenticated = rollup[(rollup[s.CLASS] == s.UNAUTHENTICATED).fillna(False).to_numpy()]
    count = unauthenticated.groupby(s.REASON)[rollups.SESSIONS].sum()
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


def first_view(data: DashboardData, filters: Filters) -> tuple[go.Figure, list[html.A]]:
    """The chart and the cards for ``filters`` (also what ``dashboard.warm`` builds for the
    whole period once the server is up: this page is the one opened first)."""
    rollup = traffic_rollup(daily_rollup(data, filters))
    daily = rollup_counts(rollup, TRAFFIC, GROUPS, period_days(data, filters))
    chart = sessions_per_day(
        daily, data.settings.enforcement_date, data.settings.server_enforcement()
    )
    return chart, overview_cards(data, filters)


@callback(
    Output(ids.OVERVIEW_CLASS_CHART, "figure"),
    Output(ids.OVERVIEW_CARDS, "children"),
    Input(ids.FILTERS, "data"),
)
def update_overview(filters_data):
    return first_view(current(), Filters.from_store(filters_data))
