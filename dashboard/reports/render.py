"""A :class:`~dashboard.reports.document.Document` as one tall PNG (chat groups), an A4 PDF (print, CJK font
embedded, text extractable) and Markdown (charts as files beside it). The daily briefing's canvas, fonts and
Markdown escaping are reused, so a report looks like the briefing and event text stays inert text."""

from __future__ import annotations

import io

from fpdf import FPDF
from fpdf.fonts import FontFace
from PIL import Image

from dashboard.briefing import render_png as png_kit
from dashboard.briefing.fonts import font_path
from dashboard.briefing.render_markdown import escape, md_table
from dashboard.reports.document import Chart, Document, Note, Section, Table, Tone

_RGB = {"good": (46, 139, 87), "bad": (209, 69, 59)}
FAMILY = "NotoSansCJK"


def _colour(tone: Tone) -> tuple[int, int, int] | None:
    return _RGB.get(tone) if tone else None


def _tones(t: Table) -> list[list[tuple[int, int, int] | None]] | None:
    return [[_colour(x) for x in row] for row in t.tones] if t.tones else None


def to_png(doc: Document) -> bytes:
    c = png_kit.Canvas(height=_png_height(doc))
    header = 190
    c.draw.rectangle((0, 0, png_kit.WIDTH, header), fill=png_kit.NAVY)
    c.y = 34
    c.text(png_kit.MARGIN, doc.heading, 24, fill=(190, 210, 235))
    c.y = 70
    c.text(png_kit.MARGIN, doc.title, 48, bold=True, fill="white")
    c.y = 136
    c.text(png_kit.MARGIN, doc.subtitle, 22, fill=(190, 210, 235))
    c.y = header
    for block in doc.blocks:
        if isinstance(block, Section):
            c.section(block.title)
        elif isinstance(block, Note):
            c.note(block.text)
        elif isinstance(block, Table):
            if block.caption:
                c.y += 6
                c.text(png_kit.MARGIN, block.caption, 22, bold=True, fill=png_kit.INK)
                c.y += 34
            total = sum(block.widths) or 1
            c.table(block.headers, block.rows, [w / total for w in block.widths], _tones(block),
                    size=20 if len(block.headers) > 6 else 22)
        elif isinstance(block, Chart):
            c.image(block.png)
    c.y += 10
    c.note(doc.footer, 18)
    return c.png()


def _png_height(doc: Document) -> int:
    """An upper bound of the canvas height (it is cropped to what was drawn)."""
    height = 400
    for block in doc.blocks:
        if isinstance(block, Table):
            height += (len(block.rows) + 1) * 42 + 80
        elif isinstance(block, Chart):
            im = Image.open(io.BytesIO(block.png))
            height += round(im.height * png_kit.INNER / im.width) + 20
        else:
            height += 160
    return height


class _Pdf(FPDF):
    def __init__(self, doc: Document) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.doc = doc
        self.add_font(FAMILY, "", str(font_path("regular")))
        self.add_font(FAMILY, "B", str(font_path("bold")))
        self.set_margins(14, 14, 14)
        self.set_auto_page_break(True, margin=16)
        self.set_title(f"{doc.title} {doc.subtitle}")
        self.set_creator("CityOps")
        self.set_lang("zh-CN" if doc.lang == "zh" else "en")

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(FAMILY, size=8)
        self.set_text_color(110, 117, 125)
        self.cell(0, 5, f"{self.doc.footer} · {self.page_no()}/{{nb}}", align="C")


def to_pdf(doc: Document) -> bytes:
    pdf = _Pdf(doc)
    pdf.add_page()
    width = pdf.epw
    pdf.set_fill_color(*png_kit.NAVY)
    pdf.rect(0, 0, pdf.w, 34, style="F")
    pdf.set_text_color(255, 255, 255)
    for y, size, bold, text in ((7, 10, "", doc.heading), (13, 20, "B", doc.title), (24, 10, "", doc.subtitle)):
        pdf.set_xy(14, y)
        pdf.set_font(FAMILY, bold, size)
        pdf.cell(0, 10 if bold else 5, text)
    pdf.set_text_color(0, 0, 0)
    pdf.set_y(40)
    for block in doc.blocks:
        if isinstance(block, Section):
            if pdf.get_y() > pdf.h - 50:
                pdf.add_page()
            pdf.ln(2)
            pdf.set_font(FAMILY, "B", 13)
            pdf.set_text_color(*png_kit.NAVY)
            pdf.cell(0, 8, block.title, new_x="LMARGIN", new_y="NEXT")
            pdf.set_text_color(0, 0, 0)
        elif isinstance(block, Note):
            _pdf_note(pdf, block.text)
        elif isinstance(block, Table):
            if block.caption:
                pdf.set_font(FAMILY, "B", 9.5)
                pdf.cell(0, 6, block.caption, new_x="LMARGIN", new_y="NEXT")
            _pdf_table(pdf, block, width)
        elif isinstance(block, Chart):
            w = width * block.width
            im = Image.open(io.BytesIO(block.png))
            if pdf.get_y() + w * im.height / im.width > pdf.h - 16:
                pdf.add_page()
            pdf.image(io.BytesIO(block.png), x=pdf.l_margin + (width - w) / 2, w=w)
            pdf.ln(1)
    return bytes(pdf.output())


def _pdf_note(pdf: FPDF, text: str) -> None:
    pdf.set_font(FAMILY, size=8.5)
    pdf.set_text_color(110, 117, 125)
    pdf.multi_cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _pdf_table(pdf: FPDF, t: Table, width: float) -> None:
    pdf.set_font(FAMILY, size=8 if len(t.headers) > 6 else 8.5)
    pdf.set_fill_color(245, 247, 250)
    head = FontFace(family=FAMILY, emphasis="BOLD", color=(255, 255, 255), fill_color=png_kit.NAVY)
    tones = _tones(t)
    with pdf.table(col_widths=tuple(t.widths), width=width, headings_style=head, line_height=5.2,
                   text_align=tuple("RIGHT" if n else "LEFT" for n in t.numeric), first_row_as_headings=True,
                   cell_fill_color=(245, 247, 250), cell_fill_mode="ROWS", borders_layout="HORIZONTAL_LINES",
                   padding=1) as tbl:
        header = tbl.row()
        for h in t.headers:
            header.cell(str(h))
        for n, values in enumerate(t.rows):
            row = tbl.row()
            for i, value in enumerate(values):
                colour = tones[n][i] if tones else None
                row.cell(str(value), style=FontFace(color=colour) if colour else None)
    pdf.ln(1.5)


def to_markdown(doc: Document, chart_dir: str) -> str:
    """Markdown whose charts are ``{chart_dir}/{name}.png`` beside it."""
    lines = [f"# {escape(doc.title)}", "", f"{escape(doc.heading)} · {escape(doc.subtitle)}", ""]
    for block in doc.blocks:
        if isinstance(block, Section):
            lines += [f"## {escape(block.title)}", ""]
        elif isinstance(block, Note):
            lines += [escape(block.text), ""]
        elif isinstance(block, Table):
            if block.caption:
                lines += [f"**{escape(block.caption)}**", ""]
            lines += md_table(block.headers, block.rows, block.numeric)
        elif isinstance(block, Chart):
            lines += [f"![{escape(block.title)}]({chart_dir}/{block.name}.png)", ""]
    lines += ["---", escape(doc.footer), ""]
    return "\n".join(lines)
