"""Views as links: the filter bar and a page's own choices in the query string, so a link
(from the nightly mail, a ticket, a colleague) opens the same view.

    /offenders?since=2003-11-20&until=2003-11-22&servers=mail1&classes=spam_probe&by=network

Lists repeat their key (``servers=mail1&servers=mail2``): a server name may hold a comma.
The browser keeps the address up to date (``assets/links.js``); the server reads it when a
page is opened (``filters_of``) and for downloads.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Mapping
from typing import Any

from dash import ClientsideFunction, Input, Output, State, clientside_callback

from dashboard import ids

DAYS = ("since", "until")
LISTS = ("servers", "classes", "customers")
FILTER_KEYS = DAYS + LISTS
SEARCH = "q"  # the Sessions page's search
BY = "by"  # the Offenders page's grouping


def query_of(filters: Mapping[str, Any] | None, **page: str | None) -> str:
    """``?since=...``: the filters (as the filter store keeps them) and a page's choices."""
    pairs: list[tuple[str, str]] = []
    filters = filters or {}
    for key in DAYS:
        if filters.get(key):
            pairs.append((key, str(filters[key])[:10]))
    for key in LISTS:
        values = filters.get(key) or []
        pairs.extend((key, str(v)) for v in (values if isinstance(values, list) else [values]))
    pairs.extend((key, value) for key, value in page.items() if value)
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


def _parsed(search: str | None) -> dict[str, list[str]]:
    return urllib.parse.parse_qs((search or "").lstrip("?"), keep_blank_values=False)


def filters_of(search: str | None) -> dict[str, Any] | None:
    """The filters a query string names (None: it names none). Dates that are no dates are
    left out, so a hand-edited link opens the whole period rather than an error."""
    found = _parsed(search)
    if not any(key in found for key in FILTER_KEYS):
        return None
    filters: dict[str, Any] = {}
    for key in DAYS:
        value = (found.get(key) or [None])[0]
        try:
            filters[key] = dt.date.fromisoformat(value).isoformat() if value else None
        except ValueError:
            filters[key] = None
    for key in LISTS:
        filters[key] = sorted(set(found.get(key, [])))
    return filters


def param(search: str | None, key: str) -> str | None:
    """One of a page's own choices from the query string (None: not there)."""
    return (_parsed(search).get(key) or [None])[0]


# A page's control -> its key in the query string (assets/links.js keeps the same map).
PAGE_PARAMS = {ids.OFFENDERS_BY: BY, ids.SESSIONS_SEARCH: SEARCH}


def keep_in_url(control_id: str) -> None:
    """Keep a page's own choice (``control_id``'s value) in the address, as its key in
    ``PAGE_PARAMS``."""
    clientside_callback(
        ClientsideFunction(namespace="relaywatch", function_name="paramToUrl"),
        Output(control_id, "id"),  # its own id, left unchanged: nothing on the page changes
        Input(control_id, "value"),
        State(control_id, "id"),
    )


def keep_filters_in_url() -> None:
    """Keep the filter bar in the address, after each change and each page opened."""
    clientside_callback(
        ClientsideFunction(namespace="relaywatch", function_name="filtersToUrl"),
        Output(ids.URL_SYNC, "data"),
        Input(ids.FILTERS, "data"),
        Input(ids.URL, "pathname"),
    )
