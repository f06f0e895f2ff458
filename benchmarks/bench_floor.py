#!/usr/bin/env python3
"""The floor: what the parsing stack alone costs on a log, beside pflogsumm on the same file.

Runs a deliberately incomplete pipeline, the least any relaywatch ingest must do to know a
line's fields: read the bytes, split them into an arrow string array without a copy, extract
the syslog header (the two usual shapes, classic and RFC 3339), then each Postfix rule of
``analyzer.reading.patterns.postfix`` on the lines of its daemon (a DFA match, then group extraction
on the lines that matched, first match wins) - exactly how ``analyzer.reading.parse`` runs them.
Nothing else: no time stamps, no damaged-line handling, no sessions, no store. The file is
split at a line end into one byte range per process (forked after the imports), like
``relaywatch ingest``'s helpers.

    python benchmarks/bench_floor.py /tmp/b35/mail.log --repeat 3

Prints the phases of the first range (seconds of one process), the wall time of the whole
run from interpreter start, and pflogsumm's wall time on the same file when installed. A
complete ingest cannot be faster than this floor. This is a measurement, not a test.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402  (the imports are part of what is measured)
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402, F401  (every relaywatch command imports it)
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from analyzer.reading.dispatch import whole_line_pattern  # noqa: E402
from analyzer.reading.patterns._fragments import SYSLOG_HEADER_CLASSIC, SYSLOG_HEADER_ISO  # noqa: E402
from analyzer.reading.patterns.postfix import POSTFIX_RULES  # noqa: E402

IMPORTED = time.perf_counter()


def lines_of(data: bytes) -> pa.LargeStringArray:
    """One string per line, over ``data`` itself: each string starts at the previous line's
    newline (the patterns below allow it), so no byte is copied."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    offsets = np.r_[0, ends].astype(np.int64)
    return pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))


def after_newline(pattern: str) -> str:
    return pattern.replace("^", "^\n?", 1)


def parse_range(path: Path, start: int, stop: int) -> dict[str, float]:
    """The floor's work on bytes ``start``..``stop`` of ``path``; seconds per phase."""
    spent = {}
    clock = time.perf_counter()
    with open(path, "rb") as handle:
        handle.seek(start)
        lines = lines_of(handle.read(stop - start))
    spent["read + split"], clock = time.perf_counter() - clock, time.perf_counter()

    program = pc.struct_field(
        pc.extract_regex(lines, after_newline(SYSLOG_HEADER_CLASSIC)), "program"
    )
    iso = np.flatnonzero(program.is_null().to_numpy(zero_copy_only=False))
    if len(iso):  # RFC 3339 stamps only where the classic shape failed
        found = pc.extract_regex(lines.take(pa.array(iso)), after_newline(SYSLOG_HEADER_ISO))
        position = np.full(len(lines), -1)
        position[iso] = np.arange(len(iso))
        spread = pc.struct_field(found, "program").take(pa.array(position, mask=position < 0))
        program = pc.coalesce(program, spread)
    daemon = pc.replace_substring_regex(program, r"^.*/", "")
    encoded = pc.dictionary_encode(daemon)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    spent["header + daemon"], clock = time.perf_counter() - clock, time.perf_counter()

    spent["rules: match"] = spent["rules: extract"] = 0.0
    for code, name in enumerate(encoded.dictionary.to_pylist()):
        rows = np.flatnonzero(codes == code)
        subset = lines.take(pa.array(rows))
        unmatched = np.ones(len(rows), dtype=bool)
        for rule in POSTFIX_RULES:
            if name not in rule.daemons:
                continue
            pattern = after_newline(whole_line_pattern(rule.regex))
            clock = time.perf_counter()
            hit = pc.match_substring_regex(subset, pattern).to_numpy(zero_copy_only=False)
            hit &= unmatched
            spent["rules: match"] += time.perf_counter() - clock
            if hit.any():
                clock = time.perf_counter()
                pc.extract_regex(subset.filter(pa.array(hit)), pattern)
                spent["rules: extract"] += time.perf_counter() - clock
                unmatched &= ~hit
    return spent


def cuts(path: Path, parts: int) -> list[int]:
    """``parts`` + 1 byte offsets of ``path``, each just after a newline."""
    size = path.stat().st_size
    offsets = [0]
    with open(path, "rb") as handle:
        for part in range(1, parts):
            handle.seek(size * part // parts)
            handle.readline()
            offsets.append(handle.tell())
    return [*offsets, size]


def run(path: Path, processes: int) -> None:
    """The floor's whole run (this process and its forked children); prints phases."""
    bounds = cuts(path, processes)
    children = []
    for start, stop in zip(bounds[1:-1], bounds[2:], strict=True):
        child = os.fork()
        if child == 0:
            parse_range(path, start, stop)
            os._exit(0)
        children.append(child)
    spent = parse_range(path, bounds[0], bounds[1])
    for child in children:
        os.waitpid(child, 0)
    phases = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in spent.items())
    print(f"imports {IMPORTED - STARTED:.2f} s; first range: {phases}", file=sys.stderr)


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="a plain-text Postfix log (e.g. from bench_parse)")
    parser.add_argument("--processes", type=int, default=2, help="processes (default: 2)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (best is shown)")
    parser.add_argument("--run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:  # the measured child: starts from a fresh interpreter
        run(args.log, args.processes)
        return
    from bench_parse import count_lines  # here: the measured child need not import it

    lines = count_lines(args.log)
    me = [sys.executable, __file__, str(args.log), "--processes", str(args.processes), "--run"]
    floor = min(wall(me) for _ in range(args.repeat))
    processes = f"{args.processes} process" + ("es" if args.processes > 1 else "")
    print(f"{lines:,} lines, {processes}, {os.cpu_count()} cores")
    print(f"floor (read, header, rules only) {floor:6.2f} s {lines / floor:11,.0f} lines/s")
    if shutil.which("pflogsumm"):
        theirs = min(wall(["pflogsumm", str(args.log)]) for _ in range(args.repeat))
        print(f"pflogsumm                        {theirs:6.2f} s {lines / theirs:11,.0f} lines/s")
        print(f"floor is {theirs / floor:.2f}x pflogsumm's speed (3x needs <= {theirs / 3:.2f} s)")


if __name__ == "__main__":
    main()
