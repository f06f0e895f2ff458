"""Named regex fragments shared by the rules. Each says what it matches, with an example.

All are RE2-compatible (pyarrow runs them): no look-around, no back-references.
"""

from __future__ import annotations

# Syslog header, split off every line before any rule runs. Two stamp forms:
#   classic  "Nov 21 09:15:02 mail1 postfix/smtpd[2345]: "   (no year; day space-padded)
#            "Nov 21 09:15:02.123456 mail1 postfix/smtpd[2345]: "  (Postfix maillog_file)
#   RFC 3339 "2003-11-21T09:15:02.123456-05:00 mail1 postfix/smtpd[2345]: " (rsyslog)
STAMP_CLASSIC = r"[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
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
    rf"^(?P<stamp_classic>[A-Z][a-z]{{2}} [ 0-9][0-9] [0-9:]{{8}}(?:\.[0-9]+)?) "
    rf"(?P<server>[^\s:]+) {PROGRAM_TAG}: "
)

# Rules run on whole lines behind this skip of the header: the first "]: " ends the tag of a
# process with a pid (a stamp and a host never contain "]"); lines without a pid skip to the
# first " word: ". Cheaper than cutting a separate message column out of every line.
SKIP_HEADER_PID = r"^[^\]]*\]: "
# An Exim mainlog line: "2003-11-21 09:15:02[.123][ -0500][ [1234]] " (log_timezone, +pid).
EXIM_STAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?: [+-][0-9]{4})?"
)
EXIM_HEADER = rf"^(?P<stamp_iso>{EXIM_STAMP})(?: \[(?P<pid>[0-9]+)\])? "
# Exim logging to syslog keeps its own stamp (unless syslog_timestamp = false) and pid.
SKIP_HEADER_EXIM_SYSLOG = (
    r"^[^\]]*\]: (?:[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+(?: [+-][0-9]{4})? )?(?:\[[0-9]+\] )?"
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
