"""A briefing built by hand, for the rendering tests and the console's briefing page."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from dashboard.briefing.compose import (
    Briefing,
    CaptureRow,
    Hotspot,
    OverdueCase,
    RankRow,
    Rate,
    SensorExceedance,
    parse_targets,
)

EVIL = "<script>alert('x')</script> | [点我](javascript:alert(1)) **粗** <img src=x onerror=alert(2)>"


def sample(lang: str = "zh") -> Briefing:
    """A full briefing of one day, with hostile event text (``EVIL``), for the renderers and the console page."""
    zh = lang == "zh"
    return Briefing(
        day=date(2026, 11, 24), lang=lang, city="厦门市" if zh else "Xiamen",
        generated_at=datetime(2026, 11, 25, 7, 30, tzinfo=ZoneInfo("Asia/Shanghai")),
        totals=[("received", "受理" if zh else "Received", 3534), ("closed", "结案" if zh else "Closed", 1346),
                ("overdue_open", "超期未结(当前)" if zh else "Overdue", 7)],
        rates=[Rate("closure", "结案率", 0.991, 0.985, 0.98), Rate("on_time", "按期结案率", 0.85, 0.84, 0.90),
               Rate("handling", "处置率", None, None, 0.95), Rate("rework", "返工率", 0.02, 0.02, 0.05),
               Rate("score", "综合指标值", 93.5, None, 90.0)],
        districts=[RankRow(1, "350206", "湖里区", 497, 194, 0.99, 0.9, 1, 95.2),
                   RankRow(2, "350213", "翔安区", 690, 270, 0.5, 0.4, 6, 51.0)],
        departments=[RankRow(i + 1, f"D{i}", f"部门{i}街道城管执法中队", 10, 5, 1.0, 1.0, 0, 90.0 - i)
                     for i in range(12)],
        categories=[("市容环境/暴露垃圾", 289), ("宣传广告/非法小广告", 249)],
        sources=[("网格员巡查", 2130), ("12345热线", 505)],
        hotspots=[Hotspot("350203001004008", "思明区 · 中华街道 · 岭林社区", 118.093, 24.44025, 8)],
        grid_counts=[(118.093, 24.44025, 8), (118.117, 24.52825, 3)],
        overdue=[OverdueCase("XM2026112400485", "街面秩序/噪声扰民", "湖里区", "江头街道城管执法中队", "处置",
                             "11-24 11:04", 33.3, EVIL, 1)],
        overdue_total=7,
        exceedances_by_kind=[("噪声", 2), ("烟感", 1)], exceedances_by_district=[("同安区", 3)],
        exceedances=[SensorExceedance("SITE-0005 工地PM10监测 <b>x</b>", "扬尘", "pm10", 178.0, 80.0, "ug/m3",
                                      "10:20", "海沧区")],
        offline_alerts=2, captures_total=5, captures_set_aside=1, captures_by_type=[("占道经营", 3), ("垃圾满溢", 2)],
        captures_by_district=[("思明区", 5)],
        recent_captures=[CaptureRow("10:05", "中山路<摄像头>", "占道经营", "AI-1")],
        hourly=[(i, i // 2) for i in range(24)], meta={"targets": parse_targets("")},
    )
