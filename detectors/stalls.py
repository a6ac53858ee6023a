"""Stall items gathered into stalls: umbrellas, chairs, tables and suitcases standing together → one ``stall`` box.

Why: COCO has no "stall" class, but a street stall looks to it like a parasol over a table with a few chairs,
or luggage laid out as a counter. One such item means little (a café chair, a tourist's suitcase); several close
together that stay where they are is how 占道经营 looks. Grouping them before tracking makes the stall one
tracked object with one capture, instead of one capture per chair.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from detectors.base import Box

STALL_ITEMS = frozenset({"umbrella", "chair", "dining table", "suitcase"})
STALL_LABEL = "stall"


def gap(a: Box, b: Box) -> float:
    """Distance between two boxes' edges in pixels (0 when they touch or overlap)."""
    dx = max(0.0, max(a.x1, b.x1) - min(a.x2, b.x2))
    dy = max(0.0, max(a.y1, b.y1) - min(a.y2, b.y2))
    return (dx * dx + dy * dy) ** 0.5


def _groups(boxes: Sequence[Box], max_gap: float) -> list[list[int]]:
    """Connected groups (union-find) of boxes at most ``max_gap`` × their larger height apart."""
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            if gap(boxes[i], boxes[j]) <= max_gap * max(boxes[i].height, boxes[j].height):
                parent[root(j)] = root(i)
    out: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        out.setdefault(root(i), []).append(i)
    return list(out.values())


def gather_stalls(boxes: Iterable[Box], *, items: frozenset[str] = STALL_ITEMS, min_items: int = 2,
                  max_gap: float = 0.5) -> list[Box]:
    """Replace each group of ≥ ``min_items`` stall items lying within ``max_gap`` (× the larger item's height)
    of each other by one ``stall`` box around them (confidence: the group's best); other boxes pass unchanged."""
    boxes = list(boxes)
    stall_items = [b for b in boxes if b.label in items]
    out = [b for b in boxes if b.label not in items]
    for group in _groups(stall_items, max_gap):
        members = [stall_items[i] for i in group]
        if len(members) < min_items:
            out.extend(members)
            continue
        out.append(Box(min(b.x1 for b in members), min(b.y1 for b in members), max(b.x2 for b in members),
                       max(b.y2 for b in members), STALL_LABEL, max(b.confidence for b in members)))
    return out
