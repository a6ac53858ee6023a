"""A report as a flat list of blocks, so the PNG, the PDF and the Markdown of one report cannot disagree:
composing decides what is said, rendering only how it looks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Tone = Literal["good", "bad"] | None


@dataclass(frozen=True)
class Section:
    title: str


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    widths: Sequence[float]  # relative
    numeric: Sequence[bool]  # right-aligned columns
    tones: Sequence[Sequence[Tone]] | None = None  # per cell: green (good), red (bad) or plain
    caption: str = ""  # the table's title, printed above it


@dataclass(frozen=True)
class Chart:
    name: str  # file name without .png
    title: str
    png: bytes
    width: float = 0.85  # of the page's text width


Block = Section | Note | Table | Chart


@dataclass
class Document:
    title: str  # 月度通报
    heading: str  # the city and platform, above the title
    subtitle: str  # the period and the generation time, below it
    footer: str
    lang: str
    blocks: list[Block] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.blocks.append(Section(title))

    def note(self, text: str) -> None:
        self.blocks.append(Note(text))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float],
              numeric: Sequence[bool], tones: Sequence[Sequence[Tone]] | None = None, caption: str = "") -> None:
        self.blocks.append(Table(list(headers), [list(r) for r in rows], list(widths), list(numeric), tones, caption))

    def chart(self, name: str, title: str, png: bytes | None, width: float = 0.85) -> None:
        if png:
            self.blocks.append(Chart(name, title, png, width))

    @property
    def charts(self) -> list[Chart]:
        return [b for b in self.blocks if isinstance(b, Chart)]
