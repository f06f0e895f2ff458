"""Layout builders shared by the pages: cards, tables with a CSV button, empty states."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from dash import dash_table, dcc, html

from analyzer.exports import frame_to_csv

PAGE_SIZE = 15


def card(title: str, value: str, detail: str, href: str) -> html.A:
    """A number with a caption that links to the page explaining it."""
    return html.A(
        [
            html.Div(title, className="card-title"),
            html.Div(value, className="card-value"),
            html.Div(detail, className="card-detail"),
        ],
        href=href,
        className="card",
    )


def empty_state(message: str) -> html.Div:
    return html.Div(message, className="empty")


def table_section(
    title: str, table_id: str, button_id: str, download_id: str, columns: list[str], note: str = ""
) -> html.Div:
    """A titled DataTable (client-side paging) with a CSV download button."""
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
            data_table(table_id, columns, sort_action="native", style_table={"overflowX": "auto"}),
        ],
        className="section",
    )


def titled_table(title: str, table_id: str, columns: Sequence[str]) -> html.Div:
    """A titled DataTable without a download button (a drill-down, a side table)."""
    return html.Div([html.H3(title), data_table(table_id, columns)], className="section")


def data_table(table_id: str, columns: Sequence[str], **options: Any) -> dash_table.DataTable:
    """The pages' DataTable: ``columns`` as headers, ``PAGE_SIZE`` rows a page, the shared
    cell and header styles, plus ``options`` (sorting, paging, conditional styles)."""
    return dash_table.DataTable(
        id=table_id,
        columns=[{"name": c, "id": c} for c in columns],
        page_size=PAGE_SIZE,
        style_cell=CELL_STYLE,
        style_header=HEADER_STYLE,
        **options,
    )


CELL_STYLE = {
    "fontFamily": "system-ui, sans-serif",
    "fontSize": "13px",
    "textAlign": "left",
    "padding": "4px 8px",
    "maxWidth": "320px",
    "overflow": "hidden",
    "textOverflow": "ellipsis",
}
HEADER_STYLE = {"fontWeight": "600", "backgroundColor": "#eceff1"}


def records(frame: pd.DataFrame, timezone: str) -> list[dict[str, Any]]:
    """Table rows as the exports write them (ISO times, empty cells), so screen and CSV agree.

    Cells are passed as data, never as markup: Dash renders them as text."""
    text = frame_to_csv(frame, list(frame.columns), timezone)
    return pd.read_csv(pd.io.common.StringIO(text), dtype=str, keep_default_na=False).to_dict(
        "records"
    )
