"""Pages bounded by what a person can read (issue 17.6): with 200,000 distinct IPv6 sources
of spam probes, the Offenders and Relay attempts pages send a block of rows and capped
charts, never the whole table (a million such sources once made 320 MB of JSON)."""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections import OrderedDict

import numpy as np
import pandas as pd
import plotly.io.json
import pytest

from analyzer import schema as s
from analyzer.config import DEMO_CONFIG, load_settings
from dashboard.app import create_app, filters_from_controls
from analyzer.io.views import MemoryView
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
    started = time.perf_counter()
    outputs = page("offenders").update_offenders(ALL, "ip")  # builds the table once
    first = time.perf_counter() - started
    chart, _reasons, _columns = outputs
    assert json_size(list(outputs)) < MOST_JSON
    assert len(chart.data[0].y) == 16 and chart.data[0].y[0].endswith(" others")

    started = time.perf_counter()
    rows = page("offenders").offenders_rows(FIRST_BLOCK, ALL, "ip")
    assert time.perf_counter() - started < 1.0  # a slice of the cached table
    assert len(rows["rowData"]) == 100 and rows["rowCount"] > SOURCES
    assert json_size(rows) < MOST_JSON

    newest = {**FIRST_BLOCK, "sortModel": [{"colId": "last_seen", "sort": "desc"}]}
    started = time.perf_counter()
    assert json_size(page("offenders").offenders_rows(newest, ALL, "ip")) < MOST_JSON
    assert time.perf_counter() - started < 5.0
    next_page = {**newest, "startRow": 100, "endRow": 200}
    started = time.perf_counter()
    page("offenders").offenders_rows(next_page, ALL, "ip")
    assert time.perf_counter() - started < 1.0  # the sorted order is kept
    print(f"first render {first:.1f} s")  # the table itself: analyzer.offenders

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
