"""The read model built from case events the way the case agent builds it, without a broker: per batch (in
event-time order) the cases' hashes are read back, each event projected with ``project_case_event`` and the batch's
effects applied by ``EffectWriter`` on a real Redis. For tests whose data is a month or more of cases."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from redis.asyncio import Redis as AsyncRedis

from cityops import keys
from cityops.catalogue import get_catalogue
from cityops.schemas import CaseEvent
from cityops.workcalendar import WorkCalendar
from fixtures.xiamen import load_city

TZ = ZoneInfo("Asia/Shanghai")


def build_read_model(redis_url: str, events: Sequence[CaseEvent], calendar: WorkCalendar,
                     batch: int = 500) -> set[str]:
    """Project ``events`` (in order) onto Redis as the case agent does; the ids it refused."""
    from streams.case_projection import CaseContext, CaseView, ProjectionError, project_case_event
    from streams.effects import EffectWriter, Status

    ctx = CaseContext(load_city(), get_catalogue(), calendar, TZ)
    refused: set[str] = set()

    async def go() -> None:
        r = AsyncRedis.from_url(redis_url, decode_responses=True)
        writer = EffectWriter(r, 3600)
        try:
            for i in range(0, len(events), batch):
                chunk = events[i:i + batch]
                ids = sorted({e.case_id for e in chunk})
                views = {cid: CaseView.from_hash(cid, h)
                         for cid, h in zip(ids, await writer.hashes([keys.case(c) for c in ids]), strict=True)}
                effects = []
                for ev in chunk:
                    try:
                        eff, views[ev.case_id] = project_case_event(ev, views.get(ev.case_id), ctx)
                    except ProjectionError:
                        refused.add(ev.event_id)
                        continue
                    effects.append(eff)
                results = await writer.apply(effects)
                assert all(x.status is Status.APPLIED for x in results), [x.reason for x in results if x.failed]
        finally:
            await r.aclose()

    asyncio.run(go())
    return refused
