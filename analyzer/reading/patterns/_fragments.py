"""Named regex fragments shared by the rules. Each says what it matches, with an example.

All are RE2-compatible (pyarrow runs them): no look-around, no back-references.
"""

from __future__ import annotations

import re

# Syslog header, split off every line before any rule runs. Two stamp forms:
#   classic  "Nov 21 09:15:02 mail1 postfix/smtpd[2345]: "   (no year; day space-padded,
#            or not padded by some daemons: "Jul 2 12:24:48")
#            "Nov 21 09:15:02.123456 mail1 postfix/smtpd[2345]: "  (Postfix maillog_file)
#   RFC 3339 "2003-11-21T09:15:02.123456-05:00 mail1 postfix/smtpd[2345]: " (rsyslog)
STAMP_CLASSIC = r"[A-Z][a-z]{2} [ 0-9]?[0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
STAMP_ISO = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)
# The program tag: "postfix/submission/smtpd[2345]", "CRON[99]", "dovecot" (no pid).
PROGRAM_TAG = r"(?P<program>[^\s\[\]:]+)(?:\[(?P<pid>[0-9]+)\])?"
SYSLOG_HEADER = (
    rf"^(?:(?P<stamp_classic>{STAMP_CLASSIC})|(?P<stamp_iso>{STAMP_ISO})) +"
    rf"(?P<server>[^\s:]+) {PROGRAM_TAG}: "
)
# Fast paths for the two usual shapes (single spaces): far cheaper for RE2 than the
# alternation above, which only reads the lines these two leave.
SYSLOG_HEADER_ISO = (
    r"^(?P<stamp_iso>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9:]+)?) "
    rf"(?P<server>[^\s:]+) {PROGRAM_TAG}: "
)
SYSLOG_HEADER_CLASSIC = (
    rf"^(?P<stamp_classic>[A-Z][a-z]{{2}} [ 0-9]?[0-9] [0-9:]{{8}}(?:\.[0-9]+)?) "
    rf"(?P<server>[^\s:]+) {PROGRAM_TAG}: "
)
# Their usual forms (a padded day, whole seconds; a host without brackets; a pid; no field
# longer than its bound), whose fields are cut at their separators instead: the classic stamp
# is the first 15 bytes, the RFC 3339 one ends at the first space; then the host ends at a
# space, the program at "[", the pid at "]" (analyzer.reading.headers.syslog_headers). The
# bounds keep the header within USUAL_STAMP_BYTES + USUAL_TAG_BYTES bytes: only those are cut.
USUAL_TAG = r" [^\s:\[\]]{1,64} [^\s\[\]:]{1,64}\[[0-9]{1,10}\]: "
USUAL_TAG_BYTES = 1 + 64 + 1 + 64 + 1 + 10 + 3
SYSLOG_USUAL_CLASSIC = rf"^[A-Z][a-z]{{2}} [ 0-9][0-9] [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}{USUAL_TAG}"
SYSLOG_USUAL_ISO = (
    rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9:.]{{1,20}}(?:Z|[+-][0-9:]{{1,6}})?{USUAL_TAG}"
)
USUAL_STAMP_BYTES = {"classic": 15, "iso": 10 + 1 + 20 + 7}

# Rules run on whole lines behind this skip of the header: the first "]: " ends the tag of a
# process with a pid (a stamp and a host never contain "]"); lines without a pid skip to the
# first " word: ". Cheaper than cutting a separate message column out of every line.
SKIP_HEADER_PID = r"^[^\]]*\]: "
# An Exim mainlog line: "2003-11-21 09:15:02[.123][ -0500][ [1234]] " (log_timezone, +pid).
EXIM_STAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?: [+-][0-9]{4})?"
)
EXIM_HEADER = rf"^(?P<stamp_iso>{EXIM_STAMP})(?: \[(?P<pid>[0-9]+)\])? "
# Its usual form (+pid, no zone, no fraction): the stamp is the first 19 bytes, the pid runs
# from byte 21 to the first "]" (cut, not extracted).
EXIM_USUAL_HEADER = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \[[0-9]{1,10}\] "
# Exim logging to syslog keeps its own stamp (unless syslog_timestamp = false) and pid.
# An entry of several lines (a reject log entry with its header lines) or longer than 870
# characters goes to syslog in pieces "[1\3] ", "[2\3] ", "[3/3] " (log.c, write_syslog): the
# first piece holds the stamp and the line itself, the others are read by exim_syslog_piece.
#   "mx1 exim[4301]: [1\3] 2024-05-06 10:06:00 [4301] 1s3xSa-... H=(x) [203.0.113.4] ..."
SKIP_HEADER_EXIM_SYSLOG = (
    r"^[^\]]*\]: (?:\[1[\\/][0-9]+\] )?"
    r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+(?: [+-][0-9]{4})? )?(?:\[[0-9]+\] )?"
)
SKIP_HEADER_EXIM = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+(?: [+-][0-9]{4})?(?: \[[0-9]+\])? "
SKIP_HEADER_NO_PID = r"^.*? [^\s\[\]:]+: "

