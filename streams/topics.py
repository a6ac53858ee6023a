"""The worker's topics: each input topic's name (from the settings) with the contract model its messages decode
to, and the Faust topic objects the agents read and send through.

Why one spec per topic: an agent that names its topic and its model separately can pair the wrong ones; with
:class:`TopicSpec` an agent says which topic it reads and gets the model, the name and the channel together.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Generic, TypeVar

import faust

from cityops.schemas import CameraStatus, CaseEvent, Detection, OperatorCommand, SensorEnvelope
from cityops.settings import get_settings
from streams.app import get_app

M = TypeVar("M")


@dataclass(frozen=True)
class TopicSpec(Generic[M]):
    """An input topic: ``setting`` names it among :class:`cityops.settings.Topics`; each message must decode to
    ``model``."""

    setting: str
    model: type[M]

    @property
    def name(self) -> str:
        """Its name under the current settings (``CITYOPS_TOPIC_PREFIX``): what dead letters and counts cite."""
        return getattr(get_settings().topics, self.setting)

    def channel(self) -> faust.TopicT:
        """The Faust topic an agent subscribes to (one per process)."""
        return channel(self.setting)


CASES = TopicSpec("cases", CaseEvent)
SENSORS = TopicSpec("sensors", SensorEnvelope)  # decoded by the fast path, cityops.fast_envelope, first
DETECTIONS = TopicSpec("detections", Detection)
COMMANDS = TopicSpec("commands", OperatorCommand)
CAMERA_STATUS = TopicSpec("camera_status", CameraStatus)


@cache
def channel(setting: str) -> faust.TopicT:
    """The process's Faust topic for ``setting`` (``cases``, …, ``deadletter``): raw bytes both ways (see
    :mod:`streams.app`), named from the settings when first asked for."""
    settings = get_settings()
    return get_app().topic(getattr(settings.topics, setting), value_serializer="raw", key_serializer="raw",
                     partitions=settings.partitions)

