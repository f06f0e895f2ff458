"""The truth and the other side files: the classification rules, the rows of
truth/postfix_sessions.csv (from a finished World), truth/exim_sessions.csv and
truth/exim_units.csv (from a finished ExWorld), and customers.csv, ipasn.dat, asnames.json and
the demo relaywatch.toml.

Reads what story, postfix and exim built; writes CSV files with the columns generate.py uses.
"""

from __future__ import annotations

import csv
import ipaddress
import json
from datetime import datetime
from pathlib import Path

from .exim import EXIM, ExWorld
from .postfix import World
from .story import AS_NAMES, FILES, NET_OBJS, UTC, S, domain_of, file_index, visible


# ----------------------------------------------------------------------------- truth
def classify(tags, auth_ok, accepted, rcpt_domains, local_domains, customer_ip):
    """(class, reason) of a session from what its visible lines show (README rules)."""
    if auth_ok:
        return "authenticated", "submission"
    if "auth_fail" in tags:
        return "spam_probe", "auth_failure"
    if "relay_denied" in tags:
        return ("unauthenticated", "relay_denied") if customer_ip else ("spam_probe", "relay_probe")
    if "auth_unavail" in tags:
        return "unauthenticated", "auth_unavailable"
    if accepted:
        relay = any(d not in local_domains for d in rcpt_domains)
        return "unauthenticated", "relay" if relay else "inbound"
    for tag, reason in [
        ("rbl", "rbl"),
        ("content", "content"),
        ("dict", "dictionary"),
        ("policy", "policy"),
    ]:
        if tag in tags:
            return "spam_probe", reason
    return "spam_probe", "protocol" if "protocol" in tags else "scan"


