"""create_app(settings) -> Dash: the relaywatch dashboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dash
from dash import html

from dashboard.data import CONFIG_KEY, DashboardData, load_data

PAGES_FOLDER = Path(__file__).parent / "pages"


def create_app(
    settings, data: DashboardData | None = None, progress: Callable[[Path], None] | None = None
) -> dash.Dash:
    """Build the app; parses the configured logs now unless ``data`` is given."""
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(PAGES_FOLDER),
        title="relaywatch",
        serve_locally=True,  # every asset from this server: the page must work offline
    )
    app.server.config[CONFIG_KEY] = data if data is not None else load_data(settings, progress)
    app.layout = html.Div(
        [
            html.Header(html.H1("relaywatch"), style={"borderBottom": "1px solid #ccc"}),
            dash.page_container,
        ],
        style={
            "fontFamily": "system-ui, sans-serif",
            "maxWidth": "1200px",
            "margin": "0 auto",
            "padding": "0 16px",
        },
    )
    return app
