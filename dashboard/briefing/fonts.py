"""The CJK font every briefing renderer uses, located in the installed font wheels.

Why a wheel: the briefing must render Chinese on a machine with no system CJK font and no network
(a bare server, CI). ``cvttf-notosanscjk-regular`` / ``-bold`` ship Noto Sans CJK (SIL Open Font
License) as OpenType/CFF files inside the package, so installing the project's dependencies is all it
takes. ``CITYOPS_BRIEFING_FONT`` / ``CITYOPS_BRIEFING_FONT_BOLD`` point at another font file (e.g.
a bureau's licensed 方正 or 思源 font) when set.

A missing font raises :class:`FontMissing` instead of silently falling back to a Latin font, which
would print boxes (豆腐块) in place of every Chinese character.
"""

from __future__ import annotations

import importlib
import os
from functools import lru_cache
from pathlib import Path

_PACKAGES = {"regular": "cvttf_NotoSansCJK_Regular", "bold": "cvttf_NotoSansCJK_Bold"}
_ENV = {"regular": "CITYOPS_BRIEFING_FONT", "bold": "CITYOPS_BRIEFING_FONT_BOLD"}
FONT_SUFFIXES = (".otf", ".ttf", ".ttc")


class FontMissing(RuntimeError):
    """No CJK font file could be found; the briefing refuses to render boxes instead of characters."""


@lru_cache(maxsize=4)
def font_path(weight: str = "regular") -> Path:
    """Path of the CJK font file of ``weight`` (``regular`` or ``bold``)."""
    if weight not in _PACKAGES:
        raise ValueError(f"font weight {weight!r}: use regular or bold")
    override = os.environ.get(_ENV[weight], "")
    if override:
        path = Path(override)
        if not path.is_file():
            raise FontMissing(f"{_ENV[weight]}={override!r} is not a file")
        return path
    try:
        module = importlib.import_module(_PACKAGES[weight])
    except ImportError as exc:
        raise FontMissing(f"the CJK font package for {weight} text is not installed "
                          f"(make venv installs {_PACKAGES[weight]}, a dependency in pyproject.toml)") from exc
    folder = Path(module.__file__ or "").parent
    for candidate in sorted(folder.iterdir()):
        if candidate.suffix.lower() in FONT_SUFFIXES:
            return candidate
    raise FontMissing(f"no font file in {folder}; reinstall {_PACKAGES[weight]}")


def covers(text: str, weight: str = "regular") -> list[str]:
    """Characters of ``text`` the font has no glyph for (whitespace ignored); [] when it covers all."""
    cmap = _cmap(str(font_path(weight)))
    return sorted({ch for ch in text if not ch.isspace() and ord(ch) not in cmap})


@lru_cache(maxsize=4)
def _cmap(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    font = TTFont(path, lazy=True, fontNumber=0)
    try:
        return frozenset(font.getBestCmap())
    finally:
        font.close()


@lru_cache(maxsize=1)
def matplotlib_family() -> str:
    """Register both weights with matplotlib's font manager and return their family name."""
    from matplotlib import font_manager

    for weight in ("regular", "bold"):
        font_manager.fontManager.addfont(str(font_path(weight)))
    return font_manager.FontProperties(fname=str(font_path("regular"))).get_name()
