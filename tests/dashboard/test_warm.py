"""The first page starts reading, in the background, the rollups every page begins with;
creating the app reads none of them, and only one warm-up ever runs."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from analyzer import jobs
from analyzer.config import DEMO_CONFIG, load_settings
from analyzer.io.views import KEPT_WHOLE
from dashboard.app import create_app
from dashboard.data import CONFIG_KEY, load_data


def warm_ups() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "warm-up"]


def test_the_first_page_warms_the_kept_rollups_once(tmp_path: Path):
    shutil.copytree(DEMO_CONFIG.parent, tmp_path / "sample", ignore=shutil.ignore_patterns("store"))
    settings = load_settings(tmp_path / "sample" / DEMO_CONFIG.name, environ={})
    jobs.ingest_logs(settings)
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
    client.get("/risk").close()
    assert warm_ups() == []  # the next pages start no other
