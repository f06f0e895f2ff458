"""Exim mainlog message rules (daemon ``exim``), most frequent first.

The header ("2003-11-21 09:15:02[ -0500][ [pid]] ", or a syslog header for program exim or
exim4) is skipped before these run. A message id (Exim <= 4.96 ``1AOAbC-0001xy-AB``,
>= 4.97 ``1r6Bwm-000000002h3-2n4V``) may start the message. Formats follow the Exim
specification, chapter "Log files", and Exim's own test suite.
"""

from __future__ import annotations

from analyzer import schema as s
from analyzer.patterns import ReasonRule, Rule

EXIM = ("exim",)

# Message ids: 6-6-2 before Exim 4.97, 6-11-4 since (base 62).
MSGID_VALUE = (
    r"(?:[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}"
    r"|[0-9A-Za-z]{6}-[0-9A-Za-z]{11}-[0-9A-Za-z]{4})"
)
MSGID = rf"(?P<queue_id>{MSGID_VALUE})"
OPT_MSGID = rf"(?:{MSGID} )?"

# A remote host as Exim logs it: "name (helo) [ip]:port", "(helo) [ip]", "[ip]:port".
#   "mail.example.com (mail.example.com) [198.51.100.7]:4321"   "(WIN-X) [100.64.9.9]"
HOST = (
    r"(?:(?P<client_host>[^\s(\[][^\s]*) )?(?:\((?P<helo>[^)]*)\) )?"
    r"\[(?P<client_ip>[0-9A-Fa-f:.]+)\](?::(?P<client_port>[0-9]+))?"
)
# The listening address with +incoming_interface: " I=[192.0.2.13]:587", and the
# connection counter of Exim >= 4.97 (+connection_id) that may follow it: " Ci=8001".
INTERFACE = r"(?: I=\[(?P<local_ip>[0-9A-Fa-f:.]+)\]:(?P<local_port>[0-9]+))?(?: Ci=[0-9]+)?"
# "SMTP connection" lines of Exim >= 4.97 put the counter first: "SMTP connection Ci=8001 from".
CONNECTION = r"SMTP connection(?: Ci=[0-9]+)? from"
# TLS details between the host and the rest (X=cipher CV=yes DN="..." SNI=name).
TLS = r"(?: X=\S+)?(?: CV=\S+)?(?: DN=\"[^\"]*\")?(?: SNI=\S+)?"
# What Exim appends to connection-end lines: " D=3s C=EHLO,QUIT" and the like.
TAIL = r"(?: (?P<detail>[A-Z]+=.*))?"

