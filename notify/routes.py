"""Which routes a subject (an alert, an SLA clock about to run out, a briefing) goes out on: pure matching.

Why a field set and not the alert itself: an SLA-due case and an alert are matched the same way (kind, severity,
district, department, category), and a field the subject lacks matches no route that names values for it.
"""

from __future__ import annotations

from collections.abc import Mapping

from cityops.notify_routes import Route, Routes


def matches(route: Route, fields: Mapping[str, str | None]) -> bool:
    """Every field the route names holds one of its values in ``fields`` (a missing field matches nothing)."""
    return all(fields.get(name) in allowed for name, allowed in route.match.items())


def routes_for(routes: Routes, send: str, fields: Mapping[str, str | None]) -> tuple[Route, ...]:
    """The routes of kind ``send`` (alerts, sla_due, briefing) that ``fields`` matches, in file order."""
    return tuple(r for r in routes.of(send) if matches(r, fields))
