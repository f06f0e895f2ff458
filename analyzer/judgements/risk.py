"""Blacklist risk: which accounts endanger our reputation, and how close each own IP is to a
listing (the ``accounts`` and ``risk`` exports, docs/exports.md).

Pure functions over the analysis frames. Live DNSBL answers come in as a frame from
``analyzer.judgements.dnsbl`` (or an empty one with ``--no-dns``).

Account flags judge each login against its own history and the share of its own traffic, not
against fixed counts alone: a login used ten times as much (a shared office login, a busy
mailer, or the sample generator's ``--scale``) makes ten times the typos, roams through the
same networks every day and has weekends too, but is no more suspect for it.

Account ``risk_score`` (0-100), the sum of:
  * 35 ``cracked``: an address outside every customer network failed >= CRACK_FAILURES AUTHs
    in the CRACK_WINDOW before the account's *first* login from that address (a new address
    for it), and those failures are at least CRACK_FAILURE_SHARE of the account's AUTH
    traffic in that window (its own logins there plus them): a guessed password. The
    colleagues' typos on a roaming or NAT address the account shares are a small part of its
    own use; the failed username is not known for every server, so it is not used;
  * 25 ``volume_spike``: its busiest day sent >= SPIKE_FACTOR times its usual busy day (the
    SPIKE_BASELINE_QUANTILE of its other active days, at least SPIKE_BASELINE_DAYS of them,
    so quiet weekends do not pull the baseline down), and >= SPIKE_MIN_RECIPIENTS recipients;
  * 20 ``many_networks``: logins from >= SPREAD_ASNS ASNs on one day, SPREAD_NEW_ASNS of them
    never used by the account on an earlier day, after at least SPREAD_BASELINE_DAYS earlier
    active days (office, home and phone repeat; a password shared among a botnet brings
    several unknown networks at once);
  * 5 per ``new_networks`` ASN: first used after the account's first BASELINE_DAYS days and
    carrying >= NEW_ASN_SHARE of its logins (at most 15): not one stray login from a hotel;
  * ``blocklist_bounces``: 50 x its share of all remote refusals that blame a blocklist (at
    most 25): the account whose mail got us listed, not the colleagues refused after it. The
    flag needs a share of at least BLAME_SHARE.
Own-IP ``risk_score`` (0-100), the sum of:
  * 50 if a live DNSBL lists it, +10 per further zone (at most 60);
  * 1 per blocklist bounce attributed to it (at most 40);
  * 10 per high-risk account (score >= 50) that sent through its servers (at most 20);
  * 1 per open-relay session through its servers (at most 15): unauthenticated mail accepted
    for other domains from outside every customer network.
``level``: critical when listed or score >= 75, high >= 50, medium >= 20, else low.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import schema as s
from analyzer.judgements.asn import ASN, IP
from analyzer.judgements.blame import NAMED_IP, PROVIDER
from analyzer.judgements.rollups import (
    DATE,
    DELIVERIES,
    FIRST_START,
    LAST_START,
    OUTBOUND,
    SESSIONS,
    daily_logins,
)
from analyzer.sessions.messages import REFUSED_STATUSES

OWN_IP = "own_ip"

CRACK_FAILURES = 5
CRACK_WINDOW = pd.Timedelta(days=7)
CRACK_FAILURE_SHARE = 0.5  # failures / (failures + the account's own logins) in the window
SPIKE_FACTOR = 5
SPIKE_MIN_RECIPIENTS = 50
SPIKE_BASELINE_DAYS = 3
SPIKE_BASELINE_QUANTILE = 0.75  # a usual busy day, read as one real day ("lower")
SPREAD_ASNS = 4
SPREAD_NEW_ASNS = 3
SPREAD_BASELINE_DAYS = 3
BASELINE_DAYS = 7
NEW_ASN_SHARE = 0.1
BLAME_SHARE = 0.1  # of all blamed refusals that logins sent
HIGH_RISK = 50

ACCOUNT_COLUMNS = (
    s.SASL_USERNAME,
    s.CUSTOMER_ID,
    "sessions",
    "distinct_ips",
    "distinct_asns",
    s.MESSAGES,
    s.RECIPIENTS,
    "blocklist_bounces",
    "risk_score",
    "flags",
    "level",
    "failures_before_login",
    "new_asns",
    "max_asns_per_day",
    "peak_day",
    "peak_recipients",
    "baseline_recipients",
    "first_seen",
    "last_seen",
)
RISK_COLUMNS = (
    "ip",
    "blocklist_bounces",
    "listed_on",
    "risk_score",
    "level",
    "evidence",
    "servers",
    "deliveries",
    "refused",
    "providers",
    "risky_accounts",
    "open_relay_sessions",
    "dnsbl_clean",
    "dnsbl_errors",
    "dnsbl_unknown",
)


def assign_own_ip(
    frame: pd.DataFrame, server_ips: Mapping[str, str], own_ips: Sequence[str]
) -> pd.Series:
    """The own IP a delivery or session went out through: an IP the reply names, else the
    server's ``outbound_ip``, else the only own IP there is."""
    by_server = frame[s.SERVER].map(dict(server_ips)).astype("string")
    ip = frame[NAMED_IP].fillna(by_server) if NAMED_IP in frame else by_server
    if len(own_ips) == 1:
        ip = ip.fillna(own_ips[0])
    return ip.astype("string")


