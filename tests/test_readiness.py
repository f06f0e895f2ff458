"""Readiness per customer and period (outbound = authenticated + relayed without AUTH), statuses, and the daily series."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analyzer import jobs
from analyzer import schema as s
from analyzer.judgements.customers import read_customers
from analyzer.judgements.readiness import (
    CALL_LIST_COLUMNS,
    as_of,
    call_list,
    customer_readiness,
    daily_readiness,
    last_refused_relays,
    outbound_sessions,
    recent_rows,
    recent_sessions,
)
from analyzer.judgements.rollups import daily_sessions
from tests.conftest import SAMPLES

CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["a", "b", "c"],
        "name": ["A", "B", "C"],
        "domains": ["a.example"] * 3,
        "networks": [""] * 3,
        "contact_email": ["x@a.example"] * 3,
    }
)


def session(
    customer: str,
    day: str,
    klass: str,
    reason: str,
    period: str,
    client_ip: str = "198.18.0.1",
    server: str = "mail1",
) -> dict:
    start = pd.Timestamp(day, tz="UTC")
    return {
        s.CUSTOMER_ID: customer,
        s.START: start,
        s.END: start + pd.Timedelta(seconds=5),
        s.SERVER: server,
        s.CLIENT_IP: client_ip,
        s.CLASS: klass,
        s.REASON: reason,
        s.PERIOD: period,
    }


SESSIONS = pd.DataFrame(
    [
        session("a", "2003-11-19", s.AUTHENTICATED, s.R_SUBMISSION, s.BEFORE),
        session("a", "2003-11-19", s.UNAUTHENTICATED, s.R_RELAY, s.BEFORE),
        session("a", "2003-11-20", s.UNAUTHENTICATED, s.R_INBOUND, s.BEFORE),  # not outbound
        session("a", "2003-11-22", s.UNAUTHENTICATED, s.R_RELAY_DENIED, s.AFTER),
        session("b", "2003-11-19", s.UNAUTHENTICATED, s.R_RELAY, s.BEFORE),
        session("b", "2003-11-22", s.AUTHENTICATED, s.R_SUBMISSION, s.AFTER),
        session("b", "2003-11-22", s.SPAM_PROBE, s.R_AUTH_FAILURE, s.AFTER),  # not outbound
    ]
)


def test_readiness_is_authenticated_over_outbound_per_period():
    table = customer_readiness(SESSIONS, CUSTOMERS).set_index("customer_id")
    assert table.loc[
        "a", ["outbound_before", "authenticated_before", "readiness_before_pct"]
    ].tolist() == [2, 1, 50.0]
    assert table.loc[
        "a", ["outbound_after", "authenticated_after", "readiness_after_pct"]
    ].tolist() == [1, 0, 0.0]
    assert table.loc["b", "readiness_after_pct"] == 100.0
    assert pd.isna(table.loc["c", "readiness_before_pct"])  # nothing sent: no readiness
    assert table.loc["a", "last_unauthenticated"] == pd.Timestamp("2003-11-22", tz="UTC")


def test_status_broken_at_risk_ready_inactive():
    statuses = customer_readiness(SESSIONS, CUSTOMERS).set_index("customer_id")["status"]
    assert statuses.to_dict() == {"a": "broken", "b": "ready", "c": "inactive"}
    # judged on the 20th (before the date): both relayed unauthenticated that week
    early = customer_readiness(SESSIONS, CUSTOMERS, pd.Timestamp("2003-11-20T23:59", tz="UTC"))
    assert early.set_index("customer_id")["status"].to_dict() == {
        "a": "at_risk",
        "b": "at_risk",
        "c": "inactive",
    }


def test_daily_series_counts_local_days():
    daily = daily_readiness(SESSIONS, "UTC")
    assert daily.to_dict("records")[0] == {
        "date": dt.date(2003, 11, 19),
        "customer_id": "a",
        "outbound": 2,
        "authenticated": 1,
        "readiness_pct": 50.0,
    }
    assert len(daily) == 4


@pytest.fixture(scope="module")
def sample(demo_settings):
    analysis = jobs.analyse_logs(
        demo_settings, [str(p) for p in sorted((SAMPLES / "postfix").glob("mail.log*"))]
    )
    return analysis.sessions, read_customers(demo_settings.customers)


def test_samples_readiness_equals_the_generators_truth(sample):
    sessions, customers = sample
    table = customer_readiness(sessions, customers).set_index("customer_id")
    truth = pd.read_csv(SAMPLES / "truth" / "customers.csv").set_index("customer_id")
    for period in ("before", "after"):
        expected = truth[f"authenticated_{period}"] / truth[f"outbound_{period}"] * 100
        got = table[f"readiness_{period}_pct"].reindex(expected.index)
        both = expected.notna()
        assert (got[both] - expected[both]).abs().max() <= 0.1
        assert got[~both].isna().all()


def test_samples_statuses_follow_the_story(sample, demo_settings):
    sessions, customers = sample
    scenario = pd.read_csv(SAMPLES / "truth" / "customers.csv").set_index("customer_id")["scenario"]
    at_end = customer_readiness(sessions, customers).set_index("customer_id")["status"]
    assert set(at_end[scenario == "never_fixer"]) == {"broken"}
    assert set(at_end[scenario == "late_fixer"]) == {"ready"}  # fixed by the end
    assert "at_risk" not in set(at_end)
    assert set(at_end[scenario.str.startswith("inactive")]) == {"inactive"}
    # two days after the date the late fixers are still refused
    during = customer_readiness(
        sessions[sessions[s.START] < as_of(dt.date(2003, 11, 23), "America/New_York")],
        customers,
        as_of(dt.date(2003, 11, 23), demo_settings.timezone),
    )
    during = during.set_index("customer_id")["status"]
    assert set(during[scenario == "late_fixer"]) == {"broken"}
    assert set(during[scenario == "always_auth"]) == {"ready"}


def test_postfix_and_exim_together_honour_per_server_dates(demo_settings):
    # mx4 enforces from 2003-11-24, the others from 2003-11-21
    sessions = jobs.analyse_logs(demo_settings).sessions
    table = customer_readiness(sessions, read_customers(demo_settings.customers))
    truth = pd.read_csv(SAMPLES / "truth" / "customers_all.csv").set_index("customer_id")
    table = table.set_index("customer_id")
    for column in (
        "outbound_before",
        "authenticated_before",
        "outbound_after",
        "authenticated_after",
    ):
        assert (table[column] == truth[column].reindex(table.index)).all(), column


def reject(ts: str, client_ip: str, recipient: str, kind: str = s.RK_RELAY, server="mail1"):
    return {
        s.TS: pd.Timestamp(ts, tz="UTC"),
        s.SERVER: server,
        s.CLIENT_IP: client_ip,
        s.RECIPIENT: recipient,
        s.REJECT_KIND: kind,
    }


REFUSALS = pd.DataFrame(
    [
        session(
            "a", "2003-11-22T09:00", s.UNAUTHENTICATED, s.R_RELAY_DENIED, s.AFTER, "198.18.0.9"
        ),
        # a's last refused relay: from another office, on mx2
        session(
            "a",
            "2003-11-24T10:00",
            s.UNAUTHENTICATED,
            s.R_RELAY_DENIED,
            s.AFTER,
            "198.18.0.7",
            "mx2",
        ),
        session("a", "2003-11-24T11:00", s.AUTHENTICATED, s.R_SUBMISSION, s.AFTER, "198.18.0.7"),
        session(
            "b", "2003-11-23T08:00", s.UNAUTHENTICATED, s.R_RELAY_DENIED, s.AFTER, "198.18.0.5"
        ),
        session("c", "2003-11-23T08:00", s.SPAM_PROBE, s.R_RELAY_PROBE, s.AFTER, "203.0.113.9"),
    ]
)
REJECTS = pd.DataFrame(
    [
        reject("2003-11-22T09:00:01", "198.18.0.9", "x@gmail.com"),
        reject("2003-11-24T10:00:01", "198.18.0.7", "first@yahoo.com", server="mx2"),
        reject("2003-11-24T10:00:03", "198.18.0.7", "<Bob@AOL.COM>", server="mx2"),  # the last
        reject("2003-11-24T10:00:04", "198.18.0.7", "x@msn.com", server="mail1"),  # other server
        reject("2003-11-24T10:00:05", "198.18.0.7", "y@hotmail.com", s.RK_UNKNOWN_USER, "mx2"),
        reject("2003-11-24T10:10:00", "198.18.0.7", "z@verizon.net", server="mx2"),  # after it
    ]
)


def test_last_refused_relay_says_when_from_where_and_to_which_domain():
    table = last_refused_relays(REFUSALS, REJECTS)
    assert table.to_dict("index") == {
        "a": {
            "last_refused": pd.Timestamp("2003-11-24T10:00", tz="UTC"),
            "last_refused_client_ip": "198.18.0.7",
            "last_refused_domain": "aol.com",
        },
        "b": {
            "last_refused": pd.Timestamp("2003-11-23T08:00", tz="UTC"),
            "last_refused_client_ip": "198.18.0.5",
            "last_refused_domain": None,  # no reject line of that session was read
        },
    }


def test_without_reject_lines_the_domain_stays_empty():
    table = customer_readiness(REFUSALS, CUSTOMERS, rejects=None).set_index("customer_id")
    assert table.loc["a", "last_refused_client_ip"] == "198.18.0.7"
    assert table["last_refused_domain"].isna().all()
    assert pd.isna(table.loc["c", "last_refused"])  # a probe from elsewhere is no customer's


def test_call_list_is_broken_first_then_at_risk_then_by_outbound_volume():
    table = pd.DataFrame(
        {
            "customer_id": ["r1", "k1", "k2", "b1", "b2", "i1"],
            "name": ["R", "K1", "K2", "B1", "B2", "I"],
            "contact_email": ["r@x", "k1@x", "k2@x", "b1@x", "b2@x", "i@x"],
            "outbound_before": [50, 40, 5, 1, 3, 0],
            "outbound_after": [50, 0, 0, 1, 1, 0],
            "status": ["ready", "at_risk", "at_risk", "broken", "broken", "inactive"],
            "last_unauthenticated": [pd.NaT] * 6,
            "last_refused": [pd.NaT] * 6,
            "last_refused_client_ip": [None] * 6,
            "last_refused_domain": [None] * 6,
        }
    )
    calls = call_list(table)
    assert calls[["status", "customer_id", "outbound"]].values.tolist() == [
        ["broken", "b2", 4],
        ["broken", "b1", 2],
        ["at_risk", "k1", 40],  # more mail than either broken one, still called after them
        ["at_risk", "k2", 5],
    ]
    assert set(CALL_LIST_COLUMNS) <= set(calls.columns)


def test_recent_activity_from_the_rollup_names_what_the_sessions_name(sample, demo_settings):
    # The rollup's rows of a local day stand for its sessions in the window exactly when
    # their first or last start lies in it: checked at every hour of the sample's days.
    sessions, _ = sample
    outbound = outbound_sessions(sessions)
    rows = daily_sessions(outbound, demo_settings.timezone)
    keys = [s.CUSTOMER_ID, s.PERIOD, s.REASON]

    def named(frame: pd.DataFrame) -> set[tuple]:
        return set(frame[keys].dropna().itertuples(index=False, name=None))

    first, last = outbound[s.START].min().floor("h"), outbound[s.START].max().ceil("h")
    checked = 0
    for now in pd.date_range(first, last + pd.Timedelta(days=8), freq="7h"):
        assert named(recent_rows(rows, now)) == named(recent_sessions(outbound, now)), now
        checked += bool(len(recent_sessions(outbound, now)))
    assert checked > 20
