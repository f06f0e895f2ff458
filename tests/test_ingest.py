"""relaywatch ingest: the store holds what one full parse finds, however the logs arrive.

Each test feeds real sample logs to the store in some awkward way (twice, in pieces, across a
rotation, after a kill) and compares the store's analysis with a parse of the same text in
one go: every session (all columns), every reject and delivery, every line counted once.
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from analyzer import schema as s
from analyzer.config import Settings
from analyzer.errors import InputError
from analyzer.ingest import ingest, stored_analysis
from analyzer.io import store
from analyzer.io.customers import read_customers
from analyzer.jobs import read_inputs
from analyzer.pipeline import Analysis, analyse
from tests.conftest import DEMO_CONFIG, SAMPLES

POSTFIX = SAMPLES / "postfix" / "mail.log.1"  # plain text, mail1 and mail2, 9,160 lines
EXIM = SAMPLES / "exim" / "exim4-mx3" / "mainlog.1"  # an Exim mainlog, connection logging
SMALL_CHUNK = 200 * 1024


def count_lines(*paths: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in paths)


# many chunk edges, so sessions straddle them


@pytest.fixture
def settings(demo_settings: Settings, tmp_path: Path) -> Settings:
    return dataclasses.replace(demo_settings, store=tmp_path / "store")


def ingested(settings: Settings, *paths: Path, chunk: int = SMALL_CHUNK):
    return ingest(settings, list(paths), chunk_bytes=chunk)


def from_store(settings: Settings) -> Analysis:
    return stored_analysis(settings.store, read_customers(settings.customers), settings)


def parsed(settings: Settings, *paths: Path) -> Analysis:
    lines, sources = read_inputs(list(paths), settings)
    return analyse(lines, sources, read_customers(settings.customers), settings)


def assert_same(got: Analysis, want: Analysis) -> None:
    """Same sessions (every column but the line-order key), rejects, deliveries, line counts."""
    assert len(got.sessions) == len(want.sessions)
    columns = [c for c in want.sessions.columns if c != "first_seq"]
    pd.testing.assert_frame_equal(
        got.sessions.sort_values(s.SESSION_ID, ignore_index=True)[columns],
        want.sessions.sort_values(s.SESSION_ID, ignore_index=True)[columns],
    )
    for name in ("rejects", "deliveries"):
        a, b = getattr(got, name), getattr(want, name)
        pd.testing.assert_frame_equal(
            a.sort_values(list(a.columns), ignore_index=True),
            b.sort_values(list(b.columns), ignore_index=True),
            check_dtype=False,
        )
    buckets = ["lines", "matched", "ignored", "unmatched", "malformed"]
    assert got.lines[buckets].sum().to_dict() == want.lines[buckets].sum().to_dict()
    assert len(got.problems) == len(want.problems)


def split_text(path: Path, parts: int) -> list[bytes]:
    """A log's bytes in ``parts`` pieces cut at line ends."""
    lines = path.read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // parts)
    return [b"".join(lines[i : i + size]) for i in range(0, len(lines), size)]


def test_one_ingest_equals_one_parse(settings: Settings) -> None:
    summary = ingested(settings, POSTFIX, EXIM)
    assert summary.chunks > 5  # the chunk edges are really crossed
    assert summary.lines == count_lines(POSTFIX, EXIM)
    assert_same(from_store(settings), parsed(settings, POSTFIX, EXIM))


def test_ingest_twice_equals_once(settings: Settings) -> None:
    ingested(settings, POSTFIX, EXIM)
    first = from_store(settings)
    again = ingested(settings, POSTFIX, EXIM)
    assert (again.lines, again.files_read, again.files_unchanged) == (0, 0, 2)
    assert_same(from_store(settings), first)


