"""``relaywatch alerts`` (and ``ingest --alerts``): the store's last hour judged by the alert
rules (``analyzer.judgements.alerts``), each new event said once by mail and webhook."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analyzer.errors import ConfigError, InputError
from analyzer.jobs import live_dnsbl, open_data
from analyzer.judgements import alerts as rules
from analyzer.judgements.asn import load_lookup
from analyzer.judgements.customers import read_customers
from analyzer.judgements.dnsbl import unverified_zones
from analyzer.outputs import alerts as messages
from analyzer.outputs.mailer import MailError, send_message, smtp_password, spool_message
from analyzer.settings.config import Settings
from analyzer.store import alerts as stored
from analyzer.store import parquet as store
from analyzer.store.ingest import store_root

# How long `alerts` waits for a running ingest or another `alerts` to finish.
ALERTS_WAIT_S = 120


@dataclass
class AlertRun:
    """What one evaluation found and did."""

    now: pd.Timestamp | None = None
    sent: pd.DataFrame = field(default_factory=pd.DataFrame)
    active: int = 0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def text(self) -> str:
        if self.now is None:
            return "alerts: no sessions in the store yet"
        said = ", ".join(
            f"{(self.sent[rules.KIND] == kind).sum()} {kind}"
            for kind in (rules.RAISED, rules.REMINDER, rules.RECOVERED)
        )
        return f"alerts at {rules.stamp(self.now)} (the logs' time): {said}; {self.active} active"


def run_alerts(
    settings: Settings,
    dns: bool = True,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
    wait_seconds: float = ALERTS_WAIT_S,
) -> AlertRun:
    """Evaluate the rules on the store's last hour, remember what was said, and say what is
    new: a mail per alert to ``[alerts] to`` (else ``[mail] to``) and a POST to
    ``[alerts] webhook``. ``dry_run``: print, send nothing, remember nothing. A mail that
    cannot be sent is spooled; the run then fails (``MailError``) after saving the state, so
    nothing is said twice."""
    root = store_root(settings)
    if not store.exists(root):
        raise InputError(f"the store {root} is empty: run `relaywatch ingest` first")
    to = settings.alerts.to or settings.mail.to
    password = None
    if not dry_run:
        if not to and not settings.alerts.webhook:
            raise ConfigError("alerts: no one to tell: set alerts.to, mail.to or alerts.webhook")
        environ = os.environ if environ is None else environ
        password = smtp_password(settings.mail, environ) if to else None
    run = AlertRun()
    with store.writing(root, wait_seconds, settings.file_mode):
        view = open_data(settings, customers=read_customers(settings.customers))
        run.now = stored.last_instant(view)
        if run.now is None:
            return run
        dnsbl = live_dnsbl(settings, dns)
        run.notes.extend(unverified_zones(dnsbl))
        lookup = load_lookup(settings.asn_db, settings.as_names)
        before = stored.read_state(root)
        found = stored.conditions(view, settings, run.now, lookup, dnsbl, before)
        cooldown = pd.Timedelta(hours=settings.alerts.cooldown_hours)
        run.sent, state = rules.evaluate(found, before, run.now, cooldown)
        run.active = int((state[rules.STATUS] == rules.ACTIVE).sum())
        if dry_run:
            return run
        stored.write_state(root, state, settings.file_mode)
    for alert in run.sent.to_dict("records"):
        _tell(alert, settings, to, password, run)
    if run.failures:
        raise MailError("; ".join(run.failures))
    return run


def _tell(alert: dict, settings: Settings, to: tuple[str, ...], password, run: AlertRun) -> None:
    url = messages.link(settings.dashboard.url, alert, run.now, settings.timezone)
    local = run.now.tz_convert(settings.timezone)  # the message's times: the logs' zone
    if to:
        message = messages.compose(alert, url, settings.mail.from_addr, to, local)
        try:
            send_message(message, settings.mail, password)
        except MailError as exc:
            folder = settings.mail.spool or Path(store_root(settings)) / "spool"
            stamp = f"{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S%fZ}"
            kept = spool_message(message, folder, stamp, settings.file_mode)
            run.failures.append(f"{exc}; the alert is kept in {kept}")
    if settings.alerts.webhook:
        try:
            messages.post(settings.alerts.webhook, alert, url, local)
        except messages.WebhookError as exc:
            run.failures.append(str(exc))


def describe(run: AlertRun) -> list[str]:
    """The alerts said, one line each (what `alerts` prints)."""
    return [messages.subject(a) for a in run.sent.to_dict("records")] if len(run.sent) else []
