"""Callbacks and page logic as plain functions, on the bundled samples."""

from __future__ import annotations

import importlib
import io
import time
from unittest import mock

import pandas as pd
import pytest

from analyzer import jobs
from analyzer import schema as s
from analyzer.settings.config import DEMO_CONFIG, load_settings
from dashboard.app import create_app, filters_from_controls
from dashboard.data import Filters, load_data, read_sessions


@pytest.fixture(scope="module")
def app():
    settings = load_settings(DEMO_CONFIG, environ={})
    return create_app(settings, load_data(settings, dns=False))


def page(name: str):
    """A page module as Dash Pages loaded it (as ``pages.<name>``, once the app exists)."""
    return importlib.import_module(f"pages.{name}")


@pytest.fixture
def request_context(app):
    with app.server.test_request_context():
        yield app.server.config["relaywatch.data"]


ALL = filters_from_controls(None, None, [], [], [])


def test_filters_round_trip_through_the_store():
    stored = filters_from_controls("2003-11-20", "2003-11-22", ["mail2"], ["spam_probe"], None)
    assert Filters.from_store(stored) == Filters(
        pd.Timestamp("2003-11-20").date(),
        pd.Timestamp("2003-11-22").date(),
        ("mail2",),
        ("spam_probe",),
        (),
    )


def test_filters_select_sessions(request_context):
    data = request_context
    everything = read_sessions(data, Filters())
    probes = read_sessions(data, Filters(classes=(s.SPAM_PROBE,), servers=("mail2",)))
    assert 0 < len(probes) < len(everything)
    assert set(probes[s.CLASS]) == {s.SPAM_PROBE} and set(probes[s.SERVER]) == {"mail2"}


def test_overview_chart_and_cards(request_context):
    figure, cards = page("overview").update_overview(ALL)
    assert [t.name for t in figure.data] == [
        "Authenticated",
        "Inbound mail (no AUTH needed)",
        "Customer relay without AUTH",
        "Customer relay refused",
        "AUTH unavailable (ours)",
        "Spam probe",
    ]
    assert len(cards) == 7
    only_probes, _ = page("overview").update_overview(
        filters_from_controls(None, None, [], [s.SPAM_PROBE], [])
    )
    assert [t.name for t in only_probes.data] == ["Spam probe"]


FIRST_BLOCK = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}


def test_relays_split_customers_from_probes(request_context):
    figure = page("relays").update_relays(ALL)
    assert {t.name for t in figure.data} == {
        "Unready customers (relay refused)",
        "Spam probes (relay refused)",
    }
    senders = page("relays").sender_rows(FIRST_BLOCK, ALL)
    targets = page("relays").target_rows(FIRST_BLOCK, ALL)
    assert senders["rowData"] and targets["rowData"]
    assert targets["rowData"][0] == {"domain": "example.com", "attempts": "109", "sources": "41"}
    rows = senders["rowData"]
    assert all(row["customer_id"] for row in rows if row["client_ip"].startswith("198.18."))
    relay_denied = [int(row["relay_denied"]) for row in rows]
    assert relay_denied == sorted(relay_denied, reverse=True)  # the export's order


def test_relay_senders_download_is_the_whole_table(request_context):
    csv = page("relays").download_senders(1, ALL)["content"]
    senders = page("relays").sender_rows(FIRST_BLOCK, ALL)
    assert csv.count("\n") - 1 == senders["rowCount"] > len(senders["rowData"])


def test_customers_download_equals_the_export(request_context):
    data = request_context
    download = page("customers").download_customers(1, ALL)
    expected, _ = jobs.export("customers", data.settings, (), jobs.ExportOptions())
    assert download["content"] == expected


def test_offenders_rows_come_a_block_at_a_time_sorted_on_the_server(request_context):
    chart, reasons, columns = page("offenders").update_offenders(ALL, "network")
    assert [c["field"] for c in columns][:3] == ["network", "asn", "as_name"]
    assert all(c["headerName"] == c["field"].replace("_", " ") for c in columns)
    response = page("offenders").offenders_rows(FIRST_BLOCK, ALL, "network")
    expected, _ = jobs.export(
        "offenders", request_context.settings, (), jobs.ExportOptions(by="network")
    )
    exported = pd.read_csv(io.StringIO(expected), dtype=str, keep_default_na=False)
    assert response["rowCount"] == len(exported) > 100
    assert response["rowData"] == exported.head(100).to_dict("records")  # the export's cells
    by_last_seen = {**FIRST_BLOCK, "sortModel": [{"colId": "last_seen", "sort": "asc"}]}
    rows = page("offenders").offenders_rows(by_last_seen, ALL, "network")["rowData"]
    assert [r["last_seen"] for r in rows] == sorted(exported["last_seen"])[:100]


