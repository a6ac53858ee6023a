"""Labels of the period 通报 and the 考核 in Chinese and English (the daily briefing's table has the shared
words: rates, steps, "no data")."""

from __future__ import annotations

from dashboard.briefing.i18n import t as briefing_t

_LABELS: dict[str, tuple[str, str]] = {
    "title_week": ("城市运行管理周通报", "Weekly City Operations Report"),
    "title_month": ("城市运行管理月度通报", "Monthly City Operations Report"),
    "title_quarter": ("城市运行管理季度点评", "Quarterly City Operations Review"),
    "kind_week": ("周通报", "weekly"),
    "kind_month": ("月度通报", "monthly"),
    "kind_quarter": ("季度点评", "quarterly"),
    "period": ("统计周期", "Period"),
    "s_totals": ("一、总体情况", "1. Totals"),
    "s_rates": ("二、主要指标：目标与环比", "2. Rates against targets and the previous period"),
    "s_red_black": ("三、红黑榜", "3. Best and worst within class"),
    "s_assessment": ("四、考核得分与排名", "4. Assessment scores and ranks"),
    "s_trends": ("五、趋势", "5. Trends"),
    "s_repeats": ("六、重复问题", "6. Repeated problems"),
    "s_supervision": ("七、督办情况", "7. Supervision (督办)"),
    "indicator": ("指标", "Indicator"),
    "this_period": ("本期", "This period"),
    "previous": ("上期", "Previous"),
    "change": ("环比", "Change"),
    "target": ("目标", "Target"),
    "status": ("状态", "Status"),
    "met": ("达标", "met"),
    "missed": ("未达标", "missed"),
    "received": ("受理", "Received"),
    "registered": ("立案", "Registered"),
    "due": ("应结案", "Due"),
    "closed": ("结案", "Closed"),
    "on_time_n": ("按期结案", "Closed on time"),
    "overdue_n": ("超期", "Overdue"),
    "reworked": ("返工", "Reworked"),
    "supervised": ("督办", "Supervised"),
    "findings": ("督查发现", "Inspection findings"),
    "supervision_overdue": ("督办逾期", "督办 unanswered"),
    "class": ("类别", "Class"),
    "red": ("红榜（本类第一）", "Best of the class"),
    "black": ("黑榜（本类末位）", "Worst of the class"),
    "street": ("街道", "Street"),
    "department": ("部门", "Department"),
    "district": ("区", "District"),
    "streets_in": ("街道 {klass} 类", "Streets, class {klass}"),
    "departments_in": ("部门 {klass}", "Departments, class {klass}"),
    "rank": ("名次", "Rank"),
    "unit": ("单位", "Unit"),
    "score": ("得分", "Score"),
    "on_time_rate": ("按期率", "On-time rate"),
    "interview": ("约谈", "Summoned"),
    "interview_list": ("约谈名单（各类末 {n} 位）：{names}", "Summoned (the last {n} of each class): {names}"),
    "interview_none": ("本期无约谈单位", "Nobody is summoned this period"),
    "scheme_note": ("基础分 {base}，按考核方案加减分，上不封顶、下不封底；名次只在同类之内比较。",
                    "Base {base}, points added and deducted by the scheme, no floor and no cap; ranks are within "
                    "class only."),
    "no_scheme": ("本市尚未配置考核方案（assessment.yml），红黑榜按综合指标值列出各区。",
                  "The city has no assessment scheme (assessment.yml): districts are listed by composite score."),
    "trend_received": ("受理量与按期结案率", "Received and on-time closure rate"),
    "trend_categories": ("高发问题类别（各期受理）", "Most reported categories (received per period)"),
    "trend_districts": ("各区受理量", "Received per district"),
    "peak_hours": ("受理时段分布（本期合计）", "Received by hour of day (this period)"),
    "peak_note": ("高峰时段：{hours}", "Peak hours: {hours}"),
    "repeats_n": ("本期重复问题 {n} 件（上期 {prev} 件）", "{n} repeated problems this period ({prev} the previous)"),
    "repeat_places": ("重复问题最多的网格", "Grids with the most repeated problems"),
    "grid": ("网格", "Grid"),
    "area": ("区域", "Area"),
    "category": ("类别", "Category"),
    "count": ("件数", "Cases"),
    "supervision_n": ("本期督办 {n} 件（上期 {prev} 件）", "{n} cases supervised this period ({prev} the previous)"),
    "none": ("无", "none"),
    "footer": ("{city} · {title} · {period}", "{city} · {title} · {period}"),
    "generated": ("生成于", "Generated"),
    "heading": ("{city}城市运行管理服务平台", "{city} · City Operations Management Service Platform"),
    "items": ("扣分/加分明细", "Points"),
}


def t(key: str, lang: str, **fmt: object) -> str:
    """The label ``key`` in ``lang`` (this table first, then the daily briefing's)."""
    if key not in _LABELS:
        return briefing_t(key, lang, **fmt)
    zh, en = _LABELS[key]
    text = zh if lang == "zh" else en
    return text.format(**fmt) if fmt else text
