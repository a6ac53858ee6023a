"""Labels of the briefing in Chinese (the default: these are Chinese bureaus) and English.

One table, so the PNG, PDF, Markdown and the console page say the same thing in the same words.
"""

from __future__ import annotations

LANGS = ("zh", "en")

_LABELS: dict[str, tuple[str, str]] = {
    "title": ("城市运行管理每日简报", "Daily City Operations Briefing"),
    "platform": ("城市运行管理服务平台", "City Operations Management Service Platform"),
    "generated": ("生成于", "Generated"),
    "day": ("统计日", "Day"),
    "totals": ("一、总体情况", "1. Totals"),
    "rates": ("二、主要指标与目标", "2. Rates against targets"),
    "districts": ("三、各区排名", "3. District ranking"),
    "departments": ("四、部门排名", "4. Department ranking"),
    "hotspots": ("五、问题高发区域", "5. Hotspots"),
    "categories": ("高发问题类别", "Most reported categories"),
    "overdue": ("六、超期未结案件", "6. Overdue open cases"),
    "sensors": ("七、物联感知超标情况", "7. Sensor exceedances"),
    "captures": ("八、AI视频抓拍情况", "8. AI video captures"),
    "charts": ("九、图表", "9. Charts"),
    "received": ("受理", "Received"),
    "registered": ("立案", "Registered"),
    "dispatched": ("派遣", "Dispatched"),
    "handled": ("处置", "Handled"),
    "closed": ("结案", "Closed"),
    "closed_on_time": ("按期结案", "Closed on time"),
    "reworked": ("返工", "Reworked"),
    "overdue_open": ("超期未结(当前)", "Overdue open (now)"),
    "captures_n": ("AI抓拍", "AI captures"),
    "iot_cases": ("物联感知立案", "IoT cases"),
    "closure": ("结案率", "Closure rate"),
    "on_time": ("按期结案率", "On-time closure rate"),
    "handling": ("处置率", "Handling rate"),
    "rework": ("返工率", "Rework rate"),
    "score": ("综合指标值", "Composite score"),
    "weighted": ("加权", "Weighted"),
    "target": ("目标", "Target"),
    "value": ("实际", "Actual"),
    "status": ("达标", "Met"),
    "met": ("达标", "met"),
    "missed": ("未达标", "missed"),
    "no_data": ("无数据", "no data"),
    "rank": ("名次", "Rank"),
    "name": ("名称", "Name"),
    "district": ("区", "District"),
    "department": ("部门", "Department"),
    "grid": ("网格", "Grid"),
    "area": ("街道/社区", "Street / community"),
    "count": ("数量", "Count"),
    "case": ("案件号", "Case"),
    "category": ("类别", "Category"),
    "stage": ("环节", "Stage"),
    "deadline": ("时限", "Deadline"),
    "overdue_hours": ("超期(小时)", "Overdue (h)"),
    "address": ("地址/描述", "Address / description"),
    "top_n": ("前{n}名", "top {n}"),
    "bottom_n": ("后{n}名", "bottom {n}"),
    "of_total": ("共{n}件,列出{m}件", "{n} in all, {m} listed"),
    "kind": ("类型", "Type"),
    "sensor": ("监测点", "Sensor"),
    "peak": ("数值", "Value"),
    "limit": ("限值", "Limit"),
    "since": ("开始", "Since"),
    "exceedances": ("超标", "Exceedances"),
    "offline": ("设备离线告警", "Device-offline alerts"),
    "set_aside": ("未采纳(规则过滤)", "Set aside by rules"),
    "capture_type": ("抓拍类型", "Capture type"),
    "camera": ("摄像头", "Camera"),
    "time": ("时间", "Time"),
    "by_hour": ("分时受理与结案", "Received and closed by hour"),
    "district_scores": ("各区综合指标值", "District composite scores"),
    "rates_chart": ("指标与目标", "Rates and targets"),
    "map": ("问题高发网格分布", "Hotspot grids"),
    "sources": ("案件来源", "Case sources"),
    "none": ("无", "none"),
    "overdue_note": ("超期数为生成时的实时值。", "Overdue figures are live at generation time."),
    "rates_note": ("应结案数 = 结案数 + 超期未结数;加权值按难点问题权重计算。",
                   "Due = closed + overdue open; weighted rates count hard problems 2×/3×/5×."),
    # short column headers of the PNG's ranking tables (1080 px leaves ~100 px a column)
    "received_short": ("受理", "Recv."),
    "closure_short": ("结案率", "Closure"),
    "on_time_short": ("按期结案率", "On time"),
    "overdue_short": ("超期未结", "Overdue"),
    "score_short": ("综合指标值", "Score"),
    "weekday": ("星期一 星期二 星期三 星期四 星期五 星期六 星期日", "Mon Tue Wed Thu Fri Sat Sun"),
}

SOURCES: dict[str, tuple[str, str]] = {
    "grid_patrol": ("网格员巡查", "Grid patrol"),
    "citizen_app": ("市民城管通", "Citizen app"),
    "hotline_12345": ("12345热线", "12345 hotline"),
    "hotline_12319": ("12319热线", "12319 hotline"),
    "ai_video": ("视频AI抓拍", "AI video"),
    "iot_sensor": ("物联感知", "IoT sensors"),
    "drone": ("无人机巡查", "Drone"),
    "inspection": ("督查考评", "Inspection"),
}

STAGES: dict[str, tuple[str, str]] = {
    "register": ("立案", "register"), "dispatch": ("派遣", "dispatch"), "handle": ("处置", "handle"),
    "verify": ("核查", "verify"), "accept": ("受理", "accept"),
}


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"language {lang!r}: use one of {', '.join(LANGS)}")
    return lang


def t(key: str, lang: str, **fmt: object) -> str:
    """The label ``key`` in ``lang``; ``fmt`` fills ``{placeholders}``."""
    zh, en = _LABELS[key]
    text = zh if lang == "zh" else en
    return text.format(**fmt) if fmt else text


def pick(pair: tuple[str, str] | None, lang: str, default: str = "") -> str:
    if pair is None:
        return default
    return pair[0] if lang == "zh" else pair[1]


def pct(value: float | None, lang: str) -> str:
    """A rate in 0..1 as a percentage with one decimal, or the language's "no data"."""
    return t("no_data", lang) if value is None else f"{value * 100:.1f}%"
