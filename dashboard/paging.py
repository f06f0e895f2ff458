"""Tables paged on the server: ag-grid's infinite row model asks for a block of rows
(``getRowsRequest``: ``startRow``, ``endRow``, ``sortModel``, ``filterModel``) and gets at
most ``BLOCK_ROWS`` of them back (``getRowsResponse``: ``rowData``, ``rowCount``), however
many rows the table has: a million attackers' addresses never cross the wire at once.

Filtering and sorting run here, over the pandas frame the page already caches: filters
match the text the cells show (the exports' text), sorting uses the column's own type
(numbers as numbers, times as times). Which rows a request selects is cached per frame,
sort and filter, so the next page of the same view is a slice.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from dash import ClientsideFunction, Input, Output, State, clientside_callback

from analyzer.outputs.exports import export_cells
from dashboard.components import BLOCK_ROWS, records
from dashboard.data import DashboardData, Filters

# ag-grid's text filter: condition type -> test of (cell text, wanted text), both lowercase
TEXT_TESTS = {
    "contains": lambda cells, wanted: cells.str.contains(wanted, regex=False),
    "notContains": lambda cells, wanted: ~cells.str.contains(wanted, regex=False),
    "equals": lambda cells, wanted: cells == wanted,
    "notEqual": lambda cells, wanted: cells != wanted,
    "startsWith": lambda cells, wanted: cells.str.startswith(wanted),
    "endsWith": lambda cells, wanted: cells.str.endswith(wanted),
    "blank": lambda cells, _wanted: cells == "",
    "notBlank": lambda cells, _wanted: cells != "",
}


def block_bounds(request: dict[str, Any]) -> tuple[int, int]:
    """The rows ``request`` asks for, never more than ``BLOCK_ROWS`` (whatever it says)."""
    start = max(0, int(request.get("startRow") or 0))
    end = int(request.get("endRow") or start + BLOCK_ROWS)
    return start, max(start, min(end, start + BLOCK_ROWS))


def text_condition(cells: pd.Series, model: dict[str, Any]) -> np.ndarray:
    """Where the lowercase cell texts ``cells`` pass one text filter ``model`` (with its
    ``conditions`` joined by ``operator``, AND or OR, when the user gave two)."""
    if model.get("conditions"):
        passes = [text_condition(cells, part) for part in model["conditions"]]
        join = np.logical_or if model.get("operator") == "OR" else np.logical_and
        return join.reduce(passes)
    test = TEXT_TESTS.get(str(model.get("type")))
    if test is None:
        raise ValueError(f"unknown filter condition {model.get('type')!r}")
    return test(cells, str(model.get("filter") or "").lower()).to_numpy(dtype=bool)


def view_positions(
    frame: pd.DataFrame,
    request: dict[str, Any],
    columns: Sequence[str],
    timezone: str,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """Positions in ``frame`` of the rows the request's filters keep, in its sort order.

    ``base``: the positions (and order) to start from, the whole frame in its order when
    None. Models naming a column outside ``columns`` are ignored: the browser says which
    column, never which code runs."""
    positions = np.arange(len(frame)) if base is None else np.asarray(base)
    for column, model in (request.get("filterModel") or {}).items():
        if column not in columns or not positions.size:
            continue
        shown = export_cells(frame.iloc[positions], [column], timezone)[column]
        positions = positions[text_condition(shown.fillna("").str.lower(), model)]
    sorts = [
        (m["colId"], m.get("sort") != "desc")
        for m in request.get("sortModel") or []
        if m.get("colId") in columns
    ]
    if sorts and positions.size:
        keys = frame.iloc[positions][[c for c, _ in sorts]].reset_index(drop=True)
        positions = positions[stable_order(keys, [a for _, a in sorts])]
    return positions


def stable_order(
    keys: pd.DataFrame, ascending: Sequence[bool], limit: int | None = None
) -> np.ndarray:
    """Positions of ``keys``' rows sorted by its columns (missing values last, ties in
    their own order); with ``limit``, of the first ``limit`` only. Arrow sorts text in
    place; pandas would first factorize a million session ids or addresses, several times
    slower. Categories keep their own order."""
    if any(isinstance(keys[c].dtype, pd.CategoricalDtype) for c in keys):
        return keys.sort_values(
            list(keys), ascending=list(ascending), kind="stable", na_position="last"
        ).index.to_numpy()[:limit]
    table = {f"k{i}": pa.Array.from_pandas(sortable(keys[c])) for i, c in enumerate(keys)}
    table["row"] = pa.array(np.arange(len(keys)))
    order = [(f"k{i}", "ascending" if a else "descending") for i, a in enumerate(ascending)]
    order.append(("row", "ascending"))  # no two rows tie: the order is the stable sort's
    # Arrow puts missing values last by default, in either order
    if limit is not None and limit < len(keys):
        # the first rows of 1.8 M addresses: a sixth of the whole sort's time
        return pc.select_k_unstable(pa.table(table), limit, sort_keys=order).to_numpy()
    return pc.sort_indices(pa.table(table), sort_keys=order).to_numpy()


def sortable(values: pd.Series) -> pd.Series:
    """Mixed Python objects sort as their text; every other column as its own type."""
    return values.astype("string") if values.dtype == object else values


def grid_rows(
    data: DashboardData,
    filters: Filters,
    view: Hashable,
    frame: pd.DataFrame,
    request: dict[str, Any] | None,
    columns: Sequence[str],
    base: np.ndarray | None = None,
) -> dict[str, Any]:
    """``getRowsResponse`` for ``request``: the block's rows of ``columns`` as the exports
    write them, and how many rows the filtered view has.

    ``view`` names ``frame`` (and ``base``) among the views of ``filters``: the rows a sort
    and filter select are cached under it, so it must change whenever they do."""
    request = request or {}
    models = json.dumps([request.get("filterModel"), request.get("sortModel")], sort_keys=True)
    positions = data.cached(
        ("rows", view, models),
        filters,
        lambda: view_positions(frame, request, columns, data.settings.timezone, base),
    )
    start, end = block_bounds(request)
    shown = frame.iloc[positions[start:end]][list(columns)]
    return {"rowData": records(shown, data.settings.timezone), "rowCount": len(positions)}


def refresh_rows_on(grid_id: str, *inputs: Input) -> None:
    """Ask the server again for ``grid_id``'s rows, from page one, when ``inputs`` change
    (the filter bar, a search): the infinite row model only asks by itself when its own
    sort or filter changes. The work is in assets/grids.js; its output is the grid's own
    (left unchanged), so it runs only where the grid is on the page."""
    clientside_callback(
        ClientsideFunction(namespace="relaywatch", function_name="refreshRows"),
        Output(grid_id, "paginationGoTo"),
        *inputs,
        State(grid_id, "id"),
        prevent_initial_call=True,  # a new grid asks for its first block by itself
    )
