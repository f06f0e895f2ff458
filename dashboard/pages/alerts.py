"""Alerts: what `relaywatch alerts` said (current and past, from the store's alert state),
each with a link to the filtered view that shows its evidence."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, callback, dcc, html

from analyzer.judgements import alerts as rules
from analyzer.outputs.alerts import evidence_path
from analyzer.store import alerts as stored
from dashboard import ids
from dashboard.components import empty_state
from dashboard.data import DashboardData, Filters, current

dash.register_page(__name__, path="/alerts", name="Alerts", title="relaywatch - alerts")

RULE_LABELS = {
    rules.VOLUME: "volume spike",
    rules.CRACKED: "cracked login",
    rules.BLOCKLIST: "blocklist refusals",
    rules.LISTED: "DNSBL listing",
    rules.RELAY: "first refused relay",
}
HEADERS = ("status", "rule", "alert", "first raised", "last seen", "evidence")
NO_STORE = (
    "Alerts need a store: run `relaywatch ingest --alerts` every 10 minutes (see the README, "
    "Alerts); what it raises shows here."
)
NONE_YET = "No alert in this period. `relaywatch alerts` (or `ingest --alerts`) raises them."


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.P(
                "What `relaywatch alerts` said, active first: each alert from the first time "
                "it was raised to the last time its condition showed in the logs (the logs' "
                "time). The period of the filter bar selects the alerts; servers, classes "
                "and customers do not apply. Each link opens the page with its evidence, "
                "over the alert's days.",
                className="note",
            ),
            html.Div(id=ids.ALERTS_LIST),
        ],
        className="section",
    )


def alerts_in(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """The alert state's rows whose time overlaps the filters' period, active first, the
    most recently seen first."""
    if data.settings.store is None:
        return rules.empty_state()
    state = stored.read_state(data.settings.store)
    tz = data.settings.timezone
    first = state[rules.FIRST_RAISED].dt.tz_convert(tz).dt.date
    last = state[rules.LAST_SEEN].dt.tz_convert(tz).dt.date
    keep = pd.Series(True, index=state.index)
    if filters.since:
        keep &= last >= filters.since
    if filters.until:
        keep &= first <= filters.until
    shown = state[keep.to_numpy()].sort_values(rules.LAST_SEEN, ascending=False, kind="stable")
    active = (shown[rules.STATUS] == rules.ACTIVE).to_numpy()
    return pd.concat([shown[active], shown[~active]])


def alert_row(alert: dict, timezone: str) -> html.Tr:
    """One alert: its texts as text (an account name or a HELO is the attacker's), its
    evidence as a link to the page that shows it."""
    first = alert[rules.FIRST_RAISED].tz_convert(timezone)
    last = alert[rules.LAST_SEEN].tz_convert(timezone)
    status = alert[rules.STATUS]
    if status == rules.CLEARED and pd.notna(alert[rules.LAST_SENT]):
        status = f"cleared {rules.stamp(alert[rules.LAST_SENT].tz_convert(timezone))}"
    href = "/" + evidence_path(alert[rules.LINK], first.date(), last.date())
    return html.Tr(
        [
            html.Td(status, className=f"alert-{alert[rules.STATUS]}"),
            html.Td(RULE_LABELS.get(alert[rules.RULE], alert[rules.RULE])),
            html.Td(
                [
                    html.Div(alert[rules.SUMMARY]),
                    html.Div(alert[rules.EVIDENCE] or "", className="note"),
                ]
            ),
            html.Td(rules.stamp(first)),
            html.Td(rules.stamp(last)),
            html.Td(dcc.Link("show", href=href)),
        ],
        **{"data-key": alert[rules.KEY]},
    )


@callback(Output(ids.ALERTS_LIST, "children"), Input(ids.FILTERS, "data"))
def update_alerts(filters_data):
    data = current()
    if data.settings.store is None:
        return empty_state(NO_STORE)
    shown = alerts_in(data, Filters.from_store(filters_data))
    if shown.empty:
        return empty_state(NONE_YET)
    rows = shown.astype(object).where(shown.notna(), None).to_dict("records")
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in HEADERS])),
            html.Tbody([alert_row(a, data.settings.timezone) for a in rows]),
        ],
        className="alerts",
    )
