"""每日简报 Daily briefing page: browse earlier briefings in var/briefings, view one, download its
PDF and Markdown, and generate today's (so far) or yesterday's on demand; below, the weekly, monthly and
quarterly 通报 of var/reports, browsed and generated the same way.

A plain Streamlit script run by ``st.navigation`` (the app has already called ``st.set_page_config``
and signed the user in); like every page it checks the role itself first (leader and above).
The briefing shown is the rendered PNG, so the page adds no markup of its
own around event text; the Markdown is offered as a download and as *source text* (``st.code``),
never rendered as HTML.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import streamlit as st

from cityops.periods import PeriodKind, last_complete
from cityops.settings import get_settings
from dashboard.auth_gate import require_role
from dashboard.briefing.files import BriefingFiles, generate, list_briefings
from dashboard.briefing.i18n import LANGS
from dashboard.reports.files import ReportFiles, list_reports
from dashboard.reports.files import generate as generate_report

require_role("leader")
settings = get_settings()
lang = st.session_state.get("lang") or settings.console_lang
lang = lang if lang in LANGS else "zh"
zh = lang == "zh"


def L(zh_text: str, en_text: str) -> str:  # noqa: N802 - short label helper
    return zh_text if zh else en_text


st.title(L("每日简报", "Daily briefing"))
st.caption(L(f"每天 {settings.briefing_time} 自动生成前一日简报(PNG 用于工作群,PDF 用于打印,Markdown 用于转发)。",
             f"Yesterday's briefing is written every day at {settings.briefing_time} (PNG for chat groups, "
             "PDF for print, Markdown for forwarding)."))

now = datetime.now(settings.tz)
left, right, _ = st.columns([1, 1, 2])
target_day = None
if left.button(L("生成昨日简报", "Generate yesterday's"), width="stretch"):
    target_day = now.date() - timedelta(days=1)
if right.button(L("生成今日简报(截至现在)", "Generate today's (so far)"), width="stretch"):
    target_day = now.date()
if target_day is not None:
    with st.spinner(L("正在生成…", "Generating…")):
        try:
            made = generate(target_day, lang, settings.briefings_dir, settings)
        except Exception as err:  # noqa: BLE001 - show the failure, keep the page usable
            st.error(L("生成失败:", "Generation failed: ") + f"{type(err).__name__}: {err}")
        else:
            st.session_state["briefing_pick"] = f"{made.day.isoformat()} · {made.lang}"
            st.success(L("已生成 ", "Written ") + made.png.name)

briefings = list_briefings(settings.briefings_dir)
if not briefings:
    st.info(L("暂无简报。点击上方按钮生成,或运行 python -m cityops briefing。",
              "No briefings yet. Use a button above, or run python -m cityops briefing."))

def show(png: Path, pdf: Path, md: Path, key: str) -> None:
    """Downloads, the PNG, and the Markdown as source text, of one briefing or report."""
    c1, c2, c3 = st.columns(3)
    c1.download_button(L("下载 PDF(打印)", "Download PDF (print)"), pdf.read_bytes(), file_name=pdf.name,
                       mime="application/pdf", width="stretch", key=f"{key}_pdf")
    c2.download_button(L("下载 PNG(工作群)", "Download PNG (chat)"), png.read_bytes(), file_name=png.name,
                       mime="image/png", width="stretch", key=f"{key}_png")
    c3.download_button(L("下载 Markdown", "Download Markdown"), md.read_bytes(), file_name=md.name,
                       mime="text/markdown", width="stretch", key=f"{key}_md")
    st.image(str(png), width="stretch")
    with st.expander(L("Markdown 原文", "Markdown source")):
        st.code(md.read_text(encoding="utf-8"), language="markdown")


if briefings:
    options: dict[str, BriefingFiles] = {f"{b.day.isoformat()} · {b.lang}": b for b in briefings}
    preferred = [k for k, b in options.items() if b.lang == lang] or list(options)
    pick = st.session_state.get("briefing_pick")
    index = list(options).index(pick) if pick in options else list(options).index(preferred[0])
    label = st.selectbox(L("选择简报", "Briefing"), list(options), index=index)
    chosen = options[label]
    show(chosen.png, chosen.pdf, chosen.md, "briefing")

st.divider()
st.subheader(L("周通报 · 月度通报 · 季度点评", "Weekly, monthly and quarterly reports"))
st.caption(L(f"每周一 {settings.report_time} 生成上周通报,每月1日生成上月通报,每季度首日生成上季度点评。",
             f"Written at {settings.report_time}: last week's on Mondays, last month's on the 1st, last quarter's "
             "on the first day of a quarter."))
KIND_LABEL = {PeriodKind.WEEK: L("上周", "Last week"), PeriodKind.MONTH: L("上月", "Last month"),
              PeriodKind.QUARTER: L("上季度", "Last quarter")}
cols = st.columns(4)
for col, kind in zip(cols, KIND_LABEL, strict=False):
    if col.button(L("生成", "Generate ") + KIND_LABEL[kind], width="stretch", key=f"report_{kind.value}"):
        period = last_complete(kind, now.date())
        with st.spinner(L("正在生成…", "Generating…")):
            try:
                made = generate_report(period, lang, settings.reports_dir, settings)
            except Exception as err:  # noqa: BLE001 - show the failure, keep the page usable
                st.error(L("生成失败:", "Generation failed: ") + f"{type(err).__name__}: {err}")
            else:
                st.session_state["report_pick"] = f"{made.period.label} · {made.lang}"
                st.success(L("已生成 ", "Written ") + made.png.name)
reports = list_reports(settings.reports_dir)
if not reports:
    st.info(L("暂无通报。点击上方按钮生成,或运行 python -m cityops report --period month。",
              "No reports yet. Use a button above, or run python -m cityops report --period month."))
    st.stop()
report_options: dict[str, ReportFiles] = {f"{x.period.label} · {x.lang}": x for x in reports}
preferred = [k for k, x in report_options.items() if x.lang == lang] or list(report_options)
pick = st.session_state.get("report_pick")
index = list(report_options).index(pick) if pick in report_options else list(report_options).index(preferred[0])
label = st.selectbox(L("选择通报", "Report"), list(report_options), index=index,
                     format_func=lambda k: f"{report_options[k].period.title(lang)} · {report_options[k].lang}")
chosen_report = report_options[label]
show(chosen_report.png, chosen_report.pdf, chosen_report.md, "report")
