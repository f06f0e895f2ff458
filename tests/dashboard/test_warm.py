"""The first page starts building, in the background, the landing page's view of the whole
period and reading the rollups every page begins with; creating the app reads none of them,
and only one warm-up ever runs."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd

from analyzer.store import tables
from analyzer.store.views import KEPT_WHOLE
from dashboard.app import create_app, filters_from_controls
from dashboard.data import CONFIG_KEY, Filters, data_days, load_data
from tests.conftest import ingested_sample


def warm_ups() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "warm-up"]


def test_the_first_page_warms_the_landing_view_and_kept_rollups_once(tmp_path: Path):
    settings = ingested_sample(tmp_path / "sample")
    app = create_app(settings, load_data(settings, dns=False))
    view = app.server.config[CONFIG_KEY].view
    assert view._whole == {}  # start-up reads none of them
    client = app.server.test_client()
    first = client.get("/")
    assert first.status_code == 200 and warm_ups() == []  # not before it has been sent
    first.close()  # as a server does once it is sent
    started = warm_ups()
    assert len(started) == 1
    started[0].join(timeout=60)
    assert set(view._whole) == set(KEPT_WHOLE)
    assert all(table is not None and table.num_rows for table in view._whole.values())
    # the Overview's views of the period the filter bar opens with are built, and right
    data = app.server.config[CONFIG_KEY]
    first, last = data_days(data)
    opened = Filters.from_store(filters_from_controls(str(first), str(last), [], [], []))
    assert opened == Filters(first, last)
    readiness = data.kept("readiness", opened)
    assert readiness is not None and data.kept("daily-rollup", opened) is not None
    fresh = tables.readiness(view, opened, data.customers, settings.timezone)
    pd.testing.assert_frame_equal(readiness, fresh)
    assert set(readiness["status"]) >= {"broken", "ready"}
    client.get("/risk").close()
    assert warm_ups() == []  # the next pages start no other
