#!/usr/bin/env python3
"""Batch benchmark: the time and peak memory of `relaywatch report` and of every `export`
from a store, for stores of different sizes side by side.

Each store is given by ``--config`` (a relaywatch.toml whose store ``relaywatch ingest`` has
filled). It is ingested again first, as the cron job would: that reads what is new and keeps
the judged accounts the mail and the exports read. Then each command runs once in a process
of its own, as a user runs it:

    report --eml F --no-dns --no-ingest         the nightly mail of the last complete day
    export KIND --no-dns -o F                   every KIND, over the whole store
    export accounts --since D --until D         one day's accounts (the Risk page's question)

For each it prints the wall time and the process's peak RSS (``wait4``'s ``ru_maxrss``),
and, with two stores or more, the last store's peak over the first's: what "bounded
memory, whatever the store size" asks to stay near 1.

    python benchmarks/bench_batch.py --config /tmp/big/s100/relaywatch.toml \\
        --config /tmp/big/s300/relaywatch.toml

Make such stores with ``python sample_logs/generate.py --out DIR --scale N`` and
``relaywatch ingest --config DIR/relaywatch.toml`` (scale 100: ~4 M lines; 300: ~12 M).

This is a measurement, not a test: nothing asserts on time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

KINDS = (
    "sessions", "customers", "readiness-daily", "offenders", "blocklist", "accounts", "risk",
)  # fmt: skip


@dataclass
class Run:
    command: str
    store: str
    seconds: float
    peak_mb: float
    status: int


def relaywatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "analyzer", *args]


def measured(args: list[str]) -> tuple[float, float, int]:
    """Run ``args``; its wall time, peak RSS (MB) and exit status."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        print(f"{' '.join(args[2:])}: exit {process.returncode}\n{errors}", file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024, process.returncode


def last_day(config: Path) -> dt.date:
    """The day before the store's last session day (the nightly mail's day)."""
    code = (
        "import sys; from analyzer.jobs import open_data; from analyzer.store import tables; "
        "from analyzer.settings.config import load_settings; "
        "print(tables.session_days(open_data(load_settings(sys.argv[1])))[1])"
    )
    found = subprocess.run(
        [sys.executable, "-c", code, str(config)], capture_output=True, text=True, check=True
    )
    return dt.date.fromisoformat(found.stdout.strip()) - dt.timedelta(days=1)


def bench(config: Path, work: Path) -> list[Run]:
    store = config.parent.name
    subprocess.run(relaywatch("ingest", "--config", str(config)), check=True, capture_output=True)
    day = last_day(config).isoformat()
    commands = {"report --eml": ["report", "--eml", str(work / "report.eml"), "--no-ingest"]}
    for kind in KINDS:
        commands[f"export {kind}"] = ["export", kind, "-o", str(work / f"{kind}.csv")]
    commands["export accounts (a day)"] = [
        "export", "accounts", "--since", day, "--until", day, "-o", str(work / "day.csv"),
    ]  # fmt: skip
    runs = []
    for name, args in commands.items():
        seconds, peak, status = measured(relaywatch(*args, "--config", str(config), "--no-dns"))
        runs.append(Run(name, store, seconds, peak, status))
        print(f"{store}: {name}: {seconds:.1f} s, {peak:.0f} MB", file=sys.stderr)
    return runs


def table(runs: list[Run], stores: list[str]) -> str:
    head = "| command | " + " | ".join(f"{s} s | {s} peak MB" for s in stores)
    ratio = len(stores) > 1
    lines = [head + (" | peak ratio |" if ratio else " |")]
    lines.append("|---" * (1 + 2 * len(stores) + ratio) + "|")
    for command in dict.fromkeys(r.command for r in runs):
        found = {r.store: r for r in runs if r.command == command}
        cells = [f"{found[s].seconds:.1f} | {found[s].peak_mb:.0f}" for s in stores]
        row = f"| {command} | " + " | ".join(cells)
        if ratio:
            row += f" | {found[stores[-1]].peak_mb / found[stores[0]].peak_mb:.2f}×"
        lines.append(row + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, action="append", required=True)
    parser.add_argument("--json", type=Path, help="also write the runs here")
    args = parser.parse_args()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as work:
        for config in args.config:
            runs.extend(bench(config.resolve(), Path(work)))
    stores = list(dict.fromkeys(r.store for r in runs))
    print(table(runs, stores))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return 1 if any(r.status for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
