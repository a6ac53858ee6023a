"""Rendering the briefing: Chinese glyphs really drawn (PNG, charts) and embedded (PDF), event text
that carries HTML or Markdown shown as text, files written whole and listed for the console."""

from __future__ import annotations

import html
import io
import re
import warnings
from datetime import date

import pytest
from PIL import Image, ImageChops, ImageDraw
from pypdf import PdfReader

from dashboard.briefing import charts, fonts
from dashboard.briefing.compose import (
    parse_targets,
)
from dashboard.briefing.files import list_briefings, write_briefing
from dashboard.briefing.i18n import _LABELS
from dashboard.briefing.render_markdown import escape, render_markdown
from dashboard.briefing.render_pdf import render_pdf
from dashboard.briefing.render_png import font, render_png
from fixtures.xiamen import load_city
from tests.support.briefing import sample

# ----------------------------------------------------------------------------------------- fonts


def test_cjk_font_is_installed_and_covers_every_label_and_fixture_name() -> None:
    regular, bold = fonts.font_path("regular"), fonts.font_path("bold")
    assert regular.is_file() and bold.is_file() and regular.suffix == ".otf"
    city = load_city()
    text = "".join(zh + en for zh, en in _LABELS.values())
    text += "".join(d.name_zh for d in city.districts.values()) + "".join(s.name_zh for s in city.streets.values())
    text += "".join(d.name_zh for d in city.departments.values()) + "≥≤—·…✓"
    assert fonts.covers(text) == [] and fonts.covers(text, "bold") == []
    assert fonts.covers("\ue000") == ["\ue000"]  # the check can fail: a private-use character has no glyph


def test_missing_font_is_an_error_not_boxes(monkeypatch, tmp_path) -> None:
    fonts.font_path.cache_clear()
    monkeypatch.setenv("CITYOPS_BRIEFING_FONT", str(tmp_path / "nope.otf"))
    try:
        with pytest.raises(fonts.FontMissing):
            fonts.font_path("regular")
    finally:
        monkeypatch.delenv("CITYOPS_BRIEFING_FONT")
        fonts.font_path.cache_clear()


def _glyph(ch: str) -> Image.Image:
    im = Image.new("L", (80, 80), 0)
    ImageDraw.Draw(im).text((8, 4), ch, font=font(60), fill=255)
    return im


def test_png_font_draws_distinct_chinese_glyphs_not_the_missing_glyph_box() -> None:
    """A Latin font would draw every Chinese character as the same .notdef box."""
    box = _glyph("\ue000")
    drawn = [_glyph(ch) for ch in "简报结案率"]
    for im in drawn:
        assert im.getbbox() is not None, "nothing drawn"
        assert ImageChops.difference(im, box).getbbox() is not None, "a character drew as the missing-glyph box"
    assert len({im.tobytes() for im in drawn}) == len(drawn)


