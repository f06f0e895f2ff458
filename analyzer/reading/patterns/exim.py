"""Exim mainlog message rules (daemon ``exim``), most frequent first.

The header ("2003-11-21 09:15:02[ -0500][ [pid]] ", or a syslog header for program exim or
exim4) is skipped before these run. A message id (Exim <= 4.96 ``1AOAbC-0001xy-AB``,
>= 4.97 ``1r6Bwm-000000002h3-2n4V``) may start the message. Formats follow the Exim
specification, chapter "Log files", and Exim's own test suite.
"""

from __future__ import annotations

from analyzer import schema as s
from analyzer.reading.patterns import ReasonRule, Rule
from analyzer.reading.patterns import _fragments as fragments

EXIM = ("exim",)

# Short names for the shared Exim fragments (see _fragments: each says what it matches).
CLIENT = fragments.EXIM_CLIENT
CONNECTING_HOST = fragments.EXIM_CONNECTING_HOST
CONNECTION = fragments.EXIM_CONNECTION
CONTENT_WORDS = fragments.EXIM_CONTENT_WORDS
DELIVERY_FIELDS = fragments.EXIM_DELIVERY_FIELDS
FROM = fragments.EXIM_FROM
F_SENDER = fragments.EXIM_F_SENDER
HOST = fragments.EXIM_HOST
IDENT = fragments.EXIM_IDENT
INTERFACE = fragments.EXIM_INTERFACE
MSGID = fragments.EXIM_MSGID
OPT_MSGID = fragments.EXIM_OPT_MSGID
RECIPIENT = fragments.EXIM_RECIPIENT
SENDER = fragments.EXIM_SENDER
TAIL = fragments.EXIM_TAIL
TLS = fragments.EXIM_TLS

# Rules after whose host Exim writes only its own fields (no sender, recipient, reply or DN
# an attacker could fill): their greedy HELO ends at the real address, even on a line that
# holds other addresses. Every other rule's host is checked (_fragments.EXIM_HOST).
EXIM_HOST_LAST = frozenset(
    {
        "exim_connection_open",  # (written before the client says anything: no HELO)
        "exim_connection_closed",
        "exim_no_mail",
        "exim_connection_lost",
        "exim_unexpected_disconnection",
    }
)

