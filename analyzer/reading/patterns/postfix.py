"""Postfix message rules, per daemon, most frequent first.

Each rule runs only on the message part (syslog header removed) of lines whose program
ends in one of its ``daemons``: "postfix/smtpd", "postfix/submission/smtpd" and
"postfix-in/smtpd" all have daemon "smtpd". Formats follow Postfix's own msg_info()
strings (smtpd.c, smtpd_sasl_glue.c, postscreen_*.c, qmgr, smtp, bounce, cleanup).
"""

from __future__ import annotations

from analyzer import schema as s
from analyzer.reading.patterns import ReasonRule, Rule
from analyzer.reading.patterns._fragments import (
    AFTER_COMMAND,
    ENVELOPE_TAIL,
    HOST_ADDR,
    NEW_QUEUE_ID,
    PS_ADDR,
    QUEUE_ID,
    SMTP_STATUS,
)

# A command, or "DATA content" / "BDAT content" while the text arrives (smtpd.h SMTPD_AFTER_*).
SMTPD_STAGE = r"(?P<stage>[A-Z][A-Z-]*(?: content)?)"
# Postfix >= 3.10 (smtpd.c smtpd_proto()): "NOQUEUE: lost connection after EHLO from ...".
SESSION_END_PREFIX = rf"(?:(?:NOQUEUE|{QUEUE_ID}): )?"
# cleanup logs a milter reply without its SMTP code (cleanup_milter.c: "text = resp + 4").
DSN_ONLY = r"(?P<dsn>[245]\.[0-9]{1,3}\.[0-9]{1,3})"

SMTPD = ("smtpd",)
DELIVERY_DAEMONS = ("smtp", "lmtp", "virtual", "local", "pipe", "error", "discard", "retry")
# A delivery status line up to its (optional) dsn=: Postfix < 2.3 wrote neither delays= nor
# dsn=; 3.11 adds "tls=may", "tls=encrypt/(requiretls)"... (smtp_log_tls_feature_status).
DELIVERY_HEAD = (
    rf"{QUEUE_ID}: to=<?(?P<recipient>[^>,]*)>?,(?: orig_to=<?(?P<orig_recipient>[^>,]*)>?,)? "
    r"relay=(?P<relay>[^,]+),(?: conn_use=[0-9]+,)? delay=(?P<delay>[0-9.]+),"
    r"(?: delays=(?P<delays>[0-9./]+),)?(?: tls=[^,\s]+,)?"
)

