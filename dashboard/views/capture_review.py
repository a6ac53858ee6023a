"""View models of the duty console's 待审核抓拍 (captures waiting for review): queue rows, false-alarm rates per
camera and type, and capture → dispatch time (median, p90) against the 5-minute target.

Why a view module: the page only lays out; what a row says and how the figures are computed is plain code
with unit tests (tests/unit/test_capture_review_views.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from cityops.catalogue import Catalogue
from cityops.read.captures import ReviewStats

DISPATCH_TARGET_S = 300.0  # 5 minutes from the capture to its dispatch (the source documents' target)

TEXT = {
    "title": ("待审核抓拍", "Captures to review"),
    "confirm": ("确认立案", "Confirm"),
    "false_alarm": ("误报", "False alarm"),
    "none": ("没有待审核的抓拍", "No capture waits for review"),
    "camera": ("摄像头", "Camera"),
    "zone": ("区域", "Zone"),
    "type": ("类型", "Type"),
    "confidence": ("置信度", "Confidence"),
    "dwell": ("停留", "Dwell"),
    "waiting": ("等待", "Waiting"),
    "rates": ("误报率", "False alarm rate"),
    "reviewed": ("已审核", "Reviewed"),
    "lag": ("抓拍→派遣", "Capture → dispatch"),
    "median": ("中位数", "median"),
    "p90": ("P90", "p90"),
    "target": ("目标", "target"),
    "samples": ("样本", "samples"),
    "no_evidence": ("无证据图片", "no evidence image"),
    "sent": ("已发送", "sent"),
    "waiting_total": ("待审核", "waiting"),
}


def text(name: str, lang: str = "zh") -> str:
    zh, en = TEXT[name]
    return zh if lang == "zh" else en


def fmt_duration(seconds: float, lang: str = "zh") -> str:
    """``2分05秒`` / ``2 min 05 s``; under a minute only seconds."""
    s = max(0, int(round(seconds)))
    m, s = divmod(s, 60)
    if lang == "zh":
        return f"{m}分{s:02d}秒" if m else f"{s}秒"
    return f"{m} min {s:02d} s" if m else f"{s} s"


def queue_rows(pending: Iterable[Mapping], catalogue: Catalogue, lang: str = "zh") -> list[dict]:
    """One row per capture waiting for review (as read: oldest first), with labels and what the buttons send."""
    rows = []
    for p in pending:
        ai_type = str(p.get("ai_type", ""))
        try:
            type_label = catalogue.by_ai_type(ai_type).name(lang)
        except KeyError:
            type_label = ai_type
        box = p.get("box")
        rows.append({
            "event_id": str(p.get("event_id", "")),
            "camera": str(p.get("camera_name") or p.get("camera_id", "")),
            "camera_id": str(p.get("camera_id", "")),
            "zone": str(p.get("zone_id") or "—"),
            "type": type_label,
            "ai_type": ai_type,
            "confidence": f"{float(p.get('confidence', 0.0)):.2f}",
            "dwell": fmt_duration(float(p.get("dwell_s", 0.0)), lang),
            "waiting": fmt_duration(float(p.get("waiting_s", 0.0)), lang),
            "late": float(p.get("waiting_s", 0.0)) > DISPATCH_TARGET_S,
            "evidence_ref": str(p.get("evidence_ref", "")),
            "crop_ref": str(p.get("crop_ref", "")),
            "box": list(box) if isinstance(box, list) and len(box) == 4 else None,
            "frame": (int(p["frame_width"]), int(p["frame_height"])) if p.get("frame_width") and p.get(
                "frame_height") else None,
            "case_id": str(p.get("case_id", "")),
        })
    return rows


def _rate(counts: Mapping[str, int]) -> float | None:
    reviewed = counts.get("reviewed", 0)
    return counts.get("false_alarm", 0) / reviewed if reviewed else None


def rate_rows(stats: ReviewStats, camera_names: Mapping[str, str], catalogue: Catalogue,
              lang: str = "zh") -> list[dict]:
    """False alarm rate (误报 / reviewed) per camera and per type, highest first; ``scope`` is camera or type."""
    rows = []
    for scope, table in (("camera", stats.by_camera), ("type", stats.by_type)):
        for key, counts in table.items():
            rate = _rate(counts)
            if rate is None:
                continue
            if scope == "camera":
                name = camera_names.get(key, key)
            else:
                try:
                    name = catalogue.by_ai_type(key).name(lang)
                except KeyError:
                    name = key
            rows.append({"scope": scope, "id": key, "name": name, "reviewed": counts.get("reviewed", 0),
                         "false_alarm": counts.get("false_alarm", 0), "rate": rate, "rate_label": f"{rate:.0%}"})
    return sorted(rows, key=lambda r: (r["scope"], -r["rate"], -r["reviewed"], r["id"]))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` (0–1) percentile by linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def lag_summary(samples: Sequence[float], target_s: float = DISPATCH_TARGET_S) -> dict:
    """Median and p90 of capture → dispatch seconds, the share within ``target_s`` and whether p90 meets it."""
    median, p90 = percentile(samples, 0.5), percentile(samples, 0.9)
    within = sum(1 for s in samples if s <= target_s) / len(samples) if samples else None
    return {"n": len(samples), "median_s": median, "p90_s": p90, "within_target": within, "target_s": target_s,
            "meets_target": p90 is not None and p90 <= target_s}
