"""Risk: how remote servers answer our outbound IPs, and the accounts that send through us.

Risk scores, blocklist-bounce attribution and live DNSBL status come with the blacklist-risk
work (SPEC `accounts` and `risk` exports); this page shows the signals they are built from.
"""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, callback, dash_table, dcc, html

from analyzer import schema as s
from analyzer.customers import local_domains
from analyzer.sessions import external_recipients
from dashboard import ids
from dashboard.components import CELL_STYLE, HEADER_STYLE, records
from dashboard.data import (
    DashboardData,
    Filters,
    current,
    daily_counts,
    filter_events,
    filter_sessions,
)
from dashboard.figures import delivery_outcomes

dash.register_page(__name__, path="/risk", name="Risk", title="relaywatch - risk")

SERVER_COLUMNS = [
    "server",
    "outbound_ip",
    "deliveries",
    "sent",
    "deferred",
    "bounced",
    "refused_pct",
]
ACCOUNT_COLUMNS = [
    s.SASL_USERNAME,
    s.CUSTOMER_ID,
    "sessions",
    "distinct_ips",
    s.MESSAGES,
    s.RECIPIENTS,
    "first_seen",
    "last_seen",
]


def layout(**_query: str) -> html.Div:
    def table(title: str, table_id: str, columns: list[str], note: str) -> html.Div:
        return html.Div(
            [
                html.H3(title),
                html.P(note, className="note"),
                dash_table.DataTable(
                    id=table_id,
                    page_size=15,
                    sort_action="native",
                    style_cell=CELL_STYLE,
                    style_header=HEADER_STYLE,
                    columns=[{"name": c, "id": c} for c in columns],
                ),
            ],
            className="section",
        )

    return html.Div(
        [
            table(
                "Own outbound servers",
                ids.RISK_SERVERS_TABLE,
                SERVER_COLUMNS,
                "Deliveries to other domains and how remote servers answered. A rising share of "
                "refusals is how a blocklisting starts.",
            ),
            html.Div(
                dcc.Graph(id=ids.RISK_DELIVERY_CHART, config={"displaylogo": False}),
                className="section",
            ),
            table(
                "Accounts (SASL logins)",
                ids.RISK_ACCOUNTS_TABLE,
                ACCOUNT_COLUMNS,
                "Logins used from many addresses or sending far more than usual deserve a look; "
                "risk scores and cracked-password signals are added by the blacklist-risk work.",
            ),
        ]
    )


def outbound_deliveries(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """Delivery attempts to other domains (mail for our customers is not our reputation)."""
    deliveries = filter_events(data.analysis.deliveries, data, filters)
    domains = local_domains(data.customers, data.settings.local_domains)
    return deliveries[
        external_recipients(
            deliveries.assign(**{s.ORIG_RECIPIENT: pd.NA, s.DAEMON: pd.NA}), domains
        )
    ]


def server_table(data: DashboardData, filters: Filters) -> pd.DataFrame:
    deliveries = outbound_deliveries(data, filters)
    if deliveries.empty:
        return pd.DataFrame(columns=SERVER_COLUMNS)
    counts = pd.crosstab(deliveries[s.SERVER], deliveries[s.STATUS]).reindex(
        columns=["sent", "deferred", "bounced"], fill_value=0
    )
    counts["deliveries"] = counts.sum(axis=1)
    counts["refused_pct"] = (
        (counts["deferred"] + counts["bounced"]) / counts["deliveries"] * 100
    ).round(1)
    ips = {name: cfg.outbound_ip for name, cfg in data.settings.servers.items()}
    counts["outbound_ip"] = [ips.get(name) for name in counts.index]
    return counts.rename_axis("server").reset_index()[SERVER_COLUMNS]


def account_table(data: DashboardData, filters: Filters) -> pd.DataFrame:
    sessions = filter_sessions(data, filters)
    logins = sessions[sessions[s.SASL_USERNAME].notna().to_numpy()]
    grouped = logins.groupby(s.SASL_USERNAME, sort=True)
    table = grouped.agg(
        customer_id=(s.CUSTOMER_ID, "first"),
        sessions=(s.SESSION_ID, "size"),
        distinct_ips=(s.CLIENT_IP, "nunique"),
        messages=(s.MESSAGES, "sum"),
        recipients=(s.RECIPIENTS, "sum"),
        first_seen=(s.START, "min"),
        last_seen=(s.START, "max"),
    ).reset_index()
    return table.sort_values(["recipients", s.SASL_USERNAME], ascending=[False, True])[
        ACCOUNT_COLUMNS
    ]


@callback(
    Output(ids.RISK_SERVERS_TABLE, "data"),
    Output(ids.RISK_DELIVERY_CHART, "figure"),
    Output(ids.RISK_ACCOUNTS_TABLE, "data"),
    Input(ids.FILTERS, "data"),
)
def update_risk(filters_data):
    data, filters = current(), Filters.from_store(filters_data)
    deliveries = outbound_deliveries(data, filters)
    refused = deliveries[deliveries[s.STATUS].isin(["deferred", "bounced"]).to_numpy()]
    daily = daily_counts(refused, s.STATUS, ["deferred", "bounced"], data.settings.timezone)
    tz = data.settings.timezone
    return (
        records(server_table(data, filters), tz),
        delivery_outcomes(daily, data.settings.enforcement_date),
        records(account_table(data, filters), tz),
    )
