"""Alerts: what should not wait for the morning mail, judged on the last hour of the logs.

Each rule turns frames into *conditions*, one row per thing that is wrong now (``KEY``
names it: ``volume:sales@example.com``), with a one-line summary, the evidence and the
action an admin can take at once. ``evaluate`` weighs them against what was said before (the
alert state the store keeps) and returns the messages to send and the new state: each
event once, again only after the cool-down, and a recovery message when a condition that
can clear has cleared.

"Now" is the time of the last session in the logs, not the clock: the rules judge what the
logs show, and a replay of old logs alerts as it would have then.
"""

from __future__ import annotations

import shlex
import urllib.parse
from collections.abc import Mapping

import pandas as pd

from analyzer import schema as s
from analyzer.judgements.blame import PROVIDER
from analyzer.judgements.dnsbl import CLEAN
from analyzer.judgements.dnsbl import LISTED as LISTED_ANSWER
from analyzer.judgements.offenders import network_of
from analyzer.judgements.risk import CRACK_FAILURE_SHARE, CRACK_FAILURES, OWN_IP
from analyzer.settings.alerts import AlertsConfig

KEY, RULE, SUBJECT, SUMMARY, EVIDENCE, ACTION, LINK = (
    "key", "rule", "subject", "summary", "evidence", "action", "link",
)  # fmt: skip
CONDITION_COLUMNS = (KEY, RULE, SUBJECT, SUMMARY, EVIDENCE, ACTION, LINK)
# The state kept between runs: one row per key ever raised.
STATUS, FIRST_RAISED, LAST_SENT, LAST_SEEN = "status", "first_raised", "last_sent", "last_seen"
STATE_COLUMNS = (
    KEY, RULE, SUBJECT, STATUS, FIRST_RAISED, LAST_SENT, LAST_SEEN, SUMMARY, EVIDENCE, LINK,
)  # fmt: skip
# A condition's status: it holds (active) or has cleared; an event (a rule that cannot clear)
# is neither: each occurrence is said, at most once per cool-down.
ACTIVE, CLEARED, EVENT = "active", "cleared", "event"
# What a message is: a new alert, a reminder after the cool-down, or the recovery.
KIND = "kind"
RAISED, REMINDER, RECOVERED = "alert", "reminder", "recovered"

VOLUME, CRACKED, BLOCKLIST, LISTED, RELAY = (
    "volume", "cracked_login", "blocklist_refusals", "dnsbl_listing", "first_refused_relay",
)  # fmt: skip
RULES = (VOLUME, CRACKED, BLOCKLIST, LISTED, RELAY)
# Conditions that can clear (and then get a recovery message); the others are events.
RECOVERING = (VOLUME, BLOCKLIST, LISTED)
HOUR = pd.Timedelta(hours=1)
HOLD = pd.Timedelta(hours=2)  # an active alert holds while its cause shows in this
HOLD_HOURS = HOLD.seconds // 3600
RAMP = pd.Timedelta(hours=6)  # a spam run's first hours, before it crossed the thresholds
RECOVERY = {
    VOLUME: "back to its usual volume",
    BLOCKLIST: f"refusals blaming a blocklist below the floor over the last {HOLD_HOURS} hours",
    LISTED: "no longer listed",
}
# Said once, ever: a customer's first refused relay after the enforcement date.
ONCE = (RELAY,)
SAMPLE_ADDRESSES = 5  # client addresses named in an alert's evidence

BLOCKLIST_ACTION = (
    "find the account sending the spam (the Risk page, `relaywatch export accounts`) and "
    "lock it; then ask each blocklist for delisting"
)
DENY = (
    "lock it now: add it to the SASL deny list (Dovecot: a passdb with driver = passwd-file, "
    "args = /etc/dovecot/deny-users and deny = yes, before the other passdbs; then "
    "`echo {quoted} >> /etc/dovecot/deny-users`; every account at high risk: "
    "`relaywatch export accounts --format deny-list`), then reset its password"
)


