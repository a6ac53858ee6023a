"""One agent per topic, plus the timers (SLA clocks, sensors offline, outbox, repeats, heartbeat, hotspots,
stale cases, 督办单), and the start-up task.

Importing this package registers them on :data:`streams.app.app`."""

from streams.agents import (  # noqa: F401
    camera_status,
    cases,
    commands,
    detections,
    heartbeat,
    hotspot_timer,
    outbox_relay,
    repeat_finder,
    sensor_timer,
    sensors,
    sla_timer,
    stale_cases,
    startup,
    supervision_timer,
)
