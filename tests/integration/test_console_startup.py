"""The console fails closed: off loopback, no users file means no start (and no demo accounts) until the
first admin is made with ``python -m cityops users add``; that CLI writes 0600 and audits every change."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
from redis import Redis

from cityops import keys
from cityops.settings import Settings
from tests.support.workers import REPO_ROOT


def _cityops(args: list[str], env: dict[str, str], stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cityops", *args], cwd=REPO_ROOT, env={**os.environ, **env},
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def test_a_console_reachable_from_other_machines_refuses_to_start_without_users(tmp_path):
    users = tmp_path / "users.json"
    env = {"CITYOPS_USERS_FILE": str(users), "CITYOPS_CONSOLE_ADDRESS": "0.0.0.0", "CITYOPS_CONSOLE_PORT": "1"}
    out = _cityops(["console"], env, timeout=20)  # today's code started Streamlit here, with the demo accounts
    assert out.returncode == 2, out
    assert "refusing to start" in out.stderr and "python -m cityops users add" in out.stderr
    assert not users.exists(), "no demo accounts with published passwords on a reachable console"


def test_demo_accounts_on_loopback_or_when_asked_are_written_0600(tmp_path):
    from dashboard.launch import check_users_file

    for address, demo in (("127.0.0.1", False), ("0.0.0.0", True)):
        users = tmp_path / f"{address}-{demo}.json"
        assert check_users_file(Settings(users_file=users, console_address=address, demo=demo)) is None
        assert oct(users.stat().st_mode & 0o777) == "0o600"
        assert '"admin"' in users.read_text()
    assert "users add" in (check_users_file(Settings(users_file=tmp_path / "x.json", console_address="10.0.0.5"))
                           or "")


def test_the_first_admin_from_the_cli_then_a_start_is_allowed(tmp_path, redis_url):
    from dashboard.launch import check_users_file

    r = Redis.from_url(redis_url, decode_responses=True)
    users = tmp_path / "users.json"
    env = {"CITYOPS_USERS_FILE": str(users), "REDIS_URL": redis_url}
    refused = _cityops(["users", "add", "chief", "--role", "duty", "--password-stdin"], env, "chief-password\n")
    assert refused.returncode == 2 and "admin" in refused.stderr, "the first account must be an admin"
    made = _cityops(["users", "add", "chief", "--role", "admin", "--name", "主任", "--password-stdin"], env,
                    "chief-password\n")
    assert made.returncode == 0, made.stderr
    assert oct(users.stat().st_mode & 0o777) == "0o600" and "chief-password" not in users.read_text()
    assert check_users_file(Settings(users_file=users, console_address="0.0.0.0")) is None, "may start now"
    assert _cityops(["users", "passwd", "chief", "--password-stdin"], env, "short\n").returncode == 2
    assert _cityops(["users", "remove", "chief"], env).returncode == 2, "the last admin stays"
    unknown = _cityops(["users", "add", "sanitation", "--role", "department", "--department", "NO-SUCH",
                        "--password-stdin"], env, "dept-password\n")
    assert unknown.returncode == 2 and "not a department of the city data" in unknown.stderr
    dept = _cityops(["users", "add", "sanitation", "--role", "department", "--department", "DSAN-350203",
                     "--password-stdin"], env, "dept-password\n")
    assert dept.returncode == 0, dept.stderr
    listed = _cityops(["users", "list"], env)
    assert listed.stdout.split() == ["chief", "admin", "主任", "sanitation", "department", "sanitation", "DSAN-350203"]
    trail = [orjson.loads(f["json"]) for _, f in r.xrange(keys.audit())]
    mine = [a for a in trail if a.get("target_id") == "chief"]
    assert mine and mine[-1]["kind"] == "account" and mine[-1]["action"] == "user_add"
    assert mine[-1]["user"].startswith("cli") and "chief-password" not in str(trail)


def test_trusting_every_clients_forwarded_for_is_refused(tmp_path):
    from dashboard.launch import check_proxies

    assert check_proxies(Settings(forwarded_allow_ips="127.0.0.1,::1")) is None
    assert check_proxies(Settings(forwarded_allow_ips="10.20.0.0/24")) is None
    assert "FORWARDED_ALLOW_IPS" in (check_proxies(Settings(forwarded_allow_ips="10.0.0.1, *")) or "")
    env = {"CITYOPS_USERS_FILE": str(tmp_path / "users.json"), "FORWARDED_ALLOW_IPS": "*", "CITYOPS_CONSOLE_PORT": "1"}
    out = _cityops(["console"], env, timeout=20)
    assert out.returncode == 2 and "FORWARDED_ALLOW_IPS" in out.stderr