# syslog's own lines, which carry a stamp and a host but no program tag:
#   "Nov 15 15:51:34 mail2 -- MARK --"   "... mail1 last message repeated 3 times"
SYSLOG_INTERNAL = (
    rf"^(?:{STAMP_CLASSIC}|{STAMP_ISO}) +[^\s:]+ (?:-- MARK --|last message repeated [0-9]+ times|"
    r"message repeated [0-9]+ times: .*|syslogd(?: [0-9.]+)?(?::|\b).*|rsyslogd: .*)$"
)

# An IP address as Postfix prints it: IPv4, IPv6 (possibly "IPv6:"-tagged), IPv4-mapped, or
# "unknown" when the peer vanished before getpeername() ("disconnect from unknown[unknown]").
#   "198.51.100.7"   "2001:db8:10::25"   "::ffff:198.51.100.7"   "unknown"
IP = r"(?:(?:IPv6:)?[0-9A-Fa-f:.]+|unknown)"

# Postfix "host[addr]" with an optional ":port" (smtpd_client_port_logging = yes).
#   "dsl-1-2.isp.example[100.64.1.2]"   "unknown[2001:db8::25]"   "mx[198.51.100.1]:4711"
HOST_ADDR = (
    rf"(?P<client_host>[^\s\[\]]+)\[(?:IPv6:)?(?P<client_ip>{IP})\]"
    r"(?::(?P<client_port>[0-9]+))?"
)

# postscreen's "[addr]:port".   "[100.64.3.4]:51234"   "[2001:db8::1]:4321"
PS_ADDR = rf"\[(?:IPv6:)?(?P<client_ip>{IP})\]:(?P<client_port>[0-9]+)"

# Postfix queue ids: short (hex, "3F2A41C0B2") or long (enable_long_queue_ids,
# "4Hd2Qx3TQdzVkpF": digits and consonants only, so "NOQUEUE" never matches).
QUEUE_ID_VALUE = r"(?:[0-9A-F]{6,12}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,20})"
QUEUE_ID = rf"(?P<queue_id>{QUEUE_ID_VALUE})"
NEW_QUEUE_ID = rf"(?P<new_queue_id>{QUEUE_ID_VALUE})"

# An SMTP reply code and optional enhanced status code: "554 5.7.1 ", "450 ".
SMTP_STATUS = r"(?P<smtp_code>[245][0-9]{2})(?:[ -](?P<dsn>[245]\.[0-9]{1,3}\.[0-9]{1,3}))?"

# The SMTP command named by "after X": "CONNECT", "DATA (0 bytes)", "END-OF-MESSAGE", and
# postscreen's "." (end of DATA).
AFTER_COMMAND = r"(?P<command>[A-Za-z-]+(?: \([0-9]+ bytes\))?|\.)"

# The tail smtpd appends to every NOQUEUE line: "; from=<a@b> to=<c@d> proto=ESMTP helo=<x>"
# (postscreen separates the same fields with ", "). The HELO is the client's own text and the
# last field: it runs to the line's final ">" (a HELO of "<img src=x>" must stay whole).
# Rules using this tail end with "$".
ENVELOPE_TAIL = (
    r"(?:;|,)?(?: from=<(?P<sender>[^>]*)>,?)?(?: to=<(?P<recipient>[^>]*)>,?)?"
    r"(?: proto=(?P<proto>[A-Z]+),?)?(?: helo=<(?P<helo>.*)>)?"
)

# --- Exim (analyzer.reading.patterns.exim) --------------------------------------------------------

# Message ids: 6-6-2 before Exim 4.97, 6-11-4 since (base 62).
EXIM_MSGID_VALUE = (
    r"(?:[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}"
    r"|[0-9A-Za-z]{6}-[0-9A-Za-z]{11}-[0-9A-Za-z]{4})"
)
EXIM_MSGID = rf"(?P<queue_id>{EXIM_MSGID_VALUE})"
EXIM_OPT_MSGID = rf"(?:{EXIM_MSGID} )?"

