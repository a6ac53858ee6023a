"""Pinned sha256 sums of the files the platform executes or loads as code: the tansu broker binary and the
detector weights (TorchScript is a program). A file that does not match its pin is refused before use.

Why cached: the broker binary is 40 MB and the tests start brokers many times; a file is hashed once per
process and again only when its size, modification time or inode change.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path


class IntegrityError(RuntimeError):
    """A file whose sha256 is not the one pinned for it (tampered, corrupted, or a version nobody pinned)."""


@lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int, inode: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the file at ``path``, from the per-process cache while the file is unchanged."""
    st = os.stat(path)
    return _digest(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino)


def verify(path: str | os.PathLike[str], expected: str, what: str, how_to_pin: str) -> None:
    """Refuse ``path`` unless its sha256 is ``expected``; the error names the file, both digests and how
    an operator pins a file they trust (``how_to_pin``)."""
    actual = sha256_of(path)
    if actual != expected.strip().lower():
        raise IntegrityError(f"{what} {path} has sha256 {actual}, expected {expected or '(none pinned)'}: "
                             f"refusing to use it. If you trust this file, {how_to_pin}")
