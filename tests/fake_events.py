"""Fetched events as the sensor agent reads them, without a broker: for tests and the hot-path benchmark
that call the agent's batch function directly."""

from __future__ import annotations


class FetchedMessage:
    """What the agent reads of a Faust message: the bytes and where they came from (for dead letters)."""

    def __init__(self, value: bytes, offset: int) -> None:
        self.value, self.partition, self.offset, self.key, self.topic = value, 0, offset, b"gw", "sensors"


class FetchedEvent:
    """What the agent reads of a Faust event: its message."""

    def __init__(self, value: bytes, offset: int) -> None:
        self.message = FetchedMessage(value, offset)
