"""Shared fixtures: paths, small frames built in code, settings for the bundled samples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from analyzer import schema as s
from analyzer.reading.parse import StampOptions, parse_lines
from analyzer.settings.config import DEMO_CONFIG, Settings, load_settings

DATA = Path(__file__).parent / "data"
PROJECT = Path(__file__).resolve().parent.parent
SAMPLES = PROJECT / "sample_logs"


def lines_frame(texts: list[str], source: int = 0) -> pd.DataFrame:
    """A lines frame as ``analyzer.reading.sources.read_logs`` makes it, from strings."""
    return pd.DataFrame(
        {
            s.SOURCE: pd.Series([source] * len(texts), dtype="int32"),
            s.LINE_NO: pd.Series(range(1, len(texts) + 1), dtype="int64"),
            s.RAW: pd.Series(
                pa.array(texts, pa.large_string()), dtype=pd.ArrowDtype(pa.large_string())
            ),
        }
    )


def sources_frame(
    count: int = 1, mtime: str = "2003-12-31T00:00:00Z", fmt: str = "syslog", server: str = "mx3"
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.SOURCE: list(range(count)),
            "path": [f"test{i}.log" for i in range(count)],
            "mtime": [pd.Timestamp(mtime)] * count,
            "format": [fmt] * count,
            s.SERVER: [server if fmt == "exim" else None] * count,
        }
    )


def parse_texts(
    texts: list[str], year: int | None = 2003, timezone: str = "UTC", fmt: str = "syslog"
) -> pd.DataFrame:
    """Parse log lines given as strings (one file; ``fmt="exim"``: an Exim mainlog of mx3)."""
    return parse_lines(lines_frame(texts), sources_frame(fmt=fmt), StampOptions(timezone, year))


def read_annotated(path: Path) -> list[tuple[int, dict, str]]:
    """Cases of an annotated lines file: (line number, expectation, line)."""
    cases = []
    expect = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("# expect:"):
            expect = json.loads(line.removeprefix("# expect:"))
        elif line.startswith("#") or not line.strip():
            continue
        else:
            assert expect is not None, f"{path.name}:{number}: line without # expect:"
            cases.append((number, expect, line))
            expect = None
    return cases


def ingested_sample(folder: Path, **ingest_options) -> Settings:
    """A copy of the bundled sample (its store left out) in ``folder``, ingested (with
    ``jobs.ingest_logs``' ``ingest_options``): its settings."""
    from analyzer import jobs

    shutil.copytree(DEMO_CONFIG.parent, folder, ignore=shutil.ignore_patterns("store"))
    settings = load_settings(folder / DEMO_CONFIG.name, environ={})
    jobs.ingest_logs(settings, **ingest_options)
    return settings


@pytest.fixture(scope="session")
def demo_settings() -> Settings:
    return load_settings(DEMO_CONFIG, environ={})


def as_nobody(action) -> str:
    """Run ``action()`` in a forked child that is not root (root reads every file and enters
    every folder); return the message of the ``AnalyzerError`` it raised ("" if none)."""
    import os

    from analyzer.errors import AnalyzerError

    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            try:
                action()
            except AnalyzerError as exc:
                os.write(writer, str(exc).encode())
        finally:
            os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    with os.fdopen(reader) as messages:
        return messages.read()
