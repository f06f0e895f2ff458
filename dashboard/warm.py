"""Warming up: once the first response has gone out, the reads every page's callbacks
begin with start in the background, so they are done when the browser, having loaded the
app, asks for its charts a second or two later.

What is read: the rollups a view of the store keeps whole once read (``KEPT_WHOLE``: a few
rows per day, hundreds of files on a big store) and one Plotly figure (Plotly builds its
validators on the first, a quarter of a second). Nothing else: start-up itself reads
nothing it does not show, and a page's own tables depend on its filters.
"""

from __future__ import annotations

import logging
import threading

import flask

from analyzer.io.views import KEPT_WHOLE
from dashboard.data import DashboardData, current
from dashboard.figures import empty_figure

WARM_KEY = "relaywatch.warm"
logger = logging.getLogger(__name__)


def warm_up(data: DashboardData) -> None:
    """Read the kept rollups of ``data``'s view and build one figure."""
    try:
        for name in KEPT_WHOLE:
            data.view.read(name, [])
        empty_figure("")
    except Exception:  # the pages read for themselves and report what fails
        logger.debug("warming up stopped", exc_info=True)


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
