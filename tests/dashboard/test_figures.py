"""Figures and data helpers as plain functions."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from analyzer import schema as s
from analyzer.outputs import traffic
from dashboard.data import DAY, SESSIONS, daily_class_counts, daily_traffic_counts
from dashboard.figures import (
    BEFORE_COLOR,
    OTHERS_COLOR,
    STATUS_COLORS,
    readiness_by_customer,
    sessions_per_day,
    short_name,
    stacked_daily,
    top_bars,
)


def sample_sessions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.START: pd.to_datetime(
                ["2003-11-20T15:00:00Z", "2003-11-20T16:00:00Z", "2003-11-22T04:30:00Z"], utc=True
            ),
            s.CLASS: [s.AUTHENTICATED, s.SPAM_PROBE, s.UNAUTHENTICATED],
            s.REASON: [s.R_SUBMISSION, s.R_SCAN, s.R_RELAY],
        }
    )


def unauthenticated_sessions() -> pd.DataFrame:
    """One day: 2 inbound, 3 relays, 1 refused relay, 1 during an AUTH outage, 1 login."""
    reasons = [s.R_INBOUND] * 2 + [s.R_RELAY] * 3 + [s.R_RELAY_DENIED, s.R_AUTH_UNAVAILABLE]
    return pd.DataFrame(
        {
            s.START: pd.Timestamp("2003-11-21T15:00:00Z") + pd.to_timedelta(range(8), unit="min"),
            s.CLASS: [s.UNAUTHENTICATED] * 7 + [s.AUTHENTICATED],
            s.REASON: [*reasons, s.R_SUBMISSION],
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


def test_chart_has_one_coloured_trace_per_group_and_marks_the_date():
    figure = sessions_per_day(daily_traffic_counts(sample_sessions(), "UTC"), dt.date(2003, 11, 21))
    shown = [s.AUTHENTICATED, s.R_RELAY, s.SPAM_PROBE]  # groups without sessions: no trace
    assert [trace.marker.color for trace in figure.data] == [traffic.COLORS[g] for g in shown]
    assert figure.layout.barmode == "stack"
    assert any("2003-11-21" in a.text for a in figure.layout.annotations)
    assert len(figure.layout.shapes) == 1


def test_a_servers_own_enforcement_date_is_marked_beside_the_global_one():
    figure = sessions_per_day(
        daily_traffic_counts(sample_sessions(), "UTC"),
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


def test_overview_shows_inbound_mail_apart_from_customers_relays():
    figure = sessions_per_day(daily_traffic_counts(unauthenticated_sessions(), "UTC"), None)
    bars = {trace.name: (trace.marker.color, sum(trace.y)) for trace in figure.data}
    assert bars == {
        "Authenticated": ("#2e7d32", 1),
        "Inbound mail (no AUTH needed)": ("#7f9cbf", 2),  # neutral: harmless
        "Customer relay without AUTH": ("#f9a825", 3),  # amber: will break
        "Customer relay refused": ("#ef6c00", 1),  # orange: broke
        "AUTH unavailable (ours)": ("#6d4c41", 1),
    }
    assert figure.layout.legend.traceorder == "normal"


def test_legends_sit_above_the_plot_never_on_the_axis_title():
    for figure in (
        sessions_per_day(daily_traffic_counts(unauthenticated_sessions(), "UTC"), None),
        readiness_by_customer(readiness_rows()),
    ):
        layout = figure.layout
        plot_top = 1 - layout.margin.t / layout.height  # in container fractions
        assert layout.legend.orientation == "h" and layout.legend.yref == "container"
        assert layout.legend.yanchor == "top" and layout.legend.y > plot_top
        # the legend's rows end before the plot starts
        legend_bottom_px = (1 - layout.legend.y) * layout.height + layout.legend.maxheight
        assert legend_bottom_px <= layout.margin.t


def test_eight_reasons_get_room_for_four_legend_rows_on_a_half_width_chart():
    reasons = [s.R_AUTH_FAILURE, s.R_RELAY_PROBE, s.R_RBL, s.R_DICTIONARY]
    reasons += [s.R_CONTENT, s.R_POLICY, s.R_PROTOCOL, s.R_SCAN]
    day = pd.Timestamp("2003-11-21")
    daily = pd.DataFrame({DAY: [day] * 8, s.REASON: reasons, SESSIONS: [1] * 8})
    colors = dict.fromkeys(reasons, "#000000")
    figure = stacked_daily(daily, s.REASON, colors, {}, "t", "Sessions", dt.date(2003, 11, 21))
    assert figure.layout.legend.maxheight >= 4 * 20
    assert figure.layout.margin.t >= 44 + 4 * 20 + 24  # title, 4 rows, the date's label


def readiness_rows() -> pd.DataFrame:
    """Four customers: never authenticated (0 %), broken; half; ready; inactive."""
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "name": ["Zero Ltd", "Half Ltd", "Ready Ltd", "Quiet Ltd"],
            "outbound_before": [10, 4, 5, 2],
            "readiness_before_pct": [0.0, 50.0, 100.0, 50.0],
            "outbound_after": [6, 2, 5, 0],
            "readiness_after_pct": [0.0, 50.0, 100.0, float("nan")],
            "status": ["broken", "broken", "ready", "inactive"],
        }
    )


def test_a_customer_at_zero_percent_is_a_visible_labelled_bar():
    figure = readiness_by_customer(readiness_rows())
    broken = next(t for t in figure.data if t.name.startswith("After: broken"))
    points = dict(zip(broken.x, zip(broken.y, broken.text, strict=True), strict=True))
    height, label = points["c1"]
    assert height > 0 and label == "0 %"  # a stub with its value, not an empty slot
    assert points["c2"] == (50.0, "")
    before = figure.data[0]
    assert before.name == "Before the date" and before.marker.color == BEFORE_COLOR
    assert dict(zip(before.x, before.text, strict=True))["c1"] == "0 %"
    hover = dict(zip(broken.x, broken.customdata, strict=True))["c1"]
    assert list(hover) == ["Zero Ltd", "0.0 %", "broken"]  # the hover says the true value


def test_the_legend_explains_every_status_colour():
    figure = readiness_by_customer(readiness_rows())  # nobody is at risk here
    legend = {t.name: t.marker.color for t in figure.data if t.name.startswith("After")}
    assert legend == {
        "After: broken (refused since the date)": STATUS_COLORS["broken"],
        "After: at risk (still relays without AUTH)": STATUS_COLORS["at_risk"],
        "After: ready": STATUS_COLORS["ready"],
        "After: inactive (no mail in the last 7 days)": STATUS_COLORS["inactive"],
    }
    at_risk = next(t for t in figure.data if t.name.startswith("After: at risk"))
    assert len(at_risk.x) == 1 and pd.isna(at_risk.y[0])  # in the legend, no bar drawn
    assert {t.offsetgroup for t in figure.data} == {"before", "after"}  # one slot each
    # worst first: no outbound mail after the date, then the lowest readiness after it
    assert list(figure.data[0].x) == ["c4", "c1", "c2", "c3"]


def test_as_names_are_short_on_the_axis_and_whole_on_hover():
    assert short_name("OFFSHORE-HOSTING - Offshore Hosting Ltd., NL") == "OFFSHORE-HOSTING"
    assert short_name("A very long name without any handle at all") == "A very long name withou…"
    assert short_name(None) == ""
    table = pd.DataFrame({"ip": ["100.68.14.22"], "probe_sessions": [224]})
    names = pd.Series(["OFFSHORE-HOSTING - Offshore Hosting Ltd., NL"])
    figure = top_bars(table, "ip", "probe_sessions", "Top", "Sessions", names)
    assert list(figure.data[0].y) == ["100.68.14.22  OFFSHORE-HOSTING"]
    assert (
        figure.data[0].customdata[0]
        == "100.68.14.22<br>OFFSHORE-HOSTING - Offshore Hosting Ltd., NL"
    )


def test_top_bars_show_the_top_and_all_the_others_in_one_bar():
    """A million sources draw as many bars as twenty: the top, then one grey "others" bar."""
    sources = 1_000_000
    table = pd.DataFrame(
        {
            "ip": [f"2001:db8::{i:x}" for i in range(sources)],
            "probe_sessions": [3] * sources,
        }
    )
    table.loc[[7, 8], "probe_sessions"] = [500, 400]
    figure = top_bars(table, "ip", "probe_sessions", "Top", "Sessions", limit=15)
    bars = figure.data[0]
    assert len(bars.y) == 16
    assert list(bars.y[-2:]) == ["2001:db8::8", "2001:db8::7"]  # the largest at the top
    assert bars.y[0] == "999,985 others" and bars.x[0] == 3 * 999_985
    assert bars.marker.color[0] == OTHERS_COLOR and bars.marker.color[-1] != OTHERS_COLOR
    assert sum(bars.x) == table["probe_sessions"].sum()  # nothing lost, nothing counted twice
    assert len(figure.to_json()) < 20_000


def test_a_short_list_has_no_others_bar():
    table = pd.DataFrame({"ip": ["a", "b"], "probe_sessions": [2, 1]})
    figure = top_bars(table, "ip", "probe_sessions", "Top", "Sessions", limit=15)
    assert list(figure.data[0].y) == ["b", "a"]


def test_the_readiness_chart_draws_the_worst_customers_and_the_rest_together():
    count = 500
    outbound = pd.Series(range(1, count + 1))
    table = pd.DataFrame(
        {
            "customer_id": [f"c{i:03d}" for i in range(count)],
            "name": [f"Customer {i}" for i in range(count)],
            "outbound_before": outbound,
            "authenticated_before": outbound // 2,
            "readiness_before_pct": (outbound // 2 / outbound * 100).round(1),
            "outbound_after": outbound,
            "authenticated_after": outbound,
            "readiness_after_pct": [100.0] * count,
            "status": ["ready"] * count,
        }
    )
    table.loc[0, ["authenticated_after", "readiness_after_pct", "status"]] = [0, 0.0, "broken"]
    figure = readiness_by_customer(table, limit=60)
    categories = {x for trace in figure.data for x in trace.x}
    assert len(categories) == 61 and "c000" in categories  # the broken one is drawn
    rest = table.sort_values(["readiness_after_pct", "readiness_before_pct", "customer_id"])[60:]
    others = [t for t in figure.data if "440 others" in list(t.x)]
    assert [t.name for t in others] == ["Before the date", "The other 440 customers together"]
    before, after = (dict(zip(t.x, t.customdata, strict=True))["440 others"] for t in others)
    expected = rest["authenticated_before"].sum() / rest["outbound_before"].sum() * 100
    assert before[1] == f"{expected:.1f} %" and after[1] == "100.0 %"
    assert others[0].showlegend is False and others[1].marker.color == OTHERS_COLOR
