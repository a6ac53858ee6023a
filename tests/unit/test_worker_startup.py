"""The worker's start-up hook: the long-lived start-up heap is loaded and frozen once the app has started."""

from __future__ import annotations

import asyncio
import gc

from streams import runtime
from streams.agents.startup import freeze_startup_heap
from streams.app import app


def test_freeze_runs_when_the_app_starts() -> None:
    assert freeze_startup_heap in app._app_tasks  # Faust starts its tasks once the app has started


def test_freeze_loads_the_registries_then_freezes_the_heap() -> None:
    runtime.sensor_context.cache_clear()
    try:
        asyncio.run(freeze_startup_heap())
        assert gc.get_freeze_count() > 0
        assert runtime.sensor_context.cache_info().currsize == 1  # loaded before the freeze, not on a first batch
        frozen_ids = {id(o) for o in gc.get_objects()}  # the collector no longer tracks frozen objects
        assert id(runtime.sensor_context().sensors) not in frozen_ids
    finally:
        gc.unfreeze()  # give the rest of the test session its collector back