def stamp(instant: pd.Timestamp) -> str:
    """An instant as the messages write it: ISO 8601 to the second, with its offset."""
    return instant.isoformat(timespec="seconds")


def _page(page: str, **query: str) -> str:
    """A dashboard page with its own query, encoded (a login may hold ``+`` or ``&``)."""
    return f"{page}?{urllib.parse.urlencode(query)}"


def local_midnight(instants: pd.Series, timezone: str) -> pd.Series:
    """The start of each instant's local day, in UTC; where clocks jump at midnight (Santiago,
    Havana, Beirut) the day starts at the first instant that exists."""
    days = instants.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    local = days.dt.tz_localize(timezone, nonexistent="shift_forward", ambiguous=True)
    return local.dt.tz_convert("UTC")


def no_conditions() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in CONDITION_COLUMNS})


def empty_state() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="string") for c in STATE_COLUMNS})
    for column in (FIRST_RAISED, LAST_SENT, LAST_SEEN):
        frame[column] = pd.Series(dtype="datetime64[us, UTC]")
    return frame


def _conditions(rows: list[dict]) -> pd.DataFrame:
    return (
        pd.DataFrame(rows, columns=list(CONDITION_COLUMNS)).astype("string")
        if rows
        else (no_conditions())
    )


def networks_of(ips: pd.Series, asn_of: Mapping[str, int]) -> pd.Series:
    """``AS<n>`` of each address where the ASN database knows it, else its /24 or /48 (as the
    offenders are rolled up; what is no address stands for itself)."""
    known = ips.map(dict(asn_of)).astype("Int64")
    named = ("AS" + known.astype("string")).astype("string")
    return named.fillna(network_of(ips)).fillna(ips.astype("string"))


def _sample(values: pd.Series) -> str:
    counted = values.dropna().astype(str).value_counts()
    shown = ", ".join(f"{v} ({n})" for v, n in counted.head(SAMPLE_ADDRESSES).items())
    more = len(counted) - SAMPLE_ADDRESSES
    return shown + (f" and {more} more" if more > 0 else "")


def _recipient_domains(sessions: pd.DataFrame, recipients: pd.DataFrame | None) -> str:
    """The evidence's "; recipients' domains: ..." for ``sessions`` ("" without deliveries)."""
    if recipients is None or recipients.empty or s.SESSION_ID not in sessions:
        return ""
    theirs = recipients[recipients[s.SESSION_ID].isin(sessions[s.SESSION_ID]).to_numpy()]
    theirs = theirs.drop_duplicates([s.SESSION_ID, s.RECIPIENT])  # a deferral tried again
    domains = theirs[s.RECIPIENT].str.extract("@([^@]+)$", expand=False).str.lower().dropna()
    return f"; recipients' domains: {_sample(domains)}" if len(domains) else ""


def _account_condition(rule: str, account: str, summary: str, evidence: str) -> dict:
    """An account's condition: the action locks it, the link shows its sessions."""
    return {
        KEY: f"{rule}:{account}",
        RULE: rule,
        SUBJECT: account,
        SUMMARY: summary,
        EVIDENCE: evidence,
        ACTION: DENY.format(quoted=shlex.quote(account)),
        LINK: _page("sessions", q=account),
    }


