"""Files relaywatch writes for its user: customer data, so owner-only by default.

The store, ``export -o`` files, the mail spool and ``--eml`` files get the permission bits
of the ``file_mode`` setting (``0o600``; ``0o640`` lets the file's group read them), and
their folders the same with search bits where read bits are (``0o700``, ``0o750``). The bits
are set explicitly, whatever the process's umask.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from analyzer.errors import InputError

FILE_MODE = 0o600


def folder_mode(file_mode: int) -> int:
    """The mode of a folder holding files of ``file_mode``: read bits get search bits."""
    return file_mode | (file_mode & 0o444) >> 2


def make_private_folder(folder: Path, file_mode: int = FILE_MODE) -> None:
    """Make ``folder`` and its missing parents; those made get ``folder_mode(file_mode)``,
    folders that existed keep theirs."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    for made in missing:
        with contextlib.suppress(PermissionError):  # made by another user meanwhile: theirs
            os.chmod(made, folder_mode(file_mode))


def write_output(path: str, text: str | Iterable[str], file_mode: int = FILE_MODE) -> None:
    """Write ``text`` (UTF-8; or its pieces, one after the other) to the file ``path``
    (``export -o``). A new file gets
    ``file_mode``; an existing regular file of this user keeps its mode, narrowed to
    ``file_mode`` (a file shared before is not shared on)."""
    try:
        with os.fdopen(_open_output(path, file_mode), "w", encoding="utf-8", newline="") as out:
            for piece in [text] if isinstance(text, str) else text:
                out.write(piece)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _open_output(path: str, file_mode: int) -> int:
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode)
        created = True
    except FileExistsError:  # a device (/dev/null), a FIFO, or a file written before
        handle = os.open(path, os.O_WRONLY | os.O_TRUNC)
        created = False
    try:
        info = os.fstat(handle)
        mode = stat.S_IMODE(info.st_mode)
        if created:
            os.fchmod(handle, file_mode)  # exactly, whatever the umask
        elif stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and mode & ~file_mode:
            os.fchmod(handle, mode & file_mode)
    except OSError:
        os.close(handle)
        raise
    return handle
