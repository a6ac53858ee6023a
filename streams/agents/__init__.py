"""One agent per topic. Importing this package registers them all on :data:`streams.app.app`."""

from streams.agents import cases, commands, detections, sensors  # noqa: F401
