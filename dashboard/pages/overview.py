"""Overview: sessions per class per day around the enforcement date."""

from __future__ import annotations

import dash
from dash import dcc, html

from analyzer import schema as s
from dashboard import ids
from dashboard.data import current, daily_class_counts
from dashboard.figures import CLASS_LABELS, sessions_per_day

dash.register_page(__name__, path="/", name="Overview", title="relaywatch - overview")


def layout(**_query: str) -> html.Div:
    data = current()
    sessions = data.sessions
    if sessions.empty:
        return html.Div(
            html.P(
                "No SMTP sessions in the configured logs. Check `logs` in the config and "
                "run `relaywatch patterns check` to see what was read."
            ),
            id=ids.OVERVIEW_EMPTY,
        )
    daily = daily_class_counts(sessions, data.settings.timezone)
    totals = sessions[s.CLASS].value_counts()
    summary = html.Ul(
        [
            html.Li(f"{CLASS_LABELS[klass]}: {int(totals.get(klass, 0)):,} sessions")
            for klass in s.CLASSES
        ],
        id=ids.OVERVIEW_SUMMARY,
    )
    figure = sessions_per_day(daily, data.settings.enforcement_date)
    return html.Div(
        [
            summary,
            dcc.Graph(id=ids.OVERVIEW_CLASS_CHART, figure=figure, config={"displaylogo": False}),
        ]
    )
