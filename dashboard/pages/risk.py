"""Risk: how close each own outbound IP is to a listing, and the accounts that endanger it.

The tables are the `risk` and `accounts` exports for the filtered period (the download
buttons give the same CSVs); the live DNSBL status was asked once when the app started.
"""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from analyzer import schema as s
from analyzer.judgements import rollups
from analyzer.judgements.dnsbl import unverified_zones
from analyzer.judgements.risk import ACCOUNT_COLUMNS, RISK_COLUMNS
from analyzer.outputs.exports import frame_to_csv
from analyzer.sessions.messages import REFUSED_STATUSES
from dashboard import ids
from dashboard.components import data_table, records
from dashboard.data import (
    DashboardData,
    Filters,
    current,
    delivery_rollup,
    period_days,
    risk_tables,
    rollup_counts,
)
from dashboard.figures import delivery_outcomes

dash.register_page(__name__, path="/risk", name="Risk", title="relaywatch - risk")

IP_COLUMNS = ["ip", "level", "risk_score", "blocklist_bounces", "listed_on", "evidence"]
SERVER_COLUMNS = [
    "server",
    "outbound_ip",
    "deliveries",
    "sent",
    "deferred",
    "bounced",
    "refused_pct",
]
ACCOUNT_VIEW_COLUMNS = [
    s.SASL_USERNAME,
    s.CUSTOMER_ID,
    "level",
    "risk_score",
    "flags",
    "sessions",
    "distinct_ips",
    "distinct_asns",
    s.RECIPIENTS,
    "blocklist_bounces",
    "peak_day",
]
LEVEL_COLOURS = {"critical": "#f8d0d0", "high": "#fde3c8", "medium": "#fdf5c8"}


def layout(**_query: str) -> html.Div:
    def table(title, table_id, columns, note, button=None, download=None) -> html.Div:
        extra = []
        if button:
            extra = [html.Button("Download CSV", id=button, className="button")]
            extra.append(dcc.Download(id=download))
        return html.Div(
            [
                html.H3(title),
                html.P(note, className="note"),
                *extra,
                # our own addresses, servers and accounts: every row sent, paged in the browser
                data_table(table_id, columns, row_colours=("level", LEVEL_COLOURS)),
            ],
            className="section",
        )

    return html.Div(
        [
            html.Div(id=ids.RISK_DNSBL_NOTES, className="settings-notes", hidden=True),
            table(
                "Own outbound IPs",
                ids.RISK_IPS_TABLE,
                IP_COLUMNS,
                "Blacklist risk per sending address: remote refusals that blame a blocklist, "
                "live DNSBL listings (asked when the dashboard started), high-risk accounts "
                "and open relaying through its servers. Critical means listed now.",
                ids.RISK_IPS_BUTTON,
                ids.RISK_IPS_DOWNLOAD,
            ),
            table(
                "Accounts (SASL logins)",
                ids.RISK_ACCOUNTS_TABLE,
                ACCOUNT_VIEW_COLUMNS,
                "Riskiest first, each login judged against its own history. cracked: failures "
                "from a new outside address, then the account's first login there, outweighing "
                "its own logins; volume_spike: a day far above its usual busy day; "
                "many_networks: 4+ networks in a day, 3 of them new to it; blocklist_bounces: "
                "at least 10% of the blamed refusals are its mail.",
                ids.RISK_ACCOUNTS_BUTTON,
                ids.RISK_ACCOUNTS_DOWNLOAD,
            ),
            table(
                "Deliveries to other domains per server",
                ids.RISK_SERVERS_TABLE,
                SERVER_COLUMNS,
                "How remote servers answered. A rising share of refusals is how a blocklisting "
                "starts.",
            ),
            html.Div(
                dcc.Graph(id=ids.RISK_DELIVERY_CHART, config={"displaylogo": False}),
                className="section",
            ),
        ]
    )


def outbound(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """Delivery attempts to other domains per day, server and status (our customers' mail is
    not our reputation)."""
    rollup = delivery_rollup(data, filters)
    return rollup[rollup[rollups.OUTBOUND].to_numpy(dtype=bool)]


def server_table(data: DashboardData, filters: Filters) -> pd.DataFrame:
    deliveries = outbound(data, filters)
    if deliveries.empty:
        return pd.DataFrame(columns=SERVER_COLUMNS)
    counts = deliveries.pivot_table(
        index=s.SERVER, columns=s.STATUS, values=rollups.DELIVERIES, aggfunc="sum", fill_value=0
    ).reindex(columns=["sent", "deferred", "bounced"], fill_value=0)
    counts["deliveries"] = counts.sum(axis=1)
    counts["refused_pct"] = (
        (counts["deferred"] + counts["bounced"]) / counts["deliveries"] * 100
    ).round(1)
    ips = data.settings.server_outbound_ips()
    counts["outbound_ip"] = [ips.get(name) for name in counts.index]
    return counts.rename_axis("server").reset_index()[SERVER_COLUMNS]


@callback(
    Output(ids.RISK_IPS_TABLE, "rowData"),
    Output(ids.RISK_ACCOUNTS_TABLE, "rowData"),
    Output(ids.RISK_SERVERS_TABLE, "rowData"),
    Output(ids.RISK_DELIVERY_CHART, "figure"),
    Input(ids.FILTERS, "data"),
)
def update_risk(filters_data):
    data, filters = current(), Filters.from_store(filters_data)
    risk = risk_tables(data, filters)
    deliveries = outbound(data, filters)
    refused = deliveries[deliveries[s.STATUS].isin(REFUSED_STATUSES).to_numpy()]
    tz = data.settings.timezone
    daily = rollup_counts(
        refused, s.STATUS, list(REFUSED_STATUSES), period_days(data, filters), rollups.DELIVERIES
    )
    return (
        records(risk.ips[IP_COLUMNS], tz),
        records(risk.accounts[ACCOUNT_VIEW_COLUMNS], tz),
        records(server_table(data, filters), tz),
        delivery_outcomes(
            daily, data.settings.enforcement_date, data.settings.server_enforcement()
        ),
    )


@callback(
    Output(ids.RISK_DNSBL_NOTES, "children"),
    Output(ids.RISK_DNSBL_NOTES, "hidden"),
    Input(ids.FILTERS, "data"),
)
def dnsbl_notes(_filters_data):
    """Zones whose test entries failed: their answers are not used, and this says why."""
    notes = unverified_zones(current().dnsbl)
    return [html.P(note) for note in notes], not notes


def _download(filters_data, which: str) -> dict[str, str]:
    """The `risk` or `accounts` export of the filtered view, as its CSV file."""
    data, filters = current(), Filters.from_store(filters_data)
    risk = risk_tables(data, filters)
    frame, columns = (
        (risk.ips, RISK_COLUMNS) if which == "risk" else (risk.accounts, ACCOUNT_COLUMNS)
    )
    text = frame_to_csv(frame, columns, data.settings.timezone)
    return {"content": text, "filename": f"relaywatch-{which}.csv"}


@callback(
    Output(ids.RISK_IPS_DOWNLOAD, "data"),
    Input(ids.RISK_IPS_BUTTON, "n_clicks"),
    State(ids.FILTERS, "data"),
    prevent_initial_call=True,
)
def download_risk(_clicks, filters_data):
    return _download(filters_data, "risk")


@callback(
    Output(ids.RISK_ACCOUNTS_DOWNLOAD, "data"),
    Input(ids.RISK_ACCOUNTS_BUTTON, "n_clicks"),
    State(ids.FILTERS, "data"),
    prevent_initial_call=True,
)
def download_accounts(_clicks, filters_data):
    return _download(filters_data, "accounts")
