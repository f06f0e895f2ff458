"""Batch commands keep the memory they free (glibc): no page faults for a chunk's worth again."""

from __future__ import annotations

import subprocess
import sys

# In a child: the test process itself keeps glibc's defaults.
CHILD = """
import resource, sys
from analyzer.io.memory import keep_freed_memory

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
