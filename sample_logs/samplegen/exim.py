"""The Exim servers (mx3, mx4) and their mainlogs: their settings, the ExWorld that collects
their events and processes (deliveries, queue runs), the pids and message ids, and the writer of
`exim/exim4-mx3/mainlog*` and `exim/exim-mx4.log`.

Built on the Postfix World (its random streams, customers and mailboxes) and story's tables.
"""

from __future__ import annotations

import gzip
import heapq
from datetime import datetime
from pathlib import Path

from .postfix import Proc, World
from .story import (
    ENFORCE,
    HOUR,
    LOCAL,
    MX,
    OUTAGE,
    SIM_END,
    SIM_START,
    TZ,
    S,
    at,
    b52,
    domain_of,
    file_index,
    hexs,
    secs,
    visible,
)

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
