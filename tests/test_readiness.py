"""Readiness per customer and period (outbound = authenticated + relayed without AUTH), statuses, and the daily series."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analyzer import jobs
from analyzer import schema as s
from analyzer.io.customers import read_customers
from analyzer.readiness import as_of, customer_readiness, daily_readiness
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


def session(customer: str, day: str, klass: str, reason: str, period: str) -> dict:
    return {
        s.CUSTOMER_ID: customer,
        s.START: pd.Timestamp(day, tz="UTC"),
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
