"""Every page, chart, card, table and download shows what it showed when the dashboard held
every session in memory (``views_snapshot.GOLDEN``, recorded at commit d37b4a1): from the
logs parsed in memory, and from a store read per view."""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
from pathlib import Path

import pytest

from analyzer.settings.config import DEMO_CONFIG, load_settings
from dashboard.app import create_app
from dashboard.data import load_data
from tests.conftest import ingested_sample
from tests.dashboard.views_snapshot import FILTERS, GOLDEN, views


def shown(settings) -> dict:
    app = create_app(settings, load_data(settings, dns=False))
    with app.server.test_request_context():
        return views()


@pytest.fixture(scope="module")
def golden() -> dict:
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as source:
        return json.load(source)


def assert_same_views(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    differ = [name for name in want if got[name] != want[name]]
    assert not differ, f"{len(differ)} views changed, e.g. {differ[:5]}"


def test_the_snapshot_covers_every_page_and_filter_set(golden):
    pages = {name.split("/")[1].split(".")[0] for name in golden}
    assert pages >= {
        "overview", "relays", "customers", "call-list", "offenders", "blocklist", "sessions",
        "risk", "accounts",
    }  # fmt: skip
    assert {name.split("/")[0] for name in golden} == set(FILTERS)
    # not empty views: the sample has probes, customers and refusals in each
    assert golden["all/offenders/ip/rows"]["rowCount"] > 100
    assert golden["all/sessions/first"][0]["rowCount"] > 1000


def test_logs_parsed_in_memory_show_the_same(golden):
    settings = dataclasses.replace(load_settings(DEMO_CONFIG, environ={}), store=None)
    assert_same_views(shown(settings), golden)


def test_a_store_read_per_view_shows_the_same(golden, tmp_path: Path):
    settings = ingested_sample(tmp_path / "sample", chunk_bytes=512 * 1024)  # many parts
    assert (settings.store / "derived").is_dir()
    assert_same_views(shown(settings), golden)
    # a store from before, or a customers file edited since: rebuilt from each part
    shutil.rmtree(settings.store / "derived")
    assert_same_views(shown(settings), golden)
    assert len(list((settings.store / "derived").rglob("*.parquet"))) > 100
