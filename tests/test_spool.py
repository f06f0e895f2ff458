"""Parsed chunks handed from the helpers through files (analyzer.store.spool)."""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from analyzer import schema as s
from analyzer.settings.config import Settings
from analyzer.store import ingest as ingest_module
from analyzer.store import parallel, spool
from analyzer.store.chunker import parse_chunk
from analyzer.store.ingest import ingest
from tests.conftest import SAMPLES

POSTFIX = SAMPLES / "postfix" / "mail.log.1"
EXIM = SAMPLES / "exim" / "exim4-mx3" / "mainlog.1"


def parsed_chunk(path: Path, settings: Settings, log_format: str) -> pd.DataFrame:
    """The events of a sample log's lines, as a helper makes them."""
    text = [line.decode("utf-8", "replace") for line in path.read_bytes().splitlines()]
    lines = pd.DataFrame(
        {
            s.SOURCE: pd.Series([0] * len(text), dtype="int32"),
            s.LINE_NO: range(1, len(text) + 1),
            s.RAW: pd.arrays.ArrowExtensionArray(pa.array(text, pa.large_string())),
        }
    )
    sources = pd.DataFrame(
        [
            {
                s.SOURCE: 0,
                "path": str(path),
                "mtime": pd.Timestamp("2003-12-05", tz="UTC"),
                "format": log_format,
                s.SERVER: "mx3" if log_format == "exim" else None,
                "order": 0,
                "start_year": 2003.0,
                "start_month": 11.0,
            }
        ]
    )
    return parse_chunk(lines, sources, settings)


@pytest.mark.parametrize(("path", "log_format"), [(POSTFIX, "syslog"), (EXIM, "exim")])
def test_a_spooled_chunk_reads_back_as_the_same_frame(
    demo_settings: Settings, tmp_path: Path, path: Path, log_format: str
) -> None:
    events = parsed_chunk(path, demo_settings, log_format)
    assert events[s.TS].notna().sum() > 1000  # real events, times and all
    written = spool.write_frame(events, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [written.name]  # whole, no ".partial"
    back = spool.read_frame(written)
    assert list(back.dtypes) == list(events.dtypes)
    pd.testing.assert_frame_equal(back, events, check_exact=True)
    assert not written.exists()  # read once: the main process removes what it took


def test_numpy_string_and_empty_columns_keep_their_types(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "n32": pd.Series([1, 2], dtype="int32"),
            "when": pd.Series(pd.to_datetime(["2003-11-21 09:00:01.5", None], utc=True)).astype(
                "datetime64[us, UTC]"
            ),
            "text": pd.arrays.ArrowExtensionArray(pa.array(["a", None], pa.large_string())),
            "none": pd.arrays.ArrowExtensionArray(pa.nulls(2, pa.large_string())),
            # pandas' own string dtypes (classified sessions have them): kept as they are
            "str": pd.Series(["a", None], dtype="str"),
            "string": pd.Series([None, "b"], dtype="string"),
        }
    )
    back = spool.read_frame(spool.write_frame(frame, tmp_path))
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert str(back["when"].dtype) == "datetime64[us, UTC]"
    assert [str(back[c].dtype) for c in ("str", "string")] == ["str", "string"]
    assert back["when"].iloc[0] == pd.Timestamp("2003-11-21 09:00:01.5", tz="UTC")
    empty = frame.iloc[:0]
    pd.testing.assert_frame_equal(spool.read_frame(spool.write_frame(empty, tmp_path)), empty)


def test_an_ingest_with_helpers_leaves_no_spool_behind(
    demo_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spooled = tmp_path / "tmp"
    spooled.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spooled))
    monkeypatch.setattr(ingest_module, "PIPELINE_CHUNKS", 0)  # the helpers, at any size
    folders = []

    @contextlib.contextmanager
    def seen_folder():
        with spool.spool_folder() as folder:
            folders.append(folder)
            yield folder

    monkeypatch.setattr(parallel, "spool_folder", seen_folder)
    settings = dataclasses.replace(demo_settings, store=tmp_path / "store")
    summary = ingest(settings, [POSTFIX], chunk_bytes=64 * 1024, helpers=1)
    assert summary.chunks > 5
    assert summary.lines == len(POSTFIX.read_bytes().splitlines())
    assert len(folders) == 1 and folders[0].parent == spooled  # the chunks came through it
    assert list(spooled.iterdir()) == []  # the folder and every chunk's file are gone