SMTPD_RULES: tuple[Rule, ...] = (
    Rule(
        "smtpd_connect",
        SMTPD,
        s.EV_CONNECT,
        rf"^connect from {HOST_ADDR}$",
        ("connect from dsl-1-2.isp.example[100.64.1.2]", "connect from unknown[2001:db8:10::25]"),
    ),
    Rule(
        "smtpd_disconnect",
        SMTPD,
        s.EV_DISCONNECT,
        # Postfix >= 3.0 appends command statistics: "name=ok" or "name=ok/total"; 3.9 may
        # end them with "notes=bare_lf" (smtpd_format_cmd_stats()).
        rf"^disconnect from {HOST_ADDR}(?: (?P<stats>[a-z]+=[0-9]+(?:/[0-9]+)?"
        r"(?: [a-z]+=[0-9]+(?:/[0-9]+)?)*(?: notes=[a-z0-9_,]+)?))?$",
        (
            "disconnect from unknown[100.64.7.9]",
            "disconnect from mail.acme.example[198.18.0.10] ehlo=1 auth=0/1 quit=1 commands=2/3",
        ),
    ),
    Rule(
        "smtpd_client",
        SMTPD,
        s.EV_CLIENT,
        # "NOQUEUE: client=" is the front smtpd of a before-queue proxy filter.
        rf"^(?:NOQUEUE|{QUEUE_ID}): client={HOST_ADDR}"
        r"(?:, sasl_method=(?P<sasl_method>[^,\s]+))?"
        r"(?:, sasl_username=(?P<sasl_username>.*?))?"
        r"(?:, sasl_sender=(?P<sasl_sender>.*?))?"
        r"(?:, orig_queue_id=[^,\s]+)?(?:, orig_client=\S+)?$",
        (
            "3F2A41C0B2: client=mail.acme.example[198.18.0.10]",
            "4Hd2Qx3TQdzVkpF: client=unknown[100.64.1.2], sasl_method=PLAIN, "
            "sasl_username=alice@acme.example",
        ),
    ),
    Rule(
        "smtpd_sasl_outage",
        SMTPD,
        s.EV_SASL_OUTAGE,
        # The provider's auth server is down: not the client's fault, not an attack.
        rf"^warning: {HOST_ADDR}: SASL (?P<sasl_method>[A-Za-z0-9_-]+) authentication failed: "
        r"(?P<sasl_reason>Connection lost to authentication server)"
        r"(?:, sasl_username=(?P<sasl_username>.*))?$",
        (
            "warning: office.acme.example[198.18.0.10]: SASL PLAIN authentication failed: "
            "Connection lost to authentication server",
        ),
    ),
    Rule(
        "smtpd_sasl_failed",
        SMTPD,
        s.EV_SASL_FAIL,
        # Postfix >= 3.9 adds ", sasl_username=..." when the client sent one. Before 3.8.3 an
        # empty reason left "failed: " (the trailing space often trimmed on the way).
        rf"^warning: {HOST_ADDR}: SASL (?P<sasl_method>[A-Za-z0-9_-]+) authentication failed:"
        r"(?: (?P<sasl_reason>.*?))?(?:, sasl_username=(?P<sasl_username>.*))?$",
        (
            "warning: unknown[100.64.9.9]: SASL LOGIN authentication failed: "
            "authentication failure",
            "warning: unknown[100.64.9.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
            "warning: unknown[100.64.9.9]: SASL PLAIN authentication failed: "
            "authentication failure, sasl_username=admin",
        ),
    ),
    Rule(
        "smtpd_sasl_aborted",
        SMTPD,
        s.EV_INFO,
        # The client gave up its own AUTH exchange ("*"): clumsy clients, not password guessing.
        rf"^warning: {HOST_ADDR}: SASL (?P<sasl_method>[A-Za-z0-9_-]+) authentication aborted$",
        ("warning: unknown[100.64.9.9]: SASL LOGIN authentication aborted",),
    ),
    Rule(
        "smtpd_noqueue_reject",
        SMTPD,
        s.EV_REJECT,
        # smtpd_check.c log_whatsup(), smtpd.c check_milter_reply(). No SMTP code after a
        # milter DISCARD or "bare <LF> received"; "abort: TLS" lacks a required client cert.
        rf"^(?:NOQUEUE|{QUEUE_ID}): (?P<action>reject|defer|milter-reject|milter-discard|"
        rf"proxy-reject|abort): {SMTPD_STAGE} from {HOST_ADDR}: (?:{SMTP_STATUS} )?"
        rf"(?P<reply>.*?){ENVELOPE_TAIL}$",
        (
            "NOQUEUE: reject: RCPT from unknown[100.64.9.9]: 554 5.7.1 <victim@aol.com>: "
            "Relay access denied; from=<spam@x.example> to=<victim@aol.com> proto=ESMTP "
            "helo=<100.64.9.9>",
            "NOQUEUE: reject: RCPT from unknown[100.64.2.2]: 550 5.1.1 <bob@acme.example>: "
            "Recipient address rejected: User unknown in virtual mailbox table; "
            "from=<x@y.example> to=<bob@acme.example> proto=ESMTP helo=<y.example>",
            "NOQUEUE: reject: RCPT from unknown[100.64.2.2]: 554 5.7.1 Service unavailable; "
            "Client host [100.64.2.2] blocked using sbl-xbl.spamhaus.org; "
            "http://www.spamhaus.org/SBL/sbl.lasso?query=SBL1234; from=<x@y.example> "
            "to=<bob@acme.example> proto=ESMTP helo=<y.example>",
            "NOQUEUE: defer: RCPT from unknown[100.64.2.2]: 450 4.7.1 Client host rejected: "
            "cannot find your hostname, [100.64.2.2]; from=<x@y.example> to=<bob@acme.example> "
            "proto=ESMTP helo=<y.example>",
            "NOQUEUE: reject: CONNECT from unknown[100.64.2.2]: 554 5.7.1 <unknown[100.64.2.2]>: "
            "Client host rejected: Access denied; proto=SMTP",
        ),
    ),
    Rule(
        "smtpd_noqueue_other",
        SMTPD,
        s.EV_WARN,
        # warn/discard/hold/filter/redirect and soft-bounce "reject_warning" refuse nothing.
        rf"^(?:NOQUEUE|{QUEUE_ID}): (?P<action>warn|discard|hold|milter-hold|filter|redirect|"
        rf"reject_warning|prepend|info): {SMTPD_STAGE} from {HOST_ADDR}: "
        rf"(?:{SMTP_STATUS} )?(?P<reply>.*?){ENVELOPE_TAIL}$",
        (
            "NOQUEUE: warn: RCPT from unknown[100.64.2.2]: Suspicious client; from=<x@y.example> "
            "to=<bob@acme.example> proto=ESMTP helo=<y.example>",
        ),
    ),
    Rule(
        "smtpd_lost_connection",
        SMTPD,
        s.EV_LOST,
        rf"^{SESSION_END_PREFIX}lost connection after {AFTER_COMMAND} from {HOST_ADDR}$",
        (
            "lost connection after EHLO from unknown[100.64.4.4]",
            "lost connection after DATA (0 bytes) from unknown[100.64.4.4]",
        ),
    ),
    Rule(
        "smtpd_timeout",
        SMTPD,
        s.EV_LOST,
        rf"^{SESSION_END_PREFIX}timeout after {AFTER_COMMAND} from {HOST_ADDR}$",
        ("timeout after CONNECT from unknown[100.64.4.4]",),
    ),
    Rule(
        "smtpd_too_many_errors",
        SMTPD,
        s.EV_PROTOCOL,
        rf"^{SESSION_END_PREFIX}too many errors after {AFTER_COMMAND} from {HOST_ADDR}$",
        ("NOQUEUE: too many errors after RCPT from unknown[100.64.4.4]",),
    ),
    Rule(
        "smtpd_pipelining",
        SMTPD,
        s.EV_PROTOCOL,
        rf"^improper command pipelining after {AFTER_COMMAND} from {HOST_ADDR}"
        r"(?::(?: (?P<detail>.*))?)?$",
        ("improper command pipelining after CONNECT from unknown[100.64.4.4]: EHLO x\\r\\n",),
    ),
    Rule(
        "smtpd_non_smtp",
        SMTPD,
        s.EV_PROTOCOL,
        rf"^warning: non-SMTP command from {HOST_ADDR}: (?P<detail>.*)$",
        ("warning: non-SMTP command from unknown[100.64.4.4]: GET / HTTP/1.1",),
    ),
    Rule(
        "smtpd_illegal_address",
        SMTPD,
        s.EV_PROTOCOL,
        rf"^warning: Illegal address syntax from {HOST_ADDR} in (?P<stage>[A-Z]+) command: "
        r"(?P<detail>.*)$",
        ("warning: Illegal address syntax from unknown[100.64.4.4] in RCPT command: <a@b@c>",),
    ),
    Rule(
        "smtpd_rate_limit",
        SMTPD,
        s.EV_PROTOCOL,
        rf"^warning: (?:Connection|Message delivery request|Recipient address|New TLS session|"
        r"AUTH command) (?:rate|count|concurrency) limit exceeded: (?P<detail>[0-9]+) "
        rf"from {HOST_ADDR} for service (?P<command>\S+)$",
        ("warning: Connection rate limit exceeded: 31 from unknown[100.64.4.4] for service smtp",),
    ),
    Rule(
        "smtpd_too_many_connections",
        SMTPD,
        s.EV_PROTOCOL,
        rf"^too many connections from {HOST_ADDR}$",
        ("too many connections from unknown[100.64.4.4]",),
    ),
    Rule(
        "smtpd_hostname_mismatch",
        SMTPD,
        s.EV_INFO,
        # Logged before "connect from unknown[...]": the name is the client's PTR, not ours.
        # (one old version swapped the name and the address in the first form)
        r"^warning: (?:hostname (?P<detail>\S+) does not resolve to address \S+?"
        r"|(?:smtpd_peer_init: )?[0-9A-Fa-f:.]+: hostname \S+ verification failed"
        r"|[0-9A-Fa-f:.]+: address not listed for hostname \S+)(?::? .*)?$",
        (
            "warning: hostname dsl-1-2.isp.example does not resolve to address 100.64.1.2: "
            "Name or service not known",
            "warning: 100.64.1.2: hostname dsl-1-2.isp.example verification failed: "
            "Name or service not known",
            "warning: 100.64.1.2: address not listed for hostname dsl-1-2.isp.example",
        ),
    ),
    Rule(
        "smtpd_tls_established",
        SMTPD,
        s.EV_INFO,
        rf"^(?:Anonymous|Untrusted|Trusted|Verified) TLS connection established from {HOST_ADDR}:"
        r" (?P<detail>.*)$",
        (
            "Anonymous TLS connection established from unknown[100.64.1.2]: TLSv1 with cipher "
            "EDH-RSA-DES-CBC3-SHA (168/168 bits)",
        ),
    ),
    Rule(
        "smtpd_tls_error",
        SMTPD,
        s.EV_INFO,
        rf"^(?:SSL_accept error from {HOST_ADDR}: (?P<detail>.*)"
        r"|warning: TLS library problem: .*|warning: .*TLS.*handshake.*)$",
        (
            "SSL_accept error from unknown[100.64.4.4]: lost connection",
            "warning: TLS library problem: error:0A000412:SSL routines::ssl/tls alert bad "
            "certificate:../ssl/record/rec_layer_s3.c:1586:SSL alert number 42:",
        ),
    ),
    Rule(
        "smtpd_sasl_backend",
        SMTPD,
        s.EV_INFO,
        # Back-end chatter around a failure that is logged on its own line with the client.
        r"^warning: (?:SASL authentication failure: .*|SASL: Connect to \S+ failed: .*"
        r"|xsasl_\w+: .*)$",
        (
            "warning: SASL authentication failure: Password verification failed",
            "warning: SASL: Connect to private/auth failed: Connection refused",
        ),
    ),
    Rule(
        "smtpd_proxy_accept",
        SMTPD,
        s.EV_INFO,
        # A before-queue filter's end-of-data reply (smtpd.c data_cmd() "proxy-%s: %s: %s;%s"):
        # no queue id, no client (the process is the session).
        rf"^(?:(?:NOQUEUE|{QUEUE_ID}): )?(?P<action>proxy-accept): {SMTPD_STAGE}: "
        rf"(?:{SMTP_STATUS} )?(?P<reply>.*?){ENVELOPE_TAIL}$",
        (
            "proxy-accept: END-OF-MESSAGE: 250 2.0.0 Ok: queued as 4XkT2b0c1Lz9sQm; "
            "from=<alice@acme.example> to=<bob@y.example> proto=ESMTP helo=<office.acme.example>",
        ),
    ),
    Rule(
        "smtpd_proxy_reject",
        SMTPD,
        s.EV_REJECT,
        # The filter refused the message for its content (amavis, a spam scanner...).
        rf"^(?:(?:NOQUEUE|{QUEUE_ID}): )?(?P<action>proxy-reject): {SMTPD_STAGE}: "
        rf"(?:{SMTP_STATUS} )?(?P<reply>.*?){ENVELOPE_TAIL}$",
        (
            "proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, id=01234-05 - spam; "
            "from=<x@y.example> to=<bob@acme.example> proto=ESMTP helo=<y.example>",
        ),
    ),
    Rule(
        "smtpd_ehlo_discard",
        SMTPD,
        s.EV_INFO,
        # smtpd_discard_ehlo_keywords at work (smtpd.c ehlo_cmd()): configuration, not a client.
        r"^discarding EHLO keywords: (?P<detail>.*)$",
        ("discarding EHLO keywords: CHUNKING SMTPUTF8",),
    ),
)

