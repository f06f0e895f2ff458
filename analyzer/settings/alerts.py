"""``[alerts]``: the thresholds of ``relaywatch alerts`` and where its messages go."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analyzer.errors import ConfigError
from analyzer.settings.values import as_ratio, as_strings

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


def alerts_config(section: Mapping[str, Any]) -> AlertsConfig:
    """``[alerts]`` checked (one clear line for a bad value)."""
    default = AlertsConfig()

    def number(key: str) -> float:
        return as_ratio(section.get(key, getattr(default, key)), f"alerts.{key}")

    webhook = str(section.get("webhook", "") or "")
    if webhook:
        url = urllib.parse.urlsplit(webhook)
        loopback = url.hostname in ("127.0.0.1", "::1", "localhost")
        if url.scheme != "https" and not (url.scheme == "http" and loopback) or not url.hostname:
            raise ConfigError(
                f"alerts.webhook: expected an https:// URL (http:// only on loopback), "
                f"got {webhook!r}"
            )
    return AlertsConfig(
        to=as_strings(section.get("to", []), "alerts.to"),
        webhook=webhook,
        volume_factor=number("volume_factor"),
        volume_floor=int(number("volume_floor")),
        history_days=max(1, int(number("history_days"))),
        cracked_window_hours=number("cracked_window_hours"),
        blocklist_share=number("blocklist_share"),
        blocklist_floor=int(number("blocklist_floor")),
        cooldown_hours=number("cooldown_hours"),
    )
