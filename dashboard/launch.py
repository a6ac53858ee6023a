"""``python -m cityops console``: start Streamlit on the console app with the platform's settings.

Streamlit is told never to reach the internet (no usage stats, no browser) because the console runs
on government intranets. Before it starts, the console fails closed: with no users file it creates
the demo accounts (published passwords) only when it binds to loopback or ``CITYOPS_DEMO=1``, and
otherwise refuses to start, saying how to create the first admin. ``FORWARDED_ALLOW_IPS`` (the only
proxies whose ``X-Forwarded-For`` names the client, see docs/deploy.md) is passed to Streamlit's server;
``*`` (every client trusted) is refused.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cityops import auth
from cityops.settings import REPO_ROOT, Settings, get_settings

APP = Path(__file__).resolve().parent / "server" / "console.py"  # runs app.py; see its docstring
DEMO_USERS = REPO_ROOT / "config" / "users.demo.json"


def check_users_file(settings: Settings) -> str | None:
    """None when the console may start (the users file exists or the demo accounts were just created), else
    the message to print."""
    try:
        auth.ensure_users_file(settings.users_path, DEMO_USERS,
                               allow_demo=auth.demo_allowed(settings.console_address, settings.demo))
    except auth.AuthError as err:
        return f"cityops console: refusing to start: {err}"
    return None


def check_proxies(settings: Settings) -> str | None:
    """``*`` would let every client name its own address in ``X-Forwarded-For`` and walk around the
    per-address sign-in lock: refused."""
    if "*" in (part.strip() for part in settings.forwarded_allow_ips.split(",")):
        return ("cityops console: refusing to start: FORWARDED_ALLOW_IPS=* trusts every client's X-Forwarded-For; "
                "list the reverse proxies' addresses (docs/deploy.md)")
    return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--headless", action="store_true", default=True)


def run_from_args(args: argparse.Namespace) -> int:
    settings = get_settings()
    problem = check_proxies(settings) or check_users_file(settings)
    if problem:
        print(problem, file=sys.stderr, flush=True)
        return 2
    port = args.port or settings.console_port
    print(f"CityOps console: http://{settings.console_address}:{port}", flush=True)
    argv = [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.port", str(port), "--server.address", settings.console_address,
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--theme.base", "dark", "--client.toolbarMode", "minimal", "--client.showErrorDetails", "false"]
    os.environ["FORWARDED_ALLOW_IPS"] = settings.forwarded_allow_ips  # read by uvicorn's proxy-headers middleware
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover - execv does not return
