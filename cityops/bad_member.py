"""Skipping one bad member (a key of the wrong type, data that does not parse) with one log line for it.

Why: readers and timers go through every member of a set or stream; one bad member must cost its own
entry, not the whole read or tick for the city. A timer meets the same bad member every tick, so each
is logged once (per process, up to :data:`REMEMBERED` members, then the memory starts again).
"""

from __future__ import annotations

import logging

log = logging.getLogger("cityops.bad_member")
REMEMBERED = 10_000
_logged: set[tuple[str, str]] = set()


def skip(where: str, member: str, why: object) -> None:
    """Log, once per ``where`` and ``member``, that the member was skipped and why."""
    key = (where, str(member))
    if key in _logged:
        return
    if len(_logged) >= REMEMBERED:
        _logged.clear()
    _logged.add(key)
    log.warning("%s: skipped %r: %s", where, member, why)
