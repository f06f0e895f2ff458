#!/usr/bin/env python3
"""Long fuzz run (outside CI): mutate real-format log lines and run the whole pipeline.

Takes the bundled Postfix sample logs (or ``--log FILE``), repeats them up to ``--lines`` lines
(default 1 M), mutates a share of them — flipped and inserted bytes, NULs, invalid UTF-8,
truncation, a line cut in two, a 1 MB line, swapped header fields, CRLF — writes the result
as a plain file and runs ``relaywatch export sessions`` on it in-process. It fails (exit 1)
on any exception, and prints how the lines were accounted for: every input line must be a
matched, ignored, unmatched or malformed line, none lost.

    python benchmarks/fuzz_lines.py --lines 1000000 --seed 7
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from analyzer import jobs
from analyzer.reading.sources import expand_logs, read_logs
from analyzer.settings.config import DEMO_CONFIG, load_settings


def mutate(line: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(9)
    if kind == 0 and line:  # flip a byte
        i = rng.randrange(len(line))
        return line[:i] + bytes([rng.randrange(256)]) + line[i + 1 :]
    if kind == 1:  # insert random bytes (never a line break: that is kind 5)
        i = rng.randrange(len(line) + 1)
        junk = bytes(b for b in rng.randbytes(rng.randrange(1, 40)) if b not in (10, 13))
        return line[:i] + junk + line[i:]
    if kind == 2:
        return line[: rng.randrange(len(line) + 1)]  # truncated
    if kind == 3:
        return line.replace(b" ", b"\x00", rng.randrange(1, 4))
    if kind == 4:
        return b"\xff\xfe" + line + b"\xc3\x28"  # invalid UTF-8
    if kind == 5:
        i = rng.randrange(len(line) + 1)
        return line[:i] + b"\n" + line[i:]  # one line becomes two
    if kind == 6:
        return line + b"A" * 1_000_000  # a 1 MB line
    if kind == 7:
        parts = line.split(b" ")
        rng.shuffle(parts)
        return b" ".join(parts)
    return line + b"\r"  # CRLF


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, help="real-format log to mutate (default: samples)")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--share", type=float, default=0.05, help="share of lines mutated")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    settings = load_settings(DEMO_CONFIG)
    # Postfix only by default: Exim lines in a syslog file are simply malformed.
    paths = [args.log] if args.log else expand_logs(["postfix/mail.log*"], settings.base_dir)
    texts, _ = read_logs(paths)
    source = [line.encode("utf-8", "surrogateescape") for line in texts["raw"].astype(str)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzzed.log"
        written = 0
        with path.open("wb") as out:
            while written < args.lines:
                for line in source:
                    if written >= args.lines:
                        break
                    if rng.random() < args.share:
                        line = mutate(line, rng)
                    out.write(line + b"\n")
                    written += 1 + line.count(b"\n")
        started = time.perf_counter()
        try:
            analysis = jobs.analyse_logs(settings, logs=[str(path)])
        except Exception as exc:  # the point of the run: report any crash
            print(f"CRASH after {time.perf_counter() - started:.1f} s: {exc!r}", file=sys.stderr)
            raise
        seconds = time.perf_counter() - started
    counts = analysis.lines[["lines", "matched", "ignored", "unmatched", "malformed"]].sum()
    print(f"{written:,} lines written ({args.share:.0%} mutated, seed {args.seed})")
    print(f"analysed in {seconds:.1f} s: {len(analysis.sessions):,} sessions")
    print(", ".join(f"{name} {int(value):,}" for name, value in counts.items()))
    accounted = int(
        counts["matched"] + counts["ignored"] + counts["unmatched"] + counts["malformed"]
    )
    if accounted != int(counts["lines"]):
        print(f"LOST LINES: {int(counts['lines']) - accounted}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
