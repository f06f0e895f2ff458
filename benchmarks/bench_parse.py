#!/usr/bin/env python3
"""Throughput benchmark: relaywatch ingest vs. pflogsumm (and eximstats) on the same logs.

Generates logs with the sample generator (``--scale`` multiplies the sample traffic; scale 35
gives about a million Postfix lines, 140 about four million; the Exim mainlog is generated at
four times the scale, so it has about as many lines), joins the rotated files into one plain
file per format, then times, each as a separate process on the same file:

  relaywatch ingest FILE --store (fresh)   parse, sessions, store (the nightly/cron job)
  relaywatch export sessions FILE          parse, sessions, classes, CSV (no store)
  pflogsumm FILE                           when installed (Debian package ``pflogsumm``)
  eximstats FILE  (on the Exim mainlog)    when installed (Debian package ``exim4-base``)

and prints wall time, lines/s and peak RSS. RSS is the peak of the process tree's sum (with
psutil, sampled every 20 ms: ingest parses in a helper process), else the largest process.

    python benchmarks/bench_parse.py --scale 35 --keep /tmp/bench35 --repeat 2

With ``--digests FILE`` it then exports every kind (``tests/test_export_digests.py``'s list)
from the two stores it ingested and compares their sha256 with FILE, or writes FILE if there
is none: run it on the code before a speed change, then after, with the same ``--keep``
folder (an Exim mainlog's server is named after its folder), to know that not one byte a
user gets has changed on the big logs (the test does it on the sample).

This is a measurement, not a test: nothing asserts on time.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import json
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


def build_logs(work: Path, scale: float, exim_scale: float | None = None) -> None:
    """Generate the samples at ``scale`` (the Exim mainlog at ``exim_scale``, default the
    same); join each format's rotated files, oldest first."""
    out = work / "samples"
    load_generator().generate(out, seed=2003, scale=scale)
    exim_out = out
    if exim_scale is not None and exim_scale != scale:
        exim_out = work / "samples-exim"
        load_generator().generate(exim_out, seed=2003, scale=exim_scale)
    for joined, folder, names in (
        ("mail.log", "postfix", ("mail.log.3.gz", "mail.log.2.gz", "mail.log.1", "mail.log")),
        (
            "exim-mainlog",
            "exim/exim4-mx3",
            ("mainlog.3.gz", "mainlog.2.gz", "mainlog.1", "mainlog"),
        ),
    ):
        with open(work / joined, "wb") as target:
            for name in names:
                path = (exim_out if joined == "exim-mainlog" else out) / folder / name
                opener = gzip.open if name.endswith(".gz") else open
                with opener(path, "rb") as source:
                    shutil.copyfileobj(source, target, 1 << 20)


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process (and its helpers, with psutil)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    if psutil is not None:
        tree = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                members = [tree, *tree.children(recursive=True)]
                peak = max(peak, sum(m.memory_info().rss for m in members))
            except psutil.Error:
                pass
            time.sleep(0.02)
    _, status, usage = os.wait4(process.pid, 0) if psutil is None else (0, 0, None)
    code = process.returncode if psutil is not None else os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if code != 0:
        sys.exit(f"failed: {' '.join(command)}\n{process.stderr.read().decode()}")
    rss = peak / 2**20 if psutil is not None else usage.ru_maxrss / 1024
    return elapsed, rss


def export_digests(stores: dict[str, Path], export: list[str], common: list[str]) -> dict:
    """sha256 of every kind of export (the list of ``tests/test_export_digests.py``) from
    each of ``stores``, by "store/name"."""
    sys.path.insert(0, str(ROOT))
    from tests.test_export_digests import EXPORTS

    found = {}
    for label, folder in stores.items():
        for name, kind in EXPORTS:
            command = [*export, *kind, *common, "--store", str(folder)]
            out = subprocess.run(command, capture_output=True, check=True).stdout
            found[f"{label}/{name}"] = hashlib.sha256(out).hexdigest()
    return found


