"""Settings: defaults, then the TOML file, then ``RELAYWATCH_*`` environment, then CLI flags.

The file is found by ``--config``, then ``$RELAYWATCH_CONFIG``, then ``./relaywatch.toml``.
With none of them, a command that names no logs runs on the bundled demo
(``sample_logs/relaywatch.toml``, the CLI says so on stderr), and logs named on the command
line get neutral defaults: this machine's time zone, the year of each file, no customers, no
enforcement date, local domains inferred from the logs. The demo's customers, zone and
domains never reach a user's own logs. Relative paths in a file are relative to that file's
folder. Unknown keys are errors: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.errors import ConfigError
from analyzer.settings.alerts import ALERT_KEYS, AlertsConfig, alerts_config
from analyzer.settings.values import (
    as_boolean,
    as_file_mode,
    as_ip,
    as_network,
    as_port,
    as_ratio,
    as_seconds,
    as_strings,
    check_keys,
    check_regex,
    check_timezone,
    check_year,
    parse_date,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEMO_CONFIG = PROJECT_DIR / "sample_logs" / "relaywatch.toml"
CONFIG_ENV = "RELAYWATCH_CONFIG"
# Where the settings came from (``Settings.origin``).
FROM_FILE, FROM_DEMO, FROM_DEFAULTS = "file", "demo", "defaults"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Per-server settings (``[servers.NAME]``).

    Attributes:
        outbound_ip: the address this server sends from.
        enforcement_date: overrides the global date for this server.
        logs: globs of files that belong to this server (for logs that name no host).
    """

    outbound_ip: str | None = None
    enforcement_date: dt.date | None = None
    logs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DnsblConfig:
    """``[dnsbl]``: zones to query for the own outbound IPs, and the resolvers to ask."""

    zones: tuple[str, ...] = ("zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org")
    nameservers: tuple[str, ...] = ()
    timeout: float = 3.0  # seconds per query; no answer in time is "unknown", not "listed"


@dataclass(frozen=True, slots=True)
class MailConfig:
    """``[mail]``: how the nightly summary is sent. The password is read from the
    environment variable named by ``password_env`` or from ``password_file``, never from
    the config file; ``allow_insecure_password_file`` accepts a password file other users
    may read or change, ``allow_plaintext_auth`` AUTH without STARTTLS to a server that is
    not on this machine's loopback (both refused by default)."""

    host: str = "localhost"
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password_env: str = "RELAYWATCH_SMTP_PASSWORD"
    password_file: Path | None = None
    cafile: Path | None = None  # a private CA for the server's certificate
    timeout: float = 30.0
    retries: int = 3
    spool: Path | None = None  # where unsent mail is kept (default: <store>/spool)
    from_addr: str = "relaywatch@localhost"
    to: tuple[str, ...] = ()
    allow_insecure_password_file: bool = False
    allow_plaintext_auth: bool = False


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """``[dashboard]``: where ``relaywatch serve`` listens and its public URL (for mails)."""

    host: str = "127.0.0.1"
    port: int = 8050
    url: str | None = None
    # {login: werkzeug password hash}: HTTP basic auth on every request when not empty
    users: Mapping[str, str] = field(default_factory=dict)
    behind_proxy: bool = False  # a reverse proxy authenticates; serving beyond loopback is OK


@dataclass(frozen=True, slots=True)
class EximConfig:
    """``[exim]``: how Exim logs without ``+pid +smtp_connection`` are cut into sessions.

    Attributes:
        session_gap_seconds: rejects and AUTH failures of one client closer than this form
            one attempt (one session).
    """

    session_gap_seconds: int = 60


@dataclass(frozen=True, slots=True)
class BlocklistConfig:
    """``[blocklist]``: what ``export blocklist`` never lists, besides customers' networks,
    own addresses, loopback, link-local and multicast.

    Attributes:
        never: CIDRs or addresses never to block (monitoring, load balancers, partners).
        private: also block RFC 1918 / ULA sources (off: they are the provider's own hosts).
        probes_per_message: a source that delivered accepted mail is blocked only when its
            spam-probe sessions reach this many times its accepted messages (a mailer's
            few typos and dropped connections do not).
    """

    never: tuple[str, ...] = ()
    private: bool = False
    probes_per_message: float = 1.0


REJECT_KIND_KEYS = ("relay_denied", "unknown_user", "dnsbl", "content", "policy")