def test_a_grid_never_gets_more_than_a_block(request_context):
    greedy = {**FIRST_BLOCK, "endRow": 10**9}
    response = page("offenders").offenders_rows(greedy, ALL, "ip")
    assert len(response["rowData"]) == 100 < response["rowCount"]
    # a sort or filter naming no column of the table is ignored, never evaluated
    odd = {
        **FIRST_BLOCK,
        "sortModel": [{"colId": "__class__", "sort": "asc"}],
        "filterModel": {"__init__": {"filterType": "text", "type": "contains", "filter": "x"}},
    }
    assert page("offenders").offenders_rows(odd, ALL, "ip") == response


def test_clicking_a_customer_shows_its_sessions(request_context):
    customers = page("customers")
    assert customers.drilldown_rows(FIRST_BLOCK, ALL, None) == {"rowData": [], "rowCount": 0}
    chosen = [{"customer_id": "c036", "name": "Jasper Valley Winery"}]
    response = customers.drilldown_rows(FIRST_BLOCK, ALL, chosen)
    data = request_context
    every = data.view.read("sessions")
    theirs = every[(every[s.CUSTOMER_ID] == "c036").fillna(False)]
    assert response["rowCount"] == len(theirs) > 0
    assert set(response["rowData"][0]) == set(customers.DRILL_COLUMNS)
    trend = customers.update_trend(ALL, chosen)
    assert [t.name for t in trend.data] == ["All customers", "c036"]


def test_offenders_download_and_blocklist(request_context):
    data = request_context
    got = page("offenders").download_offenders(1, ALL, "network")["content"]
    expected, _ = jobs.export("offenders", data.settings, (), jobs.ExportOptions(by="network"))
    assert got == expected
    nft = page("offenders").download_blocklist(1, ALL, "nftables", "ip")["content"]
    assert "table inet relaywatch" in nft


def test_sessions_pages_on_the_server_and_downloads_what_it_shows(request_context, app):
    second_block = {**FIRST_BLOCK, "startRow": 100, "endRow": 200}
    response, count = page("sessions").session_rows(second_block, ALL, "100.68.14.22")
    rows = response["rowData"]
    assert len(rows) == 100 and response["rowCount"] == 224 and count == "224 sessions"
    assert {r["client_ip"] for r in rows} == {"100.68.14.22"}
    starts = [r["start"] for r in rows]
    assert starts == sorted(starts)  # by start, as the export
    link = page("sessions").download_link(ALL, "100.68.14.22")
    answer = app.server.test_client().get(link)
    assert answer.is_streamed and answer.mimetype == "text/csv"
    assert "sessions.csv" in answer.headers["Content-Disposition"]
    csv = answer.get_data(as_text=True)
    assert csv.count("\n") - 1 == response["rowCount"]
    first, _ = page("sessions").session_rows(FIRST_BLOCK, ALL, "100.68.14.22")
    exported = pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)
    assert [r["session_id"] for r in first["rowData"] + rows] == exported["session_id"].tolist()[
        :200
    ]


def test_sessions_sort_and_filter_on_the_server(request_context):
    request = {
        **FIRST_BLOCK,
        "sortModel": [{"colId": "auth_failures", "sort": "desc"}],
        "filterModel": {"class": {"filterType": "text", "type": "equals", "filter": "spam_probe"}},
    }
    response, count = page("sessions").session_rows(request, ALL, None)
    rows = response["rowData"]
    assert {r["class"] for r in rows} == {"spam_probe"}
    failures = [int(r["auth_failures"]) for r in rows]
    assert failures == sorted(failures, reverse=True) and failures[0] > 9  # numbers, not text
    data = request_context
    probes = int((data.view.read("sessions")[s.CLASS] == s.SPAM_PROBE).sum())
    assert response["rowCount"] == probes and count == f"{probes:,} sessions"


def test_a_sorted_block_past_the_kept_rows_is_sorted_again(request_context, monkeypatch):
    """Only the first rows of a sorted view are kept; a block past them sorts again and
    shows what the kept order would have shown."""
    sessions = page("sessions")
    request = {"startRow": 300, "endRow": 400, "sortModel": [{"colId": "client_ip", "sort": "asc"}]}
    kept, count = sessions.session_rows(request, ALL, None)  # inside the 10,000 kept
    request_context._cache.clear()
    monkeypatch.setattr(sessions, "KEPT_SORTED", 200)
    again, count_again = sessions.session_rows(request, ALL, None)
    assert again == kept and count_again == count
    ips = [r["client_ip"] for r in again["rowData"]]
    assert len(ips) == 100 and ips == sorted(ips)
    assert not any(key[0][0] == "sessions-sorted" for key in request_context._cache)


