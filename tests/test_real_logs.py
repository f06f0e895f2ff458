"""Lines real Postfix and Exim servers wrote (``../shared/real-logs``, gathered from other
projects' test data and kept outside this repository): ``relaywatch patterns check`` must
match or knowingly ignore at least 99.8 % of each Postfix file's lines and 99.5 % of each
Exim file's, and says which lines it missed when it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.cli import run_cli
from tests.conftest import PROJECT

CORPUS = PROJECT.parent / "shared" / "real-logs"
MINIMUM = {"postfix": 99.8, "exim": 99.5}
FILES = sorted(CORPUS.glob("*/*.log")) if CORPUS.is_dir() else []

if not FILES:
    pytest.skip(
        f"no real-log corpus at {CORPUS} (it lives beside the repository, not in it)",
        allow_module_level=True,
    )


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_real_server_lines_are_matched(path: Path, capsys):
    minimum = MINIMUM[path.parent.name]
    code = run_cli(["patterns", "check", str(path), "--min-matched", str(minimum), "--limit", "0"])
    out, err = capsys.readouterr()
    misses = out[out.find("unmatched lines:") :]
    assert code == 0, f"{err}\n{misses}"
