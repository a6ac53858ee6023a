"""One agent per topic, plus the SLA timer. Importing this package registers them on :data:`streams.app.app`."""

from streams.agents import (  # noqa: F401
    cases,
    commands,
    detections,
    outbox_relay,
    repeat_finder,
    sensor_timer,
    sensors,
    sla_timer,
)
