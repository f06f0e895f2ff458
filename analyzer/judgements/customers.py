"""Customers: the customers CSV (``read_customers``), their networks and domains, and which
customer a session belongs to.

IP addresses are compared as 128-bit numbers held in two uint64 halves (IPv4 as
IPv4-mapped IPv6), so IPv4 and IPv6 networks share one vectorised comparison per network.
Addresses are converted once per distinct value, never once per line.
"""

from __future__ import annotations

import functools
import io
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
    """(valid, hi, lo) arrays for IP strings; invalid or missing addresses are not valid.
    Each distinct address is read once: dotted quads in Arrow, the rest by ``ipaddress``."""
    codes, uniques = pd.factorize(ips)
    valid, hi, lo = _distinct_halves(uniques)
    return valid[codes], hi[codes], lo[codes]


def _distinct_halves(uniques) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ip_halves`` of distinct addresses, and last of a missing one (``factorize``'s -1)."""
    count = len(uniques)
    valid = np.zeros(count + 1, dtype=bool)
    hi = np.zeros(count + 1, dtype=np.uint64)
    lo = np.zeros(count + 1, dtype=np.uint64)
    dotted, value = _dotted_quads(uniques)
    valid[:count], lo[:count] = dotted, np.where(dotted, (0xFFFF << 32) | value, 0)  # ``_split``
    for i in np.flatnonzero(~dotted):
        try:
            address = ipaddress.ip_address(str(uniques[i]).removeprefix("IPv6:"))
        except ValueError:
            continue
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        valid[i], (hi[i], lo[i]) = True, _split(address)
    return valid, hi, lo


# What ``ipaddress`` takes as an IPv4 address: four decimal octets up to 255, no leading zero.
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
DOTTED_QUAD = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"


def _dotted_quads(texts) -> tuple[np.ndarray, np.ndarray]:
    """Which ``texts`` are IPv4 addresses in dotted-quad form, and their value (0 elsewhere):
    the addresses of nearly every session, read without a Python call each."""
    text = pa.array(texts, type=pa.large_string(), from_pandas=True)
    dotted = pc.fill_null(pc.match_substring_regex(text, DOTTED_QUAD), False)
    dotted = dotted.to_numpy(zero_copy_only=False)
    value = np.zeros(len(text), dtype=np.uint64)
    if dotted.any():
        octets = pc.list_flatten(pc.split_pattern(text.filter(pa.array(dotted)), "."))
        octets = pc.cast(octets, pa.uint64()).to_numpy().reshape(-1, 4)
        value[dotted] = octets @ np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.uint64)
    return dotted, value


def match_networks(ips: pd.Series, networks: pd.DataFrame) -> pd.Series:
    """The customer whose network holds each IP (most specific network wins, then the one
    listed first), else null."""
    return network_index(networks).match(ips)


@dataclass(frozen=True)
class NetworkIndex:
    """Customer networks as disjoint address ranges, each owned by the most specific network
    that holds it (CIDR blocks are nested or apart): an address is looked up with one binary
    search, however many networks there are (a pass per network took 0.2 s a chunk with 5,000
    customers)."""

    starts: np.ndarray  # each range's first address, 16 big-endian bytes, ascending
    owners: np.ndarray  # the customer id of each range (None: no network there)

    def match(self, ips: pd.Series) -> pd.Series:
        codes, uniques = pd.factorize(ips)
        valid, hi, lo = _distinct_halves(uniques)  # the last: a missing address, not valid
        found = np.full(len(valid), None, dtype=object)
        if len(self.starts) and valid.any():
            keys = _address_keys(hi[valid], lo[valid])
            at = np.searchsorted(self.starts, keys, side="right") - 1
            found[np.flatnonzero(valid)] = np.where(at >= 0, self.owners[np.maximum(at, 0)], None)
        return pd.Series(found[codes], index=ips.index, dtype="string")


def _address_keys(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """128-bit addresses as 16 big-endian bytes: compared as bytes, ordered as numbers."""
    pairs = np.empty((len(hi), 2), dtype=">u8")
    pairs[:, 0], pairs[:, 1] = hi, lo
    return pairs.view("S16").ravel()


def network_index(networks: pd.DataFrame) -> NetworkIndex:
    """The ``NetworkIndex`` of ``customer_networks``' rows."""
    first = _addresses(networks["lo_hi"], networks["lo_lo"])
    last = _addresses(networks["hi_hi"], networks["hi_lo"])
    # range bounds: where a network begins, and after it ends (unless at the very end)
    bounds = sorted({*first, *(end + 1 for end in last if end < _TOP)})
    where = {bound: i for i, bound in enumerate(bounds)}
    owner = np.full(len(bounds), -1, dtype=np.int64)
    # outer networks first, then inner ones over them; of the same network listed twice,
    # the first is painted last and wins
    order = sorted(range(len(first)), key=lambda i: (networks["prefix"].iat[i], -i))
    for i in order:
        end = where[last[i] + 1] if last[i] < _TOP else len(bounds)
        owner[where[first[i]] : end] = i
    ids = np.append(networks["customer_id"].to_numpy(dtype=object), None)
    starts = _address_keys(
        np.array([b >> 64 for b in bounds], dtype=np.uint64),
        np.array([b & _MASK64 for b in bounds], dtype=np.uint64),
    )
    return NetworkIndex(starts, ids[owner])


_TOP = (1 << 128) - 1  # the last address


def _addresses(high: pd.Series, low: pd.Series) -> list[int]:
    return [(int(h) << 64) | int(w) for h, w in zip(high, low, strict=True)]


class _Attribution(NamedTuple):
    networks: NetworkIndex
    ids: pa.Array  # the customer ids, for Arrow's is_in (pandas' isin of a set: 70x slower)
    domains: dict[str, str]  # domain -> customer id


@functools.lru_cache(maxsize=4)
def _attribution(ids: tuple, networks: tuple, domains: tuple) -> _Attribution:
    """What attributing reads of a customers file, made once per file (``attribute_customers``
    runs on every chunk: with 5,000 customers this took 0.3 s a chunk)."""
    table = pd.DataFrame(
        {"customer_id": list(ids), "networks": list(networks), "domains": list(domains)}
    )
    pairs = customer_domains(table)
    return _Attribution(
        network_index(customer_networks(table)),
        pa.array(sorted(set(ids)), pa.large_string()),
        dict(zip(pairs["domain"], pairs["customer_id"], strict=True)),
    )


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
    columns = ("customer_id", "networks", "domains")
    known = _attribution(*(tuple(customers[c].to_numpy(dtype=object)) for c in columns))
    by_ip = known.networks.match(sessions[s.CLIENT_IP])
    user = sessions[s.SASL_USERNAME].astype("string")
    # Arrow's extract: "string" (pandas' own storage) matches row by row in Python
    arrow_user = user.astype(pd.ArrowDtype(pa.large_string()))
    is_id = pc.fill_null(pc.is_in(pa.array(arrow_user.array), value_set=known.ids), False)
    exact = user.where(is_id.to_numpy(zero_copy_only=False))
    domain = arrow_user.str.extract(r"@(?P<domain>[^@]*)$")["domain"].str.lower()
    by_domain = domain.map(known.domains).astype("string")
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