EXIM_RULES: tuple[Rule, ...] = (
    Rule(
        "exim_arrival",
        EXIM,
        s.EV_CLIENT,
        # Fields in the order receive.c writes them; what follows A= (S=, id=, T=...) is kept
        # whole in detail, so a subject can never pose as a host or a login.
        rf"^{MSGID} <= (?P<sender>\S+)(?: R=\S+)?(?: DS)? H={HOST}(?: U=\S+)?{INTERFACE}"
        rf"(?: U=\S+)?(?: P=(?P<proto>\S+))?(?: L)?{TLS}"
        # A=authenticator[:id[:auth_sender]]
        r"(?: A=(?P<sasl_method>[^:\s]+)(?::(?P<sasl_username>[^:\s]+)(?::\S+)?)?)?"
        r"(?: S=(?P<size>[0-9]+))?(?P<detail> .*)?$",
        (
            "1AOAbC-0001xy-AB <= alice@acme.example H=(office) [198.18.0.10]:4321 "
            "I=[192.0.2.13]:587 P=esmtpsa X=TLS1.0:RSA_AES_256_CBC_SHA1:256 CV=no "
            "A=dovecot_plain:alice@acme.example S=2345 id=20031121.1@acme.example",
            "1r6Bwm-000000002h3-2n4V <= x@y.example H=mx.y.example [100.64.2.2]:25123 "
            "P=esmtp S=812 id=abc@y.example",
        ),
    ),
    Rule(
        "exim_local_arrival",
        EXIM,
        s.EV_PICKUP,
        # Submitted on the box (cron, bounces): no remote client, no session.
        rf"^{MSGID} <= (?P<sender>\S+)(?: R=\S+)? U=(?P<detail>\S+) P=(?P<proto>local\S*)"
        r"(?: S=(?P<size>[0-9]+))?(?: .*)?$",
        ("1AOAbC-0001xz-CD <= root@mx3.provider.example U=root P=local S=712",),
    ),
    Rule(
        "exim_delivery",
        EXIM,
        s.EV_DELIVERY,
        # "=>" first address, "->" further addresses of the same delivery.
        # (P= is the return path here, not the protocol)
        rf"^{MSGID} (?:=>|->) (?P<recipient>[^\s<]+)(?: <(?P<orig_recipient>[^>]*)>)?"
        r"(?: F=<[^>]*>)?(?: P=<[^>]*>)?(?: R=\S+)?(?: T=(?P<relay>[^\s:]+))?"
        r"(?:.*? C=\"(?P<reply>[^\"]*)\")?.*$",
        (
            "1AOAbC-0001xy-AB => bob@aol.com R=dnslookup T=remote_smtp H=mx.aol.com "
            '[198.51.100.20] X=TLS1.0:RSA:256 CV=no C="250 OK id=1a2b3c"',
            "1AOAbC-0001xy-AB -> carol@acme.example R=local_user T=dovecot_lmtp",
        ),
        constants=((s.STATUS, "sent"),),
    ),
    Rule(
        "exim_completed",
        EXIM,
        s.EV_REMOVED,
        rf"^{MSGID} Completed(?: QT=\S+)?$",
        ("1AOAbC-0001xy-AB Completed",),
    ),
    Rule(
        "exim_connection_open",
        EXIM,
        s.EV_CONNECT,
        # +smtp_connection
        rf"^{CONNECTION} {HOST}{INTERFACE}(?: \(TCP/IP connection count = [0-9]+\))?$",
        (
            "SMTP connection from [100.64.1.2]:50001 I=[192.0.2.13]:25 "
            "(TCP/IP connection count = 1)",
        ),
    ),
    Rule(
        "exim_connection_closed",
        EXIM,
        s.EV_DISCONNECT,
        rf"^{OPT_MSGID}{CONNECTION} {HOST}{INTERFACE}(?: D=\S+)? "
        r"closed (?:by (?:QUIT|EOF|DROP in ACL)|after SIGTERM)$",
        (
            "SMTP connection from (office) [198.18.0.10]:4321 I=[192.0.2.13]:587 closed by QUIT",
            "SMTP connection Ci=8001 from (User) [100.64.4.4]:20042 I=[192.0.2.13]:25 D=0.149s "
            "closed by QUIT",
        ),
    ),
    Rule(
        "exim_no_mail",
        EXIM,
        s.EV_DISCONNECT,
        # +smtp_no_mail: the client left without a MAIL command.
        # After AUTH then QUIT the line names the login (A=): the only trace of that success.
        rf"^no MAIL in SMTP connection from {HOST}{INTERFACE}(?: (?P<detail>(?:D=\S+ )?"
        r"(?:A=(?P<sasl_method>[^:\s]+)(?::(?P<sasl_username>[^:\s]+)\S*)?)?.*))?$",
        (
            "no MAIL in SMTP connection from (x) [100.64.4.4]:5555 I=[192.0.2.13]:25 D=3s "
            "C=EHLO,QUIT",
        ),
    ),
    Rule(
        "exim_reject",
        EXIM,
        s.EV_REJECT,
        # The text after the colon is the ACL's own message: kinds come from REJECT texts.
        rf"^{OPT_MSGID}H={HOST}{INTERFACE}(?: U=\S+)?{TLS}"
        r"(?: F=<?(?P<sender>[^>\s]*)>?)? (?P<action>temporarily rejected|rejected) "
        r"(?P<stage>RCPT|MAIL|EHLO or HELO|EHLO|HELO|connection|after DATA|DATA|VRFY|EXPN|"
        r"ETRN|AUTH|STARTTLS|after MAIL|after RCPT|after QUIT|during MIME ACL checks|"
        r"non-SMTP ACL|in \"[a-z_]+\" ACL)"
        r"(?: <(?P<recipient>[^>]*)>| (?P<command>[^:]*?))?(?:: (?P<reply>.*))?$",
        (
            "H=(spam) [100.64.9.9]:5678 I=[192.0.2.13]:25 F=<x@spam.example> rejected RCPT "
            "<victim@aol.com>: relay not permitted",
            "H=(WIN-4TTI) [100.64.9.9]:5678 rejected EHLO or HELO WIN 4TTI: syntactically "
            "invalid argument(s): WIN 4TTI",
        ),
    ),
    Rule(
        "exim_local_scan_reject",
        EXIM,
        s.EV_REJECT,
        rf"^{OPT_MSGID}F=<?(?P<sender>[^>\s]*)>? H={HOST}(?: P=(?P<proto>\S+))? "
        r"rejected by local_scan\(\): (?P<reply>.*)$",
        (
            "1Ai79e-0000Dq-8i F=x@spam.example H=dsl.example.net [100.64.4.4] P=smtp rejected by "
            "local_scan(): Rejected: hits=7.5 required=5.0",
        ),
    ),
    Rule(
        "exim_helo_rejected",
        EXIM,
        s.EV_PROTOCOL,  # a malformed HELO/EHLO argument: a protocol error, not a policy
        # Exim's own HELO syntax check (no ACL, no "H="): "rejected EHLO from <host>".
        rf"^rejected (?P<stage>EHLO|HELO) from {HOST}{INTERFACE}: (?P<reply>.*)$",
        ("rejected EHLO from [100.64.9.9]:5678: syntactically invalid argument(s): WIN 4TTI",),
    ),
    Rule(
        "exim_auth_unavailable",
        EXIM,
        s.EV_SASL_OUTAGE,
        # A 4xx answer to AUTH: the authentication back end failed, not the password.
        rf"^(?P<sasl_method>\S+) authenticator failed for (?:H=)?{HOST}{INTERFACE}(?: U=\S+)?: "
        r"(?P<smtp_code>4[0-9]{2})(?:[ -](?P<dsn>[0-9]\.[0-9]{1,3}\.[0-9]{1,3}))? "
        r"(?P<sasl_reason>.*?)(?: \(set_id=(?P<sasl_username>[^)]*)\))?(?:: .*)?$",
        (
            "dovecot_plain authenticator failed for (office) [198.18.0.10]:4321 "
            "I=[192.0.2.13]:587: 435 Unable to authenticate at present (set_id=alice@acme.example)",
        ),
    ),
    Rule(
        "exim_auth_failed",
        EXIM,
        s.EV_SASL_FAIL,
        rf"^(?P<sasl_method>\S+) authenticator failed for (?:H=)?{HOST}{INTERFACE}(?: U=\S+)?: "
        r"(?P<smtp_code>5[0-9]{2})(?:[ -](?P<dsn>[0-9]\.[0-9]{1,3}\.[0-9]{1,3}))? "
        r"(?P<sasl_reason>.*?)(?: \(set_id=(?P<sasl_username>[^)]*)\))?(?:: .*)?$",
        (
            "dovecot_login authenticator failed for (User) [100.64.9.9]:51234 "
            "I=[192.0.2.13]:587: 535 Incorrect authentication data (set_id=admin)",
            "login authenticator failed for H=(User) [100.64.9.9]: 535 Incorrect "
            "authentication data",
        ),
    ),
    Rule(
        "exim_deferred",
        EXIM,
        s.EV_DELIVERY,
        rf"^{MSGID} == (?P<recipient>[^\s<]+)(?: <(?P<orig_recipient>[^>]*)>)?(?: R=\S+)?"
        r"(?: T=(?P<relay>[^\s:]+))?[^:]*(?:: (?P<reply>.*))?$",
        (
            "1AOAbC-0001xy-AB == bob@yahoo.com R=dnslookup T=remote_smtp defer (-44) "
            "H=mx.yahoo.com [198.51.100.30]: SMTP error from remote mail server after RCPT "
            "TO:<bob@yahoo.com>: 421 4.7.0 [TS03] Messages from 192.0.2.13 temporarily deferred",
        ),
        constants=((s.STATUS, "deferred"),),
    ),
    Rule(
        "exim_failed",
        EXIM,
        s.EV_DELIVERY,
        rf"^{MSGID} \*\* (?P<recipient>[^\s<]+)(?: <(?P<orig_recipient>[^>]*)>)?(?: R=\S+)?"
        r"(?: T=(?P<relay>[^\s:]+))?[^:]*(?:: (?P<reply>.*))?$",
        (
            "1AOAbC-0001xy-AB ** bob@aol.com R=dnslookup T=remote_smtp H=mx.aol.com "
            "[198.51.100.20]: SMTP error from remote mail server after RCPT TO:<bob@aol.com>: "
            "554 5.7.1 Service unavailable; Client host [192.0.2.13] blocked using "
            "zen.spamhaus.org",
        ),
        constants=((s.STATUS, "bounced"),),
    ),
    Rule(
        "exim_connection_lost",
        EXIM,
        s.EV_LOST,
        rf"^{CONNECTION} {HOST}{INTERFACE} lost(?: \(error: [^)]*\))?"
        rf"(?: while reading message data(?: \([a-z]+\))?)?{TAIL}$",
        ("SMTP connection from (x) [100.64.4.4]:5555 I=[192.0.2.13]:25 lost D=5s",),
        closes=True,
    ),
    Rule(
        "exim_unexpected_disconnection",
        EXIM,
        s.EV_LOST,
        rf"^unexpected disconnection while reading SMTP command from {HOST}{INTERFACE}"
        rf"(?: \(error: [^)]*\))?{TAIL}$",
        ("unexpected disconnection while reading SMTP command from [100.64.4.4]:5555 D=1s",),
        closes=True,
    ),
    Rule(
        "exim_timeout",
        EXIM,
        s.EV_LOST,
        rf"^SMTP (?:command|data) timeout(?: \(message abandoned\))? on connection from "
        rf"{HOST}{INTERFACE}{TAIL}$",
        ("SMTP command timeout on connection from (x) [100.64.4.4]:5555 I=[192.0.2.13]:25 D=5m",),
        closes=True,
    ),
    Rule(
        "exim_protocol_error",
        EXIM,
        s.EV_PROTOCOL,
        rf"^SMTP protocol error in \"(?P<command>[^\"]*)\" H={HOST}{INTERFACE} (?P<reply>.*)$",
        (
            'SMTP protocol error in "AUTH LOGIN" H=(x) [100.64.4.4]:5555 I=[192.0.2.13]:25 '
            "AUTH command used when not advertised",
        ),
    ),
    Rule(
        "exim_syntax_error",
        EXIM,
        s.EV_PROTOCOL,
        rf"^SMTP syntax error in \"(?P<command>[^\"]*)\" H={HOST}{INTERFACE} (?P<reply>.*)$",
        ('SMTP syntax error in "GET / HTTP/1.1" H=[100.64.4.4]:5555 unrecognized command',),
    ),
    Rule(
        "exim_dropped",
        EXIM,
        s.EV_PROTOCOL,
        # Exim hangs up on the client after this.
        rf"^SMTP call from {HOST}{INTERFACE} dropped: (?P<detail>.*)$",
        (
            "SMTP call from (x) [100.64.4.4]:5555 I=[192.0.2.13]:25 dropped: too many nonmail "
            'commands (last was "RSET")',
        ),
        closes=True,
    ),
    Rule(
        "exim_synchronization_error",
        EXIM,
        s.EV_PROTOCOL,
        rf"^SMTP protocol synchronization error \((?P<detail>[^)]*)\): rejected "
        rf"(?:connection from|\"(?P<command>[^\"]*)\") H={HOST}{INTERFACE}(?: next)? input=.*$",
        (
            "SMTP protocol synchronization error (input sent without waiting for greeting): "
            'rejected connection from H=[100.64.4.4]:5555 input="EHLO x\\r\\n"',
        ),
        closes=True,
    ),
    Rule(
        "exim_too_many_connections",
        EXIM,
        s.EV_REJECT,
        rf"^Connection from {HOST} refused: (?P<reply>.*)$",
        ("Connection from [100.64.4.4] refused: too many connections",),
        closes=True,
    ),
    Rule(
        "exim_refused_connection",
        EXIM,
        s.EV_REJECT,
        rf"^refused connection from {HOST}(?: \((?P<reply>[^)]*)\))?$",
        ("refused connection from [100.64.4.4] (host_reject_connection)",),
        closes=True,
    ),
    Rule(
        "exim_sender_verify",
        EXIM,
        s.EV_INFO,
        # Logged before the reject it causes; the reject line is the one that counts.
        rf"^{OPT_MSGID}H={HOST}{INTERFACE}(?: F=<?[^>\s]*>?)? sender verify (?:fail|defer) "
        r"for <(?P<sender>[^>]*)>(?:: (?P<reply>.*))?$",
        (
            "H=(ylmf-pc) [100.73.138.161] sender verify fail for <billing@x.invalid>: "
            "Unrouteable address",
        ),
    ),
    Rule(
        "exim_host_error",
        EXIM,
        s.EV_INFO,
        # A remote host's answer during a delivery attempt, logged on its own before the
        # "==" or "**" line; kept whole (blocklist texts live here too).
        rf"^{MSGID} H=(?P<relay>\S+(?: \([^)]*\))? \[[0-9A-Fa-f:.]+\](?::[0-9]+)?)[^:]*: "
        r"(?P<reply>.*)$",
        (
            "1m1x23-2011cZ-MN H=mta7.am0.yahoodns.net [67.195.228.106]: SMTP error from remote "
            "mail server after pipelined MAIL FROM:<a@acme.example> SIZE=1758: 421 4.7.0 [TSS04] "
            "Messages from 192.0.2.13 temporarily deferred",
        ),
    ),
    Rule(
        "exim_info",
        EXIM,
        s.EV_INFO,
        # Known, harmless: DNS, TLS, queue runners, frozen messages, daemon restarts.
        rf"^(?:{MSGID} )?(?:no host name found for IP address \S+|no IP address found for host .*"
        r"|TLS error on connection from .*|H=.* Warning: .*|Warning: .*"
        r"|Start queue run: pid=[0-9]+.*|End queue run: pid=[0-9]+.*"
        r"|exim [0-9.]+\S* daemon started: .*|pid [0-9]+: SIGHUP received: .*"
        r"|(?:Message is )?[Ff]rozen.*|Unfrozen by .*|removed by .*|cancelled by .*"
        r"|\*> .*|Spool file is locked.*|SMTP error from remote mail server .*"
        r"|[^\s]+ \[[0-9A-Fa-f:.]+\](?::[0-9]+)? (?:Connection refused|Connection timed out)"
        r"|sender verify (?:fail|defer) for .*|.* Retry time not yet reached.*"
        r"|Process failed .*|socket bind\(\) .*|cwd=\S+ [0-9]+ args: .*)$",
        (
            "no host name found for IP address 100.64.1.2",
            "Start queue run: pid=12345",
            "exim 4.96 daemon started: pid=1001, -q30m, listening for SMTP on port 25 (IPv6 "
            "and IPv4) port 587 (IPv6 and IPv4)",
        ),
    ),
)

