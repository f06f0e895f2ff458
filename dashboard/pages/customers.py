"""Customers: readiness before vs after, the call list, the daily trend, one customer's sessions."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from analyzer import schema as s
from analyzer.judgements.readiness import (
    AT_RISK,
    BROKEN,
    CALL_LIST_COLUMNS,
    CUSTOMER_EXPORT_COLUMNS,
)
from analyzer.outputs.exports import frame_to_csv
from analyzer.store import queries
from dashboard import ids
from dashboard.components import data_table, records, table_section, titled_table
from dashboard.data import (
    DashboardData,
    Filters,
    call_list_table,
    current,
    read_sessions,
    readiness_daily,
    readiness_table,
)
from dashboard.figures import readiness_by_customer, readiness_trend
from dashboard.paging import grid_rows, refresh_rows_on

dash.register_page(__name__, path="/customers", name="Customers", title="relaywatch - customers")

DRILL_COLUMNS = [
    s.START,
    s.SERVER,
    s.CLIENT_IP,
    s.CLASS,
    s.REASON,
    s.SASL_USERNAME,
    s.MESSAGES,
    s.RELAY_DENIED,
]
# The status tints of the call list (the chart's status colours, light enough for text).
STATUS_TINTS = {BROKEN: "#f8d0d0", AT_RISK: "#fdf0c4"}


def call_list_section() -> html.Div:
    """Who to call, most urgent first, with what broke (the download: the full rows)."""
    return html.Div(
        [
            html.Div(
                [
                    html.H3("Call list: broken first, then at risk, most outbound mail first"),
                    html.Button(
                        "Download CSV", id=ids.CUSTOMERS_CALL_LIST_BUTTON, className="button"
                    ),
                    dcc.Download(id=ids.CUSTOMERS_CALL_LIST_DOWNLOAD),
                ],
                className="section-head",
            ),
            html.P(
                "Broken: a relay was refused since the date (last refused: when, from which "
                "address, to which recipient domain). At risk: still relays without AUTH. "
                "The download is `relaywatch export customers --status broken,at_risk`.",
                className="note",
            ),
            data_table(
                ids.CUSTOMERS_CALL_LIST, CALL_LIST_COLUMNS, row_colours=("status", STATUS_TINTS)
            ),
        ],
        className="section",
    )


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.Div(
                dcc.Graph(id=ids.CUSTOMERS_READINESS_CHART, config={"displaylogo": False}),
                className="section",
            ),
            call_list_section(),
            html.Div(
                dcc.Graph(id=ids.CUSTOMERS_TREND_CHART, config={"displaylogo": False}),
                className="section",
            ),
            table_section(
                "Customers (same columns as `relaywatch export customers`)",
                ids.CUSTOMERS_TABLE,
                ids.CUSTOMERS_BUTTON,
                ids.CUSTOMERS_DOWNLOAD,
                list(CUSTOMER_EXPORT_COLUMNS),
                "Click a customer to see its sessions below and its trend above.",
                row_colours=("status", STATUS_TINTS),
                row_id="customer_id",  # a click selects the customer
            ),
            titled_table(
                "Sessions of the selected customer",
                ids.CUSTOMERS_DRILLDOWN,
                DRILL_COLUMNS,
                server_rows=True,  # a big customer has a million sessions
            ),
        ]
    )


@callback(
    Output(ids.CUSTOMERS_READINESS_CHART, "figure"),
    Output(ids.CUSTOMERS_CALL_LIST, "rowData"),
    Output(ids.CUSTOMERS_TABLE, "rowData"),
    Input(ids.FILTERS, "data"),
)
def update_customers(filters_data):
    data, filters = current(), Filters.from_store(filters_data)
    table, tz = readiness_table(data, filters), data.settings.timezone
    calls = call_list_table(data, filters)[list(CALL_LIST_COLUMNS)]
    return readiness_by_customer(table), records(calls, tz), records(table, tz)


def chosen_customer(selected_rows: list[dict] | None) -> str | None:
    """The customer whose row was clicked in the customers table (None: nobody yet)."""
    if not selected_rows:
        return None
    return selected_rows[0].get("customer_id") or None


@callback(
    Output(ids.CUSTOMERS_TREND_CHART, "figure"),
    Input(ids.FILTERS, "data"),
    Input(ids.CUSTOMERS_TABLE, "selectedRows"),
)
def update_trend(filters_data, selected_rows):
    data, filters = current(), Filters.from_store(filters_data)
    return readiness_trend(
        readiness_daily(data, filters),
        data.settings.enforcement_date,
        chosen_customer(selected_rows),
        data.settings.server_enforcement(),
    )


def customer_sessions(data: DashboardData, filters: Filters, chosen: str | None) -> pd.DataFrame:
    """The filtered sessions of customer ``chosen``, by start (kept per customer)."""

    def build() -> pd.DataFrame:
        if chosen is None:
            return pd.DataFrame(columns=DRILL_COLUMNS)
        mine = read_sessions(data, filters, DRILL_COLUMNS, queries.isin(s.CUSTOMER_ID, [chosen]))
        return mine[DRILL_COLUMNS].sort_values(s.START, kind="stable")

    return data.cached(("customer-sessions", chosen), filters, build)


@callback(
    Output(ids.CUSTOMERS_DRILLDOWN, "getRowsResponse"),
    Input(ids.CUSTOMERS_DRILLDOWN, "getRowsRequest"),
    State(ids.FILTERS, "data"),
    State(ids.CUSTOMERS_TABLE, "selectedRows"),
    prevent_initial_call=True,
)
def drilldown_rows(request, filters_data, selected_rows):
    """One block of the chosen customer's sessions, by start (none before a click)."""
    data, filters = current(), Filters.from_store(filters_data)
    chosen = chosen_customer(selected_rows)
    return grid_rows(
        data,
        filters,
        ("drilldown", chosen),
        customer_sessions(data, filters, chosen),
        request,
        DRILL_COLUMNS,
    )


refresh_rows_on(
    ids.CUSTOMERS_DRILLDOWN, Input(ids.FILTERS, "data"), Input(ids.CUSTOMERS_TABLE, "selectedRows")
)


@callback(
    Output(ids.CUSTOMERS_DOWNLOAD, "data"),
    Input(ids.CUSTOMERS_BUTTON, "n_clicks"),
    State(ids.FILTERS, "data"),
    prevent_initial_call=True,
)
def download_customers(_clicks, filters_data):
    data, filters = current(), Filters.from_store(filters_data)
    text = frame_to_csv(
        readiness_table(data, filters), CUSTOMER_EXPORT_COLUMNS, data.settings.timezone
    )
    return {"content": text, "filename": "customers.csv"}


@callback(
    Output(ids.CUSTOMERS_CALL_LIST_DOWNLOAD, "data"),
    Input(ids.CUSTOMERS_CALL_LIST_BUTTON, "n_clicks"),
    State(ids.FILTERS, "data"),
    prevent_initial_call=True,
)
def download_call_list(_clicks, filters_data):
    """The call list's full rows: ``relaywatch export customers --status broken,at_risk``."""
    data, filters = current(), Filters.from_store(filters_data)
    text = frame_to_csv(
        call_list_table(data, filters), CUSTOMER_EXPORT_COLUMNS, data.settings.timezone
    )
    return {"content": text, "filename": "call-list.csv"}
