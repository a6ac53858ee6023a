"""Evidence images with the capture's box drawn on, as small JPEG thumbnails for the console.

Why re-draw the box: the detectors store the full frame as evidence (so nothing is lost for a
later review) and the box separately in the capture; the console draws it at display time. Paths
come from events, so they are resolved inside the evidence store and refused if they escape it.

Files are untrusted too: a few-KB PNG can declare 30000×30000 pixels (a decompression bomb, GBs once
decoded). The size is read from the header before anything is decoded, and an image over
:data:`MAX_PIXELS` (or in a format cameras do not write) is refused with :class:`UnsafeImage`, an
``OSError``, so the pages show their "no evidence" placeholder instead of failing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

BOX_COLOUR = (255, 59, 48)
MAX_PIXELS = 40_000_000  # an 8K frame (7680×4320) is 33 M; camera evidence never comes near
MAX_SIDE = 16_384
FORMATS = ("JPEG", "PNG", "WEBP")  # what the detectors write (JPEG) and what an operator might attach


class UnsafeImage(OSError):
    """An evidence file the console will not decode (too many pixels, or not an image format it shows)."""


def resolve(evidence_dir: Path, ref: str) -> Path | None:
    """The file a reference names, only if it lies inside ``evidence_dir`` and exists."""
    if not ref:
        return None
    base = evidence_dir.resolve()
    path = (base / ref).resolve()
    if base != path and base not in path.parents:
        return None
    return path if path.is_file() else None


def open_checked(path: Path) -> Image.Image:
    """The image at ``path``, opened lazily (header only) and refused before decoding if it is too large."""
    try:
        img = Image.open(path, formats=FORMATS)
    except Image.DecompressionBombError as err:  # PIL's own guard, at twice its pixel limit
        raise UnsafeImage(f"{path.name}: {err}") from None
    w, h = img.size
    if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
        img.close()
        raise UnsafeImage(f"{path.name}: {w}×{h} pixels is over the console's limit of {MAX_PIXELS:,} "
                          f"(and {MAX_SIDE} per side)")
    return img


def thumbnail(path: Path, box: Sequence[float] | None, frame: tuple[int, int] | None, width: int = 320) -> bytes:
    """JPEG bytes of the image scaled to ``width`` px with ``box`` ([x1, y1, x2, y2] in frame pixels) drawn.

    Raises :class:`UnsafeImage` (an ``OSError``, like an unreadable file) for an image too large to decode.
    """
    with open_checked(path) as img:
        full_w, full_h = img.size
        img.draft("RGB", (width, max(1, round(full_h * width / full_w))))  # JPEG: decode at a reduced scale
        img = img.convert("RGB")
        scale = width / full_w
        img = img.resize((width, max(1, round(full_h * scale))))  # draw after scaling: crisp lines
        if box is not None:
            fw, fh = frame or (full_w, full_h)
            sx, sy = img.width / fw, img.height / fh
            x1, y1, x2, y2 = box
            line = max(2, width // 160)
            ImageDraw.Draw(img).rectangle([x1 * sx, y1 * sy, x2 * sx, y2 * sy], outline=BOX_COLOUR, width=line)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        return buf.getvalue()
