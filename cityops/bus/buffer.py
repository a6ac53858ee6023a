"""The producer's pure parts: the bounded buffer of messages not yet acknowledged, its ordering rules while
degraded, and the reconnection backoff. No I/O, so the rules are unit-tested (see :mod:`cityops.bus`)."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field


class BufferFull(Exception):
    """The producer buffer holds ``CITYOPS_PRODUCER_BUFFER`` messages: nothing was accepted."""


class Backoff:
    """Exponential delays between reconnection attempts: ``initial``, ×``factor`` each time, at most ``maximum``.

    Deterministic (no jitter): there are few producers per broker, and tests can predict the delays.
    """

    def __init__(self, initial: float = 0.25, factor: float = 2.0, maximum: float = 5.0) -> None:
        if initial <= 0 or factor < 1 or maximum < initial:
            raise ValueError("need 0 < initial <= maximum and factor >= 1")
        self.initial, self.factor, self.maximum = initial, factor, maximum
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt; each call counts one attempt."""
        delay = min(self.initial * self.factor ** self.attempts, self.maximum)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0


@dataclass(eq=False)
class Entry:
    """One message waiting for its acknowledgement; ``seq`` is its place in the order ``send`` saw."""

    seq: int
    topic: str
    key: bytes | None
    value: bytes
    done: asyncio.Future[None] | None = field(default=None, repr=False)


@dataclass
class Window:
    """Messages sent together; ``extent`` is how many buffer entries were looked at to choose them."""

    entries: list[Entry]
    extent: int


@dataclass
class Settled:
    delivered: list[Entry]
    failed: list[Entry]
    reordered: list[tuple[str, bytes]]


class SendBuffer:
    """A bounded FIFO of messages not yet acknowledged. Pure: no I/O, so the ordering rules are unit-tested.

    A message leaves only through :meth:`settle` with a positive outcome; failed ones keep their place.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the producer buffer needs room for at least one message")
        self.limit = limit
        self._items: deque[Entry] = deque()
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.limit

    def append(self, topic: str, key: bytes | None, value: bytes, done: asyncio.Future[None] | None = None) -> Entry:
        if self.full:
            raise BufferFull(f"{len(self._items)} messages waiting for the broker (CITYOPS_PRODUCER_BUFFER)")
        entry = Entry(next(self._seq), topic, key, value, done)
        self._items.append(entry)
        return entry

    def prepend(self, messages: Iterable[tuple[str, bytes | None, bytes]]) -> int:
        """Put ``messages`` (in their order) before everything buffered; the bound does not apply to them."""
        entries = [Entry(-1, t, k, v) for t, k, v in messages]
        base = min(min((e.seq for e in self._items), default=0), 0) - len(entries) - 1  # negative: not from send
        for i, e in enumerate(entries):
            e.seq = base + i  # earlier than anything buffered, for the reorder check
        self._items.extendleft(reversed(entries))
        return len(entries)

    def window(self, size: int, *, distinct_keys: bool = False, scan_limit: int | None = None) -> Window:
        """The next messages to send, oldest first.

        With ``distinct_keys`` (while recovering from a failure) a (topic, key) appears at most once, and
        a key seen once is skipped to the end of the window, so a key's messages are sent strictly one
        window after another. ``scan_limit`` bounds the work when one key dominates the buffer.
        """
        scan = scan_limit if scan_limit is not None else size * 8
        chosen: list[Entry] = []
        seen: set[tuple[str, bytes | None]] = set()
        extent = 0
        for entry in itertools.islice(self._items, max(scan, size)):
            extent += 1
            if distinct_keys:
                ident = (entry.topic, entry.key)
                if ident in seen:
                    continue
                if entry.key is not None:
                    seen.add(ident)
            chosen.append(entry)
            if len(chosen) >= size:
                break
        return Window(chosen, extent)

    def settle(self, window: Window, outcomes: Iterable[bool]) -> Settled:
        """Remove the acknowledged messages of ``window``; the others keep their place at the head."""
        flags = list(outcomes)
        if len(flags) != len(window.entries):
            raise ValueError("one outcome per message of the window")
        delivered = [e for e, ok in zip(window.entries, flags, strict=True) if ok]
        failed = [e for e, ok in zip(window.entries, flags, strict=True) if not ok]
        gone = {id(e) for e in delivered}
        head = [self._items.popleft() for _ in range(min(window.extent, len(self._items)))]
        self._items.extendleft(reversed([e for e in head if id(e) not in gone]))
        return Settled(delivered, failed, reordered_keys(delivered, failed))


def reordered_keys(delivered: list[Entry], failed: list[Entry]) -> list[tuple[str, bytes]]:
    """Keys where a later message reached the broker while an earlier one did not: order already broken."""
    first_failed: dict[tuple[str, bytes], int] = {}
    for e in failed:
        if e.key is not None:
            first_failed.setdefault((e.topic, e.key), e.seq)
    out = {(e.topic, e.key) for e in delivered if e.key is not None
           and (e.topic, e.key) in first_failed and e.seq > first_failed[(e.topic, e.key)]}
    return sorted(out)  # type: ignore[arg-type]
