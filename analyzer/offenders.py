"""Who attacks the servers: spam-probe sources by IP, network and AS, and blocklists of them.

Customers' addresses and the provider's own outbound addresses are never offenders: an
unready customer refused after the date is a customer to call, not an attacker to block.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import numpy as np
import pandas as pd

from analyzer import schema as s
from analyzer.customers import CUSTOMER_IP, customer_networks, ip_halves

IP = "ip"
NETWORK = "network"
ASN = "asn"
AS_NAME = "as_name"
PROBE_SESSIONS = "probe_sessions"
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
    s.RELAY_DENIED,
    s.AUTH_FAILURES,
    FIRST_SEEN,
    LAST_SEEN,
    *PROBE_REASONS,
)
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
        prefix = PREFIX_V4 if address.version == 4 else PREFIX_V6
        nets.append(str(ipaddress.ip_network(f"{address}/{prefix}", strict=False)))
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


def summarize_offenders(probes: pd.DataFrame, asns: pd.DataFrame) -> pd.DataFrame:
    """One row per offending IP (``offenders`` in docs/exports.md), most probe sessions first.

    Args:
        probes: ``probe_sessions`` output.
        asns: ``ip``, ``asn``, ``as_name`` for (at least) the probes' addresses; may be empty.
    """
    grouped = probes.groupby(s.CLIENT_IP, sort=True)
    table = grouped.agg(
        probe_sessions=(s.SESSION_ID, "size"),
        relay_denied=(s.RELAY_DENIED, "sum"),
        auth_failures=(s.AUTH_FAILURES, "sum"),
        first_seen=(s.START, "min"),
        last_seen=(s.START, "max"),
    )
    reasons = pd.crosstab(probes[s.CLIENT_IP], probes[s.REASON]).reindex(
        columns=list(PROBE_REASONS), fill_value=0
    )
    table = table.join(reasons).fillna(0).rename_axis(IP).reset_index()
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
    counts = [PROBE_SESSIONS, s.RELAY_DENIED, s.AUTH_FAILURES, *PROBE_REASONS]
    table[counts] = table[counts].astype("int64")
    table = table.sort_values([PROBE_SESSIONS, IP], ascending=[False, True], kind="stable")
    return table[list(OFFENDER_COLUMNS)].reset_index(drop=True)


def roll_up(offenders: pd.DataFrame, by: str) -> pd.DataFrame:
    """Offenders per ``network`` or ``asn``: the key first, ``ips`` counted, counts summed."""
    if by == IP:
        return offenders
    key = NETWORK if by == NETWORK else ASN
    counts = [PROBE_SESSIONS, s.RELAY_DENIED, s.AUTH_FAILURES, *PROBE_REASONS]
    grouped = offenders.groupby(key, sort=True, dropna=True)
    table = grouped[counts].sum()
    table[IPS] = grouped[IP].nunique()
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
    return table[
        first
        + [PROBE_SESSIONS, s.RELAY_DENIED, s.AUTH_FAILURES, FIRST_SEEN, LAST_SEEN, *PROBE_REASONS]
    ].reset_index(drop=True)


# Never blocked, whatever their traffic: this host and its links (loopback, link-local,
# unspecified, multicast and reserved). RFC 1918 and IPv6 ULA ranges are blocked only when
# ``allow_private`` says so: there live monitoring, load balancers and the provider's own hosts.
NEVER_BLOCKED = (
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/3",
    "::/128",
    "::1/128",
    "fe80::/10",
    "ff00::/8",
)
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")


def canonical_address(text: object) -> str | None:
    """An address as Python writes it (IPv6 compressed, lower case; an IPv4-mapped IPv6 as
    its IPv4), or None when it is not one: every comparison and every file uses this form."""
    try:
        address = ipaddress.ip_address(str(text).strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def blocklist_entries(
    offenders: pd.DataFrame,
    customers: pd.DataFrame,
    own_ips: Iterable[str],
    min_sessions: int = 1,
    by: str = IP,
    never: Iterable[str] = (),
    allow_private: bool = False,
) -> pd.DataFrame:
    """What to block: ``entry`` (an address or CIDR), ``probe_sessions``.

    Never listed: a customer network, an own address, ``never`` (CIDRs: monitoring, load
    balancers), ``NEVER_BLOCKED`` and, unless ``allow_private``, ``PRIVATE`` ranges; addresses
    are compared as numbers (any IPv6 spelling, IPv4-mapped IPv6), and what is not an address
    is dropped. By network, a /24 (/48) is listed only if none of those overlaps it; its
    offenders are listed one by one otherwise.
    """
    listed = offenders[offenders[PROBE_SESSIONS] >= min_sessions]
    listed = listed.assign(**{IP: listed[IP].map(canonical_address).astype("string")})
    listed = listed[listed[IP].notna().to_numpy()]
    protected = _protected(customers, own_ips, never, allow_private)
    entries = listed.assign(entry=listed[IP])
    if by == NETWORK:
        networks = listed[NETWORK].dropna().unique()
        covered = {n for n in networks if _overlaps(n, protected)}
        safe = ~listed[NETWORK].isin(covered) & listed[NETWORK].notna()
        nets = listed[safe.to_numpy()].groupby(NETWORK, sort=True)[PROBE_SESSIONS].sum()
        singles = listed[~safe.to_numpy()]
        entries = pd.concat(
            [
                pd.DataFrame({"entry": nets.index, PROBE_SESSIONS: nets.to_numpy()}),
                singles.assign(entry=singles[IP])[["entry", PROBE_SESSIONS]],
            ],
            ignore_index=True,
        )
    entries = entries[["entry", PROBE_SESSIONS]].astype({"entry": "string"})
    keep = ~np.array([_overlaps(entry, protected) for entry in entries["entry"]], dtype=bool)
    return (
        entries[keep]
        .sort_values([PROBE_SESSIONS, "entry"], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )


def _protected(
    customers: pd.DataFrame, own_ips: Iterable[str], never: Iterable[str], allow_private: bool
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Every network no blocklist may touch."""
    texts = [
        *customer_networks(customers)[NETWORK],
        *(a for a in map(canonical_address, own_ips) if a),
        *never,
        *NEVER_BLOCKED,
        *(() if allow_private else PRIVATE),
    ]
    return [ipaddress.ip_network(text, strict=False) for text in texts]


