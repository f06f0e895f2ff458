"""create_app(settings) -> Dash: the relaywatch dashboard (one module per page in pages/)."""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
from dash import Input, Output, ctx, dcc, html

from analyzer import schema as s
from analyzer.errors import ConfigError
from analyzer.settings.config import Settings
from analyzer.settings.notices import settings_notes
from dashboard import ids
from dashboard.auth import guard
from dashboard.data import (
    CONFIG_KEY,
    RELOAD_LOCK_KEY,
    DashboardData,
    current,
    data_days,
    data_servers,
    load_data,
)
from dashboard.downloads import register_downloads
from dashboard.links import filters_of, keep_filters_in_url
from dashboard.memory import give_back_memory
from dashboard.warm import warm_after_first_response

PAGES_FOLDER = Path(__file__).parent / "pages"
NAV = (
    ("Overview", "/"),
    ("Relay attempts", "/relays"),
    ("Customers", "/customers"),
    ("Offenders", "/offenders"),
    ("Sessions", "/sessions"),
    ("Risk", "/risk"),
    ("Alerts", "/alerts"),
)


def create_app(
    settings: Settings,
    data: DashboardData | None = None,
    progress: Callable[[Path], None] | None = None,
    dns: bool = True,
) -> dash.Dash:
    """Build the app; analyses the configured logs now unless ``data`` is given (``dns``:
    query the DNSBLs for the Risk page)."""
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(PAGES_FOLDER),
        title="relaywatch",
        serve_locally=True,  # every asset from this server: the page must work offline
        assets_folder=str(Path(__file__).parent / "assets"),
    )
    guard(app.server, settings.dashboard.users, settings.dashboard.behind_proxy)
    loaded = data if data is not None else load_data(settings, progress, dns)
    app.server.config[CONFIG_KEY] = loaded
    app.server.config[RELOAD_LOCK_KEY] = threading.Lock()
    warm_after_first_response(app.server)

    def layout() -> html.Div:
        # built per page load: the filter bar offers the days and servers the data has now
        # (after an ingest, see dashboard.data.current)
        with app.server.app_context():
            data = current()
        return html.Div(
            [
                dcc.Store(id=ids.FILTERS, storage_type="session"),
                dcc.Location(id=ids.URL, refresh=False),
                dcc.Store(id=ids.URL_SYNC),
                html.Header(
                    [
                        html.H1("relaywatch"),
                        html.Nav([dcc.Link(name, href=href) for name, href in NAV]),
                    ],
                    className="topbar",
                ),
                settings_banner(data),
                filter_bar(data),
                dash.page_container,
            ],
            className="shell",
        )

    app.layout = layout
    register_filter_callbacks(app)
    register_downloads(app.server)
    give_back_memory(app.server)
    return app


def settings_banner(data: DashboardData) -> html.Div:
    """Which settings were not configured (the demo, an inferred time zone or local domains,
    no customers): said on every page, so no one mistakes a default for a fact."""
    notes = settings_notes(data.settings, not data.customers.empty, data.inferred_domains)
    return html.Div(
        [html.P(note) for note in notes],
        id=ids.SETTINGS_NOTES,
        className="settings-notes",
        hidden=not notes,
    )


def check_bindable(host: str, port: int) -> None:
    """Raise ConfigError unless ``host``:``port`` can be listened on now (a busy port must be
    found before the analysis, not after it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot serve on {host}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug does
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is in use (another `relaywatch serve`?): choose "
                    "another with --port"
                ) from None
            raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


def choice(label: str, dropdown_id: str, options: list) -> html.Div:
    """A labelled multi-select of the filter bar; nothing chosen means all."""
    return html.Div(
        [
            html.Label(label),
            dcc.Dropdown(
                id=dropdown_id, multi=True, placeholder=f"all {label.lower()}", options=options
            ),
        ]
    )


def filter_bar(data: DashboardData) -> html.Div:
    """Date range, servers, classes and customers: shared by every page."""
    first, last = data_days(data)
    customers = data.customers
    return html.Div(
        [
            html.Div(
                [
                    html.Label("Days"),
                    dcc.DatePickerRange(
                        id=ids.FILTER_DATES,
                        min_date_allowed=first,
                        max_date_allowed=last,
                        start_date=first,
                        end_date=last,
                        display_format="YYYY-MM-DD",
                        initial_visible_month=first,
                    ),
                ]
            ),
            choice("Servers", ids.FILTER_SERVERS, data_servers(data)),
            choice(
                "Classes",
                ids.FILTER_CLASSES,
                [{"label": c.replace("_", " "), "value": c} for c in s.CLASSES],
            ),
            choice(
                "Customers",
                ids.FILTER_CUSTOMERS,
                [
                    {"label": f"{cid} {name}", "value": cid}
                    for cid, name in zip(customers["customer_id"], customers["name"], strict=True)
                ],
            ),
            html.Button("Reset", id=ids.FILTER_RESET, className="button"),
        ],
        className="filters",
    )


def filters_from_controls(
    start: str | None,
    end: str | None,
    servers: list[str] | None,
    classes: list[str] | None,
    customers: list[str] | None,
) -> dict[str, Any]:
    """The shared filters as stored (JSON) for the pages to read."""
    return {
        "since": start,
        "until": end,
        "servers": servers or [],
        "classes": classes or [],
        "customers": customers or [],
    }


def register_filter_callbacks(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.FILTERS, "data"),
        Input(ids.FILTER_DATES, "start_date"),
        Input(ids.FILTER_DATES, "end_date"),
        Input(ids.FILTER_SERVERS, "value"),
        Input(ids.FILTER_CLASSES, "value"),
        Input(ids.FILTER_CUSTOMERS, "value"),
    )
    def store_filters(start, end, servers, classes, customers):
        return filters_from_controls(start, end, servers, classes, customers)

    @app.callback(
        Output(ids.FILTER_DATES, "start_date"),
        Output(ids.FILTER_DATES, "end_date"),
        Output(ids.FILTER_SERVERS, "value"),
        Output(ids.FILTER_CLASSES, "value"),
        Output(ids.FILTER_CUSTOMERS, "value"),
        Input(ids.FILTER_RESET, "n_clicks"),
        Input(ids.URL, "search"),
    )
    def set_filters(_clicks, search):
        """Reset: the whole data; a link opened with filters: those (``dashboard.links``);
        anything else (a page opened from the menu) leaves the filter bar as it is."""
        wanted = filters_of(search)
        if ctx.triggered_id != ids.FILTER_RESET and wanted is None:
            return (dash.no_update,) * 5
        first, last = data_days(current())
        if ctx.triggered_id == ids.FILTER_RESET:
            return first, last, [], [], []
        return (
            wanted["since"] or first,
            wanted["until"] or last,
            wanted["servers"],
            wanted["classes"],
            wanted["customers"],
        )

    keep_filters_in_url()
