"""Redis with a password: the embedded server takes it from ``REDIS_URL``, and the readers connect with it."""

from __future__ import annotations

import json
import subprocess
import sys

from cityops.services.readiness import wait_for_redis
from cityops.settings import Settings
from tests.conftest import free_port
from tests.workers import REPO_ROOT, stop_process, subprocess_env


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