# A client's address in brackets, as Exim writes it.   "[198.51.100.7]"   "[2001:db8::25]"
EXIM_CLIENT_ADDRESS = r"\[(?P<client_ip>[0-9A-Fa-f:.]+)\]"
# A remote host as Exim logs it: "name (helo) [ip]:port", "(helo) [ip]", "[ip]:port".
#   "mail.example.com (mail.example.com) [198.51.100.7]:4321"   "(WIN-X) [100.64.9.9]"
#   "(x) [8.8.8.8]) [203.0.113.9]:1234"   (HELO "x) [8.8.8.8]", from 203.0.113.9)
# host.c writes "name (helo) [ip]" with the HELO raw: with helo_accept_junk_hosts it may hold
# spaces, parentheses, brackets, even a whole fake "[ip]:port I=... F=<...> rejected ..."
# tail; senders, recipients, commands and replies are the client's text too, before or after
# the host. So the HELO is any text (greedy here: it can never end early and pose as the
# address), and analyzer.reading.parse.read_hosts decides what a line says about its client:
# - Rules after whose host Exim writes only its own fields (patterns.exim.EXIM_HOST_LAST:
#   "no MAIL", "lost", "closed by QUIT"...) take the last place the rule fits: no HELO moves it.
# - Every other rule's line is read at the first place the rule fits, and attributed only
#   where no other address a host could begin at (EXIM_HOST_START) may be the one Exim
#   wrote: none before it (the client's HELO or sender: forged, or the real host before a
#   forged one), none after it that ends a HELO (") [ip]"), and none where any host rule
#   could read it. Else its client address, port, name and HELO are left empty: the line
#   is attributed to nobody, never to a guess. A reply repeating the client's own "[ip]",
#   a callout's "host [ip]", a subject's "H=[ip]" leave the client as it is.
# Where Exim logs connections, the session's address is the connection line's
# (EXIM_CONNECTING_HOST: the daemon writes it before the client has said anything).
EXIM_HOST = (
    r"(?:(?P<client_host>[^\s(\[][^\s]*) )?(?:\((?P<helo>.*)\) )?"
    rf"{EXIM_CLIENT_ADDRESS}(?::(?P<client_port>[0-9]+))?"
)
# The daemon's "SMTP connection from [ip]:port" (daemon.c), written before the client has
# said anything: an address and port only, no name and no HELO.   "[100.64.1.2]:50001"
EXIM_CONNECTING_HOST = rf"{EXIM_CLIENT_ADDRESS}(?::(?P<client_port>[0-9]+))?"
# An address as Exim writes a client's: dots (IPv4) or colons (IPv6), so never a pid "[1234]".
EXIM_ADDRESS_SHAPE = r"[0-9A-Fa-f]*[.:][0-9A-Fa-f:.]*"
# Where a client host could begin: an address in brackets after a space or "H=", not the
# listening address "I=[...]". Two in "H=(x) [8.8.8.8]) [203.0.113.9]:1234 I=[192.0.2.13]:25".
EXIM_HOST_START = rf"(?:[^I]=| )\[(?P<address>{EXIM_ADDRESS_SHAPE})\]"
# A line with two of them: which of its addresses is the client's must be checked.
EXIM_HOST_STARTS = rf"{EXIM_HOST_START}.*{EXIM_HOST_START}"
# The end of a HELO and the host after it: ") [ip]".
EXIM_HELO_END = rf"\) \[({EXIM_ADDRESS_SHAPE})\]"

