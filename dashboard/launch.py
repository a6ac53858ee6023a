"""``python -m cityops console``: start Streamlit on the console app with the platform's settings.

Streamlit is told never to reach the internet (no usage stats, no browser) because the console runs
on government intranets.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cityops.settings import get_settings

APP = Path(__file__).resolve().parent / "server" / "console.py"  # runs app.py; see its docstring


def run_from_args(args: argparse.Namespace) -> int:
    settings = get_settings()
    port = args.port or settings.console_port
    print(f"CityOps console: http://{settings.console_address}:{port}", flush=True)
    argv = [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.port", str(port), "--server.address", settings.console_address,
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--theme.base", "dark", "--client.toolbarMode", "minimal", "--client.showErrorDetails", "false"]
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover - execv does not return
