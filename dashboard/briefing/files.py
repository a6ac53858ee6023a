"""Generate briefings into ``var/briefings/`` and list the earlier ones (the console browses these).

Layout, one folder per day so a day's files travel together::

    var/briefings/2026-11-24/
        briefing-2026-11-24.zh.png   PNG for chat groups
        briefing-2026-11-24.zh.pdf   A4 PDF for print
        briefing-2026-11-24.zh.md    Markdown, its charts in charts-zh/
        briefing-2026-11-24.zh.json  the figures (what the files show), for tools and tests
        charts-zh/map.png …

Every file is written to a temporary name and renamed into place, so the console (or a chat bot
picking up the PNG) never reads a half-written file, and regenerating a day replaces it whole.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from cityops import read
from cityops.city_data import get_city_data
from cityops.settings import Settings, get_settings
from dashboard.briefing import charts as charts_mod
from dashboard.briefing.compose import Briefing, compose
from dashboard.briefing.i18n import LANGS, check_lang
from dashboard.briefing.render_markdown import render_markdown
from dashboard.briefing.render_pdf import render_pdf
from dashboard.briefing.render_png import render_png

KINDS = ("png", "pdf", "md", "json")
_NAME = re.compile(r"^briefing-(\d{4}-\d{2}-\d{2})\.(zh|en)\.(png|pdf|md|json)$")


class RenderedFiles:
    """The files of one rendered document in one language (``{stem}.{lang}.{kind}`` in ``folder``): shared by the
    daily briefing and the period 通报. A subclass is a frozen dataclass with ``lang`` and ``folder`` and names
    its ``stem``."""

    lang: str
    folder: Path

    @property
    def stem(self) -> str:
        raise NotImplementedError

    def path(self, kind: str) -> Path:
        return self.folder / f"{self.stem}.{self.lang}.{kind}"

    @property
    def png(self) -> Path:
        return self.path("png")

    @property
    def pdf(self) -> Path:
        return self.path("pdf")

    @property
    def md(self) -> Path:
        return self.path("md")

    @property
    def json(self) -> Path:
        return self.path("json")

    def complete(self) -> bool:
        return all(self.path(k).is_file() for k in KINDS)


@dataclass(frozen=True)
class BriefingFiles(RenderedFiles):
    day: date
    lang: str
    folder: Path

    @property
    def stem(self) -> str:
        return f"briefing-{self.day.isoformat()}"


def files_for(day: date, lang: str, out_dir: Path | None = None) -> BriefingFiles:
    base = out_dir or get_settings().briefings_dir
    return BriefingFiles(day, check_lang(lang), base / day.isoformat())


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the console and a web server read these
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_briefing(b: Briefing, out_dir: Path | None = None) -> BriefingFiles:
    """Render ``b`` to PNG, PDF, Markdown (+ chart images) and JSON under ``out_dir``/day/."""
    files = files_for(b.day, b.lang, out_dir)
    charts = charts_mod.all_charts(b, get_city_data().city)
    chart_dir = f"charts-{b.lang}"
    for name, png in charts.items():
        write_atomic(files.folder / chart_dir / f"{name}.png", png)
    write_atomic(files.png, render_png(b, charts))
    write_atomic(files.pdf, render_pdf(b, charts))
    write_atomic(files.md, render_markdown(b, {n: f"{chart_dir}/{n}.png" for n in charts}).encode())
    write_atomic(files.json, json.dumps(b.to_json(), ensure_ascii=False, indent=1).encode())
    return files


def generate(day: date, lang: str = "zh", out_dir: Path | None = None, settings: Settings | None = None,
             now: datetime | None = None) -> BriefingFiles:
    """Compose the briefing of ``day`` from the read model and write its files."""
    settings = settings or get_settings()
    r = read.connect(settings)
    try:
        b = compose(r, day, get_city_data().city, lang, settings=settings, now=now)
    finally:
        r.close()
    return write_briefing(b, out_dir or settings.briefings_dir)


def list_briefings(out_dir: Path | None = None) -> list[BriefingFiles]:
    """Complete briefings under ``out_dir``, newest day first, Chinese before English."""
    base = out_dir or get_settings().briefings_dir
    found: set[tuple[date, str]] = set()
    if base.is_dir():
        for folder in base.iterdir():
            if not folder.is_dir():
                continue
            for f in folder.iterdir():
                m = _NAME.match(f.name)
                if m and m.group(1) == folder.name:
                    found.add((date.fromisoformat(m.group(1)), m.group(2)))
    out = [BriefingFiles(d, lang, base / d.isoformat()) for d, lang in found]
    return sorted((f for f in out if f.complete()), key=lambda f: (-f.day.toordinal(), LANGS.index(f.lang)))