# Reject texts are each server's own ACL messages: these are common defaults, and the config
# can add more (``[reject_patterns]``). First match wins; DNSBL rules name the zone.
EXIM_REJECT_KINDS: tuple[ReasonRule, ...] = (
    ReasonRule(
        "exim_relay_not_permitted",
        s.RK_RELAY,
        r"(?i)relay(?:ing)? (?:not permitted|denied)",
        ("relay not permitted",),
    ),
    ReasonRule(
        "exim_dnsbl_listed_at",
        s.RK_DNSBL,
        r"(?:is listed at|is in a black list at|blocked by|listed in|rejected by|found in dnsbl) "
        r"(?P<dnsbl_zone>[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+)",
        ("JunkMail rejected - [100.64.2.2] is listed at zen.spamhaus.org (127.0.0.2)",),
    ),
    ReasonRule(
        "exim_dnsbl_rbl",
        s.RK_DNSBL,
        r"(?i)is in an RBL|\bRBL\b|DNSBL",
        ("JunkMail rejected - (x) [100.64.2.2] is in an RBL: see http://www.spamhaus.org/",),
    ),
    ReasonRule(
        "exim_unknown_recipient",
        s.RK_UNKNOWN_USER,
        r"(?i)Unrouteable address|unknown (?:user|local-part)|no such user|user unknown",
        ("Unrouteable address",),
    ),
)
