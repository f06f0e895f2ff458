"""Customers: the customers CSV (``read_customers``), their networks and domains, and which
customer a session belongs to.

IP addresses are compared as 128-bit numbers held in two uint64 halves (IPv4 as
IPv4-mapped IPv6), so IPv4 and IPv6 networks share one vectorised comparison per network.
Addresses are converted once per distinct value, never once per line.
"""

from __future__ import annotations

import io
import ipaddress
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer import schema as s
from analyzer.errors import ConfigError, InputError

CUSTOMER_COLUMNS = ("customer_id", "name", "domains", "networks", "contact_email")
NETWORK = "network"
CUSTOMER_IP = "customer_ip"  # the client address lies in a customer's network
_MASK64 = (1 << 64) - 1


def split_list(value: str) -> list[str]:
    """ "a.example; b.example" -> ["a.example", "b.example"] (blank items dropped)."""
    return [item.strip() for item in str(value).split(";") if item.strip()]


def check_customers(customers: pd.DataFrame) -> pd.DataFrame:
    """Validate a customers table (docs/configuration.md) and normalise it.

    Raises ``ConfigError`` naming the customer and the bad value (duplicate id, bad CIDR).
    Returns the table with string columns, ids stripped, domains lower-cased.
    """
    missing = [c for c in CUSTOMER_COLUMNS if c not in customers.columns]
    if missing:
        raise ConfigError(
            f"customers file lacks column(s) {', '.join(missing)}; "
            f"expected header: {','.join(CUSTOMER_COLUMNS)}"
        )
    table = customers.fillna("").astype(str).apply(lambda col: col.str.strip())
    table["domains"] = table["domains"].str.lower()
    empty = table["customer_id"] == ""
    if empty.any():
        raise ConfigError(
            f"customers file row {int(np.flatnonzero(empty)[0]) + 2}: empty customer_id"
        )
    duplicated = table["customer_id"][table["customer_id"].duplicated()]
    if len(duplicated):
        raise ConfigError(f"customers file: customer_id {duplicated.iloc[0]!r} appears twice")
    customer_networks(table)  # raises on a bad CIDR
    return table.reset_index(drop=True)


def _split(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
    value = int(address) if address.version == 6 else (0xFFFF << 32) | int(address)
    return value >> 64, value & _MASK64


def customer_networks(customers: pd.DataFrame) -> pd.DataFrame:
    """One row per customer network: ``customer_id``, ``network`` and its address range as
    ``lo_hi``, ``lo_lo``, ``hi_hi``, ``hi_lo`` (uint64 halves) and ``prefix`` (bits, v6 scale)."""
    rows = []
    for customer_id, networks in zip(customers["customer_id"], customers["networks"], strict=True):
        for text in split_list(networks):
            try:
                network = ipaddress.ip_network(text, strict=False)
            except ValueError as exc:
                raise ConfigError(f"customer {customer_id}: bad network {text!r} ({exc})") from exc
            lo = _split(network.network_address)
            hi = _split(network.broadcast_address)
            prefix = network.prefixlen + (96 if network.version == 4 else 0)
            rows.append((customer_id, str(network), *lo, *hi, prefix))
    return pd.DataFrame(
        rows, columns=["customer_id", NETWORK, "lo_hi", "lo_lo", "hi_hi", "hi_lo", "prefix"]
    ).astype({"lo_hi": "uint64", "lo_lo": "uint64", "hi_hi": "uint64", "hi_lo": "uint64"})


def ip_halves(ips: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, hi, lo) arrays for IP strings; invalid or missing addresses are not valid."""
    codes, uniques = pd.factorize(ips)
    count = len(uniques)
    valid = np.zeros(count + 1, dtype=bool)
    hi = np.zeros(count + 1, dtype=np.uint64)
    lo = np.zeros(count + 1, dtype=np.uint64)
    for i, text in enumerate(uniques):
        try:
            address = ipaddress.ip_address(str(text).removeprefix("IPv6:"))
        except ValueError:
            continue
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        valid[i], (hi[i], lo[i]) = True, _split(address)
    return valid[codes], hi[codes], lo[codes]


def match_networks(ips: pd.Series, networks: pd.DataFrame) -> pd.Series:
    """The customer whose network holds each IP (most specific network wins), else null."""
    valid, hi, lo = ip_halves(ips)
    best = np.full(len(ips), -1, dtype=np.int64)
    best_prefix = np.full(len(ips), -1, dtype=np.int64)
    for i, net in enumerate(networks.itertuples(index=False)):
        above = (hi > net.lo_hi) | ((hi == net.lo_hi) & (lo >= net.lo_lo))
        below = (hi < net.hi_hi) | ((hi == net.hi_hi) & (lo <= net.hi_lo))
        inside = valid & above & below & (net.prefix > best_prefix)
        best[inside] = i
        best_prefix[inside] = net.prefix
    ids = np.append(networks["customer_id"].to_numpy(dtype=object), None)
    return pd.Series(ids[best], index=ips.index, dtype="string")


def customer_domains(customers: pd.DataFrame) -> pd.DataFrame:
    """One row per (domain, customer_id)."""
    pairs = [
        (domain, cid)
        for cid, domains in zip(customers["customer_id"], customers["domains"], strict=True)
        for domain in split_list(domains)
    ]
    return pd.DataFrame(pairs, columns=["domain", "customer_id"]).drop_duplicates("domain")


def local_domains(customers: pd.DataFrame, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """Domains the provider receives mail for: its own and every customer's."""
    return frozenset(customer_domains(customers)["domain"]) | {d.lower() for d in extra}


def attribute_customers(sessions: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Add ``customer_id`` and ``customer_ip`` to sessions.

    The SASL username decides first (equal to a customer id, or its domain part among a
    customer's domains); else the client address inside a customer's network.
    Requires: ``sasl_username``, ``client_ip``.
    """
    s.require_columns(sessions, (s.SASL_USERNAME, s.CLIENT_IP), "attribute_customers")
    by_ip = match_networks(sessions[s.CLIENT_IP], customer_networks(customers))
    user = sessions[s.SASL_USERNAME].astype("string")
    ids = set(customers["customer_id"])
    exact = user.where(user.isin(ids))
    domains = customer_domains(customers).set_index("domain")["customer_id"]
    # Arrow's extract: "string" (pandas' own storage) matches row by row in Python
    arrow_user = user.astype(pd.ArrowDtype(pa.large_string()))
    domain = arrow_user.str.extract(r"@(?P<domain>[^@]*)$")["domain"].str.lower()
    by_domain = domain.map(domains).astype("string")
    by_user = exact.fillna(by_domain)
    customer = by_user.fillna(by_ip)
    return sessions.assign(**{s.CUSTOMER_ID: customer, CUSTOMER_IP: by_ip.notna().to_numpy()})


# The customers CSV: customer_id,name,domains,networks,contact_email (a header line, one row
# per customer; lines starting with ``#`` are comments).


def empty_customers() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="string") for column in CUSTOMER_COLUMNS})


def read_customers(path: Path | None) -> pd.DataFrame:
    """Read and check the customers file; no file configured means no customers."""
    if path is None:
        return empty_customers()
    try:
        text = path.read_text(encoding="utf-8-sig")
        # Whole-line comments only: a '#' inside a name is data.
        rows = "".join(
            line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#")
        )
        table = pd.read_csv(
            io.StringIO(rows), dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except FileNotFoundError:
        raise InputError(f"customers file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"customers file {path} is a folder") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"cannot read customers file {path}: {exc}") from None
    try:
        return check_customers(table)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