POSTSCREEN = ("postscreen",)
POSTSCREEN_RULES: tuple[Rule, ...] = (
    Rule(
        "postscreen_connect",
        POSTSCREEN,
        s.EV_PS_CONNECT,
        rf"^CONNECT from {PS_ADDR} to \[(?P<local_ip>[0-9A-Fa-f:.]+)\]:(?P<local_port>[0-9]+)$",
        ("CONNECT from [100.64.3.4]:51234 to [192.0.2.11]:25",),
    ),
    Rule(
        "postscreen_pass",
        POSTSCREEN,
        s.EV_PS_PASS,
        # The client is handed to smtpd, whose session is the one that counts.
        rf"^(?P<ps_verdict>PASS NEW|PASS OLD|WHITELISTED|ALLOWLISTED) {PS_ADDR}$",
        ("PASS NEW [100.64.3.4]:51234", "PASS OLD [198.18.0.10]:4711"),
    ),
    Rule(
        "postscreen_disconnect",
        POSTSCREEN,
        s.EV_PS_END,
        rf"^DISCONNECT {PS_ADDR}$",
        ("DISCONNECT [100.64.3.4]:51234",),
    ),
    Rule(
        "postscreen_dnsbl",
        POSTSCREEN,
        s.EV_PS_DNSBL,
        rf"^DNSBL rank (?P<dnsbl_rank>[0-9]+) for {PS_ADDR}$",
        ("DNSBL rank 3 for [100.64.3.4]:51234",),
    ),
    Rule(
        "postscreen_noqueue",
        POSTSCREEN,
        s.EV_REJECT,
        rf"^NOQUEUE: (?P<action>reject|defer): (?P<stage>[A-Z][A-Z-]*) from {PS_ADDR}: "
        rf"(?:{SMTP_STATUS} )?(?P<reply>.*?){ENVELOPE_TAIL}$",
        (
            "NOQUEUE: reject: RCPT from [100.64.3.4]:51234: 550 5.7.1 Service unavailable; "
            "client [100.64.3.4] blocked using zen.spamhaus.org; from=<a@spam.example>, "
            "to=<bob@acme.example>, proto=ESMTP, helo=<spam.example>",
            "NOQUEUE: reject: CONNECT from [100.64.3.4]:51234: too many connections",
        ),
    ),
    Rule(
        "postscreen_ports_busy",
        POSTSCREEN,
        s.EV_REJECT,
        # No "NOQUEUE:", lower-case "connect": postscreen.c writes this one differently.
        rf"^reject: connect from {PS_ADDR}: (?P<reply>all screening ports busy)$",
        ("reject: connect from [100.64.3.4]:51234: all screening ports busy",),
    ),
    Rule(
        "postscreen_pregreet",
        POSTSCREEN,
        s.EV_PROTOCOL,
        rf"^PREGREET [0-9]+ after [0-9.]+ from {PS_ADDR}: (?P<detail>.*)$",
        ("PREGREET 11 after 0.1 from [100.64.3.4]:51234: EHLO x\\r\\n",),
    ),
    Rule(
        "postscreen_hangup",
        POSTSCREEN,
        s.EV_LOST,
        rf"^HANGUP after [0-9.]+ from {PS_ADDR} in (?P<detail>.*)$",
        ("HANGUP after 0.6 from [100.64.3.4]:51234 in tests after SMTP handshake",),
    ),
    Rule(
        "postscreen_protocol",
        POSTSCREEN,
        s.EV_PROTOCOL,
        rf"^(?P<detail>NON-SMTP COMMAND|BARE NEWLINE|COMMAND PIPELINING|COMMAND TIME LIMIT|"
        rf"COMMAND COUNT LIMIT|COMMAND LENGTH LIMIT) from {PS_ADDR}"
        rf"(?: after {AFTER_COMMAND})?(?::? .*)?$",
        (
            "NON-SMTP COMMAND from [100.64.3.4]:51234 after CONNECT: GET / HTTP/1.1",
            "BARE NEWLINE from [100.64.3.4]:51234 after DATA",
            "COMMAND PIPELINING from [100.64.3.4]:51234 after EHLO: MAIL FROM:<a@b>\\r\\n",
        ),
    ),
    Rule(
        "postscreen_denylisted",
        POSTSCREEN,
        s.EV_REJECT,
        rf"^(?P<ps_verdict>BLACKLISTED|DENYLISTED) {PS_ADDR}$",
        ("DENYLISTED [100.64.3.4]:51234",),
    ),
    Rule(
        "postscreen_veto",
        POSTSCREEN,
        s.EV_INFO,
        rf"^(?:WHITELIST|ALLOWLIST) VETO {PS_ADDR}$",
        ("WHITELIST VETO [100.64.3.4]:51234",),
    ),
    Rule(
        "postscreen_housekeeping",
        POSTSCREEN,
        s.EV_INFO,
        # Cache and resolver chatter: about postscreen itself, never about a client.
        r"^(?:cache \S+ full cleanup: .*|warning: (?:psc_|dnsblog|getpeername|"
        r"connect to private/|.*DNSBL).*)$",
        (
            "cache btree:/var/lib/postfix/postscreen_cache full cleanup: retained=12 dropped=3 "
            "entries",
        ),
    ),
)

