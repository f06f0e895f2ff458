"""Giving memory back after a request: a view of a month of sessions is read, summarised
and dropped, but neither glibc's malloc nor Arrow's pool hand freed memory back to the
system by themselves, so the server's RSS would stay at its largest request's size.

Arrow allocates from the system's malloc in the server (``ARROW_DEFAULT_MEMORY_POOL``, set
before pyarrow loads: analyzer/__init__.py, dashboard/__init__.py), not its default
mimalloc: measured on a 12 M-line store, mimalloc kept 190-250 MB after the Overview and
Risk pages however asked to release them; malloc, trimmed after each request, returned to
within 15 MB of the server's size at start, at the same speed."""

from __future__ import annotations

import ctypes
import ctypes.util

import flask
import pyarrow as pa


def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def give_back_memory(server: flask.Flask) -> None:
    """After each request, return freed memory to the system (a few milliseconds)."""
    trim = _malloc_trim()

    @server.teardown_request
    def _give_back(_error: BaseException | None) -> None:
        pa.default_memory_pool().release_unused()
        if trim is not None:
            trim(0)
