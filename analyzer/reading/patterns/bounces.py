"""Remote replies that blame our sending IP's reputation: who refused us, and why.

Each ``ReasonRule`` here names a provider (its ``kind``); the first rule whose pattern is
found in a delivery's reply text wins, so the specific providers come before the generic
"blocked using ZONE" / "listed at ZONE" forms. A reply that blames the *message* (Gmail's
``UnsolicitedMessageError``, a virus, a user's own block list) is not about our IP and is
left out. Examples are real reply formats with documentation addresses; each rule also has
an annotated full log line in ``tests/data/lines/bounces/``.
"""

from __future__ import annotations

from analyzer.reading.patterns import ReasonRule

SPAMHAUS, SPAMCOP, BARRACUDA = "spamhaus", "spamcop", "barracuda"
AOL, MICROSOFT, GOOGLE, YAHOO, ATT = "aol", "microsoft", "google", "yahoo", "att"
MIMECAST, TRENDMICRO, GENERIC = "mimecast", "trendmicro", "other_blocklist"

# "blocked using ZONE", "listed at|in|on ZONE": the list a reply names.
ZONE = (
    r"(?i)(?:blocked using|listed (?:at|in|on)) "
    r"(?P<dnsbl_zone>[a-z0-9-]+(?:\.[a-z0-9-]+)+)"
)