def test_charts_render_without_missing_glyph_warnings() -> None:
    family = fonts.matplotlib_family()
    assert "CJK" in family
    from matplotlib import font_manager

    found = font_manager.findfont(font_manager.FontProperties(family=family))
    assert found == str(fonts.font_path("regular"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)" for boxes
        out = charts.all_charts(sample(), load_city())
    assert set(out) == {"map", "rates", "districts", "hourly", "captures"}
    for png in out.values():
        assert Image.open(io.BytesIO(png)).format == "PNG"


# ------------------------------------------------------------------------------------- renderers


@pytest.fixture(scope="module")
def rendered() -> dict:
    b = sample()
    ch = charts.all_charts(b, load_city())
    return {"b": b, "charts": ch, "png": render_png(b, ch), "pdf": render_pdf(b, ch)}


def test_png_is_a_tall_phone_width_image(rendered) -> None:
    im = Image.open(io.BytesIO(rendered["png"]))
    assert im.format == "PNG" and im.width == 1080 and im.height > 3000


def test_pdf_embeds_the_cjk_font_and_its_text_extracts_as_chinese(rendered) -> None:
    import pypdfium2

    doc = pypdfium2.PdfDocument(rendered["pdf"])  # PDFium, the engine of Chrome's PDF viewer
    text = re.sub(r"\s+", "", "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))))
    for expected in ("厦门市城市运行管理服务平台", "城市运行管理每日简报", "湖里区", "翔安区", "结案率", "按期结案率",
                     "江头街道城管执法中队", "思明区·中华街道·岭林社区", "<script>alert('x')</script>"):
        assert expected in text, expected
    embedded = set()
    for page in PdfReader(io.BytesIO(rendered["pdf"])).pages:
        for ref in page["/Resources"]["/Font"].values():
            f = ref.get_object()
            for d in f.get("/DescendantFonts", []):
                desc = d.get_object()["/FontDescriptor"].get_object()
                if "/FontFile3" in desc or "/FontFile2" in desc:
                    embedded.add(str(f["/BaseFont"]))
    assert any("NotoSansCJK" in name for name in embedded), embedded


def test_markdown_shows_event_html_and_markdown_as_text(rendered) -> None:
    md = render_markdown(rendered["b"], {"map": "charts-zh/map.png"})
    assert "<script" not in md and "<img" not in md and "<b>" not in md
    assert r"&lt;script&gt;alert\(&#x27;x&#x27;\)&lt;/script&gt;" in md
    assert "](javascript" not in md and r"\[点我\]\(javascript:alert\(1\)\)" in md
    assert r"\*\*粗\*\*" in md
    assert "![问题高发网格分布](charts-zh/map.png)" in md
    # a "|" in event text does not add a column to its table row
    table_rows = [line for line in md.splitlines() if "XM2026112400485" in line]
    assert len(table_rows) == 1 and table_rows[0].count("|") - table_rows[0].count(r"\|") == 9


def test_escape() -> None:
    assert escape("a\n<b>&\t|c|") == r"a &lt;b&gt;&amp; \|c\|"
    assert escape("[x](y)") == r"\[x\]\(y\)"
    assert escape("it's \"q\"") == "it&#x27;s &quot;q&quot;"  # entities intact, not "&\#x27;"


def test_english_briefing_renders(tmp_path) -> None:
    files = write_briefing(sample("en"), tmp_path)
    md = files.md.read_text()
    assert md.startswith("# Xiamen Daily City Operations Briefing") and "Rates against targets" in md


def test_files_are_written_whole_and_listed_newest_first(tmp_path) -> None:
    b = sample()
    files = write_briefing(b, tmp_path)
    assert files.folder == tmp_path / "2026-11-24" and files.complete()
    assert {p.name for p in files.folder.iterdir()} >= {"briefing-2026-11-24.zh.png", "briefing-2026-11-24.zh.pdf",
                                                         "briefing-2026-11-24.zh.md", "briefing-2026-11-24.zh.json",
                                                         "charts-zh"}
    assert not [p for p in files.folder.rglob(".*")], "temporary files left behind"
    assert (files.folder / "charts-zh" / "map.png").is_file()
    older = sample()
    older.day = date(2026, 11, 20)
    write_briefing(older, tmp_path)
    (tmp_path / "2026-11-21").mkdir()  # an incomplete day is not listed
    (tmp_path / "2026-11-21" / "briefing-2026-11-21.zh.png").write_bytes(b"")
    assert [(f.day, f.lang) for f in list_briefings(tmp_path)] == [(date(2026, 11, 24), "zh"),
                                                                   (date(2026, 11, 20), "zh")]


def test_rates_meet_targets_and_targets_parse() -> None:
    b = sample()
    met = {r.key: r.met for r in b.rates}
    assert met == {"closure": True, "on_time": False, "handling": None, "rework": True, "score": True}
    assert parse_targets("closure=0.99, rework=0.1")["closure"] == 0.99
    with pytest.raises(ValueError, match="CITYOPS_BRIEFING_TARGETS"):
        parse_targets("closure")
    with pytest.raises(ValueError):
        parse_targets("speed=1")


HOSTILE = ["[x](javascript:alert(1))", "![x](http://evil.example/p.png)", "<script>alert(1)</script>",
           "<http://evil.example/a>", "详见 https://evil.example/login 或 www.evil.example", "联系 ops@evil.example",
           "[ref]: http://evil.example", "<img src=x onerror=alert(2)>", "&#106;avascript:alert(3)",
           "![x]<http://evil.example>", "<a href='http://evil.example'>点</a>"]


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_event_text_renders_to_no_link_image_or_markup(text: str) -> None:
    """CommonMark renders the escaped text as one paragraph of text; GitHub-flavoured renderers also link bare
    ``http://``, ``www.`` and e-mail text, so none of those patterns may survive either."""
    from markdown_it import MarkdownIt

    out = escape(text)
    rendered = MarkdownIt("commonmark").enable("table").render(f"| a |\n|---|\n| {out} |\n\n{out}\n")
    assert "<a" not in rendered and "<img" not in rendered and "<script" not in rendered, rendered
    assert re.search(r"(?i)://|www\.|@[a-z0-9]", out) is None, out
    assert out.replace("\u200b", "").replace("\\", "") == html.escape(text, quote=True), "the text still reads the same"
