"""Which blocklist a remote refusal blames, and through which of our IPs: the replies of
refused deliveries read once (``blame_blocklists``), and counted per day (``blame_rollup``)
for the own-IP risk (``analyzer.judgements.risk``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import schema as s
from analyzer.judgements.rollups import DATE, DELIVERIES, OUTBOUND, combine_rows, local_date
from analyzer.reading.patterns import ReasonRule
from analyzer.reading.patterns.bounces import BLOCKLIST_BOUNCES, ZONE
from analyzer.sessions.messages import REFUSED_STATUSES, outbound_mask

PROVIDER = "blocklist_provider"
NAMED_IP = "named_ip"  # an own IP the reply text names
# What ``ip_risk`` counts deliveries by (``blame_rollup``).
BLAME_KEYS = (DATE, s.SERVER, NAMED_IP, PROVIDER, s.STATUS, OUTBOUND)


def _arrow(column: pd.Series) -> pa.Array:
    return pa.array(column.astype(str).to_numpy(dtype=object), pa.string())


def blame_blocklists(
    deliveries: pd.DataFrame,
    own_ips: Sequence[str],
    rules: Sequence[ReasonRule] = BLOCKLIST_BOUNCES,
) -> pd.DataFrame:
    """Add ``blocklist_provider`` (the first rule found in a deferred or bounced reply),
    ``dnsbl_zone`` (a list the reply names) and ``named_ip`` (an own IP the reply names).

    Rules see the remote server's words only: the "host mx.barracuda.example[ip] said:"
    part names the server, not a reason. A refusal by a domain list (Spamhaus DBL, URIBL,
    SURBL) is about a domain in the mail, not our IP, and is not blamed."""
    refused = deliveries[s.STATUS].isin(REFUSED_STATUSES).fillna(False).to_numpy()
    provider = pd.Series(pd.NA, index=deliveries.index, dtype="string")
    zone = pd.Series(pd.NA, index=deliveries.index, dtype="string")
    named = pd.Series(pd.NA, index=deliveries.index, dtype="string")
    if refused.any():
        text = pc.replace_substring_regex(
            _arrow(deliveries.loc[refused, s.REPLY].fillna("")), REMOTE_HOST, ""
        )
        chosen = pa.nulls(len(text), pa.string())
        for rule in rules:
            hit = pc.and_(chosen.is_null(), pc.match_substring_regex(text, rule.regex))
            chosen = pc.if_else(hit, pa.scalar(rule.kind, pa.string()), chosen)
        found = pc.utf8_lower(pc.struct_field(pc.extract_regex(text, ZONE), "dnsbl_zone"))
        domain_list = pc.fill_null(pc.match_substring_regex(found, DOMAIN_LISTS), False)
        chosen = pc.if_else(domain_list, pa.nulls(len(text), pa.string()), chosen)
        provider.loc[refused] = chosen.to_pandas().astype("string").to_numpy()
        zone.loc[refused] = found.to_pandas().astype("string").to_numpy()
        zone = zone.where(provider.notna())
        blamed = pc.is_valid(chosen)
        for ip in reversed(list(dict.fromkeys(own_ips))):  # the first configured IP wins
            hit = pc.and_(blamed, pc.match_substring_regex(text, _ip_in_text(ip)))
            named.loc[refused] = named.loc[refused].mask(hit.to_numpy(zero_copy_only=False), ip)
    return deliveries.assign(**{PROVIDER: provider, s.DNSBL_ZONE: zone, NAMED_IP: named})


# "host mx.example[203.0.113.9] said:", Exim's "host mx.example [203.0.113.9]:"
REMOTE_HOST = r"host [^ \[]+ ?\[[0-9A-Fa-f:.]+\](?::[0-9]+)?:?(?: said:| refused to talk to me:)?"
DOMAIN_LISTS = r"(?:^|\.)(?:dbl\.spamhaus\.org|[a-z0-9.-]*uribl\.[a-z.]+|[a-z0-9.-]*surbl\.org)$"


def _ip_in_text(ip: str) -> str:
    """An own IP as a whole address in a reply: 192.0.2.1 must not match in 192.0.2.10;
    IPv6 in any case, IPv4 also as ::ffff:-mapped."""
    escaped = re.escape(ip)
    return rf"(?i)(?:^|[^0-9a-f:.]|::ffff:){escaped}(?:$|[^0-9a-f:.]|[.:](?:[^0-9a-f]|$))"


def blame_rollup(
    blamed: pd.DataFrame, domains: frozenset[str], timezone: str, by: Sequence[str] = ()
) -> pd.DataFrame:
    """Deliveries (from ``blame_blocklists``) per local day, server, own IP the reply names,
    blocklist, status and whether they went to another domain (``outbound``):
    ``deliveries``. All ``ip_risk`` reads of them, whatever their number. ``by``: as in
    ``rollups.daily_sessions``."""
    keys = [*by, *(c for c in BLAME_KEYS if c not in (DATE, OUTBOUND))]
    frame = pd.DataFrame(
        {c: blamed[c].astype("string") for c in keys},
        index=blamed.index,
    ).assign(
        **{
            DATE: local_date(blamed[s.TS], timezone) if s.TS in blamed else pd.NaT,
            OUTBOUND: outbound_mask(blamed, domains),
            DELIVERIES: 1,
        }
    )
    return combine_rows(frame, [*by, *BLAME_KEYS], (DELIVERIES,), spans=False)


def combine_blames(parts: pd.DataFrame) -> pd.DataFrame:
    """Blame rollup rows of several parts -> one row per key."""
    return combine_rows(parts, BLAME_KEYS, (DELIVERIES,), spans=False)
