"""Frames -> Plotly figures. Pure: no Dash, no data loading. One colour per category,
the same on every chart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from analyzer import schema as s
from dashboard.data import DAY, SESSIONS

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
STATUS_COLORS = {
    "ready": "#2e7d32",
    "at_risk": "#f9a825",
    "broken": "#c62828",
    "inactive": "#9e9e9e",
}
# Probe reasons and the two kinds of refused relay, in a fixed palette.
REASON_COLORS = {
    s.R_AUTH_FAILURE: "#6a1b9a",
    s.R_RELAY_PROBE: "#c62828",
    s.R_RBL: "#37474f",
    s.R_DICTIONARY: "#00838f",
    s.R_CONTENT: "#ad1457",
    s.R_POLICY: "#8d6e63",
    s.R_PROTOCOL: "#ef6c00",
    s.R_SCAN: "#90a4ae",
    s.R_RELAY_DENIED: "#f9a825",
}
REASON_LABELS = {
    s.R_RELAY_DENIED: "Unready customers (relay refused)",
    s.R_RELAY_PROBE: "Spam probes (relay refused)",
}
PROBE_LABELS = {
    s.R_AUTH_FAILURE: "AUTH failures",
    s.R_RELAY_PROBE: "Relay probes",
    s.R_RBL: "DNSBL-listed",
    s.R_DICTIONARY: "Unknown recipients",
    s.R_CONTENT: "Spam content refused",
    s.R_POLICY: "Policy rejects",
    s.R_PROTOCOL: "Protocol abuse",
    s.R_SCAN: "Scans",
}
LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
    "legend": {"orientation": "h", "y": -0.2},
}


def empty_figure(message: str) -> go.Figure:
    """A blank chart that says why it is blank."""
    figure = go.Figure()
    figure.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font_size=14
    )
    figure.update_layout(xaxis_visible=False, yaxis_visible=False, height=300, **LAYOUT)
    return figure


NOON = pd.Timedelta(hours=12)  # daily bars are centred on noon


def _mark_enforcement(
    figure: go.Figure,
    enforcement: dt.date | None,
    server_dates: Mapping[str, dt.date] | None = None,
    shift: pd.Timedelta = NOON,
) -> None:
    """A dashed line at 00:00 of the enforcement day, and a dotted one for each server whose
    own date differs (daily bars are centred on noon: ``shift`` back to midnight)."""
    marks = [("SMTP AUTH required from", enforcement, "dash", 1.0)] if enforcement else []
    by_day: dict[dt.date, list[str]] = {}
    for server, day in sorted((server_dates or {}).items()):
        if day != enforcement:
            by_day.setdefault(day, []).append(server)
    marks += [
        (f"{', '.join(servers)}: SMTP AUTH from", day, "dot", 0.93)
        for day, servers in sorted(by_day.items())
    ]
    for label, day, dash, height in marks:
        marker = pd.Timestamp(day) - shift
        figure.add_vline(x=marker.timestamp() * 1000, line_dash=dash, line_color="#37474f")
        figure.add_annotation(
            x=marker,
            y=height,
            yref="paper",
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            font_size=12,
            text=f"{label} {day}",
        )


def stacked_daily(
    daily: pd.DataFrame,
    column: str,
    colors: dict[str, str],
    labels: dict[str, str],
    title: str,
    yaxis: str,
    enforcement: dt.date | None,
    server_dates: Mapping[str, dt.date] | None = None,
) -> go.Figure:
    """Stacked bars per day of ``daily`` (``day``, ``column``, ``sessions``)."""
    if daily.empty or daily[SESSIONS].sum() == 0:
        return empty_figure("Nothing in the selected period and filters")
    figure = go.Figure()
    for key in colors:
        part = daily[daily[column] == key]
        if part.empty or part[SESSIONS].sum() == 0:  # filtered away: no legend entry
            continue
        label = labels.get(key, key.replace("_", " ").capitalize())
        figure.add_bar(
            x=part[DAY],
            y=part[SESSIONS],
            name=label,
            marker_color=colors[key],
            hovertemplate="%{x|%a %Y-%m-%d}<br>%{y}<extra>" + label + "</extra>",
        )
    _mark_enforcement(figure, enforcement, server_dates)
    # a legend even for one series: a filtered chart must still say what it shows
    figure.update_layout(
        barmode="stack",
        title=title,
        xaxis_title="Day (server local time)",
        yaxis_title=yaxis,
        height=420,
        showlegend=True,
        **LAYOUT,
    )
    return figure


def sessions_per_day(
    daily: pd.DataFrame,
    enforcement: dt.date | None,
    server_dates: Mapping[str, dt.date] | None = None,
) -> go.Figure:
    """Stacked bars of sessions per class per day, the enforcement date marked."""
    figure = stacked_daily(
        daily,
        s.CLASS,
        CLASS_COLORS,
        CLASS_LABELS,
        "SMTP sessions per day, by class",
        "Sessions",
        enforcement,
        server_dates,
    )
    figure.update_layout(legend_title_text="Class")
    return figure


def readiness_by_customer(table: pd.DataFrame) -> go.Figure:
    """Readiness before (grey) and after (coloured by status) per customer, worst first."""
    shown = table[(table["outbound_before"] + table["outbound_after"]) > 0]
    if shown.empty:
        return empty_figure("No customer sent mail in the selected period")
    shown = shown.sort_values(
        ["readiness_after_pct", "readiness_before_pct", "customer_id"], na_position="first"
    )
    figure = go.Figure()
    figure.add_bar(
        x=shown["customer_id"],
        y=shown["readiness_before_pct"],
        name="Before",
        marker_color="#b0bec5",
        customdata=shown[["name"]],
        hovertemplate="%{customdata[0]}<br>before: %{y}%<extra></extra>",
    )
    figure.add_bar(
        x=shown["customer_id"],
        y=shown["readiness_after_pct"],
        name="After",
        marker_color=[STATUS_COLORS[v] for v in shown["status"]],
        customdata=shown[["name", "status"]],
        hovertemplate="%{customdata[0]}<br>after: %{y}% (%{customdata[1]})<extra></extra>",
    )
    figure.update_layout(
        barmode="group",
        title="Readiness per customer: authenticated share "
        "of outbound sessions, before and after the date (bar colour: status)",
        xaxis_title="Customer",
        yaxis_title="Readiness (%)",
        yaxis_range=[0, 105],
        height=420,
        **LAYOUT,
    )
    return figure


def readiness_trend(
    daily: pd.DataFrame,
    enforcement: dt.date | None,
    customer: str | None,
    server_dates: Mapping[str, dt.date] | None = None,
) -> go.Figure:
    """Overall daily readiness (and one customer's, when chosen)."""
    if daily.empty:
        return empty_figure("No outbound sessions in the selected period")
    overall = daily.groupby("date")[["outbound", "authenticated"]].sum()
    figure = go.Figure()
    figure.add_scatter(
        x=overall.index,
        y=(overall["authenticated"] / overall["outbound"] * 100).round(1),
        mode="lines+markers",
        name="All customers",
        line_color="#1565c0",
    )
    if customer:
        one = daily[daily["customer_id"] == customer]
        figure.add_scatter(
            x=one["date"],
            y=one["readiness_pct"],
            mode="lines+markers",
            name=customer,
            line_color="#ef6c00",
        )
    _mark_enforcement(figure, enforcement, server_dates, shift=pd.Timedelta(0))
    figure.update_layout(
        title="Daily readiness",
        xaxis_title="Day",
        yaxis_title="Readiness (%)",
        yaxis_range=[0, 105],
        height=360,
        **LAYOUT,
    )
    return figure


def top_bars(
    table: pd.DataFrame,
    key: str,
    value: str,
    title: str,
    label: str,
    names: pd.Series | None = None,
    limit: int = 15,
) -> go.Figure:
    """Horizontal bars of the ``limit`` largest ``value`` per ``key``."""
    if table.empty:
        return empty_figure("No spam probes in the selected period")
    top = table.nlargest(limit, value).iloc[::-1]
    text = top[key].astype(str)
    if names is not None:
        text = text + "  " + names.reindex(top.index).fillna("").astype(str).str.slice(0, 40)
    figure = go.Figure(go.Bar(x=top[value], y=text, orientation="h", marker_color="#c62828"))
    figure.update_layout(
        title=title, xaxis_title=label, height=max(300, 24 * len(top) + 120), **LAYOUT
    )
    return figure


def delivery_outcomes(
    daily: pd.DataFrame,
    enforcement: dt.date | None,
    server_dates: Mapping[str, dt.date] | None = None,
) -> go.Figure:
    """Deferred and bounced deliveries per day (what remote servers think of us)."""
    colors = {"deferred": "#f9a825", "bounced": "#c62828"}
    return stacked_daily(
        daily,
        "status",
        colors,
        {"deferred": "Deferred", "bounced": "Bounced"},
        "Deliveries refused by remote servers, per day",
        "Deliveries",
        enforcement,
        server_dates,
    )
