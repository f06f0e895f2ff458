"""Reading logs: compression by magic bytes, globs, CRLF, bad bytes, year inference."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tracemalloc
from pathlib import Path
from unittest import mock

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analyzer import schema as s
from analyzer.errors import InputError
from analyzer.reading import sources
from analyzer.reading.parse import StampOptions, parse_lines
from analyzer.reading.sources import MAX_LINE_BYTES, expand_logs, lines_from_bytes, read_logs

LINE = "Nov 21 09:00:00 mail1 postfix/smtpd[1]: connect from a.example[100.64.0.1]\n"


@pytest.mark.parametrize(
    "opener", [open, gzip.open, bz2.open, lzma.open], ids=["plain", "gzip", "bzip2", "xz"]
)
def test_every_compression_reads_the_same_lines(tmp_path: Path, opener):
    # A rotated file keeps a misleading name: the magic bytes decide.
    path = tmp_path / "mail.log.1"
    with opener(path, "wb") as handle:
        handle.write((LINE * 3).encode())
    lines, sources = read_logs([path])
    assert lines[s.RAW].tolist() == [LINE.rstrip("\n")] * 3
    assert lines[s.LINE_NO].tolist() == [1, 2, 3]
    assert sources["path"].tolist() == [str(path)]


def test_crlf_invalid_utf8_and_a_truncated_last_line(tmp_path: Path):
    path = tmp_path / "mail.log"
    path.write_bytes(LINE.replace("\n", "\r\n").encode() + b"bad \xff\xfe bytes\nNov 21 09:00")
    lines, _ = read_logs([path])
    assert lines[s.RAW].tolist() == [LINE.rstrip("\n"), "bad \ufffd\ufffd bytes", "Nov 21 09:00"]


def test_a_1mb_line_is_cut_marked_and_counted_between_intact_neighbours(tmp_path: Path):
    path = tmp_path / "mail.log"
    huge = LINE.rstrip("\n") + "é" * 500_000  # 1 MB, multibyte: the cut must not split one
    path.write_text(LINE + huge + "\n" + LINE, encoding="utf-8")
    lines, _ = read_logs([path])
    raw = lines[s.RAW].tolist()
    assert raw[0] == raw[2] == LINE.rstrip("\n")
    assert raw[1].startswith(LINE.rstrip("\n")) and raw[1].endswith("line cut at 64 KiB]")
    assert MAX_LINE_BYTES <= len(raw[1].encode()) <= MAX_LINE_BYTES + 64
    assert "\ufffd" not in raw[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"", [""]),
        (b"\n", ["", ""]),
        (b"a\n\nb", ["a", "", "b"]),
        ("é\nü".encode(), ["é", "ü"]),  # valid UTF-8, not ASCII: the numpy path
        (b"a\r", ["a\r"]),  # a lone CR is text
        (b"x\r\ny", ["x", "y"]),  # CRLF: the slow path
        (b"\xff\nok", ["\ufffd", "ok"]),  # bad UTF-8: the slow path
    ],
)
def test_lines_from_bytes_splits_exactly_on_either_path(text: bytes, expected: list[str]):
    lines = lines_from_bytes(text)
    lines.validate(full=True)
    assert lines.to_pylist() == expected


def _general_lines(data: bytes) -> pa.LargeStringArray:
    """``lines_from_bytes`` with its numpy fast path declined: the older code is the reference."""
    with mock.patch.object(sources, "_plain_lines", return_value=None):
        return lines_from_bytes(data)


def _is_plain(data: bytes) -> bool:
    """What the fast path promises to take: valid UTF-8, LF only, no line over the limit."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\r\n" not in data and max(map(len, data.split(b"\n"))) <= MAX_LINE_BYTES


SPLIT = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The bytes that decide the path and the split: LF, CR alone and before LF, NUL, multibyte
# UTF-8 (2, 3 and 4 bytes), and bytes never valid alone (stray lead or continuation bytes,
# an encoded surrogate), between runs of anything.
_PIECES = [b"\n", b"\r", b"\r\n", b"\x00", b"a", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80"]
_PIECES += [b"\xff", b"\xc3", b"\xe2\x82", b"\x80", b"\xed\xa0\x80"]
any_bytes = st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=6)), max_size=24).map(
    b"".join
)
# Mostly the usual text, so the fast path itself is what gets compared.
plain_text = st.lists(
    st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=12), max_size=8
).map(lambda lines: "\n".join(lines).encode())