def test_risk_tables(request_context):
    ips, accounts, servers, figure = page("risk").update_risk(ALL)
    assert {r["server"] for r in servers} >= {"mail1", "mail2"}
    assert accounts[0]["sasl_username"] == "sales@bluebird-travel.example"  # the cracked account
    assert accounts[0]["level"] == "critical"
    by_ip = {r["ip"]: r for r in ips}
    assert int(by_ip["192.0.2.10"]["blocklist_bounces"]) > 100
    assert int(by_ip["192.0.2.11"]["blocklist_bounces"]) > 100
    assert [r["ip"] for r in ips][:2] == ["192.0.2.10", "192.0.2.11"]  # riskiest first
    assert "not checked" in by_ip["192.0.2.13"]["evidence"]  # the tests start without DNS


def test_risk_downloads_equal_the_exports(request_context):
    from analyzer.jobs import ExportOptions, export

    data = request_context
    csv = page("risk").download_risk(1, ALL)["content"]
    expected, _ = export("risk", data.settings, (), ExportOptions(dns=False))
    assert csv == expected
    accounts = page("risk").download_accounts(1, ALL)["content"]
    expected, _ = export("accounts", data.settings, (), ExportOptions(dns=False))
    assert accounts == expected


def test_risk_follows_the_period_filter(request_context):
    before = {"until": "2003-11-20"}
    ips, accounts, _, _ = page("risk").update_risk(before)
    assert all(r["blocklist_bounces"] == "0" for r in ips)  # the listings came after the crack
    assert "sales@bluebird-travel.example" not in {
        r["sasl_username"] for r in accounts if r["level"] in ("high", "critical")
    }


def test_the_overview_reads_the_store_once_per_filter(request_context):
    # Its speed is the benchmark's (benchmarks/bench_dashboard.py); a test counts reads.
    data = request_context
    data._cache.clear()
    view_class, reads = type(data.view), []
    real_read = view_class.read

    def counted_read(self, name, *args, **kwargs):
        reads.append(name)
        return real_read(self, name, *args, **kwargs)

    with mock.patch.object(view_class, "read", counted_read):
        first = page("overview").update_overview(ALL)
        first_reads = len(reads)
        again = page("overview").update_overview(ALL)
    assert first_reads > 0 and "daily" in reads
    assert len(reads) == first_reads  # the second render is from the cache
    assert [t.name for t in again[0].data] == [t.name for t in first[0].data]


def test_the_risk_page_says_which_dnsbl_zones_were_not_verified(request_context):
    import dataclasses

    data = request_context
    assert page("risk").dnsbl_notes(ALL) == ([], True)  # --no-dns: nothing to say
    unverified = pd.DataFrame(
        [
            {
                "ip": "192.0.2.10",
                "zone": "zen.spamhaus.org",
                "dnsbl_status": "unknown",
                "answer": "",
                "detail": "zone not verified: the list refuses this resolver (query through "
                "a public or open resolver)",
            }
        ]
    )
    app_config = __import__("flask").current_app.config
    app_config["relaywatch.data"] = dataclasses.replace(data, dnsbl=unverified)
    try:
        notes, hidden = page("risk").dnsbl_notes(ALL)
    finally:
        app_config["relaywatch.data"] = data
    assert not hidden
    assert [n.children for n in notes] == [
        "DNSBL zen.spamhaus.org not verified, its answers are not used (status unknown): the "
        "list refuses this resolver (query through a public or open resolver)"
    ]


def test_a_one_day_storm_is_a_bar_among_all_the_days_of_the_period():
    """1,030 refusals on one day of a month: the chart spans the month, one slot per day."""
    from dashboard.data import daily_counts
    from dashboard.figures import delivery_outcomes

    storm = pd.DataFrame(
        {
            s.TS: pd.Timestamp("2003-11-20T15:00:00Z") + pd.to_timedelta(range(1030), unit="s"),
            s.STATUS: ["deferred"] * 1000 + ["bounced"] * 30,
        }
    )
    days = pd.date_range("2003-11-07", "2003-12-05", freq="D")
    daily = daily_counts(storm, s.STATUS, ["deferred", "bounced"], "America/New_York", days)
    figure = delivery_outcomes(daily, None)
    deferred = next(t for t in figure.data if t.name == "Deferred")
    assert len(deferred.x) == len(days) == 29
    heights = dict(zip(pd.to_datetime(deferred.x), deferred.y, strict=True))
    assert heights[pd.Timestamp("2003-11-20")] == 1000
    assert sum(heights.values()) == 1000


