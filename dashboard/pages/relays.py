"""Relay attempts: refused relays per day (unready customers vs spam probes), who and where."""

from __future__ import annotations

import dash
import pandas as pd
import pyarrow.compute as pc
from dash import Input, Output, State, callback, dcc, html

from analyzer import schema as s
from analyzer.outputs.exports import frame_to_csv
from dashboard import ids
from dashboard.components import table_section, titled_table
from dashboard.data import (
    DashboardData,
    Filters,
    current,
    daily_counts,
    period_days,
    read_events,
    read_sessions,
)
from dashboard.figures import REASON_COLORS, REASON_LABELS, stacked_daily
from dashboard.paging import grid_rows, refresh_rows_on

dash.register_page(
    __name__, path="/relays", name="Relay attempts", title="relaywatch - relay attempts"
)

KIND = "kind"
SENDER_COLUMNS = ["client_ip", "customer_id", "sessions", "relay_denied", "first_seen", "last_seen"]
TARGET_COLUMNS = ["domain", "attempts", "sources"]


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.Div(
                dcc.Graph(id=ids.RELAYS_CHART, config={"displaylogo": False}), className="section"
            ),
            html.Div(
                [
                    table_section(
                        "Who tried to relay",
                        ids.RELAYS_SENDERS,
                        ids.RELAYS_SENDERS_BUTTON,
                        ids.RELAYS_SENDERS_DOWNLOAD,
                        SENDER_COLUMNS,
                        "Customers' offices refused after the date need a call; "
                        "the others are probes.",
                        server_rows=True,  # every probing address: as many as attackers like
                    ),
                    titled_table(
                        "Where they tried to send",
                        ids.RELAYS_TARGETS,
                        TARGET_COLUMNS,
                        server_rows=True,  # recipient domains are the attackers' to choose
                    ),
                ],
                className="row",
            ),
        ]
    )


def refused(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """Sessions with a refused relay, ``kind`` = relay_denied (a customer) or relay_probe."""
    columns = (s.SESSION_ID, s.CLIENT_IP, s.CUSTOMER_ID, s.RELAY_DENIED, s.START, s.REASON)
    relays = read_sessions(data, filters, columns, pc.field(s.RELAY_DENIED) > 0)
    kind = (relays[s.REASON] == s.R_RELAY_DENIED).map(
        {True: s.R_RELAY_DENIED, False: s.R_RELAY_PROBE}
    )
    return relays.assign(**{KIND: kind.to_numpy()})


def relay_tables(data: DashboardData, filters: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The chart's counts per day and kind, and the senders: one read of the refused
    relays for both (their callbacks ask together), and only these small tables kept."""

    def build() -> tuple[pd.DataFrame, pd.DataFrame]:
        relays = refused(data, filters)
        kinds = [s.R_RELAY_DENIED, s.R_RELAY_PROBE]
        tz = data.settings.timezone
        return daily_counts(relays, KIND, kinds, tz, period_days(data, filters)), senders(relays)

    return data.cached("relays", filters, build)


def senders(relays: pd.DataFrame) -> pd.DataFrame:
    grouped = relays.groupby(s.CLIENT_IP, sort=True)
    table = grouped.agg(
        customer_id=(s.CUSTOMER_ID, "first"),
        sessions=(s.SESSION_ID, "size"),
        relay_denied=(s.RELAY_DENIED, "sum"),
        first_seen=(s.START, "min"),
        last_seen=(s.START, "max"),
    ).reset_index()
    return table.sort_values(["relay_denied", s.CLIENT_IP], ascending=[False, True])[SENDER_COLUMNS]


def targets(data: DashboardData, filters: Filters) -> pd.DataFrame:
    relayed = read_events(
        data, filters, "rejects", (s.CLIENT_IP, s.RECIPIENT), pc.field(s.REJECT_KIND) == s.RK_RELAY
    )
    domain = relayed[s.RECIPIENT].str.extract(r"@(?P<d>[^@>]+)$")["d"].str.lower()
    table = pd.DataFrame({"domain": domain, "ip": relayed[s.CLIENT_IP]}).dropna()
    grouped = table.groupby("domain")
    out = (
        grouped.size()
        .rename("attempts")
        .to_frame()
        .join(grouped["ip"].nunique().rename("sources"))
        .reset_index()
    )
    return out.sort_values(["attempts", "domain"], ascending=[False, True])[TARGET_COLUMNS]


def sender_table(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """Who tried to relay, once per filters (each page of rows is cut from it)."""
    return relay_tables(data, filters)[1]


def target_table(data: DashboardData, filters: Filters) -> pd.DataFrame:
    return data.cached("relay-targets", filters, lambda: targets(data, filters))


@callback(
    Output(ids.RELAYS_CHART, "figure"),
    Input(ids.FILTERS, "data"),
)
def update_relays(filters_data):
    data, filters = current(), Filters.from_store(filters_data)
    daily = relay_tables(data, filters)[0]
    colors = {k: REASON_COLORS[k] for k in (s.R_RELAY_DENIED, s.R_RELAY_PROBE)}
    figure = stacked_daily(
        daily,
        KIND,
        colors,
        REASON_LABELS,
        "Refused relay attempts per day",
        "Sessions",
        data.settings.enforcement_date,
        data.settings.server_enforcement(),
    )
    return figure


@callback(
    Output(ids.RELAYS_SENDERS, "getRowsResponse"),
    Input(ids.RELAYS_SENDERS, "getRowsRequest"),
    State(ids.FILTERS, "data"),
    prevent_initial_call=True,
)
def sender_rows(request, filters_data):
    data, filters = current(), Filters.from_store(filters_data)
    table = sender_table(data, filters)
    return grid_rows(data, filters, "relay-senders", table, request, SENDER_COLUMNS)


@callback(
    Output(ids.RELAYS_TARGETS, "getRowsResponse"),
    Input(ids.RELAYS_TARGETS, "getRowsRequest"),
    State(ids.FILTERS, "data"),
    prevent_initial_call=True,
)
def target_rows(request, filters_data):
    data, filters = current(), Filters.from_store(filters_data)
    table = target_table(data, filters)
    return grid_rows(data, filters, "relay-targets", table, request, TARGET_COLUMNS)


refresh_rows_on(ids.RELAYS_SENDERS, Input(ids.FILTERS, "data"))
refresh_rows_on(ids.RELAYS_TARGETS, Input(ids.FILTERS, "data"))


@callback(
    Output(ids.RELAYS_SENDERS_DOWNLOAD, "data"),
    Input(ids.RELAYS_SENDERS_BUTTON, "n_clicks"),
    State(ids.FILTERS, "data"),
    prevent_initial_call=True,
)
def download_senders(_clicks, filters_data):
    data, filters = current(), Filters.from_store(filters_data)
    text = frame_to_csv(sender_table(data, filters), SENDER_COLUMNS, data.settings.timezone)
    return {"content": text, "filename": "relay-senders.csv"}