CLEANUP = ("cleanup",)
QMGR = ("qmgr", "nqmgr")
OTHER_POSTFIX_RULES: tuple[Rule, ...] = (
    Rule(
        "cleanup_message_id",
        CLEANUP,
        s.EV_MESSAGE_ID,
        rf"^{QUEUE_ID}: (?:resent-)?message-id=<?(?P<message_id>[^>]*)>?$",
        ("3F2A41C0B2: message-id=<20031121091503.1234@acme.example>", "3F2A41C0B2: message-id="),
    ),
    Rule(
        "cleanup_milter_reject",
        CLEANUP,
        s.EV_REJECT,
        # cleanup_milter.c cleanup_milter_apply(): END-OF-MESSAGE for smtpd_milters, any
        # emulated stage for non_smtpd_milters; DISCARD says "milter triggers DISCARD action".
        rf"^{QUEUE_ID}: (?P<action>milter-reject|milter-discard): (?P<stage>[A-Z][A-Z-]*) "
        rf"from {HOST_ADDR}: (?:{DSN_ONLY} )?(?P<reply>.*?){ENVELOPE_TAIL}$",
        (
            "4104E3D: milter-reject: END-OF-MESSAGE from unknown[100.64.2.2]: 5.7.1 Blocked by "
            "SpamAssassin; from=<x@y.example> to=<bob@acme.example> proto=ESMTP helo=<y.example>",
        ),
    ),
    Rule(
        "cleanup_content_reject",
        CLEANUP,
        s.EV_REJECT,
        # header/body_checks (cleanup_message.c cleanup_act_log()). The client follows 200
        # characters of the sender's own text (a crafted Subject could name another one), so
        # it is not read here: the queue id ties the line to its session.
        rf"^{QUEUE_ID}: (?P<action>reject|milter-reject): (?P<stage>header|body|END-OF-MESSAGE|"
        r"DATA|[A-Z][A-Z-]+) (?P<detail>.*)$",
        (
            "3F2A41C0B2: reject: header Subject: cheap pills from unknown[100.64.2.2]; "
            "from=<x@y.example> to=<bob@acme.example> proto=ESMTP helo=<y.example>: "
            "5.7.1 message content rejected",
        ),
    ),
    Rule(
        "cleanup_content_action",
        CLEANUP,
        s.EV_INFO,
        rf"^{QUEUE_ID}: (?P<action>warning|hold|discard|redirect|filter|replace|prepend|info|"
        r"milter-[a-z-]+): (?P<detail>.*)$",
        (
            "9804DB31C2: hold: header Message-ID: <u@acme.example> from unknown[100.64.2.2]; "
            "from=<x@y.example> to=<u@acme.example> proto=ESMTP helo=<y.example>: held",
        ),
    ),
    Rule(
        "qmgr_queued",
        QMGR,
        s.EV_QUEUED,
        rf"^{QUEUE_ID}: from=<(?P<sender>[^>]*)>, size=(?P<size>[0-9]+), "
        r"nrcpt=(?P<nrcpt>[0-9]+) \(queue active\) ?$",
        ("3F2A41C0B2: from=<alice@acme.example>, size=2345, nrcpt=2 (queue active)",),
    ),
    Rule(
        "qmgr_removed",
        QMGR,
        s.EV_REMOVED,
        rf"^{QUEUE_ID}: removed$",
        ("3F2A41C0B2: removed",),
    ),
    Rule(
        "qmgr_expired",
        QMGR,
        s.EV_INFO,
        # "force-expired" after postsuper -e/-f (qmgr_active.c); one published log lacks a space.
        rf"^{QUEUE_ID}: ?from=<(?P<sender>[^>]*)>, status=(?P<status>expired|force-expired), "
        r"returned to sender$",
        ("3F2A41C0B2: from=<alice@acme.example>, status=force-expired, returned to sender",),
    ),
    Rule(
        "delivery",
        DELIVERY_DAEMONS,
        s.EV_DELIVERY,
        # The remote reply in parentheses is kept whole: bounce and blocklist analysis reads it.
        rf"^{DELIVERY_HEAD}(?: dsn=(?P<dsn>[245]\.[0-9]{{1,3}}\.[0-9]{{1,3}}),)? "
        r"status=(?P<status>[A-Za-z]+) \((?P<reply>.*)\)$",
        (
            "3F2A41C0B2: to=<bob@aol.com>, relay=mx.aol.com[198.51.100.20]:25, delay=2.1, "
            "delays=0.1/0.01/0.9/1.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9A)",
            "3F2A41C0B2: to=<bob@acme.example>, relay=virtual, delay=0.1, delays=0.05/0/0/0.05, "
            "dsn=2.0.0, status=sent (delivered to maildir)",
        ),
    ),
    Rule(
        "delivery_chatter",
        DELIVERY_DAEMONS,
        s.EV_INFO,
        # Connection trouble and TLS notes of the delivery agents; the status line follows.
        rf"^(?:(?:{QUEUE_ID}: )?(?:host \S+ said: .*|lost connection with \S+ while .*|"
        r"conversation with \S+ timed out while .*|enabling PIX workarounds: .*|"
        r"host \S+ refused to talk to me: .*|"
        r"Cannot start TLS: .*)|connect to \S+: .*|discarding EHLO keywords: .*|"
        r"(?:Anonymous|Untrusted|Trusted|Verified) TLS connection established to \S+: .*|"
        r"warning: .*)$",
        (
            "connect to mx.example.net[198.51.100.9]:25: Connection timed out",
            "3F2A41C0B2: host mx.aol.com[198.51.100.20] said: 421 4.7.0 try later (in reply to "
            "MAIL FROM command)",
        ),
    ),
    Rule(
        "delivery_truncated",
        DELIVERY_DAEMONS,
        s.EV_DELIVERY,
        # Cut inside its reply (a syslog size limit, a copy broken in two): the status stands.
        rf"^{DELIVERY_HEAD}(?: dsn=(?P<dsn>[245]\.[0-9]{{1,3}}\.[0-9]{{1,3}}),)? "
        r"status=(?P<status>[A-Za-z]+) \((?P<reply>.*)$",
        (
            "3F2A41C0B2: to=<bob@acme.example>, relay=local, delay=0.14, "
            "delays=0.01/0/0.11/0.02, dsn=2.0.0, status=sent (delivered to command: procmail -a",
        ),
    ),
    Rule(
        "postsuper_removed",
        ("postsuper",),
        s.EV_REMOVED,
        # An admin deleting queued mail (postsuper -d), e.g. a cracked account's spam.
        rf"^{QUEUE_ID}: removed$",
        ("2pJR9Z36VVzlSCl: removed",),
    ),
    Rule(
        "postsuper_queue_action",
        ("postsuper",),
        s.EV_INFO,
        # postsuper -h / -H / -r (postsuper.c): a requeued one comes back via pickup, new id.
        rf"^{QUEUE_ID}: (?P<detail>placed on hold|released from hold|requeued)$",
        ("2pJR9Z36VVzlSCl: placed on hold",),
    ),
    Rule(
        "bounce_notification",
        ("bounce",),
        s.EV_BOUNCE,
        rf"^{QUEUE_ID}: sender (?P<detail>non-delivery notification|delivery status "
        rf"notification|delay notification): {NEW_QUEUE_ID}$",
        ("3F2A41C0B2: sender non-delivery notification: 4B1C2D3E4F",),
    ),
    Rule(
        "pickup",
        ("pickup",),
        s.EV_PICKUP,
        rf"^{QUEUE_ID}: uid=(?P<detail>[0-9]+) from=<(?P<sender>[^>]*)>$",
        ("3F2A41C0B2: uid=1000 from=<root>",),
    ),
    Rule(
        "dnsblog_listed",
        ("dnsblog",),
        s.EV_INFO,
        # postscreen's DNS helper; postscreen itself logs the verdict per client.
        r"^addr (?P<client_ip>[0-9A-Fa-f:.]+) listed by domain (?P<dnsbl_zone>\S+) as \S+$",
        ("addr 100.64.3.4 listed by domain zen.spamhaus.org as 127.0.0.4",),
    ),
    Rule(
        "tlsproxy_connection",
        ("tlsproxy",),
        s.EV_INFO,
        # tlsproxy uses postscreen's words for its own hand-over: not a new session
        # (tlsproxy.c "CONNECT %s %s": "to" when it serves the smtp client).
        rf"^(?:(?:CONNECT from|DISCONNECT|SSL_accept error from|"
        rf"(?:Anonymous|Untrusted|Trusted|Verified) TLS connection established from) "
        rf"{PS_ADDR}(?:: (?P<detail>.*))?|CONNECT to \S+|SSL_connect error to \S+: .*|"
        r"(?:Anonymous|Untrusted|Trusted|Verified) TLS connection established to \S+: .*)$",
        ("CONNECT from [100.64.3.4]:51234",),
    ),
    Rule(
        "daemon_housekeeping",
        (
            "master",
            "anvil",
            "scache",
            "postfix-script",
            "tlsmgr",
            "verify",
            "postlog",
            "trivial-rewrite",
            "dnsblog",
            "tlsproxy",
            "qmgr",
            "cleanup",
            "bounce",
            "pickup",
            "sendmail",
            "postdrop",
            "postsuper",
            "postqueue",
        ),
        s.EV_INFO,
        # postfix-script: start/stop/status; postsuper.c: the counts after -d/-r/-h/-H/-s.
        r"^(?:statistics: .*|daemon started .*|terminating on signal .*|reload .*|"
        r"(?:starting|stopping|refreshing|aborting) the Postfix mail system|"
        r"the Postfix mail system is (?:running: PID: [0-9]+|not running|already running)|"
        r"waiting for the Postfix mail system to terminate|"
        r"(?:Deleted|Requeued|Placed on hold|Released from hold|Renamed to match inode number): "
        r"[0-9]+ messages?|warning: .*|fatal: .*|panic: .*)$",
        (
            "daemon started -- version 2.0.16, configuration /etc/postfix",
            "statistics: max connection rate 4/60s for (smtp:100.64.3.4) at Nov 21 09:10:01",
        ),
    ),
)

