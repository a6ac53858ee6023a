"""The briefing's charts and hotspot map as PNG bytes, drawn with matplotlib's Agg backend.

No pyplot (the console renders in threads) and no map tiles (no network; our own polygons are the
base map, as on the console). Every chart uses the CJK font from :mod:`dashboard.briefing.fonts`,
so Chinese labels render as characters, never boxes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cityops.city import CityModel
from dashboard.briefing.compose import Briefing
from dashboard.briefing.fonts import matplotlib_family
from dashboard.briefing.i18n import t

BLUE = "#1f5fa8"
LIGHT = "#9ec5ea"
RED = "#d1453b"
GREEN = "#2e8b57"
GREY = "#8a8f98"
DPI = 150


@contextmanager
def chart_style() -> Iterator[None]:
    with matplotlib.rc_context({"font.family": matplotlib_family(), "axes.unicode_minus": False, "font.size": 9,
                                "axes.spines.top": False, "axes.spines.right": False, "axes.titleweight": "bold",
                                "svg.fonttype": "none"}):
        yield


def png_bytes(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.08, facecolor="white")
    return buf.getvalue()


def hourly(b: Briefing, width_in: float = 6.8) -> bytes:
    """Received and closed per hour of the day."""
    with chart_style():
        fig = Figure(figsize=(width_in, 2.3))
        ax = fig.add_subplot()
        hours = list(range(24))
        ax.bar([h - 0.2 for h in hours], [x[0] for x in b.hourly], width=0.4, color=BLUE, label=t("received", b.lang))
        ax.bar([h + 0.2 for h in hours], [x[1] for x in b.hourly], width=0.4, color=LIGHT, label=t("closed", b.lang))
        ax.set_xticks(hours[::2], [f"{h:02d}" for h in hours[::2]])
        ax.set_title(t("by_hour", b.lang), loc="left")
        ax.legend(frameon=False, ncols=2, loc="upper right")
        ax.grid(axis="y", alpha=0.3)
        return png_bytes(fig)


def rates(b: Briefing, width_in: float = 6.8) -> bytes:
    """Each rate as a bar with its target as a tick; red where the target is missed."""
    rows = [r for r in b.rates if not r.is_score]
    with chart_style():
        fig = Figure(figsize=(width_in, 0.45 * len(rows) + 0.6))
        ax = fig.add_subplot()
        ys = list(range(len(rows)))[::-1]
        for y, r in zip(ys, rows, strict=True):
            value = 0.0 if r.value is None else r.value * 100
            color = GREY if r.met is None else (GREEN if r.met else RED)
            ax.barh(y, value, color=color, height=0.55)
            ax.plot([r.target * 100] * 2, [y - 0.38, y + 0.38], color="black", lw=2)
            label = t("no_data", b.lang) if r.value is None else f"{value:.1f}%"
            near = -2 < r.target * 100 - value < 10  # the label would sit on the target tick
            ax.text((max(value, r.target * 100) if near else value) + 1.5, y, label, va="center", fontsize=8)
        ax.set_yticks(ys, [r.label for r in rows])
        ax.set_xlim(0, 112)
        ax.set_xlabel(f"%   ┃ = {t('target', b.lang)}")
        ax.set_title(t("rates_chart", b.lang), loc="left")
        return png_bytes(fig)


def district_scores(b: Briefing, width_in: float = 6.8) -> bytes:
    rows = b.districts
    with chart_style():
        fig = Figure(figsize=(width_in, 0.35 * max(len(rows), 1) + 0.7))
        ax = fig.add_subplot()
        target = b.meta.get("targets", {}).get("score")
        ys = list(range(len(rows)))[::-1]
        ax.barh(ys, [r.score for r in rows], color=[GREEN if target is None or r.score >= target else RED
                                                    for r in rows], height=0.6)
        for y, r in zip(ys, rows, strict=True):
            ax.text(r.score + 1, y, f"{r.score:.1f}", va="center", fontsize=8)
        if target is not None:
            ax.axvline(target, color="black", lw=1, ls="--")
        ax.set_yticks(ys, [f"{r.rank}. {r.name}" for r in rows])
        ax.set_xlim(0, 110)
        ax.set_title(t("district_scores", b.lang), loc="left")
        return png_bytes(fig)


def captures(b: Briefing, width_in: float = 6.8) -> bytes | None:
    if not b.captures_by_type:
        return None
    rows = b.captures_by_type[:10]
    with chart_style():
        fig = Figure(figsize=(width_in, 0.32 * len(rows) + 0.7))
        ax = fig.add_subplot()
        ys = list(range(len(rows)))[::-1]
        ax.barh(ys, [n for _, n in rows], color=BLUE, height=0.6)
        ax.set_yticks(ys, [name for name, _ in rows])
        ax.set_title(t("captures", b.lang), loc="left")
        return png_bytes(fig)


def hotspot_map(b: Briefing, city: CityModel, width_in: float = 6.8) -> bytes:
    """District polygons, every grid with a case as a dot sized by its count, the top grids numbered."""
    with chart_style():
        fig = Figure(figsize=(width_in, width_in * 0.8))
        ax = fig.add_subplot()
        palette = ["#eef3f9", "#f4f1e8", "#eef6ef", "#f6eef3", "#f0eef8", "#f8f3ea"]
        for i, d in enumerate(city.districts.values()):
            for poly in getattr(d.geometry, "geoms", [d.geometry]):
                xs, ys = poly.exterior.xy
                ax.fill(xs, ys, facecolor=palette[i % len(palette)], edgecolor="#6b7b8c", lw=0.6)
            c = d.geometry.representative_point()
            ax.text(c.x, c.y, d.name_zh if b.lang == "zh" else d.name_en, fontsize=8, color="#44505c",
                    ha="center", va="center", alpha=0.8)
        if b.grid_counts:
            peak = max(n for _, _, n in b.grid_counts)
            ax.scatter([x for x, _, _ in b.grid_counts], [y for _, y, _ in b.grid_counts],
                       s=[2 + 70 * (n / peak) ** 2 for _, _, n in b.grid_counts], c=[n for _, _, n in b.grid_counts],
                       cmap="YlOrRd", vmin=0, vmax=peak, alpha=0.8, lw=0)
        for i, h in enumerate(b.hotspots, start=1):
            ax.scatter([h.lon], [h.lat], s=160, facecolor="none", edgecolor=RED, lw=1.4)
            ax.annotate(str(i), (h.lon, h.lat), xytext=(5, 5), textcoords="offset points", fontsize=8,
                        color=RED, weight="bold",
                        path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])
        minx, miny, maxx, maxy = _bounds(city)
        ax.set_xlim(minx, maxx)
        ax.set_ylim(miny, maxy)
        ax.set_aspect(1 / math.cos(math.radians((miny + maxy) / 2)))
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        ax.set_title(t("map", b.lang), loc="left")
        return png_bytes(fig)


def _bounds(city: CityModel) -> tuple[float, float, float, float]:
    boxes = [d.geometry.bounds for d in city.districts.values()]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def all_charts(b: Briefing, city: CityModel) -> dict[str, bytes]:
    """Every chart of the briefing by name (``map``, ``rates``, ``districts``, ``hourly``, ``captures``)."""
    out = {"map": hotspot_map(b, city), "rates": rates(b), "districts": district_scores(b), "hourly": hourly(b)}
    cap = captures(b)
    if cap is not None:
        out["captures"] = cap
    return out
