"""Write period reports under ``var/reports/`` and list the earlier ones (the briefing page browses them).

Layout, one folder a period::

    var/reports/2026-11/
        report-2026-11.zh.png   for chat groups
        report-2026-11.zh.pdf   A4 for print
        report-2026-11.zh.md    Markdown, its charts in charts-zh/
        report-2026-11.zh.json  the figures

Files are written to a temporary name and renamed into place (the briefing's writer), so a reader never sees a
half-written file and regenerating a period replaces it whole.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cityops import read
from cityops.city_data import get_city_data
from cityops.periods import Period, PeriodKind, parse_period
from cityops.settings import Settings, get_settings
from dashboard.briefing.files import KINDS, RenderedFiles, write_atomic
from dashboard.briefing.i18n import LANGS, check_lang
from dashboard.reports import charts as charts_mod
from dashboard.reports.compose import PeriodReport, compose_period, document
from dashboard.reports.render import to_markdown, to_pdf, to_png

__all__ = ["KINDS", "ReportFiles", "files_for", "generate", "list_reports", "write_report"]

_NAME = re.compile(r"^report-(\d{4}-(?:W\d{2}|Q[1-4]|\d{2}))\.(zh|en)\.(png|pdf|md|json)$")


@dataclass(frozen=True)
class ReportFiles(RenderedFiles):
    period: Period
    lang: str
    folder: Path

    @property
    def stem(self) -> str:
        return f"report-{self.period.label}"


def files_for(period: Period, lang: str, out_dir: Path | None = None) -> ReportFiles:
    base = out_dir or get_settings().reports_dir
    return ReportFiles(period, check_lang(lang), base / period.label)


def write_report(rep: PeriodReport, out_dir: Path | None = None) -> ReportFiles:
    files = files_for(rep.period, rep.lang, out_dir)
    charts = charts_mod.all_charts(rep)
    doc = document(rep, charts)
    chart_dir = f"charts-{rep.lang}"
    for name, png in charts.items():
        write_atomic(files.folder / chart_dir / f"{name}.png", png)
    write_atomic(files.png, to_png(doc))
    write_atomic(files.pdf, to_pdf(doc))
    write_atomic(files.md, to_markdown(doc, chart_dir).encode())
    write_atomic(files.path("json"), json.dumps(rep.to_json(), ensure_ascii=False, indent=1).encode())
    return files


def generate(period: Period, lang: str = "zh", out_dir: Path | None = None, settings: Settings | None = None,
             now: datetime | None = None) -> ReportFiles:
    """Compose ``period``'s report from the read model and write its files."""
    settings = settings or get_settings()
    data = get_city_data()
    r = read.connect(settings)
    try:
        rep = compose_period(r, period, data.city, data.catalogue, data.assessment, settings, lang, now)
    finally:
        r.close()
    return write_report(rep, out_dir or settings.reports_dir)


def _kind_of(label: str) -> PeriodKind:
    return PeriodKind.WEEK if "-W" in label else PeriodKind.QUARTER if "-Q" in label else PeriodKind.MONTH


def list_reports(out_dir: Path | None = None) -> list[ReportFiles]:
    """Complete reports under ``out_dir``, newest period first (a quarter before its last month, a month before
    its last week), Chinese before English."""
    base = out_dir or get_settings().reports_dir
    found: set[tuple[str, str]] = set()
    if base.is_dir():
        for folder in base.iterdir():
            if folder.is_dir():
                for f in folder.iterdir():
                    m = _NAME.match(f.name)
                    if m and m.group(1) == folder.name:
                        found.add((m.group(1), m.group(2)))
    out = [ReportFiles(parse_period(_kind_of(label), label), lang, base / label) for label, lang in found]
    order = {PeriodKind.QUARTER: 0, PeriodKind.MONTH: 1, PeriodKind.WEEK: 2}
    return sorted((f for f in out if f.complete()),
                  key=lambda f: (-f.period.end.toordinal(), order[f.period.kind], LANGS.index(f.lang)))
