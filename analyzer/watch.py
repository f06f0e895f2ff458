"""``relaywatch alerts`` (and ``ingest --alerts``): the store's last hour judged by the alert
rules (``analyzer.judgements.alerts``), each new event said once by mail and webhook."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

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
    ``[alerts] webhook``. ``dry_run``: print, send nothing, remember nothing.

    The state is saved before anything is sent (a run started meanwhile says nothing
    twice). What a channel did not take (the SMTP server or the webhook down) is kept in the
    store's outbox and tried again by the next runs, for ``OUTBOX_HOURS``; the run then fails
    (``MailError``) after trying every message."""
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
        run.now = judged_instant(run.now, pd.Timestamp.now(tz="UTC"), run.notes)
        dnsbl = live_dnsbl(settings, dns)
        run.notes.extend(unverified_zones(dnsbl))
        lookup = load_lookup(settings.asn_db, settings.as_names)
        before = stored.read_state(root)
        found = stored.conditions(view, settings, run.now, lookup, dnsbl, before)
        cooldown = pd.Timedelta(hours=settings.alerts.cooldown_hours)
        undecided = rules.undecided_listings(before, dnsbl)
        run.sent, state = rules.evaluate(found, before, run.now, cooldown, undecided)
        run.active = int((state[rules.STATUS] == rules.ACTIVE).sum())
        if dry_run:
            return run
        pending = stored.read_outbox(root)  # taken by this run: tried below, kept if refused
        stored.write_state(root, state, settings.file_mode, outbox=[])
    channels = [c for c, on in ((MAIL, bool(to)), (WEBHOOK, bool(settings.alerts.webhook))) if on]
    local = run.now.tz_convert(settings.timezone)  # the messages' times: the logs' zone
    fresh = [
        {
            "alert": {k: str(v) for k, v in alert.items()},
            "url": messages.link(settings.dashboard.url, alert, run.now, settings.timezone),
            "at": rules.stamp(local),
            "channels": channels,
            "since": rules.stamp(pd.Timestamp.now(tz="UTC")),
        }
        for alert in run.sent.to_dict("records")
    ]
    refused = [
        kept for entry in pending + fresh if (kept := _tell(entry, settings, to, password, run))
    ]
    if refused:  # what this run took from the outbox and sent is gone from it already
        with store.writing(root, wait_seconds, settings.file_mode):
            outbox = stored.read_outbox(root) + refused  # another run's refusals stay too
            stored.write_state(root, stored.read_state(root), settings.file_mode, outbox)
    if run.failures:
        raise MailError("; ".join(run.failures))
    return run


AHEAD = pd.Timedelta(hours=1)  # sessions this far after the clock: a clock or a year is wrong
BEHIND = pd.Timedelta(days=1)  # the logs this far behind the clock: are they still written?


def judged_instant(last: pd.Timestamp, clock: pd.Timestamp, notes: list[str]) -> pd.Timestamp:
    """The alerts' "now": the store's last session, but never after this machine's clock
    (one line with a wrong year or a server's clock ahead would empty every "last hour" and
    clear every alert); said in ``notes`` when it is capped or far behind the clock."""
    if last > clock + AHEAD:
        notes.append(
            f"the store holds sessions after this machine's clock (up to {rules.stamp(last)}): "
            f"judged at {rules.stamp(clock)}; check the servers' clocks and `year`"
        )
        return clock
    if last < clock - BEHIND:
        notes.append(
            f"the logs' last session is {(clock - last).days} days old ({rules.stamp(last)}): "
            "judged then (a replay), or are the logs still read?"
        )
    return last


MAIL, WEBHOOK = "mail", "webhook"
OUTBOX_HOURS = 24  # a message no channel took for a day is dropped, with a failure


def _tell(entry: dict, settings: Settings, to, password, run: AlertRun) -> dict | None:
    """Send ``entry`` through its channels; what is left to send (None: nothing)."""
    alert, url, at = entry["alert"], entry["url"], pd.Timestamp(entry["at"])
    mail = messages.compose(alert, url, settings.mail.from_addr, to, at) if to else None
    left = []
    for channel in entry["channels"]:
        try:
            if channel == MAIL and mail is not None:
                send_message(mail, settings.mail, password)
            elif channel == WEBHOOK and settings.alerts.webhook:
                messages.post(settings.alerts.webhook, alert, url, at)
        except (MailError, messages.WebhookError) as exc:
            left.append(channel)
            run.failures.append(f"{messages.subject(alert)}: {exc}")
    if not left:
        return None
    age = pd.Timestamp.now(tz="UTC") - pd.Timestamp(entry["since"])
    if age > pd.Timedelta(hours=OUTBOX_HOURS):
        kept = ""
        if MAIL in left and mail is not None:  # kept as the report's unsent mail is
            stamp = f"{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S%fZ}"
            try:
                folder = settings.spool_folder()
                kept = f"; kept in {spool_message(mail, folder, stamp, settings.file_mode)}"
            except MailError as exc:
                kept = f"; {exc}"
        run.failures.append(
            f"not sent for {OUTBOX_HOURS} hours, no longer tried: {messages.subject(alert)}{kept}"
        )
        return None
    run.failures[-1] += " (tried again at the next run)"
    return {**entry, "channels": left}


def describe(run: AlertRun) -> list[str]:
    """The alerts said, one line each (what `alerts` prints)."""
    return [messages.subject(a) for a in run.sent.to_dict("records")] if len(run.sent) else []
