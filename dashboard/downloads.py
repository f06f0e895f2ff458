"""Downloads the server streams: the Sessions page's CSV, a day at a time from the store,
so a month of sessions is never built in memory (the link carries the filters and the
search: ``dashboard.links``)."""

from __future__ import annotations

import flask

from analyzer import schema as s
from analyzer.outputs.exports import streamed_csv
from analyzer.store import queries
from dashboard.data import Filters, current
from dashboard.links import SEARCH, filters_of, query_of

SESSIONS_CSV = "/download/sessions.csv"


def sessions_link(filters_data: dict | None, text: str | None) -> str:
    """Where the Sessions page's "Download CSV" points for these filters and search."""
    return SESSIONS_CSV + query_of(filters_data, **{SEARCH: (text or "").strip() or None})


def sessions_csv() -> flask.Response:
    """The ``sessions`` export of the filters and the search in the query string."""
    data = current()
    search = flask.request.query_string.decode("ascii", "replace")
    filters = Filters.from_store(filters_of(search))
    text = flask.request.args.get(SEARCH)
    frames = queries.batches(
        data.view,
        queries.SESSIONS,
        s.SESSION_EXPORT_COLUMNS,
        filters.since,
        filters.until,
        filters.servers,
        queries.both(filters.session_filter(), queries.session_search(text)),
    )
    chunks = streamed_csv(frames, s.SESSION_EXPORT_COLUMNS, data.settings.timezone)
    return flask.Response(
        flask.stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="sessions.csv"'},
    )


def register_downloads(server: flask.Flask) -> None:
    server.add_url_rule(SESSIONS_CSV, "sessions_csv", sessions_csv)
