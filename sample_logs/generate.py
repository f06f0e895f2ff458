#!/usr/bin/env python3
"""Deterministic sample-data generator for relaywatch (standard library only).

The story
---------
provider.example runs two Postfix servers behind one MX and smarthost name:

* mail1 (192.0.2.10, Postfix 3.7): long queue ids, `disconnect from` lines with command
  statistics, failed-AUTH warnings ending in `, sasl_username=...`, local delivery by
  `postfix/virtual`.
* mail2 (192.0.2.11, Postfix 2.11): short hex queue ids, plain `disconnect from`, postscreen
  in front of its port-25 smtpd, local delivery by `postfix/lmtp` (Dovecot).

Both run `postfix/submission/smtpd` on port 587. From Friday 2003-11-21 00:00
America/New_York the provider relays only for SMTP AUTH: customers' office networks
lose relay-by-IP. Four weeks of central-syslog logs are written (Nov 7 06:25 .. Dec 5
06:25, rotated weekly at 06:25): two gzip files with classic stamps, two plain files with
RFC 3339 stamps.

Forty fictional customers follow scenarios (ready_early, always_auth, late_fixer,
never_fixer, mixed_device, inactive_*, cracked_account). Around them: inbound mail, an
AUTH-backend outage, brute force, relay/RBL/dictionary/policy/protocol/scan probes, and a
phished account (sales@bluebird-travel.example, Nov 25 evening, ~36 h) whose spam gets
both outbound IPs blocklisted. truth/ holds the expected classification of every session.

Two Exim servers of an acquired ISP log the same four weeks: mx3 (Exim 4.96, +pid
+smtp_connection and friends, rotated like the Postfix set) and mx4 (Exim 4.97, default log
selectors with log_timezone, one file, enforcement from 2003-11-24). Eight customers also send
through them. Their truth: truth/exim_sessions.csv (mx3 connections), truth/exim_units.csv (mx4
messages and refused-attempt clusters), truth/customers_all.csv (readiness counts with them).

All randomness comes from named streams of --seed, so runs are byte-for-byte repeatable;
--scale multiplies the traffic (not the customers).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import gzip
import heapq
import ipaddress
import json
import math
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

S = 1_000_000  # timestamps are integer microseconds since the epoch
HOUR, DAY = 3600 * S, 86400 * S
TZ, UTC = ZoneInfo("America/New_York"), ZoneInfo("UTC")


def at(*a: int) -> int:
    """Local (America/New_York) wall-clock time in microseconds since the epoch."""
    return int(datetime(*a, tzinfo=TZ).timestamp()) * S


def table(text: str) -> list[list[str]]:
    """Rows of a `|`-separated text table, padded with empty cells to equal length."""
    rows = [[c.strip() for c in ln.split("|")] for ln in text.strip().splitlines()]
    width = max(map(len, rows))
    return [r + [""] * (width - len(r)) for r in rows]


FILE_START = at(2003, 11, 7, 6, 25)
BOUNDS = [FILE_START + i * 7 * DAY for i in range(5)]  # rotations Nov 14, 21, 28; end Dec 5
FILE_END = BOUNDS[-1]
SIM_START, SIM_END = FILE_START - HOUR, FILE_END + HOUR  # lines outside the files are dropped
FILES = [("mail.log.3.gz", "classic"), ("mail.log.2.gz", "classic")]
FILES += [("mail.log.1", "rfc3339"), ("mail.log", "rfc3339")]
ENFORCE = at(2003, 11, 21)
HOLIDAYS = {(11, 27), (11, 28)}  # Thanksgiving and the day after: weekend-like traffic
OUTAGE = (at(2003, 11, 26, 14, 5), at(2003, 11, 26, 14, 50))  # the SASL backend is down
CRACK_START = at(2003, 11, 25, 19, 40)
CRACK_LOCK = CRACK_START + 36 * HOUR  # the admins lock the phished account ...
PURGE = CRACK_LOCK + 20 * 60 * S  # ... and delete its spam from both queues
CRACKED_USER = "sales@bluebird-travel.example"
LOCAL = "provider.example"

# fmt: off
# name | IPv4 | IPv6 | Postfix | local delivery | master restart (local time) | first pid
SERVERS = {
    r[0]: dict(ip=r[1], ip6=r[2], v3=r[3] > "3", version=r[3], local=r[4], pid0=int(r[6]),
               restart=at(*map(int, r[5].split())))
    for r in table("""
mail1 | 192.0.2.10 | 2001:db8::10 | 3.7.11 | postfix/virtual | 2003 11 16 4 2 11 | 2210
mail2 | 192.0.2.11 | 2001:db8::11 | 2.11.3 | postfix/lmtp    | 2003 11 30 4 2 37 | 17344
""")
}
# prefix | ASN | role | reverse DNS of its hosts ({ip}: a-b-c-d, {cd}: c-d; empty: no PTR)
NETWORKS = [(p, int(a), r, d) for p, a, r, d in table("""
192.0.2.0/24      | 64496      | provider   |
198.18.0.0/16     | 64496      | customer   |
198.19.0.0/16     | 64509      | customer   |
198.51.100.0/24   | 64497      | mx         |
203.0.113.0/24    | 64498      | mx         |
100.64.0.0/16     | 64500      | roam       | dsl-{ip}.broadband.example
100.65.0.0/16     | 64501      | roam       | guest-{cd}.hotelnet.example
100.66.0.0/16     | 64502      | roam       | {ip}.cable.example
100.67.0.0/16     | 64503      | roam       | wifi-{cd}.airspot.example
100.68.0.0/16     | 65020      | bruteforce |
100.69.0.0/16     | 65021      | relay      | vps{cd}.cheapvps.example
100.70.0.0/15     | 65030      | zombie     | adsl-{ip}.dyn.telekom.example
100.72.0.0/15     | 65031      | zombie     |
100.74.0.0/16     | 4200000001 | crack      | mob-{cd}.gprs.mobile-eu.example
100.75.0.0/16     | 4200000002 | crack      |
100.76.0.0/14     | 65100      | zombie     | host-{ip}.pool.bigisp.example
100.80.0.0/13     | 65200      | zombie     |
100.88.0.0/14     | 64510      | zombie     | cpe-{ip}.cablenet.example
100.92.0.0/14     | 64511      | scan       | scanner-{cd}.research.example
100.96.0.0/12     | 65300      | zombie     |
100.112.0.0/12    | 65400      | crack      | ppp-{ip}.globaldsl.example
2001:db8::/32     | 64496      | provider6  |
2001:db8:bad::/48 | 65021      | attack6    |
""")]
AS_NAMES = {int(a): n for a, n in table("""
64496      | PROVIDER-EXAMPLE - Provider Example Networks, US
64497      | MAILHOST-NET - Remote mail hosts (doc range 2), US
64498      | WEBHOST-NET - Remote mail hosts (doc range 3), US
64500      | EXAMPLE-BROADBAND - Example Broadband Inc., US
64501      | HOTELNET - Hotel Networks LLC, US
64502      | CABLECO - Example Cable Co., US
64503      | AIRSPOT - Airspot Wireless Hotspots, CA
64509      | METROFIBER - Metro Fiber Business Access, US
64510      | CABLENET-KR - Cablenet Korea, KR
64511      | SCANRESEARCH - Internet Scan Research, US
65020      | OFFSHORE-HOSTING - Offshore Hosting Ltd., SC
65021      | CHEAPVPS - Cheap VPS B.V., NL
65030      | TELEKOM-EXAMPLE - Example Telekom AG, DE
65031      | NETSTAR-BR - Netstar Telecom, BR
65100      | BIGISP - Big Residential ISP, US
65200      | DRAGONNET - Dragon Net Communications, CN
65300      | ANDESNET - Andes Net S.A., PE
65400      | GLOBALDSL - Global DSL Wholesale, RU
4200000001 | MOBILE-EU - Example Mobile Europe, RO
4200000002 | FASTLINK-ASIA - Fastlink Asia Pacific, VN
""")}
NET_OBJS = [(ipaddress.ip_network(n[0]), n) for n in NETWORKS]
# recipient domain | MX host | MX IP | its "250" reply ({m}: message-id, {r}: remote queue id)
MX = {d: (h, ip, ok) for d, h, ip, ok in table("""
aol.com       | mailin-01.mx.aol.com  | 198.51.100.20 | 250 OK
yahoo.com     | mx1.mail.yahoo.com    | 198.51.100.30 | 250 ok dirdel
hotmail.com   | mx1.hotmail.com       | 198.51.100.40 | 250  <{m}> Queued mail for delivery
msn.com       | mx1.hotmail.com       | 198.51.100.40 | 250  <{m}> Queued mail for delivery
earthlink.net | mx1.earthlink.net     | 198.51.100.50 | 250 2.6.0 message accepted
comcast.net   | gateway-r.comcast.net | 198.51.100.60 | 250 ok: Message {r} accepted
verizon.net   | relay.verizon.net     | 198.51.100.70 | 250 2.0.0 Ok: queued as {r}
example.com   | mail.example.com      | 203.0.113.20  | 250 2.0.0 Ok: queued as {r}
example.net   | mx.example.net        | 203.0.113.25  | 250 2.0.0 Ok: queued as {r}
example.org   | mx.example.org        | 203.0.113.30  | 250 2.0.0 Ok: queued as {r}
""")}
EXTERNAL = list(MX)
# blocklisting of our outbound IPs: remote policy | server | from hours after CRACK_START |
# until hours after CRACK_LOCK
LISTINGS = table("""
aol   | mail1 | 2 | 14
aol   | mail2 | 3 | 12
yahoo | mail1 | 4 | 8
yahoo | mail2 | 5 | 6
hotmail | mail1 | 7 | 10
hotmail | mail2 | 8 | 10
zen     | mail1 | 5 | 22
spamcop | mail2 | 3 | 24
""")
BLOCK_REPLIES = {  # remote policy: (status, dsn, reply after "host MX[IP] "); {ip}: our IP
    "aol": ("deferred", "4.0.0", "refused to talk to me: 554- (RTR:BL) http://postmaster.info.aol"
            ".com/errors/554rtrbl.html 554  Connecting IP: {ip}"),
    "yahoo": ("deferred", "4.7.0", "said: 421 4.7.0 [TS03] All messages from {ip} will be "
              "permanently deferred; Retrying will NOT succeed. See http://postmaster.yahoo.com/"
              "421-ts03.html (in reply to MAIL FROM command)"),
    "hotmail": ("bounced", "5.0.0", "said: 550 SC-001 Mail rejected by Hotmail for policy "
                "reasons. (in reply to MAIL FROM command)"),
    "zen": ("bounced", "5.7.1", "said: 550 5.7.1 Service unavailable; Client host [{ip}] blocked "
            "using zen.spamhaus.org; http://www.spamhaus.org/query/bl?ip={ip} (in reply to RCPT "
            "TO command)"),
    "spamcop": ("bounced", "5.7.1", "said: 554 5.7.1 Service unavailable; Client host [{ip}] "
                "blocked using bl.spamcop.net; Blocked - see http://www.spamcop.net/bl.shtml?{ip} "
                "(in reply to RCPT TO command)"),
}
POLICY = {"aol.com": "aol", "yahoo.com": "yahoo", "hotmail.com": "hotmail", "msn.com": "hotmail"}
# remote MTAs sending mail in: PTR ("unknown": none) | IP | sender domain
INBOUND_HOSTS = table("""
omr-m07.mx.aol.com                 | 198.51.100.21 | aol.com
mta122.mail.re2.yahoo.com          | 198.51.100.31 | yahoo.com
bay0-omc1-s12.bay0.hotmail.com     | 198.51.100.41 | hotmail.com
elasmtp-kukur.atl.sa.earthlink.net | 198.51.100.51 | earthlink.net
lists.example.org                  | 203.0.113.15  | lists.example.org
mail.example.com                   | 203.0.113.20  | example.com
smtp.example.net                   | 203.0.113.26  | example.net
mx.newsletter.example              | 203.0.113.40  | newsletter.example
mail.partner-supplies.example      | 203.0.113.50  | partner-supplies.example
unknown                            | 203.0.113.77  | mailer.example
""")
FIRST = "maria john linda robert susan david karen mike lisa james nancy paul frontdesk office"
FIRST = (FIRST + " billing info reception accounts").split()
LAST = "smith jones brown miller davis garcia wilson moore taylor".split()
# id | name | domains | scenario | flags: v6 = IPv6 office; two = a second network; net2 = a
# second network holding the office; bare = SASL username is the customer id; low/roam =
# activity profile
CUSTOMERS = table("""
c001 | Acme Dental LLC             | acme-dental.example                      | ready_early
c002 | Bluebird Travel Agency      | bluebird-travel.example;bbtravel.example | cracked_account
c003 | Cedar Lane Accounting       | cedarlane-cpa.example                    | late_fixer
c004 | Dunmore Hardware            | dunmore-hardware.example                 | ready_early
c005 | Evergreen Landscaping       | evergreen-land.example                   | never_fixer
c006 | Foxglove Florists           | foxglove-flowers.example                 | ready_early | bare
c007 | Granite State Realty        | granite-realty.example;gsr-homes.example | ready_early | net2
c008 | Harbor View Marina          | harborview-marina.example                | always_auth
c009 | Ironwood Furniture Co.      | ironwood-furniture.example               | late_fixer
c010 | Juniper Pediatrics PC       | juniper-peds.example                     | ready_early | v6
c011 | Keystone Legal Group        | keystone-legal.example                   | mixed_device
c012 | Lakeside Veterinary Clinic  | lakeside-vet.example                     | ready_early
c013 | Maple Street Bakery         | maplestreet-bakery.example               | inactive_none
c014 | Northgate Insurance Agency  | northgate-ins.example                    | late_fixer
c015 | Oakridge Dental Lab         | oakridge-lab.example                     | ready_early
c016 | Pinecrest Property Mgmt     | pinecrest-pm.example;pcrentals.example   | never_fixer | net2
c017 | Quarry Hill Architects      | quarryhill-arch.example                  | ready_early | bare
c018 | Riverside Auto Repair       | riverside-auto.example                   | inactive_stopped
c019 | Summit Physical Therapy     | summit-pt.example                        | ready_early
c020 | Tidewater Shipping Inc.     | tidewater-ship.example                   | late_fixer
c021 | Union Square Optometry      | unionsq-optometry.example                | always_auth
c022 | Valley Print & Copy, Inc.   | valleyprint.example                      | mixed_device
c023 | Willow Creek Day Spa        | willowcreek-spa.example                  | ready_early
c024 | Xavier & Sons Plumbing      | xavier-plumbing.example                  | never_fixer
c025 | Yellowbrick Toys            | yellowbrick-toys.example                 | ready_early
c026 | Zenith Home Health          | zenith-homehealth.example                | late_fixer
c027 | Atlas Moving & Storage      | atlas-moving.example                     | ready_early | two
c028 | Beacon Hill Bookkeeping     | beaconhill-books.example                 | ready_early
c029 | Copperfield Catering        | copperfield-catering.example             | always_auth
c030 | Driftwood Surf Shop         | driftwood-surf.example                   | ready_early | bare
c031 | Elmwood Chiropractic        | elmwood-chiro.example                    | late_fixer
c032 | Fairview Family Medicine    | fairview-fm.example;fairviewmed.example  | ready_early
c033 | Gaslight Theater Co.        | gaslight-theater.example                 | ready_early
c034 | Hawthorne Engineering       | hawthorne-eng.example                    | always_auth | two
c035 | Indigo Graphic Design       | indigo-design.example                    | ready_early
c036 | Jasper Valley Winery        | jaspervalley-wine.example                | mixed_device
c037 | Kingfisher Pet Supply       | kingfisher-pets.example                  | ready_early
c038 | Lighthouse Community Church | lighthouse-church.example                | ready_early | low
c039 | Meridian Travel Nurses      | meridian-nurses.example                  | ready_early | roam
c040 | Northstar Tutoring          | northstar-tutor.example                  | ready_early
""")
BIZ_HOURS = [.3, .2, .2, .2, .2, .3, .8, 3, 8, 10, 10, 9, 7, 9, 10, 9, 8, 5, 3, 2, 2, 1.5, 1, .5]
FLAT_HOURS = [4] * 7 + [5, 5] + [6] * 9 + [5] * 4 + [4, 4]
# fmt: on
B52 = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"  # Postfix long queue id digits


# ----------------------------------------------------------------------------- helpers
def poisson(rng: random.Random, lam: float) -> int:
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    k, p, limit = 0, rng.random(), math.exp(-lam)
    while p > limit:
        k, p = k + 1, p * rng.random()
    return k


def local_days():
    """(local midnight, quiet?) for every day of the simulation."""
    d = datetime.fromtimestamp(SIM_START // S, TZ).date()
    while at(d.year, d.month, d.day) < SIM_END:
        yield at(d.year, d.month, d.day), d.weekday() >= 5 or (d.month, d.day) in HOLIDAYS
        d += timedelta(days=1)


def at_hour(rng: random.Random, day0: int, weights=BIZ_HOURS) -> int:
    return day0 + int((rng.choices(range(24), weights)[0] + rng.random()) * HOUR)


def secs(rng: random.Random, lo: float, hi: float) -> int:
    return int(rng.uniform(lo, hi) * S) + 1


def fmt_delay(x: float) -> str:
    """Postfix style: two significant digits, 10 ms resolution."""
    if x < 0.005:
        return "0"
    return f"{x:.2f}" if x < 0.1 else f"{x:.2g}" if x < 10 else str(round(x))


def b52(n: int, width: int, digits: str = B52) -> str:
    out = ""
    while n:
        n, r = divmod(n, len(digits))
        out = digits[r] + out
    return out.rjust(width, "0")


def hexs(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(n))


def ident(ip: str) -> tuple[str, str | None]:
    """Deterministic client identity: (host shown by Postfix, a PTR that fails to resolve)."""
    a = ipaddress.ip_address(ip)
    nets = [(net, row) for net, row in NET_OBJS if net.version == a.version and a in net]
    row = max(nets, key=lambda x: x[0].prefixlen)[1]
    if not row[3] or int(a) % 4 == 0:
        return "unknown", None
    name = row[3].format(ip=ip.replace(".", "-"), cd="-".join(ip.split(".")[2:]))
    if int(a) % 4 == 1 and row[2] != "roam" or int(a) % 9 == 2:
        return "unknown", name
    return name, None


def msgid(rng: random.Random, t: int, domain: str, helo: str = "", outlook: float = 0.5) -> str:
    if rng.random() < outlook:  # Outlook Express style
        return f"00{hexs(rng, 2)}01c3{hexs(rng, 4)}${hexs(rng, 8)}${hexs(rng, 8)}@{helo}"
    stamp = datetime.fromtimestamp(t // S, UTC).strftime("%Y%m%d%H%M%S")
    return f"{stamp}.{rng.randrange(10**5, 10**6)}@{domain}"


def domain_of(addr: str) -> str:
    return addr.rsplit("@", 1)[-1]


# ----------------------------------------------------------------------------- world
class Proc:
    """A process; its pid is assigned once all traffic exists (see assign_pids)."""

    __slots__ = ("server", "prog", "start", "end", "pid", "kind", "seq")

    def __init__(self, server, prog, start, end, kind, seq):
        self.server, self.prog, self.start, self.end = server, prog, start, end
        self.kind, self.seq, self.pid = kind, seq, None


class World:
    """Collects log events, processes and sessions; hands out queue ids and random streams."""

    def __init__(self, seed: int, scale: float):
        self.seed, self.scale, self.seq = seed, scale, 0
        self.events: list = []  # (ts, seq, server, program, Proc | None, text)
        self.procs: list[Proc] = []
        self.sessions: list = []
        self.daemons: dict = {}
        self.qids: set = set()
        self.purge: list = []  # (server, qid) of spam still queued at PURGE
        self.listings = {
            (kind, srv): (CRACK_START + int(a) * HOUR, CRACK_LOCK + int(b) * HOUR)
            for kind, srv, a, b in LISTINGS
        }
        for server, cfg in SERVERS.items():  # the master first, then its long-lived children
            for ts in (SIM_START, cfg["restart"]):
                for prog in ("master", "qmgr", "pickup", "anvil", "postscreen"):
                    if prog != "postscreen" or server == "mail2":
                        self.daemon(server, f"postfix/{prog}", ts)

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")

    def n(self, lam: float, rng: random.Random) -> int:
        return poisson(rng, lam * self.scale)

    def emit(self, ts, server, prog, proc, text):
        self.seq += 1
        self.events.append((ts, self.seq, server, prog, proc, text))

    def proc(self, server, prog, start, end=None, kind="pool") -> Proc:
        self.seq += 1
        p = Proc(server, prog, start, start if end is None else end, kind, self.seq)
        self.procs.append(p)
        return p

    def daemon(self, server, prog, ts) -> Proc:
        """Long-lived daemons (master, qmgr, pickup, anvil, postscreen): a pid per master run."""
        restart = SERVERS[server]["restart"]
        key = (server, prog, ts >= restart)
        if key not in self.daemons:
            start = restart + S if ts >= restart else SIM_START - DAY
            self.daemons[key] = self.proc(server, prog, start, start, "fixed")
        return self.daemons[key]

    def qid(self, server, ts, rng) -> str:
        while True:
            sec, usec = divmod(ts, S)
            if SERVERS[server]["v3"]:  # seconds, microseconds, 'z', inode number
                inode = b52(rng.randrange(51**3, 51**4), 4, B52[:-1])
                q = b52(sec, 6) + b52(usec, 4) + "z" + inode
            else:
                q = f"{usec % 0xFFFFF:05X}{rng.randrange(0x10000, 0xFFFFF):05X}"
            if q not in self.qids:
                self.qids.add(q)
                return q

    def blocked(self, policy, server, ts):
        """The remote verdict (status, dsn, reply) while our server's IP is listed, else None."""
        b, e = self.listings.get((policy, server), (0, 0))
        return BLOCK_REPLIES[policy] if b <= ts < e else None

    def unlisted_after(self, server, ts) -> int:
        ends = [e for (_, srv), (b, e) in self.listings.items() if srv == server and b <= ts < e]
        return max(ends, default=ts)


