"""relaywatch ingest: the store holds what one full parse finds, however the logs arrive.

Each test feeds real sample logs to the store in some awkward way (twice, in pieces, across a
rotation, after a kill) and compares the store's analysis with a parse of the same text in
one go: every session (all columns), every reject and delivery, every line counted once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from analyzer import schema as s
from analyzer.errors import InputError
from analyzer.jobs import read_inputs
from analyzer.judgements.customers import read_customers
from analyzer.judgements.pipeline import Analysis, analyse
from analyzer.settings.config import Settings
from analyzer.store import ingest as ingest_module
from analyzer.store import parquet as store
from analyzer.store.ingest import ingest
from analyzer.store.parallel import parse_range
from analyzer.store.stored import stored_analysis
from tests.conftest import DEMO_CONFIG, SAMPLES

POSTFIX = SAMPLES / "postfix" / "mail.log.1"  # plain text, mail1 and mail2, 9,233 lines
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


def assert_same(got: Analysis, want: Analysis, sampled: bool = False) -> None:
    """Same sessions (every column but the line-order key), rejects, deliveries, line counts;
    the same problem lines, or with ``sampled`` some of them (runs of them are sampled)."""
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
    if not sampled:
        assert len(got.problems) == len(want.problems)
        return
    kept = set(zip(got.problems[s.LINE_NO], got.problems[s.RAW], strict=True))
    assert kept <= set(zip(want.problems[s.LINE_NO], want.problems[s.RAW], strict=True))


def split_text(path: Path, parts: int) -> list[bytes]:
    """A log's bytes in ``parts`` pieces cut at line ends."""
    lines = path.read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // parts)
    return [b"".join(lines[i : i + size]) for i in range(0, len(lines), size)]


ROTATED_GZ = SAMPLES / "postfix" / "mail.log.2.gz"  # the week before POSTFIX, compressed


@pytest.mark.parametrize("helpers", [0, 1, 2], ids=["inline", "a-helper", "two-helpers"])
def test_one_ingest_equals_one_parse(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, helpers: int
) -> None:
    # A backlog of any size is parsed by the helper processes parsing ahead (the compressed
    # file is streamed inline either way, then the plain ones follow); none: all inline.
    monkeypatch.setattr(ingest_module, "PIPELINE_CHUNKS", 0)
    paths = [ROTATED_GZ, POSTFIX, EXIM]
    summary = ingest(settings, paths, chunk_bytes=SMALL_CHUNK, helpers=helpers)
    assert summary.chunks > 5  # the chunk edges are really crossed
    assert summary.lines == count_lines(POSTFIX, EXIM) + len(
        gzip.decompress(ROTATED_GZ.read_bytes()).splitlines()
    )
    assert_same(from_store(settings), parsed(settings, ROTATED_GZ, POSTFIX, EXIM))


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


def rotate_by_rename(settings: Settings, folder: Path) -> tuple[Path, Path, list[bytes]]:
    """Ingest a log's first third; append the second; rename the log to .1 and start a new
    one with the last third (what logrotate does). Returns (rotated, new log, thirds)."""
    thirds = split_text(POSTFIX, 3)
    log, rotated = folder / "mail.log", folder / "mail.log.1"
    log.write_bytes(thirds[0])
    ingested(settings, log)
    with open(log, "ab") as handle:  # written after the last run, before the rotation
        handle.write(thirds[1])
    log.rename(rotated)
    log.write_bytes(thirds[2])
    return rotated, log, thirds


def test_rename_rotation_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    rotated, log, (_, second, third) = rotate_by_rename(settings, tmp_path)
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
    rotated, log, _ = rotate_by_rename(settings, tmp_path)
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
    assert summary.lines == 9233
    assert from_store(settings).lines["lines"].sum() == 9233


# What a crash and a flood leave in a log: empty lines, junk too short to be a syslog line,
# and NULs without a line end (where the file had grown), glued to the next line written.
DAMAGE = b"\n" * 5000 + b"x\n" * 3000 + b"\0" * 300_000


