"""Case search for other systems and the console's 案件查询: cases reported in a date range, filtered by place,
category, source, state, overdue, 督办 (escalated) and text in address or description, newest first, a page at a
time.

Why an index per day and scope (``keys.cases_by_day``, written by the case projection at each report) and
not a scan: a year holds hundreds of thousands of cases, and a search by district and week must read only
that district's days. The finest place filter given (grid, then street, then district), else category, else
source, else the whole city picks the index (grid, community, street, district); every other filter, the text
match among them, is checked on the case's hash, which also
drops an index entry whose case has gone (retention) or changed (state, overdue, a re-classification).

Paging is by cursor: the (report time, case id) of the last case looked at, so new reports arriving between
two pages neither repeat nor skip a case. One request looks at most ``scan_budget`` index entries: a filter
that matches few of many cases returns a short page with a cursor (``complete`` false) instead of reading
the whole range at once.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from redis import Redis

from cityops import keys
from cityops.read.replies import replies

#: States a case can be in (streams/lifecycle.py), and the two groups a search may name instead.
CASE_STATES = ("reported", "accepted", "registered", "rejected", "dispatched", "handled", "verified", "reworked",
               "closed", "voided")
FINAL_STATES = frozenset({"rejected", "closed", "voided"})
STATE_GROUPS = {"open": frozenset(CASE_STATES) - FINAL_STATES, "final": FINAL_STATES}
#: The fields of each case a search returns (the full hash and the timeline: ``read.case``, ``read.case_timeline``).
SUMMARY_FIELDS = ("state", "category", "source", "district", "street", "community", "grid", "department",
                  "urgent", "t_report", "updated_at", "stage", "deadline", "overdue", "lon", "lat", "address",
                  "description", "escalated", "t_close")
MAX_RANGE_DAYS = 400  # the index's retention
MAX_LIMIT = 500
SCAN_BUDGET = 5000
_CHUNK = 200
#: Filter → index scope, finest first: the first filter given picks the index.
_INDEX_ORDER = ("grid", "community", "street", "district", "category", "source")
MAX_TEXT = 100  # characters of a text filter: a substring of an address or description, not a document


class SearchError(ValueError):
    """A search parameter that cannot be used; ``field`` names it (the API answers 400 with it)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the report time (epoch seconds, as the index scores it) and id of its last case."""

    ts: float
    case_id: str

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.ts!r}|{self.case_id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            ts_text, case_id = raw.split("|", 1)
            ts = float(ts_text)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise SearchError("cursor", "not a cursor this API gave out") from None
        if not math.isfinite(ts) or not case_id:
            raise SearchError("cursor", "not a cursor this API gave out")
        return cls(ts, case_id)


@dataclass(frozen=True)
class CaseQuery:
    """One search: local days ``start``…``end`` (both included) and optional filters (None: any)."""

    start: date
    end: date
    district: str | None = None
    street: str | None = None
    community: str | None = None
    grid: str | None = None
    category: str | None = None
    source: str | None = None
    states: frozenset[str] | None = None
    overdue: bool | None = None
    escalated: bool | None = None
    text: str | None = None
    limit: int = 50
    cursor: Cursor | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise SearchError("to", f"{self.end} is before from ({self.start})")
        if (self.end - self.start).days + 1 > MAX_RANGE_DAYS:
            raise SearchError("from", f"a search covers at most {MAX_RANGE_DAYS} days (the cases' retention)")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise SearchError("limit", f"must be 1..{MAX_LIMIT}, not {self.limit}")
        if self.text is not None and not 1 <= len(self.text.strip()) <= MAX_TEXT:
            raise SearchError("text", f"must be 1..{MAX_TEXT} characters besides spaces, not {len(self.text.strip())}")
        if self.states is not None:
            unknown = sorted(self.states - set(CASE_STATES))
            if unknown or not self.states:
                raise SearchError("status", f"unknown state {unknown[0] if unknown else ''!r} (use "
                                            f"{', '.join(CASE_STATES)}, open or final)")

    def index_scope(self, city_code: str, street_of: Callable[[str], str | None] | None = None) -> tuple[str, str]:
        """The (scope, id) whose day index this search reads: the finest place filter with an index (a grid's or a
        community's street, through ``street_of``), else category, source, the city."""
        for name in _INDEX_ORDER:
            value = getattr(self, name)
            if value is None:
                continue
            if name in keys.CASE_SEARCH_SCOPES:
                return name, value
            street = street_of(value) if street_of is not None else None
            if street is not None:
                return "street", street
        return "city", city_code

    def matches(self, row: dict[str, str]) -> bool:
        """Whether a case's hash fields (:data:`SUMMARY_FIELDS`) pass every filter; an empty row (gone) never does."""
        if not row.get("state"):
            return False
        for name in _INDEX_ORDER:
            wanted = getattr(self, name)
            if wanted is not None and row.get(name) != wanted:
                return False
        if self.states is not None and row["state"] not in self.states:
            return False
        if self.overdue is not None:
            overdue = row.get("overdue") == "1" and row["state"] not in FINAL_STATES
            if overdue != self.overdue:
                return False
        if self.escalated is not None and (row.get("escalated") == "1") != self.escalated:
            return False
        if self.text is not None:
            needle = self.text.strip().casefold()
            if needle not in row.get("address", "").casefold() and needle not in row.get("description", "").casefold():
                return False
        return True


def parse_states(text: str) -> frozenset[str]:
    """``status=dispatched,handled`` or a group (``open``, ``final``) → the set of states."""
    out: set[str] = set()
    for part in (p.strip() for p in text.split(",")):
        if part in STATE_GROUPS:
            out |= STATE_GROUPS[part]
        elif part:
            out.add(part)
    return frozenset(out)


@dataclass
class CasePage:
    """One page: the matching cases (``case_id`` plus :data:`SUMMARY_FIELDS`), newest report first.

    ``next_cursor`` continues the search (None: nothing more in the range); ``complete`` is False when the page
    is short because the scan budget ran out, not because the range did. ``scanned``: index entries looked at.
    """

    cases: list[dict[str, str]] = field(default_factory=list)
    next_cursor: str | None = None
    scanned: int = 0
    complete: bool = True


def days_newest_first(start: date, end: date) -> Iterator[date]:
    day = end
    while day >= start:
        yield day
        day -= timedelta(days=1)


def search_cases(r: Redis, query: CaseQuery, city_code: str, tz: ZoneInfo, scan_budget: int = SCAN_BUDGET,
                 street_of: Callable[[str], str | None] | None = None) -> CasePage:
    """The page of cases ``query`` asks for, reading the day indexes of its range newest first (``street_of``: the
    street of a grid or community code, e.g. ``CityModel.street_of``; without it such a search reads the city's)."""
    scope, scope_id = query.index_scope(city_code, street_of)
    page = CasePage()
    cursor = query.cursor
    first_day = query.end
    if cursor is not None:
        first_day = min(first_day, datetime.fromtimestamp(cursor.ts, tz).date())
    for day in days_newest_first(query.start, first_day):
        key = keys.cases_by_day(keys.day_bucket(datetime.combine(day, time(), tz)), scope, scope_id)
        top: float | str = cursor.ts if cursor is not None else "+inf"
        offset = 0
        while True:
            raw = r.zrevrangebyscore(key, top, "-inf", start=offset, num=_CHUNK, withscores=True)
            offset += len(raw)
            batch = raw
            if cursor is not None:  # entries at the cursor's time not after it in the order were on earlier pages
                batch = [(cid, ts) for cid, ts in raw if not (ts == cursor.ts and cid >= cursor.case_id)]
            if batch and _take(r, query, batch, page, scan_budget):
                return page
            if len(raw) < _CHUNK:
                break
        cursor = None
    return page


def _take(r: Redis, query: CaseQuery, batch: list[tuple[str, float]], page: CasePage, scan_budget: int) -> bool:
    """Check a chunk of index entries against their hashes; True when the page is full or the budget spent."""
    pipe = r.pipeline(transaction=False)
    for case_id, _ in batch:
        pipe.hmget(keys.case(case_id), SUMMARY_FIELDS)
    rows = replies(pipe, [cid for cid, _ in batch], "case search")
    for (case_id, ts), values in zip(batch, rows, strict=True):
        page.scanned += 1
        row = {k: v for k, v in zip(SUMMARY_FIELDS, values or (), strict=False) if v is not None}
        if query.matches(row):
            page.cases.append({"case_id": case_id, **row})
        full, spent = len(page.cases) >= query.limit, page.scanned >= scan_budget
        if full or spent:
            page.next_cursor = Cursor(ts, case_id).encode()
            page.complete = full
            return True
    return False
