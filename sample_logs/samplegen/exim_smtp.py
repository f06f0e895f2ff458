"""One SMTP connection to an Exim server (ExConn): the lines mx3 and mx4 log for it, from the
daemon's connection line to `closed by QUIT` or `no MAIL`, and the messages it hands to exim's
ExWorld for delivery.

Takes the server settings and ExWorld from exim, the helpers from story.
"""

from __future__ import annotations

from .exim import EXIM, SUBJECTS, ExWorld, Late, exim_time
from .story import S, domain_of, ident, msgid, secs


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
