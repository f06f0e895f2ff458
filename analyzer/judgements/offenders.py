"""Who attacks the servers: spam-probe sources by IP, network and AS, each weighed against
the mail it delivered (blocklists of them: ``analyzer.judgements.blocklist``).

Customers' addresses and the provider's own outbound addresses are never offenders: an
unready customer refused after the date is a customer to call, not an attacker to block.

A session is classed on what happened in it; a source is judged on all of its sessions in
the window. A big mailer's few sessions to a mistyped recipient (``dictionary``) or dropped
connections (``scan``) are spam-probe sessions, but the source is a ``mailer``: it delivered
accepted mail, and its probe sessions number fewer than ``probes_per_message`` times its
accepted messages. Every other probe source is a ``prober``. Only probers are blocklisted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import numpy as np
import pandas as pd

from analyzer import schema as s
from analyzer.judgements.customers import CUSTOMER_IP, ip_halves
from analyzer.judgements.rollups import FIRST_START, LAST_START, as_rollup_rows

IP = "ip"
NETWORK = "network"
ASN = "asn"
AS_NAME = "as_name"
PROBE_SESSIONS = "probe_sessions"
SESSIONS = "sessions"  # all sessions of the source in the window, probes or not
ACCEPTED_MESSAGES = "accepted_messages"  # messages accepted in its sessions that are no probe
JUDGEMENT = "judgement"
PROBER = "prober"  # only probes, or probes that outweigh its accepted mail: blocklisted
MAILER = "mailer"  # delivers accepted mail; its probe sessions are typos and drops
# A source that delivered accepted mail is a prober only when its probe sessions reach this
# many times its accepted messages ([blocklist] probes_per_message).
PROBES_PER_MESSAGE = 1.0
MAILERS = "mailers"  # a roll-up's sources judged mailer
FIRST_SEEN = "first_seen"
LAST_SEEN = "last_seen"
IPS = "ips"
PROBE_REASONS = s.REASONS[s.SPAM_PROBE]
OFFENDER_COLUMNS = (
    IP,
    NETWORK,
    ASN,
    AS_NAME,
    PROBE_SESSIONS,
    SESSIONS,
    ACCEPTED_MESSAGES,
    JUDGEMENT,
    s.RELAY_DENIED,
    s.AUTH_FAILURES,
    FIRST_SEEN,
    LAST_SEEN,
    *PROBE_REASONS,
)
COUNTS = [PROBE_SESSIONS, SESSIONS, ACCEPTED_MESSAGES, s.RELAY_DENIED, s.AUTH_FAILURES]
COUNTS += PROBE_REASONS
BY = (IP, NETWORK, ASN)
# IPv4 offenders roll up to /24s, IPv6 ones to /48s (one site's usual allocation).
PREFIX_V4, PREFIX_V6 = 24, 48


def network_of(ips: pd.Series) -> pd.Series:
    """``100.64.3.4`` -> ``100.64.3.0/24``, ``2001:db8:1:2::5`` -> ``2001:db8:1::/48``."""
    codes, uniques = pd.factorize(ips)
    nets = []
    for text in uniques:
        try:
            address = ipaddress.ip_address(str(text))
        except ValueError:
            nets.append(None)
            continue
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        # masked as an integer: twice as fast as building an ip_network from text
        if address.version == 4:
            network = ipaddress.IPv4Address(int(address) >> 32 - PREFIX_V4 << 32 - PREFIX_V4)
            nets.append(f"{network}/{PREFIX_V4}")
        else:
            network = ipaddress.IPv6Address(int(address) >> 128 - PREFIX_V6 << 128 - PREFIX_V6)
            nets.append(f"{network}/{PREFIX_V6}")
    values = np.array([*nets, None], dtype=object)
    return pd.Series(values[codes], index=ips.index, dtype="string")


def probe_sessions(sessions: pd.DataFrame, own_ips: Iterable[str] = ()) -> pd.DataFrame:
    """Spam-probe sessions from outside: no customer network, not our own addresses.

    Requires: ``class``, ``client_ip``, ``customer_ip``.
    """
    probes = sessions[(sessions[s.CLASS] == s.SPAM_PROBE).to_numpy()]
    outside = ~probes[CUSTOMER_IP].astype(bool) & ~probes[s.CLIENT_IP].isin(set(own_ips))
    valid = ip_halves(probes[s.CLIENT_IP])[0]
    return probes[outside.to_numpy() & valid]


def source_traffic(sessions: pd.DataFrame, ips: Iterable[str] | None = None) -> pd.DataFrame:
    """Per client address (of ``ips``, or every one): ``sessions`` and ``accepted_messages``
    (messages accepted in its sessions that are no spam probe: inbound mail, relays,
    submissions). Indexed by the address as the sessions write it. ``sessions`` may be
    rows of ``analyzer.judgements.rollups.daily_sources`` (then each counts its ``sessions``)."""
    frame = as_rollup_rows(sessions)[[s.CLIENT_IP, s.CLASS, s.MESSAGES, SESSIONS]]
    if ips is not None:
        frame = frame[frame[s.CLIENT_IP].isin(pd.Index(ips)).to_numpy()]
    good = (frame[s.CLASS] != s.SPAM_PROBE).fillna(False).to_numpy()
    accepted = frame[s.MESSAGES].fillna(0).to_numpy(dtype=np.int64) * good
    table = (
        frame.assign(**{ACCEPTED_MESSAGES: accepted})
        .groupby(s.CLIENT_IP, sort=True)
        .agg(**{SESSIONS: (SESSIONS, "sum"), ACCEPTED_MESSAGES: (ACCEPTED_MESSAGES, "sum")})
    )
    return table.astype(np.int64)


def judge(
    probes: pd.Series, accepted: pd.Series, probes_per_message: float = PROBES_PER_MESSAGE
) -> pd.Series:
    """``mailer`` where a source delivered accepted mail and its probe sessions stay under
    ``probes_per_message`` times its accepted messages; ``prober`` otherwise."""
    mailer = (accepted > 0) & (probes < probes_per_message * accepted)
    return pd.Series(np.where(mailer, MAILER, PROBER), index=probes.index, dtype="string")


def summarize_offenders(
    probes: pd.DataFrame,
    asns: pd.DataFrame,
    sessions: pd.DataFrame,
    probes_per_message: float = PROBES_PER_MESSAGE,
) -> pd.DataFrame:
    """One row per offending IP (``offenders`` in docs/exports.md), most probe sessions first,
    each with all of its traffic in the window and its ``judgement``.

    Args:
        probes: ``probe_sessions`` output (of sessions, or of source rollup rows).
        asns: ``ip``, ``asn``, ``as_name`` for (at least) the probes' addresses; may be empty.
        sessions: the window's sessions (or source rollup rows) the probes were taken from
            (their accepted mail).
    """
    probes = as_rollup_rows(probes)
    grouped = probes.groupby(s.CLIENT_IP, sort=True)
    table = grouped.agg(
        probe_sessions=(SESSIONS, "sum"),
        relay_denied=(s.RELAY_DENIED, "sum"),
        auth_failures=(s.AUTH_FAILURES, "sum"),
        first_seen=(FIRST_START, "min"),
        last_seen=(LAST_START, "max"),
    )
    reasons = (
        probes.groupby([s.CLIENT_IP, s.REASON])[SESSIONS]
        .sum()
        .unstack(s.REASON, fill_value=0)
        .reindex(columns=list(PROBE_REASONS), fill_value=0)
    )
    table = table.join(reasons).fillna(0)
    traffic = source_traffic(sessions, table.index)
    table = table.join(traffic).fillna({SESSIONS: 0, ACCEPTED_MESSAGES: 0})
    table[JUDGEMENT] = judge(table[PROBE_SESSIONS], table[ACCEPTED_MESSAGES], probes_per_message)
    table = table.rename_axis(IP).reset_index()
    table[NETWORK] = network_of(table[IP])
    looked_up = asns.drop_duplicates(IP).set_index(IP) if len(asns) else None
    table[ASN] = (
        looked_up[ASN].reindex(table[IP]).to_numpy()
        if looked_up is not None
        else pd.array([pd.NA] * len(table), dtype="Int64")
    )
    table[ASN] = pd.array(table[ASN], dtype="Int64")
    table[AS_NAME] = (
        looked_up[AS_NAME].reindex(table[IP]).to_numpy() if looked_up is not None else None
    )
    table[AS_NAME] = table[AS_NAME].astype("string")
    table[COUNTS] = table[COUNTS].astype("int64")
    table = table.sort_values([PROBE_SESSIONS, IP], ascending=[False, True], kind="stable")
    return table[list(OFFENDER_COLUMNS)].reset_index(drop=True)


def roll_up(offenders: pd.DataFrame, by: str) -> pd.DataFrame:
    """Offenders per ``network`` or ``asn``: the key first, ``ips`` counted, counts summed."""
    if by == IP:
        return offenders
    key = NETWORK if by == NETWORK else ASN
    grouped = offenders.assign(_mailer=offenders[JUDGEMENT] == MAILER).groupby(
        key, sort=True, dropna=True
    )
    table = grouped[COUNTS].sum()
    table[IPS] = grouped[IP].nunique()
    table[MAILERS] = grouped["_mailer"].sum().astype("int64")
    table[FIRST_SEEN] = grouped[FIRST_SEEN].min()
    table[LAST_SEEN] = grouped[LAST_SEEN].max()
    names = grouped[AS_NAME].first()
    if by == NETWORK:
        # a /24 lies in one AS in practice: name its most frequent one
        table[ASN] = grouped[ASN].agg(lambda v: v.mode().iloc[0] if v.notna().any() else pd.NA)
        table[ASN] = table[ASN].astype("Int64")
    table[AS_NAME] = names
    if by == ASN:
        table[NETWORK + "s"] = grouped[NETWORK].nunique()
    table = table.reset_index().sort_values(
        [PROBE_SESSIONS, key], ascending=[False, True], kind="stable"
    )
    first = [key, *(c for c in (ASN, AS_NAME, NETWORK + "s") if c in table and c != key), IPS]
    middle = [PROBE_SESSIONS, SESSIONS, ACCEPTED_MESSAGES, MAILERS, s.RELAY_DENIED]
    last = [s.AUTH_FAILURES, FIRST_SEEN, LAST_SEEN, *PROBE_REASONS]
    return table[first + middle + last].reset_index(drop=True)
