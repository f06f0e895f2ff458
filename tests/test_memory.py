"""Batch commands keep the memory they free (glibc): no page faults for a chunk's worth again;
and ``ingest``'s memory stays bounded on hostile input (README "Bad input")."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# In a child: the test process itself keeps glibc's defaults.
CHILD = """
import resource, sys
from analyzer.store.memory import keep_freed_memory

applied = keep_freed_memory() if sys.argv[1] == "keep" else False


def faults_of_a_fresh_block():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    # 40 MB, every page written: above glibc's largest heap size (32 MB) by default, and
    # plain pages (numpy would ask for huge pages, and fault 2 MB at a time)
    block = b"x" * (40 * 2**20)
    del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


faults_of_a_fresh_block()  # the first time, pages must be faulted in either way
print(applied, faults_of_a_fresh_block())
"""


def faults_the_second_time(mode: str) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1])


def test_freed_memory_is_reused_without_faulting_pages_in_again():
    applied, faults = faults_the_second_time("keep")
    assert applied == "True"
    assert faults < 1_000  # 40 MB is 10,240 pages of 4 KiB


def test_by_default_glibc_hands_big_blocks_back_and_faults_them_in_again():
    applied, faults = faults_the_second_time("default")
    assert applied == "False"
    assert faults > 9_000


TRIM = """
import sys
from analyzer.store.memory import keep_freed_memory, release_freed_memory


def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


keep_freed_memory()
blocks = [b"x" * (2**20) for _ in range(80)]  # 80 MB on the heap, kept when freed
del blocks
kept = rss_kib()
print(release_freed_memory(), kept - rss_kib())
"""


def test_release_gives_back_what_the_kept_heap_holds():
    # what ingest does after its last chunk, before judging the accounts
    out = subprocess.run(
        [sys.executable, "-c", TRIM], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "True"
    assert int(out[1]) > 60 * 1024  # KiB: most of the 80 MB freed went back


POOL = """
import sys
sys.argv = ["relaywatch", *sys.argv[1:]]
import analyzer  # chooses Arrow's pool from the command, before pyarrow loads
import pyarrow as pa

print(pa.default_memory_pool().backend_name)
"""


@pytest.mark.parametrize(
    ("command", "expected"),
    [(["report", "--eml", "x"], "system"), (["-v", "export", "sessions"], "system"),
     (["serve"], "system"), (["ingest"], None)],
)  # fmt: skip
def test_arrow_allocates_from_malloc_in_every_command_but_ingest(command, expected):
    # mimalloc keeps what a report or an export freed (their RSS stays at the largest
    # read's); ingest keeps Arrow's default, faster for its chunks of one size
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run(
        [sys.executable, "-c", POOL, *command], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert out == expected if expected else out in ("mimalloc", "jemalloc")


# --- ingest on hostile input, scaled down from benchmarks/bench_hostile.py -----------------

MIB = 2**20
# Well under what each input took before reading was bounded (0.5-3 GB, the gzip of empty
# lines minutes), well over what it takes now (140-250 MB: imports and one small chunk).
PEAK_RSS_BOUND_MIB = 400


def _repeated(unit: bytes, total: int, compress: bool = False) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        block = unit * (16 * MIB // len(unit))
        with gzip.open(path, "wb", compresslevel=1) if compress else open(path, "wb") as out:
            for start in range(0, total, len(block)):
                out.write(block[: total - start])

    return write


HOSTILE = {
    "256MiB-without-a-line-end": _repeated(b"x", 256 * MIB),  # parsed by helper processes
    "2MiB-of-empty-lines": _repeated(b"\n", 2 * MIB),
    "1MiB-of-two-byte-junk-lines": _repeated(b"x\n", MIB),
    "gzip-of-256MiB-of-NULs": _repeated(b"\0", 256 * MIB, compress=True),
    "gzip-of-8MiB-of-empty-lines": _repeated(b"\n", 8 * MIB, compress=True),
}


# Linux keeps a process's peak RSS across fork and exec: a command started straight from a
# test worker that has grown to 450 MB reports 450 MB whatever it uses. So a small Python
# starts it and reports what wait4 says of it (and of the helpers it reaped).
MEASURE = """
import os, sys
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, flush=True)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss_mib(command: list[str], timeout_s: float = 300) -> float:
    """The peak RSS of ``command``'s largest process (wait4 counts the children it reaped:
    the helpers that parse ahead); ``command`` is a Python command line."""
    assert command[0] == sys.executable
    measured = [sys.executable, "-c", MEASURE, *command[1:]]
    try:
        done = subprocess.run(measured, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout_s} s: {command}")
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) / 1024


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_ingest_of_hostile_input_stays_within_bounded_memory(name: str, tmp_path: Path):
    log = tmp_path / ("mail.log.gz" if name.startswith("gzip") else "mail.log")
    HOSTILE[name](log)
    os.utime(log, (time.time() - 600, time.time() - 600))  # a last line without end: read it
    command = [sys.executable, "-m", "analyzer", "ingest", str(log), "--year", "2003"]
    command += ["--timezone", "UTC", "--store", str(tmp_path / "store")]
    peak = peak_rss_mib(command)
    assert peak < PEAK_RSS_BOUND_MIB, f"{name}: {peak:.0f} MiB"