_EARLIER = SMTPD_RULES + POSTSCREEN_RULES + OTHER_POSTFIX_RULES
DAEMON_TROUBLE = Rule(
    "daemon_trouble",
    tuple(dict.fromkeys(d for rule in _EARLIER for d in rule.daemons)),  # smtpd first
    s.EV_INFO,
    # Last, for every daemon: a changed lookup table ends the process (pre_accept(): "table %s
    # has changed -- restarting"); msg_fatal/msg_error/msg_panic: the system's trouble.
    r"^(?:table \S+ has changed -- restarting|(?:fatal|error|panic): .*)$",
    ("error: open database /etc/postfix/helo_access.db: No such file or directory",),
)
POSTFIX_RULES: tuple[Rule, ...] = _EARLIER + (DAEMON_TROUBLE,)

# Categories of reject replies (first match wins). Read with a search over the reply text.
REJECT_KINDS: tuple[ReasonRule, ...] = (
    ReasonRule(
        "relay_access_denied",
        s.RK_RELAY,
        r"Relay access denied",
        ("<victim@aol.com>: Relay access denied",),
    ),
    ReasonRule(
        "dnsbl_blocked",
        s.RK_DNSBL,
        r"blocked using (?P<dnsbl_zone>[A-Za-z0-9_.-]+)",
        ("Service unavailable; Client host [100.64.2.2] blocked using sbl-xbl.spamhaus.org",),
    ),
    ReasonRule(
        "unknown_recipient",
        s.RK_UNKNOWN_USER,
        r"(?:User unknown|Recipient address rejected: (?:undeliverable address|"
        r"unverified address|Unknown user|Mailbox unavailable))",
        ("<bob@acme.example>: Recipient address rejected: User unknown in virtual mailbox table",),
    ),
)