@dataclass(frozen=True, slots=True)
class LineRule:
    """``[[rules]]``: a log line shape of the user's own servers, matched before the built-in
    rules of its daemons (checked and built by ``analyzer.reading.patterns.configured_rules``).

    Attributes:
        name: unique; shown by ``patterns check`` as ``config_<name>``.
        daemons: the daemons whose lines it is tried on ("smtpd", "cleanup", "exim", ...).
        event: what a matching line is ("reject", "sasl_fail", "lost", "protocol", ...).
        regex: RE2, anchored ``^...$``, on the message after the syslog header; named groups
            are event fields (``client_ip``, ``reply``, ...).
        example: a message it must match.
    """

    name: str
    daemons: tuple[str, ...]
    event: str
    regex: str
    example: str


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a run needs.

    Attributes:
        config_path: the TOML file read, or None.
        origin: ``file`` (read from ``config_path``), ``demo`` (no config found and no logs
            named: the bundled demo) or ``defaults`` (no config found: neutral defaults for
            the logs named on the command line).
        timezone_inferred: ``timezone`` was not configured: this machine's zone is used.
        logs: globs of log files (absolute, or relative to ``base_dir``).
        base_dir: folder that relative paths are resolved against.
        customers: the customers CSV (docs/configuration.md), or None.
        asn_db: a pyasn IP-to-ASN file, or None.
        as_names: a JSON map of AS number to name, or None.
        enforcement_date: the day from which relay needs SMTP AUTH (00:00 local time); None:
            not set, every session counts as ``before``.
        year: year of year-less syslog stamps (first line of each file); None = infer.
        timezone: IANA zone of stamps without an offset (default: this machine's zone).
        store: folder where ``ingest`` keeps parsed data.
        outbound_ips: the provider's own sending addresses.
        local_domains: the provider's own mail domains (customers' domains are added); when
            empty, the domains the logs show delivered locally are used.
        servers: per-server settings by syslog host name.
        reject_patterns: extra regexes (RE2) per reject kind for servers' own ACL texts
            (``[reject_patterns] relay_denied = ["..."]``); tried before the built-in ones.
        bounce_patterns: extra regexes per provider for remote refusals that blame our IP's
            reputation (``[bounce_patterns] mybank = ["..."]``); tried before the built-in ones.
        rules: the user's own line shapes (``[[rules]]``), tried before the built-in rules.
        file_mode: permission bits of what relaywatch writes (the store, ``export -o``
            files, the mail spool and ``--eml`` files; folders get search bits where read
            bits are): owner only by default, ``0o640`` for a group of readers.
        dnsbl, mail, dashboard, exim, blocklist, alerts: their sections.
    """

    config_path: Path | None = None
    origin: str = FROM_FILE
    timezone_inferred: bool = False
    logs: tuple[str, ...] = ()
    base_dir: Path = Path(".")
    customers: Path | None = None
    asn_db: Path | None = None
    as_names: Path | None = None
    enforcement_date: dt.date | None = None
    year: int | None = None
    timezone: str = "UTC"
    store: Path | None = None
    outbound_ips: tuple[str, ...] = ()
    local_domains: tuple[str, ...] = ()
    servers: Mapping[str, ServerConfig] = field(default_factory=dict)
    dnsbl: DnsblConfig = DnsblConfig()
    mail: MailConfig = MailConfig()
    dashboard: DashboardConfig = DashboardConfig()
    exim: EximConfig = EximConfig()
    reject_patterns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    bounce_patterns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[LineRule, ...] = ()
    blocklist: BlocklistConfig = BlocklistConfig()
    alerts: AlertsConfig = AlertsConfig()
    file_mode: int = 0o600

    def server_outbound_ips(self) -> dict[str, str]:
        """``{server: outbound_ip}`` for the servers that name one."""
        return {name: cfg.outbound_ip for name, cfg in self.servers.items() if cfg.outbound_ip}

    def spool_folder(self) -> Path:
        """Where a mail that could not be sent is kept: ``[mail] spool``, else the store's
        ``spool`` (``./spool`` without a store)."""
        return self.mail.spool or (self.store or Path(".")) / "spool"

    def own_outbound_ips(self) -> tuple[str, ...]:
        """The provider's sending addresses: ``outbound_ips`` and each server's ``outbound_ip``."""
        per_server = [cfg.outbound_ip for cfg in self.servers.values() if cfg.outbound_ip]
        return tuple(dict.fromkeys([*self.outbound_ips, *per_server]))

    def server_log_globs(self) -> dict[str, tuple[str, ...]]:
        """Per server, the globs of its log files (for Exim logs, which name no host)."""
        return {name: cfg.logs for name, cfg in self.servers.items() if cfg.logs}

    def server_enforcement(self) -> dict[str, dt.date]:
        """Per-server enforcement dates that override the global one."""
        return {
            name: cfg.enforcement_date
            for name, cfg in self.servers.items()
            if cfg.enforcement_date is not None
        }

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with CLI flags applied (None means: flag not given)."""
        given = {k: v for k, v in changes.items() if v is not None and v != ()}
        if "enforcement_date" in given:
            given["enforcement_date"] = parse_date(given["enforcement_date"], "--enforcement")
        if "timezone" in given:
            given["timezone"] = check_timezone(given["timezone"], "--timezone")
            given["timezone_inferred"] = False
        if "year" in given:
            given["year"] = check_year(given["year"], "--year")
        for key in ("customers", "asn_db", "as_names", "store"):
            if key in given:
                given[key] = Path(given[key]).expanduser()
        return dataclasses.replace(self, **given)


