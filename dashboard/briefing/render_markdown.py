"""The briefing as Markdown (for wikis, e-mail, 政务微信 group notices), next to its chart images.

Event-derived text (addresses, descriptions, camera and sensor names) is untrusted: a report may
carry ``<script>`` or Markdown that would turn into links or markup when the file is rendered. Every
value goes through :func:`escape`, which makes HTML inert (``&lt;script&gt;``) and neutralises the
Markdown characters that could build links, emphasis, code or break a table row, and breaks the bare
URLs (``http://…``, ``www.…``, e-mail addresses) that GitHub-flavoured renderers link without any syntax.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from dashboard.briefing.compose import Briefing
from dashboard.briefing.i18n import pct, t

# Not "#" or ">": they only matter at the start of a line, where event text never stands, and escaping
# them would break the "&#x27;" entities html.escape writes.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()+!|~])")

# What GitHub-flavoured renderers (GitHub, GitLab, most wikis and chat apps) turn into links with no
# Markdown syntax at all: ``http://…``, ``www.…`` and e-mail addresses. Backslashes cannot stop them (they
# run on the text after escapes are resolved), so a zero-width space breaks the pattern: it shows nothing.
_BARE_LINK = re.compile(r"(?i)(://|www\.|@)")
_ZWSP = "\u200b"


def escape(text: object) -> str:
    """``text`` as inert Markdown: one line, HTML escaped, Markdown punctuation backslash-escaped, and bare
    URLs, ``www.`` names and e-mail addresses broken so no renderer links them."""
    flat = " ".join(str(text).split())
    inert = _MD_SPECIAL.sub(r"\\\1", html.escape(flat, quote=True))
    return _BARE_LINK.sub(lambda m: m.group(1)[0] + _ZWSP + m.group(1)[1:], inert)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[bool]) -> list[str]:
    out = ["| " + " | ".join(escape(h) for h in headers) + " |",
           "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    out += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return out + [""]


def render_markdown(b: Briefing, chart_paths: dict[str, str]) -> str:
    """``chart_paths`` maps chart names to paths relative to the Markdown file."""
    lang = b.lang
    lines = [f"# {escape(b.city)} {escape(t('title', lang))}", "",
             f"{escape(t('day', lang))}: **{b.day.isoformat()}** {escape(b.weekday)} · "
             f"{escape(t('generated', lang))}: {b.generated_at:%Y-%m-%d %H:%M}", ""]

    def image(name: str) -> None:
        if name in chart_paths:
            lines.extend([f"![{escape(t(_CHART_TITLE[name], lang))}]({chart_paths[name]})", ""])

    lines += [f"## {escape(t('totals', lang))}", ""]
    lines += md_table([label for _, label, _ in b.totals], [[f"{v:,}" for _, _, v in b.totals]], [True] * len(b.totals))
    if b.sources:
        lines += [f"{escape(t('sources', lang))}: " + ", ".join(f"{escape(n)} {c:,}" for n, c in b.sources), ""]

    lines += [f"## {escape(t('rates', lang))}", ""]
    rows = []
    for r in b.rates:
        if r.met is None:
            status = t("no_data", lang)
        else:
            status = ("✅ " if r.met else "❌ ") + t("met" if r.met else "missed", lang)
        rows.append([r.label, r.text(r.value, lang), "—" if r.weighted is None else r.text(r.weighted, lang),
                     ("≤ " if r.key == "rework" else "≥ ") + r.text(r.target, lang), status])
    lines += md_table([t("name", lang), t("value", lang), t("weighted", lang), t("target", lang), t("status", lang)],
                    rows, [False, True, True, True, False])
    lines += [escape(t("rates_note", lang)), ""]
    image("rates")

    for key, ranking, name in (("districts", b.districts, t("district", lang)),
                               ("departments", b.departments, t("department", lang))):
        lines += [f"## {escape(t(key, lang))}", ""]
        lines += md_table([t("rank", lang), name, t("received", lang), t("closed", lang), t("closure", lang),
                         t("on_time", lang), t("overdue_open", lang), t("score", lang)],
                        [[r.rank, r.name, r.received, r.closed, pct(r.closure_rate, lang), pct(r.on_time_rate, lang),
                          r.overdue_open, f"{r.score:.1f}"] for r in ranking],
                        [True, False, True, True, True, True, True, True])
        if key == "districts":
            image("districts")

    lines += [f"## {escape(t('hotspots', lang))}", ""]
    image("map")
    lines += md_table(["#", t("area", lang), t("grid", lang), t("received", lang)],
                    [[i, h.area, h.grid, h.received] for i, h in enumerate(b.hotspots, start=1)],
                    [True, False, False, True])
    if b.categories:
        lines += md_table(["#", t("categories", lang), t("received", lang)],
                        [[i, n, c] for i, (n, c) in enumerate(b.categories, start=1)], [True, False, True])

    lines += [f"## {escape(t('overdue', lang))}", "",
              escape(t("of_total", lang, n=b.overdue_total, m=len(b.overdue)) + " " + t("overdue_note", lang)), ""]
    if b.overdue:
        lines += md_table([t("case", lang), t("category", lang), t("district", lang), t("department", lang),
                         t("stage", lang), t("deadline", lang), t("overdue_hours", lang), t("address", lang)],
                        [[o.case_id, o.category, o.district, o.department, o.stage, o.deadline,
                          f"{o.overdue_hours:.1f}", o.text] for o in b.overdue],
                        [False, False, False, False, False, False, True, False])

    lines += [f"## {escape(t('sensors', lang))}", ""]
    kinds = ", ".join(f"{escape(k)} {n}" for k, n in b.exceedances_by_kind) or escape(t("none", lang))
    lines += [f"{escape(t('exceedances', lang))}: {kinds} · {escape(t('offline', lang))}: {b.offline_alerts}", ""]
    if b.exceedances_by_district:
        lines += [f"{escape(t('district', lang))}: " +
                  ", ".join(f"{escape(d)} {n}" for d, n in b.exceedances_by_district), ""]
    if b.exceedances:
        lines += md_table([t("sensor", lang), t("district", lang), t("kind", lang), t("peak", lang), t("limit", lang),
                         t("since", lang)],
                        [[e.sensor, e.district, e.kind, f"{e.value:g} {e.unit}", f"{e.limit:g}", e.since]
                         for e in b.exceedances], [False, False, False, True, True, False])

    lines += [f"## {escape(t('captures', lang))}", "",
              f"{escape(t('captures_n', lang))}: {b.captures_total:,} · "
              f"{escape(t('set_aside', lang))}: {b.captures_set_aside:,}", ""]
    if b.captures_by_type:
        lines += md_table([t("capture_type", lang), t("count", lang)], b.captures_by_type, [False, True])
    if b.captures_by_district:
        lines += md_table([t("district", lang), t("count", lang)], b.captures_by_district, [False, True])
    if b.recent_captures:
        lines += md_table([t("time", lang), t("camera", lang), t("capture_type", lang), t("case", lang)],
                        [[x.time, x.camera, x.kind, x.case_id] for x in b.recent_captures], [False] * 4)

    lines += [f"## {escape(t('charts', lang))}", ""]
    image("hourly")
    image("captures")
    return "\n".join(lines).rstrip() + "\n"


_CHART_TITLE = {"rates": "rates_chart", "districts": "district_scores", "map": "map", "hourly": "by_hour",
                "captures": "captures"}
