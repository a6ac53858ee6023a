"""``python -m cityops apikeys add|list|revoke|rotate``: the API keys of the city's client systems.

Why a CLI on the server: whoever may write the city data folder decides which systems may report cases and
under which channel; a key is printed once, on standard output alone (so ``KEY=$(python -m cityops apikeys
add …)`` captures it), and only its SHA-256 is kept (cityops/apikeys.py, docs/api.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cityops import apikeys
from cityops.settings import get_settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["add", "list", "revoke", "rotate"])
    p.add_argument("client", nargs="?", help="client system id, e.g. hotline-12345 (add, revoke, rotate)")
    p.add_argument("--name", default=None, help="add: display name, e.g. 12345热线 (default: the id)")
    p.add_argument("--source", default=None,
                   help="add: the channel its reports carry (hotline_12345, citizen_app, grid_patrol …)")
    p.add_argument("--scopes", default=",".join(apikeys.DEFAULT_SCOPES),
                   help=f"add: comma-separated, of {', '.join(apikeys.SCOPES)} (default %(default)s)")
    p.add_argument("--rate", type=float, default=apikeys.DEFAULT_RATE_PER_S,
                   help="add: requests per second it may make on average (default %(default)s)")
    p.add_argument("--burst", type=int, default=apikeys.DEFAULT_BURST,
                   help="add: requests it may make at once above the rate (default %(default)s)")
    p.add_argument("--keep-old", action="store_true", help="rotate: the old key keeps working until revoked")


def keys_file() -> Path:
    """``CITYOPS_APIKEYS_FILE``, else ``<city data folder>/apikeys.json``."""
    s = get_settings()
    return apikeys.keys_path(s.city_dir, s.apikeys_file)


def run_from_args(args: argparse.Namespace) -> int:
    path = keys_file()
    try:
        if args.action == "list":
            for c in sorted(apikeys.load_api_clients(path).clients.values(), key=lambda c: c.id):
                state = f"revoked {c.revoked_at}" if c.revoked_at else f"{len(c.keys)} key(s)"
                print(f"{c.id}\t{c.name}\t{c.source.value}\t{','.join(sorted(c.scopes))}\t"
                      f"{c.rate_per_s:g}/s burst {c.burst}\t{state}")
            return 0
        if not args.client:
            raise apikeys.ApiKeysError(f"apikeys {args.action}: name the client system")
        client_id, key = args.client, None
        if args.action == "add":
            if not args.source:
                raise apikeys.ApiKeysError("apikeys add: --source is required (the channel its reports carry)")
            scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip())
            result: dict[str, str] = {}

            def add(clients: dict[str, apikeys.ApiClient]) -> dict[str, apikeys.ApiClient]:
                changed, result["key"] = apikeys.add_client(clients, client_id, name=args.name or client_id,
                                                            source=args.source, scopes=scopes, rate_per_s=args.rate,
                                                            burst=args.burst)
                return changed

            apikeys.update_api_clients(path, add)
            key = result["key"]
        elif args.action == "rotate":
            result = {}

            def rotate(clients: dict[str, apikeys.ApiClient]) -> dict[str, apikeys.ApiClient]:
                changed, result["key"] = apikeys.rotate_client(clients, client_id, keep_old=args.keep_old)
                return changed

            apikeys.update_api_clients(path, rotate)
            key = result["key"]
        else:
            apikeys.update_api_clients(path, lambda clients: apikeys.revoke_client(clients, client_id))
    except (apikeys.ApiKeysError, OSError) as err:
        print(f"cityops apikeys: {err}", file=sys.stderr)
        return 2
    if key is not None:
        print(key)
        print(f"cityops apikeys: {args.action} {client_id}: done ({path}); the key above is shown only now",
              file=sys.stderr)
    else:
        print(f"cityops apikeys: {args.action} {client_id}: done ({path})", file=sys.stderr)
    return 0
