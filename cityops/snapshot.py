"""``python -m cityops snapshot --json [--date YYYY-MM-DD] [--district CODE]``: KPIs from the read model.

Prints the city's figures and, ranked by 综合指标值, those of every district, department and
category for one local day (today by default). With ``--district`` the figures are that district's
and its streets'.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime, time

from cityops import read
from cityops.catalogue import get_catalogue
from cityops.city_data import get_city_data
from cityops.metrics import Ranked
from cityops.settings import get_settings


def snapshot(day: date | None = None, district: str | None = None) -> dict:
    settings = get_settings()
    city = get_city_data().city
    when = datetime.combine(day or datetime.now(settings.tz).date(), time(12), settings.tz)
    r = read.connect(settings)
    try:
        if district is not None and district not in city.districts:
            raise SystemExit(f"snapshot: unknown district {district!r} (one of {', '.join(city.districts)})")
        scope, scope_id = ("district", district) if district else ("city", city.code)
        departments = [d.id for d in city.departments.values()
                       if district is None or d.district_code in (None, district)]
        out = {
            "date": when.date().isoformat(),
            "scope": {"kind": scope, "id": scope_id, "name": city.area_name(scope_id) if district else city.name_zh},
            "kpis": read.kpis(r, when, scope, scope_id).as_dict(),
            "departments": _named(read.ranking(r, when, "department", departments),
                                  {d.id: d.name_zh for d in city.departments.values()}),
            "categories": _named(read.ranking(r, when, "category", [c.code for c in get_catalogue()]),
                                 {c.code: c.name() for c in get_catalogue()}),
        }
        if district:
            streets = [s.code for s in city.streets_of(district)]
            out["streets"] = _named(read.ranking(r, when, "street", streets), {s: city.area_name(s) for s in streets})
        else:
            out["districts"] = _named(read.ranking(r, when, "district", list(city.districts)),
                                      {d.code: d.name_zh for d in city.districts.values()})
        return out
    finally:
        r.close()


def _named(rows: list[Ranked], names: dict[str, str]) -> list[dict]:
    """A ranking as JSON-ready rows, each with the scope's name first."""
    return [{"name": names.get(row.id, row.id), **row.as_dict()} for row in rows]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--date", default=None, help="local day YYYY-MM-DD (default today)")
    p.add_argument("--district", default=None, help="district adcode, e.g. 350203")


def run_from_args(args: argparse.Namespace) -> int:
    day = date.fromisoformat(args.date) if args.date else None
    data = snapshot(day, args.district)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    k = data["kpis"]
    c = k["counters"]
    print(f"{data['date']} {data['scope']['name']}: received {c.get('received', 0)}, registered "
          f"{c.get('registered', 0)}, closed {c.get('closed', 0)}, overdue open {c['overdue_open']}, "
          f"score {k['score']}")
    for row in data.get("districts") or data.get("streets") or []:
        print(f"  {row['rank']:>2}. {row['name']}: score {row['score']}, closed {row['counters'].get('closed', 0)}")
    return 0
