"""Frames -> Plotly figures. Pure: no Dash, no data loading. One colour per category,
the same on every chart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from analyzer import schema as s
from analyzer.judgements.readiness import AT_RISK, BROKEN, INACTIVE, READY
from analyzer.outputs import traffic
from dashboard.data import DAY, SESSIONS

STATUS_COLORS = {
    READY: "#2e7d32",
    AT_RISK: "#f9a825",
    BROKEN: "#c62828",
    INACTIVE: "#9e9e9e",
}
STATUS_LABELS = {
    BROKEN: "broken (refused since the date)",
    AT_RISK: "at risk (still relays without AUTH)",
    READY: "ready",
    INACTIVE: "inactive (no mail in the last 7 days)",
}
OTHERS_COLOR = "#90a4ae"  # the rest of a capped chart together: grey, never one more source
BEFORE_COLOR = "#cfd8dc"  # light, with a darker outline: "before" never reads as a status
BEFORE_LINE = "#78909c"
# Probe reasons and the two kinds of refused relay, in a fixed palette (a refused customer
# relay has the colour it has on the Overview, see analyzer.outputs.traffic).
REASON_COLORS = {
    s.R_AUTH_FAILURE: "#6a1b9a",
    s.R_RELAY_PROBE: "#c62828",
    s.R_RBL: "#37474f",
    s.R_DICTIONARY: "#00838f",
    s.R_CONTENT: "#ad1457",
    s.R_POLICY: "#8d6e63",
    s.R_PROTOCOL: "#827717",
    s.R_SCAN: "#90a4ae",
    s.R_RELAY_DENIED: traffic.COLORS[s.R_RELAY_DENIED],
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
# From the top: the title, the legend, the enforcement labels, then the plot. A legend above
# the plot never sits on the x-axis title. Its rows are counted for the narrowest slot a
# chart gets (half the page: about two entries a row), so it never reaches the plot either.
TITLE_PX = 44
LEGEND_ROW_PX = 20
MARKS_PX = 24  # the enforcement date's label just above the plot


def layout(height: int, entries: int = 0, marks: bool = False, **more: object) -> dict:
    """The shared layout of a chart ``height`` pixels high with ``entries`` legend entries
    and (``marks``) enforcement labels above the plot (``more``: title, axes...)."""
    rows = 0 if entries == 0 else (1 if entries <= 2 else -(-entries // 2))
    legend_px = rows * LEGEND_ROW_PX + (12 if rows else 0)  # the legend's own padding
    top = TITLE_PX + legend_px + (MARKS_PX if marks else 0) + 8
    return {
        "template": "plotly_white",
        "height": height + top,
        "margin": {"l": 60, "r": 20, "t": top, "b": 50},
        "title": {"x": 0.01, "xanchor": "left", "y": 1 - 12 / (height + top), "yanchor": "top"},
        "legend": {
            "orientation": "h",
            "yref": "container",
            "y": 1 - TITLE_PX / (height + top),
            "yanchor": "top",
            "x": 0,
            "xanchor": "left",
            "traceorder": "normal",  # read left to right as stacked from the bottom
            "maxheight": legend_px,  # a narrower screen scrolls the legend, not over the plot
        },
        "showlegend": entries > 0,
        **more,
    }


def empty_figure(message: str) -> go.Figure:
    """A blank chart that says why it is blank."""
    figure = go.Figure()
    figure.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font_size=14
    )
    figure.update_layout(xaxis_visible=False, yaxis_visible=False, **layout(250))
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
        title_text=title,
        xaxis_title="Day (server local time)",
        yaxis_title=yaxis,
        **layout(320, len(figure.data), marks=bool(enforcement or server_dates)),
    )
    return figure


def sessions_per_day(
    daily: pd.DataFrame,
    enforcement: dt.date | None,
    server_dates: Mapping[str, dt.date] | None = None,
) -> go.Figure:
    """Stacked bars of sessions per traffic group per day (``analyzer.outputs.traffic``: inbound
    mail apart from customers' relays), the enforcement date marked."""
    figure = stacked_daily(
        daily,
        traffic.TRAFFIC,
        traffic.COLORS,
        traffic.LABELS,
        "SMTP sessions per day: unauthenticated split into inbound mail and customers' relays",
        "Sessions",
        enforcement,
        server_dates,
    )
    figure.update_layout(legend_title_text="Sessions")
    return figure


# A 0 % bar has no height: it is drawn this high (in %) and labelled "0 %", so a customer who
# never authenticates is the most visible one, not an empty slot.
ZERO_STUB = 2.0


def _readiness_bars(
    figure: go.Figure, rows: pd.DataFrame, column: str, name: str, **style: object
) -> None:
    """One bar per customer of ``rows`` in the ``column`` slot; 0 % drawn as a labelled stub."""
    values = rows[column]
    zero = (values == 0).fillna(False).to_numpy()
    label = "before" if "before" in column else "after"
    figure.add_bar(
        x=rows["customer_id"],
        y=values.where(~zero, ZERO_STUB),
        name=name,
        offsetgroup=label,
        text=["0 %" if z else "" for z in zero],
        textposition="outside",
        textangle=-90,
        textfont_size=11,
        constraintext="none",  # a bar is narrower than the label: keep the label readable
        cliponaxis=False,
        customdata=list(zip(rows["name"], values.map(_percent), rows["status"], strict=True)),
        hovertemplate="%{x} %{customdata[0]}<br>"
        + label
        + ": %{customdata[1]} (%{customdata[2]})<extra></extra>",
        **style,
    )


def _percent(value: object) -> str:
    return "no outbound mail" if pd.isna(value) else f"{value:.1f} %"


READINESS_BARS = 60  # customers drawn one by one, worst first; the rest share one slot


def _together(rows: pd.DataFrame) -> pd.DataFrame:
    """The customers of ``rows`` as one: the readiness of their sessions summed."""

    def readiness(period: str) -> float:
        outbound = rows[f"outbound_{period}"].sum()
        if not outbound:
            return float("nan")
        return round(rows[f"authenticated_{period}"].sum() / outbound * 100, 1)

    return pd.DataFrame(
        {
            "customer_id": [f"{len(rows):,} others"],
            "name": ["together"],
            "readiness_before_pct": [readiness("before")],
            "readiness_after_pct": [readiness("after")],
            "status": ["all statuses"],
        }
    )


def readiness_by_customer(table: pd.DataFrame, limit: int = READINESS_BARS) -> go.Figure:
    """Readiness before (light grey) and after (coloured by status, one legend entry per
    status) per customer, worst first; 0 % is a labelled stub, never an empty slot. Past
    the ``limit`` worst customers, the rest are one grey slot: their sessions together."""
    shown = table[(table["outbound_before"] + table["outbound_after"]) > 0]
    if shown.empty:
        return empty_figure("No customer sent mail in the selected period")
    shown = shown.sort_values(
        ["readiness_after_pct", "readiness_before_pct", "customer_id"], na_position="first"
    )
    shown, rest = shown.iloc[:limit], shown.iloc[limit:]
    figure = go.Figure()
    _readiness_bars(
        figure,
        shown,
        "readiness_before_pct",
        "Before the date",
        marker={"color": BEFORE_COLOR, "line": {"color": BEFORE_LINE, "width": 1}},
    )
    for status in (BROKEN, AT_RISK, READY, INACTIVE):
        rows = shown[(shown["status"] == status).to_numpy()]
        if rows.empty:
            # one empty slot keeps the status in the legend (Plotly drops traces without
            # points): the colours are explained whoever has them today
            rows = shown.head(1).assign(readiness_after_pct=float("nan"))
        _readiness_bars(
            figure,
            rows,
            "readiness_after_pct",
            f"After: {STATUS_LABELS[status]}",
            marker_color=STATUS_COLORS[status],
        )
    if len(rest):
        others = _together(rest)
        _readiness_bars(
            figure,
            others,
            "readiness_before_pct",
            "Before the date",
            showlegend=False,  # the first trace already explains "before"
            marker={"color": BEFORE_COLOR, "line": {"color": BEFORE_LINE, "width": 1}},
        )
        _readiness_bars(
            figure,
            others,
            "readiness_after_pct",
            f"The other {len(rest):,} customers together",
            marker_color=OTHERS_COLOR,
        )
    figure.update_layout(
        barmode="group",
        title_text="Readiness per customer: authenticated share of outbound sessions",
        xaxis={"title": "Customer", "type": "category", "categoryorder": "trace"},
        yaxis_title="Readiness (%)",
        yaxis_range=[0, 112],  # room above 100 % for the labels
        **layout(340, sum(trace.showlegend is not False for trace in figure.data)),
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
        title_text="Daily readiness",
        xaxis_title="Day",
        yaxis_title="Readiness (%)",
        yaxis_range=[0, 105],
        **layout(280, len(figure.data), marks=bool(enforcement or server_dates)),
    )
    return figure


AS_NAME_CHARS = 24  # an AS name beside an address on a bar chart's axis


def short_name(name: object, limit: int = AS_NAME_CHARS) -> str:
    """An AS name short enough for an axis label: its handle (``OFFSHORE-HOSTING`` of
    ``OFFSHORE-HOSTING - Offshore Hosting Ltd., NL``) or its first ``limit`` characters and
    an ellipsis; the full name goes into the hover text."""
    text = "" if name is None or pd.isna(name) else str(name).strip()
    handle = text.split(" - ", 1)[0].strip()
    if handle and len(handle) <= limit:
        return handle
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


TOP_BAR_COLOR = "#c62828"


def top_bars(
    table: pd.DataFrame,
    key: str,
    value: str,
    title: str,
    label: str,
    names: pd.Series | None = None,
    limit: int = 15,
) -> go.Figure:
    """Horizontal bars of the ``limit`` largest ``value`` per ``key`` and, below them, one
    grey bar of all the others together: as many bars for a million sources as for twenty
    (``names``: AS names, shortened on the axis, whole in the hover text)."""
    if table.empty:
        return empty_figure("No spam probes in the selected period")
    top = table.nlargest(limit, value).iloc[::-1]
    text = top[key].astype(str)
    full = text
    if names is not None:
        whole = names.reindex(top.index).fillna("").astype(str)
        text = text + "  " + whole.map(short_name)
        full = full + "<br>" + whole
    values, labels, hovers = top[value].tolist(), text.tolist(), full.tolist()
    colors = [TOP_BAR_COLOR] * len(top)
    others = len(table) - len(top)
    if others:
        rest = table[value].sum() - top[value].sum()
        values.insert(0, rest)
        labels.insert(0, f"{others:,} others")
        hovers.insert(0, f"{others:,} other sources together")
        colors.insert(0, OTHERS_COLOR)
    figure = go.Figure(
        go.Bar(
            x=values,
            y=labels,
            orientation="h",
            marker_color=colors,
            customdata=hovers,
            hovertemplate="%{customdata}<br>%{x}<extra></extra>",
        )
    )
    figure.update_layout(
        title_text=title,
        xaxis_title=label,
        yaxis_automargin=True,
        yaxis_type="category",  # an address or an AS number is a name, not a position
        **layout(max(240, 24 * len(values) + 90)),
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