# ----------------------------------------------------------------------------- connections
class Conn:
    """One SMTP connection: its lines (ts, tag, extra) feed the truth table."""

    def __init__(self, w: World, rng, server, service, t, ip):
        t += 0 if t % S else rng.randrange(1, S)  # no session starts on an exact second
        self.w, self.rng, self.server, self.service = w, rng, server, service
        self.ip, self.t = ip, t
        self.lines: list = []
        self.msgs: list = []
        self.user = None
        w.sessions.append(self)

    def tick(self, lo=0.02, hi=0.4):
        self.t += secs(self.rng, lo, hi)

    def say(self, text, tag=None, extra=None):
        self.w.emit(self.t, self.server, self.service, self.proc, text)
        self.lines.append((self.t, tag, extra))


class Postscreen(Conn):
    def __init__(self, w, rng, t, ip):
        super().__init__(w, rng, "mail2", "postfix/postscreen", t, ip)
        self.proc = w.daemon("mail2", "postfix/postscreen", self.t)
        self.addr = f"[{ip}]:{rng.randrange(1025, 65535)}"
        dst = SERVERS["mail2"]["ip6" if ":" in ip else "ip"]
        self.say(f"CONNECT from {self.addr} to [{dst}]:25", "connect")

    def pass_(self, new=False) -> int:
        """Hand the client to smtpd (after the 6 s greet wait when new); returns the time."""
        if new:
            self.tick(6, 6.2)
        else:
            self.tick(0.001, 0.01)
        self.say(f"PASS {'NEW' if new else 'OLD'} {self.addr}", "pass")
        return self.t + secs(self.rng, 0.001, 0.02)

    def disconnect(self):
        self.tick(0.01, 0.5)
        self.say(f"DISCONNECT {self.addr}", "disconnect")


class Smtpd(Conn):
    CMDS = ["helo", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "rset", "quit", "unknown"]

    def __init__(self, w, rng, server, t, ip, host=None, helo=None, sub=False, ps_new=None):
        """A connection to smtpd (sub: port 587); on mail2 port 25 postscreen comes first."""
        service = "postfix/submission/smtpd" if sub else "postfix/smtpd"
        if server == "mail2" and not sub:
            new = rng.random() < 0.1 if ps_new is None else ps_new
            t = Postscreen(w, rng, t, ip).pass_(new)
        super().__init__(w, rng, server, service, t, ip)
        host, bad_ptr = (host, None) if host else ident(ip)
        self.v3, self.stats = SERVERS[server]["v3"], {}
        self.client, self.helo = f"{host}[{ip}]", helo or host
        self.proc = w.proc(server, service, self.t)
        if bad_ptr:  # logged by the same process just before "connect from"
            text = f"warning: hostname {bad_ptr} does not resolve to address {ip}"
            w.emit(self.t, server, service, self.proc, text + ": Name or service not known")
            self.tick(0.005, 0.08)
        self.say(f"connect from {self.client}", "connect")

    def cmd(self, name, ok=True):
        st = self.stats.setdefault(name, [0, 0])
        st[0], st[1] = st[0] + ok, st[1] + 1

    def ehlo(self, tls=False):
        self.tick()
        self.cmd("ehlo")
        if tls:
            self.tick()
            self.cmd("starttls")
            self.tick(0.05, 0.3)
            ciph = "DHE-RSA-AES256-SHA (256/256" if self.v3 else "EDH-RSA-DES-CBC3-SHA (168/168"
            self.say(
                f"Anonymous TLS connection established from {self.client}: TLSv1 with "
                f"cipher {ciph} bits)"
            )
            self.ehlo()

    def auth(self, user, mech="PLAIN"):
        self.tick(0.05, 0.3)
        self.cmd("auth")
        self.user, self.mech = user, mech

    def auth_fail(self, user, mech="LOGIN", why="authentication failure", tag="auth_fail"):
        self.tick(0.5, 3)
        self.cmd("auth", False)
        suffix = f", sasl_username={user}" if self.v3 and tag == "auth_fail" else ""
        self.say(f"warning: {self.client}: SASL {mech} authentication failed: {why}{suffix}", tag)

    def reject(self, sender, rcpt, reply, tag, qid="NOQUEUE", cmd="rcpt"):
        """One reject line; before the queue file exists it is logged as NOQUEUE."""
        self.tick(0.05, 0.5)
        self.cmd(cmd, False)
        self.say(
            f"{qid}: reject: RCPT from {self.client}: {reply}; from=<{sender}> "
            f"to=<{rcpt}> proto=ESMTP helo=<{self.helo}>",
            tag,
        )

    def rejects(self, sender, rcpts, reply, tag):
        """MAIL, then every RCPT refused with reply (may use {r} for the recipient)."""
        self.tick()
        self.cmd("mail")
        for r in rcpts:
            self.reject(sender, r, reply.format(r=r), tag)

    def send(self, sender, rcpts, rejected=(), spam=False, mid=None):
        """MAIL, RCPTs (rejected: (rcpt, reply, tag)), DATA; queues the accepted message."""
        rng = self.rng
        self.tick()
        self.cmd("mail")
        early = bool(rejected) and rng.random() < 0.5  # refused before the first accepted RCPT
        for r in rejected if early else ():
            self.reject(sender, *r)
        self.tick(0.05, 0.3)
        msg = Msg(self.w.qid(self.server, self.t, rng))
        sasl = f", sasl_method={self.mech}, sasl_username={self.user}" if self.user else ""
        self.say(f"{msg.qid}: client={self.client}{sasl}", "msg", msg)
        for _ in rcpts:
            self.cmd("rcpt")
        for r in () if early else rejected:
            self.reject(sender, *r, qid=msg.qid)
        self.cmd("data")
        t_clean = self.t + secs(rng, 0.05, 0.3)
        size = int(min(rng.lognormvariate(8.6, 1.0), 4e6)) + 600
        self.t += int((0.3 + size / rng.uniform(8e3, 6e4)) * S)
        mid = mid or msgid(rng, self.t, domain_of(sender), self.helo)
        queue_message(
            self.w, rng, self.server, msg, (t_clean, self.t), sender, rcpts, size, mid, spam
        )
        self.msgs.append(msg)

    def close(self, how="quit", after="EHLO"):
        """quit | lost | timeout | errors | none (the server hung up), then `disconnect from`."""
        if how == "quit":
            self.tick()
            self.cmd("quit")
        elif how == "timeout":
            self.tick(300, 301)
            self.say(f"timeout after {after} from {self.client}")
        elif how == "errors":
            self.tick(0.1, 1)
            self.say(f"too many errors after {after} from {self.client}", "protocol")
        elif how == "lost":
            self.tick(0.2, 4)
            self.say(f"lost connection after {after} from {self.client}")
        self.tick(0.0005, 0.005)
        text, auth_ok = f"disconnect from {self.client}", self.stats.get("auth", [0])[0] > 0
        if self.v3:  # Postfix >= 3.0: command statistics, "n" when all n succeeded
            ok, n = (sum(v[i] for v in self.stats.values()) for i in (0, 1))
            parts = [(c, *self.stats[c]) for c in self.CMDS if c in self.stats]
            parts.append(("commands", ok, n))
            text += "".join(f" {c}={a}" if a == b and b else f" {c}={a}/{b}" for c, a, b in parts)
        self.say(text, "disconnect", {"auth_ok": auth_ok and self.v3})
        self.proc.end = self.t


