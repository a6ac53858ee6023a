"""Redis with a password: the embedded server takes it from ``REDIS_URL``, and the readers connect with it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from redis import AuthenticationError, Redis

from cityops.services import redis_server
from cityops.services.readiness import wait_for_redis
from cityops.services.redis_server import redis_command, start_redis
from cityops.settings import Settings
from tests.support.workers import REPO_ROOT, free_port, stop_process, subprocess_env


def test_embedded_redis_requires_the_password_of_redis_url(tmp_path):
    port = free_port()
    with_password = f"redis://:s3cret-for-tests@127.0.0.1:{port}/0"
    env = subprocess_env() | {"REDIS_URL": with_password, "CITYOPS_VAR": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "cityops", "redis", "--dir", str(tmp_path / "redis")],
                              cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        wait_for_redis(Settings(redis_url=with_password), timeout=30)
        ok = subprocess.run([sys.executable, "-m", "cityops", "snapshot", "--json"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout), "a snapshot, read with the password"
        no_password = env | {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        refused = subprocess.run([sys.executable, "-m", "cityops", "snapshot", "--json"], cwd=REPO_ROOT,
                                 env=no_password, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2
        assert "AuthenticationError" in refused.stderr and "Traceback" not in refused.stderr, refused.stderr[-2000:]
        wrong = env | {"REDIS_URL": f"redis://:not-this-pw@127.0.0.1:{port}/0"}
        refused = subprocess.run([sys.executable, "-m", "cityops", "snapshot", "--json"], cwd=REPO_ROOT,
                                 env=wrong, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and ":***@127.0.0.1" in refused.stderr and "not-this-pw" not in refused.stderr
    finally:
        stop_process(server)



def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_the_password_is_in_a_0600_file_and_never_on_the_command_line(tmp_path):
    """``ps`` shows every local user a process's arguments (Redis rewrites its title only once it runs, so
    the exec'd arguments are what counts): the password goes in a config file only its owner can read."""
    port = free_port()
    secret = 'pw with "quotes", \\ and 密码'
    argv = redis_command("127.0.0.1", port, tmp_path / "probe", secret)
    assert not any("pw with" in part or "requirepass" in part for part in argv), argv
    assert argv[1:] == [str(tmp_path / "probe" / redis_server.CONFIG_NAME)]
    url = f"redis://:{quote(secret, safe='')}@127.0.0.1:{port}/0"
    env = subprocess_env() | {"REDIS_URL": url, "CITYOPS_VAR": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "cityops", "redis", "--dir", str(tmp_path / "redis")],
                              cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        wait_for_redis(Settings(redis_url=url), timeout=30)
        with Redis.from_url(url) as client:
            assert client.ping(), "the percent-encoded password of REDIS_URL is the server's password"
        (redis_pid,) = _children(server.pid)
        assert b"pw with" not in Path(f"/proc/{redis_pid}/cmdline").read_bytes()
        conf = tmp_path / "redis" / redis_server.CONFIG_NAME
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        assert "requirepass" in conf.read_text()
        with pytest.raises(AuthenticationError), Redis(host="127.0.0.1", port=port, password="not-it") as other:
            other.ping()
    finally:
        stop_process(server)


def test_the_config_file_is_created_0600_even_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        proc = start_redis("127.0.0.1", free_port(), tmp_path / "redis", tmp_path / "redis.log", password="x y")
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE((tmp_path / "redis" / redis_server.CONFIG_NAME).stat().st_mode) == 0o600
        assert [p.name for p in (tmp_path / "redis").iterdir() if p.name.endswith(".tmp")] == []
    finally:
        stop_process(proc)