def check_digests(path: Path, found: dict[str, str]) -> bool:
    """Compare ``found`` with the digests recorded in ``path`` (record them if there are
    none); print the result. False if any differs."""
    if not path.is_file():
        path.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
        print(f"exports: {len(found)} digests written to {path}")
        return True
    recorded = json.loads(path.read_text())
    changed = sorted(k for k in recorded.keys() | found.keys() if recorded.get(k) != found.get(k))
    if changed:
        print(f"exports: {len(changed)} of {len(recorded)} differ from {path}:", ", ".join(changed))
        return False
    print(f"exports: all {len(found)} byte-identical to {path}")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=35.0, help="sample traffic multiplier")
    parser.add_argument(
        "--exim-scale",
        type=float,
        help="traffic multiplier of the Exim mainlog (default: 4x --scale, as many lines as "
        "the Postfix log: the Exim server carries a quarter of the sample's traffic)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the generated logs in this folder (and reuse them next time)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool (best is shown)")
    parser.add_argument(
        "--digests",
        type=Path,
        help="then export every kind from the stores ingested and compare their sha256 with "
        "this JSON file (written when missing)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="relaywatch-bench-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    log, exim_log = work / "mail.log", work / "exim-mainlog"
    if not (log.is_file() and exim_log.is_file() and args.keep is not None):
        build_logs(work, args.scale, args.exim_scale or 4 * args.scale)
    customers = work / "samples" / "customers.csv"
    lines, exim_lines = count_lines(log), count_lines(exim_log)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"Postfix log: {lines:,} lines, {log.stat().st_size / 1e6:,.0f} MB ({log})")
    print(f"Exim log:    {exim_lines:,} lines, {exim_log.stat().st_size / 1e6:,.0f} MB")

    common = ["--customers", str(customers), "--year", "2003", "--timezone", "America/New_York"]
    relaywatch = [sys.executable, "-m", "analyzer"]
    store = work / "bench-store"
    tools: dict[str, tuple[list[str], int]] = {
        "relaywatch ingest": (
            [*relaywatch, "ingest", str(log), *common, "--store", str(store)],
            lines,
        ),
        "relaywatch export": (
            [*relaywatch, "export", "sessions", str(log), *common, "-o", os.devnull],
            lines,
        ),
    }
    if shutil.which("pflogsumm"):
        tools["pflogsumm"] = (["pflogsumm", str(log)], lines)
    else:
        print("pflogsumm: not installed (apt-get install pflogsumm), skipped")
    tools["relaywatch ingest (Exim)"] = (
        [*relaywatch, "ingest", str(exim_log), *common, "--store", str(store) + "-exim"],
        exim_lines,
    )
    if shutil.which("eximstats"):
        tools["eximstats"] = (["eximstats", str(exim_log)], exim_lines)
    else:
        print("eximstats: not installed (apt-get install exim4-base), skipped")

    results = {}
    for name, (command, count) in tools.items():
        runs = []
        for _ in range(args.repeat):
            if "--store" in command:  # every ingest starts empty
                shutil.rmtree(command[command.index("--store") + 1], ignore_errors=True)
            runs.append(measure(command))
        seconds, rss = min(runs)
        results[name] = seconds
        print(
            f"{name:<26} {seconds:7.2f} s {count / seconds:11,.0f} lines/s  peak RSS {rss:6.0f} MiB"
        )
    for ours, theirs in (
        ("relaywatch ingest", "pflogsumm"),
        ("relaywatch ingest (Exim)", "eximstats"),
    ):
        if theirs in results:
            print(f"{ours} is {results[theirs] / results[ours]:.2f}x {theirs}'s speed")
    if args.digests is not None:
        stores = {"postfix": store, "exim": Path(str(store) + "-exim")}
        if not check_digests(args.digests, export_digests(stores, [*relaywatch, "export"], common)):
            sys.exit(1)
    if args.keep is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
