"""``[alerts]``: the thresholds of ``relaywatch alerts`` and where its messages go."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analyzer.errors import ConfigError
from analyzer.settings.values import as_number, as_strings, is_loopback

ALERT_KEYS = {
    "to",
    "webhook",
    "volume_factor",
    "volume_floor",
    "history_days",
    "cracked_window_hours",
    "blocklist_share",
    "blocklist_floor",
    "cooldown_hours",
}


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """``[alerts]``: what ``relaywatch alerts`` (and ``ingest --alerts``) watches.

    Attributes:
        to: who gets the alert mails (default: ``[mail] to``).
        webhook: an ``https://`` (or loopback ``http://``) URL that gets each alert as JSON
            with a Slack/Mattermost ``text`` field; empty: none.
        volume_factor, volume_floor: an account's recipients in the last hour above
            ``volume_factor`` × its busiest hour of the ``history_days`` before, and at least
            ``volume_floor``.
        cracked_window_hours: a login from a network (ASN) the account never used, within
            this many hours after failed logins from outside every customer network.
        blocklist_share, blocklist_floor: an own IP's remote refusals blaming a blocklist in
            the last hour: at least ``blocklist_floor`` and this share of its deliveries.
        cooldown_hours: a condition that holds on is said again after this long, not before;
            so is an event that occurs again.
    """

    to: tuple[str, ...] = ()
    webhook: str = ""
    volume_factor: float = 5.0
    volume_floor: int = 50
    history_days: int = 7
    cracked_window_hours: float = 24.0
    blocklist_share: float = 0.1
    blocklist_floor: int = 5
    cooldown_hours: float = 6.0


MAX_HOURS = 24 * 366  # a window or a cool-down longer than a year is a typo


def alerts_config(section: Mapping[str, Any]) -> AlertsConfig:
    """``[alerts]`` checked (one clear line for a bad value)."""
    default = AlertsConfig()

    def get(key: str) -> Any:
        return section.get(key, getattr(default, key))

    webhook = str(section.get("webhook", "") or "")
    if webhook:
        url = urllib.parse.urlsplit(webhook)
        loopback = bool(url.hostname) and is_loopback(url.hostname)
        if url.scheme != "https" and not (url.scheme == "http" and loopback) or not url.hostname:
            raise ConfigError(
                "alerts.webhook: expected an https:// URL (http:// only on loopback), "
                f"got a {url.scheme or 'schemeless'} URL"
            )  # never the URL itself: it is the hook's secret
    to = as_strings(section.get("to", []), "alerts.to")
    if bad := [a for a in to if "@" not in a or any(c.isspace() for c in a)]:
        raise ConfigError(f"alerts.to: not an e-mail address: {bad[0]!r}")
    return AlertsConfig(
        to=to,
        webhook=webhook,
        volume_factor=float(as_number(get("volume_factor"), "alerts.volume_factor", 1, 1000)),
        volume_floor=as_number(get("volume_floor"), "alerts.volume_floor", 1, 10**9, whole=True),
        history_days=as_number(get("history_days"), "alerts.history_days", 1, 366, whole=True),
        cracked_window_hours=float(
            as_number(get("cracked_window_hours"), "alerts.cracked_window_hours", 1, MAX_HOURS)
        ),
        blocklist_share=float(as_number(get("blocklist_share"), "alerts.blocklist_share", 0, 1)),
        blocklist_floor=as_number(
            get("blocklist_floor"), "alerts.blocklist_floor", 1, 10**9, whole=True
        ),
        cooldown_hours=float(
            as_number(get("cooldown_hours"), "alerts.cooldown_hours", 0, MAX_HOURS)
        ),
    )
