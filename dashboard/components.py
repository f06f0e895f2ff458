"""Layout builders shared by the pages: cards, tables (ag-grid) with a CSV button, empty
states."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import dash_ag_grid as dag
import pandas as pd
from dash import dcc, html

from analyzer.outputs.exports import export_cells

PAGE_SIZE = 20  # rows a table shows at once
BLOCK_ROWS = 100  # rows a server-paged table asks for at once: five pages
BLOCKS_KEPT = 10  # blocks a server-paged table keeps in the browser


def card(title: str, value: str, detail: str, href: str, accent: str | None = None) -> html.A:
    """A number with a caption that links to the page explaining it (``accent``: the colour
    its category has on the charts, as a left border)."""
    return html.A(
        [
            html.Div(title, className="card-title"),
            html.Div(value, className="card-value"),
            html.Div(detail, className="card-detail"),
        ],
        href=href,
        className="card",
        style={"borderLeft": f"5px solid {accent}"} if accent else None,
    )


def empty_state(message: str) -> html.Div:
    return html.Div(message, className="empty")


def table_section(
    title: str,
    table_id: str,
    button_id: str,
    download_id: str,
    columns: Sequence[str],
    note: str = "",
    **options: Any,
) -> html.Div:
    """A titled table (see ``data_table``, ``options`` go there) with a CSV download button."""
    return html.Div(
        [
            html.Div(
                [
                    html.H3(title),
                    html.Button("Download CSV", id=button_id, className="button"),
                    dcc.Download(id=download_id),
                ],
                className="section-head",
            ),
            html.P(note, className="note") if note else None,
            data_table(table_id, columns, **options),
        ],
        className="section",
    )


def titled_table(title: str, table_id: str, columns: Sequence[str], **options: Any) -> html.Div:
    """A titled table without a download button (a drill-down, a side table)."""
    return html.Div([html.H3(title), data_table(table_id, columns, **options)], className="section")


def table_columns(columns: Sequence[str], server_rows: bool = False) -> list[dict[str, Any]]:
    """ag-grid columns: the export's column name as the field, shown with spaces for
    underscores so a header can wrap (``distinct_asns`` -> ``distinct asns``), each no
    narrower than its header's longest word (and a server-paged table's filter button).

    Columns of a known shape keep a minimum width (``WRAPPED_COLUMNS``, ``SHAPED_COLUMNS``).
    Free text (``WRAPPED_COLUMNS``) wraps inside a taller row, except in a server-paged
    table (its rows all have one height) where it is cut short. Either way a cell's
    tooltip holds its whole text."""
    defs = []
    for column in columns:
        header = column.replace("_", " ")
        longest = max(len(word) for word in header.split(" "))
        width = max(
            MIN_WIDTH,
            WRAPPED_COLUMNS.get(column, 0),
            SHAPED_COLUMNS.get(column, 0),
            round(longest * HEADER_CHAR_PX) + HEADER_PADDING_PX + (FILTER_BUTTON_PX * server_rows),
        )
        definition = {"field": column, "headerName": header, "tooltipField": column}
        definition["minWidth"] = width
        if not server_rows and column in WRAPPED_COLUMNS:
            definition.update(wrapText=True, autoHeight=True, cellStyle=WRAPPED_CELL)
        defs.append(definition)
    return defs


def row_style(column: str, colours: Mapping[str, str]) -> dict[str, Any]:
    """ag-grid ``getRowStyle``: a row's background by its text in ``column`` (a status, a
    risk level). The conditions are data for ag-grid's safe evaluator, never code."""
    return {
        "styleConditions": [
            {
                "condition": f"params.data && params.data[{json.dumps(column)}] == "
                f"{json.dumps(value)}",
                "style": {"backgroundColor": colour},
            }
            for value, colour in colours.items()
        ]
    }


