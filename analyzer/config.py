"""Settings: defaults, then the TOML file, then ``RELAYWATCH_*`` environment, then CLI flags.

The file is found by ``--config``, then ``$RELAYWATCH_CONFIG``, then ``./relaywatch.toml``;
with none of them, the bundled demo (``sample_logs/relaywatch.toml``) is used, so every
command works out of the box. Relative paths in a file are relative to that file's folder.
Unknown keys are errors: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEMO_CONFIG = PROJECT_DIR / "sample_logs" / "relaywatch.toml"
CONFIG_ENV = "RELAYWATCH_CONFIG"
DEFAULT_ENFORCEMENT = dt.date(2003, 11, 21)


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
    environment variable named by ``password_env``, never from the file."""

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


REJECT_KIND_KEYS = ("relay_denied", "unknown_user", "dnsbl", "policy")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a run needs.

    Attributes:
        config_path: the TOML file read, or None.
        logs: globs of log files (absolute, or relative to ``base_dir``).
        base_dir: folder that relative paths are resolved against.
        customers: the customers CSV (SPEC section 2), or None.
        asn_db: a pyasn IP-to-ASN file, or None.
        as_names: a JSON map of AS number to name, or None.
        enforcement_date: the day from which relay needs SMTP AUTH (00:00 local time).
        year: year of year-less syslog stamps (first line of each file); None = infer.
        timezone: IANA zone of stamps without an offset.
        store: folder where ``ingest`` keeps parsed data.
        outbound_ips: the provider's own sending addresses.
        local_domains: the provider's own mail domains (customers' domains are added).
        servers: per-server settings by syslog host name.
        reject_patterns: extra regexes (RE2) per reject kind for servers' own ACL texts
            (``[reject_patterns] relay_denied = ["..."]``); tried before the built-in ones.
        bounce_patterns: extra regexes per provider for remote refusals that blame our IP's
            reputation (``[bounce_patterns] mybank = ["..."]``); tried before the built-in ones.
        dnsbl, mail, dashboard, exim: their sections.
    """

    config_path: Path | None = None
    logs: tuple[str, ...] = ()
    base_dir: Path = Path(".")
    customers: Path | None = None
    asn_db: Path | None = None
    as_names: Path | None = None
    enforcement_date: dt.date = DEFAULT_ENFORCEMENT
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

    def server_outbound_ips(self) -> dict[str, str]:
        """``{server: outbound_ip}`` for the servers that name one."""
        return {name: cfg.outbound_ip for name, cfg in self.servers.items() if cfg.outbound_ip}

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
        if "year" in given:
            given["year"] = check_year(given["year"], "--year")
        for key in ("customers", "asn_db", "as_names", "store"):
            if key in given:
                given[key] = Path(given[key]).expanduser()
        return dataclasses.replace(self, **given)


def parse_date(value: Any, where: str) -> dt.date:
    """An ISO date (YYYY-MM-DD) or raise ConfigError naming ``where``."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a date (expected YYYY-MM-DD)") from None


def check_timezone(value: Any, where: str) -> str:
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {value!r} (e.g. America/New_York)") from None
    return str(value)


def check_year(value: Any, where: str) -> int:
    try:
        year = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a year") from None
    if not 1970 <= year <= 2100:
        raise ConfigError(f"{where}: year {year} is out of range 1970-2100")
    return year


def find_config(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path:
    """The config file to read (see module doc). Raises ConfigError if a named one is missing."""
    if path is not None:
        chosen, origin = Path(path).expanduser(), "--config"
    elif environ.get(CONFIG_ENV):
        chosen, origin = Path(environ[CONFIG_ENV]).expanduser(), f"${CONFIG_ENV}"
    elif Path("relaywatch.toml").is_file():
        return Path("relaywatch.toml").resolve()
    else:
        return DEMO_CONFIG
    if not chosen.is_file():
        raise ConfigError(f"config file not found: {chosen} (from {origin})")
    return chosen.resolve()


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
    "dnsbl",
    "mail",
    "dashboard",
    "exim",
    "reject_patterns",
    "bounce_patterns",
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
    },
    "dashboard": {"host", "port", "url", "users", "behind_proxy"},
    "server": {"outbound_ip", "enforcement_date", "logs"},
}


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read settings (defaults < TOML < environment). Raises ConfigError naming a bad key."""
    environ = os.environ if environ is None else environ
    config_path = find_config(path, environ)
    if not config_path.is_file():
        raise ConfigError(f"config file not found: {config_path}")
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {config_path}: {exc}") from None
    data = _apply_env(data, environ)
    return settings_from_mapping(data, config_path)


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """RELAYWATCH_<KEY> overrides top-level scalars, RELAYWATCH_<SECTION>_<KEY> section keys."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for key in ("customers", "asn_db", "as_names", "enforcement_date", "year", "timezone", "store"):
        value = environ.get(f"RELAYWATCH_{key.upper()}")
        if value:
            data[key] = value
    for section in ("mail", "dashboard"):
        for key in _SECTION_KEYS[section]:
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


