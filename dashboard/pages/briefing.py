"""每日简报 Daily briefing page: browse earlier briefings in var/briefings, view one, download its
PDF and Markdown, and generate today's (so far) or yesterday's on demand.

A plain Streamlit script run by ``st.navigation`` (the app has already called ``st.set_page_config``
and signed the user in); like every page it checks the role itself first (leader and above).
The briefing shown is the rendered PNG, so the page adds no markup of its
own around event text; the Markdown is offered as a download and as *source text* (``st.code``),
never rendered as HTML.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st

from cityops.settings import get_settings
from dashboard.auth_gate import require_role
from dashboard.briefing.files import BriefingFiles, generate, list_briefings
from dashboard.briefing.i18n import LANGS

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
    st.stop()

options: dict[str, BriefingFiles] = {f"{b.day.isoformat()} · {b.lang}": b for b in briefings}
preferred = [k for k, b in options.items() if b.lang == lang] or list(options)
pick = st.session_state.get("briefing_pick")
index = list(options).index(pick) if pick in options else list(options).index(preferred[0])
label = st.selectbox(L("选择简报", "Briefing"), list(options), index=index)
chosen = options[label]

c1, c2, c3 = st.columns(3)
c1.download_button(L("下载 PDF(打印)", "Download PDF (print)"), chosen.pdf.read_bytes(), file_name=chosen.pdf.name,
                   mime="application/pdf", width="stretch")
c2.download_button(L("下载 PNG(工作群)", "Download PNG (chat)"), chosen.png.read_bytes(), file_name=chosen.png.name,
                   mime="image/png", width="stretch")
c3.download_button(L("下载 Markdown", "Download Markdown"), chosen.md.read_bytes(), file_name=chosen.md.name,
                   mime="text/markdown", width="stretch")
st.image(str(chosen.png), width="stretch")
with st.expander(L("Markdown 原文", "Markdown source")):
    st.code(chosen.md.read_text(encoding="utf-8"), language="markdown")
