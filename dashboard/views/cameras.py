"""View models of the 摄像头 page: a camera's latest frame with its zones and masks drawn, its health as a table,
today's captures by type, and the zone editor's clicks turned into a polygon.

Geometry is normalised (0..1 of the frame, as ``cameras.yml`` stores it), so the same zones draw on any frame
size; frames come from the evidence store and are opened with :func:`dashboard.evidence.open_checked` (refs from
messages are untrusted: resolved inside the store, refused when too large to decode).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw

from cityops.catalogue import Catalogue
from cityops.read.cameras import CameraHealth
from dashboard import evidence
from dashboard.i18n import CAMERA_STATE, label, t
from dashboard.views.common import local_time

Point = tuple[float, float]
ZONE_COLOURS = ((0, 200, 255), (255, 149, 0), (52, 199, 89), (175, 82, 222), (255, 45, 85), (90, 200, 250))
MASK_COLOUR = (40, 40, 40)
DRAFT_COLOUR = (255, 214, 10)
FRAME_SIZE = (960, 540)  # drawn width × height when a camera has no frame yet (16:9, as most cameras)


@dataclass(frozen=True)
class ZoneShape:
    id: str
    name: str
    polygon: tuple[Point, ...]


@dataclass(frozen=True)
class CameraGeometry:
    """What is drawn on a camera's frame: its zones (numbered in this order) and its masks."""

    zones: tuple[ZoneShape, ...] = ()
    masks: tuple[tuple[Point, ...], ...] = ()


def geometry_of(camera: object) -> CameraGeometry:
    """Zones and masks of a ``cameras.yml`` spec or a city-data camera (both have ``zones``; ``masks`` if any)."""
    zones = tuple(ZoneShape(z.id, getattr(z, "name", None) or getattr(z, "name_zh", z.id), tuple(z.polygon))
                  for z in getattr(camera, "zones", ()))
    return CameraGeometry(zones, tuple(tuple(m) for m in getattr(camera, "masks", ())))


def zone_colour(index: int) -> tuple[int, int, int]:
    return ZONE_COLOURS[index % len(ZONE_COLOURS)]


def _pixels(polygon: Sequence[Point], size: tuple[int, int]) -> list[tuple[float, float]]:
    w, h = size
    return [(x * (w - 1), y * (h - 1)) for x, y in polygon]


