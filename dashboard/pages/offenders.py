"""Offenders: top sources of spam probes by IP, /24 (/48) and AS; reasons; a blocklist."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html

from analyzer import schema as s
from analyzer.judgements.offenders import (
    AS_NAME,
    ASN,
    BY,
    IP,
    NETWORK,
    OFFENDER_COLUMNS,
    PROBE_REASONS,
    PROBE_SESSIONS,
)
from analyzer.outputs.exports import frame_to_csv
from analyzer.store import tables
from dashboard import ids
from dashboard.components import table_columns, table_section
from dashboard.data import (
    Filters,
    current,
    daily_rollup,
    offenders_table,
    offenders_view,
    period_days,
    rollup_counts,
)
from dashboard.figures import PROBE_LABELS, REASON_COLORS, stacked_daily, top_bars
from dashboard.links import BY as BY_PARAM
from dashboard.links import keep_in_url
from dashboard.paging import grid_rows, refresh_rows_on

dash.register_page(__name__, path="/offenders", name="Offenders", title="relaywatch - offenders")

BY_LABELS = {IP: "IP address", NETWORK: "Network (/24, /48)", ASN: "Autonomous system"}
MIN_SESSIONS = 1  # as `relaywatch export blocklist` without --min-sessions
FORMATS = {"plain": "one per line", "postfix": "Postfix cidr: map", "nftables": "nftables set"}


def layout(**query: str) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("Group by"),
                            dcc.RadioItems(
                                id=ids.OFFENDERS_BY,
                                value=query.get(BY_PARAM) if query.get(BY_PARAM) in BY else IP,
                                inline=True,
                                options=[{"label": BY_LABELS[b], "value": b} for b in BY],
                            ),
                        ]
                    ),
                    html.Div(
                        [
                            html.Label("Blocklist"),
                            dcc.Dropdown(
                                id=ids.OFFENDERS_BLOCKLIST_FORMAT,
                                value="plain",
                                clearable=False,
                                options=[{"label": v, "value": k} for k, v in FORMATS.items()],
                            ),
                        ]
                    ),
                    html.Button(
                        "Download blocklist", id=ids.OFFENDERS_BLOCKLIST_BUTTON, className="button"
                    ),
                    dcc.Download(id=ids.OFFENDERS_BLOCKLIST_DOWNLOAD),
                ],
                className="section-head section",
            ),
            html.Div(
                [
                    html.Div(
                        dcc.Graph(id=ids.OFFENDERS_CHART, config={"displaylogo": False}),
                        className="section",
                    ),
                    html.Div(
                        dcc.Graph(id=ids.OFFENDERS_REASONS_CHART, config={"displaylogo": False}),
                        className="section",
                    ),
                ],
                className="row",
            ),
            table_section(
                "Offenders (same columns as `relaywatch export offenders`)",
                ids.OFFENDERS_TABLE,
                ids.OFFENDERS_BUTTON,
                ids.OFFENDERS_DOWNLOAD,
                OFFENDER_COLUMNS,  # by IP; the callback sets the columns of each grouping
                "Customers' addresses and our own outbound addresses are never listed. Each "
                "source's accepted mail is shown beside its probes: a mailer (its accepted "
                "mail outweighs its probes: a big sender's typos and dropped connections) is "
                "never on the blocklist; a prober is.",
                server_rows=True,  # one row per attacker's address: a million is cheap
            ),
        ]
    )


@callback(
    Output(ids.OFFENDERS_CHART, "figure"),
    Output(ids.OFFENDERS_REASONS_CHART, "figure"),
    Output(ids.OFFENDERS_TABLE, "columnDefs"),
    Input(ids.FILTERS, "data"),
    Input(ids.OFFENDERS_BY, "value"),
)
def update_offenders(filters_data, by):
    """The charts and the table's columns (its rows: ``offenders_rows``, a page at a time)."""
    data, filters = current(), Filters.from_store(filters_data)
    table = offenders_view(data, filters, by)
    key = IP if by == IP else by
    names = table[AS_NAME] if AS_NAME in table else None
    chart = top_bars(
        table,
        key,
        PROBE_SESSIONS,
        f"Top sources by {BY_LABELS[by].lower()}",
        "Spam-probe sessions",
        names,
    )
    rollup = daily_rollup(data, filters)
    probes = rollup[(rollup[s.CLASS] == s.SPAM_PROBE).fillna(False).to_numpy()]
    daily = rollup_counts(probes, s.REASON, PROBE_REASONS, period_days(data, filters))
    reasons = stacked_daily(
        daily,
        s.REASON,
        {r: REASON_COLORS[r] for r in PROBE_REASONS},
        PROBE_LABELS,
        "Spam probes per day, by reason",
        "Sessions",
        data.settings.enforcement_date,
        data.settings.server_enforcement(),
    )
    return chart, reasons, table_columns(table.columns, server_rows=True)


@callback(
    Output(ids.OFFENDERS_TABLE, "getRowsResponse"),
    Input(ids.OFFENDERS_TABLE, "getRowsRequest"),
    State(ids.FILTERS, "data"),
    State(ids.OFFENDERS_BY, "value"),
    prevent_initial_call=True,
)
def offenders_rows(request, filters_data, by):
    """One block of the offenders table, sorted and filtered on the server."""
    data, filters = current(), Filters.from_store(filters_data)
    table = offenders_view(data, filters, by)
    return grid_rows(data, filters, ("offenders", by), table, request, table.columns)


keep_in_url(ids.OFFENDERS_BY)
refresh_rows_on(ids.OFFENDERS_TABLE, Input(ids.FILTERS, "data"), Input(ids.OFFENDERS_BY, "value"))


@callback(
    Output(ids.OFFENDERS_DOWNLOAD, "data"),
    Input(ids.OFFENDERS_BUTTON, "n_clicks"),
    State(ids.FILTERS, "data"),
    State(ids.OFFENDERS_BY, "value"),
    prevent_initial_call=True,
)
def download_offenders(_clicks, filters_data, by):
    data, filters = current(), Filters.from_store(filters_data)
    table = offenders_view(data, filters, by)
    return {
        "content": frame_to_csv(table, list(table.columns), data.settings.timezone),
        "filename": f"offenders-by-{by}.csv",
    }


@callback(
    Output(ids.OFFENDERS_BLOCKLIST_DOWNLOAD, "data"),
    Input(ids.OFFENDERS_BLOCKLIST_BUTTON, "n_clicks"),
    State(ids.FILTERS, "data"),
    State(ids.OFFENDERS_BLOCKLIST_FORMAT, "value"),
    State(ids.OFFENDERS_BY, "value"),
    prevent_initial_call=True,
)
def download_blocklist(_clicks, filters_data, fmt, by):
    data, filters = current(), Filters.from_store(filters_data)
    text = tables.blocklist_text(
        offenders_table(data, filters),
        tables.delivering_sources(data.view, filters),
        data.customers,
        data.settings,
        MIN_SESSIONS,
        by,
        fmt,
    )
    suffix = {"plain": "txt", "postfix": "cidr", "nftables": "nft"}[fmt]
    return {"content": text, "filename": f"relaywatch-blocklist.{suffix}"}
