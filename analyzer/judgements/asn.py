"""IP -> AS number and name: the lookup contract and its pyasn implementation (``PyasnLookup``,
``load_lookup``), the ASN database on disk (pyasn IPASN files, plain or .gz, and AS-name JSON)
and how one is built from an IPFire ``location dump`` or an MRT RIB dump (through pyasn's own
converter). The frame functions at the top are pure; the file and subprocess ones follow.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from analyzer.errors import ConfigError, InputError

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


class PyasnLookup:
    """An ``AsnLookup`` backed by pyasn (radix tree, in memory)."""

    def __init__(self, db_path: Path, names_path: Path | None = None) -> None:
        import pyasn

        text = _read_text(db_path, "ASN database")
        try:
            self._db = pyasn.pyasn(None, ipasn_string=text)
        except Exception as exc:  # pyasn raises bare ValueErrors/IndexErrors on bad lines
            raise ConfigError(f"ASN database {db_path} is not a pyasn IPASN file ({exc})") from None
        self._names = read_as_names(names_path) if names_path else {}

    def lookup(self, ips: Sequence[str]) -> pd.DataFrame:
        rows = []
        for text in ips:
            address = _normalise(text)
            asn, prefix = (None, None)
            if address is not None:
                try:
                    asn, prefix = self._db.lookup(address)
                except ValueError:
                    asn, prefix = (None, None)
            rows.append((text, asn, self._names.get(asn) if asn is not None else None, prefix))
        frame = pd.DataFrame(rows, columns=[IP, ASN, AS_NAME, PREFIX])
        frame[ASN] = frame[ASN].astype("Int64")
        return frame.astype({IP: "string", AS_NAME: "string", PREFIX: "string"})


def _normalise(text: str) -> str | None:
    """pyasn's sharp edges: stray whitespace, IPv4-mapped IPv6, junk."""
    try:
        address = ipaddress.ip_address(str(text).strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _read_text(path: Path, what: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read {what} {path}: {exc}") from None
    return data.decode("utf-8", errors="replace")


def read_as_names(path: Path) -> dict[int, str]:
    """AS names from JSON ({"13335": "CLOUDFLARENET", ...}, pyasn's format)."""
    try:
        raw = json.loads(_read_text(path, "AS names file"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"AS names file {path} is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"AS names file {path}: expected an object of ASN -> name")
    names = {}
    for key, value in raw.items():
        try:
            names[int(str(key).removeprefix("AS"))] = str(value)
        except ValueError:
            raise ConfigError(f"AS names file {path}: {key!r} is not an AS number") from None
    return names


def load_lookup(db_path: Path | None, names_path: Path | None) -> PyasnLookup | None:
    """The configured lookup, or None when no database is configured."""
    return PyasnLookup(db_path, names_path) if db_path is not None else None


def location_dump_lines(dump: Path | None, database: Path | None = None) -> Iterator[str]:
    """Lines of an IPFire location dump: from a file, or by running ``location dump``."""
    if dump is not None:
        yield from _read_text(dump, "location dump").splitlines()
        return
    tool = shutil.which("location")
    if tool is None:
        raise InputError(
            "`location` not found: apt-get install location libloc-database, "
            "or pass --location-dump FILE or --mrt FILE"
        )
    command = [tool, *(["--database", str(database)] if database else []), "dump"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise InputError(f"cannot run {tool}: {exc}") from None
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise InputError(f"location dump: {message}")
    yield from result.stdout.splitlines()


def mrt_prefixes(path: Path) -> pd.DataFrame:
    """Prefixes and origin ASNs of an MRT RIB dump (pyasn's converter, as pyasn_util_convert)."""
    from pyasn import mrtx

    try:
        with open(path, "rb") as probe:
            head = probe.read(3)
    except OSError as exc:
        raise InputError(f"cannot read MRT dump {path}: {exc.strerror or exc}") from None
    if not head.startswith((b"\x1f\x8b", b"BZh")):  # pyasn reads gzip or bzip2 archives only
        raise InputError(f"{path} is not an MRT dump (expected a RIB archive, .gz or .bz2)")
    try:
        found = mrtx.parse_mrt_file(str(path), print_progress=False, skip_record_on_error=True)
    except OSError as exc:
        raise InputError(f"cannot read MRT dump {path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - pyasn asserts and raises anything on non-MRT data
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise InputError(f"{path} is not an MRT dump ({detail})") from None
    rows = [(prefix, asn) for prefix, asn in found.items() if isinstance(asn, int)]
    return pd.DataFrame(rows, columns=[PREFIX, ASN])


def write_asn_db(
    out: Path, names_out: Path | None, prefixes: pd.DataFrame, names: dict[int, str], source: str
) -> tuple[int, int]:
    """Write the IPASN file (and AS names) atomically: write aside, then rename."""
    if prefixes.empty:
        raise InputError(f"{source}: no routed prefixes found")
    _atomic_write(out, ipasn_text(prefixes, source))
    if names_out is not None:
        _atomic_write(
            names_out,
            json.dumps({str(k): v for k, v in sorted(names.items())}, indent=0, ensure_ascii=False)
            + "\n",
        )
    return len(prefixes), len(names)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