@pytest.mark.parametrize("helper", [False, True], ids=["inline", "helper-processes"])
def test_floods_of_empty_and_junk_lines_are_counted_exactly_and_only_sampled(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helper: bool
) -> None:
    first, second = split_text(POSTFIX, 2)
    log = tmp_path / "mail.log"
    log.write_bytes(first + DAMAGE + second)
    # with helpers, one range holds more lines than a chunk: the rest is read inline
    monkeypatch.setattr(ingest_module, "PIPELINE_CHUNKS", 0 if helper else 10**9)
    summary = ingested(settings, log)
    want = parsed(settings, log)
    assert summary.lines == want.lines["lines"].sum() == 9233 + 8000  # the NULs join a line
    got = from_store(settings)
    assert_same(got, want, sampled=True)
    assert len(want.problems) > 8000 and len(got.problems) < 100
    (record,) = store.load_manifest(settings.store).files
    assert record.counts == want.lines[list(record.counts)].sum().to_dict()
    assert (record.offset, record.lines) == (log.stat().st_size, 9233 + 8000)


def test_ingest_goes_on_from_the_right_byte_after_empty_lines_and_a_crash_s_nuls(
    settings: Settings, tmp_path: Path
) -> None:
    first, second = split_text(POSTFIX, 2)
    text = first + DAMAGE + second
    before_nuls = len(first) + 5000 + 6000
    log = tmp_path / "mail.log"
    # the first run stops inside the empty lines, the second inside the NULs (a line being
    # written, left for the next run), the third reads the rest
    for cut, offset in ((len(first) + 2500, len(first) + 2500), (before_nuls + 1000, before_nuls)):
        log.write_bytes(text[:cut])
        ingested(settings, log)
        assert store.load_manifest(settings.store).files[0].offset == offset
    log.write_bytes(text)
    ingested(settings, log)
    once = dataclasses.replace(settings, store=tmp_path / "once")
    ingested(once, log)
    # the problem lines sampled differ (a run cut by a run's end is sampled in each part)
    assert_same(from_store(settings), parsed(settings, log), sampled=True)
    pieces, whole = (store.load_manifest(c.store).files[0] for c in (settings, once))
    assert (pieces.offset, pieces.lines, pieces.counts) == (whole.offset, whole.lines, whole.counts)


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
    time.sleep(0.05)  # somewhere in the next chunks: parsing, writing parts, or committing
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
    logs = [POSTFIX, EXIM, SAMPLES / "postfix" / "mail.log.2.gz"]
    ingest(settings, logs, chunk_bytes=SMALL_CHUNK)
    on_dask = dataclasses.replace(settings, store=tmp_path / "dask")
    summary = ingest(on_dask, logs, chunk_bytes=SMALL_CHUNK, dask_address="local")
    assert summary.chunks > 5  # files were cut into ranges
    single, parallel = from_store(settings), from_store(on_dask)
    assert_same(parallel, single)
    pd.testing.assert_frame_equal(parallel.lines, single.lines)


DEFERRED_THEN_SENT = [
    # a customer's message to AOL, deferred at the first try ...
    "Nov 21 09:00:00 mail1 postfix/smtpd[100]: connect from office.acme.example[198.18.0.10]",
    "Nov 21 09:00:01 mail1 postfix/smtpd[100]: 3F2A41C0B2: client=office.acme.example"
    "[198.18.0.10], sasl_method=PLAIN, sasl_username=alice@acme.example",
    "Nov 21 09:00:02 mail1 postfix/qmgr[400]: 3F2A41C0B2: from=<alice@acme.example>, "
    "size=2345, nrcpt=1 (queue active)",
    "Nov 21 09:00:03 mail1 postfix/smtpd[100]: disconnect from office.acme.example"
    "[198.18.0.10] ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6",
    "Nov 21 09:00:04 mail1 postfix/smtp[300]: 3F2A41C0B2: to=<bob@aol.com>, relay=mx.aol.com"
    "[198.51.100.20]:25, delay=2, delays=0.1/0/1/1, dsn=4.7.1, status=deferred (host "
    "mx.aol.com[198.51.100.20] said: 421 4.7.1 try again later (in reply to MAIL FROM command))",
    # ... and sent three hours later, long after its session was stored
    "Nov 21 12:00:00 mail1 postfix/smtpd[101]: connect from unknown[203.0.113.5]",
    "Nov 21 12:00:04 mail1 postfix/smtp[301]: 3F2A41C0B2: to=<bob@aol.com>, relay=mx.aol.com"
    "[198.51.100.20]:25, delay=10800, delays=10799/0/1/0, dsn=2.0.0, status=sent (250 ok)",
    "Nov 21 12:00:05 mail1 postfix/qmgr[400]: 3F2A41C0B2: removed",
]


