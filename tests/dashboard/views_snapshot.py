"""Every page's callbacks on the bundled sample, as JSON: what the dashboard shows.

``tests/data/dashboard_views.json.gz`` holds what the dashboard showed before it read the
store per view (commit d37b4a1, everything in memory); ``test_views_match.py`` checks that
it still shows exactly that, from the logs parsed in memory and from a store.

    python -m tests.dashboard.views_snapshot OUT.json.gz [CONFIG]   # write a snapshot
"""

from __future__ import annotations

import gzip
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask
import plotly.utils

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "dashboard_views.json.gz"
BLOCK = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}
SECOND = {**BLOCK, "startRow": 100, "endRow": 200}
SORTED = {**BLOCK, "sortModel": [{"colId": "client_ip", "sort": "desc"}]}
FILTERED = {**BLOCK, "filterModel": {"helo": {"type": "contains", "filter": "mail"}}}
FILTERS = {
    "all": {"since": "2003-11-17", "until": "2003-11-24"},
    "days": {"since": "2003-11-20", "until": "2003-11-22"},
    "mail2_probes": {
        "since": "2003-11-17",
        "until": "2003-11-24",
        "servers": ["mail2"],
        "classes": ["spam_probe"],
    },
    "before": {"since": "2003-11-17", "until": "2003-11-20", "customers": ["c036", "c002"]},
    "open": {},
}


def page(name: str):
    return importlib.import_module(f"pages.{name}")


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=plotly.utils.PlotlyJSONEncoder, sort_keys=True))


def download(result: Any) -> Any:
    """A download callback's file text (whatever carries it)."""
    return result.get("content") if isinstance(result, dict) else result


def streamed_sessions(filters: dict, text: str) -> str:
    """The Sessions page's download: its link, as the browser follows it."""
    from dashboard.downloads import sessions_link

    link = page("sessions").download_link(filters, text)
    assert link == sessions_link(filters, text)
    return flask.current_app.test_client().get(link).get_data(as_text=True)


def views(download_text: Callable[[Any], Any] = download) -> dict[str, Any]:
    """Each callback's output for each filter set (call inside a request context)."""
    shown: dict[str, Any] = {}

    def keep(name: str, call: Callable[[], Any]) -> None:
        shown[name] = as_json(call())

    overview, relays, customers = page("overview"), page("relays"), page("customers")
    offenders, sessions, risk = page("offenders"), page("sessions"), page("risk")
    chosen = [{"customer_id": "c036"}]
    for label, filters in FILTERS.items():
        keep(f"{label}/overview", lambda f=filters: overview.update_overview(f))
        keep(f"{label}/relays", lambda f=filters: relays.update_relays(f))
        keep(f"{label}/relays/senders", lambda f=filters: relays.sender_rows(BLOCK, f))
        keep(f"{label}/relays/targets", lambda f=filters: relays.target_rows(BLOCK, f))
        keep(
            f"{label}/relays/senders.csv",
            lambda f=filters: download_text(relays.download_senders(1, f)),
        )
        keep(f"{label}/customers", lambda f=filters: customers.update_customers(f))
        keep(f"{label}/customers/trend", lambda f=filters: customers.update_trend(f, chosen))
        keep(
            f"{label}/customers/drilldown",
            lambda f=filters: customers.drilldown_rows(BLOCK, f, chosen),
        )
        keep(
            f"{label}/customers.csv",
            lambda f=filters: download_text(customers.download_customers(1, f)),
        )
        keep(
            f"{label}/call-list.csv",
            lambda f=filters: download_text(customers.download_call_list(1, f)),
        )
        for by in ("ip", "network", "asn"):
            keep(
                f"{label}/offenders/{by}", lambda f=filters, b=by: offenders.update_offenders(f, b)
            )
            keep(
                f"{label}/offenders/{by}/rows",
                lambda f=filters, b=by: offenders.offenders_rows(
                    SORTED if b == "ip" else BLOCK, f, b
                ),
            )
            keep(
                f"{label}/offenders/{by}.csv",
                lambda f=filters, b=by: download_text(offenders.download_offenders(1, f, b)),
            )
        for fmt in ("plain", "nftables"):
            keep(
                f"{label}/blocklist/{fmt}",
                lambda f=filters, m=fmt: download_text(
                    offenders.download_blocklist(1, f, m, "network")
                ),
            )
        for name, request, text in (
            ("first", BLOCK, None),
            ("second", SECOND, None),
            ("sorted", SORTED, None),
            ("filtered", FILTERED, None),
            ("search", BLOCK, "mail2"),
            ("search-second", SECOND, "192.0.2"),
        ):
            keep(
                f"{label}/sessions/{name}",
                lambda f=filters, r=request, t=text: sessions.session_rows(r, f, t),
            )
        keep(f"{label}/sessions.csv", lambda f=filters: streamed_sessions(f, "c0"))
        keep(f"{label}/risk", lambda f=filters: risk.update_risk(f))
        keep(f"{label}/risk.csv", lambda f=filters: download_text(risk.download_risk(1, f)))
        keep(f"{label}/accounts.csv", lambda f=filters: download_text(risk.download_accounts(1, f)))
    return shown


def main(out: str, config: str | None = None) -> None:
    from analyzer.settings.config import DEMO_CONFIG, load_settings
    from dashboard.app import create_app
    from dashboard.data import load_data

    settings = load_settings(Path(config) if config else DEMO_CONFIG, environ={})
    app = create_app(settings, load_data(settings, dns=False))
    with app.server.test_request_context():
        shown = views()
    with gzip.open(out, "wt", encoding="utf-8") as target:
        json.dump(shown, target, sort_keys=True)
    print(f"{len(shown)} views written to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
