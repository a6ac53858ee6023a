"""The briefing as one tall PNG for chat groups (WeChat, DingTalk): 1080 px wide, readable on a phone.

Laid out with Pillow, text drawn with the CJK font from :mod:`dashboard.briefing.fonts` (so there
are no boxes in place of characters), charts pasted in from :mod:`dashboard.briefing.charts`. Text
from events is drawn as pixels; there is no markup to inject into.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from dashboard.briefing.compose import Briefing
from dashboard.briefing.fonts import font_path
from dashboard.briefing.i18n import pct, t

WIDTH = 1080
MARGIN = 40
INNER = WIDTH - 2 * MARGIN
NAVY = (20, 58, 110)
BLUE = (31, 95, 168)
INK = (33, 37, 41)
MUTED = (110, 117, 125)
RULE = (222, 226, 230)
ZEBRA = (245, 247, 250)
RED = (209, 69, 59)
GREEN = (46, 139, 87)


@lru_cache(maxsize=16)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path("bold" if bold else "regular")), size)






class Canvas:
    """A tall white page drawn top to bottom; ``y`` is the next free line."""

    def __init__(self, height: int = 9000) -> None:
        self.img = Image.new("RGB", (WIDTH, height), "white")
        self.draw = ImageDraw.Draw(self.img)
        self.y = 0

    def fit(self, text: str, width: int, f: ImageFont.FreeTypeFont) -> str:
        """``text`` on one line, cut with an ellipsis to ``width`` pixels."""
        text = " ".join(str(text).split())
        if f.getlength(text) <= width:
            return text
        while text and f.getlength(text + "…") > width:
            text = text[:-1]
        return text + "…"

    def text(self, x: int, text: str, size: int = 24, bold: bool = False, fill=INK, width: int | None = None,
             anchor: str = "la") -> None:
        f = font(size, bold)
        self.draw.text((x, self.y), self.fit(text, width or INNER, f), font=f, fill=fill, anchor=anchor)

    def section(self, title: str) -> None:
        self.y += 26
        self.draw.rectangle((MARGIN, self.y + 4, MARGIN + 8, self.y + 36), fill=BLUE)
        self.text(MARGIN + 20, title, 30, bold=True, fill=NAVY)
        self.y += 52

    def note(self, text: str, size: int = 20) -> None:
        """Muted text wrapped onto as many lines as it needs."""
        f = font(size)
        for line in wrap(" ".join(text.split()), INNER, f):
            self.draw.text((MARGIN, self.y), line, font=f, fill=MUTED)
            self.y += size + 12

    def image(self, png: bytes) -> None:
        im = Image.open(io.BytesIO(png)).convert("RGB")
        if im.width != INNER:
            im = im.resize((INNER, round(im.height * INNER / im.width)), Image.LANCZOS)
        self.img.paste(im, (MARGIN, self.y))
        self.y += im.height + 10

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float],
              colors: Sequence[Sequence[tuple[int, int, int] | None]] | None = None, size: int = 22) -> None:
        """A table; ``widths`` are fractions of the inner width; numbers are right-aligned."""
        xs = [MARGIN]
        for w in widths:
            xs.append(xs[-1] + round(w * INNER))
        line = size + 18
        self.draw.rectangle((MARGIN, self.y, MARGIN + INNER, self.y + line), fill=NAVY)
        f_head = font(size, True)
        right = [bool(rows) and _numeric_cell(rows[0][i]) for i in range(len(headers))]
        for i, h in enumerate(headers):
            head = self.fit(h, xs[i + 1] - xs[i] - 16, f_head)
            if right[i]:
                self.draw.text((xs[i + 1] - 8, self.y + line // 2), head, font=f_head, fill="white", anchor="rm")
            else:
                self.draw.text((xs[i] + 8, self.y + line // 2), head, font=f_head, fill="white", anchor="lm")
        self.y += line
        f = font(size)
        for n, row in enumerate(rows):
            if n % 2:
                self.draw.rectangle((MARGIN, self.y, MARGIN + INNER, self.y + line), fill=ZEBRA)
            for i, cell in enumerate(row):
                numeric = _numeric_cell(cell)
                fill = (colors[n][i] if colors and colors[n][i] else INK)
                text = self.fit(str(cell), xs[i + 1] - xs[i] - 16, f)
                if numeric:
                    self.draw.text((xs[i + 1] - 8, self.y + line // 2), text, font=f, fill=fill, anchor="rm")
                else:
                    self.draw.text((xs[i] + 8, self.y + line // 2), text, font=f, fill=fill, anchor="lm")
            self.y += line
        self.draw.line((MARGIN, self.y, MARGIN + INNER, self.y), fill=RULE, width=2)
        self.y += 8

    def png(self) -> bytes:
        out = io.BytesIO()
        self.img.crop((0, 0, WIDTH, self.y + MARGIN)).save(out, format="PNG", optimize=True)
        return out.getvalue()


def _numeric_cell(cell: object) -> bool:
    if isinstance(cell, int | float):
        return True
    text = str(cell)
    if text == "—":  # no value in a numeric column
        return True
    return bool(text) and text.replace(".", "", 1).replace("%", "").replace(",", "").replace("-", "", 1).isdigit()


def wrap(text: str, width: int, f: ImageFont.FreeTypeFont) -> list[str]:
    """Greedy wrap by character (Chinese has no spaces to break at), preferring a break after a space."""
    lines: list[str] = []
    while text:
        if f.getlength(text) <= width:
            lines.append(text)
            break
        cut = len(text)
        while cut > 1 and f.getlength(text[:cut]) > width:
            cut -= 1
        space = text.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space
        lines.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return lines


def render_png(b: Briefing, charts: dict[str, bytes], top: int = 10) -> bytes:
    lang = b.lang
    c = Canvas()
    header = 190
    c.draw.rectangle((0, 0, WIDTH, header), fill=NAVY)
    c.y = 34
    c.text(MARGIN, f"{b.city}{t('platform', lang)}" if lang == "zh" else f"{b.city} · {t('platform', lang)}",
           24, fill=(190, 210, 235))
    c.y = 70
    c.text(MARGIN, t("title", lang), 48, bold=True, fill="white")
    c.y = 136
    c.text(MARGIN, f"{t('day', lang)} {b.day.isoformat()} {b.weekday}    {t('generated', lang)} "
           f"{b.generated_at:%Y-%m-%d %H:%M}", 22, fill=(190, 210, 235))
    c.y = header

    c.section(t("totals", lang))
    per_row, tile_h, gap = 5, 108, 12
    tile_w = (INNER - gap * (per_row - 1)) // per_row
    for i, (key, label, value) in enumerate(b.totals):
        x = MARGIN + (i % per_row) * (tile_w + gap)
        y = c.y + (i // per_row) * (tile_h + gap)
        c.draw.rounded_rectangle((x, y, x + tile_w, y + tile_h), radius=10, fill=ZEBRA, outline=RULE)
        colour = RED if key == "overdue_open" and value else NAVY
        c.draw.text((x + tile_w // 2, y + 44), f"{value:,}", font=font(38, True), fill=colour, anchor="mm")
        c.draw.text((x + tile_w // 2, y + 86), c.fit(label, tile_w - 12, font(20)), font=font(20), fill=MUTED,
                    anchor="mm")
    c.y += ((len(b.totals) + per_row - 1) // per_row) * (tile_h + gap)
    if b.sources:
        c.note(f"{t('sources', lang)}: " + ",  ".join(f"{name} {n:,}" for name, n in b.sources))

    c.section(t("rates", lang))
    rows, colors = [], []
    for r in b.rates:
        status = t("no_data", lang) if r.met is None else t("met" if r.met else "missed", lang)
        prefix = "≤ " if r.key == "rework" else "≥ "
        weighted = "—" if r.weighted is None else r.text(r.weighted, lang)
        rows.append([r.label, r.text(r.value, lang), weighted, prefix + r.text(r.target, lang), status])
        colors.append([None, None, None, None, None if r.met is None else (GREEN if r.met else RED)])
    c.table([t("name", lang), t("value", lang), t("weighted", lang), t("target", lang), t("status", lang)], rows,
            [0.3, 0.17, 0.17, 0.18, 0.18], colors)
    c.note(t("rates_note", lang))
    c.image(charts["rates"])

    c.section(t("districts", lang))
    _ranking(c, b.districts, lang, t("district", lang))
    if "districts" in charts:
        c.image(charts["districts"])

    c.section(t("departments", lang))
    depts = b.departments
    shown = depts if len(depts) <= 10 else depts[:5] + depts[-5:]
    _ranking(c, shown, lang, t("department", lang))
    if len(depts) > 10:
        c.note(f"{t('top_n', lang, n=5)} / {t('bottom_n', lang, n=5)} · {len(depts)}")

    c.section(t("hotspots", lang))
    c.image(charts["map"])
    c.table(["#", t("area", lang), t("grid", lang), t("received", lang)],
            [[str(i), h.area, h.grid, h.received] for i, h in enumerate(b.hotspots[:top], start=1)],
            [0.07, 0.53, 0.25, 0.15])
    if b.categories:
        c.y += 10
        c.table(["#", t("categories", lang), t("received", lang)],
                [[str(i), name, n] for i, (name, n) in enumerate(b.categories[:top], start=1)], [0.07, 0.78, 0.15])

    c.section(t("overdue", lang))
    c.note(t("of_total", lang, n=b.overdue_total, m=min(len(b.overdue), top)) + " · " + t("overdue_note", lang))
    if b.overdue:
        c.table([t("case", lang), t("category", lang), t("department", lang), t("stage", lang),
                 t("overdue_hours", lang)],
                [[o.case_id, o.category, o.department or o.district, o.stage, f"{o.overdue_hours:.1f}"]
                 for o in b.overdue[:top]], [0.22, 0.28, 0.28, 0.08, 0.14], size=20)

    c.section(t("sensors", lang))
    kinds = ",  ".join(f"{k} {n}" for k, n in b.exceedances_by_kind) or t("none", lang)
    c.note(f"{t('exceedances', lang)}: {kinds}    {t('offline', lang)}: {b.offline_alerts}")
    if b.exceedances_by_district:
        c.note(f"{t('district', lang)}: " + ",  ".join(f"{d} {n}" for d, n in b.exceedances_by_district))
    if b.exceedances:
        c.table([t("sensor", lang), t("kind", lang), t("peak", lang), t("limit", lang), t("since", lang)],
                [[e.sensor, e.kind, f"{e.value:g}", f"{e.limit:g}", e.since] for e in b.exceedances[:top]],
                [0.46, 0.12, 0.15, 0.14, 0.13], size=20)

    c.section(t("captures", lang))
    c.note(f"{t('captures_n', lang)}: {b.captures_total:,}    {t('set_aside', lang)}: {b.captures_set_aside:,}")
    if b.captures_by_district:
        c.note(f"{t('district', lang)}: " + ",  ".join(f"{d} {n}" for d, n in b.captures_by_district))
    if "captures" in charts:
        c.image(charts["captures"])
    if b.recent_captures:
        c.table([t("time", lang), t("camera", lang), t("capture_type", lang), t("case", lang)],
                [[x.time, x.camera, x.kind, x.case_id] for x in b.recent_captures[:top]],
                [0.12, 0.38, 0.22, 0.28], size=20)

    c.section(t("by_hour", lang))
    c.image(charts["hourly"])
    return c.png()


def _ranking(c: Canvas, rows, lang: str, name: str) -> None:
    c.table([t("rank", lang), name, t("received_short", lang), t("closed", lang), t("closure_short", lang),
             t("on_time_short", lang), t("overdue_short", lang), t("score_short", lang)],
            [[str(r.rank), r.name, r.received, r.closed, _dash(pct(r.closure_rate, lang), r.closure_rate),
              _dash(pct(r.on_time_rate, lang), r.on_time_rate), r.overdue_open, f"{r.score:.1f}"] for r in rows],
            [0.07, 0.26, 0.08, 0.09, 0.11, 0.13, 0.13, 0.13], size=20)


def _dash(text: str, value: float | None) -> str:
    """"—" where a rate has no denominator (nothing due): a word would not fit a narrow column."""
    return "—" if value is None else text
