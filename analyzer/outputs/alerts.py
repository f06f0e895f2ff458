"""Alert messages: one short mail per alert, and the same as JSON to a webhook (its ``text``
field is what Slack and Mattermost show)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pandas as pd

from analyzer.errors import AnalyzerError
from analyzer.judgements import alerts as rules

WEBHOOK_TIMEOUT_S = 10.0
TITLES = {rules.RAISED: "ALERT", rules.REMINDER: "STILL", rules.RECOVERED: "RECOVERED"}


class WebhookError(AnalyzerError):
    """The webhook did not take an alert."""


def evidence_path(alert_link: str, since: dt.date, until: dt.date) -> str:
    """``sessions?since=...&until=...&q=...``: an alert's page (its ``link``: the page and its
    own query) over the local days ``since`` to ``until``."""
    page, _, query = str(alert_link).partition("?")
    pairs = [("since", since.isoformat()), ("until", until.isoformat())]
    return f"{page}?{urllib.parse.urlencode([*pairs, *urllib.parse.parse_qsl(query)])}"


def link(dashboard_url: str | None, alert: dict, now: pd.Timestamp, timezone: str) -> str | None:
    """The dashboard page that shows the alert's evidence, on its day."""
    if not dashboard_url:
        return None
    day = now.tz_convert(timezone).date()
    return f"{dashboard_url.rstrip('/')}/{evidence_path(alert[rules.LINK], day, day)}"


def subject(alert: dict) -> str:
    return f"[relaywatch] {TITLES[alert[rules.KIND]]}: {alert[rules.SUMMARY]}"


def text(alert: dict, url: str | None, now: pd.Timestamp) -> str:
    """The message: what, the evidence, what to do, where to look."""
    lines = [
        alert[rules.SUMMARY],
        "",
        f"rule: {alert[rules.RULE]} ({alert[rules.KEY]}), at {rules.stamp(now)} (the logs' time)",
        f"evidence: {alert[rules.EVIDENCE]}",
        f"action: {alert[rules.ACTION]}",
    ]
    if url:
        lines.append(f"dashboard: {url}")
    return "\n".join(lines) + "\n"


def compose(
    alert: dict, url: str | None, sender: str, to: tuple[str, ...], now: pd.Timestamp
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject(alert)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(pd.Timestamp.now(tz="UTC").to_pydatetime())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(text(alert, url, now))
    return message


def post(webhook: str, alert: dict, url: str | None, now: pd.Timestamp) -> None:
    """POST the alert as JSON (``text`` for chat tools, ``alert`` with every field)."""
    body = {
        "text": f"{subject(alert)}\n{text(alert, url, now)}",
        "alert": {**{k: str(v) for k, v in alert.items()}, "url": url, "at": rules.stamp(now)},
    }
    request = urllib.request.Request(
        webhook,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as answer:
            answer.read()
    except (urllib.error.URLError, OSError) as exc:
        # the URL itself is a secret (Slack's and Mattermost's hooks): its host only
        where = urllib.parse.urlsplit(webhook)
        raise WebhookError(
            f"webhook {where.scheme}://{where.hostname} refused the alert: {exc}"
        ) from None