def truth_rows(w: World, customers):
    nets = [(net, c.cid) for c in customers for net in c.networks]
    by_user = {u: c.cid for c in customers for u in c.users}
    by_dom = {d: c.cid for c in customers for d in c.domains}
    ip_cache: dict = {}

    def cust_ip(ip):
        if ip not in ip_cache:
            a = ipaddress.ip_address(ip)
            hits = [cid for net, cid in nets if a.version == net.version and a in net]
            ip_cache[ip] = hits[0] if hits else ""
        return ip_cache[ip]

    rows = []
    for s in w.sessions:
        vis = [ln for ln in s.lines if visible(ln[0])]
        tags = {ln[1] for ln in vis}
        if not vis or "pass" in tags:  # a postscreen connection that smtpd took over
            continue
        msgs = [ln[2] for ln in vis if ln[1] == "msg"]
        user = s.user if msgs else None  # SASL usernames appear on client= lines only
        stats_auth = any(ln[1] == "disconnect" and (ln[2] or {}).get("auth_ok") for ln in vis)
        doms = [domain_of(r) for m in msgs for ts, r in m.deliveries if visible(ts)]
        cid = (by_user.get(user) or by_dom.get(domain_of(user), "")) if user else ""
        cls, reason = classify(
            tags, bool(user) or stats_auth, bool(msgs), doms, w.local_domains, bool(cust_ip(s.ip))
        )
        start = vis[0][0]  # classic stamps have whole seconds, RFC 3339 ones microseconds
        classic = FILES[file_index(start)][1] == "classic"
        shown = start - start % S if classic else start
        iso = datetime.fromtimestamp(start // S, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        iso += ("" if classic else f".{start % S:06d}") + "+00:00"
        rows.append(
            dict(
                server=s.server,
                service=s.service,
                pid=s.proc.pid,
                start=iso,
                client_ip=s.ip,
                reason=reason,
                customer_id=cid or cust_ip(s.ip),
                sasl_username=user or "",
                messages=len(msgs),
                recipients=sum(m.nrcpt for m in msgs if visible(m.qmgr_ts)),
                cut=int(not {"connect", "disconnect"} <= tags),
                _ts=start,
                _key=(shown, s.server, s.proc.pid, start),
                _files=len({file_index(ln[0]) for ln in vis}),
                **{"class": cls},
            )
        )
    return sorted(rows, key=lambda r: r["_key"])


# ----------------------------------------------------------------------------- Exim truth
def exim_truth(x: ExWorld):
    """(mx3 session rows, mx4 unit rows), from the visible lines only."""
    nets = [(net, c.cid) for c in x.customers for net in c.networks]
    by_user = {u: c.cid for c in x.customers for u in c.users}
    by_dom = {d: c.cid for c in x.customers for d in c.domains}

    def cust_ip(ip):
        a = ipaddress.ip_address(ip)
        return next((cid for net, cid in nets if a.version == net.version and a in net), "")

    def cust_user(user):
        return (by_user.get(user) or by_dom.get(domain_of(user), "")) if user else ""

    def iso(ts):
        return datetime.fromtimestamp(ts // S, UTC).strftime("%Y-%m-%dT%H:%M:%S") + "+00:00"

    def seen(msg):  # the original recipients of a message's visible delivery lines
        return {r for ts, r in msg.deliveries if visible(ts)}

    for server in EXIM:  # index delivery lines by message
        for ts, _, _, _, extra in x.events[server]:
            if extra and extra[0] == "dlv":
                extra[1].deliveries.append((ts, extra[2]))

    sessions = []
    for s in x.conns["mx3"]:
        vis = [ln for ln in s.lines if visible(ln[0])]
        if not vis:
            continue
        tags = {ln[1] for ln in vis}
        msgs = [ln[2] for ln in vis if ln[1] == "msg"]
        shown = msgs or any(ln[1] == "nomail" and ln[2] for ln in vis)  # A= on `<=` or no MAIL
        user = s.user if shown and s.user else ""
        rcpts = [r for m in msgs for r in seen(m)]
        cip = cust_ip(s.ip)
        cls, reason = classify(
            tags, bool(user), bool(msgs), [domain_of(r) for r in rcpts], x.local, bool(cip)
        )
        own = [ln for ln in vis if ln[1] != "connect"]
        cut = not (visible(s.start) and s.close_ts is not None and visible(s.close_ts))
        sessions.append(
            dict(
                server="mx3",
                service="exim",
                pid=(s.proc.pid if own else x.daemon("mx3", s.start).pid),
                start=iso(vis[0][0]),
                client_ip=s.ip,
                reason=reason,
                customer_id=cust_user(user) or cip,
                sasl_username=user,
                messages=len(msgs),
                recipients=len(rcpts),
                cut=int(cut),
                period="before" if vis[0][0] < EXIM["mx3"]["enforce"] else "after",
                _ts=vis[0][0],
                **{"class": cls},
            )
        )
    sessions.sort(key=lambda r: (r["_ts"] // S, r["pid"], r["_ts"]))

    units, lines = [], {}
    for s in x.conns["mx4"]:
        for ts, tag, extra in s.lines:
            if visible(ts) and tag not in ("hostlookup", "connect", "nomail"):
                lines.setdefault(s.ip, []).append((ts, tag, extra, s))
    for ip, lns in lines.items():
        lns.sort(key=lambda ln: ln[0])
        cip, cluster, last = cust_ip(ip), [], None
        for ln in lns + [None]:
            if cluster and (ln is None or ln[1] == "msg" or ln[0] - last >= 60 * S):
                tags = {c[1] for c in cluster}
                cls, reason = classify(tags, False, False, [], x.local, bool(cip))
                rejected = {
                    c[2] for c in cluster if c[1] in ("relay_denied", "dict", "rbl") and c[2]
                }
                units.append(
                    dict(
                        kind="attempt",
                        message_id="",
                        ts=cluster[0][0],
                        client_ip=ip,
                        cls=cls,
                        reason=reason,
                        customer_id=cip,
                        user="",
                        recipients=len(rejected),
                    )
                )
                cluster = []
            if ln is None:
                break
            if ln[1] == "msg":
                msg, user = ln[2], ln[3].user or ""
                rcpts = seen(msg)
                cls, reason = classify(
                    set(), bool(user), True, [domain_of(r) for r in rcpts], x.local, bool(cip)
                )
                units.append(
                    dict(
                        kind="message",
                        message_id=msg.id,
                        ts=ln[0],
                        client_ip=ip,
                        cls=cls,
                        reason=reason,
                        customer_id=cust_user(user) or cip,
                        user=user,
                        recipients=len(rcpts),
                    )
                )
            else:
                cluster.append(ln)
            last = ln[0]
    units.sort(key=lambda u: (u["ts"], u["client_ip"], u["kind"]))
    unit_rows = [
        dict(
            server="mx4",
            kind=u["kind"],
            message_id=u["message_id"],
            ts=iso(u["ts"]),
            client_ip=u["client_ip"],
            reason=u["reason"],
            customer_id=u["customer_id"],
            sasl_username=u["user"],
            recipients=u["recipients"],
            period="before" if u["ts"] < EXIM["mx4"]["enforce"] else "after",
            _ts=u["ts"],
            **{"class": u["cls"]},
        )
        for u in units
    ]
    return sessions, unit_rows


UNIT_COLS = [
    "server",
    "kind",
    "message_id",
    "ts",
    "client_ip",
    "class",
    "reason",
    "customer_id",
    "sasl_username",
    "recipients",
    "period",
]


# ----------------------------------------------------------------------------- side files
def write_csv(path: Path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)


def write_static(out: Path, customers, postfix_only=False):
    """customers.csv, ipasn.dat (pyasn format), asnames.json and the demo relaywatch.toml."""
    rows = [
        [c.cid, c.name, ";".join(c.domains), ";".join(map(str, c.networks)), c.contact]
        for c in customers
    ]
    write_csv(
        out / "customers.csv", ["customer_id", "name", "domains", "networks", "contact_email"], rows
    )
    nets = sorted((n.version, n, row[1]) for n, row in NET_OBJS)
    head = [
        "; IP-ASN32-DAT file",
        "; Original source: relaywatch sample_logs/generate.py",
        "; fictional data: documentation and reserved address space only",
        f"; Prefixes-v4   : {sum(v == 4 for v, _, _ in nets)}",
        f"; Prefixes-v6   : {sum(v == 6 for v, _, _ in nets)}",
        ";",
    ]
    body = [f"{n}\t{asn}" for _, n, asn in nets]
    (out / "ipasn.dat").write_text("\n".join(head + body) + "\n")
    names = {str(asn): name for asn, name in sorted(AS_NAMES.items())}
    (out / "asnames.json").write_text(json.dumps(names, indent=2) + "\n")
    (out / "relaywatch.toml").write_text(TOML_POSTFIX if postfix_only else TOML)


TOML_POSTFIX = """\
# Demo configuration for the bundled sample data (paths are relative to this file).
logs = ["postfix/mail.log*"]
customers = "customers.csv"
asn_db = "ipasn.dat"
as_names = "asnames.json"
enforcement_date = "2003-11-21"
year = 2003
timezone = "America/New_York"
store = "store"
outbound_ips = ["192.0.2.10", "192.0.2.11"]
local_domains = ["provider.example"]

[servers.mail1]
outbound_ip = "192.0.2.10"

[servers.mail2]
outbound_ip = "192.0.2.11"

[dnsbl]
zones = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"]
nameservers = []

[mail]
host = "localhost"
port = 587
starttls = true
username = "reports@provider.example"
password_env = "RELAYWATCH_SMTP_PASSWORD"
from = "relaywatch@provider.example"
to = ["postmaster@provider.example"]
"""
# with the Exim servers: mx3 is named by its folder (exim4-mx3), mx4 by its [servers] entry
TOML = (
    TOML_POSTFIX.replace(
        'logs = ["postfix/mail.log*"]',
        'logs = ["postfix/mail.log*", "exim/exim4-mx3/mainlog*", "exim/exim-mx4.log"]',
    )
    .replace(
        'outbound_ips = ["192.0.2.10", "192.0.2.11"]',
        'outbound_ips = ["192.0.2.10", "192.0.2.11", "192.0.2.13", "192.0.2.14"]',
    )
    .replace(
        '[servers.mail2]\noutbound_ip = "192.0.2.11"\n',
        '[servers.mail2]\noutbound_ip = "192.0.2.11"\n\n'
        '[servers.mx3]\noutbound_ip = "192.0.2.13"\n\n'
        '[servers.mx4]\noutbound_ip = "192.0.2.14"\nenforcement_date = "2003-11-24"\n'
        'logs = ["exim/exim-mx4.log"]\n',
    )
)
SESSION_COLS = [
    "server",
    "service",
    "pid",
    "start",
    "client_ip",
    "class",
    "reason",
    "customer_id",
    "sasl_username",
    "messages",
    "recipients",
    "cut",
]
