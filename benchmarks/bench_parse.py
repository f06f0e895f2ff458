#!/usr/bin/env python3
"""Throughput benchmark: relaywatch vs. pflogsumm on the same generated Postfix log.

Generates a log with the sample generator (``--scale`` multiplies the sample traffic;
scale 35 gives about a million lines), joins the rotated files into one plain file, then times

  relaywatch export sessions FILE  (parse, sessions, classes, CSV)
  pflogsumm FILE                   (when installed: Debian package ``pflogsumm``)

each as a separate process, and prints wall time, lines/s and peak RSS (``os.wait4``).

    python benchmarks/bench_parse.py --scale 35

This is a measurement, not a test: nothing asserts on time.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_generator():
    spec = importlib.util.spec_from_file_location("generate", ROOT / "sample_logs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_log(work: Path, scale: float) -> tuple[Path, Path, int]:
    """Generate the samples at ``scale`` and join the Postfix files, oldest first."""
    out = work / "samples"
    load_generator().generate(out, seed=2003, scale=scale, postfix_only=True)
    joined = work / "mail.log"
    with open(joined, "wb") as target:
        for name in ("mail.log.3.gz", "mail.log.2.gz", "mail.log.1", "mail.log"):
            path = out / "postfix" / name
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rb") as source:
                shutil.copyfileobj(source, target, 1 << 20)
    with open(joined, "rb") as handle:
        count = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
    return joined, out / "customers.csv", count


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}\n{process.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=35.0, help="sample traffic multiplier")
    parser.add_argument(
        "--keep", type=Path, help="keep the generated log in this folder (and reuse it next time)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool (best is shown)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="relaywatch-bench-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    if (work / "mail.log").is_file() and args.keep is not None:  # reuse a kept log
        log, customers = work / "mail.log", work / "samples" / "customers.csv"
        with open(log, "rb") as handle:
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
    else:
        log, customers, lines = build_log(work, args.scale)
    size_mb = log.stat().st_size / 1e6
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"log: {lines:,} lines, {size_mb:,.0f} MB ({log})")

    tools = {
        "relaywatch": [
            sys.executable,
            "-m",
            "analyzer",
            "export",
            "sessions",
            str(log),
            "--customers",
            str(customers),
            "--year",
            "2003",
            "--timezone",
            "America/New_York",
            "-o",
            os.devnull,
        ],
    }
    if shutil.which("pflogsumm"):
        tools["pflogsumm"] = ["pflogsumm", str(log)]
    else:
        print("pflogsumm: not installed (apt-get install pflogsumm), skipped")

    results = {}
    for name, command in tools.items():
        runs = [measure(command) for _ in range(args.repeat)]
        seconds, rss = min(runs)
        results[name] = seconds
        rate = lines / seconds
        print(f"{name:<12} {seconds:8.2f} s  {rate:12,.0f} lines/s  peak RSS {rss:7.0f} MiB")
    if "pflogsumm" in results:
        print(
            f"relaywatch is {results['pflogsumm'] / results['relaywatch']:.1f}x pflogsumm's speed"
        )
    if args.keep is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
