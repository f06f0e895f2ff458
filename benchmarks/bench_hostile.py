#!/usr/bin/env python3
"""Peak memory and time of ``relaywatch ingest`` on hostile input (README "Bad input").

Writes each input, then runs ``relaywatch ingest FILE --store (fresh)`` as a separate process
and prints its wall time and peak RSS (the process tree's sum, as ``bench_parse.py``):

  no-newline     1 GiB of text without a line end (one line, cut at 64 KiB)
  blank-lines    16 MiB of empty lines (16.8 million lines)
  short-junk     16 MiB of two-byte lines no rule knows (8.4 million malformed lines)
  gzip-zeros     a gzip holding 3 GiB of NUL bytes (one line)
  gzip-blank     a gzip holding 500 MiB of empty lines (524 million lines)
  nuls-in-log    a real log with 32 MiB of NULs (a crash) in its middle

The files are dated 10 minutes back, so a last line without its newline is read now rather
than left for its writer to finish. ``--scale 0.0625`` runs the same at 1/16 of the sizes.

    python benchmarks/bench_hostile.py --keep /tmp/hostile
    python benchmarks/bench_hostile.py --scale 0.0625 --only blank-lines gzip-blank

This is a measurement, not a test (``tests/test_memory.py`` asserts bounds on small sizes).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_parse import ROOT, measure

MIB = 2**20
WRITE_BYTES = 16 * MIB  # what is written at a time: generating must not need the memory


def write_repeated(path: Path, unit: bytes, total: int, compress: bool = False) -> None:
    """``total`` bytes of ``unit`` repeated (gzip-compressed with ``compress``)."""
    block = unit * (WRITE_BYTES // len(unit))
    opener = gzip.open(path, "wb", compresslevel=6) if compress else open(path, "wb")
    with opener as out:
        left = total
        while left > 0:
            out.write(block[:left])
            left -= min(left, len(block))


def write_nuls_in_log(path: Path, nul_bytes: int) -> None:
    """The sample Postfix log, a run of NULs without a line end, then the log again."""
    text = (ROOT / "sample_logs" / "postfix" / "mail.log").read_bytes()
    with open(path, "wb") as out:
        out.write(text)
        left = nul_bytes
        while left > 0:
            out.write(b"\0" * min(left, WRITE_BYTES))
            left -= min(left, WRITE_BYTES)
        out.write(text)


def inputs(scale: float) -> dict[str, tuple[str, Callable[[Path], None]]]:
    """Name -> (file name, writer) at ``scale`` of the finding's sizes."""

    def size(full: int) -> int:
        return max(int(full * scale), 1)

    return {
        "no-newline": ("no-newline.log", lambda p: write_repeated(p, b"x", size(1024 * MIB))),
        "blank-lines": ("blank-lines.log", lambda p: write_repeated(p, b"\n", size(16 * MIB))),
        "short-junk": ("short-junk.log", lambda p: write_repeated(p, b"x\n", size(16 * MIB))),
        "gzip-zeros": (
            "zeros.log.gz",
            lambda p: write_repeated(p, b"\0", size(3072 * MIB), compress=True),
        ),
        "gzip-blank": (
            "blank-lines.log.gz",
            lambda p: write_repeated(p, b"\n", size(500 * MIB), compress=True),
        ),
        "nuls-in-log": ("nuls-in-log.log", lambda p: write_nuls_in_log(p, size(32 * MIB))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the inputs in this folder")
    parser.add_argument("--only", nargs="*", help="run only these inputs")
    parser.add_argument("--chunk-mb", type=int, help="pass --chunk-mb N to ingest")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="relaywatch-hostile-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    chosen = inputs(args.scale)
    for name in args.only or chosen:
        file_name, write = chosen[name]
        path = work / f"{args.scale:g}-{file_name}"
        if not path.is_file():
            write(path)
        old = time.time() - 600
        os.utime(path, (old, old))
        store = work / "store"
        shutil.rmtree(store, ignore_errors=True)
        command = [sys.executable, "-m", "analyzer", "ingest", str(path), "--store", str(store)]
        command += ["--year", "2003", "--timezone", "America/New_York"]
        if args.chunk_mb:
            command += ["--chunk-mb", str(args.chunk_mb)]
        seconds, rss = measure(command)
        problems = sum(f.stat().st_size for f in (store / "problems").rglob("*") if f.is_file())
        print(
            f"{name:<12} {path.stat().st_size / MIB:9.1f} MiB on disk  {seconds:7.1f} s  "
            f"peak RSS {rss:6.0f} MiB  problems stored {problems / 1024:9,.0f} KiB",
            flush=True,
        )
        shutil.rmtree(store, ignore_errors=True)
    if args.keep is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
