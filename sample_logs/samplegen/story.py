"""The story and its people: the four weeks and their events, the Postfix servers, networks and
AS names, remote MX hosts and their blocklistings, the customers and their users, the attackers'
address pools, and the helpers every writer shares (microsecond times, random draws, ids, PTRs).

Imports nothing from the other modules; they all take their tables and helpers from here.
"""

from __future__ import annotations

import bisect
import ipaddress
import math
import random
from datetime import datetime, timedelta
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


# ----------------------------------------------------------------------------- attackers
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


# ----------------------------------------------------------------------------- rotation
def file_index(ts: int) -> int:
    return bisect.bisect_right(BOUNDS, ts) - 1


def visible(ts: int) -> bool:
    return FILE_START <= ts < FILE_END
