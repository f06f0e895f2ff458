"""Sessions: every session the filters select, paged on the server (a million stay fast)."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from analyzer import schema as s
from analyzer.exports import sessions_to_csv
from dashboard import ids
from dashboard.components import PAGE_SIZE, data_table, records
from dashboard.data import DashboardData, Filters, current, filter_sessions

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
            data_table(
                ids.SESSIONS_TABLE,
                s.SESSION_EXPORT_COLUMNS,
                page_action="custom",
                page_current=0,
                style_table={"overflowX": "auto"},
            ),
        ]
    )


def searched(data: DashboardData, filters: Filters, text: str | None) -> pd.DataFrame:
    """The filtered sessions whose address, host, HELO, login, customer or id contain text."""
    sessions = filter_sessions(data, filters)
    if not text:
        return sessions
    needle = text.strip().lower()
    hit = pd.Series(False, index=sessions.index)
    for column in SEARCHED:
        hit |= (
            sessions[column]
            .astype("string")
            .str.lower()
            .str.contains(needle, regex=False)
            .fillna(False)
        )
    return sessions[hit.to_numpy()]


@callback(
    Output(ids.SESSIONS_TABLE, "data"),
    Output(ids.SESSIONS_TABLE, "page_count"),
    Output(ids.SESSIONS_COUNT, "children"),
    Input(ids.FILTERS, "data"),
    Input(ids.SESSIONS_SEARCH, "value"),
    Input(ids.SESSIONS_TABLE, "page_current"),
    Input(ids.SESSIONS_TABLE, "page_size"),
)
def update_sessions(filters_data, text, page, size):
    data, filters = current(), Filters.from_store(filters_data)
    rows = searched(data, filters, text).sort_values([s.START, s.SESSION_ID], kind="stable")
    page, size = page or 0, size or PAGE_SIZE
    shown = rows.iloc[page * size : (page + 1) * size][list(s.SESSION_EXPORT_COLUMNS)]
    pages = max(1, -(-len(rows) // size))
    return records(shown, data.settings.timezone), pages, f"{len(rows):,} sessions"


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