@SPLIT
@given(st.one_of(any_bytes, plain_text, plain_text.map(lambda b: b + b"\n")))
@example(b"")
@example(b"\n")
@example(b"\n\n")
@example(b"a\n")
@example(b"\r")
@example(b"\r\n")
@example(b"\r\r\n")
@example(b"\n\r")
@example(b"\x00\n\x00")
@example("é\n€😀".encode())
@example(b"\xff")
@example(b"\xed\xa0\x80\n")
def test_fast_line_split_equals_the_general_one(data: bytes):
    fast = lines_from_bytes(data)
    general = _general_lines(data)
    fast.validate(full=True)
    general.validate(full=True)
    assert fast.type == general.type == pa.large_string()
    assert fast.to_pylist() == general.to_pylist()
    assert fast.equals(general)
    # the fast path must really take the usual text, or the comparison above proves nothing
    assert (sources._plain_lines(data) is not None) == _is_plain(data)


@pytest.mark.parametrize(
    "data",
    [
        b"a" * MAX_LINE_BYTES,  # at the limit: the fast path keeps it
        b"a" * (MAX_LINE_BYTES + 1) + b"\nok",  # one byte over: the general path cuts it
        b"ok\n" + "é".encode() * (MAX_LINE_BYTES // 2 + 1) + b"\n",  # the cut inside a character
        b"x" * MAX_LINE_BYTES + b"\r\nok",  # at the limit once CR is gone
    ],
    ids=["at-limit", "over-limit", "over-limit-multibyte", "at-limit-crlf"],
)
def test_fast_line_split_equals_the_general_one_around_the_length_limit(data: bytes):
    fast = lines_from_bytes(data)
    fast.validate(full=True)
    assert fast.equals(_general_lines(data))
    assert (sources._plain_lines(data) is not None) == _is_plain(data)


def test_globs_expand_sorted_and_a_missing_file_is_an_error(tmp_path: Path):
    for name in ("mail.log", "mail.log.1", "mail.log.2.gz"):
        (tmp_path / name).write_text(LINE)
    assert [p.name for p in expand_logs(["mail.log*"], tmp_path)] == [
        "mail.log",
        "mail.log.1",
        "mail.log.2.gz",
    ]
    with pytest.raises(InputError, match=r"no log file matches 'nothing\*'"):
        expand_logs(["nothing*"], tmp_path)
    with pytest.raises(InputError, match="log file not found"):
        expand_logs([tmp_path / "absent.log"])


def _years(texts: list[str], mtime: str, year: int | None) -> list[int]:
    lines = pd.DataFrame(
        {
            s.SOURCE: [0] * len(texts),
            s.LINE_NO: range(1, len(texts) + 1),
            s.RAW: pd.Series(texts, dtype="string[pyarrow]"),
        }
    )
    sources = pd.DataFrame({s.SOURCE: [0], "path": ["x"], "mtime": [pd.Timestamp(mtime)]})
    events = parse_lines(lines, sources, StampOptions("UTC", year))
    return events[s.TS].dt.year.tolist()


DEC_JAN = [
    "Dec 31 23:59:59 mail1 postfix/smtpd[1]: connect from a.example[100.64.0.1]",
    "Jan  1 00:00:01 mail1 postfix/smtpd[1]: disconnect from a.example[100.64.0.1]",
]


def test_year_from_modification_time_counts_back_over_new_year():
    assert _years(DEC_JAN, "2004-01-01T06:25:00Z", None) == [2003, 2004]


def test_year_option_is_the_year_of_the_first_line():
    assert _years(DEC_JAN, "2026-01-01T00:00:00Z", 2003) == [2003, 2004]


def test_a_file_written_before_new_year_but_read_after_keeps_its_year():
    # last line in November, file touched in January: the lines are from last year
    texts = ["Nov 30 10:00:00 mail1 postfix/smtpd[1]: connect from a.example[100.64.0.1]"]
    assert _years(texts, "2004-01-02T00:00:00Z", None) == [2003]


def test_local_time_zone_converts_classic_stamps_to_utc():
    lines = pd.DataFrame(
        {s.SOURCE: [0], s.LINE_NO: [1], s.RAW: pd.Series([DEC_JAN[0]], dtype="string[pyarrow]")}
    )
    sources = pd.DataFrame(
        {s.SOURCE: [0], "path": ["x"], "mtime": [pd.Timestamp("2004-01-01", tz="UTC")]}
    )
    events = parse_lines(lines, sources, StampOptions("America/New_York", 2003))
    assert events[s.TS].iloc[0].isoformat() == "2004-01-01T04:59:59+00:00"


def test_a_corrupt_compressed_file_is_an_input_error(tmp_path: Path):
    path = tmp_path / "mail.log.2.gz"
    path.write_bytes(gzip.compress((LINE * 100).encode())[:60])  # cut off mid-stream
    with pytest.raises(InputError, match="cannot read .*mail.log.2.gz"):
        read_logs([path])


# --- Reading as it goes: a line is cut while it is read, blocks are bounded in lines ---------


def _whole_file_lines(data: bytes) -> list[str]:
    """The lines of ``data`` read at once (the reference for reading it in pieces)."""
    body = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
    return lines_from_bytes(body).to_pylist() if data else []


# Short limits, so that hypothesis's short inputs cross every edge: a line cut across reads,
# a CR at a block's end, a block full of lines before its bytes.
TINY = {"MAX_LINE_BYTES": 8, "KEPT_BYTES": 10}


@SPLIT
@given(
    st.lists(st.one_of(any_bytes, st.binary(min_size=9, max_size=40)), max_size=6).map(b"".join),
    st.integers(1, 13),
    st.integers(1, 30),
    st.one_of(st.none(), st.integers(1, 4)),
)
@example(b"a" * 30 + b"\r\nb\n", 4, 5, 2)
@example(b"\n" * 9 + b"x" * 25, 3, 1, 1)
def test_reading_in_pieces_equals_reading_the_whole_file(
    data: bytes, read_bytes: int, block_bytes: int, max_lines: int | None
):
    with mock.patch.multiple(sources, READ_BYTES=read_bytes, **TINY):
        texts = list(sources.line_texts(io.BytesIO(data), block_bytes, max_lines))
        got, position = [], 0
        for text in texts:
            lines = lines_from_bytes(text.data).to_pylist()
            got += lines
            position += text.size
            assert len(lines) == text.lines <= (max_lines or text.lines)
            # what a block holds is bounded whatever the file (no line end in a gigabyte)
            assert len(text.data) < block_bytes + read_bytes + sources.KEPT_BYTES
            assert text.tail == data[max(position - sources.TAIL_BYTES, 0) : position]
        assert got == _whole_file_lines(data)
    assert position == len(data)
    assert all(text.whole for text in texts[:-1])


def test_a_file_without_a_line_end_is_read_once_in_bounded_memory(tmp_path: Path):
    path = tmp_path / "crashed.log"
    path.write_bytes(LINE.encode() + b"\0" * (24 * 2**20) + b"\n" + LINE.encode())
    tracemalloc.start()
    try:
        blocks = list(sources.read_blocks(path, 0, 2**20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 * 2**20  # a read and a cut line, never the 24 MB (it took 3x that)
    raw = pa.concat_arrays([b.lines for b in blocks]).to_pylist()
    assert raw[0] == raw[2] == LINE.rstrip("\n")
    assert raw[1].startswith("\0") and raw[1].endswith("line cut at 64 KiB]")
    assert blocks[-1].end == path.stat().st_size  # the offset counts every byte read


def _peak_bytes_to_read(path: Path, block_bytes: int) -> int:
    tracemalloc.start()
    try:
        for _block in sources.read_blocks(path, 0, block_bytes):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_a_line_without_end_holds_the_same_memory_however_long_it_is(tmp_path: Path):
    # The reader once joined each block to all it had read of the line: quadratic time,
    # and memory that grew with the line. Memory is what a test can see without a clock.
    short, long = tmp_path / "short.log", tmp_path / "long.log"
    short.write_bytes(b"x" * (8 * 2**20))
    long.write_bytes(b"x" * (32 * 2**20))
    short_peak, long_peak = _peak_bytes_to_read(short, 2**20), _peak_bytes_to_read(long, 2**20)
    assert long_peak < short_peak + 2**20  # 4x the line, not 4x the memory
    assert long_peak < 6 * 2**20


def test_runs_of_empty_lines_keep_samples_and_count_the_rest(tmp_path: Path):
    path = tmp_path / "mail.log"
    path.write_bytes(b"a\n" + b"\n" * 100 + b"b\n" + b"\r\n" * 2 + b"c")
    with mock.patch.object(sources, "READ_BYTES", 7):
        blocks = list(sources.read_blocks(path, 0, 50, max_lines=6, blank_samples=3))
    assert all(b.count <= 6 for b in blocks)  # a block is bounded in lines, kept or not
    assert sum(b.count for b in blocks) == 105
    kept, places, first = [], [], 0
    for block in blocks:
        kept += block.lines.to_pylist()
        own = range(len(block.lines)) if block.places is None else block.places
        places += [first + int(p) for p in own]
        first += block.count
    assert kept == ["a", "", "", "", "b", "", "", "c"]  # a run goes on across blocks
    assert places == [0, 1, 2, 3, 101, 102, 103, 104]
    assert sum(b.blank for b in blocks) == 97


def test_a_byte_range_is_read_alone(tmp_path: Path):
    path = tmp_path / "mail.log"
    path.write_bytes(b"one\ntwo\nthree\nfour\n")
    (block,) = sources.read_blocks(path, 4, stop=14)
    assert block.lines.to_pylist() == ["two", "three"]
    assert (block.end, block.tail) == (14, b"two\nthree\n")  # the bytes read before the end