def volume_spikes(
    logins: pd.DataFrame,
    now: pd.Timestamp,
    config: AlertsConfig,
    asn_of: Mapping[str, int],
    timezone: str,
    raised: Mapping[str, pd.Timestamp] | None = None,
    recipients: pd.DataFrame | None = None,
    past: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Accounts whose recipients in the hour up to ``now`` reach ``volume_floor`` and exceed
    ``volume_factor`` × their usual peak: their busiest clock hour of the days before today
    (``logins``: authenticated sessions of the history days: ``sasl_username``, ``start``,
    ``client_ip``, ``recipients``).

    ``raised``: accounts whose volume alert is active, and since when. Their usual peak is of
    the days before that alert (the spam's own hours never become the usual), and the alert
    holds while they sent to more than that per hour in the last ``HOLD`` (a lull of a few
    minutes in the spam is no recovery).

    ``recipients``: the last hour's deliveries (``session_id``, ``recipient``), whose domains
    the evidence samples (the spam's targets: freemail, one victim's domain...).

    ``past``: each account's last volume alert that has cleared (``past_episodes``): its
    hours, and the ``RAMP`` before it, are not its usual (a password cracked again a few
    days after the last spam run is alerted again)."""
    if logins.empty:
        return no_conditions()
    user, start = s.SASL_USERNAME, logins[s.START]
    if past is not None and len(past):
        began = logins[user].map(dict(zip(past[SUBJECT], past[FIRST_RAISED], strict=True)))
        ended = logins[user].map(dict(zip(past[SUBJECT], past[LAST_SEEN], strict=True)))
        began = began.astype("datetime64[us, UTC]") - RAMP
        spam = (start >= began).fillna(False) & (start <= ended.astype(start.dtype)).fillna(False)
        logins, start = logins[~spam.to_numpy()], start[~spam.to_numpy()]
    raised = dict(raised or {})
    basis = logins[user].map(raised).astype("datetime64[us, UTC]").fillna(now)
    midnight = local_midnight(basis, timezone)
    window = pd.Timedelta(days=config.history_days)  # the days before, however late now is
    earlier = logins[(start < midnight).to_numpy() & (start >= midnight - window).to_numpy()]
    hourly = earlier.groupby([user, earlier[s.START].dt.floor("h")])[s.RECIPIENTS].sum()
    usual = hourly.groupby(level=0).max()

    def sent_since(instant: pd.Timestamp) -> pd.Series:
        recent = logins[(start > instant).to_numpy() & (start <= now).to_numpy()]
        return recent.groupby(user)[s.RECIPIENTS].sum()

    last_hour, held = sent_since(now - HOUR), sent_since(now - HOLD)
    peak = usual.reindex(last_hour.index, fill_value=0)
    new = (last_hour >= config.volume_floor) & (last_hour > config.volume_factor * peak)
    # held: above its usual hour, hour for hour (an account busy at its usual pace recovers)
    still = held > HOLD_HOURS * usual.reindex(held.index, fill_value=0)
    spiking = sorted(
        {a for a in last_hour[new].index if a not in raised}
        | {a for a in held[still].index if a in raised}
    )
    rows = []
    for account in spiking:
        # what the summary counts: the last hour, or while an alert holds, the last HOLD
        span, sent = (
            (HOLD, held.get(account, 0)) if account in raised else (HOUR, last_hour[account])
        )
        wording = "hour" if span == HOUR else f"{HOLD_HOURS} hours"
        mine = logins[(start > now - span).to_numpy() & (logins[user] == account).to_numpy()]
        mine = mine[(mine[s.START] <= now).to_numpy()]
        networks = networks_of(mine[s.CLIENT_IP], asn_of)
        rows.append(
            _account_condition(
                VOLUME,
                account,
                f"{account} sent to {int(sent):,} recipients in the last {wording} "
                f"(its busiest hour before: {int(usual.get(account, 0)):,})",
                f"{len(mine)} sessions in the last {wording} from "
                f"{mine[s.CLIENT_IP].nunique()} addresses in {networks.nunique()} networks: "
                f"{_sample(mine[s.CLIENT_IP])}; networks: {_sample(networks)}"
                + _recipient_domains(mine, recipients),
            )
        )
    return _conditions(rows)


def cracked_logins(
    logins: pd.DataFrame,
    failed: pd.DataFrame,
    now: pd.Timestamp,
    config: AlertsConfig,
    asn_of: Mapping[str, int],
) -> pd.DataFrame:
    """Accounts that logged in, in the hour up to ``now``, from a network they never used
    before (an AS where the ASN database knows the address, else its /24 or /48), after at
    least ``CRACK_FAILURES`` failed logins from the same /24 (/48) in the
    ``cracked_window_hours`` before, which are at least ``CRACK_FAILURE_SHARE`` of the
    account's AUTH traffic there (``failed``: ``analyzer.judgements.risk.failed_auth``, which
    leaves out customers' networks). The accounts export's ``cracked`` signal, live, and
    wider by a /24: a guessing botnet logs in from a neighbour of the address that guessed.
    Not the whole AS: another account's typos elsewhere in a big ISP are no guessing."""
    if logins.empty or failed.empty:
        return no_conditions()
    user = s.SASL_USERNAME
    logins = logins.assign(_net=networks_of(logins[s.CLIENT_IP], asn_of))
    failed = failed.assign(_near=networks_of(failed[s.CLIENT_IP], {}))
    in_hour = (logins[s.START] > now - HOUR).to_numpy() & (logins[s.START] <= now).to_numpy()
    window = pd.Timedelta(hours=config.cracked_window_hours)
    rows = []
    for account, mine in logins[in_hour].groupby(user, sort=True):
        before = logins[
            (logins[user] == account).to_numpy()
            & (logins[s.START] < mine[s.START].min()).to_numpy()
        ]
        new = mine[~mine["_net"].isin(set(before["_net"])).to_numpy()]
        if new.empty or before.empty:  # an account's very first logins are not "new"
            continue
        first = new[s.START].min()
        near = set(networks_of(new[s.CLIENT_IP], {}))  # their /24s (/48s)
        guesses = failed[
            failed["_near"].isin(near).to_numpy()
            & (failed[s.START] <= first).to_numpy()
            & (failed[s.START] >= first - window).to_numpy()
        ]
        failures = int(guesses[s.AUTH_FAILURES].fillna(0).sum())
        own = int(((before[s.START] >= first - window).to_numpy()).sum()) + len(new)
        if failures < CRACK_FAILURES or failures < CRACK_FAILURE_SHARE * (failures + own):
            continue
        rows.append(
            _account_condition(
                CRACKED,
                account,
                f"{account} logged in from a new network ({_sample(new['_net'])}) "
                f"after {failures:,} failed logins from {', '.join(sorted(near))}",
                f"new logins from {_sample(new[s.CLIENT_IP])} since "
                f"{stamp(first)}; its usual networks: {_sample(before['_net'])}; "
                f"failed logins in the {config.cracked_window_hours:g} hours before from "
                f"{_sample(guesses[s.CLIENT_IP])}",
            )
        )
    return _conditions(rows)


def blocklist_refusals(
    deliveries: pd.DataFrame,
    blamed: pd.DataFrame,
    now: pd.Timestamp,
    config: AlertsConfig,
    raised: Mapping[str, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Own IPs whose remote refusals blaming a blocklist in the hour up to ``now`` reach
    ``blocklist_floor`` and ``blocklist_share`` of their deliveries (``deliveries`` and
    ``blamed``: those of the last ``HOLD``, each with ``ts`` and ``own_ip``; ``blamed`` with
    the provider). An IP whose alert is active (``raised``) holds while ``blocklist_floor``
    refusals blamed a blocklist in the last ``HOLD``: the share swings from hour to hour
    while spam goes on. A recipient deferred again and again counts once (``session_id``,
    ``recipient``), as in the risk export: one message retried for days holds nothing."""
    raised = dict(raised or {})
    once = [s.SESSION_ID, s.RECIPIENT]
    if set(once) <= set(blamed.columns):
        blamed = blamed.drop_duplicates(once)
    if set(once) <= set(deliveries.columns):
        deliveries = deliveries.drop_duplicates(once)
    counts = blamed.groupby(OWN_IP).size()
    held = set(counts[counts >= config.blocklist_floor].index) & set(raised)
    hour = now - HOUR
    deliveries = deliveries[(deliveries[s.TS] > hour).to_numpy()]
    lately, blamed = blamed, blamed[(blamed[s.TS] > hour).to_numpy()]
    rows = []
    for ip in sorted(held - set(blamed[OWN_IP].dropna())):  # none this hour, some in HOLD
        refused = lately[(lately[OWN_IP] == ip).to_numpy()]
        summary = (
            f"{len(refused):,} deliveries refused for a blocklist in the last {HOLD_HOURS} hours"
        )
        rows.append(_refusals(ip, refused, summary))
    sent = deliveries.groupby(OWN_IP).size()
    for ip, refused in blamed.groupby(OWN_IP, sort=True):
        total = max(int(sent.get(ip, 0)), len(refused))
        enough = len(refused) >= config.blocklist_floor
        if ip not in held and not (enough and len(refused) >= config.blocklist_share * total):
            continue
        summary = (
            f"{len(refused):,} of {total:,} deliveries in the last hour refused for a blocklist"
        )
        rows.append(_refusals(ip, refused, summary))
    return _conditions(rows)


def _refusals(ip: str, refused: pd.DataFrame, summary: str) -> dict:
    """An own IP's blocklist condition: ``summary`` counts, ``refused`` names the lists."""
    providers = _sample(refused[PROVIDER])
    return {
        KEY: f"{BLOCKLIST}:{ip}",
        RULE: BLOCKLIST,
        SUBJECT: ip,
        SUMMARY: f"{ip}: {summary} ({providers})",
        EVIDENCE: f"providers: {providers}; remote hosts: {_sample(refused[s.RELAY])}",
        ACTION: BLOCKLIST_ACTION,
        LINK: "risk",
    }


def dnsbl_listings(dnsbl: pd.DataFrame) -> pd.DataFrame:
    """Own IPs listed on a configured DNSBL (``analyzer.judgements.dnsbl.check_dnsbl``; a zone
    whose test entries failed answers ``unknown``, never ``listed``)."""
    listed = dnsbl[(dnsbl["dnsbl_status"] == LISTED_ANSWER).fillna(False).to_numpy()]
    rows = [
        {
            KEY: f"{LISTED}:{row.ip}:{row.zone}",
            RULE: LISTED,
            SUBJECT: row.ip,
            SUMMARY: f"{row.ip} is listed on {row.zone}",
            EVIDENCE: f"{row.zone} answers {row.answer}"
            + (f" ({row.detail})" if row.detail else ""),
            ACTION: f"stop what it sends (the Risk page), then request delisting from {row.zone}",
            LINK: "risk",
        }
        for row in listed.itertuples(index=False)
    ]
    return _conditions(rows)


def first_refused_relays(relays: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Customers whose first refused relay after their enforcement date falls in the hour up
    to ``now`` (``relays``: their sessions refused for relaying after the date, of the
    history days: ``customer_id``, ``start``, ``client_ip``)."""
    if relays.empty:
        return no_conditions()
    first = relays.groupby(s.CUSTOMER_ID)[s.START].min()
    new = first[(first > now - HOUR) & (first <= now)]
    rows = []
    for customer, at in new.items():
        mine = relays[(relays[s.CUSTOMER_ID] == customer).to_numpy()]
        rows.append(
            {
                KEY: f"{RELAY}:{customer}",
                RULE: RELAY,
                SUBJECT: customer,
                SUMMARY: f"customer {customer}: first relay refused after the enforcement date "
                f"at {stamp(at)}",
                EVIDENCE: f"{len(mine)} refused sessions from {_sample(mine[s.CLIENT_IP])}",
                ACTION: "call them: their mail program must log in (SMTP AUTH) to send",
                LINK: _page("customers", customers=customer),
            }
        )
    return _conditions(rows)


def _in_state(state: pd.DataFrame, rule: str, status: str) -> pd.DataFrame:
    """The state's rows of ``rule`` with ``status``."""
    return state[((state[RULE] == rule) & (state[STATUS] == status)).fillna(False).to_numpy()]


def past_episodes(state: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Each subject's last ``rule`` alert that has cleared: subject, first raised, last seen."""
    return _in_state(state, rule, CLEARED)[[SUBJECT, FIRST_RAISED, LAST_SEEN]]


def raised_since(state: pd.DataFrame, rule: str) -> dict[str, pd.Timestamp]:
    """Subject -> when its active ``rule`` alert was first raised."""
    active = _in_state(state, rule, ACTIVE)
    return dict(zip(active[SUBJECT], active[FIRST_RAISED], strict=True))


def undecided_listings(state: pd.DataFrame, dnsbl: pd.DataFrame) -> set[str]:
    """Active listing keys that this run's DNSBL answers cannot clear: the zone did not
    answer ``clean`` for the address (a timeout, a zone that failed its test entries, no
    lookup at all with ``--no-dns``). Only a clean answer is a recovery."""
    clean = dnsbl[(dnsbl["dnsbl_status"] == CLEAN).fillna(False).to_numpy()]
    cleared = {f"{LISTED}:{ip}:{zone}" for ip, zone in zip(clean["ip"], clean["zone"], strict=True)}
    return set(_in_state(state, LISTED, ACTIVE)[KEY]) - cleared


def evaluate(
    conditions: pd.DataFrame,
    state: pd.DataFrame,
    now: pd.Timestamp,
    cooldown: pd.Timedelta,
    undecided: set[str] | frozenset[str] = frozenset(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The messages to send (the conditions' columns and ``kind``) and the new state.

    A condition that holds (a ``RECOVERING`` rule) is raised once, said again (a reminder)
    once ``cooldown`` after it was last said while it holds on, and cleared with a recovery
    message when it no longer shows; if it comes back after its recovery, that is a new
    alert (a recovery needs ``HOLD`` without the cause, so a flapping condition is said at
    most once per ``HOLD``). An event (the other rules) is said when it occurs, again only
    after the cool-down; ``ONCE`` rules are never said twice. ``undecided``: active keys this
    run could not judge (``undecided_listings``): left as they are, never cleared."""
    state = (
        state.set_index(KEY, drop=False) if len(state) else empty_state().set_index(KEY, drop=False)
    )
    messages = []
    updated = state.copy()
    for row in conditions.itertuples(index=False):
        row = row._asdict()
        key, holds = row[KEY], row[RULE] in RECOVERING
        known = key in state.index
        active = known and state.at[key, STATUS] == ACTIVE
        last_sent = state.at[key, LAST_SENT] if known else pd.NaT
        if row[RULE] in ONCE or not known:
            due = not known
        elif holds and not active:
            due = True  # back after its recovery: a new episode
        else:
            due = pd.isna(last_sent) or now - last_sent >= cooldown
        if due:
            messages.append({**row, KIND: REMINDER if active else RAISED})
        updated.loc[key] = {
            KEY: key,
            RULE: row[RULE],
            SUBJECT: row[SUBJECT],
            STATUS: ACTIVE if holds else EVENT,
            FIRST_RAISED: state.at[key, FIRST_RAISED] if known and not due or active else now,
            LAST_SENT: now if due else last_sent,
            LAST_SEEN: now,
            SUMMARY: row[SUMMARY],
            EVIDENCE: row[EVIDENCE],
            LINK: row[LINK],
        }
    seen = set(conditions[KEY]) | set(undecided)
    for key, row in state.iterrows():
        if row[STATUS] == ACTIVE and key not in seen and row[RULE] in RECOVERING:
            updated.at[key, STATUS] = CLEARED
            updated.at[key, LAST_SENT] = now
            messages.append(
                {
                    KEY: key,
                    RULE: row[RULE],
                    SUBJECT: row[SUBJECT],
                    SUMMARY: f"{row[SUBJECT]}: {RECOVERY[row[RULE]]}",
                    EVIDENCE: f"raised at {stamp(row[FIRST_RAISED])}, last seen at "
                    f"{stamp(row[LAST_SEEN])}: {row[SUMMARY]}",
                    ACTION: "nothing to do; check the cause was fixed",
                    LINK: row[LINK],
                    KIND: RECOVERED,
                }
            )
    sent = pd.DataFrame(messages, columns=[*CONDITION_COLUMNS, KIND])
    return sent, updated.reset_index(drop=True)[list(STATE_COLUMNS)]