def _ip(value: Any, where: str) -> str:
    """One IP address, written as Python normalises it (IPv6 lower case, compressed)."""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not an IP address") from None


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 60:
        raise ConfigError(f"{where}: expected seconds between 0 and 60, got {value!r}")
    return float(value)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(value)


def _check_keys(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
        )


def settings_from_mapping(data: Mapping[str, Any], config_path: Path | None) -> Settings:
    """Build Settings from a parsed TOML mapping, checking every key and value."""
    where = str(config_path) if config_path else "settings"
    _check_keys(data, _TOP_KEYS, where)
    base = config_path.parent if config_path else Path(".")

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
        _check_keys(raw, _SECTION_KEYS["server"], f"{where} [servers.{name}]")
        date = raw.get("enforcement_date")
        servers[name] = ServerConfig(
            outbound_ip=_ip(raw["outbound_ip"], f"servers.{name}.outbound_ip")
            if raw.get("outbound_ip")
            else None,
            enforcement_date=parse_date(date, f"servers.{name}.enforcement_date") if date else None,
            logs=_strings(raw.get("logs", []), f"servers.{name}.logs"),
        )
    sections = {}
    for section in ("dnsbl", "mail", "dashboard", "exim", "reject_patterns", "bounce_patterns"):
        raw = data.get(section, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        if section != "bounce_patterns":  # its keys are provider names of the user's choice
            _check_keys(raw, _SECTION_KEYS[section], f"{where} [{section}]")
        sections[section] = raw
    dnsbl = sections["dnsbl"]
    mail = sections["mail"]
    dashboard = sections["dashboard"]
    patterns = {
        kind: tuple(
            _check_regex(p, f"reject_patterns.{kind}")
            for p in _strings(value, f"reject_patterns.{kind}")
        )
        for kind, value in sections["reject_patterns"].items()
    }
    bounce_patterns = {
        provider: tuple(
            _check_regex(p, f"bounce_patterns.{provider}")
            for p in _strings(value, f"bounce_patterns.{provider}")
        )
        for provider, value in sections["bounce_patterns"].items()
    }
    try:
        year = data.get("year")
        return Settings(
            config_path=config_path,
            logs=_strings(data.get("logs", []), "logs"),
            base_dir=base,
            customers=path_of("customers"),
            asn_db=path_of("asn_db"),
            as_names=path_of("as_names"),
            enforcement_date=parse_date(
                data.get("enforcement_date", DEFAULT_ENFORCEMENT), "enforcement_date"
            ),
            year=check_year(year, "year") if year not in (None, "") else None,
            timezone=check_timezone(data.get("timezone", "UTC"), "timezone"),
            store=path_of("store"),
            outbound_ips=tuple(
                _ip(ip, "outbound_ips") for ip in _strings(data.get("outbound_ips", []), "x")
            ),
            local_domains=_strings(data.get("local_domains", []), "local_domains"),
            servers=servers,
            dnsbl=DnsblConfig(
                zones=_strings(dnsbl.get("zones", list(DnsblConfig().zones)), "dnsbl.zones"),
                nameservers=_strings(dnsbl.get("nameservers", []), "dnsbl.nameservers"),
                timeout=_seconds(dnsbl.get("timeout", DnsblConfig().timeout), "dnsbl.timeout"),
            ),
            mail=MailConfig(
                host=str(mail.get("host", MailConfig().host)),
                port=int(mail.get("port", MailConfig().port)),
                starttls=_boolean(mail.get("starttls", True), "mail.starttls"),
                username=mail.get("username"),
                password_env=str(mail.get("password_env", MailConfig().password_env)),
                password_file=relative(mail.get("password_file")),
                cafile=relative(mail.get("cafile")),
                timeout=float(mail.get("timeout", MailConfig().timeout)),
                retries=int(mail.get("retries", MailConfig().retries)),
                spool=relative(mail.get("spool")),
                from_addr=str(mail.get("from", MailConfig().from_addr)),
                to=_strings(mail.get("to", []), "mail.to"),
            ),
            dashboard=DashboardConfig(
                host=str(dashboard.get("host", DashboardConfig().host)),
                port=int(dashboard.get("port", DashboardConfig().port)),
                url=dashboard.get("url"),
                users=_password_hashes(dashboard.get("users", {})),
                behind_proxy=_boolean(
                    dashboard.get("behind_proxy", False), "dashboard.behind_proxy"
                ),
            ),
            exim=EximConfig(
                session_gap_seconds=int(sections["exim"].get("session_gap_seconds", 60)),
            ),
            reject_patterns=patterns,
            bounce_patterns=bounce_patterns,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{where}: {value!r} is not true or false")


def _check_regex(pattern: str, where: str) -> str:
    """A regex the log engine (RE2, through pyarrow) accepts, or ConfigError naming it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array([""]), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ConfigError(f"{where}: invalid regex {pattern!r} ({exc})") from None
    return pattern