class Msg:
    __slots__ = ("qid", "qmgr_ts", "nrcpt", "deliveries")

    def __init__(self, qid):
        self.qid, self.qmgr_ts, self.nrcpt, self.deliveries = qid, None, 0, []


# ----------------------------------------------------------------------------- queue
def remote_reply(w, rng, server, dom, rcpt, t, spam, mid):
    """(status, dsn, text) of one delivery attempt to an external domain."""
    mx, mxip, ok = MX[dom]
    h = f"host {mx}[{mxip}]"
    policy = POLICY.get(dom, "zen" if server == "mail1" else "spamcop")
    if listed := w.blocked(policy, server, t):
        status, dsn, reply = listed
        return status, dsn, f"{h} " + reply.format(ip=SERVERS[server]["ip"])
    r = rng.random()
    if r < (0.12 if spam else 0.008):
        reply = f"550 5.1.1 <{rcpt}>... User unknown (in reply to RCPT TO command)"
        return "bounced", "5.1.1", f"{h} said: {reply}"
    if r < (0.15 if spam else 0.02):
        reply = f"450 4.7.1 <{rcpt}>: Recipient address rejected: Greylisted for 5 minutes"
        return "deferred", "4.7.1", f"{h} said: {reply} (in reply to RCPT TO command)"
    return "sent", "2.0.0", ok.format(m=mid, r=hexs(rng, 10))