# What the account rules read of a session.
AUTH_COLUMNS = (
    s.SESSION_ID, s.START, s.SERVER, s.CLIENT_IP, s.SASL_USERNAME, s.CUSTOMER_ID, s.CLASS,
    s.AUTH_FAILURES,
)  # fmt: skip


def account_risk(
    sessions: pd.DataFrame, deliveries: pd.DataFrame, asns: pd.DataFrame, timezone: str
) -> pd.DataFrame:
    """One row per SASL login (``ACCOUNT_COLUMNS``), riskiest first: ``score_accounts`` of
    sessions in memory.

    Requires: classified sessions; deliveries from ``blame_blocklists`` with ``session_id``;
    ``asns`` with ``ip``/``asn`` for the login addresses (may be empty).
    """
    logins = sessions[is_login(sessions)]
    blamed = deliveries[deliveries[PROVIDER].notna().to_numpy()]
    known = logins[logins[s.CLIENT_IP].notna().to_numpy()][[s.SASL_USERNAME, s.START]]
    return score_accounts(
        daily_logins(sessions, timezone),
        failed_auth(sessions),
        lambda users: known[known[s.SASL_USERNAME].isin(users).to_numpy()],
        account_bounces(
            pa.Table.from_pandas(blamed[[s.SESSION_ID, s.RECIPIENT]], preserve_index=False),
            pa.Table.from_pandas(logins[[s.SESSION_ID, s.SASL_USERNAME]], preserve_index=False),
        ),
        asns,
    )


def is_login(sessions: pd.DataFrame) -> np.ndarray:
    """Authenticated sessions with a SASL username."""
    return (sessions[s.CLASS] == s.AUTHENTICATED).fillna(False).to_numpy(bool) & sessions[
        s.SASL_USERNAME
    ].notna().to_numpy()


def _guessing(sessions: pd.DataFrame) -> np.ndarray:
    """Sessions whose AUTH failures may have guessed a password: from outside every
    customer network."""
    return (
        (sessions[s.AUTH_FAILURES].fillna(0) > 0).to_numpy(dtype=bool)
        & sessions[s.CUSTOMER_ID].isna().to_numpy()
        & sessions[s.CLIENT_IP].notna().to_numpy()
    )


def failed_auth(sessions: pd.DataFrame) -> pd.DataFrame:
    """The sessions whose AUTH failures may have guessed a password: from outside every
    customer network (``client_ip``, ``start``, ``auth_failures``)."""
    return sessions[_guessing(sessions)][[s.CLIENT_IP, s.START, s.AUTH_FAILURES]]


def auth_sessions(
    sessions: pd.DataFrame, _timezone: str | None = None, by: Sequence[str] = ()
) -> pd.DataFrame:
    """The sessions the account rules read (``AUTH_COLUMNS``, and the ``by`` columns): the
    logins and the AUTH failures from outside every customer network. Kept as a table of its
    own (``auth``): a quarter of the sample's sessions, 8 of their columns, so judging
    accounts never scans them all."""
    kept = sessions[is_login(sessions) | _guessing(sessions)]
    return kept[[*AUTH_COLUMNS, *by]].reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class AccountBounces:
    """Refusals that blame a blocklist, per account that sent the mail, and in all."""

    per_account: pd.Series
    total: int