def _overlaps(entry: str, protected: list) -> bool:
    """Whether an address or CIDR touches any protected network (compared as numbers, not
    enumerated: a customer's 2001:db8::/24 costs what a /64 does)."""
    network = ipaddress.ip_network(entry, strict=False)
    return any(network.version == p.version and network.overlaps(p) for p in protected)


def render_blocklist(entries: pd.DataFrame, fmt: str, comment: str) -> str:
    """Blocklist text: ``postfix`` (a cidr: table for check_client_access), ``nftables`` (a
    table with two interval sets and a drop rule for SMTP ports), or ``plain``."""
    items = entries["entry"].tolist()
    if fmt == "plain":
        return "".join(f"{item}\n" for item in items)
    if fmt == "postfix":
        head = (
            f"# {comment}\n# main.cf: smtpd_client_restrictions = "
            "check_client_access cidr:/etc/postfix/relaywatch_block.cidr, ...\n"
        )
        return head + "".join(
            f"{item if '/' in item else _host_cidr(item)}\tREJECT relaywatch: {n} spam-probe "
            f"sessions\n"
            for item, n in zip(items, entries[PROBE_SESSIONS], strict=True)
        )
    if fmt == "nftables":
        v4 = [i for i in items if ":" not in i]
        v6 = [i for i in items if ":" in i]

        def elements(values: list[str]) -> str:
            return f" elements = {{ {', '.join(values)} }};" if values else ""

        return (
            f"# {comment}\n# load with: nft -f FILE\n"
            "table inet relaywatch {\n"
            f"\tset offenders_v4 {{ type ipv4_addr; flags interval;{elements(v4)} }}\n"
            f"\tset offenders_v6 {{ type ipv6_addr; flags interval;{elements(v6)} }}\n"
            "\tchain input {\n"
            "\t\ttype filter hook input priority 0; policy accept;\n"
            "\t\ttcp dport { 25, 465, 587 } ip saddr @offenders_v4 drop\n"
            "\t\ttcp dport { 25, 465, 587 } ip6 saddr @offenders_v6 drop\n"
            "\t}\n}\n"
        )
    raise ValueError(f"unknown blocklist format {fmt!r}")


def _host_cidr(ip: str) -> str:
    return f"{ip}/128" if ":" in ip else f"{ip}/32"
