"""Live DNSBL status of our own outbound IPs, through dnspython.

A DNSBL answers ``A`` queries for ``<reversed ip>.<zone>``: NXDOMAIN means not listed, an
address in 127.0.0.0/8 means listed (the ``TXT`` record says why). Two answers are *not*
listings: ``127.255.255.x`` codes (Spamhaus's (query through a public/open resolver, or over
the free-use limit) and anything outside 127/8 (a hijacking resolver); both are ``error``.
A timeout or a resolver that does not answer is ``unknown``, never ``listed``.

Before a zone's answers are trusted, its RFC 5782 test entries are asked: 127.0.0.2 must be
listed and 127.0.0.1 must not. A zone that fails (the resolver answers nothing for it, the
list refuses the resolver, the list answers everything) gives ``unknown`` with the reason for
every address: a broken resolver must never read as a clean reputation.
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


# RFC 5782 section 5: every IPv4 DNSBL lists 127.0.0.2 and never 127.0.0.1.
TEST_LISTED, TEST_CLEAN = "127.0.0.2", "127.0.0.1"


def zone_problem(listed: dict[str, str], clean: dict[str, str]) -> str | None:
    """Why a zone's answers cannot be trusted, from its two test entries' rows (None: they
    can)."""
    if listed["dnsbl_status"] == UNKNOWN:
        return f"its test entry {TEST_LISTED} got no answer ({listed['detail']})"
    if listed["dnsbl_status"] == ERROR:
        return f"the list refuses this resolver ({listed['detail']})"
    if listed["dnsbl_status"] == CLEAN:
        return (
            f"its test entry {TEST_LISTED} is not listed: the resolver answers nothing for it "
            "(a broken or filtering resolver, or a retired list)"
        )
    if clean["dnsbl_status"] == LISTED:
        return (
            f"it lists even {TEST_CLEAN}: it answers everything (a wildcard or a hijacking "
            "resolver)"
        )
    return None


def check_dnsbl(
    ips: Sequence[str],
    zones: Sequence[str],
    nameservers: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> pd.DataFrame:
    """Every own IP against every zone, queried in parallel (one row each, sorted); a zone
    whose test entries fail (``zone_problem``) gives ``unknown`` rows saying why."""
    ips = list(dict.fromkeys(ips))
    zones = list(dict.fromkeys(zones))
    pairs = [(ip, zone) for ip in ips for zone in zones]
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
    tests = [(ip, zone) for zone in zones for ip in (TEST_LISTED, TEST_CLEAN)]
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(pairs) + len(tests))) as pool:
        found = list(pool.map(lambda pair: check_one(resolver, *pair), tests + pairs))
    answers = {(row["ip"], row["zone"]): row for row in found[: len(tests)]}
    problems = {
        zone: zone_problem(answers[TEST_LISTED, zone], answers[TEST_CLEAN, zone]) for zone in zones
    }
    rows = [
        row
        if problems[row["zone"]] is None or row["dnsbl_status"] == ERROR and not row["answer"]
        else row
        | {"dnsbl_status": UNKNOWN, "detail": f"zone not verified: {problems[row['zone']]}"}
        for row in found[len(tests) :]
    ]
    return pd.DataFrame(rows, columns=list(DNSBL_COLUMNS)).sort_values(["ip", "zone"])


def unverified_zones(dnsbl: pd.DataFrame) -> list[str]:
    """One line per zone whose answers were not trusted (from ``check_dnsbl``'s rows)."""
    failed = dnsbl[dnsbl["detail"].astype(str).str.startswith("zone not verified: ")]
    reasons = failed.drop_duplicates("zone").sort_values("zone")
    return [
        f"DNSBL {row.zone} not verified, its answers are not used (status unknown): "
        f"{row.detail.removeprefix('zone not verified: ')}"
        for row in reasons.itertuples(index=False)
    ]


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
