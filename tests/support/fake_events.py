"""Fetched events as an agent reads them, and a topic that records what an agent sends, without a broker: for
tests and the hot-path benchmark that call an agent's batch function directly."""

from __future__ import annotations


class FetchedMessage:
    """What the agent reads of a Faust message: the bytes and where they came from (for dead letters)."""

    def __init__(self, value: bytes, offset: int) -> None:
        self.value, self.partition, self.offset, self.key, self.topic = value, 0, offset, b"gw", "sensors"


class FetchedEvent:
    """What the agent reads of a Faust event: its message."""

    def __init__(self, value: bytes, offset: int) -> None:
        self.message = FetchedMessage(value, offset)


class RecordingTopic:
    """Stands in for a Kafka topic an agent sends to (derived case events, dead letters): keeps each send."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []

    async def send(self, key: bytes | None = None, value: bytes = b"") -> None:
        self.sent.append((key, value))