# The listening address with +incoming_interface: " I=[192.0.2.13]:587", and the
# connection counter of Exim >= 4.97 (+connection_id) that may follow it: " Ci=8001".
EXIM_INTERFACE = r"(?: I=\[(?P<local_ip>[0-9A-Fa-f:.]+)\]:(?P<local_port>[0-9]+))?(?: Ci=[0-9]+)?"
# "SMTP connection" lines of Exim >= 4.97 put the counter first: "SMTP connection Ci=8001 from".
EXIM_CONNECTION = r"SMTP connection(?: Ci=[0-9]+)? from"
# What host_and_ident() puts after the host and interface: the RFC 1413 ident of the client
# (" U=root", "U=CALLER" in Exim's test suite), and Exim >= 4.97's connection counter when it
# follows the ident rather than I=.
EXIM_IDENT = r"(?: U=\S+)?(?: Ci=[0-9]+)?"
# TLS details between the host and the rest (X=cipher CV=yes DN="..." SNI=name). A DN is
# quoted and may hold spaces: DN="C=US,O=Zee Corp,CN=mail.zee.example".
# (Written as one repeated group: the same lines, a smaller program, and RE2 extracts groups
# from small programs several times faster.)
EXIM_TLS = r"(?: (?:X|CV|SNI)=\S+| DN=\"[^\"]*\")*"
# A quoted local part: it may hold spaces, ">", "H=[ip]" and quotes escaped with "\" (so a
# sender '"a\" H=[8.8.8.8] b"@x' before a host stays whole, and cannot pose as the host).
EXIM_QUOTED = r'"(?:[^"\\]|\\.)*"'
# An envelope sender as Exim writes it: a quoted local part may hold spaces.
#   "alice@acme.example"   "<>"   "\"name with spaces\"@acme.example"
EXIM_SENDER = rf"(?P<sender>{EXIM_QUOTED}\S*|\S+)"
# A sender after "F=": in brackets in ACL lines, bare in older versions and local_scan lines.
EXIM_F_SENDER = rf"<?(?P<sender>{EXIM_QUOTED}[^>\s]*|[^>\s]*)>?"
# The "F=<sender>" of ACL lines, then what Exim >= 4.8x logs after it: " A=authenticator[:id]"
# for an authenticated client, and " SPF=result" " DMARC=result" with those log selectors.
# (It follows the host, so it cannot move the address: a quoted part is read up to its
# first quote, several times cheaper for RE2 than EXIM_QUOTED.)
EXIM_FROM = (
    r"(?: F=<?(?P<sender>\"[^\"]*\"[^>\s]*|[^>\s]*)>?)?"
    r"(?: A=(?P<sasl_method>[^:\s]+)(?::(?P<sasl_username>\S+))?)?"
    r"(?: (?:SPF|DMARC)=\S+)*"
)
# The start of every line about an incoming connection written by host_and_ident(TRUE):
# "[DS ]H=host[ I=...][ U=ident][ Ci=n]" (+dnssec puts "DS" before the host).
EXIM_CLIENT = rf"(?:DS )?H={EXIM_HOST}{EXIM_INTERFACE}{EXIM_IDENT}"
# A delivery address: an address, or a pipe command with its arguments up to the " <parent>"
# that follows it ("|/usr/bin/script arg <foi@acme.example>"). Neither ends with the colon
# of "** bob@acme.example: retry timeout exceeded" (but a redirect's ":blackhole:" is whole).
EXIM_RECIPIENT = (
    r"(?P<recipient>\|[^<:]*[^<:\s]|:blackhole:|[^\s<]*[^\s<:])"
    r"(?: <(?P<orig_recipient>[^>]*)>)?"
)
# What delivery failure lines put between the router/transport and ": reason": "defer (-44)",
# " H=host [ip]", TLS fields whose cipher holds colons (X=TLS1.2:ECDHE_RSA:256) and a quoted
# DN; the first ": " outside quotes starts the reason.
EXIM_DELIVERY_FIELDS = r"(?:[^:\"]|:[^ ]|\"[^\"]*\")*"
# What Exim appends to connection-end lines: " D=3s C=EHLO,QUIT" and the like.
EXIM_TAIL = r"(?: (?P<detail>[A-Z]+=.*))?"
# Words of a DATA-time (or MIME ACL) refusal that is about the message itself: spam scores,
# viruses, attachments. Other DATA-time refusals (header syntax, DMARC, size) stay policy.
EXIM_CONTENT_WORDS = (
    r"(?i:spam|virus|malware|infect|phish|trojan|attachment|extension|executable|mime|"
    r"content|scor(?:e|ed|ing)\b|bayes|uribl|surbl|clam)"
)

_GREEDY, _LAZY = re.compile(r"(?<!\\)\.\*(?!\?)"), re.compile(r"(?<!\\)\.\*\?")


def exim_host_readings(regex: str) -> tuple[str, str, str] | None:
    """A rule's readings of a line by EXIM_HOST, each capturing what follows the address
    (``_after``): every wildcard before the address lazy and a HELO without ")" (cheap for
    RE2; where it fits, usually the first place), every wildcard lazy (the first place the
    rule fits), every wildcard greedy (the last place). None for a rule without EXIM_HOST."""
    if EXIM_CLIENT_ADDRESS not in regex:
        return None
    head, tail = regex.split(EXIM_CLIENT_ADDRESS, 1)
    lazy, greedy = _GREEDY.sub(".*?", head), _LAZY.sub(".*", head)
    first = lazy.replace("(?P<helo>.*?)", "(?P<helo>[^)]*)")
    return tuple(  # type: ignore[return-value]
        f"{body}{EXIM_CLIENT_ADDRESS}(?P<_after>{tail[:-1]})$" for body in (first, lazy, greedy)
    )
