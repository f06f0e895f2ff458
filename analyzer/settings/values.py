"""Checks of single config values: each returns the value normalised or raises ConfigError
naming where it was found (the key, the flag or the environment variable)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import zoneinfo
from collections.abc import Mapping
from typing import Any

from analyzer.errors import ConfigError


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


def as_ip(value: Any, where: str) -> str:
    """One IP address, written as Python normalises it (IPv6 lower case, compressed)."""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not an IP address") from None


def as_port(value: Any, where: str) -> int:
    if isinstance(value, bool) or not str(value).strip().isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"{where}: {value!r} is not a port (1-65535)")
    return int(value)


def as_network(value: Any, where: str) -> str:
    """A CIDR (or one address), written as Python normalises it."""
    try:
        return str(ipaddress.ip_network(str(value).strip(), strict=False))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a CIDR or an IP address") from None


def as_seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 60:
        raise ConfigError(f"{where}: expected seconds between 0 and 60, got {value!r}")
    return float(value)


def as_strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(value)


def check_keys(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
        )


def as_boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{where}: {value!r} is not true or false")


def check_regex(pattern: str, where: str) -> str:
    """A regex the log engine (RE2, through pyarrow) accepts, or ConfigError naming it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array([""]), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ConfigError(f"{where}: invalid regex {pattern!r} ({exc})") from None
    return pattern


def as_ratio(value: Any, where: str) -> float:
    """A non-negative number (a ratio, a factor, a share)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigError(f"{where}: expected a number >= 0, got {value!r}")
    return float(value)


def as_number(value: Any, where: str, low: float, high: float, whole: bool = False) -> float:
    """A number in [low, high] (``whole``: an integer): one clear line otherwise."""
    kind = "an integer" if whole else "a number"
    wrong = isinstance(value, bool) or not isinstance(value, int if whole else int | float)
    if wrong or not low <= value <= high:
        raise ConfigError(f"{where}: expected {kind} from {low:g} to {high:g}, got {value!r}")
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, ``[IPv6]`` or ``localhost``) is this machine's loopback;
    any other host name may resolve to anything, so it is not."""
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return (ip.ipv4_mapped or ip).is_loopback if ip.version == 6 else ip.is_loopback


def as_file_mode(value: Any, where: str) -> int:
    """The permission bits of the files relaywatch writes: an octal TOML integer (``0o640``)
    or string (``"0640"``), read and write for the owner at least, never executable, never
    writable by every user."""
    if isinstance(value, str):
        try:
            value = int(value.strip().removeprefix("0o"), 8)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not an octal mode such as 0o640") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value & ~0o666:
        shown = f"{value} ({value:#o})" if type(value) is int else repr(value)
        raise ConfigError(
            f"{where}: {shown} is not a file mode of read and write bits (write it in "
            "octal: 0o600, 0o640)"
        )
    if value & 0o600 != 0o600:
        raise ConfigError(f"{where}: {value:#o} must let the owner read and write")
    if value & 0o002:
        raise ConfigError(f"{where}: {value:#o} would let every local user change the files")
    return value
