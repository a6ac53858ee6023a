"""The worker's start-up task: once the app has started, freeze the long-lived start-up heap."""

from __future__ import annotations

import gc

from streams import runtime
from streams.app import app


@app.task
async def freeze_startup_heap() -> None:
    """Once the worker has started: make sure the city model, catalogue and device registries are loaded
    (:func:`streams.worker.prepare` loads them before Faust starts), then move everything alive into the
    collector's permanent generation (``gc.freeze()``).

    Why: these objects (the city model, the catalogue, Faust's app, agents and topics, every imported
    module: most of the worker's heap) live as long as the process, yet each full collection traverses
    all of them again; frozen, the collector only looks at what batches allocate. The registries are
    loaded before the freeze, not on the first batch, so that they are frozen too. Objects frozen this way are still
    freed by reference counting when dropped; only cyclic garbage among them would stay.
    """
    runtime.city()
    runtime.sensor_context()
    runtime.case_context()
    runtime.detection_context()
    gc.collect()  # leave start-up's garbage out of what is frozen
    gc.freeze()
