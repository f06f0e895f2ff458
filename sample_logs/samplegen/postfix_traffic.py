"""Who talks to the Postfix servers, day by day: the customers' scenarios (relay by IP, AUTH, the
outage), the phished account, inbound mail, probes and brute-force campaigns, CRON, Dovecot and
anvil noise, the master restarts, malformed lines and sessions across the rotation instants.

Each function draws from its own named random stream of the World; sessions are built with
postfix's Smtpd and Postscreen, customers and attackers come from story.
"""

from __future__ import annotations

from datetime import datetime

from .postfix import Msg, Postscreen, Smtpd, World, queue_message
from .story import (
    BOUNDS,
    CRACK_LOCK,
    CRACK_START,
    CRACKED_USER,
    DAY,
    ENFORCE,
    EXTERNAL,
    FIRST,
    FLAT_HOURS,
    INBOUND_HOSTS,
    LAST,
    LOCAL,
    NET_OBJS,
    OUTAGE,
    PURGE,
    SERVERS,
    SIM_END,
    SIM_START,
    TZ,
    S,
    at,
    at_hour,
    attacker_pools,
    domain_of,
    hexs,
    junk_helo,
    local_days,
    msgid,
    pick_ip,
    poisson,
    rand_rcpts,
    secs,
    spam_sender,
)


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