def test_append_then_ingest_equals_one_full_ingest(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    for piece in split_text(POSTFIX, 3):
        with open(log, "ab") as handle:
            handle.write(piece)
        ingested(settings, log)
    assert_same(from_store(settings), parsed(settings, POSTFIX))


def test_rename_rotation_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    first, second, third = split_text(POSTFIX, 3)
    log, rotated = tmp_path / "mail.log", tmp_path / "mail.log.1"
    log.write_bytes(first)
    ingested(settings, log)
    with open(log, "ab") as handle:  # written after the last run, before the rotation
        handle.write(second)
    log.rename(rotated)
    log.write_bytes(third)
    summary = ingested(settings, rotated, log)
    assert summary.lines == second.count(b"\n") + third.count(b"\n")
    assert_same(from_store(settings), parsed(settings, POSTFIX))


def test_copytruncate_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    first, second, third = split_text(POSTFIX, 3)
    log, copy = tmp_path / "mail.log", tmp_path / "mail.log.1"
    log.write_bytes(first)
    ingested(settings, log)
    with open(log, "ab") as handle:
        handle.write(second)
    shutil.copyfile(log, copy)  # logrotate's copytruncate: copy, then empty the original
    with open(log, "r+b") as handle:
        handle.truncate(0)
        handle.write(third)
    summary = ingested(settings, copy, log)
    assert summary.lines == second.count(b"\n") + third.count(b"\n")
    assert_same(from_store(settings), parsed(settings, POSTFIX))


def test_rotated_file_compressed_later_is_not_read_again(
    settings: Settings, tmp_path: Path
) -> None:
    first, second, third = split_text(POSTFIX, 3)
    log, rotated = tmp_path / "mail.log", tmp_path / "mail.log.1"
    log.write_bytes(first)
    ingested(settings, log)
    with open(log, "ab") as handle:
        handle.write(second)
    log.rename(rotated)
    log.write_bytes(third)
    ingested(settings, rotated, log)
    # delaycompress: the next rotation compresses mail.log.1 (a new file, a new inode)
    with gzip.open(tmp_path / "mail.log.1.gz", "wb") as handle:
        handle.write(rotated.read_bytes())
    rotated.unlink()
    summary = ingested(settings, tmp_path / "mail.log.1.gz", log)
    assert summary.lines == 0
    assert_same(from_store(settings), parsed(settings, POSTFIX))


def test_compressed_before_the_next_run_reads_only_the_rest(
    settings: Settings, tmp_path: Path
) -> None:
    first, second = split_text(POSTFIX, 2)
    log = tmp_path / "mail.log"
    log.write_bytes(first)
    ingested(settings, log)
    with gzip.open(tmp_path / "mail.log.1.gz", "wb") as handle:  # rotated and compressed
        handle.write(first + second)
    log.unlink()
    summary = ingested(settings, tmp_path / "mail.log.1.gz")
    assert summary.lines == second.count(b"\n")
    assert_same(from_store(settings), parsed(settings, POSTFIX))


def test_a_line_being_written_waits_for_its_end(settings: Settings, tmp_path: Path) -> None:
    first, second = split_text(POSTFIX, 2)
    cut = len(second) // 2
    log = tmp_path / "mail.log"
    log.write_bytes(first + second[:cut])  # the writer is in the middle of a line
    ingested(settings, log)
    with open(log, "ab") as handle:
        handle.write(second[cut:])
    ingested(settings, log)
    assert_same(from_store(settings), parsed(settings, POSTFIX))


def test_a_truncated_last_line_of_an_old_file_is_read(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    text = POSTFIX.read_bytes()
    log.write_bytes(text[: len(text) - 20])  # the last line lost its end, long ago
    os.utime(log, (time.time() - 3600, time.time() - 3600))
    summary = ingested(settings, log)
    assert summary.lines == 9160
    assert from_store(settings).lines["lines"].sum() == 9160


def write_error(code: int, after: int):
    """A ``pq.write_table`` that fails with ``code`` after ``after`` good writes."""
    real = store.pq.write_table
    calls = {"n": 0}

    def failing(table, where, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(code, os.strerror(code))
        return real(table, where, *args, **kwargs)

    return failing


@pytest.mark.parametrize(
    ("code", "words"), [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only")]
)
def test_a_full_or_read_only_store_fails_cleanly_and_loses_nothing(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    first, second = split_text(POSTFIX, 2)
    log = tmp_path / "mail.log"
    log.write_bytes(first)
    ingested(settings, log)
    manifest = (settings.store / store.MANIFEST).read_bytes()
    with open(log, "ab") as handle:
        handle.write(second)
    monkeypatch.setattr(store.pq, "write_table", write_error(code, after=2))
    with pytest.raises(store.StoreError, match=words) as failure:
        ingested(settings, log, chunk=64 * 2**20)  # one chunk: nothing of it may land
    assert "\n" not in str(failure.value)
    assert (settings.store / store.MANIFEST).read_bytes() == manifest
    monkeypatch.undo()
    ingested(settings, log)
    assert not list(settings.store.rglob("*.tmp"))
    assert_same(from_store(settings), parsed(settings, POSTFIX))


def test_a_second_ingest_at_the_same_time_is_refused(settings: Settings) -> None:
    with store.writing(settings.store):
        with pytest.raises(store.StoreError, match="busy"):
            ingested(settings, POSTFIX)


def test_no_store_configured_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(InputError, match="no store"):
        ingested(dataclasses.replace(settings, store=None), POSTFIX)


def test_a_run_killed_mid_way_then_rerun_equals_a_clean_run(
    settings: Settings, tmp_path: Path
) -> None:
    logs = [str(POSTFIX), str(EXIM), str(SAMPLES / "postfix" / "mail.log")]
    command = [sys.executable, "-m", "analyzer", "ingest", *logs, "--config", str(DEMO_CONFIG)]
    command += ["--store", str(settings.store), "--chunk-mb", "1"]
    victim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (settings.store / store.MANIFEST).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.2)  # somewhere in the next chunks: parsing, writing parts, or committing
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = store.load_manifest(settings.store)
    assert sum(f.lines for f in killed_at.files) < count_lines(*map(Path, logs))  # mid-way

    ingest(settings, [Path(p) for p in logs], chunk_bytes=2**20)
    clean = dataclasses.replace(settings, store=tmp_path / "clean")
    ingest(clean, [Path(p) for p in logs], chunk_bytes=2**20)
    assert_same(from_store(settings), from_store(clean))
    assert_same(from_store(settings), parsed(settings, *map(Path, logs)))
    committed = store.load_manifest(settings.store).committed
    parts = [p for t in store.TABLES for p in (settings.store / t).rglob("*.parquet")]
    assert all(p.stem <= committed for p in parts)


def test_dask_local_cluster_equals_single_process(settings: Settings, tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    logs = [POSTFIX, EXIM, SAMPLES / "postfix" / "mail.log.2.gz"]
    ingest(settings, logs, chunk_bytes=SMALL_CHUNK)
    on_dask = dataclasses.replace(settings, store=tmp_path / "dask")
    summary = ingest(on_dask, logs, chunk_bytes=SMALL_CHUNK, dask_address="local")
    assert summary.chunks > 5  # files were cut into ranges
    single, parallel = from_store(settings), from_store(on_dask)
    assert_same(parallel, single)
    pd.testing.assert_frame_equal(parallel.lines, single.lines)
