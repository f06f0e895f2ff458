"""Alerts from the store: the last hour's conditions read from it, and the alert state kept
in it (``alerts.json``: every key ever raised, when it was last said, whether it holds), so
that a re-run, a restart or a second ingest in the same hour says nothing twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc

from analyzer import schema as s
from analyzer.judgements import alerts as rules
from analyzer.judgements.asn import AsnLookup, lookup_frame
from analyzer.judgements.blame import NAMED_IP, PROVIDER
from analyzer.judgements.risk import OWN_IP, assign_own_ip, failed_auth
from analyzer.judgements.rollups import DELIVERIES, LAST_START
from analyzer.settings.config import Settings
from analyzer.store import tables
from analyzer.store.queries import BLAMED, Scope, View

STATE_FILE = "alerts.json"
# What the account and customer rules read of the history's sessions.
ALERT_COLUMNS = (
    s.START, s.CLIENT_IP, s.SASL_USERNAME, s.RECIPIENTS, s.CLASS, s.REASON, s.AUTH_FAILURES,
    s.CUSTOMER_ID, s.PERIOD, s.SESSION_ID,
)  # fmt: skip


def last_instant(view: View) -> pd.Timestamp | None:
    """The start of the last session the store holds: the alerts' "now"."""
    last = tables.session_rollup(view, Scope())[LAST_START].max()
    return None if pd.isna(last) else pd.Timestamp(last)


def _local_day(instant: pd.Timestamp, timezone: str) -> dt.date:
    return instant.tz_convert(timezone).date()


def conditions(
    view: View,
    settings: Settings,
    now: pd.Timestamp,
    lookup: AsnLookup | None,
    dnsbl: pd.DataFrame,
    state: pd.DataFrame,
) -> pd.DataFrame:
    """Every rule's conditions at ``now``, from the sessions of the history days and the
    deliveries of the last hour (only the columns and days they need); ``state``: what was
    said before (an active volume alert keeps the account's usual from before it)."""
    config, tz = settings.alerts, settings.timezone
    volume_raised = rules.raised_since(state, rules.VOLUME)
    # from the history days before the oldest active volume alert's day (its usual)
    since = min([now, *volume_raised.values()])
    history = Scope(
        _local_day(since - pd.Timedelta(days=config.history_days), tz), _local_day(now, tz)
    )
    wanted = (
        (pc.field(s.CLASS) == s.AUTHENTICATED)
        | (pc.field(s.AUTH_FAILURES) > 0)
        | (pc.field(s.REASON) == s.R_RELAY_DENIED)
    )
    sessions = tables.sessions_of(view, history, list(ALERT_COLUMNS), wanted)
    sessions = sessions[(sessions[s.START] <= now).to_numpy()]
    logins = sessions[
        (sessions[s.CLASS] == s.AUTHENTICATED).fillna(False).to_numpy()
        & sessions[s.SASL_USERNAME].notna().to_numpy()
    ]
    failed = failed_auth(sessions)
    asns = lookup_frame(pd.concat([logins[s.CLIENT_IP], failed[s.CLIENT_IP]]), lookup)
    asn_of = dict(zip(asns["ip"], asns["asn"], strict=True)) if len(asns) else {}
    asn_of = {ip: asn for ip, asn in asn_of.items() if pd.notna(asn)}
    relays = sessions[
        (sessions[s.REASON] == s.R_RELAY_DENIED).fillna(False).to_numpy()
        & (sessions[s.PERIOD] == s.AFTER).fillna(False).to_numpy()
        & sessions[s.CUSTOMER_ID].notna().to_numpy()
    ]
    deliveries, blamed = recent_deliveries(view, settings, now)
    found = [
        rules.volume_spikes(
            logins,
            now,
            config,
            asn_of,
            tz,
            volume_raised,
            deliveries,
            rules.past_episodes(state, rules.VOLUME),
        ),
        rules.cracked_logins(logins, failed, now, config, asn_of),
        rules.blocklist_refusals(
            deliveries, blamed, now, config, rules.raised_since(state, rules.BLOCKLIST)
        ),
        rules.dnsbl_listings(dnsbl),
        rules.first_refused_relays(relays, now),
    ]
    return pd.concat(found, ignore_index=True)


def recent_deliveries(
    view: View, settings: Settings, now: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The deliveries of the ``HOLD`` up to ``now`` and their refusals blaming a blocklist,
    each with the own IP it went out through."""
    tz = settings.timezone
    hour = Scope(_local_day(now - rules.HOLD, tz), _local_day(now, tz))
    when = (pc.field(s.TS) > (now - rules.HOLD).to_pydatetime()) & (
        pc.field(s.TS) <= now.to_pydatetime()
    )
    servers, own = settings.server_outbound_ips(), settings.own_outbound_ips()
    deliveries = tables.events_of(
        view, hour, DELIVERIES, [s.TS, s.SERVER, s.SESSION_ID, s.RECIPIENT], when
    )
    blamed = tables.events_of(
        view,
        hour,
        BLAMED,
        [s.TS, s.SERVER, s.RELAY, PROVIDER, NAMED_IP, s.SESSION_ID, s.RECIPIENT],
        when,
    )
    blamed = blamed[blamed[PROVIDER].notna().to_numpy()]
    return (
        deliveries.assign(**{OWN_IP: assign_own_ip(deliveries, servers, own)}),
        blamed.assign(**{OWN_IP: assign_own_ip(blamed, servers, own)}),
    )


def _saved(root: Path) -> dict:
    """alerts.json: ``{"state": [...], "outbox": [...]}`` (none yet: both empty)."""
    path = root / STATE_FILE
    if not path.is_file():
        return {"state": [], "outbox": []}
    saved = json.loads(path.read_text(encoding="utf-8"))
    return {"state": saved, "outbox": []} if isinstance(saved, list) else saved


def read_state(root: Path) -> pd.DataFrame:
    """The alert state the store keeps (none yet: empty)."""
    records = _saved(root).get("state", [])
    if not records:
        return rules.empty_state()
    state = pd.DataFrame(records, columns=list(rules.STATE_COLUMNS)).astype("string")
    for column in (rules.FIRST_RAISED, rules.LAST_SENT, rules.LAST_SEEN):
        state[column] = pd.to_datetime(state[column], utc=True, format="ISO8601").astype(
            "datetime64[us, UTC]"
        )
    return state


def read_outbox(root: Path) -> list[dict]:
    """Messages a channel did not take yet (``analyzer.watch``: tried again at the next run)."""
    return list(_saved(root).get("outbox", []))


def write_state(
    root: Path, state: pd.DataFrame, file_mode: int, outbox: list[dict] | None = None
) -> None:
    """Replace the alert state and the outbox atomically (written aside, synced, renamed);
    ``outbox`` None: the one kept now stays."""
    records = [
        {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in row.items()}
        for row in state.astype(object).where(state.notna(), None).to_dict("records")
    ]
    saved = {"state": records, "outbox": read_outbox(root) if outbox is None else outbox}
    handle, temp = tempfile.mkstemp(dir=root, prefix=f".{STATE_FILE}.")
    try:
        os.fchmod(handle, file_mode)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(saved, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, root / STATE_FILE)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
