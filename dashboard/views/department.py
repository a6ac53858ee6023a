"""View models of the department desk and of the 督办单 lists (pure: the pages read, these shape), plus the check
and storage of a 处置 photo.

Why the photo is checked here and not left to the worker: it is a file a user chose, so it is untrusted like
camera evidence (``dashboard/evidence.py``): only JPEG, PNG or WEBP, at most :data:`MAX_PHOTO_BYTES`, its pixel
count read from the header before anything is decoded, and a file PIL cannot verify is refused. What is stored
is a fresh name under ``uploads/<department>/`` of the evidence store, so a file name never becomes a path.
"""

from __future__ import annotations

import io
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image

from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.supervision_orders import LEVELS, MAX_WINDOW_S, MIN_WINDOW_S, REPLY_WINDOWS_S, Order
from dashboard import evidence
from dashboard.i18n import CASE_STATE, label, t
from dashboard.views.common import local_time

MAX_PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = ("jpg", "jpeg", "png", "webp")  # what the uploader offers; the content decides, not the name
EXTENSION = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
UPLOADS = "uploads"
SAFE_PART = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")
DEADLINE_FMT = "%m-%d %H:%M"


def fmt_left(seconds: float, lang: str = "zh") -> str:
    """``1天3小时`` / ``2小时05分`` / ``4分30秒`` of time left; ``已超期`` once it is past."""
    if seconds < 0:
        return t("past_due", lang)
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if lang == "zh":
        return f"{d}天{h}小时" if d else f"{h}小时{m:02d}分" if h else f"{m}分{s:02d}秒"
    return f"{d} d {h} h" if d else f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def left_of(iso: str, now: datetime) -> float | None:
    try:
        return (datetime.fromisoformat(iso) - now).total_seconds() if iso else None
    except ValueError:
        return None


def department_name(city: CityModel, department: str, lang: str = "zh") -> str:
    d = city.departments.get(department)
    if d is None:
        return department
    return d.name_zh if lang == "zh" else d.name_en


def queue_rows(cases: Iterable[Mapping[str, str]], orders: Mapping[str, Order], city: CityModel,
               catalogue: Catalogue, now: datetime, tz, lang: str = "zh") -> list[dict]:  # noqa: ANN001
    """The department's queue (``read.supervision_orders.department_queue``, soonest deadline first) as rows; each
    names the open 督办单's level when the case has one (``orders``: open orders by case id)."""
    rows = []
    for c in cases:
        code = c.get("category", "")
        area = " · ".join(city.area_name(a, lang) for a in (c.get("district", ""), c.get("street", "")) if a)
        due = c.get("handle_deadline") or c.get("deadline") or ""
        left = left_of(due, now)
        order = orders.get(c["case_id"])
        rows.append({"case_id": c["case_id"],
                     "category": catalogue.get(code).name(lang) if code in catalogue else code,
                     "area": area or "—",
                     "state": label(CASE_STATE, c.get("state", ""), lang),
                     "deadline": local_time(due, tz, DEADLINE_FMT) if due else "—",
                     "remaining": fmt_left(left, lang) if left is not None else "—",
                     "overdue": left is not None and left < 0,
                     "level": "" if order is None else order.level_name if lang == "zh" else f"level {order.level}"})
    return rows


def order_rows(orders: Iterable[Order], city: CityModel, now: datetime, tz, lang: str = "zh") -> list[dict]:  # noqa: ANN001
    """Open 督办单 as the duty console's panel and the department desk list them."""
    rows = []
    for o in orders:
        left = left_of(o.reply_due, now)
        flags = []
        if o.reminded:
            flags.append(t("sup_reminded", lang))
        if o.escalations:
            flags.append(t("sup_escalated", lang).format(n=o.escalations))
        if o.overdue:
            flags.append(t("sup_overdue", lang))
        rows.append({"case_id": o.case_id, "level": o.level, "level_name": o.level_name if lang == "zh"
                     else f"level {o.level}", "department": department_name(city, o.department, lang),
                     "raised_by": o.raised_by, "raised_at": local_time(o.raised_at, tz, DEADLINE_FMT),
                     "note": o.note, "reply_due": local_time(o.reply_due, tz, DEADLINE_FMT + ":%S"),
                     "remaining": fmt_left(left, lang) if left is not None else "—",
                     "reminded": bool(o.reminded), "escalations": o.escalations, "overdue": bool(o.overdue),
                     "flags": " · ".join(flags)})
    return rows


def level_options() -> list[int]:
    return sorted(LEVELS)


def reply_windows(spec: str) -> dict[str, float]:
    """The reply windows the duty console offers: ``CITYOPS_SUPERVISION_WINDOWS`` (``label=seconds,…``) or, when
    empty, the platform's own (``REPLY_WINDOWS_S``). Entries that do not parse or lie outside what the command
    agent accepts (a minute to 30 days) are left out; if none is left, the platform's own are offered."""
    out: dict[str, float] = {}
    for item in spec.split(","):
        name, _, value = item.partition("=")
        try:
            seconds = float(value)
        except ValueError:
            continue
        if name.strip() and MIN_WINDOW_S <= seconds <= MAX_WINDOW_S:
            out[name.strip()] = seconds
    return out or dict(REPLY_WINDOWS_S)


def reply_due(now: datetime, window_s: float) -> datetime:
    """The deadline a 督办 asks for: ``window_s`` from now, rounded up to the whole second (so the window the agent
    measures from the command's own time is never under the one chosen)."""
    due = now + timedelta(seconds=window_s)
    return due.replace(microsecond=0) + timedelta(seconds=1) if due.microsecond else due


class PhotoRefused(ValueError):
    """A 处置 photo that is not a usable image (too big, not JPEG/PNG/WEBP, unreadable)."""


def photo_format(data: bytes) -> str:
    """The image format of an uploaded photo (``JPEG``, ``PNG``, ``WEBP``), after the console's safety checks."""
    if not data:
        raise PhotoRefused("empty file")
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRefused(f"{len(data)} bytes is over {MAX_PHOTO_BYTES}")
    try:
        with Image.open(io.BytesIO(data), formats=evidence.FORMATS) as img:
            w, h = img.size
            if w * h > evidence.MAX_PIXELS or max(w, h) > evidence.MAX_SIDE:
                raise PhotoRefused(f"{w}×{h} pixels is over the limit")
            fmt = str(img.format)
            img.verify()
    except PhotoRefused:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise PhotoRefused(f"not a readable image: {type(err).__name__}") from None
    if fmt not in EXTENSION:
        raise PhotoRefused(f"format {fmt} is not accepted")
    return fmt


def save_photo(evidence_dir: Path, department: str, data: bytes) -> str:
    """Check the photo and store it as ``uploads/<department>/<uuid>.<ext>`` in the evidence store; returns that
    reference (relative to ``evidence_dir``), which the 处置 command carries."""
    if not SAFE_PART.match(department):
        raise PhotoRefused(f"department id {department!r} cannot name a folder")
    ext = EXTENSION[photo_format(data)]
    folder = evidence_dir / UPLOADS / department
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.{ext}"
    tmp = folder / f".{name}.part"
    tmp.write_bytes(data)
    os.replace(tmp, folder / name)  # never half a photo under its name
    return f"{UPLOADS}/{department}/{name}"
