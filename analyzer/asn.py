"""IP -> AS number and name: the lookup contract, and the pyasn file format.

The database itself (a pyasn IPASN file) is read in ``analyzer.io.asn``; here are the pure
parts: what a lookup returns, and how an IPFire ``location dump`` becomes an IPASN file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

IP, ASN, AS_NAME, PREFIX = "ip", "asn", "as_name", "prefix"
HOW_TO_GET_ONE = (
    "no ASN database configured: ASN columns stay empty. Build one with "
    "`relaywatch asn-db build -o ipasn.dat` (from Debian's `location` package) and set "
    "asn_db / as_names in the config"
)


class AsnLookup(Protocol):
    """Anything that maps addresses to ASNs (pyasn in production, a CSV in tests)."""

    def lookup(self, ips: Sequence[str]) -> pd.DataFrame:
        """One row per distinct address: ``ip``, ``asn`` (Int64), ``as_name``, ``prefix``."""
        ...


def lookup_frame(ips: pd.Series, asn: AsnLookup | None) -> pd.DataFrame:
    """ASN rows for the distinct non-empty addresses of ``ips`` (empty without a database)."""
    distinct = sorted({str(ip) for ip in ips.dropna().unique()})
    if asn is None or not distinct:
        return pd.DataFrame(
            {
                IP: pd.Series(dtype="string"),
                ASN: pd.Series(dtype="Int64"),
                AS_NAME: pd.Series(dtype="string"),
                PREFIX: pd.Series(dtype="string"),
            }
        )
    return asn.lookup(distinct)


def location_dump_tables(lines: Iterable[str]) -> tuple[pd.DataFrame, dict[int, str]]:
    """Parse IPFire ``location dump`` output.

    Blocks separated by blank lines: ``aut-num: AS13335`` + ``name: ...`` name an AS;
    ``net: 1.0.0.0/24`` + ``aut-num: 13335`` (+ country, flags) route a network.
    Returns (``prefix``/``asn`` frame of routed networks, {asn: name}).
    """
    text = pd.Series(list(lines), dtype="string")
    block = np.cumsum((text.str.strip() == "").to_numpy(dtype=bool))
    fields = text.str.extract(r"^(?P<key>net|aut-num|name):\s+(?P<value>.*?)\s*$")
    fields["block"] = block
    fields = fields.dropna(subset=["key"])

    def column(key: str) -> pd.DataFrame:
        part = fields[(fields["key"] == key).to_numpy()]
        return part.drop_duplicates("block").set_index("block")["value"].rename(key).to_frame()

    nets, numbers, labels = column("net"), column("aut-num"), column("name")
    asn = pd.to_numeric(numbers["aut-num"].astype(str).str.removeprefix("AS"), errors="coerce")
    numbers = numbers.assign(asn=asn).dropna(subset=["asn"])
    routed = nets.join(numbers, how="inner")
    prefixes = pd.DataFrame(
        {
            PREFIX: routed["net"].astype(str).to_numpy(),
            ASN: routed["asn"].astype("int64").to_numpy(),
        }
    )
    named = numbers[~numbers.index.isin(nets.index)].join(labels, how="inner")
    names = {int(n): str(v) for n, v in zip(named["asn"], named["name"], strict=True)}
    return prefixes, names


def ipasn_text(prefixes: pd.DataFrame, source: str) -> str:
    """The pyasn IPASN file for ``prefix``/``asn`` rows (IPv4 first, then IPv6)."""
    v6 = prefixes[PREFIX].str.contains(":")
    ordered = pd.concat([prefixes[~v6], prefixes[v6]])
    header = (
        "; IP-ASN32-DAT file\n"
        f"; Original source: {source}\n"
        f"; Prefixes-v4   : {int((~v6).sum())}\n"
        f"; Prefixes-v6   : {int(v6.sum())}\n"
        ";\n"
    )
    body = (ordered[PREFIX] + "\t" + ordered[ASN].astype(str) + "\n").str.cat()
    return header + (body if isinstance(body, str) else "")
