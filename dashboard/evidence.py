"""Evidence images with the capture's box drawn on, as small JPEG thumbnails for the console.

Why re-draw the box: the detectors store the full frame as evidence (so nothing is lost for a
later review) and the box separately in the capture; the console draws it at display time. Paths
come from events, so they are resolved inside the evidence store and refused if they escape it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

BOX_COLOUR = (255, 59, 48)


def resolve(evidence_dir: Path, ref: str) -> Path | None:
    """The file a reference names, only if it lies inside ``evidence_dir`` and exists."""
    if not ref:
        return None
    base = evidence_dir.resolve()
    path = (base / ref).resolve()
    if base != path and base not in path.parents:
        return None
    return path if path.is_file() else None


def thumbnail(path: Path, box: Sequence[float] | None, frame: tuple[int, int] | None, width: int = 320) -> bytes:
    """JPEG bytes of the image scaled to ``width`` px with ``box`` ([x1, y1, x2, y2] in frame pixels) drawn."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        scale = width / img.width
        img = img.resize((width, max(1, round(img.height * scale))))  # draw after scaling: crisp lines
        if box is not None:
            fw, fh = frame or (round(img.width / scale), round(img.height / scale))
            sx, sy = img.width / fw, img.height / fh
            x1, y1, x2, y2 = box
            line = max(2, width // 160)
            ImageDraw.Draw(img).rectangle([x1 * sx, y1 * sy, x2 * sx, y2 * sy], outline=BOX_COLOUR, width=line)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        return buf.getvalue()
