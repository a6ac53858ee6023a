"""One agent per topic, plus the SLA timer. Importing this package registers them on :data:`streams.app.app`."""

from streams.agents import cases, commands, detections, sensor_timer, sensors, sla_timer  # noqa: F401
