"""Tables read from a view: the customers' last refused relays, read in one pass over the
UTC days of their last local days, are the sessions a read of everything finds."""

from __future__ import annotations

import dataclasses
import datetime as dt
from unittest import mock

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from analyzer import jobs
from analyzer import schema as s
from analyzer.judgements.customers import read_customers
from analyzer.judgements.readiness import last_refused_sessions
from analyzer.store import tables, views
from analyzer.store.queries import SESSIONS, Scope, utc_days_between
from analyzer.store.views import MemoryView, StoreView
from tests.conftest import ingested_sample


def test_utc_days_between_names_every_utc_day_a_span_touches():
    new_york = pd.Series(pd.to_datetime(["2003-11-21 00:00", "2003-11-25 12:00"])).dt.tz_localize(
        "America/New_York"
    )
    ends = new_york + pd.Timedelta(hours=23, minutes=59)
    # Friday's local day is 05:00 UTC Friday to 04:59 Saturday; the second span ends on
    # the 26th local, the 26th UTC too
    assert utc_days_between(new_york, ends) == [
        "2003-11-21", "2003-11-22", "2003-11-25", "2003-11-26",
    ]  # fmt: skip
    assert utc_days_between(new_york.iloc[:0], ends.iloc[:0]) == []


@pytest.fixture(scope="module")
def view(tmp_path_factory) -> StoreView:
    settings = ingested_sample(tmp_path_factory.mktemp("tables") / "sample")
    return StoreView.open(settings.store, settings, read_customers(settings.customers))


def every_last_refusal(view: StoreView, scope: Scope) -> pd.DataFrame:
    """Each customer's relay_denied sessions on the local day of its last one, from a read
    of every session of the scope."""
    everything = tables.sessions_of(view, scope, tables.READINESS_COLUMNS)
    denied = everything[
        (everything[s.REASON] == s.R_RELAY_DENIED).to_numpy()
        & everything[s.CUSTOMER_ID].notna().to_numpy()
    ]
    local = denied[s.START].dt.tz_convert(view.settings.timezone).dt.date
    last = local.groupby(denied[s.CUSTOMER_ID]).transform("max")
    return denied[(local == last).to_numpy()]


