"""The period reports' charts (matplotlib Agg, the briefing's CJK style): the trend of received cases and the
on-time closure rate over the last periods, and received cases by hour of day."""

from __future__ import annotations

from matplotlib.figure import Figure

from dashboard.briefing.charts import BLUE, GREEN, LIGHT, chart_style, png_bytes
from dashboard.reports.compose import PeriodReport
from dashboard.reports.i18n import t


def trend(rep: PeriodReport, width_in: float = 6.8) -> bytes:
    with chart_style():
        fig = Figure(figsize=(width_in, 2.6))
        ax = fig.add_subplot()
        labels = [p.label for p in rep.trend]
        ax.bar(labels, [p.received for p in rep.trend], color=LIGHT, label=t("received", rep.lang))
        ax.set_ylabel(t("received", rep.lang))
        ax.grid(axis="y", alpha=0.3)
        rates = ax.twinx()
        rates.plot(labels, [None if p.on_time_rate is None else p.on_time_rate * 100 for p in rep.trend],
                   color=BLUE, marker="o", label=t("on_time", rep.lang))
        rates.plot(labels, [None if p.closure_rate is None else p.closure_rate * 100 for p in rep.trend],
                   color=GREEN, marker="s", label=t("closure", rep.lang))
        rates.set_ylim(0, 105)
        rates.set_ylabel("%")
        rates.spines["right"].set_visible(True)
        handles = ax.get_legend_handles_labels()[0] + rates.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], frameon=False, ncols=3, loc="lower left", fontsize=8)
        ax.set_title(t("trend_received", rep.lang), loc="left")
        return png_bytes(fig)


def hours(rep: PeriodReport, width_in: float = 6.8) -> bytes | None:
    if not any(rep.peak_hours):
        return None
    with chart_style():
        fig = Figure(figsize=(width_in, 2.2))
        ax = fig.add_subplot()
        ax.bar(range(24), rep.peak_hours, color=BLUE)
        ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
        ax.set_title(t("peak_hours", rep.lang), loc="left")
        ax.grid(axis="y", alpha=0.3)
        return png_bytes(fig)


def all_charts(rep: PeriodReport) -> dict[str, bytes]:
    out = {"trend": trend(rep), "hours": hours(rep)}
    return {name: png for name, png in out.items() if png}
