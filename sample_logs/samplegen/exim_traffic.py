"""Who talks to the Exim servers: the eight customers that also send through them, inbound
mail, probes and brute-force campaigns (the same attackers as the Postfix servers see), root's
daily reports and the daemon restarts, sessions across the rotation instants, malformed lines.

Every random draw comes from streams named "exim:…"; connections are exim_smtp's ExConn.
"""

from __future__ import annotations

from .exim import (
    EXIM,
    EXIM_CAMPAIGNS,
    EXIM_CUSTOMERS,
    EXIM_PROBES,
    INBOUND_SUBJECTS,
    ExWorld,
    Late,
    cfg_host,
)
from .exim_smtp import ExConn
from .story import (
    BOUNDS,
    DAY,
    FIRST,
    FLAT_HOURS,
    INBOUND_HOSTS,
    LAST,
    SIM_END,
    SIM_START,
    S,
    at,
    at_hour,
    attacker_pools,
    hexs,
    junk_helo,
    local_days,
    pick_ip,
    rand_rcpts,
    secs,
    spam_sender,
)


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
