"""The starter config `relaywatch init` writes: a commented ``relaywatch.toml`` and an empty
``customers.csv``, from what was found on the machine and in its logs.

Pure: takes what was found, returns text. Finding it (globs, reading logs) is
``analyzer.jobs.init_config``'s work.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from analyzer.judgements.customers import CUSTOMER_COLUMNS

# Where Debian, Red Hat and their kin keep mail logs (rotated and compressed files included).
USUAL_LOGS = (
    "/var/log/mail.log*",
    "/var/log/maillog*",
    "/var/log/exim4/mainlog*",
    "/var/log/exim/main.log*",
)
CONFIG_NAME = "relaywatch.toml"
CUSTOMERS_NAME = "customers.csv"


@dataclass(frozen=True, slots=True)
class Found:
    """What `init` found.

    Attributes:
        logs: the log globs that matched files.
        files: how many files they matched.
        timezone: this machine's time zone.
        servers: server names seen in the sampled lines (syslog hosts, Exim mainlogs' names).
        local_domains: domains the sampled lines show delivered locally.
        lines: how many lines were sampled.
        store: the store folder to write into the config.
        enforcement_date: the date given with ``--enforcement``, if any.
        today: the day the config is written (for its header).
    """

    logs: tuple[str, ...]
    files: int
    timezone: str
    servers: tuple[str, ...]
    local_domains: tuple[str, ...]
    lines: int
    store: str
    enforcement_date: dt.date | None
    today: dt.date


def toml_string(value: str) -> str:
    """A TOML basic string for any text: JSON's escapes are TOML's, except that TOML also
    forbids a raw DEL (which JSON leaves as it is)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(toml_string(v) for v in values) + "]"


def render_config(found: Found) -> str:
    """The text of the starter ``relaywatch.toml``: every line a user may need to change is
    there, commented where no value could be found."""
    enforcement = (
        f"enforcement_date = {toml_string(found.enforcement_date.isoformat())}"
        if found.enforcement_date
        else '# enforcement_date = "YYYY-MM-DD"'
    )
    domains = (
        f"local_domains = {toml_list(found.local_domains)}"
        if found.local_domains
        else '# local_domains = ["example.org"]'
    )
    domains_note = (
        f"# Read from the local deliveries of {found.lines:,} log lines: check them."
        if found.local_domains
        else "# None seen delivered locally in the lines read: name them, or relaywatch reads\n"
        "# them from the logs' local deliveries at each run."
    )
    servers = "\n".join(
        f'[servers.{toml_string(name)}]\n# outbound_ip = "192.0.2.10"  # where its mail goes out\n'
        for name in found.servers
    )
    return f"""\
# relaywatch configuration, written by `relaywatch init` on {found.today.isoformat()}.
# Every key is explained in docs/configuration.md of relaywatch. Relative paths are relative
# to this file's folder. Check it, then: relaywatch ingest && relaywatch serve

# The mail logs (globs; rotated and compressed files are read too): {found.files} file(s) now.
logs = {toml_list(found.logs)}

# The customers (customer_id,name,domains,networks,contact_email): sessions are attributed to
# them by SASL login or network. Without customers there is no readiness and no call list.
customers = {toml_string(CUSTOMERS_NAME)}

# The day from which relaying needs SMTP AUTH (00:00 local time). Not set: every session
# counts as "before" it.
{enforcement}

# Time zone of log stamps that carry no offset: this machine's.
timezone = {toml_string(found.timezone)}

# Year of classic syslog stamps (no year in them): by default the year of each file.
# year = {found.today.year}

# Where `relaywatch ingest` keeps what it parsed (export, report and serve read it).
store = {toml_string(found.store)}

# What relaywatch writes (the store, export -o files, the mail spool) holds customers'
# logins and addresses: readable by its owner only. 0o640 lets the files' group read it.
# file_mode = 0o640

# The provider's own mail domains (customers' domains count too): mail to them is inbound.
{domains_note}
{domains}

# The provider's own sending addresses, judged for blacklist risk (DNSBLs, remote refusals).
# outbound_ips = ["192.0.2.10"]

# The servers seen in the logs{"" if found.servers else " (none in the lines read)"}; \
a server may have its own outbound address
# and its own enforcement date (enforcement_date = "YYYY-MM-DD").
{servers}
# DNSBLs asked about the own outbound IPs. Spamhaus refuses public resolvers: name your own.
# [dnsbl]
# zones = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"]
# nameservers = ["127.0.0.1"]

# The nightly report (`relaywatch report`): STARTTLS and AUTH; the password comes from
# $RELAYWATCH_SMTP_PASSWORD or password_file, never from this file.
# [mail]
# host = "smtp.example.org"
# port = 587
# username = "relaywatch@example.org"
# password_file = "/etc/relaywatch/smtp-password"
# from = "relaywatch@example.org"
# to = ["postmaster@example.org"]

# The dashboard (`relaywatch serve`): loopback only unless users are set or a proxy
# authenticates (`relaywatch hash-password NAME` prints a users line).
# [dashboard]
# url = "https://relaywatch.example.org/"
# [dashboard.users]
"""


def render_customers() -> str:
    """An empty customers file: the header and a commented example row."""
    header = ",".join(CUSTOMER_COLUMNS)
    return (
        f"{header}\n"
        "# One row per customer; domains and networks are ;-separated (CIDRs, IPv4 and IPv6).\n"
        "# Lines starting with # are ignored. Example:\n"
        "# c001,Example Dental LLC,example-dental.example;exdental.example,"
        "198.51.100.16/29;2001:db8:1::/48,office@example-dental.example\n"
    )
