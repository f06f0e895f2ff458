"""Figures and data helpers as plain functions."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from analyzer import schema as s
from dashboard.data import DAY, SESSIONS, daily_class_counts
from dashboard.figures import CLASS_COLORS, sessions_per_day


def sample_sessions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.START: pd.to_datetime(
                ["2003-11-20T15:00:00Z", "2003-11-20T16:00:00Z", "2003-11-22T04:30:00Z"], utc=True
            ),
            s.CLASS: [s.AUTHENTICATED, s.SPAM_PROBE, s.UNAUTHENTICATED],
        }
    )


def test_daily_counts_use_local_days_and_fill_gaps():
    daily = daily_class_counts(sample_sessions(), "America/New_York")
    # 04:30 UTC on the 22nd is still the 21st in New York; the 21st exists with zeros too
    assert sorted(daily[DAY].dt.strftime("%Y-%m-%d").unique()) == ["2003-11-20", "2003-11-21"]
    counts = daily.set_index([DAY, s.CLASS])[SESSIONS]
    assert counts[(pd.Timestamp("2003-11-20"), s.AUTHENTICATED)] == 1
    assert counts[(pd.Timestamp("2003-11-21"), s.UNAUTHENTICATED)] == 1
    assert counts[(pd.Timestamp("2003-11-21"), s.SPAM_PROBE)] == 0
    assert len(daily) == 6


def test_chart_has_one_coloured_trace_per_class_and_marks_the_date():
    figure = sessions_per_day(daily_class_counts(sample_sessions(), "UTC"), dt.date(2003, 11, 21))
    assert [trace.marker.color for trace in figure.data] == [CLASS_COLORS[c] for c in s.CLASSES]
    assert figure.layout.barmode == "stack"
    assert any("2003-11-21" in a.text for a in figure.layout.annotations)
    assert len(figure.layout.shapes) == 1


def test_a_servers_own_enforcement_date_is_marked_beside_the_global_one():
    figure = sessions_per_day(
        daily_class_counts(sample_sessions(), "UTC"),
        dt.date(2003, 11, 21),
        {"mx4": dt.date(2003, 11, 24), "mail1": dt.date(2003, 11, 21)},
    )
    lines = [(shape.line.dash, shape.x0) for shape in figure.layout.shapes]
    noon = pd.Timedelta(hours=12)
    assert lines == [
        ("dash", (pd.Timestamp("2003-11-21") - noon).timestamp() * 1000),
        ("dot", (pd.Timestamp("2003-11-24") - noon).timestamp() * 1000),
    ]
    texts = [a.text for a in figure.layout.annotations]
    assert texts == [
        "SMTP AUTH required from 2003-11-21",
        "mx4: SMTP AUTH from 2003-11-24",
    ]