def draw_overlay(frame: Image.Image, geometry: CameraGeometry, draft: Sequence[Point] = (),
                 highlight: str | None = None) -> Image.Image:
    """A copy of ``frame`` with masks shaded dark, zones tinted and outlined in their colours (numbered from 1),
    and the editor's ``draft`` polygon in yellow with its corners marked. ``highlight``: the zone being edited,
    drawn thicker."""
    base = frame.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(layer)
    line = max(2, base.width // 320)
    for mask in geometry.masks:
        if len(mask) >= 3:
            pen.polygon(_pixels(mask, base.size), fill=(*MASK_COLOUR, 150), outline=(*MASK_COLOUR, 255))
    order = sorted(enumerate(geometry.zones), key=lambda iz: iz[1].id == highlight)  # the edited one on top
    for i, zone in order:
        if len(zone.polygon) < 3:
            continue
        colour = zone_colour(i)
        points = _pixels(zone.polygon, base.size)
        pen.polygon(points, fill=(*colour, 50))
        pen.line([*points, points[0]], fill=(*colour, 255), width=line * (2 if zone.id == highlight else 1))
        x, y = points[0]
        pen.rectangle([x + 2, y + 2, x + 18, y + 18], fill=(*colour, 230))
        pen.text((x + 6, y + 4), str(i + 1), fill=(0, 0, 0, 255))
    if draft:
        points = _pixels(draft, base.size)
        if len(points) >= 2:
            pen.line([*points, points[0]] if len(points) >= 3 else points, fill=(*DRAFT_COLOUR, 255), width=line * 2)
        r = line * 3
        for x, y in points:
            pen.ellipse([x - r, y - r, x + r, y + r], fill=(*DRAFT_COLOUR, 255), outline=(0, 0, 0, 255))
    return Image.alpha_composite(base, layer).convert("RGB")


def blank_frame(size: tuple[int, int] = FRAME_SIZE) -> Image.Image:
    """The canvas for a camera without a frame yet: zones can still be seen and edited on it."""
    return Image.new("RGB", size, (58, 62, 70))


def latest_frame(evidence_dir: Path, ref: str | None, width: int = FRAME_SIZE[0]) -> Image.Image | None:
    """The camera's latest frame scaled to ``width``, or None: no ref, a ref outside the store, no such file,
    an unreadable or unsafe image (too many pixels, not a camera format)."""
    path = evidence.resolve(evidence_dir, ref or "")
    if path is None:
        return None
    try:
        with evidence.open_checked(path) as img:
            w, h = img.size
            height = max(1, round(h * width / w))
            img.draft("RGB", (width, height))  # JPEG: decode at a reduced scale
            return img.convert("RGB").resize((width, height))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def jpeg(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def click_point(click: Mapping[str, object]) -> Point | None:
    """A click of ``streamlit_image_coordinates`` (pixels of the image as shown) as a normalised point, clamped
    to the frame; None for anything else."""
    try:
        x, y = float(click["x"]), float(click["y"])  # type: ignore[arg-type]
        w, h = float(click["width"]), float(click["height"])  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return None
    if w <= 1 or h <= 1:
        return None
    return (round(min(1.0, max(0.0, x / (w - 1))), 4), round(min(1.0, max(0.0, y / (h - 1))), 4))


def health_rows(cameras: Iterable[tuple[str, str]], health: Mapping[str, CameraHealth],
                counts: Mapping[str, Counter[str]], tz, lang: str = "zh") -> pd.DataFrame:  # noqa: ANN001
    """One row per (camera id, name): shown state, frames/s, last frame, reconnects, today's captures, error."""
    cols = [t(k, lang) for k in ("camera", "name", "state", "fps", "last_frame", "reconnects", "captures_today",
                                 "detector", "error")]
    rows = []
    for cam, name in cameras:
        h = health.get(cam)
        s = h.status if h is not None else None
        rows.append(dict(zip(cols, [
            cam, name, label(CAMERA_STATE, h.state if h is not None else "unknown", lang),
            f"{s.fps:.1f}" if s is not None else "—",
            local_time(s.last_frame_at.isoformat(), tz, "%m-%d %H:%M:%S") if s is not None and s.last_frame_at
            else "—",
            str(s.reconnects) if s is not None else "—",
            sum(counts.get(cam, Counter()).values()),
            s.detector if s is not None else "",
            (s.error or "") if s is not None else ""], strict=True)))
    return pd.DataFrame(rows, columns=cols)


def status_facts(h: CameraHealth | None, tz, lang: str = "zh") -> pd.DataFrame:  # noqa: ANN001
    """One camera's health as a two-column table (text stays text)."""
    s = h.status if h is not None else None
    facts = [("state", label(CAMERA_STATE, h.state if h is not None else "unknown", lang))]
    if s is not None:
        facts += [
            ("fps", f"{s.fps:.1f}"),
            ("last_frame", local_time(s.last_frame_at.isoformat(), tz, "%Y-%m-%d %H:%M:%S") if s.last_frame_at
             else "—"),
            ("status_at", local_time(s.at.isoformat(), tz, "%Y-%m-%d %H:%M:%S")),
            ("reconnects", str(s.reconnects)),
            ("frames", f"{s.frames_processed:,} / {s.frames_read:,}"),
            ("frame_size", f"{s.frame_width}×{s.frame_height}" if s.frame_width and s.frame_height else "—"),
            ("detector", s.detector),
            ("error", s.error or "—"),
        ]
    return pd.DataFrame([{t("detail", lang): t(k, lang), "": v} for k, v in facts])


def ai_name(catalogue: Catalogue, ai_type: str, lang: str = "zh") -> str:
    try:
        return catalogue.by_ai_type(ai_type).name(lang)
    except (KeyError, ValueError):
        return ai_type


def type_counts(counts: Counter[str], catalogue: Catalogue, lang: str = "zh") -> pd.DataFrame:
    """Today's captures of one camera by type, most first."""
    return pd.DataFrame([{t("type", lang): ai_name(catalogue, k, lang), t("count", lang): n}
                         for k, n in counts.most_common()], columns=[t("type", lang), t("count", lang)])
