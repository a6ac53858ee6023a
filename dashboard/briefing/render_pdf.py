"""The briefing as an A4 PDF for print, with the CJK font embedded (subset) so it prints the same
on any machine, and its text extractable (copy-paste, search, screen readers).

fpdf2 embeds the OpenType/CFF Noto Sans CJK as a CIDFontType0 subset with a ToUnicode map. Text is
set as plain cells (no HTML or Markdown interpretation), so event text prints as typed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from fpdf import FPDF
from fpdf.fonts import FontFace

from dashboard.briefing.compose import Briefing, RankRow
from dashboard.briefing.fonts import font_path
from dashboard.briefing.i18n import pct, t

FAMILY = "NotoSansCJK"
NAVY = (20, 58, 110)
MUTED = (110, 117, 125)
RED = (209, 69, 59)
GREEN = (46, 139, 87)






class _Doc(FPDF):
    def __init__(self, b: Briefing) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.briefing = b
        self.add_font(FAMILY, "", str(font_path("regular")))
        self.add_font(FAMILY, "B", str(font_path("bold")))
        self.set_margins(14, 14, 14)
        self.set_auto_page_break(True, margin=16)
        self.set_title(f"{b.city} {t('title', b.lang)} {b.day.isoformat()}")
        self.set_creator("CityOps")
        self.set_lang("zh-CN" if b.lang == "zh" else "en")

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(FAMILY, size=8)
        self.set_text_color(*MUTED)
        b = self.briefing
        self.cell(0, 5, f"{b.city} {t('title', b.lang)} · {b.day.isoformat()} · {self.page_no()}/{{nb}}",
                  align="C")


def render_pdf(b: Briefing, charts: dict[str, bytes]) -> bytes:
    lang = b.lang
    pdf = _Doc(b)
    pdf.add_page()
    width = pdf.epw

    pdf.set_fill_color(*NAVY)
    pdf.rect(0, 0, pdf.w, 34, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_xy(14, 7)
    pdf.set_font(FAMILY, size=10)
    pdf.cell(0, 5, f"{b.city}{t('platform', lang)}" if lang == "zh" else f"{b.city} · {t('platform', lang)}")
    pdf.set_xy(14, 13)
    pdf.set_font(FAMILY, "B", 20)
    pdf.cell(0, 10, t("title", lang))
    pdf.set_xy(14, 24)
    pdf.set_font(FAMILY, size=10)
    pdf.cell(0, 5, f"{t('day', lang)} {b.day.isoformat()} {b.weekday}    {t('generated', lang)} "
                   f"{b.generated_at:%Y-%m-%d %H:%M}")
    pdf.set_text_color(0, 0, 0)
    pdf.set_y(40)

    def section(title: str) -> None:
        if pdf.get_y() > pdf.h - 50:
            pdf.add_page()
        pdf.ln(2)
        pdf.set_font(FAMILY, "B", 13)
        pdf.set_text_color(*NAVY)
        pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)

    def note(text: str) -> None:
        pdf.set_font(FAMILY, size=8.5)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)

    def table(headers: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float],
              right: Sequence[bool], colors: Sequence[Sequence[tuple[int, int, int] | None]] | None = None,
              size: float = 8.5) -> None:
        pdf.set_font(FAMILY, size=size)
        pdf.set_fill_color(245, 247, 250)  # the header band left NAVY as the current fill
        head = FontFace(family=FAMILY, emphasis="BOLD", color=(255, 255, 255), fill_color=NAVY)
        with pdf.table(col_widths=tuple(widths), width=width, headings_style=head, line_height=5.2,
                       text_align=tuple("RIGHT" if r else "LEFT" for r in right), first_row_as_headings=True,
                       cell_fill_color=(245, 247, 250), cell_fill_mode="ROWS", borders_layout="HORIZONTAL_LINES",
                       padding=1) as tbl:
            header = tbl.row()
            for h in headers:
                header.cell(str(h))
            for n, values in enumerate(rows):
                row = tbl.row()
                for i, value in enumerate(values):
                    colour = colors[n][i] if colors else None
                    row.cell(str(value), style=FontFace(color=colour) if colour else None)
        pdf.ln(1.5)

    def image(name: str, w: float | None = None) -> None:
        if name not in charts:
            return
        w = w or width
        from PIL import Image

        im = Image.open(io.BytesIO(charts[name]))
        h = w * im.height / im.width
        if pdf.get_y() + h > pdf.h - 16:
            pdf.add_page()
        pdf.image(io.BytesIO(charts[name]), x=pdf.l_margin + (width - w) / 2, w=w)
        pdf.ln(1)

    section(t("totals", lang))
    table([label for _, label, _ in b.totals[:5]], [[f"{v:,}" for _, _, v in b.totals[:5]]], [1] * 5, [True] * 5)
    table([label for _, label, _ in b.totals[5:]], [[f"{v:,}" for _, _, v in b.totals[5:]]],
          [1] * len(b.totals[5:]), [True] * len(b.totals[5:]))
    if b.sources:
        note(f"{t('sources', lang)}: " + ", ".join(f"{name} {n:,}" for name, n in b.sources))

    section(t("rates", lang))
    rows, colors = [], []
    for r in b.rates:
        rows.append([r.label, r.text(r.value, lang), "—" if r.weighted is None else r.text(r.weighted, lang),
                     ("≤ " if r.key == "rework" else "≥ ") + r.text(r.target, lang),
                     t("no_data", lang) if r.met is None else t("met" if r.met else "missed", lang)])
        colors.append([None] * 4 + [None if r.met is None else (GREEN if r.met else RED)])
    table([t("name", lang), t("value", lang), t("weighted", lang), t("target", lang), t("status", lang)], rows,
          [3, 2, 2, 2, 2], [False, True, True, True, False], colors)
    note(t("rates_note", lang))
    image("rates", width * 0.8)

    section(t("districts", lang))
    _ranking(table, b.districts, lang, t("district", lang))
    image("districts", width * 0.8)

    section(t("departments", lang))
    _ranking(table, b.departments, lang, t("department", lang))

    section(t("hotspots", lang))
    image("map", width * 0.75)
    table(["#", t("area", lang), t("grid", lang), t("received", lang)],
          [[i, h.area, h.grid, h.received] for i, h in enumerate(b.hotspots, start=1)], [1, 9, 5, 2],
          [True, False, False, True])
    if b.categories:
        table(["#", t("categories", lang), t("received", lang)],
              [[i, n, c] for i, (n, c) in enumerate(b.categories, start=1)], [1, 14, 2], [True, False, True])

    section(t("overdue", lang))
    note(t("of_total", lang, n=b.overdue_total, m=len(b.overdue)) + " " + t("overdue_note", lang))
    if b.overdue:
        table([t("case", lang), t("category", lang), t("department", lang), t("stage", lang), t("deadline", lang),
               t("overdue_hours", lang), t("address", lang)],
              [[o.case_id, o.category, o.department or o.district, o.stage, o.deadline, f"{o.overdue_hours:.1f}",
                o.text] for o in b.overdue], [4.2, 4, 4.2, 1.4, 2.4, 1.6, 5],
              [False, False, False, False, False, True, False], size=7.5)

    section(t("sensors", lang))
    kinds = ", ".join(f"{k} {n}" for k, n in b.exceedances_by_kind) or t("none", lang)
    note(f"{t('exceedances', lang)}: {kinds}    {t('offline', lang)}: {b.offline_alerts}")
    if b.exceedances_by_district:
        note(f"{t('district', lang)}: " + ", ".join(f"{d} {n}" for d, n in b.exceedances_by_district))
    if b.exceedances:
        table([t("sensor", lang), t("district", lang), t("kind", lang), t("peak", lang), t("limit", lang),
               t("since", lang)],
              [[e.sensor, e.district, e.kind, f"{e.value:g} {e.unit}", f"{e.limit:g}", e.since]
               for e in b.exceedances], [6, 2, 1.5, 2.5, 1.5, 1.5], [False, False, False, True, True, False])

    section(t("captures", lang))
    note(f"{t('captures_n', lang)}: {b.captures_total:,}    {t('set_aside', lang)}: {b.captures_set_aside:,}")
    if b.captures_by_district:
        note(f"{t('district', lang)}: " + ", ".join(f"{d} {n}" for d, n in b.captures_by_district))
    image("captures", width * 0.8)
    if b.recent_captures:
        table([t("time", lang), t("camera", lang), t("capture_type", lang), t("case", lang)],
              [[x.time, x.camera, x.kind, x.case_id] for x in b.recent_captures], [1.2, 5, 3, 4], [False] * 4)

    section(t("by_hour", lang))
    image("hourly")
    return bytes(pdf.output())


def _ranking(table, rows: list[RankRow], lang: str, name: str) -> None:
    table([t("rank", lang), name, t("received", lang), t("closed", lang), t("closure", lang), t("on_time", lang),
           t("overdue_open", lang), t("score", lang)],
          [[r.rank, r.name, r.received, r.closed, pct(r.closure_rate, lang), pct(r.on_time_rate, lang),
            r.overdue_open, f"{r.score:.1f}"] for r in rows], [1.1, 6, 1.5, 1.5, 1.8, 2.2, 2.4, 1.8],
          [True, False, True, True, True, True, True, True], size=8)
