"""Every export of the sample, byte for byte as recorded: from the logs parsed in memory and
from a store ingested in small chunks. Speed work on the parser, the sessions or the store
must not change one byte a user gets (``tests/data/export_digests.json``).

A change that is meant to alter an export records the new digests, and says why in its
commit: ``python -m tests.test_export_digests --write``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from tests.conftest import SAMPLES

DIGESTS = Path(__file__).resolve().parent / "data" / "export_digests.json"
# (name, arguments after ``export``): every kind, and the choices that change its rows
EXPORTS = (
    ("sessions", ["sessions"]),
    ("customers", ["customers"]),
    ("readiness-daily", ["readiness-daily"]),
    ("offenders", ["offenders"]),
    ("offenders-asn", ["offenders", "--by", "asn"]),
    ("blocklist-postfix", ["blocklist", "--format", "postfix"]),
    ("accounts", ["accounts"]),
    ("risk", ["risk", "--no-dns"]),
)


def _sample_copy(folder: Path) -> Path:
    """The sample logs and their config in ``folder``, with no store yet."""
    shutil.copytree(SAMPLES, folder, ignore=shutil.ignore_patterns("store", "*.py", "README*"))
    return folder / "relaywatch.toml"


def _run(*args: str) -> bytes:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def export_digests(folder: Path) -> dict[str, str]:
    """sha256 of every export in ``EXPORTS``, from the logs (``logs/...``) and from a store
    ingested in 1 MB chunks (``store/...``)."""
    config = str(_sample_copy(folder))
    store = str(folder / "fresh-store")
    digests = {}
    for name, args in EXPORTS:
        digests[f"logs/{name}"] = _digest(_run("export", *args, "--config", config))
    ingest = ["ingest", "--config", config, "--store", store, "--chunk-mb", "1"]
    _run(*ingest)
    for name, args in EXPORTS:
        out = _run("export", *args, "--config", config, "--store", store)
        digests[f"store/{name}"] = _digest(out)
    return digests


def _digest(data: bytes) -> str:
    assert data.count(b"\n") > 1  # a header and rows: an empty export proves nothing
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def digests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return export_digests(tmp_path_factory.mktemp("exports") / "sample")


def test_every_export_kind_is_recorded():
    recorded = json.loads(DIGESTS.read_text())
    kinds = {args[0] for _, args in EXPORTS}
    assert kinds == set(cli.commands["export"].params[0].type.choices)
    assert set(recorded) == {
        f"{where}/{name}" for where in ("logs", "store") for name, _ in EXPORTS
    }


@pytest.mark.parametrize("where", ["logs", "store"])
def test_exports_are_byte_identical_to_the_recorded_ones(digests, where):
    recorded = json.loads(DIGESTS.read_text())
    changed = sorted(k for k, v in digests.items() if k.startswith(where) and recorded[k] != v)
    assert changed == []


def test_the_store_exports_what_the_logs_export(digests):
    for name, _ in EXPORTS:
        assert digests[f"store/{name}"] == digests[f"logs/{name}"], name


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        found = export_digests(Path(work) / "sample")
    DIGESTS.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(found)} digests to {DIGESTS}")