def test_daily_charts_span_the_selected_period(request_context):
    filters = filters_from_controls("2003-11-10", "2003-11-16", [], [], [])
    *_, figure = page("risk").update_risk(filters)
    days = {pd.Timestamp(x).date() for trace in figure.data for x in trace.x}
    assert days == {pd.Timestamp(f"2003-11-{d}").date() for d in range(10, 17)}
    chart, _ = page("overview").update_overview(filters)
    assert len({pd.Timestamp(x).date() for t in chart.data for x in t.x}) == 7


def card_texts(card) -> list[str]:
    return [part.children for part in card.children]


def test_overview_cards_split_customers_relays_from_inbound_mail(request_context):
    data = request_context
    figure, cards = page("overview").update_overview(ALL)
    every = data.view.read("sessions")
    reasons = every.loc[every[s.CLASS] == s.UNAUTHENTICATED, s.REASON]
    count = reasons.value_counts()
    by_title = {card_texts(c)[0]: c for c in cards}
    relays = by_title["Customer relays without AUTH"]
    assert card_texts(relays)[1] == f"{count[s.R_RELAY] + count[s.R_RELAY_DENIED]:,}"
    assert card_texts(relays)[2] == (
        f"{count[s.R_RELAY]:,} accepted: will break; {count[s.R_RELAY_DENIED]:,} refused: broke; "
        f"{count[s.R_AUTH_UNAVAILABLE]:,} more while our AUTH was down"
    )
    assert relays.style == {"borderLeft": "5px solid #ef6c00"}  # the chart's refused colour
    inbound = by_title["Inbound mail (no AUTH needed)"]
    assert card_texts(inbound)[1] == f"{count[s.R_INBOUND]:,}"
    assert inbound.style == {"borderLeft": "5px solid #7f9cbf"}
    # the chart's series hold the same numbers
    totals = {t.name: int(sum(t.y)) for t in figure.data}
    assert totals["Inbound mail (no AUTH needed)"] == count[s.R_INBOUND]
    assert totals["Customer relay refused"] == count[s.R_RELAY_DENIED]


def test_the_call_list_puts_broken_customers_first_with_what_broke(request_context):
    # two days after the date: the mx4 customers (enforced from the 24th) are still at risk
    two_days_after = filters_from_controls(None, "2003-11-22", [], [], [])
    _, calls, _ = page("customers").update_customers(two_days_after)
    statuses = [row["status"] for row in calls]
    assert statuses == sorted(statuses, key=["broken", "at_risk"].index)
    assert statuses.count("broken") == 9 and statuses.count("at_risk") == 5
    broken = [r for r in calls if r["status"] == "broken"]
    outbound = [int(r["outbound"]) for r in broken]
    assert outbound == sorted(outbound, reverse=True)  # most mail at stake first
    assert calls[0]["customer_id"] == "c036"
    assert calls[0]["contact_email"] == "office@jaspervalley-wine.example"
    assert all(r["last_refused"] and r["last_refused_client_ip"] for r in broken)
    assert all(r["last_refused_domain"] for r in broken)  # the reject lines name them all
    at_risk = [r for r in calls if r["status"] == "at_risk"]
    assert at_risk[0]["customer_id"] == "c024" and int(at_risk[0]["outbound"]) == 27


def test_the_call_list_download_equals_the_export(request_context):
    data = request_context
    download = page("customers").download_call_list(1, ALL)
    expected, _ = jobs.export(
        "customers", data.settings, (), jobs.ExportOptions(statuses=("broken", "at_risk"))
    )
    assert download["content"] == expected and download["filename"] == "call-list.csv"
    _, calls, _ = page("customers").update_customers(ALL)
    rows = pd.read_csv(io.StringIO(expected), dtype=str, keep_default_na=False)
    assert [r["customer_id"] for r in calls] == rows["customer_id"].tolist()


def test_a_view_asked_for_by_callbacks_at_once_is_built_once(request_context):
    import threading

    data = request_context
    builds = []

    def build():
        builds.append(1)
        time.sleep(0.3)  # a slow view: the other callbacks arrive meanwhile
        return object()

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(data.cached("slow", Filters(), build)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len({id(r) for r in results}) == 1


def test_a_link_names_the_filters_and_the_page_choices():
    from dashboard.links import filters_of, param, query_of

    filters = filters_from_controls("2003-11-20", "2003-11-22", ["mail,1", "mx3"], [], ["c036"])
    query = query_of(filters, by="network", q=None)
    assert query == (
        "?since=2003-11-20&until=2003-11-22&servers=mail%2C1&servers=mx3&customers=c036&by=network"
    )
    assert filters_of(query) == {**filters, "servers": ["mail,1", "mx3"]}
    assert param(query, "by") == "network" and param(query, "q") is None
    assert filters_of("?by=asn") is None  # a page's choice alone leaves the filter bar be
    assert filters_of("?since=yesterday")["since"] is None  # a hand-edited link: no error
