"""The Postfix servers (mail1, mail2) and their syslog files `postfix/mail.log*`: the World that
collects every log event and process, one SMTP connection (postscreen, smtpd), the queue
(cleanup, qmgr, smtp/virtual/lmtp deliveries, bounces), the pids and the writer of the files.

Takes the timeline, the servers and the helpers from story; postfix_traffic decides who connects.
"""

from __future__ import annotations

import gzip
import heapq
import random
from datetime import datetime
from pathlib import Path

from .story import (
    B52,
    BLOCK_REPLIES,
    CRACK_LOCK,
    CRACK_START,
    DAY,
    FILES,
    HOUR,
    LISTINGS,
    LOCAL,
    MX,
    POLICY,
    PURGE,
    SERVERS,
    SIM_END,
    SIM_START,
    TZ,
    UTC,
    S,
    b52,
    domain_of,
    file_index,
    fmt_delay,
    hexs,
    ident,
    msgid,
    poisson,
    secs,
)


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
