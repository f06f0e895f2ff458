"""Server-side rows for ag-grid's infinite row model, and the grids' column definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.components import BLOCK_ROWS, data_table, row_style, table_columns
from dashboard.paging import block_bounds, stable_order, view_positions

COLUMNS = ["ip", "sessions", "last_seen", "as_name"]


def offenders() -> pd.DataFrame:
    """Five sources in the export's order (most sessions first), one without an AS name."""
    return pd.DataFrame(
        {
            "ip": ["100.64.0.9", "100.64.0.10", "2001:db8::1", "100.64.0.2", "198.51.100.7"],
            "sessions": pd.array([120, 90, 9, 9, 10], dtype="int64"),
            "last_seen": pd.to_datetime(
                [
                    "2003-11-21T10:00Z",
                    "2003-11-20T10:00Z",
                    "2003-11-22T10:00Z",
                    "2003-11-19T10:00Z",
                    "2003-11-23T10:00Z",
                ],
                utc=True,
            ),
            "as_name": pd.array(
                ["CHEAPVPS - Cheap VPS", None, "=HYPERLINK(x)", "CHEAPVPS", "Other Net"],
                dtype="string",
            ),
        }
    )


def shown(frame: pd.DataFrame, request: dict) -> list[str]:
    return frame["ip"].iloc[view_positions(frame, request, COLUMNS, "UTC")].tolist()


def text_filter(kind: str, wanted: str = "") -> dict:
    return {"filterType": "text", "type": kind, "filter": wanted}


def test_without_sort_or_filter_the_table_keeps_its_own_order():
    assert shown(offenders(), {}) == offenders()["ip"].tolist()


def test_numbers_sort_as_numbers_and_times_as_times():
    frame = offenders()
    by_sessions = {"sortModel": [{"colId": "sessions", "sort": "asc"}]}
    # 9 before 10 before 90 (as text "10" < "9"); ties keep the table's order
    assert shown(frame, by_sessions) == [
        "2001:db8::1",
        "100.64.0.2",
        "198.51.100.7",
        "100.64.0.10",
        "100.64.0.9",
    ]
    latest = {"sortModel": [{"colId": "last_seen", "sort": "desc"}]}
    assert shown(frame, latest)[0] == "198.51.100.7"


def test_missing_values_sort_last_both_ways():
    frame = offenders()
    for direction in ("asc", "desc"):
        request = {"sortModel": [{"colId": "as_name", "sort": direction}]}
        assert shown(frame, request)[-1] == "100.64.0.10"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (text_filter("contains", "cheap"), ["100.64.0.9", "100.64.0.2"]),  # any case
        (text_filter("equals", "cheapvps"), ["100.64.0.2"]),
        (text_filter("startsWith", "'=hyper"), ["2001:db8::1"]),  # the cell as shown
        (text_filter("blank"), ["100.64.0.10"]),
        (text_filter("notBlank"), ["100.64.0.9", "2001:db8::1", "100.64.0.2", "198.51.100.7"]),
        (
            {
                "filterType": "text",
                "operator": "OR",
                "conditions": [text_filter("endsWith", "net"), text_filter("equals", "cheapvps")],
            },
            ["100.64.0.2", "198.51.100.7"],
        ),
        (
            {
                "filterType": "text",
                "operator": "AND",
                "conditions": [text_filter("contains", "cheap"), text_filter("notContains", "-")],
            },
            ["100.64.0.2"],
        ),
    ],
)
def test_text_filters_match_what_the_cells_show(model, expected):
    assert shown(offenders(), {"filterModel": {"as_name": model}}) == expected


def test_times_are_filtered_as_the_cells_show_them():
    request = {"filterModel": {"last_seen": text_filter("startsWith", "2003-11-21T05:00")}}
    frame = offenders()
    positions = view_positions(frame, request, COLUMNS, "America/New_York")
    assert frame["ip"].iloc[positions].tolist() == ["100.64.0.9"]


def test_filter_then_sort_within_a_starting_order():
    frame = offenders()
    base = np.array([4, 3, 2, 1, 0])  # e.g. a search's hits, newest first
    request = {
        "filterModel": {"ip": text_filter("startsWith", "100.")},
        "sortModel": [{"colId": "sessions", "sort": "desc"}],
    }
    positions = view_positions(frame, request, COLUMNS, "UTC", base)
    assert frame["ip"].iloc[positions].tolist() == ["100.64.0.9", "100.64.0.10", "100.64.0.2"]


def test_an_unknown_filter_condition_is_refused():
    with pytest.raises(ValueError, match="unknown filter"):
        view_positions(offenders(), {"filterModel": {"ip": {"type": "regex"}}}, COLUMNS, "UTC")


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"startRow": 0, "endRow": 100}, (0, 100)),
        ({"startRow": 200, "endRow": 300}, (200, 300)),
        ({"startRow": 0, "endRow": 10**9}, (0, BLOCK_ROWS)),  # never more than a block
        ({"startRow": -5, "endRow": 3}, (0, 3)),
        ({}, (0, BLOCK_ROWS)),
    ],
)
def test_block_bounds(request_, expected):
    assert block_bounds(request_) == expected


def test_columns_show_wrappable_headers_and_keep_their_width():
    columns = {c["field"]: c for c in table_columns(["distinct_asns", "evidence", "last_seen"])}
    assert columns["distinct_asns"]["headerName"] == "distinct asns"
    assert columns["evidence"]["wrapText"] and columns["evidence"]["minWidth"] == 300
    assert "wrapText" not in columns["last_seen"] and columns["last_seen"]["minWidth"] >= 185
    # a server-paged table's rows have one height: free text is cut, whole in its tooltip
    server = {c["field"]: c for c in table_columns(["evidence"], server_rows=True)}
    assert "wrapText" not in server["evidence"] and server["evidence"]["tooltipField"] == "evidence"


def test_row_colours_are_conditions_for_the_safe_evaluator_never_markup():
    style = row_style("status", {"broken": "#f8d0d0"})
    assert style == {
        "styleConditions": [
            {
                "condition": 'params.data && params.data["status"] == "broken"',
                "style": {"backgroundColor": "#f8d0d0"},
            }
        ]
    }


def test_cells_are_rendered_as_text():
    for server_rows in (False, True):
        grid = data_table("t", ["helo", "client_ip"], server_rows=server_rows)
        for column in grid.columnDefs:
            assert not {"cellRenderer", "cellRendererSelector"} & set(column)
        assert not getattr(grid, "dangerously_allow_code", False)
        assert grid.rowModelType == ("infinite" if server_rows else "clientSide")


@pytest.mark.parametrize("ascending", [[True, True], [False, True], [False, False]])
def test_the_first_rows_of_a_sort_are_the_whole_sorts_first_rows(ascending):
    # Ties, missing values and text: the limited sort (Arrow's select-k) keeps the order.
    keys = pd.DataFrame(
        {
            "ip": pd.array(["10.0.0.2", None, "10.0.0.1", "10.0.0.2", None, "9.9.9.9"] * 3),
            "n": pd.array([3, 1, 2, 3, 1, None] * 3, dtype="Int64"),
        }
    )
    whole = stable_order(keys, ascending)
    assert sorted(whole) == list(range(18))
    for limit in (1, 4, 7, 17):
        assert list(stable_order(keys, ascending, limit)) == list(whole[:limit])
    assert list(stable_order(keys, ascending, 50)) == list(whole)
