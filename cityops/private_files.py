"""Files that hold secrets or their hashes (users, API keys, gateway tokens): written whole and 0600, one writer at a
time, and followed by the processes that read them.

Why one module: the console, the API and the MQTT broker each keep such a file, and each must never leave half a
file, never make it readable by others, never lose a change when two operators edit at once, and never lock
everyone out because the file broke while running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


def write_private_json(path: Path, payload: object) -> None:
    """Atomic write (0600 temp file, fsync, rename): never half a file, never readable by others."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """One writer at a time (an advisory lock beside the file): read-modify-write never loses a change."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class FollowedFile(Generic[T]):
    """The parsed content of a file, re-read only when it changed (one ``stat`` per call), so a change made by the
    CLI takes effect at the next request without a restart. A file broken while running keeps the last good
    content; at start a broken file is an error (``errors``: what ``load`` raises for a bad file)."""

    def __init__(self, path: Path, load: Callable[[Path], T], empty: T,
                 errors: tuple[type[BaseException], ...] = (ValueError,)) -> None:
        self.path, self._load, self._errors = Path(path), load, (*errors, OSError)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._current = empty
        self._refresh(strict=True)

    def _refresh(self, *, strict: bool = False) -> None:
        try:
            st = self.path.stat()
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and not strict:
            return
        try:
            fresh = self._load(self.path)
        except self._errors:
            if strict:
                raise
            return
        self._current, self._stamp = fresh, stamp

    def current(self) -> T:
        with self._lock:
            self._refresh()
            return self._current
