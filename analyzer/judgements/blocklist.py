"""What to block: the probers among the offenders (``analyzer.judgements.offenders``), as a Postfix
``cidr:`` table, an nftables set or a plain list, each entry after a comment with its evidence.

Never listed, whatever their traffic: a customer network, an own address, a mailer (a source
that delivered accepted mail, judged in ``analyzer.judgements.offenders``), ``[blocklist]
never``, this
host and its links (``NEVER_BLOCKED``) and, unless ``[blocklist] private``, RFC 1918 and ULA
ranges. Addresses are compared as numbers, and only valid addresses and CIDRs are written, so
no text from a log line can break a file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import numpy as np
import pandas as pd

from analyzer import schema as s
from analyzer.judgements.customers import customer_networks
from analyzer.judgements.offenders import (
    ACCEPTED_MESSAGES,
    FIRST_SEEN,
    IP,
    JUDGEMENT,
    LAST_SEEN,
    NETWORK,
    PROBE_REASONS,
    PROBE_SESSIONS,
    PROBER,
    SESSIONS,
    network_of,
)

ENTRY = "entry"
ADDRESSES = "addresses"  # offending addresses an entry covers (1 for an address)
EVIDENCE = "evidence"
ENTRY_COUNTS = [PROBE_SESSIONS, SESSIONS, ACCEPTED_MESSAGES, *PROBE_REASONS]
ENTRY_COLUMNS = (ENTRY, *ENTRY_COUNTS, ADDRESSES, FIRST_SEEN, LAST_SEEN, EVIDENCE)

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


def mail_networks(traffic: pd.DataFrame) -> set[str]:
    """The /24s and /48s holding a source that delivered accepted mail (``source_traffic``
    output): by network, such a network is never blocked whole."""
    delivering = traffic.index[traffic[ACCEPTED_MESSAGES].to_numpy() > 0]
    return set(network_of(pd.Series(delivering, dtype=object)).dropna())


def blocklist_entries(
    offenders: pd.DataFrame,
    customers: pd.DataFrame,
    own_ips: Iterable[str],
    min_sessions: int = 1,
    by: str = IP,
    never: Iterable[str] = (),
    allow_private: bool = False,
    delivering_networks: Iterable[str] = (),
) -> pd.DataFrame:
    """What to block (``ENTRY_COLUMNS``): probers with at least ``min_sessions`` probe
    sessions, most sessions first, each with its evidence.

    By network, a /24 (/48) is listed whole only if no protected range overlaps it and no
    source in it delivered accepted mail (``delivering_networks``); its probers are listed
    one by one otherwise.
    """
    s.require_columns(offenders, [IP, NETWORK, JUDGEMENT, *ENTRY_COUNTS], "blocklist")
    listed = offenders[
        (offenders[PROBE_SESSIONS] >= min_sessions).to_numpy()
        & (offenders[JUDGEMENT] == PROBER).fillna(False).to_numpy()
    ]
    listed = listed.assign(**{IP: listed[IP].map(canonical_address).astype("string")})
    listed = listed[listed[IP].notna().to_numpy()]
    protected = _protected(customers, own_ips, never, allow_private)
    key = pd.Series(listed[IP].to_numpy(), index=listed.index, dtype="string")
    if by == NETWORK:
        networks = listed[NETWORK].dropna().unique()
        covered = {n for n in networks if _overlaps(n, protected)} | set(delivering_networks)
        whole = listed[NETWORK].notna() & ~listed[NETWORK].isin(covered)
        key = key.where(~whole, listed[NETWORK])
    grouped = listed.assign(**{ENTRY: key}).groupby(ENTRY, sort=False)
    entries = grouped[ENTRY_COUNTS].sum()
    entries[ADDRESSES] = grouped[IP].nunique()
    entries[FIRST_SEEN] = grouped[FIRST_SEEN].min()
    entries[LAST_SEEN] = grouped[LAST_SEEN].max()
    entries = entries.reset_index()
    keep = ~np.array([_overlaps(e, protected) for e in entries[ENTRY]], dtype=bool)
    entries = entries[keep].astype({ENTRY: "string"})
    entries[EVIDENCE] = [evidence(row) for row in entries.itertuples(index=False)]
    return (
        entries.sort_values([PROBE_SESSIONS, ENTRY], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
        .loc[:, list(ENTRY_COLUMNS)]
    )


def evidence(row: tuple) -> str:
    """Why an entry is listed, from counts and times only (no text a client wrote):
    ``12 of 12 sessions spam probes (dictionary 9, scan 3); 0 accepted messages;
    seen 2003-11-20T09:00:00Z to 2003-11-22T17:45:10Z``."""
    values = row._asdict()
    reasons = ", ".join(f"{r} {values[r]}" for r in PROBE_REASONS if values[r])
    text = (
        f"{values[PROBE_SESSIONS]} of {values[SESSIONS]} sessions spam probes ({reasons}); "
        f"{values[ACCEPTED_MESSAGES]} accepted messages; "
        f"seen {_utc(values[FIRST_SEEN])} to {_utc(values[LAST_SEEN])}"
    )
    if values[ADDRESSES] > 1:
        text += f"; {values[ADDRESSES]} addresses"
    return text


def _utc(stamp: object) -> str:
    if stamp is None or pd.isna(stamp):
        return "?"
    return pd.Timestamp(stamp).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


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
    table with two interval sets and a drop rule for SMTP ports), or ``plain`` (one entry a
    line). In each, every entry follows a ``#`` line with its evidence."""
    items = entries[ENTRY].tolist()
    notes = entries[EVIDENCE].tolist()
    if fmt == "plain":
        return "".join(f"# {note}\n{item}\n" for item, note in zip(items, notes, strict=True))
    if fmt == "postfix":
        head = (
            f"# {comment}\n# main.cf: smtpd_client_restrictions = "
            "check_client_access cidr:/etc/postfix/relaywatch_block.cidr, ...\n"
        )
        return head + "".join(
            f"# {note}\n{item if '/' in item else _host_cidr(item)}\tREJECT relaywatch: "
            f"{n} spam-probe sessions\n"
            for item, note, n in zip(items, notes, entries[PROBE_SESSIONS], strict=True)
        )
    if fmt == "nftables":

        def elements(version: int) -> str:
            chosen = [
                (item, note)
                for item, note in zip(items, notes, strict=True)
                if (":" in item) == (version == 6)
            ]
            if not chosen:
                return ""
            lines = "".join(f"\t\t\t# {note}\n\t\t\t{item},\n" for item, note in chosen)
            return f"\t\telements = {{\n{lines}\t\t}}\n"

        return (
            f"# {comment}\n# load with: nft -f FILE\n"
            "table inet relaywatch {\n"
            f"\tset offenders_v4 {{\n\t\ttype ipv4_addr; flags interval;\n{elements(4)}\t}}\n"
            f"\tset offenders_v6 {{\n\t\ttype ipv6_addr; flags interval;\n{elements(6)}\t}}\n"
            "\tchain input {\n"
            "\t\ttype filter hook input priority 0; policy accept;\n"
            "\t\ttcp dport { 25, 465, 587 } ip saddr @offenders_v4 drop\n"
            "\t\ttcp dport { 25, 465, 587 } ip6 saddr @offenders_v6 drop\n"
            "\t}\n}\n"
        )
    raise ValueError(f"unknown blocklist format {fmt!r}")


def _host_cidr(ip: str) -> str:
    return f"{ip}/128" if ":" in ip else f"{ip}/32"