EXIM_RULES: tuple[Rule, ...] = (
    Rule(
        "exim_arrival",
        EXIM,
        s.EV_CLIENT,
        # Fields in the order receive.c writes them; what follows A= (S=, id=, T=...) is kept
        # whole in detail, so a subject can never pose as a host or a login. "(=" instead of
        # "<=" is control = fakereject: the message is queued, the client was told 550.
        rf"^{MSGID} (?:<=|\(=) {SENDER}(?: R=\S+)?(?: DS)? H={HOST}(?: U=\S+)?{INTERFACE}"
        rf"{IDENT}(?: P=(?P<proto>\S+))?(?: L)?{TLS}"
        # A=authenticator[:id[:auth_sender]]
        r"(?: A=(?P<sasl_method>[^:\s]+)(?::(?P<sasl_username>[^:\s]+)(?::\S+)?)?)?"
        # PRDR, proxy, CHUNKING ("K"), SPF and DMARC results may stand before the size.
        r"(?: (?:PRDR|K|PRX=\S+|SPF=\S+|DMARC=\S+))*"
        r"(?: S=(?P<size>[0-9]+))?(?P<detail> .*)?$",
        (
            "1AOAbC-0001xy-AB <= alice@acme.example H=(office) [198.18.0.10]:4321 "
            "I=[192.0.2.13]:587 P=esmtpsa X=TLS1.0:RSA_AES_256_CBC_SHA1:256 CV=no "
            "A=dovecot_plain:alice@acme.example S=2345 id=20031121.1@acme.example",
            "1r6Bwm-000000002h3-2n4V <= x@y.example H=mx.y.example [100.64.2.2]:25123 "
            "P=esmtp S=812 id=abc@y.example",
            '1AOAbC-0001xy-AF <= "name with spaces"@y.example H=(y) [100.64.2.2] P=esmtp K S=812',
        ),
    ),
    Rule(
        "exim_local_arrival",
        EXIM,
        s.EV_PICKUP,
        # Submitted on the box (cron, bounces, a content scanner's reinjection): no remote
        # client, no session. The tail may hold any field but H= (a remote arrival that the
        # rule above did not read must stay unmatched, not pose as a local one); a line cut
        # after the sender is still an arrival.
        rf"^{MSGID} <= {SENDER}(?: R=\S+)?(?: U=(?P<detail>\S+))?(?: P=(?P<proto>\S+))?"
        r"(?: S=(?P<size>[0-9]+))?(?: (?:[A-GI-Za-z][A-Za-z0-9]*=|for ).*)?$",
        (
            "1AOAbC-0001xz-CD <= root@mx3.provider.example U=root P=local S=712",
            "1AOAbC-0001xz-CE <= foi@acme.example",
        ),
    ),
    Rule(
        "exim_delivery",
        EXIM,
        s.EV_DELIVERY,
        # "=>" first address, "->" further addresses of the same delivery.
        # (P= is the return path here, not the protocol)
        rf"^{MSGID} (?:=>|->) {RECIPIENT}"
        r"(?: F=<[^>]*>)?(?: P=<[^>]*>)?(?: R=\S+)?(?: T=(?P<relay>[^\s:]+))?"
        # No "(" after the address: receive.c's "=> blackhole (DATA ACL discarded
        # recipients)" is no delivery (exim_blackhole_* read it).
        r"(?:.*? C=\"(?P<reply>[^\"]*)\")?(?: [^(].*)?$",
        (
            "1AOAbC-0001xy-AB => bob@aol.com R=dnslookup T=remote_smtp H=mx.aol.com "
            '[198.51.100.20] X=TLS1.0:RSA:256 CV=no C="250 OK id=1a2b3c"',
            "1AOAbC-0001xy-AB -> carol@acme.example R=local_user T=dovecot_lmtp",
            "1AOAbC-0001xy-AB => |/usr/local/bin/mailin --queue 2 <foi@acme.example> "
            "R=userforward T=address_pipe S=3123",
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
        # +smtp_connection, by the daemon before it forks the child (so before any HELO)
        rf"^{CONNECTION} {CONNECTING_HOST}{INTERFACE}(?: \(TCP/IP connection count = [0-9]+\))?$",
        (
            "SMTP connection from [100.64.1.2]:50001 I=[192.0.2.13]:25 "
            "(TCP/IP connection count = 1)",
        ),
    ),
    Rule(
        "exim_connection_closed",
        EXIM,
        s.EV_DISCONNECT,
        rf"^{OPT_MSGID}{CONNECTION} {HOST}{INTERFACE}{IDENT}(?: D=\S+)? "
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
        rf"^no MAIL in SMTP connection from {HOST}{INTERFACE}{IDENT}(?: (?P<detail>(?:D=\S+ )?"
        r"(?:A=(?P<sasl_method>[^:\s]+)(?::(?P<sasl_username>[^:\s]+)\S*)?)?.*))?$",
        (
            "no MAIL in SMTP connection from (x) [100.64.4.4]:5555 I=[192.0.2.13]:25 D=3s "
            "C=EHLO,QUIT",
        ),
    ),
    Rule(
        "exim_no_host_name",
        EXIM,
        s.EV_INFO,
        # host_lookup found no name for a client (one line per such connection): frequent,
        # so read here rather than by exim_info at the end.
        r"^no host name found for IP address [0-9A-Fa-f:.]+$",
        ("no host name found for IP address 192.0.2.77",),
    ),
    Rule(
        "exim_content_reject",
        EXIM,
        s.EV_REJECT,
        # A DATA or MIME ACL refusing the message for what it holds (spam score, virus,
        # attachment): a content refusal. Same fields as exim_reject, which takes the rest.
        rf"^{OPT_MSGID}{CLIENT}{TLS}{FROM} (?:temporarily )?rejected "
        r"(?P<stage>after DATA PRDR|after DATA|during MIME ACL checks)"
        rf": (?P<reply>.*?{CONTENT_WORDS}.*)$",
        (
            "1AOAbC-0001xy-AE H=(x) [100.64.9.9]:5678 F=<a@x.example> rejected after DATA: "
            "Your message scored 22.3 SpamAssassin point. Report follows:",
            "1AOAbC-0001xy-AE H=(x) [100.64.9.9]:5678 F=<a@x.example> rejected after DATA: "
            "This message contains a virus (Eicar-Signature).",
        ),
        constants=((s.ACTION, "content"),),
    ),
    Rule(
        "exim_reject",
        EXIM,
        s.EV_REJECT,
        # The text after the colon is the ACL's own message: kinds come from REJECT texts.
        # smtp_handle_acl_fail(): host_and_ident, TLS, F= A= SPF= DMARC=, then
        # "[temporarily ]rejected <where> <argument>[: log_message]".
        rf"^{OPT_MSGID}{CLIENT}{TLS}{FROM} (?P<action>temporarily rejected|rejected) "
        # Where: RCPT, MAIL, DATA, DKIM, VRFY, EXPN, ETRN, ATRN, AUTH, STARTTLS, WELLKNOWN...
        r"(?P<stage>after DATA(?: PRDR)?|during MIME ACL checks|EHLO or HELO|"
        r"in \"[a-z_]+\" ACL|after [A-Z]+|non-SMTP ACL|connection|[A-Z]+)"
        r"(?: <(?P<recipient>[^>]*)>| (?P<command>[^:]*?))?(?:: (?P<reply>.*))?$",
        (
            "H=(spam) [100.64.9.9]:5678 I=[192.0.2.13]:25 F=<x@spam.example> rejected RCPT "
            "<victim@aol.com>: relay not permitted",
            "H=(WIN-4TTI) [100.64.9.9]:5678 rejected EHLO or HELO WIN 4TTI: syntactically "
            "invalid argument(s): WIN 4TTI",
            "H=(x) [100.64.9.9] U=root F=<a@x.example> A=plain:bob SPF=fail rejected RCPT "
            "<c@acme.example>",
        ),
    ),
    Rule(
        "exim_local_scan_reject",
        EXIM,
        s.EV_REJECT,
        # receive.c: "F=<sender> H=... P=proto [temporarily ]rejected by local_scan(): text".
        # local_scan() is the content-scanning hook (sa-exim and the like): a content refusal.
        # (A message submitted on the box has no H=: exim_local_message_rejected.)
        rf"^{OPT_MSGID}F={F_SENDER}(?: DS)? H={HOST}{INTERFACE}{IDENT}"
        r"(?: P=(?P<proto>\S+))? (?:temporarily )?rejected by local_scan\(\): (?P<reply>.*)$",
        (
            "1Ai79e-0000Dq-8i F=x@spam.example H=dsl.example.net [100.64.4.4] P=smtp rejected by "
            "local_scan(): Rejected: hits=7.5 required=5.0",
        ),
        constants=((s.ACTION, "content"),),
    ),
    Rule(
        "exim_helo_rejected",
        EXIM,
        s.EV_PROTOCOL,  # a malformed HELO/EHLO argument: a protocol error, not a policy
        # Exim's own HELO syntax check (no ACL, no "H="): "rejected EHLO from <host>".
        rf"^rejected (?P<stage>EHLO|HELO) from {HOST}{INTERFACE}{IDENT}: (?P<reply>.*)$",
        ("rejected EHLO from [100.64.9.9]:5678: syntactically invalid argument(s): WIN 4TTI",),
    ),
    Rule(
        "exim_auth_unavailable",
        EXIM,
        s.EV_SASL_OUTAGE,
        # A 4xx answer to AUTH: the authentication back end failed, not the password.
        rf"^(?P<sasl_method>\S+) authenticator failed for (?:H=)?{HOST}{INTERFACE}{IDENT}: "
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
        rf"^(?P<sasl_method>\S+) authenticator failed for (?:H=)?{HOST}{INTERFACE}{IDENT}: "
        r"(?P<smtp_code>5[0-9]{2})(?:[ -](?P<dsn>[0-9]\.[0-9]{1,3}\.[0-9]{1,3}))? "
        r"(?P<sasl_reason>.*?)(?: \(set_id=(?P<sasl_username>[^)]*)\))?(?:: .*)?$",
        (
            "dovecot_login authenticator failed for (User) [100.64.9.9]:51234 "
            "I=[192.0.2.13]:587: 535 Incorrect authentication data (set_id=admin)",
            "login authenticator failed for H=(User) [100.64.9.9]: 535 Incorrect "
            "authentication data",
            "plain authenticator failed for H=(test.host) [100.64.9.9] U=root: 535 Incorrect "
            "authentication data (set_id=bob)",
        ),
    ),
    Rule(
        "exim_syslog_piece",
        EXIM,
        s.EV_INFO,
        # In syslog, the second and later pieces of an entry Exim split (log.c, write_syslog):
        # a reject log entry's header lines ("[2\9] Envelope-from: <a@x.example>",
        # "[3\9] P Received: from ...") or the rest of a line over 870 characters. The first
        # piece is read as the line itself (_fragments.SKIP_HEADER_EXIM_SYSLOG).
        r"^\[(?:[2-9]|[1-9][0-9]+)[\\/][0-9]+\] .*$",
        (
            "[2\\3] Envelope-from: <a@x.example>",
            "[3/3] Envelope-to: <bob@acme.example>",
        ),
    ),
    Rule(
        "exim_deferred",
        EXIM,
        s.EV_DELIVERY,
        rf"^{MSGID} == {RECIPIENT}(?: R=\S+)?"
        rf"(?: T=(?P<relay>[^\s:]+))?{DELIVERY_FIELDS}(?:: (?P<reply>.*))?$",
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
        rf"^{MSGID} \*\* {RECIPIENT}(?: R=\S+)?"
        rf"(?: T=(?P<relay>[^\s:]+))?{DELIVERY_FIELDS}(?:: (?P<reply>.*))?$",
        (
            "1AOAbC-0001xy-AB ** bob@aol.com R=dnslookup T=remote_smtp H=mx.aol.com "
            "[198.51.100.20]: SMTP error from remote mail server after RCPT TO:<bob@aol.com>: "
            "554 5.7.1 Service unavailable; Client host [192.0.2.13] blocked using "
            "zen.spamhaus.org",
            "1AOAbC-0001xy-AB ** bob@aol.com R=dnslookup T=remote_smtp H=mx.aol.com "
            '[198.51.100.20] X=TLS1.2:ECDHE_RSA_AES_256_GCM_SHA384:256 CV=yes DN="C=US,O=Aol '
            'Mail,CN=mx.aol.com": SMTP error from remote mail server after end of data: 552 '
            "5.2.2 Mailbox full",
        ),
        constants=((s.STATUS, "bounced"),),
    ),
    Rule(
        "exim_connection_lost",
        EXIM,
        s.EV_LOST,
        # A message id leads the line when the connection went while its data was read.
        rf"^{OPT_MSGID}{CONNECTION} {HOST}{INTERFACE}{IDENT} lost(?: \(error: [^)]*\))?"
        rf"(?: while reading message data(?: \([a-z]+\))?)?{TAIL}$",
        (
            "SMTP connection from (x) [100.64.4.4]:5555 I=[192.0.2.13]:25 lost D=5s",
            "1AOAbC-0001xy-AB SMTP connection from (x) [100.64.4.4] lost while reading message "
            "data",
        ),
        closes=True,
    ),
    Rule(
        "exim_unexpected_disconnection",
        EXIM,
        s.EV_LOST,
        rf"^unexpected disconnection while reading SMTP command from {HOST}{INTERFACE}{IDENT}"
        rf"(?: \(error: [^)]*\))?{TAIL}$",
        ("unexpected disconnection while reading SMTP command from [100.64.4.4]:5555 D=1s",),
        closes=True,
    ),
    Rule(
        "exim_timeout",
        EXIM,
        s.EV_LOST,
        rf"^{OPT_MSGID}SMTP (?:command|data) timeout(?: \(message abandoned\))? on "
        rf"(?:TLS )?connection from {HOST}{INTERFACE}{IDENT}{TAIL}$",
        (
            "SMTP command timeout on connection from (x) [100.64.4.4]:5555 I=[192.0.2.13]:25 D=5m",
            "1AOAbC-0001xy-AB SMTP data timeout (message abandoned) on connection from (x) "
            "[100.64.4.4] F=<a@x.example> D=5m",
        ),
        closes=True,
    ),
    Rule(
        "exim_lost_after_dot",
        EXIM,
        s.EV_LOST,
        # receive.c: the client went away between its final dot and Exim's answer; the message
        # is deleted, not accepted.
        rf"^{OPT_MSGID}SMTP connection lost after final dot(?: DS)? H={HOST}{INTERFACE}{IDENT}"
        r"(?: P=(?P<proto>\S+))?(?: .*)?$",
        ("1AOAbC-0001xy-AB SMTP connection lost after final dot H=(x) [100.64.4.4] P=esmtp",),
        closes=True,
    ),
    Rule(
        "exim_protocol_error",
        EXIM,
        s.EV_PROTOCOL,
        rf"^SMTP protocol error in \"(?P<command>.*)\" {CLIENT} (?P<reply>.*)$",
        (
            'SMTP protocol error in "AUTH LOGIN" H=(x) [100.64.4.4]:5555 I=[192.0.2.13]:25 '
            "AUTH command used when not advertised",
        ),
    ),
    Rule(
        "exim_syntax_error",
        EXIM,
        s.EV_PROTOCOL,
        rf"^SMTP syntax error in \"(?P<command>.*)\" {CLIENT} (?P<reply>.*)$",
        ('SMTP syntax error in "GET / HTTP/1.1" H=[100.64.4.4]:5555 unrecognized command',),
    ),
    Rule(
        "exim_dropped",
        EXIM,
        s.EV_PROTOCOL,
        # Exim hangs up on the client after this.
        rf"^SMTP call from {HOST}{INTERFACE}{IDENT} dropped: (?P<detail>.*)$",
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
        rf"(?:connection from|\"(?P<command>.*)\") {CLIENT}(?: next)? input=.*$",
        (
            "SMTP protocol synchronization error (input sent without waiting for greeting): "
            'rejected connection from H=[100.64.4.4]:5555 input="EHLO x\\r\\n"',
        ),
        closes=True,
    ),
    Rule(
        "exim_synchronization_error_cut",
        EXIM,
        s.EV_INFO,
        # The same line cut after "rejected" (a rejectlog quoted by another project's tests):
        # it names no client, so it can count for no session.
        r"^SMTP protocol synchronization error \((?P<detail>[^)]*)\): rejected$",
        (
            "SMTP protocol synchronization error (next input sent too soon: pipelining was not "
            "advertised): rejected",
        ),
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
        "exim_blackhole_discarded",
        EXIM,
        s.EV_INFO,
        # Every recipient was discarded at MAIL or RCPT time (each discard was logged then):
        # receive.c then drops the message it read.
        rf"^{MSGID} => blackhole \((?P<stage>RCPT|MAIL) ACL discarded recipients\)"
        r"(?:: (?P<reply>.*))?$",
        ("1AOAbC-0001xy-AB => blackhole (RCPT ACL discarded recipients)",),
    ),
    Rule(
        "exim_blackhole_content",
        EXIM,
        s.EV_REJECT,
        # A message read and then thrown away for what it holds: "discard" in the DATA, MIME
        # or DKIM ACL, or local_scan() (sa-exim's "silently tossed") leaving no recipient.
        # receive.c: "=> blackhole (DATA ACL discarded recipients)[: log_message]".
        rf"^{MSGID} => blackhole \((?P<stage>[A-Za-z_ -]+?) discarded recipients\)"
        r"(?:: (?P<reply>.*))?$",
        (
            "1AOAbC-0001xy-AB => blackhole (DATA ACL discarded recipients): spam score 25.1",
            "1AOAbC-0001xy-AB => blackhole (local_scan discarded recipients)",
        ),
        constants=((s.ACTION, "content"),),
    ),
    Rule(
        "exim_sender_verify",
        EXIM,
        s.EV_INFO,
        # Logged before the reject it causes; the reject line is the one that counts.
        rf"^{OPT_MSGID}{CLIENT}(?: F=<?[^>\s]*>?)? sender verify (?:fail|defer) "
        r"for <(?P<sender>[^>]*)>(?:: (?P<reply>.*))?$",
        (
            "H=(ylmf-pc) [100.73.138.161] sender verify fail for <billing@x.invalid>: "
            "Unrouteable address",
            "H=(x) [100.64.4.4] U=root sender verify defer for <a@x.example>: Could not "
            "complete sender verify callout",
        ),
    ),
    Rule(
        "exim_rcpt_discarded",
        EXIM,
        s.EV_WARN,
        # "discard" in the RCPT (or, for every recipient, the MAIL) ACL: the client is told
        # 250 and the recipient is dropped. Nothing is refused, as Postfix's discard.
        rf"^{OPT_MSGID}{CLIENT} F=<(?P<sender>[^>]*)> RCPT <(?P<recipient>[^>]*)>[^:]*: "
        r"discarded by (?P<stage>RCPT|MAIL) ACL(?:: (?P<reply>.*))?$",
        (
            "H=(x) [100.64.4.4] F=<a@x.example> RCPT <b@acme.example>: discarded by RCPT ACL",
            "H=(x) [100.64.4.4] F=<a@x.example> RCPT <b@acme.example>: discarded by MAIL ACL: "
            "listed sender",
        ),
        constants=((s.ACTION, "discard"),),
    ),
    Rule(
        "exim_message_rejected",
        EXIM,
        s.EV_REJECT,
        # receive.c refusing a message while reading it (too large, bad header under
        # CHUNKING): "rejected from <sender> H=host[ U=ident]: reason".
        rf"^{OPT_MSGID}rejected from {F_SENDER} H={HOST}{IDENT}: "
        r"(?P<reply>.*)$",
        (
            "rejected from <a@x.example> H=(x) [100.64.4.4]: message too large: read=52431001 "
            "max=52428800",
        ),
        constants=((s.STAGE, "DATA"), (s.ACTION, "rejected")),
    ),
    Rule(
        "exim_command_rejected",
        EXIM,
        s.EV_PROTOCOL,
        # A command out of sequence ("MAIL" before EHLO with helo_required, "XCLIENT" within
        # a transaction): "rejected MAIL from [host]: no HELO/EHLO given".
        rf"^rejected (?P<stage>MAIL|XCLIENT|[A-Z]+) from {HOST}{INTERFACE}{IDENT}: "
        r"(?P<reply>.*)$",
        ("rejected MAIL from [100.64.4.4]:5555: no HELO/EHLO given",),
    ),
    Rule(
        "exim_vrfy_failed",
        EXIM,
        s.EV_REJECT,
        # smtp_in.c after a 550 to VRFY: the address is not deliverable (a directory harvest
        # asks this way). The reply is the line's own words, which EXIM_REJECT_KINDS knows.
        rf"^(?P<reply>VRFY failed) for <?(?P<recipient>[^<>]*?)>? {CLIENT}$",
        ("VRFY failed for <nobody@acme.example> H=(x) [100.64.4.4] U=root",),
        constants=((s.STAGE, "VRFY"), (s.ACTION, "rejected")),
    ),
    Rule(
        "exim_acl_dropped",
        EXIM,
        s.EV_REJECT,
        # A "drop" in an ACL run before any command (Exim's test suite): the connection ends.
        rf"^{CLIENT} dropped by '(?P<stage>[a-z_]+)' ACL(?:: (?P<reply>.*))?$",
        ("H=[100.64.4.4] dropped by 'connect' ACL: we dislike you",),
        closes=True,
    ),
    Rule(
        "exim_local_message_rejected",
        EXIM,
        s.EV_INFO,
        # The same refusals of a message submitted on the box (no H=, "U=user P=local"): no
        # SMTP client, so no session to count them for.
        rf"^{OPT_MSGID}(?:F={F_SENDER}(?: U=\S+)?(?: P=(?P<proto>\S+))? (?:temporarily )?"
        r"rejected by local_scan\(\)|rejected from <[^>]*>(?: U=\S+)?): (?P<reply>.*)$",
        (
            "1AOAbC-0001xy-AB F=<root@mx3.example> U=root P=local rejected by local_scan(): "
            "Rejected: hits=9.9 required=5.0",
            "rejected from <root@mx3.example> U=root: message too large: read=52431001 "
            "max=52428800",
        ),
    ),
    Rule(
        "exim_sa_reject",
        EXIM,
        s.EV_REJECT,
        # sa-exim (SpamAssassin in local_scan): "SA: Action: permanently rejected message:
        # hits=14.4 required=5.0 trigger=8.0 (scanned in 2/2 secs | Message-Id: x). From <a>
        # (host=b [ip]) for c". The client stays unread: it follows the sender's own
        # Message-Id, which could imitate it; Exim's "rejected by local_scan()" line names it.
        rf"^{MSGID} SA: Action: (?P<detail>permanently rejected message|temporarily rejected "
        r"message|silently tossed message|teergrubed sender[^:]*): "
        r"(?P<reply>[^(]*?) \(scanned in .*$",
        (
            "1AOAbC-0001xy-AB SA: Action: permanently rejected message: hits=14.4 "
            "required=5.0 trigger=8.0 (scanned in 2/2 secs | Message-Id: x@y.example). From "
            "<a@y.example> (host=mx.y.example [100.64.2.2]) for bob@acme.example",
        ),
        constants=((s.ACTION, "content"),),
    ),
    Rule(
        "exim_sa_info",
        EXIM,
        s.EV_INFO,
        # sa-exim's other lines: scanned and accepted, skipped, notices, debug output.
        rf"^{OPT_MSGID}SA: (?:Action|Notice|Warning|Debug[0-9]*|PANIC): .*$",
        (
            "1AOAbC-0001xy-AB SA: Action: scanned but message isn't spam: hits=1.2 "
            "required=5.0 (scanned in 1/1 secs | Message-Id: x@y.example). From <a@y.example> "
            "(host=mx.y.example [100.64.2.2]) for bob@acme.example",
        ),
    ),
    Rule(
        "exim_client_auth_failed",
        EXIM,
        s.EV_INFO,
        # Exim as a client, authenticating to a remote server during a delivery (smtp
        # transport): that server's answer, not a client of ours failing.
        rf"^{MSGID} (?P<sasl_method>\S+) authenticator (?:failed|cancelled authentication) "
        r"H=(?P<relay>\S+ \[[0-9A-Fa-f:.]+\]) (?P<reply>.*)$",
        (
            "1AOAbC-0001xy-AB plain authenticator failed H=smarthost.example.net "
            "[198.51.100.25] 535 5.7.8 Authentication credentials invalid",
        ),
    ),
    Rule(
        "exim_ignoring_auth",
        EXIM,
        s.EV_INFO,
        # An AUTH= on MAIL FROM from a client that did not authenticate: Exim drops the
        # parameter and goes on.
        rf"^ignoring AUTH=.*? from {CLIENT} \((?P<detail>[^)]*)\)$",
        ("ignoring AUTH=a@x.example from H=(x) [100.64.4.4] (client not authenticated)",),
    ),
    Rule(
        "exim_host_error",
        EXIM,
        s.EV_INFO,
        # A remote host's answer during a delivery attempt, logged on its own before the
        # "==" or "**" line; kept whole (blocklist texts live here too). The remote host is
        # "name [ip]" (never a "(helo)": that would be a client of ours).
        rf"^{MSGID} H=(?P<relay>[^\s(]\S*(?: \([^)]*\))? \[[0-9A-Fa-f:.]+\](?::[0-9]+)?)"
        r"[^:]*: (?P<reply>.*)$",
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
            "TLS error on connection from (x) [100.64.1.2] (recv): The TLS connection was "
            "non-properly terminated.",
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
        "exim_vrfy_not_deliverable",
        s.RK_UNKNOWN_USER,
        # exim_vrfy_failed's reply: the address asked for is not deliverable.
        r"^VRFY failed$",
        ("VRFY failed",),
    ),
    ReasonRule(
        "exim_unknown_recipient",
        s.RK_UNKNOWN_USER,
        r"(?i)Unrouteable address|unknown (?:user|local-part)|no such user|user unknown",
        ("Unrouteable address",),
    ),
)
