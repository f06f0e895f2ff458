"""Sessions: every session the filters select, paged on the server (a million stay fast)."""

from __future__ import annotations

import json

import dash
import pandas as pd
import pyarrow.compute as pc
from dash import Input, Output, State, callback, dcc, html

from analyzer import schema as s
from analyzer.store import queries
from dashboard import ids
from dashboard.components import data_table, records
from dashboard.data import DashboardData, Filters, current
from dashboard.downloads import sessions_link
from dashboard.links import SEARCH, keep_in_url
from dashboard.paging import block_bounds, refresh_rows_on, stable_order, view_positions

DAY = "day"  # the UTC day of a session's start: the store's part it is read from
KEPT_SORTED = 10_000  # sorted rows kept per view: a hundred blocks of the grid

dash.register_page(__name__, path="/sessions", name="Sessions", title="relaywatch - sessions")


def layout(**query: str) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    dcc.Input(
                        id=ids.SESSIONS_SEARCH,
                        type="search",
                        debounce=True,
                        placeholder="search address, host, HELO, login, customer…",
                        value=query.get(SEARCH) or None,
                        style={"flex": "1", "padding": "6px"},
                    ),
                    html.Span(id=ids.SESSIONS_COUNT, className="note"),
                    html.A(
                        "Download CSV",
                        id=ids.SESSIONS_BUTTON,
                        className="button",
                        href=sessions_link(None, None),
                        download="sessions.csv",
                    ),
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


def session_filter(filters: Filters, text: str | None) -> pc.Expression | None:
    """The filter bar's classes and customers and the search, as one Arrow filter."""
    return queries.both(filters.session_filter(), queries.session_search(text))


def day_counts(data: DashboardData, filters: Filters, text: str | None) -> pd.DataFrame:
    """Per UTC day of the period, how many sessions the filters and the search keep (``day``,
    ``rows``, ``first``: the position of its first row), kept per search: a block of rows is
    read from the days that hold it, never from the whole period."""

    def build() -> pd.DataFrame:
        where = session_filter(filters, text)
        period = (filters.since, filters.until, filters.servers, where)
        # one read of the period's starts: a read per day would list the store's parts each time
        starts = data.view.read(queries.SESSIONS, [s.START], *period)[s.START].dropna()
        utc = starts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[D]")
        per_day = pd.Series(utc).value_counts().sort_index()
        counts = pd.DataFrame(
            {"day": per_day.index.strftime("%Y-%m-%d"), "rows": per_day.to_numpy(dtype="int64")}
        )
        counts["first"] = counts["rows"].cumsum() - counts["rows"]
        return counts

    return data.cached(("sessions-days", text or ""), filters, build)


def block_in_order(
    data: DashboardData, filters: Filters, text: str | None, start: int, end: int
) -> pd.DataFrame:
    """Rows ``start``..``end`` of the sessions by start then id (the export's order): read
    from the days that hold them."""
    counts = day_counts(data, filters, text)
    last = counts["first"] + counts["rows"]
    wanted = counts[((counts["first"] < end) & (last > start)).to_numpy()]
    pieces = []
    for day, first in zip(wanted["day"], wanted["first"], strict=True):
        frame = data.view.read_day(
            queries.SESSIONS,
            day,
            s.SESSION_EXPORT_COLUMNS,
            filters.since,
            filters.until,
            filters.servers,
            session_filter(filters, text),
        )
        pieces.append(frame.iloc[max(0, start - first) : max(0, end - first)])
    if not pieces:
        return pd.DataFrame(columns=list(s.SESSION_EXPORT_COLUMNS))
    return pd.concat(pieces, ignore_index=True)