def data_table(
    table_id: str,
    columns: Sequence[str],
    server_rows: bool = False,
    row_colours: tuple[str, Mapping[str, str]] | None = None,
    row_id: str | None = None,
) -> dag.AgGrid:
    """The pages' table: ``columns`` as headers that wrap, ``PAGE_SIZE`` rows a page, every
    column sortable, never wider than its card (columns share its width, no narrower than
    their minimum; what still does not fit scrolls inside the card).

    ``server_rows``: paged, sorted and filtered (a text filter per column) on the server
    (ag-grid's infinite row model: a callback answers ``getRowsRequest``, see
    ``dashboard.paging``) for tables whose size outsiders decide; otherwise the callback
    sends every row (``rowData``), for tables bounded by our own customers, servers and
    accounts. ``row_colours``: (column, text -> background) tints whole rows. ``row_id``:
    the column naming a row (a click selects the row, see ``selectedRows``).

    Cells are text: no cell renderer, no HTML (attackers write HELO names)."""
    options: dict[str, Any] = {
        "pagination": True,
        "paginationPageSize": PAGE_SIZE,
        "paginationPageSizeSelector": False,
        "domLayout": "autoHeight",  # as tall as its page: no scroll bar inside a scroll bar
        "enableBrowserTooltips": True,  # a cut-short cell's whole text, as plain text
        "enableCellTextSelection": True,  # copy an address out of a cell
        # a page is 20 rows: every column in the page, so the browser's find sees them all
        "suppressColumnVirtualisation": True,
        "theme": {"function": THEME},
    }
    if server_rows:
        options.update(cacheBlockSize=BLOCK_ROWS, maxBlocksInCache=BLOCKS_KEPT)
    if row_id:
        options["rowSelection"] = {
            "mode": "singleRow",
            "checkboxes": False,
            "enableClickSelection": True,
        }
    default_column: dict[str, Any] = {
        "sortable": True,
        "resizable": True,
        "wrapHeaderText": True,
        "autoHeaderHeight": True,
    }
    if server_rows:
        default_column["filter"] = "agTextColumnFilter"  # the cells' text, on the server
    else:
        # the cells are the exports' text: "9" sorts before "10" (assets/grids.js)
        default_column["comparator"] = {"function": "compareCells"}
    return dag.AgGrid(
        id=table_id,
        columnDefs=table_columns(columns, server_rows),
        defaultColDef=default_column,
        columnSize="responsiveSizeToFit",
        rowModelType="infinite" if server_rows else "clientSide",
        rowData=None if server_rows else [],
        getRowId=f"params.data[{json.dumps(row_id)}]" if row_id else None,
        getRowStyle=row_style(*row_colours) if row_colours else None,
        dashGridOptions=options,
        className="table-grid",
        style={"width": "100%"},
    )


# ag-grid's default theme, as dense as the rest of the page (evaluated by ag-grid's safe
# evaluator, like the row styles)
THEME = (
    "themeQuartz.withParams({fontSize: 13, headerFontSize: 12, spacing: 5, "
    "headerBackgroundColor: '#eceff1', headerFontWeight: 600, "
    "fontFamily: 'system-ui, -apple-system, Segoe UI, sans-serif'})"
)
# Free text that would stretch a table past its card: wrapped, broken inside a word (an
# e-mail address, a ;-list) only where a line has no other place to break; each no narrower
# than its minimum width (pixels), or a table that scrolls anyway grows needlessly tall.
WRAPPED_COLUMNS = {
    "name": 150,
    "contact_email": 170,
    "sasl_username": 210,
    "flags": 215,  # two flags side by side: new_networks;blocklist_bounces
    "evidence": 300,
    "listed_on": 150,
    "as_name": 240,
    "helo": 180,
    "client_host": 180,
}
WRAPPED_CELL = {"wordBreak": "break-word", "lineHeight": "1.4"}
MIN_WIDTH = 80
HEADER_CHAR_PX = 8  # a character of a 12px semibold header, with room to spare
HEADER_PADDING_PX = 22
FILTER_BUTTON_PX = 22  # a server-paged table's header also holds its filter button
TIME_WIDTH = 205  # 2003-11-21T09:15:02-05:00 in one line
# Text of a fixed form, never wrapped: as wide as its usual value (an IPv6 address or a
# session id may still be cut short, its tooltip whole).
SHAPED_COLUMNS = {
    **dict.fromkeys(
        ("start", "end", "first_seen", "last_seen", "last_refused", "last_unauthenticated"),
        TIME_WIDTH,
    ),
    **dict.fromkeys(("ip", "client_ip", "last_refused_client_ip", "outbound_ip"), 130),
    "network": 140,
    **dict.fromkeys(("domain", "last_refused_domain"), 130),
    "session_id": 200,
    "service": 110,
    "class": 120,
    "reason": 110,
    "status": 80,
    "peak_day": 100,
}


def records(frame: pd.DataFrame, timezone: str) -> list[dict[str, Any]]:
    """Table rows as the exports write them (ISO times, empty cells), so screen and CSV agree.

    Cells are passed as data, never as markup: ag-grid renders them as text."""
    return export_cells(frame, list(frame.columns), timezone).fillna("").to_dict("records")