def account_bounces(blamed: pa.Table, owners: pa.Table) -> AccountBounces:
    """Refusals that blame a blocklist (``blamed``: ``session_id``, ``recipient`` of the
    deliveries ``blame_blocklists`` gave a provider), per login that sent the mail
    (``owners``: ``session_id``, ``sasl_username``). A recipient refused again on every retry
    counts once; refusals of mail that no login sent (inbound forwards, bounces) are no
    account's share. In Arrow: a big provider's history holds half a million of them."""
    text = pa.large_string()
    ids = owners.column(s.SESSION_ID).cast(text).combine_chunks()
    # As numbers: each refusal's login (a position in ``owners``) and recipient (a code),
    # so half a million refusals are matched and made unique without a table of pairs.
    login = pc.index_in(blamed.column(s.SESSION_ID).cast(text), value_set=ids)
    sent = login.is_valid()
    recipients = blamed.column(s.RECIPIENT).cast(text).filter(sent)
    distinct = pc.unique(recipients)
    recipient = pc.index_in(recipients, value_set=distinct)
    width = len(distinct) + 1
    keys = login.filter(sent).to_numpy().astype(np.int64) * width + recipient.to_numpy()
    pairs = pd.unique(keys)
    senders = owners.column(s.SASL_USERNAME).take(pa.array(pairs // width))
    counts = pc.value_counts(senders).flatten()
    per_account = pd.Series(
        counts[1].to_numpy(zero_copy_only=False),
        index=pd.Index(counts[0].to_pylist(), name=s.SASL_USERNAME),
        name="count",
        dtype=np.int64,
    )
    return AccountBounces(per_account, len(pairs))


def score_accounts(
    logins: pd.DataFrame,
    failed: pd.DataFrame,
    login_starts: Callable[[list[str]], pd.DataFrame],
    bounces: AccountBounces,
    asns: pd.DataFrame,
) -> pd.DataFrame:
    """One row per SASL login (``ACCOUNT_COLUMNS``), riskiest first.

    ``logins``: ``analyzer.judgements.rollups.daily_logins`` of the sessions judged; ``failed``:
    ``failed_auth`` of them (those from the logins' addresses suffice); ``login_starts``:
    accounts -> the ``sasl_username`` and ``start`` of their authenticated sessions with a
    client address (asked only for accounts with failures before a first login);
    ``bounces``: ``account_bounces``; ``asns``: ``ip``/``asn`` of the login addresses.
    """
    logins = logins[(logins[s.CLASS] == s.AUTHENTICATED).fillna(False).to_numpy()]
    if logins.empty:
        return pd.DataFrame(columns=list(ACCOUNT_COLUMNS))
    asn_of = asns.drop_duplicates(IP).set_index(IP)[ASN] if len(asns) else pd.Series(dtype="Int64")
    logins = logins.assign(
        _asn=logins[s.CLIENT_IP].map(asn_of).astype("Int64"), _day=logins[DATE].dt.date
    )
    user = s.SASL_USERNAME
    table = (
        logins.sort_values(FIRST_START, kind="stable")
        .groupby(user, sort=True)
        .agg(
            customer_id=(s.CUSTOMER_ID, "first"),
            sessions=(SESSIONS, "sum"),
            distinct_ips=(s.CLIENT_IP, "nunique"),
            distinct_asns=("_asn", "nunique"),
            messages=(s.MESSAGES, "sum"),
            recipients=(s.RECIPIENTS, "sum"),
            first_seen=(FIRST_START, "min"),
            last_seen=(LAST_START, "max"),
        )
    )
    counts = bounces.per_account.reindex(table.index, fill_value=0)
    table["blocklist_bounces"] = counts.astype(np.int64)
    cracking = _failures_before_login(failed, logins, login_starts)
    table["failures_before_login"] = cracking["failures"].reindex(table.index, fill_value=0)
    table["new_asns"] = _new_asns(logins).reindex(table.index, fill_value=0)
    per_day = logins.groupby([user, "_day"])["_asn"].nunique().groupby(level=0).max()
    table["max_asns_per_day"] = per_day.reindex(table.index, fill_value=0).astype(np.int64)
    table = table.join(_volume(logins))
    blame_share = table["blocklist_bounces"] / max(1, bounces.total)

    flags = {
        "cracked": cracking["cracked"].reindex(table.index, fill_value=False).astype(bool),
        # Against a baseline of at least SPIKE_BASELINE_DAYS other days: a new account's
        # first busy day, or a one-day view, is no spike.
        "volume_spike": (table["peak_recipients"] >= SPIKE_MIN_RECIPIENTS)
        & (table.pop("_baseline_days") >= SPIKE_BASELINE_DAYS)
        & (table["peak_recipients"] >= SPIKE_FACTOR * table["baseline_recipients"]),
        "many_networks": _unfamiliar_spread(logins).reindex(table.index, fill_value=False),
        "new_networks": table["new_asns"] > 0,
        "blocklist_bounces": blame_share >= BLAME_SHARE,
    }
    score = (
        35 * flags["cracked"]
        + 25 * flags["volume_spike"]
        + 20 * flags["many_networks"]
        + np.minimum(15, 5 * table["new_asns"])
        + np.minimum(25, 50 * blame_share).round()
    )
    table["risk_score"] = np.minimum(100, score).astype(np.int64)
    table["flags"] = _join_flags(flags, table.index)
    table["level"] = risk_level(table["risk_score"], pd.Series(False, index=table.index))
    table = table.reset_index().sort_values(
        ["risk_score", "recipients", user], ascending=[False, False, True], kind="stable"
    )
    return table[list(ACCOUNT_COLUMNS)].reset_index(drop=True)


def _failures_before_login(
    failed: pd.DataFrame,
    logins: pd.DataFrame,
    login_starts: Callable[[list[str]], pd.DataFrame],
) -> pd.DataFrame:
    """Per account: ``failures``, the most AUTH failures from one address in the CRACK_WINDOW
    before the account's first login from it (failures in that login's own session count
    too), and ``cracked``, whether for some address they reach CRACK_FAILURES and
    CRACK_FAILURE_SHARE of the account's AUTH traffic in that window.

    Failures from customer networks are left out (``failed_auth``): an office PC with an old
    password is not an attack. An address the account already used is no guessed password;
    and typos of the colleagues who share a roaming or NAT address grow with their use, as
    do the account's own logins beside them."""
    user = s.SASL_USERNAME
    known = logins[logins[s.CLIENT_IP].notna().to_numpy()]
    first = known.groupby([user, s.CLIENT_IP], sort=False)[FIRST_START].min()
    first = first.rename(s.START).reset_index()
    pairs = first.merge(failed, on=s.CLIENT_IP, suffixes=("", "_failed"))
    before = (pairs[f"{s.START}_failed"] <= pairs[s.START]) & (
        pairs[f"{s.START}_failed"] > pairs[s.START] - CRACK_WINDOW
    )
    per_address = (
        pairs[before.to_numpy()]
        .groupby([user, s.CLIENT_IP, s.START], as_index=False)[s.AUTH_FAILURES]
        .sum()
        .rename(columns={s.AUTH_FAILURES: "failures"})
    )
    if per_address.empty:
        return pd.DataFrame({"failures": pd.Series(dtype=np.int64), "cracked": False})
    starts = login_starts(sorted(per_address[user].unique()))
    same = {user: "string"}  # merge_asof wants one type of key on both sides
    own = _logins_in_window(
        starts[[user, s.START]].astype(same), per_address[[user, s.START]].astype(same)
    )
    failures = per_address["failures"].astype(np.int64)
    per_address = per_address.assign(
        failures=failures,
        cracked=(failures >= CRACK_FAILURES) & (failures >= CRACK_FAILURE_SHARE * (failures + own)),
    )
    return per_address.groupby(user).agg(failures=("failures", "max"), cracked=("cracked", "any"))


def _logins_in_window(logins: pd.DataFrame, at: pd.DataFrame) -> np.ndarray:
    """For each row of ``at`` (account, time): the account's logins in the CRACK_WINDOW
    before that time (the time itself left out)."""
    user = s.SASL_USERNAME
    counted = logins.sort_values(s.START, kind="stable").assign(
        _upto=lambda f: f.groupby(user).cumcount() + 1
    )
    probes = at.reset_index(drop=True).assign(
        _row=lambda f: np.arange(len(f)), _since=lambda f: f[s.START] - CRACK_WINDOW
    )

    def upto(on: str, exact: bool) -> pd.Series:
        found = pd.merge_asof(
            probes.sort_values(on, kind="stable"),
            counted[[user, s.START, "_upto"]].rename(columns={s.START: on}),
            on=on,
            by=user,
            allow_exact_matches=exact,
        )
        return found.set_index("_row")["_upto"].reindex(probes["_row"]).fillna(0)

    return (upto(s.START, False) - upto("_since", True)).to_numpy(dtype=np.int64)


def _new_asns(logins: pd.DataFrame) -> pd.Series:
    """Per account: ASNs first used more than BASELINE_DAYS after its first login that carry
    at least NEW_ASN_SHARE of its logins (of those with a known ASN)."""
    user = s.SASL_USERNAME
    known = logins.dropna(subset=["_asn"])
    if known.empty:
        return pd.Series(dtype=np.int64)
    first_login = known.groupby(user)[FIRST_START].transform("min")
    first_use = (
        known.assign(_since=first_login)
        .groupby([user, "_asn"])
        .agg(used=(FIRST_START, "min"), since=("_since", "first"), logins=(SESSIONS, "sum"))
    )
    total = known.groupby(user)[SESSIONS].sum()
    share = first_use["logins"] / total.reindex(first_use.index.get_level_values(0)).to_numpy()
    late = first_use["used"] > first_use["since"] + pd.Timedelta(days=BASELINE_DAYS)
    return (late & (share >= NEW_ASN_SHARE)).groupby(level=0).sum().astype(np.int64)


def _unfamiliar_spread(logins: pd.DataFrame) -> pd.Series:
    """Per account: whether on one day, after at least SPREAD_BASELINE_DAYS earlier active
    days, it logged in from at least SPREAD_ASNS ASNs, SPREAD_NEW_ASNS of them never used on
    an earlier day."""
    user = s.SASL_USERNAME
    known = logins.dropna(subset=["_asn"])
    if known.empty:
        return pd.Series(dtype=bool)
    days = known.groupby([user, "_day"])["_asn"].nunique().rename("asns").reset_index()
    days["earlier_days"] = days.groupby(user).cumcount()  # days come sorted per account
    first_day = known.groupby([user, "_asn"])["_day"].min().reset_index()
    new = first_day.groupby([user, "_day"]).size().rename("new_asns")
    days = days.join(new, on=[user, "_day"])
    hit = (
        (days["earlier_days"] >= SPREAD_BASELINE_DAYS)
        & (days["asns"] >= SPREAD_ASNS)
        & (days["new_asns"].fillna(0) >= SPREAD_NEW_ASNS)
    )
    return hit.groupby(days[user]).any()


def _volume(logins: pd.DataFrame) -> pd.DataFrame:
    """Per account: its busiest local day, that day's recipients, and its usual busy day:
    the SPIKE_BASELINE_QUANTILE of its other active days (0 when it has none)."""
    daily = logins.groupby([s.SASL_USERNAME, "_day"])[s.RECIPIENTS].sum().reset_index()
    daily = daily.sort_values(
        [s.SASL_USERNAME, s.RECIPIENTS, "_day"], ascending=[True, False, True]
    )
    peak = daily.groupby(s.SASL_USERNAME).head(1).set_index(s.SASL_USERNAME)
    rest = daily.drop(index=daily.groupby(s.SASL_USERNAME).head(1).index)
    baseline = rest.groupby(s.SASL_USERNAME)[s.RECIPIENTS].quantile(
        SPIKE_BASELINE_QUANTILE, interpolation="lower"
    )
    days = rest.groupby(s.SASL_USERNAME).size()
    return pd.DataFrame(
        {
            "peak_day": peak["_day"].astype(str),
            "peak_recipients": peak[s.RECIPIENTS].astype(np.int64),
            "baseline_recipients": baseline.reindex(peak.index).fillna(0).astype(float),
            "_baseline_days": days.reindex(peak.index, fill_value=0).astype(np.int64),
        }
    )


def _join_flags(flags: Mapping[str, pd.Series], index: pd.Index) -> pd.Series:
    named = pd.DataFrame(
        {name: np.where(hit, name, "") for name, hit in flags.items()}, index=index
    )
    return named.apply(lambda row: ";".join(v for v in row if v), axis=1).astype(str)


def risk_level(score: pd.Series, listed: pd.Series) -> pd.Series:
    levels = np.select(
        [
            listed.to_numpy(dtype=bool) | (score >= 75).to_numpy(),
            (score >= HIGH_RISK).to_numpy(),
            (score >= 20).to_numpy(),
        ],
        ["critical", "high", "medium"],
        default="low",
    )
    return pd.Series(levels, index=score.index)


def ip_risk(
    daily: pd.DataFrame,
    logins: pd.DataFrame,
    blames: pd.DataFrame,
    accounts: pd.DataFrame,
    dnsbl: pd.DataFrame,
    own_ips: Sequence[str],
    server_ips: Mapping[str, str],
    accepted: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per own outbound IP (``RISK_COLUMNS``), riskiest first.

    Requires: ``daily`` and ``logins``, the session and login rollups of the period
    (``analyzer.judgements.rollups``); ``blames``, the ``blame_rollup`` of its deliveries;
    ``accounts`` from ``score_accounts``; ``dnsbl`` from ``analyzer.judgements.dnsbl.check_dnsbl``
    (empty when DNS was not asked). ``accepted``: outbound deliveries the remote servers did
    not refuse, counted per server; then ``blames`` need hold only the refused ones (a
    store's rollups count the rest).
    """
    ips = list(dict.fromkeys(own_ips))
    table = pd.DataFrame(index=pd.Index(ips, name="ip"))
    outbound = blames[blames[OUTBOUND].to_numpy(dtype=bool)]
    outbound = outbound.assign(**{OWN_IP: assign_own_ip(outbound, server_ips, ips)})
    refused = outbound[s.STATUS].isin(REFUSED_STATUSES).fillna(False)
    table["deliveries"] = (
        outbound.groupby(OWN_IP)[DELIVERIES].sum().reindex(table.index, fill_value=0)
    )
    if accepted is not None and len(accepted):
        servers = pd.DataFrame(
            {s.SERVER: accepted.index.astype("string"), "n": accepted.to_numpy()}
        )
        per_ip = servers.groupby(assign_own_ip(servers, server_ips, ips).to_numpy())["n"].sum()
        table["deliveries"] += per_ip.reindex(table.index, fill_value=0).astype(np.int64)
    table["refused"] = outbound[refused.to_numpy()].groupby(OWN_IP)[DELIVERIES].sum()
    blamed = outbound[outbound[PROVIDER].notna().to_numpy()]
    table["blocklist_bounces"] = blamed.groupby(OWN_IP)[DELIVERIES].sum()
    table["providers"] = (
        blamed.groupby([OWN_IP, PROVIDER])[DELIVERIES]
        .sum()
        .reset_index(name="n")
        .sort_values([OWN_IP, "n", PROVIDER], ascending=[True, False, True])
        .assign(text=lambda f: f[PROVIDER] + ":" + f["n"].astype(str))
        .groupby(OWN_IP)["text"]
        .agg(";".join)
    )
    servers = pd.Series({srv: ip for srv, ip in server_ips.items() if ip in table.index})
    table["servers"] = (
        servers.rename_axis("server")
        .reset_index(name="ip")
        .groupby("ip")["server"]
        .agg(lambda names: ";".join(sorted(names)))
    )

    via = daily.assign(**{OWN_IP: assign_own_ip(daily, server_ips, ips)})
    open_relay = via[
        (via[s.CLASS] == s.UNAUTHENTICATED).fillna(False).to_numpy()
        & (via[s.REASON] == s.R_RELAY).fillna(False).to_numpy()
        & via[s.CUSTOMER_ID].isna().to_numpy()
    ]
    table["open_relay_sessions"] = open_relay.groupby(OWN_IP)[SESSIONS].sum()
    risky = accounts.loc[accounts["risk_score"] >= HIGH_RISK, s.SASL_USERNAME]
    logged = logins.assign(**{OWN_IP: assign_own_ip(logins, server_ips, ips)})
    risky_logins = logged[logged[s.SASL_USERNAME].isin(risky).fillna(False).to_numpy()]
    score_of = accounts.set_index(s.SASL_USERNAME)["risk_score"]
    table["risky_accounts"] = risky_logins.groupby(OWN_IP)[s.SASL_USERNAME].agg(
        lambda names: ";".join(f"{n} ({score_of[n]})" for n in sorted(set(names)))
    )
    table["_risky_count"] = risky_logins.groupby(OWN_IP)[s.SASL_USERNAME].nunique()

    dnsbl = dnsbl.reindex(columns=["ip", "zone", "dnsbl_status", "detail"]).drop_duplicates(
        ["ip", "zone"]
    )
    status = dnsbl.groupby(["ip", "dnsbl_status"])["zone"].agg(lambda z: ";".join(sorted(z)))
    status = status.unstack() if len(status) else pd.DataFrame(index=table.index)
    for column, state in (
        ("listed_on", "listed"),
        ("dnsbl_clean", "clean"),
        ("dnsbl_errors", "error"),
        ("dnsbl_unknown", "unknown"),
    ):
        table[column] = status[state] if state in status else pd.NA
    listed_count = dnsbl[dnsbl["dnsbl_status"] == "listed"].groupby("ip").size()
    table["_listed"] = listed_count.reindex(table.index, fill_value=0)

    counts = ["deliveries", "refused", "blocklist_bounces", "open_relay_sessions", "_risky_count"]
    table[counts] = table[counts].fillna(0).astype(np.int64)
    listed = table["_listed"] > 0
    score = (
        np.where(listed, np.minimum(60, 40 + 10 * table["_listed"]), 0)
        + np.minimum(40, table["blocklist_bounces"])
        + np.minimum(20, 10 * table["_risky_count"])
        + np.minimum(15, table["open_relay_sessions"])
    )
    table["risk_score"] = np.minimum(100, score).astype(np.int64)
    table["level"] = risk_level(table["risk_score"], listed)
    details = dnsbl.set_index(["ip", "zone"])["detail"]
    table["evidence"] = [
        _evidence(ip, row, details, asked=not dnsbl.empty)
        for ip, row in table.iterrows()  # one row per own IP: a handful
    ]
    table = table.reset_index().sort_values(["risk_score", "ip"], ascending=[False, True])
    return table[list(RISK_COLUMNS)].reset_index(drop=True)


def _evidence(ip: str, row: pd.Series, reasons: pd.Series, asked: bool) -> str:
    parts = []
    if isinstance(row["listed_on"], str):
        zones = row["listed_on"].split(";")
        texts = [reasons.get((ip, z)) for z in zones]
        why = [
            f"{z} ({text if isinstance(text, str) and text else 'no reason given'})"
            for z, text in zip(zones, texts, strict=True)
        ]
        parts.append("listed now on " + ", ".join(why))
    if row["blocklist_bounces"]:
        providers = str(row["providers"]).replace(":", " ").replace(";", ", ")
        parts.append(f"{row['blocklist_bounces']} remote refusals blame a blocklist ({providers})")
    if isinstance(row["risky_accounts"], str):
        parts.append(
            f"high-risk accounts sent through it: {row['risky_accounts'].replace(';', ', ')}"
        )
    if row["open_relay_sessions"]:
        parts.append(f"{row['open_relay_sessions']} sessions relayed for outsiders (open relay)")
    if isinstance(row["dnsbl_unknown"], str):
        zones = row["dnsbl_unknown"].split(";")
        texts = [reasons.get((ip, z)) for z in zones]
        why = [
            f"{z} ({text})" if isinstance(text, str) and text else z
            for z, text in zip(zones, texts, strict=True)
        ]
        parts.append("DNSBL status unknown for " + ", ".join(why))
    if isinstance(row["dnsbl_errors"], str):
        parts.append(f"DNSBL errors from {row['dnsbl_errors'].replace(';', ', ')}")
    if not asked:
        parts.append("live DNSBL status not checked (--no-dns)")
    elif isinstance(row["dnsbl_clean"], str) and not isinstance(row["listed_on"], str):
        parts.append(f"not listed on {row['dnsbl_clean'].replace(';', ', ')}")
    if not parts:
        return "No blocklist refusals, risky accounts or listings seen."
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."