def sorted_ids(
    data: DashboardData, filters: Filters, text: str | None, request: dict, end: int
) -> tuple[pd.DataFrame, int]:
    """The ids (and UTC days) of the first ``end`` sessions a grid sort or column filter
    selects, in its order, and how many it selects: read with the columns it names only.
    The first KEPT_SORTED are kept per sort and filter (a million ids would hold 50 MB per
    view); a block past them sorts again."""
    models = json.dumps([request.get("filterModel"), request.get("sortModel")], sort_keys=True)

    def build(limit: int) -> tuple[pd.DataFrame, int]:
        named = {*(request.get("filterModel") or {})}
        named |= {m.get("colId") for m in request.get("sortModel") or []}
        columns = [c for c in s.SESSION_EXPORT_COLUMNS if c in named]
        keys = [s.START, s.SESSION_ID]
        frame = data.view.read(
            queries.SESSIONS,
            list(dict.fromkeys([*keys, *columns])),
            filters.since,
            filters.until,
            filters.servers,
            session_filter(filters, text),
        )
        tz = data.settings.timezone
        kept = view_positions(frame, {"filterModel": request.get("filterModel")}, columns, tz)
        # One sort: the grid's columns, then the table's own order (start, id) for ties
        sorts = [
            (m["colId"], m.get("sort") != "desc")
            for m in request.get("sortModel") or []
            if m.get("colId") in columns
        ]
        by = list(dict.fromkeys([*(c for c, _ in sorts), *keys]))
        ascending = [dict(sorts).get(c, True) for c in by]
        shown = frame[by].iloc[kept].reset_index(drop=True)
        positions = kept[stable_order(shown, ascending, limit)]
        # as numbers, of the rows kept only: dates as text or Python objects are slow
        starts = frame[s.START].iloc[positions]
        utc = starts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        found = pd.DataFrame(
            {
                s.SESSION_ID: frame[s.SESSION_ID].iloc[positions].reset_index(drop=True),
                DAY: utc.astype("datetime64[D]"),
            }
        )
        return found, len(kept)

    if end > KEPT_SORTED:
        return build(end)
    return data.cached(("sessions-sorted", text or "", models), filters, lambda: build(KEPT_SORTED))


def sorted_block(data: DashboardData, filters: Filters, block: pd.DataFrame) -> pd.DataFrame:
    """The sessions ``block`` names (``sorted_ids``' rows), in its order: read from the
    days that hold them."""
    pieces = []
    for day, named in block.groupby(DAY, sort=True, dropna=False)[s.SESSION_ID]:
        where = queries.isin(s.SESSION_ID, list(named.astype(str)))
        period = (s.SESSION_EXPORT_COLUMNS, filters.since, filters.until, filters.servers, where)
        if not pd.isna(day):
            iso = pd.Timestamp(day).strftime("%Y-%m-%d")
            pieces.append(data.view.read_day(queries.SESSIONS, iso, *period))
        else:  # sessions without a start are in no day's part
            pieces.append(data.view.read(queries.SESSIONS, *period))
    if not pieces:
        return pd.DataFrame(columns=list(s.SESSION_EXPORT_COLUMNS))
    frame = pd.concat(pieces, ignore_index=True)
    wanted = list(block[s.SESSION_ID])
    return frame.set_index(s.SESSION_ID, drop=False).loc[wanted].reset_index(drop=True)


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
    request = request or {}
    start, end = block_bounds(request)
    if request.get("filterModel") or request.get("sortModel"):
        order, count = sorted_ids(data, filters, text, request, end)
        rows = sorted_block(data, filters, order.iloc[start:end])
    else:
        rows = block_in_order(data, filters, text, start, end)
        count = int(day_counts(data, filters, text)["rows"].sum())
    shown = records(rows[list(s.SESSION_EXPORT_COLUMNS)], data.settings.timezone)
    return {"rowData": shown, "rowCount": count}, f"{count:,} sessions"


keep_in_url(ids.SESSIONS_SEARCH)
refresh_rows_on(ids.SESSIONS_TABLE, Input(ids.FILTERS, "data"), Input(ids.SESSIONS_SEARCH, "value"))


@callback(
    Output(ids.SESSIONS_BUTTON, "href"),
    Input(ids.FILTERS, "data"),
    Input(ids.SESSIONS_SEARCH, "value"),
)
def download_link(filters_data, text):
    """The CSV of what the table shows: streamed by the server (``dashboard.downloads``)."""
    return sessions_link(filters_data, text)
