"""Frames -> Plotly figures. Pure: no Dash, no data loading."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.graph_objects as go

from analyzer import schema as s
from dashboard.data import DAY, SESSIONS

# One colour per class, the same on every chart.
CLASS_COLORS = {
    s.AUTHENTICATED: "#2e7d32",
    s.UNAUTHENTICATED: "#f9a825",
    s.SPAM_PROBE: "#c62828",
}
CLASS_LABELS = {
    s.AUTHENTICATED: "Authenticated",
    s.UNAUTHENTICATED: "Unauthenticated",
    s.SPAM_PROBE: "Spam probe",
}


def sessions_per_day(daily: pd.DataFrame, enforcement: dt.date) -> go.Figure:
    """Stacked bars of sessions per class per day, the enforcement date marked."""
    figure = go.Figure()
    for klass in s.CLASSES:
        part = daily[daily[s.CLASS] == klass]
        figure.add_bar(
            x=part[DAY],
            y=part[SESSIONS],
            name=CLASS_LABELS[klass],
            marker_color=CLASS_COLORS[klass],
            hovertemplate="%{x|%a %Y-%m-%d}<br>%{y} sessions<extra>"
            + CLASS_LABELS[klass]
            + "</extra>",
        )
    # Bars are centred on noon; the line sits at 00:00 of the enforcement day.
    marker = pd.Timestamp(enforcement) - pd.Timedelta(hours=12)
    figure.add_vline(x=marker.timestamp() * 1000, line_dash="dash", line_color="#37474f")
    figure.add_annotation(
        x=marker,
        y=1,
        yref="paper",
        text=f"SMTP AUTH required from {enforcement}",
        showarrow=False,
        xanchor="left",
        yanchor="bottom",
        font_size=12,
    )
    figure.update_layout(
        barmode="stack",
        title="SMTP sessions per day, by class",
        xaxis_title="Day (server local time)",
        yaxis_title="Sessions",
        legend_title_text="Class",
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 70, "b": 50},
        height=460,
    )
    return figure