BLOCKLIST_BOUNCES: tuple[ReasonRule, ...] = (
    ReasonRule(
        "spamhaus",
        SPAMHAUS,
        r"(?i)spamhaus",
        (
            "said: 554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using "
            "zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.10",
            "said: 550 5.7.1 Service unavailable, Client host [192.0.2.10] blocked using "
            "Spamhaus. To request removal from this list see "
            "https://www.spamhaus.org/query/ip/192.0.2.10 (AS3130).",
            "said: 550 5.7.1 Mail from IP 192.0.2.10 was rejected due to listing in Spamhaus "
            "SBL. For details please see http://www.spamhaus.org/query/bl?ip=192.0.2.10",
        ),
    ),
    ReasonRule(
        "spamcop",
        SPAMCOP,
        r"(?i)spamcop",
        (
            "said: 554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using "
            "bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.10",
            "said: 550 JunkMail rejected - mail1.provider.example [192.0.2.10]:24706 is in an "
            "RBL: Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.10",
        ),
    ),
    ReasonRule(
        "barracuda",
        BARRACUDA,
        r"(?i)barracuda",
        (
            "said: 554 Service unavailable; Client host [192.0.2.10] blocked using Barracuda "
            "Reputation; http://www.barracudanetworks.com/reputation/?pr=1&ip=192.0.2.10",
            "said: 550 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using "
            "b.barracudacentral.org; https://www.barracudanetworks.com/reputation/?pr=1",
        ),
    ),
    ReasonRule(
        "aol",
        AOL,
        r"\((?:RTR|RLY|DYN|HVU|CON|IPTS):[A-Z0-9]{1,3}\)|postmaster\.info\.aol\.com",
        (
            "refused to talk to me: 554- (RTR:BL) http://postmaster.info.aol.com/errors/"
            "554rtrbl.html 554  Connecting IP: 192.0.2.10",
            "said: 554 5.7.1 : (RLY:B1) http://postmaster.info.aol.com/errors/554rlyb1.html "
            "(in reply to RCPT TO command)",
            "said: 421 4.7.1 : (DYN:T1) http://postmaster.info.aol.com/errors/421dynt1.html",
        ),
    ),
    ReasonRule(
        "att",
        ATT,
        r"DNSBL:(?:ATT)?RBL|abuse_rbl@abuse-att\.net",
        (
            "said: 553 5.3.0 alph767 DNSBL:ATTRBL 521< 192.0.2.10 >_is_blocked.For assistance "
            "forward this error to abuse_rbl@abuse-att.net (in reply to MAIL FROM command)",
        ),
    ),
    ReasonRule(
        "microsoft",
        MICROSOFT,
        r"\(S3\d{3}\)|5\.7\.60[6-9]|banned sending IP|SC-00[1-4]|DY-00[1-2]|"
        r"part of their network is on our block list",
        (
            "said: 550 5.7.1 Unfortunately, messages from [192.0.2.10] weren't sent. Please "
            "contact your Internet service provider since part of their network is on our "
            "block list (S3140). You can also refer your provider to "
            "http://mail.live.com/mail/troubleshooting.aspx#errors.",
            "said: 550 5.7.606 Access denied, banned sending IP [192.0.2.10]. To request "
            "removal from this list please visit https://sender.office.com/",
            "said: 451 4.7.650 The mail server [192.0.2.10] has been temporarily rate limited "
            "due to IP reputation. For e-mail delivery information, see "
            "https://postmaster.live.com (S3113)",
            "said: 550 SC-001 Mail rejected by Hotmail for policy reasons. (in reply to MAIL "
            "FROM command)",
        ),
    ),
    ReasonRule(
        "google",
        GOOGLE,
        # The IP variants only: the same text also exists "from your DKIM domain".
        r"UnsolicitedIPError|originating from your (?:[0-9. -]+)?IP address",
        (
            "said: 421-4.7.0 [192.0.2.10      15] Our system has detected an unusual rate of "
            "421-4.7.0 unsolicited mail originating from your IP address. To protect our "
            "421-4.7.0 users from spam, mail sent from your IP address has been temporarily "
            "rate limited. Please visit 421-4.7.0  https://support.google.com/mail/?p="
            "UnsolicitedRateLimitError to review our Bulk Email Senders Guidelines.",
            "said: 550-5.7.1 [192.0.2.10       1] Our system has detected an unusual rate of "
            "550-5.7.1 unsolicited mail originating from your IP address. Please visit "
            "550-5.7.1  https://support.google.com/mail/?p=UnsolicitedIPError to review",
        ),
    ),
    ReasonRule(
        "yahoo",
        YAHOO,
        r"\[(?:TSS?0[1-9]|BL2[0-9])\]|postmaster\.yahoo\.com/[0-9]{3}-(?:ts|bl)",
        (
            "said: 421 4.7.0 [TS03] All messages from 192.0.2.10 will be permanently "
            "deferred; Retrying will NOT succeed. See http://postmaster.yahoo.com/421-ts03.html",
            "said: 554 5.7.1 [TSS04] Messages from 192.0.2.10 temporarily deferred due to "
            "user complaints - 4.16.55.1; see https://help.yahoo.com/kb/postmaster/SLN3434.html",
        ),
    ),
    ReasonRule(
        "mimecast",
        MIMECAST,
        r"(?i)(?:blacklisted|block ?listed|reputation)[^;]{0,80}mimecast\.com",
        (
            "said: 451 IP temporarily blacklisted - https://community.mimecast.com/docs/"
            "DOC-1369#451 (in reply to RCPT TO command)",
        ),
    ),
    ReasonRule(
        "trendmicro",
        TRENDMICRO,
        r"(?i)Trend ?Micro (?:RBL|Email Reputation|ERS|DUL)|mail-abuse\.(?:com|org)",
        (
            "said: 550 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using "
            "Trend Micro RBL+. Please see http://www.mail-abuse.com/cgi-bin/lookup?"
            "ip_address=192.0.2.10",
            "said: 450 4.7.1 Mail from 192.0.2.10 deferred using Trend Micro Email Reputation "
            "database. Please see https://www.mail-abuse.com/cgi-bin/lookup?192.0.2.10",
        ),
    ),
    ReasonRule(
        "generic_zone",
        GENERIC,
        # Our address on a list: not "sender is on the recipient's blacklist" (a user's own
        # list) nor a domain's reputation.
        r"(?i)(?:blocked using|listed (?:at|in|on)) [a-z0-9-]+\.[a-z0-9.-]+|is in an RBL|"
        r"(?:IP|address|host|client)[^;]{0,40}\b(?:black|block|deny) ?listed\b|"
        r"(?:poor|bad|low) IP reputation",
        (
            "said: 554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using "
            "dnsbl.example.net",
            "said: 550 5.7.1 192.0.2.10 is listed at psbl.surriel.com",
            "said: 550 Your IP 192.0.2.10 is blacklisted, see https://rbl.example.net/",
        ),
    ),
)
