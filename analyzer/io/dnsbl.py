"""Live DNSBL status of our own outbound IPs, through dnspython.

A DNSBL answers ``A`` queries for ``<reversed ip>.<zone>``: NXDOMAIN means not listed, an
address in 127.0.0.0/8 means listed (the ``TXT`` record says why). Two answers are *not*
listings: ``127.255.255.x`` codes (Spamhaus's (query through a public/open resolver, or over
the free-use limit) and anything outside 127/8 (a hijacking resolver); both are ``error``.
A timeout or a resolver that does not answer is ``unknown``, never ``listed``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import dns.exception
import dns.nameserver
import dns.rcode
import dns.resolver
import pandas as pd

from analyzer.errors import ConfigError

LISTED, CLEAN, ERROR, UNKNOWN = "listed", "clean", "error", "unknown"
DNSBL_COLUMNS = ("ip", "zone", "dnsbl_status", "answer", "detail")
SPAMHAUS_ERRORS = {
    "127.255.255.252": "typo in the zone name",
    "127.255.255.254": "query through a public or open resolver",
    "127.255.255.255": "excessive number of queries",
}
DEFAULT_TIMEOUT = 3.0
PARALLEL = 8


def query_name(ip: str, zone: str) -> str:
    """``10.2.0.192.zen.spamhaus.org`` for 192.0.2.10; IPv6 as reversed nibbles."""
    address = ipaddress.ip_address(ip)
    suffix = ".in-addr.arpa" if address.version == 4 else ".ip6.arpa"
    return f"{address.reverse_pointer.removesuffix(suffix)}.{zone}"


def make_resolver(nameservers: Sequence[str], timeout: float) -> dns.resolver.Resolver:
    """The system resolver, or the configured ``IP`` / ``IP:PORT`` servers (``[v6]:PORT``)."""
    resolver = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        resolver.nameservers = [_nameserver(text) for text in nameservers]
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.cache = None
    return resolver


def _nameserver(text: str) -> dns.nameserver.Do53Nameserver:
    host, port = text, "53"
    if text.startswith("[") and "]:" in text:  # [2001:db8::53]:5353
        host, port = text[1:].split("]:", 1)
    elif text.count(":") == 1:  # 127.0.0.1:5353
        host, port = text.split(":", 1)
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = 0
    if not 0 < number < 65536:
        raise ConfigError(f"dnsbl.nameservers: {text!r} is not IP or IP:PORT")
    return dns.nameserver.Do53Nameserver(host, number)


def check_one(resolver: dns.resolver.Resolver, ip: str, zone: str) -> dict[str, str]:
    """One (ip, zone) lookup as a row of ``DNSBL_COLUMNS``."""
    row = {"ip": ip, "zone": zone, "dnsbl_status": UNKNOWN, "answer": "", "detail": ""}
    try:
        name = query_name(ip, zone)
    except ValueError:
        return row | {"dnsbl_status": ERROR, "detail": f"{ip!r} is not an IP address"}
    try:
        answers = sorted(r.address for r in resolver.resolve(name, "A"))
    except dns.resolver.NXDOMAIN:
        return row | {"dnsbl_status": CLEAN}
    except dns.resolver.NoAnswer:
        return row | {"dnsbl_status": CLEAN, "detail": "no A record"}
    except dns.exception.Timeout:
        return row | {"detail": f"no answer within {resolver.lifetime:g} s"}
    except dns.resolver.NoNameservers as exc:
        return row | {"detail": f"no name server answered ({_first_line(exc)})"}
    except dns.exception.DNSException as exc:
        return row | {"detail": _first_line(exc)}
    row["answer"] = ";".join(answers)
    errors = [
        SPAMHAUS_ERRORS.get(a, "127.255.255.x is an error code, not a listing")
        for a in answers
        if a.startswith("127.255.255.")
    ]
    outside = [a for a in answers if not a.startswith("127.")]
    if errors or outside:
        why = errors[0] if errors else "answer outside 127.0.0.0/8 (a rewriting resolver?)"
        return row | {"dnsbl_status": ERROR, "detail": why}
    row["dnsbl_status"] = LISTED
    try:
        texts = resolver.resolve(name, "TXT")
        row["detail"] = " ".join(
            b"".join(record.strings).decode("utf-8", "replace") for record in texts
        )
    except dns.exception.DNSException:
        row["detail"] = ""  # listed without a reason text: still listed
    return row


def check_dnsbl(
    ips: Sequence[str],
    zones: Sequence[str],
    nameservers: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> pd.DataFrame:
    """Every own IP against every zone, queried in parallel (one row each, sorted)."""
    pairs = [(ip, zone) for ip in dict.fromkeys(ips) for zone in dict.fromkeys(zones)]
    if not pairs:
        return pd.DataFrame(columns=list(DNSBL_COLUMNS))
    try:
        resolver = make_resolver(nameservers, timeout)
    except dns.resolver.NoResolverConfiguration:  # no /etc/resolv.conf: we cannot know
        rows = [
            {"ip": ip, "zone": zone, "dnsbl_status": UNKNOWN, "answer": "", "detail": "no resolver"}
            for ip, zone in pairs
        ]
        return pd.DataFrame(rows, columns=list(DNSBL_COLUMNS)).sort_values(["ip", "zone"])
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(pairs))) as pool:
        rows = list(pool.map(lambda pair: check_one(resolver, *pair), pairs))
    return pd.DataFrame(rows, columns=list(DNSBL_COLUMNS)).sort_values(["ip", "zone"])


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
