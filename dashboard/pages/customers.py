"""Customers: readiness before vs after, the daily trend, the call list, one customer's sessions."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html

from analyzer import schema as s
from analyzer.exports import frame_to_csv
from analyzer.readiness import CUSTOMER_EXPORT_COLUMNS
from dashboard import ids
from dashboard.components import records, table_section, titled_table
from dashboard.data import Filters, current, filter_sessions, readiness_daily, readiness_table
from dashboard.figures import readiness_by_customer, readiness_trend

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


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.Div(
                dcc.Graph(id=ids.CUSTOMERS_READINESS_CHART, config={"displaylogo": False}),
                className="section",
            ),
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
            ),
            titled_table(
                "Sessions of the selected customer", ids.CUSTOMERS_DRILLDOWN, DRILL_COLUMNS
            ),
        ]
    )


@callback(
    Output(ids.CUSTOMERS_READINESS_CHART, "figure"),
    Output(ids.CUSTOMERS_TABLE, "data"),
    Input(ids.FILTERS, "data"),
)
def update_customers(filters_data):
    data, filters = current(), Filters.from_store(filters_data)
    table = readiness_table(data, filters)
    return readiness_by_customer(table), records(table, data.settings.timezone)


@callback(
    Output(ids.CUSTOMERS_TREND_CHART, "figure"),
    Output(ids.CUSTOMERS_DRILLDOWN, "data"),
    Input(ids.FILTERS, "data"),
    Input(ids.CUSTOMERS_TABLE, "active_cell"),
    State(ids.CUSTOMERS_TABLE, "derived_viewport_data"),
)
def update_drilldown(filters_data, active_cell, viewport):
    data, filters = current(), Filters.from_store(filters_data)
    chosen = viewport[active_cell["row"]]["customer_id"] if active_cell and viewport else None
    trend = readiness_trend(
        readiness_daily(data, filters),
        data.settings.enforcement_date,
        chosen,
        data.settings.server_enforcement(),
    )
    if chosen is None:
        return trend, []
    sessions = filter_sessions(data, filters)
    mine = sessions[(sessions[s.CUSTOMER_ID] == chosen).fillna(False).to_numpy()]
    return trend, records(mine[DRILL_COLUMNS].sort_values(s.START), data.settings.timezone)


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