def machine_timezone(environ: Mapping[str, str], etc: Path = Path("/etc")) -> str:
    """This machine's IANA time zone (what syslog writes its stamps in): ``$TZ``, then
    Debian's ``/etc/timezone``, then the ``/etc/localtime`` link; UTC when none names one."""
    candidates = [environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append((etc / "timezone").read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        pass
    try:
        target = os.readlink(etc / "localtime")
        candidates.append(target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "")
    except OSError:
        pass
    for name in candidates:
        if name and not name.startswith("/"):
            try:
                zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
            return name
    return "UTC"


def find_config(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    """The config file to read (see module doc), or None when there is none.
    Raises ConfigError if a named one is missing."""
    if path is not None:
        chosen, origin = Path(path).expanduser(), "--config"
    elif environ.get(CONFIG_ENV):
        chosen, origin = Path(environ[CONFIG_ENV]).expanduser(), f"${CONFIG_ENV}"
    elif Path("relaywatch.toml").is_file():
        return Path("relaywatch.toml").resolve()
    else:
        return None
    if not chosen.is_file():
        raise ConfigError(f"config file not found: {chosen} (from {origin})")
    return chosen.resolve()


# The top-level tables of plain keys (``[servers.NAME]`` and ``[[rules]]`` are read apart).
TABLE_SECTIONS = (
    "dnsbl",
    "mail",
    "dashboard",
    "exim",
    "reject_patterns",
    "bounce_patterns",
    "blocklist",
    "alerts",
)
_TOP_KEYS = {
    "logs",
    "customers",
    "asn_db",
    "as_names",
    "enforcement_date",
    "year",
    "timezone",
    "store",
    "outbound_ips",
    "local_domains",
    "servers",
    "rules",
    "file_mode",
    *TABLE_SECTIONS,
}
_SECTION_KEYS = {
    "exim": {"session_gap_seconds"},
    "reject_patterns": set(REJECT_KIND_KEYS),
    "dnsbl": {"zones", "nameservers", "timeout"},
    "mail": {
        "host",
        "port",
        "starttls",
        "username",
        "password_env",
        "password_file",
        "cafile",
        "timeout",
        "retries",
        "spool",
        "from",
        "to",
        "allow_insecure_password_file",
        "allow_plaintext_auth",
    },
    "dashboard": {"host", "port", "url", "users", "behind_proxy"},
    "server": {"outbound_ip", "enforcement_date", "logs"},
    "rules": {"name", "daemons", "event", "regex", "example"},
    "blocklist": {"never", "private", "probes_per_message"},
    "alerts": ALERT_KEYS,
}


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    logs_named: bool = False,
) -> Settings:
    """Read settings (defaults < TOML < environment). Raises ConfigError naming a bad key.

    ``logs_named``: the command names its own logs or store, so with no config file it gets
    neutral defaults instead of the bundled demo (see the module doc); so does a store named
    by $RELAYWATCH_STORE (the demo's settings must never judge a user's store).
    """
    environ = os.environ if environ is None else environ
    config_path = find_config(path, environ)
    if config_path is None and (logs_named or environ.get("RELAYWATCH_STORE")):
        return settings_from_mapping(_apply_env({}, environ), None, environ, FROM_DEFAULTS)
    origin = FROM_FILE
    if config_path is None:
        if not DEMO_CONFIG.is_file():
            raise ConfigError(
                "no config found (--config, $RELAYWATCH_CONFIG, ./relaywatch.toml) and the "
                "bundled demo is not installed: run `relaywatch init` or name LOG files"
            )
        config_path, origin = DEMO_CONFIG, FROM_DEMO
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {config_path}: {exc}") from None
    data = _apply_env(data, environ)
    return settings_from_mapping(data, config_path, environ, origin)


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """RELAYWATCH_<KEY> overrides top-level scalars, RELAYWATCH_<SECTION>_<KEY> section keys."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for key in ("customers", "asn_db", "as_names", "enforcement_date", "year", "timezone", "store"):
        value = environ.get(f"RELAYWATCH_{key.upper()}")
        if value:
            data[key] = value
    for section in ("mail", "dashboard"):
        for key in _SECTION_KEYS[section] - {"users"}:  # a table: the file's, never a variable
            value = environ.get(f"RELAYWATCH_{section.upper()}_{key.upper()}")
            if value:
                data.setdefault(section, {})[key] = value
    return data


PASSWORD_HASH_METHODS = ("scrypt:", "pbkdf2:")


def _password_hashes(value: Any) -> dict[str, str]:
    """``[dashboard.users]``: login = hash. A plain password is refused without echoing it."""
    if not isinstance(value, dict):
        raise ConfigError("dashboard.users: expected a table of login = password hash")
    for login, hashed in value.items():
        if not (
            isinstance(hashed, str) and hashed.startswith(PASSWORD_HASH_METHODS) and "$" in hashed
        ):
            raise ConfigError(
                f"dashboard.users.{login}: not a password hash (the value is not shown); "
                f"make one with `relaywatch hash-password {login}`"
            )
    return {str(login): str(hashed) for login, hashed in value.items()}


def settings_from_mapping(
    data: Mapping[str, Any],
    config_path: Path | None,
    environ: Mapping[str, str] | None = None,
    origin: str = FROM_FILE,
) -> Settings:
    """Build Settings from a parsed TOML mapping, checking every key and value. A missing
    ``timezone`` is this machine's (read from ``environ`` and /etc)."""
    where = str(config_path) if config_path else "settings"
    check_keys(data, _TOP_KEYS, where)
    base = config_path.parent if config_path else Path(".")
    zone = data.get("timezone")
    zone_inferred = zone in (None, "")
    if zone_inferred:
        zone = machine_timezone(os.environ if environ is None else environ)

    def relative(value: Any) -> Path | None:
        if value in (None, ""):
            return None
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else base / path

    def path_of(key: str) -> Path | None:
        return relative(data.get(key))

    servers = {}
    raw_servers = data.get("servers", {})
    if not isinstance(raw_servers, dict):
        raise ConfigError(f"{where}: [servers] must be a table of tables")
    for name, raw in raw_servers.items():
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: [servers.{name}] must be a table")
        check_keys(raw, _SECTION_KEYS["server"], f"{where} [servers.{name}]")
        date = raw.get("enforcement_date")
        servers[name] = ServerConfig(
            outbound_ip=as_ip(raw["outbound_ip"], f"servers.{name}.outbound_ip")
            if raw.get("outbound_ip")
            else None,
            enforcement_date=parse_date(date, f"servers.{name}.enforcement_date") if date else None,
            logs=as_strings(raw.get("logs", []), f"servers.{name}.logs"),
        )
    sections = {}
    for section in TABLE_SECTIONS:
        raw = data.get(section, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        if section != "bounce_patterns":  # its keys are provider names of the user's choice
            check_keys(raw, _SECTION_KEYS[section], f"{where} [{section}]")
        sections[section] = raw
    dnsbl = sections["dnsbl"]
    mail = sections["mail"]
    dashboard = sections["dashboard"]
    patterns = {
        kind: tuple(
            check_regex(p, f"reject_patterns.{kind}")
            for p in as_strings(value, f"reject_patterns.{kind}")
        )
        for kind, value in sections["reject_patterns"].items()
    }
    bounce_patterns = {
        provider: tuple(
            check_regex(p, f"bounce_patterns.{provider}")
            for p in as_strings(value, f"bounce_patterns.{provider}")
        )
        for provider, value in sections["bounce_patterns"].items()
    }
    rules = _line_rules(data.get("rules", []), where)
    try:
        year = data.get("year")
        enforcement = data.get("enforcement_date")
        return Settings(
            config_path=config_path,
            origin=origin,
            timezone_inferred=zone_inferred,
            logs=as_strings(data.get("logs", []), "logs"),
            base_dir=base,
            customers=path_of("customers"),
            asn_db=path_of("asn_db"),
            as_names=path_of("as_names"),
            enforcement_date=parse_date(enforcement, "enforcement_date")
            if enforcement not in (None, "")
            else None,
            year=check_year(year, "year") if year not in (None, "") else None,
            timezone=check_timezone(zone, "timezone"),
            store=path_of("store"),
            outbound_ips=tuple(
                as_ip(ip, "outbound_ips") for ip in as_strings(data.get("outbound_ips", []), "x")
            ),
            local_domains=as_strings(data.get("local_domains", []), "local_domains"),
            servers=servers,
            dnsbl=DnsblConfig(
                zones=as_strings(dnsbl.get("zones", list(DnsblConfig().zones)), "dnsbl.zones"),
                nameservers=as_strings(dnsbl.get("nameservers", []), "dnsbl.nameservers"),
                timeout=as_seconds(dnsbl.get("timeout", DnsblConfig().timeout), "dnsbl.timeout"),
            ),
            mail=MailConfig(
                host=str(mail.get("host", MailConfig().host)),
                port=as_port(mail.get("port", MailConfig().port), "mail.port"),
                starttls=as_boolean(mail.get("starttls", True), "mail.starttls"),
                username=mail.get("username"),
                password_env=str(mail.get("password_env", MailConfig().password_env)),
                password_file=relative(mail.get("password_file")),
                cafile=relative(mail.get("cafile")),
                timeout=float(mail.get("timeout", MailConfig().timeout)),
                retries=int(mail.get("retries", MailConfig().retries)),
                spool=relative(mail.get("spool")),
                from_addr=str(mail.get("from", MailConfig().from_addr)),
                to=as_strings(mail.get("to", []), "mail.to"),
                allow_insecure_password_file=as_boolean(
                    mail.get("allow_insecure_password_file", False),
                    "mail.allow_insecure_password_file",
                ),
                allow_plaintext_auth=as_boolean(
                    mail.get("allow_plaintext_auth", False), "mail.allow_plaintext_auth"
                ),
            ),
            dashboard=DashboardConfig(
                host=str(dashboard.get("host", DashboardConfig().host)),
                port=as_port(dashboard.get("port", DashboardConfig().port), "dashboard.port"),
                url=dashboard.get("url"),
                users=_password_hashes(dashboard.get("users", {})),
                behind_proxy=as_boolean(
                    dashboard.get("behind_proxy", False), "dashboard.behind_proxy"
                ),
            ),
            exim=EximConfig(
                session_gap_seconds=int(sections["exim"].get("session_gap_seconds", 60)),
            ),
            reject_patterns=patterns,
            bounce_patterns=bounce_patterns,
            rules=rules,
            file_mode=as_file_mode(data.get("file_mode", 0o600), "file_mode"),
            alerts=alerts_config(sections["alerts"]),
            blocklist=BlocklistConfig(
                never=tuple(
                    as_network(n, "blocklist.never")
                    for n in as_strings(sections["blocklist"].get("never", []), "blocklist.never")
                ),
                private=as_boolean(
                    sections["blocklist"].get("private", False), "blocklist.private"
                ),
                probes_per_message=as_ratio(
                    sections["blocklist"].get("probes_per_message", 1.0),
                    "blocklist.probes_per_message",
                ),
            ),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _line_rules(value: Any, where: str) -> tuple[LineRule, ...]:
    """``[[rules]]``: every key present and of its type, names unique, the regex valid RE2."""
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise ConfigError(f"{where}: rules must be an array of tables ([[rules]])")
    rules = []
    for index, raw in enumerate(value):
        label = f"rules.{raw.get('name', index)}"
        check_keys(raw, _SECTION_KEYS["rules"], f"{where} [[rules]] {label}")
        missing = sorted(_SECTION_KEYS["rules"] - set(raw))
        if missing:
            raise ConfigError(f"{where}: {label}: missing key {missing[0]!r}")
        for key in ("name", "event", "regex", "example"):
            if not isinstance(raw[key], str) or not raw[key]:
                raise ConfigError(f"{where}: {label}.{key}: expected a string")
        rules.append(
            LineRule(
                name=raw["name"],
                daemons=as_strings(raw["daemons"], f"{label}.daemons"),
                event=raw["event"],
                regex=check_regex(raw["regex"], f"{label}.regex"),
                example=raw["example"],
            )
        )
    names = [r.name for r in rules]
    if len(set(names)) < len(names):
        raise ConfigError(f"{where}: two [[rules]] have the same name")
    return tuple(rules)