def in_order(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(s.SESSION_ID, ignore_index=True)[list(tables.READINESS_COLUMNS)]


@pytest.mark.parametrize(
    "scope",
    [
        Scope(),
        Scope(until=dt.date(2003, 11, 24)),
        Scope(since=dt.date(2003, 11, 22), until=dt.date(2003, 11, 30)),
        Scope(servers=("mail1",)),
        Scope(classes=(s.UNAUTHENTICATED,)),
    ],
    ids=["all", "until-24th", "22nd-30th", "mail1", "unauthenticated"],
)
def test_last_refusals_are_one_read_of_the_days_that_hold_them(view: StoreView, scope: Scope):
    counted = tables.outbound_rollup(view, scope)
    with mock.patch.object(view, "read_days", wraps=view.read_days) as reads:
        found = tables.last_refusals(view, scope, counted, view.settings.timezone)
    expected = every_last_refusal(view, scope)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(in_order(found), in_order(expected), check_dtype=False)
    assert reads.call_count == 1
    asked = set(reads.call_args.args[1])
    # the last days only: fewer UTC days than the period spans
    assert asked < set(view.days(SESSIONS, scope.since, scope.until, scope.servers))
    # and the readiness built on them names the same last refused relays
    last = last_refused_sessions(found).set_index(s.CUSTOMER_ID)[s.START].sort_index()
    latest = expected.groupby(s.CUSTOMER_ID)[s.START].max()
    pd.testing.assert_series_equal(last, latest, check_names=False, check_index_type=False)


@pytest.mark.parametrize("kind", ["store", "memory"])
def test_a_day_in_pieces_is_the_day_in_order(view: StoreView, kind: str, monkeypatch):
    # what exports stream: a busy day never whole in pandas, the same rows in the same order
    monkeypatch.setattr("analyzer.store.views.PIECE_ROWS", 100)
    logs = dataclasses.replace(view.settings, store=None)  # parsed now, in memory
    chosen = view if kind == "store" else jobs.open_data(logs, customers=view.customers)
    assert isinstance(chosen, StoreView if kind == "store" else MemoryView)
    days = chosen.days(SESSIONS)
    assert len(days) > 5
    for name in (SESSIONS, "rejects"):
        for day in days[:: max(1, len(days) // 6)]:
            whole = chosen.read_day(name, day, None)
            pieces = list(chosen.day_pieces(name, day, None))
            assert all(0 < len(piece) <= 100 for piece in pieces)
            assert sum(map(len, pieces)) == len(whole) > 0
            joined = pd.concat(pieces, ignore_index=True)
            pd.testing.assert_frame_equal(joined, whole)  # types too: text read as dictionaries
            assert len(pieces) == -(-len(whole) // 100)


@pytest.mark.parametrize("kind", ["store", "memory"])
def test_an_arrow_read_has_the_rows_of_the_read(view: StoreView, kind: str):
    # what judging accounts matches and counts in Arrow: the same rows as ``read``
    logs = dataclasses.replace(view.settings, store=None)
    chosen = view if kind == "store" else jobs.open_data(logs, customers=view.customers)
    columns = [s.SESSION_ID, s.RECIPIENT]
    named = pc.field("blocklist_provider").is_valid()
    until = dt.date(2003, 11, 30)
    table = chosen.read_table("blamed", columns, None, until, (), named)
    frame = chosen.read("blamed", columns, None, until, (), named)
    assert table.column_names == columns and table.num_rows == len(frame) > 50
    pd.testing.assert_frame_equal(
        table.to_pandas().sort_values(columns, ignore_index=True),
        frame.sort_values(columns, ignore_index=True),
        check_dtype=False,
    )
    nothing = chosen.read_table("blamed", columns, None, dt.date(2003, 1, 1), (), named)
    assert nothing.num_rows == 0 and nothing.column_names == columns


def test_a_compact_read_keeps_text_as_dictionaries_and_gives_it_back_plain(tmp_path):
    # a busy day of a big store held for ``export sessions``: its repeated text (server,
    # class, customer, ...) as Parquet keeps it, session ids plain; each piece as read
    frame = pd.DataFrame(
        {
            s.SESSION_ID: ["a", "b", "c"],
            s.SERVER: ["mail1", "mail1", "mx3"],
            s.CLASS: ["authenticated", None, "authenticated"],
            s.MESSAGES: [1, 2, 3],
        }
    )
    path = tmp_path / "part.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    compact = views._scan([path], None, None, compact=True)
    types = {f.name: f.type for f in compact.schema}
    assert pa.types.is_dictionary(types[s.SERVER]) and pa.types.is_dictionary(types[s.CLASS])
    assert not pa.types.is_dictionary(types[s.SESSION_ID])
    plain = views._scan([path], None, None)
    assert views._plain(compact).to_pandas().equals(plain.to_pandas())
    # joined with a plain table (the sessions still open): one table, the same rows
    joined = pa.concat_tables(views._alike([compact, plain]), promote_options="permissive")
    back = views._plain(joined).to_pandas()
    pd.testing.assert_frame_equal(back, pd.concat([frame, frame], ignore_index=True))


def test_a_compact_read_with_a_text_search_reads_plainly_what_was_asked(tmp_path):
    # a search (the Sessions page's download) filters text in ways dictionaries do not take:
    # then the day is read as before, its columns only, not every column of every file
    frame = pd.DataFrame({s.SESSION_ID: ["a", "b"], s.SERVER: ["mail1", "mx3"], s.MESSAGES: [1, 2]})
    path = tmp_path / "part.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    search = pc.match_substring(pc.field(s.SERVER), "mail")
    whole_files = AssertionError("read every column of every file")
    with mock.patch.object(views.pq, "read_table", side_effect=whole_files):
        found = views._scan([path], [s.SESSION_ID, s.SERVER], search, compact=True)
    assert found.column_names == [s.SESSION_ID, s.SERVER]
    assert found.to_pydict() == {s.SESSION_ID: ["a"], s.SERVER: ["mail1"]}
