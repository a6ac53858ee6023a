"""The 督办 level and reply-window choosers, one pair for every page that can raise a 督办单 (duty console, case)."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from cityops.supervision_orders import LEVELS
from dashboard.common import settings
from dashboard.i18n import t
from dashboard.views import department as sup_views


def supervision_inputs(prefix: str, lg: str) -> tuple[int, float]:
    """Draw the two choosers (keys ``{prefix}_level`` and ``{prefix}_window``); the level and the window in seconds."""
    windows = sup_views.reply_windows(settings().supervision_windows)
    s1, s2 = st.columns(2)
    level = s1.selectbox(t("sup_level", lg), sup_views.level_options(), key=f"{prefix}_level",
                         format_func=lambda n: LEVELS[n] if lg == "zh" else f"level {n}")
    window = s2.selectbox(t("sup_window", lg), list(windows), key=f"{prefix}_window")
    return int(level), windows[window]


def reply_due_in(window_s: float) -> datetime:
    """The reply deadline a 督办 raised now asks for."""
    return sup_views.reply_due(datetime.now(settings().tz), window_s)
