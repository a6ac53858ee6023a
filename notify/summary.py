"""Flood and flap windows: which alerts of a route go out one by one and which wait for the window's summary.

Why: a gateway outage takes hundreds of sensors offline at once, and a sensor hovering at its limit raises an
episode every few minutes; one message each would bury the duty group. Per route, fixed windows of ``window_s``
(aligned to the epoch, so a restart keeps them): the first ``max_per_window`` alerts go out at once, one per sensor
at most (a second alert of the same sensor in the window is a flap); the rest are held and summarised in one
message when the window closes. Pure: the clock is an argument.
"""

from __future__ import annotations

import math


class FloodWindows:
    def __init__(self, window_s: float, max_per_window: int) -> None:
        self.window_s = window_s
        self.max_per_window = max_per_window
        self._sent: dict[tuple[str, float], int] = {}  # (route, window start) → alerts sent one by one
        self._groups: set[tuple[str, float, str]] = set()  # (route, window start, sensor) already sent

    def window_end(self, now: float) -> float:
        return (math.floor(now / self.window_s) + 1) * self.window_s

    def admit(self, route_id: str, group: str, now: float) -> float | None:
        """None: send this alert now; else hold it for the summary sent at the returned window end."""
        end = self.window_end(now)
        start = end - self.window_s
        self._forget_before(start)
        sent = self._sent.get((route_id, start), 0)
        flap = bool(group) and (route_id, start, group) in self._groups
        if sent >= self.max_per_window or flap:
            return end
        self._sent[(route_id, start)] = sent + 1
        if group:
            self._groups.add((route_id, start, group))
        return None

    def _forget_before(self, start: float) -> None:
        for key in [k for k in self._sent if k[1] < start]:
            del self._sent[key]
        self._groups = {g for g in self._groups if g[1] >= start}
