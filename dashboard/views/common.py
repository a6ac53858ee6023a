"""Formatting shared by the console's view models: percentages, counts, countdowns, local times, Markdown escaping.

Event text (addresses, descriptions, camera names…) is never turned into markup in the view models: tables
carry it as data, and :func:`md_escape` makes it inert wherever a Streamlit element renders Markdown.
"""

from __future__ import annotations

import re
from datetime import datetime

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'])")


def md_escape(text: object) -> str:
    """Backslash-escape every Markdown/HTML-significant character so the text renders as itself.

    CommonMark treats a backslash before any ASCII punctuation as that literal character, which
    defuses links, images (``![](http://…)`` would fetch from outside), raw HTML (``<script>``),
    Streamlit's ``:red[…]`` and ``:material/…:`` directives, and LaTeX. Newlines become spaces.
    """
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ").replace("\r", " ")


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def fmt_int(value: float | None) -> str:
    return "—" if value is None else f"{int(round(value)):,}"


def fmt_countdown(seconds: float) -> str:
    """``1:05:09`` / ``-0:03:10`` (past due): an HH:MM:SS countdown that reads well at a glance."""
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    return f"{sign}{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def local_time(value: object, tz, fmt: str = "%H:%M:%S") -> str:  # noqa: ANN001
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz).strftime(fmt)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).astimezone(tz).strftime(fmt)
        except ValueError:
            return value[:19]
    return ""
