"""``python -m cityops <command>``: one entry point for every process and tool.

Each command lives in the module that does the work, which declares its own arguments beside its code:
``add_arguments(parser)`` and ``run_from_args(args)``. This file only lists the commands, and imports a
command's module only once that command is chosen, so ``python -m cityops --help`` imports none of them and
``python -m cityops broker`` does not pay for Faust, OpenCV or Streamlit imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import RedisError

# command name → (module, help). The module has ``add_arguments(parser)`` and ``run_from_args(args)``.
COMMANDS: dict[str, tuple[str, str]] = {
    "broker": ("cityops.services.broker", "run the embedded Kafka-compatible broker (tansu)"),
    "redis": ("cityops.services.redis_server", "run the embedded redis-server with AOF under var/"),
    "topics": ("cityops.bus.topics", "create the platform's Kafka topics if missing"),
    "worker": ("streams.worker", "run the Faust stream processors"),
    "console": ("dashboard.launch", "run the Streamlit operations console"),
    "users": ("cityops.users_cli", "add, change the password of, remove or list console accounts"),
    "api": ("doors.api.app", "run the HTTP API (Open311 GeoReport v2, read API, gateways) on CITYOPS_API_HOST"),
    "apikeys": ("cityops.apikeys_cli", "add, list, revoke or rotate the API keys of client systems"),
    "gateways": ("cityops.gateway_credentials", "add-key, rotate, revoke or list the keys of IoT gateways"),
    "mqtt-broker": ("doors.mqtt.broker", "run the embedded MQTT broker (amqtt) for sensor gateways"),
    "mqtt-bridge": ("doors.mqtt.bridge", "forward gateway readings from MQTT to Kafka (ack after Kafka acks)"),
    "simulate": ("fixtures.simulator.run", "publish a simulated city day through Kafka"),
    "replay": ("fixtures.replay.cli", "replay real data files (la311, air, noise) through Kafka"),
    "city": ("fixtures.xiamen", "describe or export the Xiamen city fixture"),
    "detect": ("detectors.cli", "run violation detection on a video, stream or image folder"),
    "snapshot": ("cityops.snapshot", "print KPIs per district, department and category"),
    "wait": ("cityops.services.readiness", "wait until the broker and Redis answer"),
    "migrate-keys": ("cityops.migrate_keys",
                     "rename read-model keys of the old layout to today's (workers stopped); --dry-run counts only"),
    "notify": ("notify.process", "send alerts, SLA reminders and briefings to the chat groups and mail of notify.yml"),
    "briefing": ("dashboard.briefing.command",
                 "write the daily briefing (每日简报) as PNG, PDF and Markdown; --schedule runs daily"),
    "report": ("dashboard.reports.command",
               "write a weekly, monthly or quarterly 通报 (PNG, PDF, Markdown): --period --date; --schedule runs them"),
    "cases": ("cityops.cases_cli", "export the cases of a search (案件查询) as xlsx or csv: export --from --to …"),
}


def command_module(name: str) -> ModuleType:
    """The module of command ``name`` (imported now: only the command being run, or asked about, is)."""
    return importlib.import_module(COMMANDS[name][0])


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser of every command; only the command ``argv`` names (its first word) gets its arguments, from
    its module: the others are not imported."""
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = argparse.ArgumentParser(prog="python -m cityops", description="CityOps operations platform")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            command_module(name).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    func: Callable[[argparse.Namespace], int | None] = command_module(args.command).run_from_args
    try:
        result = func(args)
    except RedisError as err:  # a wrong password or an unreachable server: one clear line, not a traceback
        from cityops.settings import get_settings

        print(f"cityops {args.command}: Redis at {_without_password(get_settings().redis_url)}: "
              f"{type(err).__name__}: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
