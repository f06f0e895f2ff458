"""Warming up: once the first response has gone out, what the first page load needs is
built in the background, so it is ready when the browser, having loaded the app, asks for
its charts a second or two later.

What is built: the landing page's view of the whole period (the page at ``/``, through its
``first_view``: the filters a browser opens it with), which also builds its Plotly figure
(Plotly makes its validators on the first, a quarter of a second); then the rollups a view
of the store keeps whole once read (``KEPT_WHOLE``: a few rows per day, hundreds of files
on a big store). A page asking for a view the warm-up is building waits for it
(``DashboardData.cached``) rather than building it twice. Nothing else: start-up itself
reads nothing it does not show, and other views depend on the filters a user picks.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable

import dash
import flask

from analyzer.store.views import KEPT_WHOLE
from dashboard.data import DashboardData, Filters, current, data_days
from dashboard.figures import empty_figure

WARM_KEY = "relaywatch.warm"
logger = logging.getLogger(__name__)


def warm_up(data: DashboardData) -> None:
    """Build the landing page's view of the whole period, then read the kept rollups of
    ``data``'s view."""
    try:
        first, last = data_days(data)
        landing = landing_view()
        if landing is not None and first is not None:
            landing(data, Filters(first, last))  # the filter bar's own start: the whole period
        else:
            empty_figure("")
        for name in KEPT_WHOLE:
            data.view.read(name, [])
    except Exception:  # the pages read for themselves and report what fails
        logger.debug("warming up stopped", exc_info=True)


def landing_view() -> Callable[[DashboardData, Filters], object] | None:
    """The ``first_view`` of the page at ``/``, if it has one. Found in Dash's page registry:
    Dash imports the pages itself, under its own module names."""
    for page in dash.page_registry.values():
        if page["path"] == "/":
            return getattr(sys.modules.get(page["module"]), "first_view", None)
    return None


def warm_after_first_response(server: flask.Flask) -> None:
    """Start ``warm_up`` in the background once the app's first response has been sent
    (not before: that response is what start-up is timed by), once per app."""
    server.config[WARM_KEY] = threading.Lock()

    @server.after_request
    def _warm_later(response: flask.Response) -> flask.Response:
        if not server.config[WARM_KEY].locked():
            response.call_on_close(lambda: _warm_once(server))
        return response


def _warm_once(server: flask.Flask) -> None:
    if server.config[WARM_KEY].acquire(blocking=False):  # taken for good: one warm-up
        with server.app_context():
            data = current()
        threading.Thread(target=warm_up, args=(data,), name="warm-up", daemon=True).start()
