"""The ASN database: building one from a location dump, loading pyasn files, sharp edges."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.errors import ConfigError
from analyzer.judgements.asn import PyasnLookup, location_dump_tables
from tests.conftest import SAMPLES

# What `location dump` (Debian package location, IPFire database) prints, in miniature.
DUMP = """\
#
# Location Database Export
#

aut-num:                 AS64500
name:                    EXAMPLE-BROADBAND

aut-num:                 AS13335
name:                    CLOUDFLARENET

net:                     100.64.0.0/10
country:                 US

net:                     100.64.3.0/24
country:                 US
aut-num:                 64500

net:                     1.1.1.0/24
country:                 AU
aut-num:                 13335
is-anycast:              yes

net:                     2001:db8:bad::/48
aut-num:                 64500
"""


def test_location_dump_tables():
    prefixes, names = location_dump_tables(DUMP.splitlines())
    assert prefixes.values.tolist() == [
        ["100.64.3.0/24", 64500],
        ["1.1.1.0/24", 13335],
        ["2001:db8:bad::/48", 64500],
    ]
    assert names == {64500: "EXAMPLE-BROADBAND", 13335: "CLOUDFLARENET"}


def test_asn_db_build_from_a_location_dump_and_look_up(tmp_path: Path):
    dump = tmp_path / "dump.txt"
    dump.write_text(DUMP)
    out, names = tmp_path / "ipasn.dat", tmp_path / "asnames.json"
    result = CliRunner().invoke(
        cli,
        ["asn-db", "build", "--location-dump", str(dump), "-o", str(out), "--names", str(names)],
    )
    assert result.exit_code == 0, result.output
    assert "3 prefixes and 2 AS names" in result.stderr
    lookup = PyasnLookup(out, names)
    found = lookup.lookup(
        [
            "100.64.3.7",
            " 1.1.1.1 ",
            "::ffff:100.64.3.7",
            "2001:db8:bad::9",
            "100.65.0.1",
            "not an ip",
        ]
    )
    assert found["asn"].tolist() == [64500, 13335, 64500, 64500, pd.NA, pd.NA]
    assert found["as_name"].tolist()[:2] == ["EXAMPLE-BROADBAND", "CLOUDFLARENET"]
    assert found["prefix"].tolist()[0] == "100.64.3.0/24"


def test_gzipped_database_loads(tmp_path: Path):
    packed = tmp_path / "ipasn.dat.gz"
    packed.write_bytes(gzip.compress((SAMPLES / "ipasn.dat").read_bytes()))
    found = PyasnLookup(packed).lookup(["192.0.2.10"])
    assert found["asn"].notna().all()


def test_a_malformed_database_is_one_clear_error(tmp_path: Path):
    bad = tmp_path / "ipasn.dat"
    bad.write_text("this is not\tan ipasn file\n1.2.3.0/24 notanumber\n")
    with pytest.raises(ConfigError, match="is not a pyasn IPASN file"):
        PyasnLookup(bad)


def test_bad_as_names(tmp_path: Path):
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"AS64500": "X", "sixty": "Y"}))
    with pytest.raises(ConfigError, match="'sixty' is not an AS number"):
        PyasnLookup(SAMPLES / "ipasn.dat", names)


def test_without_a_database_asn_columns_are_empty_and_a_note_says_how(tmp_path: Path):
    config = tmp_path / "relaywatch.toml"
    config.write_text(
        f'logs = ["{SAMPLES}/postfix/mail.log"]\ncustomers = "{SAMPLES}/customers.csv"\n'
        'timezone = "America/New_York"\nyear = 2003\n'
    )
    result = CliRunner().invoke(cli, ["export", "offenders", "--config", str(config)])
    assert result.exit_code == 0
    table = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert table["asn"].isna().all() and len(table) > 10
    assert "relaywatch asn-db build" in result.stderr
