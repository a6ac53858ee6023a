"""``python -m cityops cases export --from 2026-11-01 --to 2026-11-30 [--district 思明区] --format xlsx|csv``.

Why a CLI beside the console's download buttons: a month's cases for a department is often asked for by a
script or a cron job on the server; it writes the same file as the console (``cityops/case_export.py``).
Places are given by code or by Chinese name; a bad value exits 2 with the option it concerns.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from cityops import case_export
from cityops.read.case_search import CaseQuery, SearchError, parse_states

AREAS = (("district", "districts"), ("street", "streets"), ("community", "communities"), ("grid", "grids"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["export"])
    p.add_argument("--from", dest="start", required=True, help="first local report day, YYYY-MM-DD")
    p.add_argument("--to", dest="end", required=True, help="last local report day, YYYY-MM-DD (included)")
    for area, _ in AREAS:
        p.add_argument(f"--{area}", default=None, help=f"{area} code or Chinese name")
    p.add_argument("--category", default=None, help="category code, e.g. E0102")
    p.add_argument("--source", default=None, help="report channel, e.g. hotline_12345")
    p.add_argument("--status", default=None, help="states, comma-separated, or open / final")
    p.add_argument("--overdue", choices=["yes", "no"], default=None)
    p.add_argument("--supervised", choices=["yes", "no"], default=None, help="督办 (escalated) cases only, or none")
    p.add_argument("--text", default=None, help="text in the address or description")
    p.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    p.add_argument("--output", "-o", default=None,
                   help="file to write (default: 案件_<from>_<to>.<format>; - for stdout)")


class OptionError(ValueError):
    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"--{option}: {reason}")


def _day(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise OptionError(option, f"{text!r} is not a day (YYYY-MM-DD)") from None


def area_code(city, area: str, table_name: str, value: str) -> str:  # noqa: ANN001 - CityModel
    """A code of ``area`` from its code or its Chinese (or English) name; OptionError when there is none or two."""
    table = getattr(city, table_name)
    if value in table:
        return value
    if area == "district" and value == "unlocated":
        return value
    found = [code for code, item in table.items()
             if value in (getattr(item, "name_zh", None), getattr(item, "name_en", None))]
    if len(found) == 1:
        return found[0]
    if found:
        raise OptionError(area, f"{value!r} names {len(found)} places ({', '.join(sorted(found)[:5])}): use the code")
    raise OptionError(area, f"no {area} {value!r} in city {city.code}")


def build_query(args: argparse.Namespace, city, catalogue) -> CaseQuery:  # noqa: ANN001
    places = {area: area_code(city, area, table, getattr(args, area)) for area, table in AREAS
              if getattr(args, area) is not None}
    if args.category is not None and args.category not in catalogue:
        raise OptionError("category", f"no category {args.category!r} in the catalogue")
    try:
        return CaseQuery(_day("from", args.start), _day("to", args.end), category=args.category, source=args.source,
                         states=parse_states(args.status) if args.status is not None else None,
                         overdue=None if args.overdue is None else args.overdue == "yes",
                         escalated=None if args.supervised is None else args.supervised == "yes",
                         text=args.text, **places)
    except SearchError as err:
        raise OptionError({"to": "to", "from": "from", "status": "status"}.get(err.field, err.field),
                          err.reason) from None


def run_from_args(args: argparse.Namespace) -> int:
    from cityops import read
    from cityops.city_data import get_city_data
    from cityops.settings import get_settings

    settings, data = get_settings(), get_city_data()
    city, catalogue, tz = data.city, data.catalogue, data.timezone
    try:
        query = build_query(args, city, catalogue)
    except OptionError as err:
        print(f"cityops cases export: {err}", file=sys.stderr)
        return 2
    export = case_export.collect(read.connect(settings), query, city.code, tz, street_of=city.street_of)
    rows = case_export.export_rows(export.cases, city, catalogue, tz)
    body = case_export.to_xlsx(rows) if args.format == "xlsx" else case_export.to_csv(rows)
    target = args.output or case_export.file_name(query, args.format)
    if target == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        Path(target).write_bytes(body)
    where = "stdout" if target == "-" else target
    print(f"{len(rows)} cases → {where}" + (f" (cut at {case_export.MAX_EXPORT_ROWS}: narrow the filter)"
                                             if export.truncated else ""), file=sys.stderr)
    return 0
