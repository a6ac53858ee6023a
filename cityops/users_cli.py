"""``python -m cityops users add|passwd|remove|list``: manage console accounts from a shell.

Why a CLI: a console reachable from other machines never creates the demo accounts (their passwords
are published), so the first admin of a real deployment is made here, on the server, by whoever may
write the users file. Passwords are read without echo (twice) or, with ``--password-stdin``, from
one line of standard input (for provisioning scripts); never from the command line, where ``ps``
would show them. Every change goes to the audit trail as ``cli:<os user>`` when Redis answers.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from cityops import auth, console_audit
from cityops.settings import get_settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["add", "passwd", "remove", "list"])
    p.add_argument("username", nargs="?", help="account name (add, passwd, remove)")
    p.add_argument("--role", choices=list(auth.ALL_ROLES), default=None,
                   help="add: role (default duty); else: change it")
    p.add_argument("--department", default=None,
                   help="the department of a department user (its id in the city data, e.g. D01)")
    p.add_argument("--name", default=None, help="display name (default: the account name)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise auth.AuthError("the two passwords differ")
    return first


def _department(role: str, department: str | None) -> str:
    """A department user's department, checked against the city data; '' for the other roles."""
    if role != auth.DEPARTMENT:
        if department:
            raise auth.AuthError(f"--department is for a {auth.DEPARTMENT} user, not a {role}")
        return ""
    from cityops.city_data import load_city_data

    known = load_city_data(get_settings().city_dir).city.departments
    if department not in known:
        raise auth.AuthError(f"--department {department!r} is not a department of the city data "
                             f"({', '.join(sorted(known)[:8])} …)")
    return department


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _audit(action: str, target: str, **fields: object) -> None:
    from cityops import read

    try:
        redis = read.connect(get_settings())
    except Exception:  # noqa: BLE001 - a bad REDIS_URL: the record goes to the log, the change stands
        redis = None
    console_audit.account_change(redis, action, _operator(), None, target, **fields)


def run_from_args(args: argparse.Namespace) -> int:
    path = get_settings().users_path
    try:
        if args.action == "list":
            for user in sorted(auth.load_users(path).values(), key=lambda u: u.username):
                print(f"{user.username}\t{user.role}\t{user.display_name}\t{user.department}".rstrip("\t"))
            return 0
        if not args.username:
            raise auth.AuthError(f"users {args.action}: name the account")
        name = args.username
        if args.action == "add":
            role = args.role or "duty"
            department = _department(role, args.department)
            password = _password(args)
            auth.validate_new_user(name, role, password, department)

            def add(users: dict[str, auth.User]) -> dict[str, auth.User]:
                if name in users:
                    raise auth.AuthError(f"user {name!r} exists; use passwd or --role with passwd")
                return auth.upsert_user(users, name, role, args.name or name, password, department)

            auth.update_users(path, add, create=True)
            _audit(console_audit.USER_ADD, name, role=role)
        elif args.action == "passwd":
            password = _password(args)

            def passwd(users: dict[str, auth.User]) -> dict[str, auth.User]:
                if name not in users:
                    raise auth.AuthError(f"no user {name!r}")
                old = users[name]
                role = args.role or old.role
                department = _department(role, args.department) if args.role or args.department else old.department
                return auth.upsert_user(users, name, role, args.name or old.display_name, password, department)

            auth.update_users(path, passwd)
            _audit(console_audit.USER_PASSWORD, name, role=args.role)
        else:
            auth.update_users(path, lambda users: auth.remove_user(users, name))
            _audit(console_audit.USER_REMOVE, name)
    except auth.AuthError as err:
        print(f"cityops users: {err}", file=sys.stderr)
        return 2
    print(f"cityops users: {args.action} {name}: done ({path})")
    return 0
