"""Column names, event names and stage checks.

Regex group names in ``analyzer.reading.patterns`` are these same strings, so a match becomes a row
with no renaming (``tests/test_patterns.py`` checks that every group is a known column).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from analyzer.errors import AnalyzerError

# --- lines -----------------------------------------------------------------------------------
SOURCE = "source"  # index of the file a line came from (in the order of the run)
LINE_NO = "line_no"  # 1-based line number inside that file
SEQ = "seq"  # global order of a line: file rank, then line number
RAW = "raw"

# --- syslog header ---------------------------------------------------------------------------
STAMP_CLASSIC = "stamp_classic"  # "Nov 21 09:15:02" (no year)
STAMP_ISO = "stamp_iso"  # "2003-11-21T09:15:02.123456-05:00"
TS = "ts"  # tz-aware UTC
SERVER = "server"  # syslog host name
PROGRAM = "program"  # "postfix/submission/smtpd"
DAEMON = "daemon"  # last part of PROGRAM: "smtpd"
PID = "pid"
MESSAGE = "message"

# --- events ------------------------------------------------------------------------------------
RULE = "rule"
EVENT = "event"
CLIENT_HOST = "client_host"
CLIENT_IP = "client_ip"
CLIENT_PORT = "client_port"
QUEUE_ID = "queue_id"
SASL_METHOD = "sasl_method"
SASL_USERNAME = "sasl_username"
SASL_SENDER = "sasl_sender"
SASL_REASON = "sasl_reason"
HELO = "helo"
SENDER = "sender"
RECIPIENT = "recipient"
ORIG_RECIPIENT = "orig_recipient"
ACTION = "action"  # reject / defer / warn / discard ...
STAGE = "stage"  # SMTP command a reject answered: RCPT, MAIL, CONNECT, ...
SMTP_CODE = "smtp_code"
DSN = "dsn"
REPLY = "reply"  # reply text, kept whole
PROTO = "proto"
COMMAND = "command"  # "after X" of lost/timeout/too many errors
DETAIL = "detail"  # rest of a protocol-abuse line (the offending input)
STATS = "stats"  # Postfix >= 3 disconnect command statistics, raw
AUTH_OK = "auth_ok"  # successful AUTH commands from STATS
AUTH_TOTAL = "auth_total"  # all AUTH commands from STATS
MAIL_TOTAL = "mail_total"  # MAIL commands from STATS
RELAY = "relay"
DELAY = "delay"
DELAYS = "delays"
STATUS = "status"
SIZE = "size"
NRCPT = "nrcpt"
MESSAGE_ID = "message_id"
NEW_QUEUE_ID = "new_queue_id"
DNSBL_ZONE = "dnsbl_zone"
DNSBL_RANK = "dnsbl_rank"
PS_VERDICT = "ps_verdict"  # postscreen PASS NEW / PASS OLD / WHITELISTED ...
LOCAL_IP = "local_ip"
LOCAL_PORT = "local_port"
REJECT_KIND = "reject_kind"  # relay_denied / unknown_user / dnsbl / content / policy

EVENT_FIELDS: tuple[str, ...] = (
    CLIENT_HOST,
    CLIENT_IP,
    CLIENT_PORT,
    QUEUE_ID,
    SASL_METHOD,
    SASL_USERNAME,
    SASL_SENDER,
    SASL_REASON,
    HELO,
    SENDER,
    RECIPIENT,
    ORIG_RECIPIENT,
    ACTION,
    STAGE,
    SMTP_CODE,
    DSN,
    REPLY,
    PROTO,
    COMMAND,
    DETAIL,
    STATS,
    RELAY,
    DELAY,
    DELAYS,
    STATUS,
    SIZE,
    NRCPT,
    MESSAGE_ID,
    NEW_QUEUE_ID,
    DNSBL_ZONE,
    DNSBL_RANK,
    PS_VERDICT,
    LOCAL_IP,
    LOCAL_PORT,
)

# Event kinds (values of EVENT). Rules map to these; sessions count them.
EV_CONNECT = "connect"
EV_DISCONNECT = "disconnect"
EV_CLIENT = "client"  # a message accepted: queue id bound to the session
EV_REJECT = "reject"  # NOQUEUE reject / defer (also postscreen's)
EV_WARN = "warn"  # NOQUEUE warn / discard etc.: logged, not refused
EV_SASL_FAIL = "sasl_fail"
EV_SASL_OUTAGE = "sasl_outage"  # "Connection lost to authentication server": ours, not theirs
EV_LOST = "lost"  # lost connection / timeout
EV_PROTOCOL = "protocol"  # pipelining, non-SMTP command, too many errors, pregreet, ...
EV_INFO = "info"  # known, harmless (TLS, hostname warnings)
EV_PS_CONNECT = "ps_connect"
EV_PS_PASS = "ps_pass"
EV_PS_DNSBL = "ps_dnsbl"
EV_PS_END = "ps_end"  # DISCONNECT / HANGUP
EV_MESSAGE_ID = "message_id"
EV_QUEUED = "queued"  # qmgr from=, size=, nrcpt=
EV_REMOVED = "removed"
EV_DELIVERY = "delivery"
EV_BOUNCE = "bounce_notice"
EV_PICKUP = "pickup"
EV_IGNORED = "ignored"  # other programs' lines
EV_UNMATCHED = "unmatched"  # a known program, no rule matched
EV_MALFORMED = "malformed"  # no syslog header at all

# --- sessions (the `sessions` export, in order) ------------------------------------
SESSION_ID = "session_id"
SERVICE = "service"
START = "start"
END = "end"
CLASS = "class"
REASON = "reason"
AUTH_FAILURES = "auth_failures"
MESSAGES = "messages"
RECIPIENTS = "recipients"
RELAY_DENIED = "relay_denied"
REJECTED = "rejected"
CUSTOMER_ID = "customer_id"
PERIOD = "period"
CUT = "cut"  # "start", "end", "both": the connect or disconnect line lies outside the input
# messages refused or discarded for their content (milter, before-queue filter, SpamAssassin)
CONTENT_REJECTS = "content_rejects"

SESSION_EXPORT_COLUMNS: tuple[str, ...] = (
    SESSION_ID,
    SERVER,
    SERVICE,
    START,
    END,
    CLIENT_IP,
    CLIENT_HOST,
    HELO,
    CLASS,
    REASON,
    SASL_USERNAME,
    AUTH_FAILURES,
    MESSAGES,
    RECIPIENTS,
    RELAY_DENIED,
    REJECTED,
    CUSTOMER_ID,
    PERIOD,
    CUT,
    CONTENT_REJECTS,
)

# Session aggregate columns used between stages (not all exported).
AUTH_SUCCESSES = "auth_successes"
AUTH_OUTAGES = "auth_outages"
UNKNOWN_USER = "unknown_user"
DNSBL_HITS = "dnsbl_hits"
POLICY_REJECTS = "policy_rejects"
PROTOCOL_ERRORS = "protocol_errors"
EXTERNAL_RECIPIENTS = "external_recipients"
LOCAL_RECIPIENTS = "local_recipients"
MAIL_COMMANDS = "mail_commands"
HAS_CONNECT = "has_connect"
HAS_END = "has_end"

# --- classes and reasons (README) -------------------------------------------------------
AUTHENTICATED = "authenticated"
UNAUTHENTICATED = "unauthenticated"
SPAM_PROBE = "spam_probe"
CLASSES: tuple[str, ...] = (AUTHENTICATED, UNAUTHENTICATED, SPAM_PROBE)

R_SUBMISSION = "submission"
R_INBOUND = "inbound"
R_RELAY = "relay"
R_RELAY_DENIED = "relay_denied"
R_AUTH_UNAVAILABLE = "auth_unavailable"
R_AUTH_FAILURE = "auth_failure"
R_RELAY_PROBE = "relay_probe"
R_RBL = "rbl"
R_DICTIONARY = "dictionary"
R_CONTENT = "content"
R_POLICY = "policy"
R_PROTOCOL = "protocol"
R_SCAN = "scan"
REASONS: dict[str, tuple[str, ...]] = {
    AUTHENTICATED: (R_SUBMISSION,),
    UNAUTHENTICATED: (R_INBOUND, R_RELAY, R_RELAY_DENIED, R_AUTH_UNAVAILABLE),
    SPAM_PROBE: (
        R_AUTH_FAILURE,
        R_RELAY_PROBE,
        R_RBL,
        R_DICTIONARY,
        R_CONTENT,
        R_POLICY,
        R_PROTOCOL,
        R_SCAN,
    ),
}

BEFORE = "before"
AFTER = "after"

# Reject kinds (values of REJECT_KIND)
RK_RELAY = "relay_denied"
RK_UNKNOWN_USER = "unknown_user"
RK_DNSBL = "dnsbl"
RK_CONTENT = "content"  # the message itself: milter, before-queue filter, SpamAssassin
RK_POLICY = "policy"
# ``action`` values of reject lines that refuse or discard a message for its content
# (Postfix milter and before-queue proxy filters; rules of other servers say "content").
CONTENT_ACTIONS = ("milter-reject", "milter-discard", "proxy-reject", "content")


class SchemaError(AnalyzerError):
    """A frame handed to a stage lacks columns that stage requires (a bug, not user input)."""


def require_columns(frame: pd.DataFrame, columns: Iterable[str], stage: str) -> None:
    """Raise ``SchemaError`` naming the stage and the missing columns, if any."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"{stage}: missing columns {', '.join(missing)}")


def check_sessions(sessions: pd.DataFrame) -> None:
    """Check a classified session table: export columns present, one known class per row."""
    require_columns(sessions, SESSION_EXPORT_COLUMNS, "sessions")
    unknown = set(sessions[CLASS].dropna().unique()) - set(CLASSES)
    if unknown or sessions[CLASS].isna().any():
        raise SchemaError(f"sessions: rows without a known class: {sorted(map(str, unknown))}")