def queue_message(w, rng, server, msg, times, sender, rcpts, size, mid, spam=False):
    """cleanup, qmgr, a delivery line per recipient and attempt, bounce, removed."""
    t_clean, t_queue = times
    srv, q = SERVERS[server], msg.qid
    cleanup = w.proc(server, "postfix/cleanup", t_clean - 2000, t_queue)
    w.emit(t_clean, server, "postfix/cleanup", cleanup, f"{q}: message-id=<{mid}>")
    text = f"{q}: from=<{sender}>, size={size}, nrcpt={len(rcpts)} (queue active)"
    w.emit(t_queue, server, "postfix/qmgr", w.daemon(server, "postfix/qmgr", t_queue), text)
    msg.qmgr_ts, msg.nrcpt = t_queue, len(rcpts)
    groups: dict = {}  # one delivery agent run per local recipient or per remote domain
    for r in rcpts:
        groups.setdefault(r if domain_of(r) not in MX else domain_of(r), []).append(r)
    last, bounced, pending = t_queue, False, False
    before_qmgr = fmt_delay((t_queue - t_clean) / S)
    for key, rs in groups.items():
        t = t_queue + secs(rng, 0.01, 0.3)
        if key not in MX:  # a local mailbox
            d = rng.uniform(0.01, 0.2)
            t += int(d * S)
            if srv["local"] == "postfix/virtual":
                relay, reply = "virtual", "delivered to maildir"
            else:
                relay = f"mail.{LOCAL}[private/dovecot-lmtp]"
                reply = f"250 2.0.0 <{key}> {b52(rng.getrandbits(100), 17)} Saved"
            text = (
                f"{q}: to=<{key}>, relay={relay}, delay={fmt_delay((t - t_clean) / S)}, "
                f"delays={before_qmgr}/0.01/0/{fmt_delay(d)}, dsn=2.0.0, status=sent ({reply})"
            )
            w.emit(t, server, srv["local"], w.proc(server, srv["local"], t - int(d * S), t), text)
            msg.deliveries.append((t, key))
            last = max(last, t)
            continue
        mx, mxip, _ = MX[key]
        todo, t_try = list(rs), t
        for attempt in range(9):
            if attempt == 1:  # the queue manager retries after its minimal backoff
                t_try += secs(rng, 900, 1300)
            elif attempt > 1:  # ... and keeps the destination throttled while listed
                t_try = max(
                    t_try + secs(rng, 3600, 4400),
                    w.unlisted_after(server, t_try) + secs(rng, 60, 4000),
                )
            retry_spam = attempt < 1 + (rng.random() < 0.2) and t_try < PURGE
            if t_try > SIM_END or spam and not retry_spam:
                pending = True
                break
            p, conn, tx, again = w.proc(server, "postfix/smtp", t_try), rng.uniform(0.1, 1.2), 0, []
            for r in todo:
                status, dsn, reply = remote_reply(w, rng, server, key, r, t_try, spam, mid)
                tx += rng.uniform(0.05, 0.6)
                ts = t_try + int((conn + tx) * S)
                delays = (
                    f"{before_qmgr}/{fmt_delay((t_try - t_queue) / S)}/{fmt_delay(conn)}/"
                    f"{fmt_delay(tx)}"
                )
                text = (
                    f"{q}: to=<{r}>, relay={mx}[{mxip}]:25, delay={fmt_delay((ts - t_clean) / S)}"
                    f", delays={delays}, dsn={dsn}, status={status} ({reply})"
                )
                w.emit(ts, server, "postfix/smtp", p, text)
                msg.deliveries.append((ts, r))
                last, p.end = max(last, ts), ts
                bounced |= status == "bounced"
                again += [r] if status == "deferred" else []
            todo = again
            if not todo:
                break
    if pending:
        w.purge += [(server, q)] if spam else []
        return
    t = last + secs(rng, 0.01, 0.2)
    if bounced and sender:  # a non-delivery notification back to the (local) sender
        q2 = w.qid(server, t, rng)
        bounce = w.proc(server, "postfix/bounce", t - 5000, t)
        text = f"{q}: sender non-delivery notification: {q2}"
        w.emit(t + 500, server, "postfix/bounce", bounce, text)
        stamp = datetime.fromtimestamp(t // S, UTC).strftime("%Y%m%d%H%M%S")
        ndr = f"{stamp}.{q2}@{server}.{LOCAL}"
        queue_message(w, rng, server, Msg(q2), (t - 1000, t + 900), "", [sender], 3210, ndr)
        t += 1200
    w.emit(t, server, "postfix/qmgr", w.daemon(server, "postfix/qmgr", t), f"{q}: removed")


# ----------------------------------------------------------------------------- customers
class Customer:
    """A customers.csv row plus its behaviour: office IPs, users, when it switches to AUTH."""

    def __init__(self, row, rng: random.Random, nxt: dict):
        self.cid, self.name, doms, self.scenario, flags = row
        self.domains, dom0 = doms.split(";"), doms.split(";")[0]
        nets = [self.carve(rng, nxt, "198.18", rng.choice([29, 29, 28, 28, 27]))]
        if flags in ("two", "net2"):
            nets.append(self.carve(rng, nxt, "198.19", rng.choice([29, 28])))
        if flags == "v6":
            nets.append(ipaddress.ip_network("2001:db8:10::/48"))
        self.networks = nets
        onet = nets[1] if flags == "net2" else nets[0]
        hosts = [str(onet[i]) for i in range(1, min(onet.num_addresses - 1, 9))]
        self.office, self.copier = rng.sample(hosts, 2)
        self.office6 = "2001:db8:10::25" if flags == "v6" else None
        r, isp = rng.random(), LOCAL if self.office.startswith("198.18.") else "metrofiber.example"
        dashed = self.office.replace(".", "-")
        self.host = f"office.{dom0}" if r < 0.45 else f"static-{dashed}.biz.{isp}"
        self.host = "unknown" if r > 0.75 else self.host  # no PTR at all
        short = dom0.split("-")[0].split(".")[0][:8].upper()
        pcs = ["PC1", "PC2", "PC3", "FRONTDESK", "SERVER", "LAPTOP", "RECEPTION", "OFFICE"]
        self.helos = [f"{short}-{x}" for x in rng.sample(pcs, 3)]
        if flags == "bare":
            self.senders = {self.cid: f"office@{dom0}"}
        else:
            names = rng.sample(FIRST, rng.randint(2, 5))
            users = [
                f"{n}.{rng.choice(LAST)}@{dom0}"
                if rng.random() < 0.3
                else f"{n}@{self.domains[i % len(self.domains)]}"
                for i, n in enumerate(names)
            ]
            users[0] = CRACKED_USER if self.cid == "c002" else users[0]
            self.senders = {u: u for u in users}
        self.users = list(self.senders)
        self.mailboxes = list(self.senders.values()) + [f"info@{dom0}"]
        self.activity = {"low": 0.3, "roam": 2.2}.get(flags, rng.uniform(0.7, 2.5))
        self.roam = 0.7 if flags == "roam" else rng.uniform(0.05, 0.2)
        roam_nets = [net for net, row in NET_OBJS if row[2] == "roam"]
        self.roam_ips = [
            str(net[rng.randrange(256, net.num_addresses - 1)])
            for net in rng.sample(roam_nets, 3)
            for _ in range(2)
        ]
        day = rng.choice([10, 10, 11, 12, 12, 13, 14, 17, 18])
        fix = ENFORCE + (rng.choice([2, 3, 4, 5, 6]) * 24 + 9) * HOUR + rng.randrange(6 * HOUR)
        self.switch = {  # first AUTH session; before it: relay by IP, refused after ENFORCE
            "ready_early": at(2003, 11, day, 9) + rng.randrange(8 * HOUR),
            "late_fixer": fix,
            "cracked_account": at(2003, 11, 12, 10, 30),
            "inactive_stopped": at(2003, 11, 20, 11),
            "always_auth": 0,
            "mixed_device": 0,
        }.get(self.scenario, SIM_END * 2)
        self.stop = at(2003, 11, 25, 12) if self.scenario == "inactive_stopped" else None
        self.contact = f"{'admin' if flags == 'bare' else 'office'}@{dom0}"

    @staticmethod
    def carve(rng, nxt, prefix, plen):
        size = 2 ** (32 - plen)
        base = -(-nxt[prefix] // size) * size + rng.randrange(0, 3) * size
        nxt[prefix] = base + size
        return ipaddress.ip_network(f"{ipaddress.ip_address(base)}/{plen}")

    def host_of(self, ip):
        if ip == self.office6:
            return f"gw.{self.domains[0]}"
        return self.host if ip in (self.office, self.copier) else None


def rand_rcpts(rng, ext_share, mailboxes, n=None):
    """Distinct recipients: external with probability ext_share, else local mailboxes."""
    out = []
    for _ in range(n or rng.choices([1, 2, 3, 4, 6], [50, 25, 12, 8, 5])[0]):
        ext = f"{rng.choice(FIRST)}{rng.randrange(1, 99)}@{rng.choice(EXTERNAL)}"
        out.append(ext if rng.random() < ext_share else rng.choice(mailboxes))
    return list(dict.fromkeys(out))


# ----------------------------------------------------------------------------- customer scenarios
def relay_or_denied(w, rng, c, t, server, ip, helo, sender, rcpts):
    """Relay by IP: accepted before the date; after it external recipients are refused."""
    s = Smtpd(w, rng, server, t, ip, c.host_of(ip), helo)
    s.ehlo()
    ext = [r for r in rcpts if domain_of(r) not in w.local_domains]
    denied = [(r, f"554 5.7.1 <{r}>: Relay access denied", "relay_denied") for r in ext]
    if t < ENFORCE or not ext:
        s.send(sender, rcpts)
    elif len(ext) < len(rcpts) and rng.random() < 0.6:  # the local recipients still get it
        s.send(sender, [r for r in rcpts if r not in ext], denied)
    else:
        s.rejects(sender, ext, "554 5.7.1 <{r}>: Relay access denied", "relay_denied")
        s.tick()
        s.cmd("rset")
    s.close()


def auth_session(w, rng, c, t, server, user=None, ip=None):
    """Submission with AUTH from the office or a roaming IP (outage and typos included)."""
    user = user or rng.choice(c.users)
    if ip is None and rng.random() < c.roam:
        ip = rng.choice(c.roam_ips)
    elif ip is None:
        ip = c.office6 if c.office6 and rng.random() < 0.8 else c.office
    sub = rng.random() < 0.75
    s = Smtpd(w, rng, server, t, ip, c.host_of(ip), rng.choice(c.helos), sub)
    s.ehlo(tls=sub)
    if OUTAGE[0] <= s.t < OUTAGE[1]:
        for _ in range(rng.randint(1, 2)):
            why = "Connection lost to authentication server"
            s.auth_fail(user, "PLAIN", why, "auth_unavail")
        return s.close()
    fresh = c.switch <= t < c.switch + DAY and c.scenario != "cracked_account"
    if rng.random() < (0.2 if fresh else 0.01):  # a mistyped password in a new mail client
        for _ in range(rng.randint(1, 3)):
            s.auth_fail(user, rng.choice(["PLAIN", "LOGIN"]))
        return s.close("quit" if rng.random() < 0.7 else "lost", "AUTH")
    s.auth(user, rng.choice(["PLAIN", "PLAIN", "LOGIN"]))
    nmsg = rng.choices([1, 2, 3], [80, 15, 5])[0]
    for _ in range(0 if server == "mail1" and rng.random() < 0.08 else nmsg):  # 0: AUTH + QUIT
        s.send(c.senders[user], rand_rcpts(rng, 0.65, w.mailboxes))
    s.close()


def customer_traffic(w: World, customers):
    for c in [c for c in customers if c.scenario != "inactive_none"]:
        rng = w.rng(f"customer:{c.cid}")
        for day0, quiet in local_days():
            t = 0
            for _ in range(w.n(c.activity * (0.12 if quiet else 1), rng)):
                # a third of the sessions follow the previous one closely (Outlook send queue)
                near = t and rng.random() < 0.33
                t = t + secs(rng, 15, 90) if near else at_hour(rng, day0)
                if not SIM_START <= t < SIM_END or (c.stop and t >= c.stop):
                    continue
                server = rng.choice(["mail1", "mail2"])
                if t >= c.switch:
                    auth_session(w, rng, c, t, server)
                    continue
                ip = c.office6 if c.office6 and rng.random() < 0.8 else c.office
                sender, helo = c.senders[rng.choice(c.users)], rng.choice(c.helos)
                rcpts = rand_rcpts(rng, 0.75, w.mailboxes)
                relay_or_denied(w, rng, c, t, server, ip, helo, sender, rcpts)
            for _ in range(w.n(0 if quiet or c.scenario != "mixed_device" else 1.2, rng)):
                # an old scanner that nobody reconfigured keeps relaying by IP
                t, server = at_hour(rng, day0), rng.choice(["mail1", "mail2"])
                helo = rng.choice(["KM-C250", "RNP0026737", "XRX_0000AA1B2C"])
                rcpts = rand_rcpts(rng, 0.75, c.mailboxes, 1)
                relay_or_denied(
                    w, rng, c, t, server, c.copier, helo, f"scanner@{c.domains[0]}", rcpts
                )
    rng = w.rng("outage")  # customers' AUTH fails for 45 minutes on both servers
    ready = [c for c in customers if c.switch < OUTAGE[0] and not c.stop]
    for _ in range(w.n(14, rng)):
        c = rng.choice(ready)
        auth_session(w, rng, c, rng.randrange(*OUTAGE), rng.choice(["mail1", "mail2"]))


def cracked_account(w: World):
    """sales@bluebird-travel.example is phished: spam from many foreign IPs until locked."""
    rng = w.rng("cracked")
    nets = [net for net, row in NET_OBJS if row[2] == "crack" or row[1] == 64503]
    ips = [str(net[rng.randrange(256, net.num_addresses - 1)]) for net in nets for _ in range(6)]
    weights = [8 if i % 6 < 2 else 1 for i in range(len(ips))]
    doms, dw = EXTERNAL, [25, 20, 15, 5, 8, 10, 7, 4, 3, 3]
    for t in sorted(rng.randrange(CRACK_START, CRACK_LOCK) for _ in range(round(105 * w.scale))):
        ip, sub = rng.choices(ips, weights)[0], rng.random() < 0.7
        helo = rng.choice(["user", "localhost", f"[{ip}]", "mail.bluebird-travel.example"])
        s = Smtpd(w, rng, rng.choice(["mail1", "mail2"]), t, ip, None, helo, sub)
        s.ehlo(tls=sub)
        s.auth(CRACKED_USER, "LOGIN")
        for _ in range(rng.choices([1, 2], [80, 20])[0]):
            rcpts = {
                f"{hexs(rng, 2).lower()}{rng.choice(LAST)}{rng.randrange(100)}@"
                f"{rng.choices(doms, dw)[0]}": 1
                for _ in range(int(rng.triangular(5, 30, 6)))
            }
            mid = f"{hexs(rng, 16).lower()}@{rng.choice(doms)}"
            s.send(CRACKED_USER, list(rcpts), spam=True, mid=mid)
        s.close()
    for _ in range(w.n(12, rng)):  # after the password change the spammers keep trying
        t, ip = CRACK_LOCK + rng.randrange(600, 36000) * S, rng.choices(ips, weights)[0]
        s = Smtpd(w, rng, rng.choice(["mail1", "mail2"]), t, ip, None, "user", True)
        s.ehlo(tls=True)
        for _ in range(rng.randint(1, 3)):
            s.auth_fail(CRACKED_USER, "LOGIN")
        s.close("lost", "AUTH")
    for server in SERVERS:  # postsuper -d: the admins delete the spam still queued
        qids = [q for srv, q in w.purge if srv == server]
        t = PURGE + rng.randrange(30) * S
        p = w.proc(server, "postfix/postsuper", t, t, "single")
        for q in qids:
            t += rng.randrange(50, 400)
            w.emit(t, server, "postfix/postsuper", p, f"{q}: removed")
        w.emit(t + 1000, server, "postfix/postsuper", p, f"Deleted: {len(qids)} messages")


# ----------------------------------------------------------------------------- inbound mail
def inbound_session(w, rng, t, server=None):
    host, ip, dom = rng.choice(INBOUND_HOSTS)
    helo = host if host != "unknown" else "mailer.example"
    s = Smtpd(w, rng, server or rng.choice(["mail1", "mail2"]), t, ip, host, helo)
    s.ehlo()
    for _ in range(rng.choices([1, 2], [90, 10])[0]):
        user = rng.choice(["news", "orders", f"bounce-{rng.randrange(10**5)}", "jane"])
        bad = f"{rng.choice(FIRST)}{rng.randrange(10)}@{rng.choice(sorted(w.local_domains))}"
        reply = (
            f"550 5.1.1 <{bad}>: Recipient address rejected: User unknown in virtual mailbox table"
        )
        rejected = [(bad, reply, "dict")] if rng.random() < 0.1 else []
        rcpts = rand_rcpts(rng, 0, w.mailboxes, rng.choices([1, 2, 3], [70, 20, 10])[0])
        s.send(f"{user}@{dom}", rcpts, rejected)
    s.close()


def inbound_traffic(w: World):
    rng = w.rng("inbound")
    for day0, quiet in local_days():
        t = 0
        for _ in range(w.n(10 if quiet else 25, rng)):  # bursts: mailing lists, busy senders
            t = t + secs(rng, 3, 60) if t and rng.random() < 0.3 else at_hour(rng, day0)
            if SIM_START <= t < SIM_END:
                inbound_session(w, rng, t)


# ----------------------------------------------------------------------------- probes
def attacker_pools(rng):
    """kind -> (heavy hitters, share of sessions from them); the rest comes from a long tail."""

    def hosts(prefix, n):
        return [f"{prefix}.{rng.randrange(2, 254)}" for _ in range(n)]

    zombie_nets = [net for net, row in NET_OBJS if row[2] == "zombie"]
    tail = {str(net[rng.randrange(256, net.num_addresses - 1)]) for net in zombie_nets * 40}
    return dict(
        bruteforce=(["100.68.13.7", "100.68.13.8", "100.68.13.9", "100.68.14.22"], 0.85),
        relay=(hosts("100.69.7", 5) + hosts("100.69.8", 2), 0.6),
        rbl=(hosts("100.96.45", 10) + hosts("100.80.3", 8) + hosts("100.70.12", 6), 0.5),
        dictionary=(hosts("100.70.201", 3), 0.5),
        policy=(hosts("100.88.9", 3), 0.3),
        protocol=(hosts("100.92.0", 2) + ["2001:db8:bad::2"], 0.4),
        scan=(hosts("100.92.0", 3) + hosts("100.92.1", 2) + ["2001:db8:bad::3"], 0.6),
        tail=(sorted(tail), 0),
    )


def pick_ip(rng, pools, kind):
    heavy, share = pools[kind]
    return rng.choice(heavy) if rng.random() < share else rng.choice(pools["tail"][0])


def spam_sender(rng):
    return f"{rng.choice(FIRST)}{rng.randrange(1000)}@{rng.choice(EXTERNAL)}"


def junk_helo(rng, ip):
    helos = ["User", "ylmf-pc", "localhost", f"[{ip}]", "WIN-3F2A41C0B2", "example.com"]
    return rng.choice(helos + ["mail.example.net"])


def bruteforce_session(w, rng, t, ip, server, sub):
    users = ["admin", "test", "info", "webmaster", "sales", "postmaster", "root", "support"]
    users.append(f"info@{rng.choice(sorted(w.local_domains))}")
    s = Smtpd(w, rng, server, t, ip, None, junk_helo(rng, ip), sub)
    s.ehlo()
    for _ in range(rng.randint(2, 7)):
        s.auth_fail(rng.choice(users), "LOGIN")
    r = rng.random()
    s.close("errors" if r < 0.15 else "lost" if r < 0.6 else "quit", "AUTH")


def relay_probe(w, rng, t, ip, server):
    s = Smtpd(w, rng, server, t, ip, None, junk_helo(rng, ip))
    s.ehlo()
    rcpts = rand_rcpts(rng, 1, [], rng.randint(1, 3))
    s.rejects(spam_sender(rng), rcpts, "554 5.7.1 <{r}>: Relay access denied", "relay_denied")
    s.close("quit" if rng.random() < 0.7 else "lost", "RCPT")


def rbl_probe(w, rng, t, ip, server):
    helo, sender, rcpt = junk_helo(rng, ip), spam_sender(rng), rng.choice(w.mailboxes)
    if server == "mail2" and rng.random() < 0.7:  # stopped by postscreen
        ps = Postscreen(w, rng, t, ip)
        ps.tick(5.9, 6.1)
        ps.say(f"DNSBL rank {rng.choice([3, 3, 4, 5, 7])} for {ps.addr}", "rbl")
        if rng.random() < 0.8:
            ps.tick(0.5, 4)
            ps.say(
                f"NOQUEUE: reject: RCPT from {ps.addr}: 550 5.7.1 Service unavailable; client "
                f"[{ip}] blocked using zen.spamhaus.org; from=<{sender}>, to=<{rcpt}>, "
                f"proto=ESMTP, helo=<{helo}>",
                "rbl",
            )
        return ps.disconnect()
    s = Smtpd(w, rng, server, t, ip, None, helo, ps_new=True)
    s.ehlo()
    s.tick()
    s.cmd("mail")
    for r in [rcpt] + rand_rcpts(rng, 0, w.mailboxes, rng.randint(1, 3))[1:]:
        sbl = f"SBL{ip.split('.')[-1]}{rng.randrange(100, 999)}"
        zone = f"sbl-xbl.spamhaus.org; http://www.spamhaus.org/SBL/sbl.lasso?query={sbl}"
        if rng.random() < 0.4:
            zone = f"bl.spamcop.net; Blocked - see http://www.spamcop.net/bl.shtml?{ip}"
        reply = f"554 5.7.1 Service unavailable; Client host [{ip}] blocked using {zone}"
        s.reject(sender, r, reply, "rbl")
    s.close("quit" if rng.random() < 0.5 else "lost", "RCPT")


def dictionary_probe(w, rng, t, ip, server):
    s = Smtpd(w, rng, server, t, ip, None, junk_helo(rng, ip))
    s.ehlo()
    dom, k = rng.choice(sorted(w.local_domains)), rng.randint(3, 15)
    suffixes = ["", "." + rng.choice(LAST), "1"]
    rcpts = [f"{rng.choice(FIRST + LAST)}{rng.choice(suffixes)}@{dom}" for _ in range(k)]
    reply = "550 5.1.1 <{r}>: Recipient address rejected: User unknown in virtual mailbox table"
    s.rejects(spam_sender(rng), rcpts, reply, "dict")
    s.close("errors" if k >= 12 else "quit", "RCPT")


def policy_probe(w, rng, t, ip, server):
    kind = rng.choice(["hostname", "helo", "sender"])
    helo = rng.choice(["User", "PC01", "localhost", "mailserver"])
    helo = helo if kind == "helo" else junk_helo(rng, ip)
    s = Smtpd(w, rng, server, t, ip, "unknown" if kind == "hostname" else None, helo)
    s.ehlo()
    sender = spam_sender(rng)
    if kind == "sender":
        sender = f"{rng.choice(FIRST)}@{hexs(rng, 6).lower()}-mail.invalid"
    reply = {
        "hostname": f"450 4.7.1 Client host rejected: cannot find your hostname, [{ip}]",
        "helo": f"504 5.5.2 <{helo}>: Helo command rejected: need fully-qualified hostname",
        "sender": f"450 4.1.8 <{sender}>: Sender address rejected: Domain not found",
    }[kind]
    s.rejects(sender, rand_rcpts(rng, 0, w.mailboxes, rng.randint(1, 2)), reply, "policy")
    s.close("quit" if rng.random() < 0.6 else "lost", "RCPT")


def protocol_probe(w, rng, t, ip, server):
    kind = rng.choice(["pregreet", "nonsmtp", "hangup"])
    if server == "mail2" and rng.random() < 0.6:  # caught by postscreen
        ps = Postscreen(w, rng, t, ip)
        if kind == "pregreet":
            ps.tick(0.05, 1.5)
        else:
            ps.tick(6, 9)
        after = (ps.t - ps.lines[0][0]) / S
        helo = rng.choice(["User", "ylmf-pc", "EHLO"])
        ps.say(
            {
                "pregreet": f"PREGREET {len(helo) + 7} after {after:.2f} from {ps.addr}: "
                f"EHLO {helo}\\r\\n",
                "nonsmtp": f"NON-SMTP COMMAND from {ps.addr} after CONNECT: GET / HTTP/1.1",
                "hangup": f"HANGUP after {after:.1f} from {ps.addr} in tests after SMTP handshake",
            }[kind],
            # hanging up mid-test is what scanners do; it breaks no protocol rule
            "lost" if kind == "hangup" else "protocol",
        )
        return ps.disconnect()
    s = Smtpd(w, rng, server, t, ip, None, junk_helo(rng, ip), ps_new=True)
    if kind == "nonsmtp":  # a web client; smtpd hangs up
        s.tick(0.1, 0.5)
        s.cmd("unknown", False)
        s.say(f"warning: non-SMTP command from {s.client}: GET / HTTP/1.1", "protocol")
        return s.close("lost" if rng.random() < 0.3 else "none", "UNKNOWN")
    if kind == "pregreet":  # talks before the greeting
        s.tick(0.01, 0.1)
        text = f"improper command pipelining after CONNECT from {s.client}: EHLO {s.helo}\\r\\n"
        s.say(text, "protocol")
        s.ehlo()
        return s.close("quit" if rng.random() < 0.5 else "lost", "EHLO")
    for _ in range(rng.randint(3, 10)):  # garbage commands
        s.tick(0.2, 2)
        s.cmd("unknown", False)
    s.close("errors", "UNKNOWN")


def scan_probe(w, rng, t, ip, server):
    s = Smtpd(w, rng, server, t, ip, None, junk_helo(rng, ip))
    r = rng.random()
    if r < 0.45:
        return s.close("lost" if r < 0.3 else "timeout", "CONNECT")
    s.ehlo()
    s.close("lost" if r < 0.8 else "quit", "EHLO")


def content_probe(w, rng, t, ip, server):
    """Spam that reaches DATA and is refused for its content by a milter (SpamAssassin): the
    client= line binds a queue id, cleanup refuses the message at END-OF-MESSAGE."""
    s = Smtpd(w, rng, server, t, ip, None, junk_helo(rng, ip))
    s.ehlo()
    sender, rcpt = spam_sender(rng), rng.choice(w.mailboxes)
    s.tick()
    s.cmd("mail")
    s.tick(0.05, 0.3)
    qid = w.qid(server, s.t, rng)
    s.say(f"{qid}: client={s.client}", "refused")
    s.cmd("rcpt")
    s.cmd("data", False)
    s.tick(0.5, 4)
    score = rng.uniform(5.1, 25)
    cleanup = w.proc(server, "postfix/cleanup", s.t - 2000, s.t)
    w.emit(
        s.t,
        server,
        "postfix/cleanup",
        cleanup,
        f"{qid}: milter-reject: END-OF-MESSAGE from {s.client}: 5.7.1 Blocked by SpamAssassin "
        f"(score {score:.1f}); from=<{sender}> to=<{rcpt}> proto=ESMTP helo=<{s.helo}>",
    )
    s.lines.append((s.t, "content", None))
    s.close("quit" if rng.random() < 0.7 else "lost", "DATA")


def content_spam(w: World):
    """A few content-filtered spam sessions a day (a stream of its own: the other probes'
    random draws stay as they were)."""
    rng, pools = w.rng("content"), attacker_pools(w.rng("attackers"))
    for day0, _ in local_days():
        for _ in range(w.n(2, rng)):
            t, ip = at_hour(rng, day0, FLAT_HOURS), pick_ip(rng, pools, "policy")
            if SIM_START <= t < SIM_END:
                content_probe(w, rng, t, ip, rng.choice(["mail1", "mail2"]))


PROBES = [
    ("relay", relay_probe, 6),
    ("rbl", rbl_probe, 11),
    ("dictionary", dictionary_probe, 4),
    ("policy", policy_probe, 4),
    ("protocol", protocol_probe, 4),
    ("scan", scan_probe, 10),
    ("bruteforce", None, 3),
]  # kind, builder, sessions per day
# brute-force campaigns: local start "month day hour minute"
CAMPAIGNS = "11 8 2 10, 11 10 14 5, 11 12 22 40, 11 15 9 45, 11 16 3 5, 11 19 20 30, 11 21 5 55, "
CAMPAIGNS += "11 23 13 20, 11 29 1 15, 12 3 23 30, 12 5 5 58"


def probe_traffic(w: World):
    rng, pools = w.rng("probes"), attacker_pools(w.rng("attackers"))
    for day0, _ in local_days():
        for kind, build, lam in PROBES:
            for _ in range(w.n(lam, rng)):
                t, ip = at_hour(rng, day0, FLAT_HOURS), pick_ip(rng, pools, kind)
                server = "mail1" if ":" in ip and kind == "scan" else rng.choice(["mail1", "mail2"])
                if not SIM_START <= t < SIM_END:
                    continue
                if build:
                    build(w, rng, t, ip, server)
                else:
                    bruteforce_session(w, rng, t, ip, server, rng.random() < 0.5)
    for start in CAMPAIGNS.split(", "):
        ip, server = pick_ip(rng, pools, "bruteforce"), rng.choice(["mail1", "mail2"])
        t, sub = at(2003, *map(int, start.split())), rng.random() < 0.5
        for _ in range(w.n(35, rng)):
            bruteforce_session(w, rng, t, ip, server, sub)
            t += secs(rng, 20, 80)


# ----------------------------------------------------------------------------- noise & edges
def noise(w: World):
    """CRON, Dovecot logins, pickup mail, anvil statistics and master restarts."""
    rng = w.rng("noise")
    hourly = "(root) CMD (   cd / && run-parts --report /etc/cron.hourly)"
    daily = (
        "(root) CMD (test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily ))"
    )
    for server, cfg in SERVERS.items():
        for day0, quiet in local_days():
            for t, text in [(day0 + (h * 60 + 17) * 60 * S, hourly) for h in range(24)] + [
                (day0 + (6 * 60 + 25) * 60 * S, daily)
            ]:
                t += S + rng.randrange(S)
                w.emit(t, server, "CRON", w.proc(server, "CRON", t, t, "single"), text)
            for hour, uid, user, to in [(6.45, 0, "root", "root"), (2.5, 1000, "backup", "admin")]:
                t = day0 + int((hour * 3600 + rng.uniform(0, 120)) * S)
                q, fqdn = w.qid(server, t, rng), f"{server}.{LOCAL}"
                pickup = w.daemon(server, "postfix/pickup", t)
                w.emit(t, server, "postfix/pickup", pickup, f"{q}: uid={uid} from=<{user}>")
                mid, size = msgid(rng, t, fqdn, outlook=0), rng.randrange(900, 40000)
                times, rcpts = (t + 3000, t + 9000), [f"{to}@{LOCAL}"]
                queue_message(w, rng, server, Msg(q), times, f"{user}@{fqdn}", rcpts, size, mid)
            for _ in range(poisson(rng, (4 if quiet else 10) * w.scale)):
                t, c = at_hour(rng, day0), rng.choice(w.customers[:12] + w.customers[20:30])
                ip, mpid = rng.choice(c.roam_ips + [c.office] * 3), rng.randrange(3000, 30000)
                proto = rng.choice(["imap", "imap", "pop3"])
                text = (
                    f"{proto}-login: Login: user=<{rng.choice(c.mailboxes)}>, method=PLAIN, "
                    f"rip={ip}, lip={cfg['ip']}{f', mpid={mpid}' if cfg['v3'] else ''}, TLS"
                )
                w.emit(t, server, "dovecot", None, text)
            for _ in range(3):
                t = at_hour(rng, day0, FLAT_HOURS)
                when = datetime.fromtimestamp(t // S - rng.randrange(60, 600), TZ)
                ip = rng.choice(["100.68.13.7", "100.68.13.9", "198.51.100.21", "198.51.100.41"])
                svc = rng.choice(["smtp", "smtp", "submission"])
                what = rng.choice(
                    [
                        f"max connection rate {rng.randint(2, 9)}/60s for ({svc}:{ip})",
                        f"max connection count {rng.randint(1, 4)} for ({svc}:{ip})",
                        f"max cache size {rng.randint(1, 12)}",
                    ]
                )
                text = f"statistics: {what} at {when:%b} {when.day:2d} {when:%H:%M:%S}"
                w.emit(t, server, "postfix/anvil", w.daemon(server, "postfix/anvil", t), text)
        r, master = cfg["restart"], "postfix/master"
        old_master = w.daemon(server, master, r - 2 * S)
        w.emit(r - 2 * S, server, master, old_master, "terminating on signal 15")
        text = f"daemon started -- version {cfg['version']}, configuration /etc/postfix"
        w.emit(r, server, master, w.daemon(server, master, r), text)


JUNK = [
    "truncated_tag",
    "binary",
    "empty",
    "mark",
    "nul",
    "truncated_msg",
    "latin1",
    "repeated",
    "no_tag",
    "long",
]


def junk(w: World):
    """Ten malformed lines spread over the four files (rendered in write_logs)."""
    rng = w.rng("junk")
    for i, kind in enumerate(JUNK):
        t = BOUNDS[0] + (i * 28 // len(JUNK)) * DAY + rng.randrange(20000, 80000) * S
        w.emit(t, rng.choice(["mail1", "mail2"]), "__junk__", None, kind)


def edge_sessions(w: World, customers):
    """Sessions straddling every rotation instant and the first and last instant of the data."""
    rng, pools = w.rng("edges"), attacker_pools(w.rng("attackers"))
    for b in BOUNDS:
        bruteforce_session(
            w, rng, b - rng.randrange(2, 5) * S, pick_ip(rng, pools, "tail"), "mail1", False
        )
        scan = Smtpd(w, rng, "mail2", b - rng.randrange(120, 280) * S, pick_ip(rng, pools, "scan"))
        scan.close("timeout", "CONNECT")
        inbound_session(w, rng, b - rng.randrange(1, 3) * S, "mail2")
        c = rng.choice([c for c in customers if c.switch < b - 60 * S and not c.stop])
        auth_session(w, rng, c, b - rng.randrange(1, 4) * S, "mail1", c.users[0], c.office)


# ----------------------------------------------------------------------------- pids
def assign_pids(w: World):
    """Per server and program a pool: max_use 100, max_idle 100 s; new pids keep increasing."""
    rng = w.rng("pids")
    for server, cfg in SERVERS.items():
        counter, gen, busy, idle = cfg["pid0"], 0, {}, {}
        for p in sorted((p for p in w.procs if p.server == server), key=lambda p: (p.start, p.seq)):
            if gen == 0 and p.start >= cfg["restart"]:  # master restart: idle children exit
                gen, idle = 1, {}
            if p.kind != "pool":
                p.pid, counter = counter, counter + rng.randint(1, 9)
                continue
            heap, free = busy.setdefault(p.prog, []), idle.setdefault(p.prog, [])
            while heap and heap[0][0] <= p.start:
                end, _, pid, uses, g = heapq.heappop(heap)
                if uses < 100 and g == gen:
                    free.append((end, pid, uses))
            free[:] = [f for f in free if p.start - f[0] <= 100 * S]
            if free:  # the most recently freed process accepts the connection
                _, pid, uses = free.pop(max(range(len(free)), key=lambda k: free[k][0]))
            else:
                pid, uses, counter = counter, 0, counter + rng.randint(1, 9)
            p.pid = pid
            heapq.heappush(heap, (max(p.end, p.start), p.seq, pid, uses + 1, gen))


# ----------------------------------------------------------------------------- truth
def file_index(ts: int) -> int:
    return bisect.bisect_right(BOUNDS, ts) - 1


def visible(ts: int) -> bool:
    return FILE_START <= ts < FILE_END


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


# ----------------------------------------------------------------------------- writers
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def stamp(ts: int, style: str, cache: dict) -> str:
    """`Nov  7 06:25:01` (classic) or `2003-11-21T09:15:02.123456-05:00` (rfc3339)."""
    sec = ts // S
    if (sec, style) not in cache:
        dt = datetime.fromtimestamp(sec, TZ)
        z = dt.strftime("%z")
        cache[sec, style] = (
            (f"{MONTHS[dt.month - 1]} {dt.day:2d} {dt:%H:%M:%S}", "")
            if style == "classic"
            else (dt.strftime("%Y-%m-%dT%H:%M:%S."), f"{z[:3]}:{z[3:]}")
        )
    head, tail = cache[sec, style]
    return head if style == "classic" else f"{head}{ts % S:06d}{tail}"


def junk_line(kind: str, st: str, host: str) -> bytes:
    b = f"{st} {host} ".encode()
    return {
        "truncated_tag": b + b"postfix/smtpd[",
        "binary": b + b"\x8b\x08\x00\xff\xfe\xc3\x28 \x01\x02\x7f",
        "empty": b"",
        "mark": b + b"-- MARK --",
        "nul": b + b"kernel: " + b"\x00" * 12 + b"[drm] resumed",
        "truncated_msg": b + b"postfix/qmgr[99]: 3F2A4",
        "latin1": b + b"dovecot: imap-login: Aborted login (auth failed, 1 attempts): "
        b"user=<Ren\xe9@example.com>, method=PLAIN, rip=100.70.12.9",
        "repeated": b + b"last message repeated 3 times",
        "no_tag": b + b"syslogd restart",
        "long": b
        + b"postfix/cleanup[98]: warning: header Subject: =?iso-8859-1?Q?"
        + b"A_" * 1200
        + b"?= from unknown[100.70.12.9]",
    }[kind]


def write_logs(w: World, out: Path, postfix_only: bool) -> dict:
    cache: dict = {}
    bufs: list[list[bytes]] = [[] for _ in FILES]
    for ts, _, server, prog, proc, text in sorted(w.events, key=lambda e: (e[0], e[1])):
        i = file_index(ts)
        if not 0 <= i < len(FILES) or postfix_only and not prog.startswith("postfix/"):
            continue
        st = stamp(ts, FILES[i][1], cache)
        if prog == "__junk__":
            bufs[i].append(junk_line(text, st, server))
        else:
            tag = prog if proc is None else f"{prog}[{proc.pid}]"
            bufs[i].append(f"{st} {server} {tag}: {text}".encode())
    (out / "postfix").mkdir(parents=True, exist_ok=True)
    for (name, _), lines in zip(FILES, bufs, strict=True):
        data = b"\n".join(lines) + b"\n"
        with open(out / "postfix" / name, "wb") as raw:
            if name.endswith(".gz"):  # no file name and mtime 0 in the header: reproducible
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                    gz.write(data)
            else:
                raw.write(data)
    return {name: len(lines) for (name, _), lines in zip(FILES, bufs, strict=True)}


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


# ============================================================================= Exim
# The two Exim servers of the acquired ISP. Every random draw below comes from streams named
# "exim:…", so adding them changes nothing in the Postfix files. Line formats were checked
# against a real Exim 4.96 (Debian 12 exim4-daemon-heavy) run with the configurations
# described in README.md, the Exim source and the Exim/fail2ban test corpora.
MX4_ENFORCE = at(2003, 11, 24)
MX4_OUTAGE = (at(2003, 12, 2, 10, 12), at(2003, 12, 2, 10, 41))  # mx4's MySQL user table is down
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # Exim message id digits
# fmt: off
EXIM = {
    "mx3": dict(
        ip="192.0.2.13", ip6="2001:db8::13", version="4.96", enforce=ENFORCE, outage=OUTAGE,
        verbose=True,  # +pid +smtp_connection +incoming_interface +incoming_port +smtp_no_mail ...
        born=at(2003, 10, 30, 11, 2, 41), restart=at(2003, 11, 19, 4, 12, 7), queue=30 * 60 * S,
        qflag="-q30m", pid0=1873, pid_max=32768, pid_step=28, user="Debian-exim",
        auth={"PLAIN": "dovecot_plain", "LOGIN": "dovecot_login"},
        spool=("local_user", "mail_spool"),
        tls=["TLS1.2:ECDHE_RSA_AES_256_GCM_SHA384:256", "TLS1.2:ECDHE_RSA_AES_128_GCM_SHA256:128",
             "TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256"],
        files=[("exim/exim4-mx3/mainlog.3.gz", 0), ("exim/exim4-mx3/mainlog.2.gz", 1),
               ("exim/exim4-mx3/mainlog.1", 2), ("exim/exim4-mx3/mainlog", 3)],
    ),
    "mx4": dict(
        ip="192.0.2.14", ip6="2001:db8::14", version="4.97", enforce=MX4_ENFORCE, outage=MX4_OUTAGE,
        verbose=False,  # default log selectors, log_timezone = true
        born=at(2003, 10, 21, 16, 40, 3), restart=at(2003, 12, 1, 3, 40, 22), queue=HOUR,
        qflag="-q1h", pid0=281733, pid_max=4194304, pid_step=60, user="exim",
        auth={"PLAIN": "plain", "LOGIN": "login"}, spool=("localuser", "local_delivery"),
        tls=["TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256", "TLS1.2:ECDHE-RSA-AES128-GCM-SHA256:128",
             "TLS1.3:TLS_AES_256_GCM_SHA384:256"],
        files=[("exim/exim-mx4.log", None)],
    ),
}
# customers that also send through the Exim servers: their usual server (25 % go to the other)
EXIM_CUSTOMERS = {"c004": "mx4", "c009": "mx3", "c023": "mx4", "c024": "mx3", "c029": "mx4",
                  "c031": "mx4", "c036": "mx3", "c040": "mx3"}
SUBJECTS = [
    "Invoice {n}", "Re: order {n}", "Quote request", "Fw: schedule for next week",
    "Re: Thanksgiving hours",
    "Weekly report", "Meeting notes", "Re: Re: delivery date", "Estimate #{n}", "Payroll", "Photos",
    "Re: \"urgent\" - please call", "=?iso-8859-1?Q?R=E9sum=E9_and_cover_letter?=", "Statement {n}",
]
INBOUND_SUBJECTS = ["Your order {n} has shipped", "Newsletter - November 2003", "Re: appointment",
                    "Account statement", "Mailing list digest, Vol 12, Issue {n}", "Re: quote {n}"]
EXIM_PROBES = [("relay", 4), ("rbl", 7), ("dictionary", 2), ("policy", 2), ("protocol", 5),
               ("scan", 9), ("bruteforce", 2)]  # kind, sessions per day and server
EXIM_CAMPAIGNS = {"mx3": "11 9 23 10, 11 17 2 40, 11 25 13 5, 12 2 4 50",
                  "mx4": "11 11 1 35, 11 20 16 20, 11 28 3 45"}
# fmt: on


def b62(n: int, width: int) -> str:
    return b52(n, width, B62)


def exim_time(seconds: float) -> str:
    """Exim's readconf_printtime: 0s, 21s, 5m, 1m12s, 1h2m."""
    t, out = int(seconds), ""
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if t >= size:
            out, t = out + f"{t // size}{unit}", t % size
    return out + f"{t}s" if t or not out else out


class Late:
    """A log line part known only once pids exist: a pid, a message id, a connection count."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __str__(self):
        return str(self.fn())


class ExMsg:
    __slots__ = ("server", "t", "proc", "id", "sender", "rcpts", "pending", "deliveries", "local")

    def __init__(self, server, t, proc, sender, rcpts, local=False):
        self.server, self.t, self.proc, self.id, self.sender = server, t, proc, None, sender
        self.rcpts, self.pending, self.deliveries, self.local = list(rcpts), set(rcpts), [], local

    def __str__(self):
        return self.id


class ExWorld:
    """Events, processes and connections of the Exim servers."""

    def __init__(self, w: World, customers):
        self.w, self.customers, self.seq = w, customers, 0
        self.events: dict = {s: [] for s in EXIM}  # (ts, seq, proc | None, parts, extra)
        self.procs: dict = {s: [] for s in EXIM}
        self.conns: dict = {s: [] for s in EXIM}
        self.msgs: dict = {s: [] for s in EXIM}
        self.retries: dict = {s: [] for s in EXIM}  # heap of (due, seq, msg, rcpts)
        self.daemons: dict = {}
        self.local = w.local_domains

    def rng(self, name):
        return self.w.rng(f"exim:{name}")

    def proc(self, server, t, kind="pool"):
        self.seq += 1
        p = Proc(server, "exim", t, t, kind, self.seq)
        self.procs[server].append(p)
        return p

    def daemon(self, server, t):
        gen = t >= EXIM[server]["restart"]
        if gen not in self.daemons.setdefault(server, {}):
            start = EXIM[server]["restart"] if gen else EXIM[server]["born"]
            self.daemons[server][gen] = self.proc(server, start, "fixed")
        return self.daemons[server][gen]

    def emit(self, server, t, proc, *parts, extra=None):
        self.seq += 1
        self.events[server].append((t, self.seq, proc, parts, extra))

    def is_local(self, addr):
        return domain_of(addr) in self.local

    # ------------------------------------------------------------------ delivery
    def arrive(self, server, t, proc, sender, rcpts) -> ExMsg:
        msg = ExMsg(server, t, proc, sender, rcpts)
        self.msgs[server].append(msg)
        return msg

    def deliver(self, server, msg, t, rng, rcpts=None):
        """One delivery process: local mailboxes by LMTP, remote domains by SMTP."""
        cfg, p = EXIM[server], self.proc(server, t)
        groups: dict = {}
        for r in msg.rcpts if rcpts is None else rcpts:
            groups.setdefault(r if self.is_local(r) else domain_of(r), []).append(r)
        iface = f" I=[{cfg['ip']}]" if cfg["verbose"] else ""
        deferred, failed = [], []
        for key, rs in groups.items():
            t += secs(rng, 0.01, 0.15)
            if self.is_local(key):
                cookie = "".join(rng.choice(B62 + "+/") for _ in range(22))
                reply = f"250 2.0.0 <{key}> {cookie} Saved"
                text = f' => {key.split("@")[0]} <{key}> R=virtual_user T=dovecot_lmtp C="{reply}"'
                self.emit(server, t, p, msg, text, extra=("dlv", msg, key))
                msg.pending.discard(key)
                continue
            mx, mxip, ok = MX[key]  # one SMTP transaction; its results are logged together
            t += secs(rng, 0.2, 1.5) + len(rs) * secs(rng, 0.02, 0.3)
            tls, done = (
                mx_tls(server, key),
                ok.format(m=f"E1{hexs(rng, 12)}@{cfg_host(server)}", r=hexs(rng, 10)),
            )
            first, host = True, f"H={mx} [{mxip}]{iface}"
            for r in rs:
                u = rng.random()
                if u < 0.035 and rcpts is None:  # greylisting, retried in a later queue run
                    reply = (
                        f"451 4.7.1 <{r}>: Recipient address rejected: Greylisted, see "
                        f"http://postgrey.schweikert.ch/help/{key}.html"
                    )
                    text = (
                        f" == {r} R=dnslookup T=remote_smtp defer (-44) {host}: SMTP error from "
                        f"remote mail server after RCPT TO:<{r}>: {reply}"
                    )
                    deferred.append(r)
                elif u < 0.05 and rcpts is None:
                    reply = f"550 5.1.1 <{r}>: Recipient address rejected: User unknown"
                    text = (
                        f" ** {r} R=dnslookup T=remote_smtp {host}: SMTP error from remote mail "
                        f"server after RCPT TO:<{r}>: {reply}"
                    )
                    failed.append(r)
                    msg.pending.discard(r)
                else:
                    flag, first = "=>" if first else "->", False
                    text = f' {flag} {r} R=dnslookup T=remote_smtp {host}{tls} C="{done}"'
                    msg.pending.discard(r)
                self.emit(server, t, p, msg, text, extra=("dlv", msg, r))
        if failed and self.is_local(msg.sender):  # a bounce back to the local sender
            t += secs(rng, 0.02, 0.2)
            bp = self.proc(server, t)
            subj = (
                ' T="Mail delivery failed: returning message to sender"' if cfg["verbose"] else ""
            )
            bounce = self.arrive(server, t, bp, "", [msg.sender])
            bounce.local = True
            size = rng.randrange(1900, 4800)
            self.emit(
                server, t, bp, bounce, " <= <> R=", msg, f" U={cfg['user']} P=local S={size}{subj}"
            )
            self.deliver(server, bounce, t + secs(rng, 0.05, 0.4), rng)
        if deferred:
            due = t + secs(rng, 300, 420)
            heapq.heappush(self.retries[server], (due, self.seq, msg, deferred))
            self.seq += 1
        elif not msg.pending:
            self.emit(server, t + secs(rng, 0.001, 0.01), p, msg, " Completed")
        p.end = t
        return t

    def queue_runs(self, server):
        """Queue runner every 30 min (mx3) or hour (mx4): Start/End lines, retried deliveries."""
        cfg, rng = EXIM[server], self.rng(f"queue:{server}")
        runs, heap = [], self.retries[server]
        for born, end in ((cfg["born"], cfg["restart"]), (cfg["restart"], SIM_END)):
            k = max(0, -(-(SIM_START - born) // cfg["queue"]))
            while born + k * cfg["queue"] < min(end, SIM_END):
                runs.append(
                    born + k * cfg["queue"] + (S if born == cfg["restart"] and k == 0 else 0)
                )
                k += 1
        for t0 in runs:
            t0 += rng.randrange(0, 3000)
            runner = self.proc(server, t0)
            self.emit(server, t0, runner, "Start queue run: pid=", Late(lambda p=runner: p.pid))
            t = t0 + secs(rng, 0.01, 0.05)
            while heap and heap[0][0] <= t0:
                _, _, msg, rs = heapq.heappop(heap)
                still = [r for r in rs if rng.random() < 0.15]
                t = self.deliver_retry(server, msg, t, rng, rs, still)
            runner.end = t + secs(rng, 0.01, 0.3)
            self.emit(
                server, runner.end, runner, "End queue run: pid=", Late(lambda p=runner: p.pid)
            )

    def deliver_retry(self, server, msg, t, rng, rcpts, still):
        cfg, p = EXIM[server], self.proc(server, t)
        iface = f" I=[{cfg['ip']}]" if cfg["verbose"] else ""
        first: dict = {}
        for r in rcpts:
            mx, mxip, ok = MX[domain_of(r)]
            t += secs(rng, 0.3, 1.5)
            host = f"H={mx} [{mxip}]{iface}"
            if r in still:
                reply = (
                    f"451 4.7.1 <{r}>: Recipient address rejected: Greylisted, see "
                    f"http://postgrey.schweikert.ch/help/{domain_of(r)}.html"
                )
                text = (
                    f" == {r} R=dnslookup T=remote_smtp defer (-44) {host}: SMTP error from "
                    f"remote mail server after RCPT TO:<{r}>: {reply}"
                )
            else:
                flag = "->" if first.get(mx) else "=>"
                first[mx] = True
                tls = mx_tls(server, domain_of(r))
                reply = ok.format(m=f"E1{hexs(rng, 12)}@{cfg_host(server)}", r=hexs(rng, 10))
                text = f' {flag} {r} R=dnslookup T=remote_smtp {host}{tls} C="{reply}"'
                msg.pending.discard(r)
            self.emit(server, t, p, msg, text, extra=("dlv", msg, r))
        if still:
            heapq.heappush(self.retries[server], (t + secs(rng, 600, 900), self.seq, msg, still))
            self.seq += 1
        elif not msg.pending:
            self.emit(server, t + secs(rng, 0.001, 0.01), p, msg, " Completed")
        p.end = t
        return t + secs(rng, 0.01, 0.1)


def cfg_host(server):
    return f"{server}.{LOCAL}"


MX_TLS = {
    "aol.com": 0,
    "yahoo.com": 1,
    "hotmail.com": 2,
    "msn.com": 2,
    "comcast.net": 0,
    "verizon.net": 1,
}  # remote MXes that offer STARTTLS: which cipher they end up with


def mx_tls(server, dom):
    return f" X={EXIM[server]['tls'][MX_TLS[dom]]} CV=yes" if dom in MX_TLS else ""


class ExConn:
    """One SMTP connection to an Exim server; its lines (ts, tag, extra) feed the truth."""

    def __init__(self, x: ExWorld, rng, server, t, ip, port=25, host=None):
        t += 0 if t % S else rng.randrange(1, S)
        self.x, self.rng, self.server, self.cfg = x, rng, server, EXIM[server]
        self.ip, self.port, self.t, self.start = ip, port, t, t
        self.cport = rng.randrange(1025, 65536)
        name = host if host is not None else ident(ip)[0]
        self.name = None if name == "unknown" else name
        self.helo, self.hist, self.user, self.authr, self.tls = None, [], None, None, None
        self.mailcmds, self.in_tx, self.msgs, self.lines, self.esmtp = 0, False, [], [], True
        self.count, self.close_ts = 0, None
        self.proc = x.proc(server, t)
        x.conns[server].append(self)
        self.srv_ip = self.cfg["ip6"] if ":" in ip else self.cfg["ip"]
        if self.cfg["verbose"]:  # written by the daemon before it forks the receiving process
            d = x.daemon(server, t)
            x.emit(
                server,
                t,
                d,
                f"SMTP connection from {self.addr()}{self.iface()} (TCP/IP connection count = ",
                Late(lambda: self.count),
                ")",
            )
            self.lines.append((t, "connect", None))
        if port == 465:
            self.tls = rng.choice(self.cfg["tls"][:2])
        self.tick(0.001, 0.04)
        if self.name is None:
            self.say(f"no host name found for IP address {ip}", "hostlookup")

    # formatting -------------------------------------------------------------
    def addr(self):
        return f"[{self.ip}]:{self.cport}" if self.cfg["verbose"] else f"[{self.ip}]"

    def iface(self):
        return f" I=[{self.srv_ip}]:{self.port}" if self.cfg["verbose"] else ""

    def full(self, helo=True):
        """$sender_fullhost: `name (helo) [ip]:port`, `name [ip]`, `(helo) [ip]` or `[ip]`."""
        h = self.helo if helo else None
        if self.name and h and h.lower() != self.name.lower():
            return f"{self.name} ({h}) {self.addr()}"
        if self.name:
            return f"{self.name} {self.addr()}"
        return f"({h}) {self.addr()}" if h else self.addr()

    def hi(self, helo=True):  # host_and_ident(FALSE) plus the interface
        return self.full(helo) + self.iface()

    # actions ----------------------------------------------------------------
    def tick(self, lo=0.02, hi=0.4):
        self.t += secs(self.rng, lo, hi)

    def say(self, text, tag=None, extra=None, *late):
        self.x.emit(self.server, self.t, self.proc, text, *late, extra=(tag, self, extra))
        self.lines.append((self.t, tag, extra))

    def ehlo(self, helo, verb="EHLO", tls=False):
        self.tick()
        self.hist.append(verb)
        self.helo, self.esmtp = helo, verb == "EHLO"
        if tls and not self.tls:
            self.tick()
            self.hist.append("STARTTLS")
            self.tick(0.05, 0.3)
            self.tls = self.rng.choice(self.cfg["tls"])
            self.tick()
            self.hist.append(verb)

    def auth_ok(self, user, mech="PLAIN"):
        self.tick(0.05, 0.3)
        self.hist.append("AUTH")
        self.user, self.authr = user, self.cfg["auth"][mech]

    def auth_fail(self, user, mech="LOGIN"):
        self.tick(0.8, 3)
        self.hist.append("AUTH")
        set_id = f" (set_id={user})" if user else ""
        text = f"{self.cfg['auth'][mech]} authenticator failed for {self.hi()}: 535 Incorrect "
        self.say(text + f"authentication data{set_id}", "auth_fail")

    def auth_outage(self, user):
        self.tick(0.1, 0.6)
        self.hist.append("AUTH")
        if self.server == "mx3":  # the Dovecot auth service is down: no socket to talk to
            why = (
                ": unable to connect to UNIX socket (/run/dovecot/auth-client): Connection refused"
            )
        else:  # a MySQL lookup in server_condition defers
            why = (
                f" (set_id={user}): lookup of \"SELECT crypt FROM mailbox WHERE username='{user}' "
                "AND active=1\" gave DEFER: MYSQL connection failed: Can't connect to server on "
                "'db1.provider.example' (115)"
            )
        name = self.cfg["auth"]["PLAIN"]
        self.say(
            f"{name} authenticator failed for {self.hi()}: 435 Unable to authenticate at present"
            + why,
            "auth_unavail",
        )

    def mail(self):
        self.tick()
        self.hist.append("MAIL")
        self.mailcmds += 1
        self.in_tx = True

    def reject(self, sender, rcpt, reason, tag):
        self.tick(0.05, 0.4)
        self.hist.append("RCPT")
        self.say(f"H={self.hi()} F=<{sender}> rejected RCPT <{rcpt}>: {reason}", tag, rcpt)

    def proto(self):
        p = ("esmtp" if self.esmtp else "smtp") + ("s" if self.tls else "")
        return p + ("a" if self.user else "")

    def send(self, sender, rcpts, rejected=(), subject=None, mid=None, size=None):
        """MAIL, RCPTs (rejected: (rcpt, reason, tag)), DATA; the `<=` line and delivery."""
        rng, x = self.rng, self.x
        self.mail()
        for r in rejected:
            self.reject(sender, *r)
        for _ in rcpts:
            self.tick(0.02, 0.2)
            self.hist.append("RCPT")
        self.hist.append("DATA")
        size = size or int(min(rng.lognormvariate(8.4, 1.0), 4e6)) + 700
        self.t += int((0.3 + size / rng.uniform(8e3, 6e4)) * S)
        msg = x.arrive(self.server, self.t, self.proc, sender, rcpts)
        mid = mid or msgid(rng, self.t, domain_of(sender), self.helo or "localhost")
        parts = [f" <= {sender} H={self.hi()} P={self.proto()}"]
        if self.tls:
            parts.append(f" X={self.tls} CV=no")
        if self.user:
            parts.append(f" A={self.authr}:{self.user}")
        parts.append(f" S={size} id={mid}")
        if self.cfg["verbose"]:
            subj = (subject or rng.choice(SUBJECTS)).format(n=rng.randrange(1000, 99999))
            subj = subj.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f' T="{subj}"')
        x.emit(self.server, self.t, self.proc, msg, "".join(parts), extra=("msg", self, msg))
        self.lines.append((self.t, "msg", msg))
        self.msgs.append(msg)
        self.in_tx = False
        x.deliver(self.server, msg, self.t + secs(rng, 0.01, 0.3), rng)

    def nomail(self):
        """+smtp_no_mail: a session without any MAIL command, after its closing line."""
        if not self.cfg["verbose"] or self.mailcmds:
            return
        self.tick(0.0001, 0.001)
        hist = self.hist[-20:]
        c = (" C=..." if len(self.hist) > 20 else " C=") + ",".join(hist) if hist else ""
        a = f" A={self.authr}:{self.user}" if self.user else ""
        tls = f" X={self.tls} CV=no" if self.tls else ""
        d = exim_time((self.t - self.start) / S)
        self.say(
            f"no MAIL in SMTP connection from {self.hi()} D={d}{a}{tls}{c}", "nomail", self.user
        )

    def end(self, text, tag="close"):
        self.say(text, tag)
        self.close_ts = self.t
        self.proc.end = self.t

    def close(self, how="quit"):
        """quit | lost | timeout | nonmail (dropped: too many nonmail commands)."""
        verbose, d = self.cfg["verbose"], None
        if how == "quit":
            self.tick()
            self.hist.append("QUIT")
            if verbose:
                self.end(f"SMTP connection from {self.hi()} closed by QUIT")
        elif how == "timeout":
            self.tick(300, 300.5)  # smtp_receive_timeout = 5m
            tls = " TLS" if self.tls else ""
            return self.end(f"SMTP command timeout on{tls} connection from {self.hi()}")
        elif how == "lost":
            self.tick(0.2, 4)
            d = exim_time((self.t - self.start) / S)
            if self.in_tx:  # lost_incoming_connection (a default selector)
                return self.end(
                    f"unexpected disconnection while reading SMTP command from {self.hi()} D={d}"
                )
            if verbose:
                self.end(f"SMTP connection from {self.hi()} lost D={d}")
        elif how == "nonmail":
            self.end(
                f"SMTP call from {self.hi()} dropped: too many nonmail commands (last was "
                f'"{self.hist[-1]}")',
                "protocol",
            )
        self.close_ts = self.close_ts or self.t
        self.proc.end = self.t
        self.nomail()


# ----------------------------------------------------------------------------- Exim traffic
def ex_relay_or_denied(x, rng, c, t, server, ip, helo, sender, rcpts, verb="EHLO", subject=None):
    s = ExConn(x, rng, server, t, ip, 25, c.host_of(ip))
    s.ehlo(helo, verb)
    ext = [r for r in rcpts if not x.is_local(r)]
    denied = [(r, "relay not permitted", "relay_denied") for r in ext]
    if t < EXIM[server]["enforce"] or not ext:
        s.send(sender, rcpts, subject=subject)
    elif len(ext) < len(rcpts) and rng.random() < 0.6:  # the local recipients still get it
        s.send(sender, [r for r in rcpts if r not in ext], denied, subject)
    else:
        s.mail()
        for r in denied:
            s.reject(sender, *r)
        s.tick()
        s.hist.append("RSET")
    s.close()


def ex_auth_session(x, rng, c, t, server, force_outage=False):
    user = rng.choice(c.users)
    ip = rng.choice(c.roam_ips) if rng.random() < c.roam else c.office
    port = rng.choices([587, 465, 25], [70, 18, 12 if server == "mx4" else 0])[0]
    s = ExConn(x, rng, server, t, ip, port, c.host_of(ip))
    s.ehlo(rng.choice(c.helos), tls=port == 587)
    out = EXIM[server]["outage"]
    if force_outage or out[0] <= s.t < out[1]:
        for _ in range(rng.randint(1, 2)):
            s.auth_outage(user)
        return s.close()
    fresh = c.switch <= t < c.switch + DAY
    if rng.random() < (0.25 if fresh else 0.01):  # a new mail client with a mistyped password
        for _ in range(rng.randint(1, 3)):
            s.auth_fail(user, rng.choice(["PLAIN", "LOGIN"]))
        return s.close("quit" if rng.random() < 0.7 else "lost")
    s.auth_ok(user, rng.choice(["PLAIN", "PLAIN", "LOGIN"]))
    if rng.random() < 0.05:  # AUTH and QUIT: on mx3 only the `no MAIL` line shows it
        return s.close()
    for _ in range(rng.choices([1, 2, 3], [80, 15, 5])[0]):
        s.send(c.senders[user], rand_rcpts(rng, 0.65, x.w.mailboxes))
    s.close()


def exim_customers(x: ExWorld):
    w = x.w
    for c in [c for c in x.customers if c.cid in EXIM_CUSTOMERS]:
        rng, home = x.rng(f"customer:{c.cid}"), EXIM_CUSTOMERS[c.cid]
        other = "mx3" if home == "mx4" else "mx4"
        for day0, quiet in local_days():
            t = 0
            for _ in range(w.n(c.activity * (0.1 if quiet else 1.0), rng)):
                near = t and rng.random() < 0.3
                t = t + secs(rng, 15, 90) if near else at_hour(rng, day0)
                if not SIM_START <= t < SIM_END:
                    continue
                server = home if rng.random() < 0.75 else other
                if t >= c.switch:
                    ex_auth_session(x, rng, c, t, server)
                    continue
                sender, helo = c.senders[rng.choice(c.users)], rng.choice(c.helos)
                rcpts = rand_rcpts(rng, 0.75, w.mailboxes)
                ex_relay_or_denied(x, rng, c, t, server, c.office, helo, sender, rcpts)
            for _ in range(w.n(0 if quiet or c.scenario != "mixed_device" else 0.8, rng)):
                t = at_hour(rng, day0)  # the old scanner says HELO and relays by IP
                rcpts = rand_rcpts(rng, 0.75, c.mailboxes, 1)
                ex_relay_or_denied(
                    x,
                    rng,
                    c,
                    t,
                    home,
                    c.copier,
                    "KM-C250",
                    f"scanner@{c.domains[0]}",
                    rcpts,
                    "HELO",
                    "Scanned image from KM-C250",
                )
    for server in EXIM:  # each server's own AUTH outage
        rng = x.rng(f"outage:{server}")
        ready = [
            c
            for c in x.customers
            if c.cid in EXIM_CUSTOMERS and c.switch < EXIM[server]["outage"][0]
        ]
        for _ in range(w.n(4, rng)):
            c = rng.choice(ready)
            ex_auth_session(x, rng, c, rng.randrange(*EXIM[server]["outage"]), server, True)


def ex_inbound(x, rng, t, server):
    host, ip, dom = rng.choice(INBOUND_HOSTS)
    helo = host if host != "unknown" else "mailer.example"
    s = ExConn(x, rng, server, t, ip, 25, host)
    s.ehlo(helo, tls=host != "unknown" and rng.random() < 0.7)
    for _ in range(rng.choices([1, 2], [90, 10])[0]):
        user = rng.choice(["news", "orders", f"bounce-{rng.randrange(10**5)}", "jane"])
        bad = f"{rng.choice(FIRST)}{rng.randrange(10)}@{rng.choice(sorted(x.local))}"
        rejected = [(bad, "Unrouteable address", "dict")] if rng.random() < 0.1 else []
        rcpts = rand_rcpts(rng, 0, x.w.mailboxes, rng.choices([1, 2, 3], [70, 20, 10])[0])
        s.send(f"{user}@{dom}", rcpts, rejected, rng.choice(INBOUND_SUBJECTS))
    s.close()


def ex_bruteforce(x, rng, t, ip, server):
    users = ["admin", "test", "info", "webmaster", "sales", "postmaster", "root", "support", ""]
    users.append(f"info@{rng.choice(sorted(x.local))}")
    port = 587 if server == "mx3" or rng.random() < 0.5 else 25
    if server == "mx3" and rng.random() < 0.2:  # AUTH on port 25, where mx3 does not offer it
        s = ExConn(x, rng, server, t, ip, 25)
        s.ehlo(junk_helo(rng, ip))
        s.tick(0.3, 1)
        s.hist.append("AUTH")
        s.say(
            f'SMTP protocol error in "AUTH LOGIN" H={s.hi()} AUTH command used when not advertised',
            "protocol",
        )
        return s.close()
    s = ExConn(x, rng, server, t, ip, port)
    s.ehlo(junk_helo(rng, ip))
    for _ in range(rng.randint(2, 7)):
        s.auth_fail(rng.choice(users), rng.choice(["LOGIN", "LOGIN", "PLAIN"]))
    s.close("lost" if rng.random() < 0.5 else "quit")


def ex_relay_probe(x, rng, t, ip, server):
    s = ExConn(x, rng, server, t, ip)
    s.ehlo(junk_helo(rng, ip))
    s.mail()
    sender = spam_sender(rng)
    for r in rand_rcpts(rng, 1, [], rng.randint(1, 3)):
        s.reject(sender, r, "relay not permitted", "relay_denied")
    s.close("quit" if rng.random() < 0.7 else "lost")


def ex_rbl_probe(x, rng, t, ip, server):
    s = ExConn(x, rng, server, t, ip)
    if rng.random() < 0.5:  # `drop dnslists = zen.spamhaus.org` in the connect ACL
        s.tick(0.05, 0.4)
        code = rng.choice(["127.0.0.4", "127.0.0.4", "127.0.0.2", "127.0.0.11"])
        why = (
            f"{ip} is listed at zen.spamhaus.org ({code}: http://www.spamhaus.org/query/bl?ip={ip})"
        )
        s.say(f'H={s.hi(False)} rejected connection in "connect" ACL: {why}', "rbl")
        if s.cfg["verbose"]:
            s.tick(0.0001, 0.001)
            s.end(f"SMTP connection from {s.hi(False)} closed by DROP in ACL")
        s.close_ts, s.proc.end = s.t, s.t
        return
    s.ehlo(junk_helo(rng, ip))
    s.mail()
    sender = spam_sender(rng)
    for r in rand_rcpts(rng, 0, x.w.mailboxes, rng.randint(1, 3)):
        if s.server == "mx3":
            why = f"JunkMail rejected - {s.full()} is in an RBL: see http://www.spamhaus.org/query/bl?ip={ip}"
        else:  # the second line of the message (`\n` + URL) is not logged
            why = f"rejected because {ip} is in a black list at bl.spamcop.net"
        s.reject(sender, r, why, "rbl")
    s.close("quit" if rng.random() < 0.6 else "lost")


def ex_dictionary(x, rng, t, ip, server):
    s = ExConn(x, rng, server, t, ip)
    s.ehlo(junk_helo(rng, ip))
    s.mail()
    dom, sender = rng.choice(sorted(x.local)), spam_sender(rng)
    suffixes = ["", "." + rng.choice(LAST), "1"]
    for _ in range(rng.randint(3, 12)):
        r = f"{rng.choice(FIRST + LAST)}{rng.choice(suffixes)}@{dom}"
        s.reject(sender, r, "Unrouteable address", "dict")
    s.close("quit" if rng.random() < 0.8 else "lost")


def ex_policy(x, rng, t, ip, server):
    s = ExConn(x, rng, server, t, ip)
    s.ehlo(junk_helo(rng, ip))
    for _ in range(rng.choices([1, 2], [75, 25])[0]):  # `require verify = sender` in the MAIL ACL
        sender = f"{rng.choice(FIRST)}@{hexs(rng, 6).lower()}-mail.invalid"
        s.mail()
        s.in_tx = False
        s.tick(0.2, 1.5)
        s.say(
            f"H={s.hi()} sender verify fail for <{sender}>: Unrouteable address", "policy", sender
        )
        s.tick(0.0001, 0.002)
        s.say(f"H={s.hi()} rejected MAIL <{sender}>: Sender verify failed", "policy", sender)
    s.close("quit" if rng.random() < 0.7 else "lost")


def ex_protocol(x, rng, t, ip, server):
    kind = rng.choice(["sync", "sync", "helo", "nonmail", "synprot"])
    s = ExConn(x, rng, server, t, ip)
    if kind == "sync":  # talks before the greeting
        s.tick(0.01, 0.3)
        inp = rng.choice(
            [
                "GET / HTTP/1.1\\r\\nHost: {h}\\r\\n\\r\\n",
                "EHLO User\\r\\n",
                "HELO localhost\\r\\n",
                "\\026\\003\\001\\000\\245\\001\\000\\000\\241\\003\\003",
            ]
        )
        inp = inp.format(h=s.srv_ip)
        return s.end(
            "SMTP protocol synchronization error (input sent without waiting for greeting): "
            f'rejected connection from H={s.hi(False)} input="{inp}"',
            "protocol",
        )
    if kind == "helo":  # rejected EHLO: syntactically invalid argument(s)
        arg = rng.choice(
            ["ylmf_pc", "User PC", "[127.0.0.1", "localhost_localdomain", "WIN_7A3F01"]
        )
        s.tick()
        s.hist.append("EHLO")
        s.say(
            f"rejected EHLO from {s.hi(False)}: syntactically invalid argument(s): {arg}",
            "protocol",
        )
        return s.close("quit" if rng.random() < 0.5 else "lost")
    s.ehlo(junk_helo(rng, ip))
    if kind == "nonmail":  # smtp_accept_max_nonmail = 10
        cmd = rng.choice(["RSET", "NOOP", "HELP"])
        for _ in range(11):
            s.tick(0.05, 0.5)
            s.hist.append(cmd)
        return s.close("nonmail")
    bad = [
        "MAIL FROM:<>",
        "RCPT TO:",
        "MAIL FROM:<>",
        "MAIL FROM:<>",
    ]  # smtp_max_synprot_errors = 3
    s.tick()
    s.hist.append("MAIL")
    s.mailcmds += 1
    for cmd in bad:
        s.tick(0.05, 0.4)
        s.hist.append("RCPT" if cmd.startswith("RCPT") else "MAIL")
        if s.cfg["verbose"]:  # +smtp_protocol_error +smtp_syntax_error
            what = "syntax" if cmd.startswith("RCPT") else "protocol"
            why = (
                "RCPT must have an address operand" if what == "syntax" else "sender already given"
            )
            s.say(f'SMTP {what} error in "{cmd}" H={s.hi()} {why}', "protocol")
    s.tick(0.0001, 0.001)
    s.end(
        f"SMTP call from {s.hi()} dropped: too many syntax or protocol errors (last command was "
        f'"{bad[-1]}",  C={",".join(s.hist)})',
        "protocol",
    )


def ex_scan(x, rng, t, ip, server):
    kind = rng.choices(["quit", "lost", "timeout", "tls", "mail"], [30, 25, 15, 15, 15])[0]
    s = ExConn(x, rng, server, t, ip)
    if kind == "timeout":
        return s.close("timeout")
    if kind == "lost" and rng.random() < 0.5:  # gone before saying anything
        return s.close("lost")
    s.ehlo(junk_helo(rng, ip), tls=kind == "tls")
    if kind == "mail":  # MAIL, then the client hangs up
        s.mail()
        return s.close("lost")
    s.close("quit" if kind == "quit" else "lost")


EX_BUILDERS = dict(
    relay=ex_relay_probe,
    rbl=ex_rbl_probe,
    dictionary=ex_dictionary,
    policy=ex_policy,
    protocol=ex_protocol,
    scan=ex_scan,
    bruteforce=ex_bruteforce,
)


def exim_probes(x: ExWorld):
    pools = attacker_pools(x.w.rng("attackers"))  # the same attackers as the Postfix servers see
    for server in EXIM:
        rng = x.rng(f"probes:{server}")
        for day0, _ in local_days():
            for kind, lam in EXIM_PROBES:
                for _ in range(x.w.n(lam, rng)):
                    t, ip = at_hour(rng, day0, FLAT_HOURS), pick_ip(rng, pools, kind)
                    if ":" in ip and (server == "mx4" or kind != "scan"):
                        ip = rng.choice(pools["tail"][0])
                    if SIM_START <= t < SIM_END:
                        EX_BUILDERS[kind](x, rng, t, ip, server)
        for start in EXIM_CAMPAIGNS[server].split(", "):
            ip, t = pick_ip(rng, pools, "bruteforce"), at(2003, *map(int, start.split()))
            for _ in range(x.w.n(25, rng)):
                ex_bruteforce(x, rng, t, ip, server)
                t += secs(rng, 8, 50)


def exim_inbound(x: ExWorld):
    for server in EXIM:
        rng = x.rng(f"inbound:{server}")
        for day0, quiet in local_days():
            t = 0
            for _ in range(x.w.n(5 if quiet else 11, rng)):
                t = t + secs(rng, 3, 60) if t and rng.random() < 0.3 else at_hour(rng, day0)
                if SIM_START <= t < SIM_END:
                    ex_inbound(x, rng, t, server)


def exim_local(x: ExWorld):
    """cron.daily's logwatch report to root, a nightly backup report; daemon (re)starts."""
    for server, cfg in EXIM.items():
        rng = x.rng(f"local:{server}")
        router, transport = cfg["spool"]
        for day0, _ in local_days():
            for hour, user, subj in [
                (6.43, "root", f"Logwatch for {server} (Linux)"),
                (2.25, "backup", "backup: nightly dump OK"),
            ]:
                t = day0 + int((hour * 3600 + rng.uniform(0, 300)) * S)
                if not SIM_START <= t < SIM_END:
                    continue
                p, sender = x.proc(server, t), f"{user}@{cfg_host(server)}"
                rcpt = f"root@{cfg_host(server)}"
                msg = x.arrive(server, t, p, sender, [rcpt])
                msg.local = True
                tt = f' T="{subj}"' if cfg["verbose"] else ""
                size = rng.randrange(800, 30000)
                x.emit(server, t, p, msg, f" <= {sender} U={user} P=local S={size}{tt}")
                d = x.proc(server, t + secs(rng, 0.01, 0.1))
                t2 = d.start + secs(rng, 0.01, 0.05)
                x.emit(
                    server,
                    t2,
                    d,
                    msg,
                    f" => admin <{rcpt}> R={router} T={transport}",
                    extra=("dlv", msg, rcpt),
                )
                x.emit(server, t2 + 800, d, msg, " Completed")
                msg.pending.clear()
        d = x.daemon(server, cfg["restart"])
        x.emit(
            server,
            cfg["restart"],
            d,
            f"exim {cfg['version']} daemon started: pid=",
            Late(lambda d=d: d.pid),
            f", {cfg['qflag']}, listening for SMTP on port 25 (IPv6 and IPv4) "
            "port 587 (IPv6 and IPv4) and for SMTPS on port 465 (IPv6 and IPv4)",
        )


def exim_edges(x: ExWorld):
    """Sessions across every rotation instant and the first and last instant of the data."""
    rng, pools = x.rng("edges"), attacker_pools(x.w.rng("attackers"))
    for b in BOUNDS:
        for server in EXIM:
            ex_bruteforce(x, rng, b - rng.randrange(2, 5) * S, pick_ip(rng, pools, "tail"), server)
            s = ExConn(x, rng, server, b - rng.randrange(100, 280) * S, pick_ip(rng, pools, "scan"))
            s.close("timeout")
            ex_inbound(x, rng, b - rng.randrange(1, 3) * S, server)


EXIM_JUNK = {
    "mx3": ["empty", "truncated", "binary", "nul", "no_stamp"],
    "mx4": ["truncated_stamp", "binary", "empty", "repeated_stamp", "latin1"],
}


def exim_junk(x: ExWorld):
    rng = x.rng("junk")
    for server, kinds in EXIM_JUNK.items():
        for i, kind in enumerate(kinds):
            t = BOUNDS[0] + (i * 28 // len(kinds) + 2) * DAY + rng.randrange(20000, 80000) * S
            x.emit(server, t, None, kind, extra=("junk",))


def exim_assign(x: ExWorld):
    """Pids in process creation order (wrapping at pid_max), then message ids and counts."""
    for server, cfg in EXIM.items():
        rng, pid, daemons = x.rng(f"pids:{server}"), cfg["pid0"], set()
        for p in sorted(x.procs[server], key=lambda p: (p.start, p.seq)):
            pid += rng.randint(1, cfg["pid_step"])
            if pid >= cfg["pid_max"]:  # the kernel wraps around and skips pids still in use
                pid = 300 + pid % cfg["pid_max"]
            pid += pid in daemons
            p.pid = pid
            daemons |= {pid} if p.kind == "fixed" else set()
        ids = set()
        for m in sorted(x.msgs[server], key=lambda m: m.t):
            sec, usec = divmod(m.t, S)
            while True:
                if cfg["version"] < "4.97":  # 6-6-2: time, pid, 1/2000 s
                    mid = f"{b62(sec, 6)}-{b62(m.proc.pid, 6)}-{b62(usec // 500, 2)}"
                else:  # 4.97+: 6-11-4: time, pid, microseconds
                    mid = f"{b62(sec, 6)}-{b62(m.proc.pid, 11)}-{b62(usec, 4)}"
                if mid not in ids:
                    break
                usec = (usec + 500) % S
            ids.add(mid)
            m.id = mid
        conns = sorted(x.conns[server], key=lambda c: c.start)
        live: list = []
        for c in conns:  # the daemon's count of accepting processes, this one included
            while live and live[0] <= c.start:
                heapq.heappop(live)
            c.count = len(live) + 1
            heapq.heappush(live, max(c.proc.end, c.t))


def exim_junk_line(kind: str, st: str) -> bytes:
    return {
        "empty": b"",
        "truncated": f"{st} [2".encode(),
        "binary": st.encode() + b" \x8b\x08\x00\xff\xfe\xc3\x28 \x01\x02\x7f",
        "nul": b"\x00" * 40 + f"{st} Start queue run: pid=".encode(),
        "no_stamp": b"exim: could not open panic log - aborting: see message(s) above",
        "truncated_stamp": st[:13].encode(),
        "repeated_stamp": f"{st} {st} SMTP connection from".encode(),
        "latin1": st.encode() + b" H=(caf\xe9.example) [100.70.",
    }[kind]


def exim_write(x: ExWorld, out: Path) -> dict:
    counts = {}
    for server, cfg in EXIM.items():
        files = cfg["files"]
        bufs: list = [[] for _ in files]
        cache: dict = {}
        for ts, _, proc, parts, extra in sorted(x.events[server], key=lambda e: (e[0], e[1])):
            if not visible(ts):
                continue
            i = file_index(ts) if files[0][1] is not None else 0
            sec = ts // S
            if sec not in cache:
                dt = datetime.fromtimestamp(sec, TZ)
                cache[sec] = dt.strftime("%Y-%m-%d %H:%M:%S" + ("" if cfg["verbose"] else " %z"))
            st = cache[sec]
            if extra and extra[0] == "junk":
                bufs[i].append(exim_junk_line(parts[0], st))
                continue
            text = "".join(map(str, parts))
            pid = f" [{proc.pid}]" if cfg["verbose"] else ""
            bufs[i].append(f"{st}{pid} {text}".encode())
        for (name, _), lines in zip(files, bufs, strict=True):
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            data = b"\n".join(lines) + b"\n"
            with open(path, "wb") as raw:
                if name.endswith(".gz"):
                    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                        gz.write(data)
                else:
                    raw.write(data)
            counts[name] = len(lines)
    return counts


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


def exim_generate(out_dir: Path, w: World, customers) -> tuple:
    """Write the Exim logs and their truth; return (stats, session rows, unit rows)."""
    x = ExWorld(w, customers)
    exim_customers(x)
    exim_inbound(x)
    exim_probes(x)
    exim_edges(x)
    exim_local(x)
    for server in EXIM:
        x.queue_runs(server)
    exim_junk(x)
    exim_assign(x)
    lines = exim_write(x, out_dir)
    sessions, units = exim_truth(x)
    write_csv(
        out_dir / "truth" / "exim_sessions.csv",
        SESSION_COLS + ["period"],
        [[r[k] for k in SESSION_COLS + ["period"]] for r in sessions],
    )
    write_csv(
        out_dir / "truth" / "exim_units.csv", UNIT_COLS, [[r[k] for k in UNIT_COLS] for r in units]
    )
    by_class: dict = {}
    for name, rows in (("mx3", sessions), ("mx4", units)):
        for r in rows:
            key = f"{name} {r.get('kind', 'session')} {r['class']}/{r['reason']}"
            by_class[key] = by_class.get(key, 0) + 1
    stats = {
        "lines": lines,
        "total_lines": sum(lines.values()),
        "mx3_sessions": len(sessions),
        "mx3_cut": sum(r["cut"] for r in sessions),
        "mx4_units": len(units),
        "by_class": dict(sorted(by_class.items())),
    }
    return stats, sessions, units


def generate(out_dir: Path, seed: int = 2003, scale: float = 1.0, postfix_only=False) -> dict:
    """Write every sample file under out_dir; return line and session counts."""
    out_dir, w = Path(out_dir), World(seed, scale)
    rng, nxt = w.rng("customers"), {"198.18": 0xC6120100, "198.19": 0xC6130400}
    w.customers = customers = [Customer(row, rng, nxt) for row in CUSTOMERS]
    w.local_domains = {d for c in customers for d in c.domains} | {LOCAL}
    w.mailboxes = [m for c in customers for m in c.mailboxes]
    w.mailboxes += [f"support@{LOCAL}", f"postmaster@{LOCAL}"]
    customer_traffic(w, customers)
    cracked_account(w)
    inbound_traffic(w)
    probe_traffic(w)
    edge_sessions(w, customers)
    noise(w)
    junk(w)
    content_spam(w)
    assign_pids(w)
    lines = write_logs(w, out_dir, postfix_only)
    rows = truth_rows(w, customers)
    write_csv(
        out_dir / "truth" / "postfix_sessions.csv",
        SESSION_COLS,
        [[r[k] for k in SESSION_COLS] for r in rows],
    )
    counts = {c.cid: [0, 0, 0, 0] for c in customers}  # readiness: outbound and authenticated
    for r in rows:
        if r["customer_id"] and r["reason"] in ("submission", "relay", "relay_denied"):
            k = 0 if r["_ts"] < ENFORCE else 2
            counts[r["customer_id"]][k] += 1
            counts[r["customer_id"]][k + 1] += r["class"] == "authenticated"
    header = [
        "customer_id",
        "outbound_before",
        "authenticated_before",
        "outbound_after",
        "authenticated_after",
        "scenario",
    ]
    write_csv(
        out_dir / "truth" / "customers.csv",
        header,
        [[c.cid, *counts[c.cid], c.scenario] for c in customers],
    )
    write_static(out_dir, customers, postfix_only)
    by_class: dict = {}
    for r in rows:
        key = f"{r['class']}/{r['reason']}"
        by_class[key] = by_class.get(key, 0) + 1
    stats = {
        "lines": lines,
        "total_lines": sum(lines.values()),
        "sessions": len(rows),
        "by_class": dict(sorted(by_class.items())),
        "cut": sum(r["cut"] for r in rows),
        "split_across_files": sum(r["_files"] > 1 for r in rows),
    }
    if postfix_only:
        return stats
    stats["exim"], sessions, units = exim_generate(out_dir, w, customers)
    for r in sessions + units:  # Postfix sessions, mx3 sessions and mx4 units, per-server dates
        if r["customer_id"] and r["reason"] in ("submission", "relay", "relay_denied"):
            k = 0 if r["period"] == "before" else 2
            counts[r["customer_id"]][k] += 1
            counts[r["customer_id"]][k + 1] += r["class"] == "authenticated"
    write_csv(
        out_dir / "truth" / "customers_all.csv",
        header,
        [[c.cid, *counts[c.cid], c.scenario] for c in customers],
    )
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output folder (default: this script's folder, sample_logs/)",
    )
    ap.add_argument("--seed", type=int, default=2003)
    ap.add_argument(
        "--scale", type=float, default=1.0, help="multiply all traffic; 35 gives about 1M log lines"
    )
    ap.add_argument(
        "--postfix-only",
        action="store_true",
        help="only the Postfix logs, without CRON, Dovecot and malformed lines (no Exim servers)",
    )
    a = ap.parse_args()
    print(json.dumps(generate(a.out, a.seed, a.scale, a.postfix_only), indent=2))


if __name__ == "__main__":
    main()