def test_a_retry_after_the_session_was_stored_still_names_it(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "mail.log"
    log.write_text("\n".join(DEFERRED_THEN_SENT[:5]) + "\n")
    ingested(settings, log)
    with open(log, "a") as handle:
        handle.write("\n".join(DEFERRED_THEN_SENT[5:]) + "\n")
    ingested(settings, log)
    manifest = store.load_manifest(settings.store)
    stored = store.read_table(settings.store, "sessions", manifest)
    assert list(stored[s.CLIENT_IP]) == ["198.18.0.10"]  # stored once the recipient was tried
    analysis = from_store(settings)
    deliveries = analysis.deliveries
    assert list(deliveries[s.STATUS]) == ["deferred", "sent"]
    assert set(deliveries[s.SESSION_ID]) == {stored[s.SESSION_ID].iloc[0]}
    assert_same(analysis, parsed(settings, log))


def test_the_dashboard_and_the_report_read_the_store(settings: Settings, tmp_path: Path) -> None:
    from analyzer.jobs import nightly
    from dashboard.data import load_data

    log = tmp_path / "mail.log"
    shutil.copyfile(POSTFIX, log)
    settings = dataclasses.replace(settings, logs=(str(log),))
    ingested(settings, log)
    want = parsed(settings, POSTFIX)
    log.unlink()  # only the store knows the sessions now
    view = load_data(settings, dns=False).view
    assert_same(
        dataclasses.replace(
            want,
            sessions=view.read("sessions"),
            rejects=view.read("rejects"),
            deliveries=view.read("deliveries"),
        ),
        want,
    )
    day = dt.date(2003, 11, 26)
    eml = tmp_path / "summary.eml"
    notes: list[str] = []
    assert "written to" in nightly(settings, day, day, eml=eml, dns=False, notes=notes)
    assert notes == [  # the log is gone: said, and the summary still comes from the store
        f"could not ingest the new log lines first (log file not found: {log}): the summary "
        "is of the store"
    ]
    local_day = want.sessions[s.START].dt.tz_convert(settings.timezone).dt.date
    authenticated = int(((local_day == day) & (want.sessions["class"] == s.AUTHENTICATED)).sum())
    assert authenticated > 0
    assert f"{'Authenticated':<16} {authenticated:7d}" in eml.read_text()


def test_the_dashboard_shows_what_a_later_ingest_added(settings: Settings, tmp_path: Path) -> None:
    from dashboard.app import create_app
    from dashboard.data import current

    first, second = split_text(POSTFIX, 2)
    log = tmp_path / "mail.log"
    log.write_bytes(first)
    ingested(settings, log)
    app = create_app(settings, dns=False)
    with app.server.app_context():
        before = len(current().view.read("sessions"))
    with open(log, "ab") as handle:  # cron runs ingest while the dashboard is up
        handle.write(second)
    ingested(settings, log)
    with app.server.app_context():
        after = current()
    assert before < len(after.view.read("sessions")) == len(parsed(settings, POSTFIX).sessions)
    page = app.server.test_client().get("/")
    assert page.status_code == 200


TEST_PROCESS = os.getpid()


def killed_helper(*task):
    """What the OOM killer does to a parsing process (module level: tasks are pickled); in
    the main process (it parses the first range itself), the parse it stands for."""
    if os.getpid() == TEST_PROCESS:
        return parse_range(*task)
    os._exit(9)


def test_a_helper_process_that_dies_is_one_clear_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analyzer.store import parallel

    monkeypatch.setattr(ingest_module, "PIPELINE_CHUNKS", 0)
    monkeypatch.setattr(parallel, "parse_range", killed_helper)
    with pytest.raises(InputError, match="a helper process died"):
        ingested(settings, POSTFIX)
    monkeypatch.undo()
    ingested(settings, POSTFIX)
    assert_same(from_store(settings), parsed(settings, POSTFIX))


def test_a_file_and_its_compressed_copy_in_one_run_are_read_once(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = split_text(POSTFIX, 2)
    log = tmp_path / "mail.log.1"
    log.write_bytes(first)
    ingested(settings, log)
    with open(log, "ab") as handle:
        handle.write(second)
    copy = tmp_path / "mail.log.1.gz"  # logrotate compressing while mail.log.1 still exists
    copy.write_bytes(gzip.compress(first + second))
    monkeypatch.setattr(ingest_module, "PIPELINE_CHUNKS", 0)  # the plain one on the helpers
    summary = ingested(settings, log, copy)
    assert summary.lines == second.count(b"\n")
    assert_same(from_store(settings), parsed(settings, POSTFIX))


def grown_log(settings: Settings, tmp_path: Path) -> tuple[Settings, Path, bytes]:
    """A store ingested from the first part of a log (to 2003-11-30), then the log grows by
    the rest (to 2003-12-05): the store is behind its log."""
    text = (SAMPLES / "postfix" / "mail.log").read_bytes()
    cut = text.index(b"\n2003-12-01T") + 1
    log = tmp_path / "mail.log"
    log.write_bytes(text[:cut])
    settings = dataclasses.replace(settings, logs=(str(log),))
    ingested(settings, log)
    with log.open("ab") as handle:
        handle.write(text[cut:])
    return settings, log, text


NOW = pd.Timestamp("2003-12-06T12:00:00Z")


def report_of(settings: Settings, tmp_path: Path, **options) -> tuple[str, list[str], str]:
    """The nightly report (default period, as on 2003-12-06) written to a file: its status
    line, the notes for stderr, and the mail's plain text."""
    import email
    from email import policy

    from analyzer.jobs import nightly

    eml = tmp_path / "summary.eml"
    notes: list[str] = []
    line = nightly(settings, None, None, eml=eml, now=NOW, dns=False, notes=notes, **options)
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    return line, notes, message.get_body(("plain",)).get_content()


def test_the_report_ingests_what_the_log_added_since_the_store(
    settings: Settings, tmp_path: Path
) -> None:
    settings, log, _ = grown_log(settings, tmp_path)
    line, notes, text = report_of(settings, tmp_path)
    assert line.startswith("relaywatch summary for 2003-12-04: written to")
    assert notes == [] and "NOTE:" not in text
    assert_same(from_store(settings), parsed(settings, log))  # nothing lost or twice


def test_a_report_told_not_to_ingest_says_the_store_is_behind(
    settings: Settings, tmp_path: Path
) -> None:
    settings, _, _ = grown_log(settings, tmp_path)
    line, notes, text = report_of(settings, tmp_path, ingest_first=False)
    assert line.startswith("relaywatch summary for 2003-11-29: written to")
    behind = (
        "the store may be behind its logs: 1 log file(s) changed since the last ingest and "
        "were not read (--no-ingest); run `relaywatch ingest`"
    )
    assert notes == [behind]
    assert f"NOTE: {behind}" in " ".join(text.split())  # wrapped for the mail


def test_a_report_waits_for_a_running_ingest_then_says_why_it_could_not(
    settings: Settings, tmp_path: Path, monkeypatch
) -> None:
    from analyzer import jobs

    settings, _, _ = grown_log(settings, tmp_path)
    monkeypatch.setattr(jobs, "REPORT_INGEST_WAIT_S", 0.5)
    with store.writing(settings.store):  # the 10-minute ingest holds the store
        _, notes, _ = report_of(settings, tmp_path)
    assert notes == [
        f"could not ingest the new log lines first (store {settings.store} is busy: another "
        "ingest is running): the summary is of the store"
    ]


FAKE_JOURNALCTL = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_JOURNAL_CALLS"], "a") as calls:
    calls.write(" ".join(args) + "\\n")
after = args[args.index("--after-cursor") + 1] if "--after-cursor" in args else None
lines = open(os.environ["FAKE_JOURNAL"], encoding="utf-8").read().splitlines()
if after is not None:
    for number, line in enumerate(lines):
        if line.startswith("{{") and json.loads(line).get("__CURSOR") == after:
            lines = lines[number + 1:]
            break
    else:
        sys.exit("journalctl: cursor not found")
sys.stdout.write("".join(line + "\\n" for line in lines))
"""


def fake_journalctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A ``journalctl`` on PATH that prints the JSON lines of a file after a cursor."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "journalctl"
    script.write_text(FAKE_JOURNALCTL.format(python=sys.executable))
    script.chmod(0o755)
    entries, calls = tmp_path / "journal.json", tmp_path / "calls.txt"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_JOURNAL", str(entries))
    monkeypatch.setenv("FAKE_JOURNAL_CALLS", str(calls))
    return entries, calls


def test_ingest_journal_twice_reads_on_from_the_cursor(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analyzer.store.ingest import ingest_journal
    from tests.test_journal import as_json

    entries, calls = fake_journalctl(tmp_path, monkeypatch)
    everything = tmp_path / "all.json"
    lines = as_json(settings, POSTFIX, everything)
    half = len(lines) // 2
    while not lines[half - 1].startswith("{"):
        half += 1
    entries.write_text("".join(line + "\n" for line in lines[:half]), encoding="utf-8")
    first = ingest_journal(settings, ["postfix@-.service"], chunk_bytes=SMALL_CHUNK)
    assert first.lines == half
    cursor = store.load_manifest(settings.store).journals["postfix@-.service"].cursor
    assert cursor == json.loads(lines[half - 1])["__CURSOR"]
    entries.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    second = ingest_journal(settings, ["postfix@-.service"], chunk_bytes=SMALL_CHUNK)
    assert second.lines == len(lines) - half  # only the entries after the cursor
    runs = calls.read_text().splitlines()
    assert runs[0] == "-o json --no-pager -u postfix@-.service"
    assert runs[1] == f"-o json --no-pager --after-cursor {cursor} -u postfix@-.service"
    assert ingest_journal(settings, ["postfix@-.service"]).lines == 0
    assert_same(from_store(settings), parsed(settings, everything))


def test_a_failing_journalctl_is_a_clear_error(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analyzer.store.ingest import ingest_journal

    fake_journalctl(tmp_path, monkeypatch)  # no entries file: it fails
    with pytest.raises(InputError, match="journalctl -o json --no-pager failed"):
        ingest_journal(settings)


def test_ingest_of_a_journal_export_file_equals_one_parse(
    settings: Settings, tmp_path: Path
) -> None:
    from tests.test_journal import as_json

    export = tmp_path / "journal.json"
    as_json(settings, POSTFIX, export)
    ingested(settings, export)
    assert store.load_manifest(settings.store).files[0].format == "journal"
    assert_same(from_store(settings), parsed(settings, export))


def test_the_ingest_command_reads_the_journal(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from analyzer.cli import cli
    from tests.test_journal import as_json

    entries, _ = fake_journalctl(tmp_path, monkeypatch)
    as_json(settings, EXIM.parent.parent.parent / "postfix" / "mail.log", entries)
    result = CliRunner().invoke(
        cli, ["ingest", "--journal", "--config", str(DEMO_CONFIG), "--store", str(settings.store)]
    )
    assert result.exit_code == 0, result.output
    assert "ingested" in result.output


def derived_files(root: Path) -> dict[str, pd.DataFrame]:
    """Every derived table of the store, by its path in the store."""
    folder = root / store.DERIVED
    return {
        str(path.relative_to(folder)): pd.read_parquet(path)
        for path in sorted(folder.rglob("*.parquet"))
    }


@pytest.mark.parametrize("helpers", [1, 2])
def test_derived_tables_written_by_a_helper_are_the_ones_written_here(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helpers: int
) -> None:
    # Every chunk's derived tables go to a helper (not left to the balance to choose), and
    # each chunk is committed once they are written: the same files as when written here.
    from analyzer.store import parallel

    monkeypatch.setattr(ingest_module, "PIPELINE_CHUNKS", 0)
    shipped = []
    monkeypatch.setattr(parallel.Balance, "ship", lambda self, helpers: shipped.append(1) or True)
    summary = ingest(settings, [POSTFIX, EXIM], chunk_bytes=SMALL_CHUNK, helpers=helpers)
    assert summary.chunks > 5 and len(shipped) == summary.chunks
    monkeypatch.setattr(parallel.Balance, "ship", lambda self, helpers: False)
    here = dataclasses.replace(settings, store=tmp_path / "here")
    ingest(here, [POSTFIX, EXIM], chunk_bytes=SMALL_CHUNK, helpers=helpers)
    got, want = derived_files(settings.store), derived_files(here.store)
    assert got.keys() == want.keys() and len(got) > 100
    for name, frame in want.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)
    assert store.load_manifest(settings.store).committed == store.mark_of(1, summary.chunks)
    assert_same(from_store(settings), parsed(settings, POSTFIX, EXIM))


def killed_deriving(*task):
    """A helper killed while it writes a chunk's derived tables."""
    os._exit(9)


def test_a_helper_that_dies_writing_derived_tables_leaves_the_last_commit(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analyzer.store import parallel

    monkeypatch.setattr(ingest_module, "PIPELINE_CHUNKS", 0)
    monkeypatch.setattr(parallel.Balance, "ship", lambda self, helpers: self.chunks >= 2)
    monkeypatch.setattr(parallel, "derive_spooled", killed_deriving)
    with pytest.raises(InputError, match="a helper process died"):
        ingested(settings, POSTFIX)
    # the chunks before were committed, the one whose derived tables died was not
    assert_resumed_after_commit(2, settings, monkeypatch)


def assert_resumed_after_commit(chunk: int, settings: Settings, monkeypatch) -> None:
    """After a run that failed: the store is as ``chunk``'s commit left it, and the next run
    (the failure undone) goes on from there to what one parse finds."""
    assert store.load_manifest(settings.store).committed == store.mark_of(1, chunk)
    monkeypatch.undo()
    ingested(settings, POSTFIX)
    assert_same(from_store(settings), parsed(settings, POSTFIX))


def spy(monkeypatch, name: str, first) -> None:
    """``store.<name>`` calls ``first`` with its arguments first (which may raise)."""
    real = getattr(store, name)

    def spied(*args):
        first(*args)
        return real(*args)

    monkeypatch.setattr(store, name, spied)


def test_chunks_are_committed_in_a_thread_in_their_order(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the file system is flushed in a thread while the next chunk's sessions are built
    commits = []

    def commit(root, manifest, file_mode):
        commits.append((threading.current_thread().name, manifest.committed))

    spy(monkeypatch, "commit", commit)
    summary = ingested(settings, POSTFIX)
    assert len(commits) == summary.chunks > 3
    assert all(name.startswith("commit") for name, _ in commits)
    marks = [mark for _, mark in commits]
    assert marks == [store.mark_of(1, chunk) for chunk in range(1, summary.chunks + 1)]
    assert store.load_manifest(settings.store).committed == marks[-1]
    assert_same(from_store(settings), parsed(settings, POSTFIX))


def test_a_commit_that_fails_in_the_thread_stops_the_run_at_the_commit_before(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushes = []

    def sync(root):
        flushes.append(root)
        if len(flushes) == 3:
            raise store.StoreError("cannot write store: No space left on device")

    spy(monkeypatch, "_sync_filesystem", sync)
    with pytest.raises(store.StoreError, match="No space left"):
        ingested(settings, POSTFIX)
    assert len(flushes) == 3  # the run stopped there: no chunk after it was committed
    assert_resumed_after_commit(2, settings, monkeypatch)
