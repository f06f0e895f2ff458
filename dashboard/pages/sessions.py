"""Sessions: every session the filters select, paged on the server (a million stay fast)."""

from __future__ import annotations

import dash
import numpy as np
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from analyzer import schema as s
from analyzer.exports import sessions_to_csv
from dashboard import ids
from dashboard.components import data_table
from dashboard.data import DashboardData, Filters, current, filter_sessions
from dashboard.paging import grid_rows, refresh_rows_on

dash.register_page(__name__, path="/sessions", name="Sessions", title="relaywatch - sessions")

SEARCHED = (s.CLIENT_IP, s.CLIENT_HOST, s.HELO, s.SASL_USERNAME, s.CUSTOMER_ID, s.SESSION_ID)


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    dcc.Input(
                        id=ids.SESSIONS_SEARCH,
                        type="search",
                        debounce=True,
                        placeholder="search address, host, HELO, login, customer…",
                        style={"flex": "1", "padding": "6px"},
                    ),
                    html.Span(id=ids.SESSIONS_COUNT, className="note"),
                    html.Button("Download CSV", id=ids.SESSIONS_BUTTON, className="button"),
                    dcc.Download(id=ids.SESSIONS_DOWNLOAD),
                ],
                className="section-head section",
            ),
            html.Div(
                # 20 columns: the table scrolls inside its card
                data_table(ids.SESSIONS_TABLE, s.SESSION_EXPORT_COLUMNS, server_rows=True),
                className="section",
            ),
        ]
    )


def matches(sessions: pd.DataFrame, text: str | None) -> np.ndarray:
    """Where the address, host, HELO, login, customer or id of ``sessions`` contain text."""
    if not text:
        return np.ones(len(sessions), dtype=bool)
    needle = text.strip().lower()
    hit = np.zeros(len(sessions), dtype=bool)
    for column in SEARCHED:
        found = sessions[column].astype("string").str.lower().str.contains(needle, regex=False)
        hit |= found.fillna(False).to_numpy(dtype=bool)
    return hit


def searched(data: DashboardData, filters: Filters, text: str | None) -> pd.DataFrame:
    """The filtered sessions whose address, host, HELO, login, customer or id contain text."""
    sessions = filter_sessions(data, filters)
    return sessions[matches(sessions, text)]


def shown_positions(data: DashboardData, filters: Filters, text: str | None) -> np.ndarray:
    """Positions in the filtered sessions of those the search finds, by start then id (as
    the export orders them); kept per search, so paging through it is a slice."""

    def build() -> np.ndarray:
        sessions = filter_sessions(data, filters)
        keys = sessions[[s.START, s.SESSION_ID]].reset_index(drop=True)
        order = keys.sort_values([s.START, s.SESSION_ID], kind="stable").index.to_numpy()
        return order[matches(sessions, text)[order]]

    return data.cached(("sessions-search", text or ""), filters, build)


@callback(
    Output(ids.SESSIONS_TABLE, "getRowsResponse"),
    Output(ids.SESSIONS_COUNT, "children"),
    Input(ids.SESSIONS_TABLE, "getRowsRequest"),
    State(ids.FILTERS, "data"),
    State(ids.SESSIONS_SEARCH, "value"),
    prevent_initial_call=True,
)
def session_rows(request, filters_data, text):
    """One block of sessions, sorted and filtered on the server, and how many there are."""
    data, filters = current(), Filters.from_store(filters_data)
    sessions, base = filter_sessions(data, filters), shown_positions(data, filters, text)
    view = ("sessions", text or "")
    rows = grid_rows(data, filters, view, sessions, request, s.SESSION_EXPORT_COLUMNS, base)
    return rows, f"{rows['rowCount']:,} sessions"


refresh_rows_on(ids.SESSIONS_TABLE, Input(ids.FILTERS, "data"), Input(ids.SESSIONS_SEARCH, "value"))


@callback(
    Output(ids.SESSIONS_DOWNLOAD, "data"),
    Input(ids.SESSIONS_BUTTON, "n_clicks"),
    State(ids.FILTERS, "data"),
    State(ids.SESSIONS_SEARCH, "value"),
    prevent_initial_call=True,
)
def download_sessions(_clicks, filters_data, text):
    data, filters = current(), Filters.from_store(filters_data)
    return {
        "content": sessions_to_csv(searched(data, filters, text), data.settings.timezone),
        "filename": "sessions.csv",
    }
