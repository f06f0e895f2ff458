"""Pages bounded by what a person can read (issue 17.6): with 200,000 distinct IPv6 sources
of spam probes, the Offenders and Relay attempts pages send a block of rows and capped
charts, never the whole table (a million such sources once made 320 MB of JSON)."""

from __future__ import annotations

import dataclasses
import importlib
from collections import OrderedDict
from unittest import mock

import numpy as np
import pandas as pd
import plotly.io.json
import pytest

from analyzer import schema as s
from analyzer.settings.config import DEMO_CONFIG, load_settings
from analyzer.store import tables
from analyzer.store.views import MemoryView
from dashboard import paging
from dashboard.app import create_app, filters_from_controls
from dashboard.data import load_data

SOURCES = 200_000
ALL = filters_from_controls(None, None, [], [], [])
FIRST_BLOCK = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}
MOST_JSON = 100_000  # bytes a callback may answer with (a block of 100 rows is ~45 kB)


def with_attackers(sessions: pd.DataFrame, sources: int) -> pd.DataFrame:
    """``sessions`` plus one spam probe from each of ``sources`` new IPv6 addresses (4,096
    /48s), copied from the demo's probes of outsiders (relay probes, AUTH guessing...)."""
    probes = sessions[
        (sessions[s.CLASS] == s.SPAM_PROBE).to_numpy() & ~sessions["customer_ip"].to_numpy()
    ]
    flood = probes.iloc[np.arange(sources) % len(probes)].reset_index(drop=True)
    addresses = [f"2001:db8:{i % 4096:x}:{i >> 16:x}::{i & 0xFFFF:x}" for i in range(sources)]
    flood[s.CLIENT_IP] = pd.array(addresses, dtype=sessions[s.CLIENT_IP].dtype)
    flood[s.SESSION_ID] = [f"flood-{i}" for i in range(sources)]
    return pd.concat([sessions, flood], ignore_index=True)


class _counting:
    """Count the calls of ``module.name`` while in a ``with`` (the function still runs)."""

    def __init__(self, module, name: str):
        self.calls, self._patch = 0, None
        self._module, self._name = module, name

    def __enter__(self):
        real = getattr(self._module, self._name)

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        self._patch = mock.patch.object(self._module, self._name, counted)
        self._patch.start()
        return self

    def __exit__(self, *_exc):
        self._patch.stop()


@pytest.fixture(scope="module")
def flooded():
    settings = load_settings(DEMO_CONFIG, environ={})
    demo = load_data(settings, dns=False)
    every = demo.view.read("sessions")
    analysis = dataclasses.replace(demo.view.analysis, sessions=with_attackers(every, SOURCES))
    # the flood's addresses are in no AS database: the demo's lookups stand
    view = MemoryView(analysis, settings, demo.customers)
    data = dataclasses.replace(demo, view=view, _cache=OrderedDict())
    app = create_app(settings, data)
    with app.server.test_request_context():
        yield data


def page(name: str):
    return importlib.import_module(f"pages.{name}")


def json_size(value: object) -> int:
    """Bytes of ``value`` as Dash sends it (Plotly's JSON encoder)."""
    return len(plotly.io.json.to_json_plotly(value).encode())


def test_the_offenders_page_sends_a_block_and_a_capped_chart(flooded):
    # What is worked out again is counted, not timed: a clock fails on a loaded CI host.
    flooded._cache.clear()
    built, sorted_ = _counting(tables, "offenders"), _counting(paging, "view_positions")
    with built, sorted_:
        outputs = page("offenders").update_offenders(ALL, "ip")  # builds the table once
        chart, _reasons, _columns = outputs
        assert json_size(list(outputs)) < MOST_JSON
        assert len(chart.data[0].y) == 16 and chart.data[0].y[0].endswith(" others")

        rows = page("offenders").offenders_rows(FIRST_BLOCK, ALL, "ip")
        assert len(rows["rowData"]) == 100 and rows["rowCount"] > SOURCES
        assert json_size(rows) < MOST_JSON
        assert (built.calls, sorted_.calls) == (1, 1)  # a slice of the cached table

        newest = {**FIRST_BLOCK, "sortModel": [{"colId": "last_seen", "sort": "desc"}]}
        first = page("offenders").offenders_rows(newest, ALL, "ip")
        assert json_size(first) < MOST_JSON
        next_page = page("offenders").offenders_rows(
            {**newest, "startRow": 100, "endRow": 200}, ALL, "ip"
        )
        assert (built.calls, sorted_.calls) == (1, 2)  # the sorted order is kept
        seen = [row["last_seen"] for row in first["rowData"] + next_page["rowData"]]
        assert seen == sorted(seen, reverse=True)

    for by in ("network", "asn"):
        assert json_size(list(page("offenders").update_offenders(ALL, by))) < MOST_JSON
        assert json_size(page("offenders").offenders_rows(FIRST_BLOCK, ALL, by)) < MOST_JSON


def test_the_relays_page_sends_a_block_of_senders(flooded):
    senders = page("relays").sender_rows(FIRST_BLOCK, ALL)
    assert senders["rowCount"] > SOURCES // 10  # the flood's relay probes, one row each
    assert json_size(senders) < MOST_JSON
    assert json_size(page("relays").update_relays(ALL)) < MOST_JSON
    assert json_size(page("relays").target_rows(FIRST_BLOCK, ALL)) < MOST_JSON


def test_the_sessions_page_sends_a_block_of_sessions(flooded):
    response, count = page("sessions").session_rows(FIRST_BLOCK, ALL, "2001:db8:a")
    assert len(response["rowData"]) == 100 and count.endswith(" sessions")
    assert json_size(response) < MOST_JSON
