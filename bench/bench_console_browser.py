"""How soon the console is usable in a real browser, and how soon an action shows: repeated, with figures.

Targets: a page is usable in the browser within 3 s; the big screen's map draws its first frame within 2 s
of signing in; a duty officer's action is reflected on screen within 2 s. A single sample on a busy 2-core
machine says little, so this runs ``--rounds`` fresh browser sessions against one real stack and prints the
spread.

Stack: a scratch tansu broker and redis-server, a real Faust worker and ``python -m cityops console``.
The read model holds the seeded days since two working days back at ``--cases-per-day`` (through the
stream processors' own projections, ``tests/support/console_seed.py``), 2,000 sensors and 20 AI captures;
``--rounds`` urgent cases go through Kafka and the worker until their SLA clocks raise critical alerts.

Each round is measured twice over: ``new_browser`` rounds each open a new browser context (nothing
cached: every script bundle is fetched and compiled, as on an officer's first visit), ``returning_browser``
rounds reuse one context whose HTTP cache is warm (the wall screen reloading, an officer signing in again):

- ``signin_form_s``: navigation → the sign-in form can be typed in. The baseline in the same run: Streamlit's
  own front end, a websocket and a script that runs almost none of our code;
- ``bigscreen_tiles_s``: pressing 登录 → all eight KPI tiles of the big screen painted (the end of the first
  frame after the eighth is on the page; timed in the page, :data:`FIRST_FRAME_PROBE`);
- ``bigscreen_map_canvas_s``: pressing 登录 → the map's canvas element on the page (nothing drawn in it yet);
- ``bigscreen_map_s``: pressing 登录 → the map's first frame drawn: the end of the browser task in which deck.gl
  made its first draw call into that canvas, the task that also hands the frame to the compositor (timed in the
  page, :data:`FIRST_FRAME_PROBE`);
- ``acknowledge_s``: pressing 确认 on the duty console → the alert shown as acknowledged (browser →
  console → Kafka → worker → Redis → the feed's next tick).

The first round after the console starts also imports and caches the page modules on the server; it is
reported apart (``first_load_after_start``).

    .venv/bin/python bench/bench_console_browser.py [--rounds 8] [--cases-per-day 3500]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis  # noqa: E402

from bench.scratch_stack import scratch_stack  # noqa: E402
from cityops import read  # noqa: E402
from tests.support.browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    acknowledge_chosen,
    choose_alert,
    console_process,
    publish_overdue_case,
    sign_in,
)
from tests.support.console_seed import seed_console, working_days_back  # noqa: E402
from tests.support.workers import free_port, subprocess_env, wait_until, worker  # noqa: E402

TARGETS_S = {"signin_form_s": 3.0, "bigscreen_tiles_s": 3.0, "bigscreen_map_s": 2.0, "acknowledge_s": 2.0}
MEASURES = ("signin_form_s", "bigscreen_tiles_s", "bigscreen_map_canvas_s", "bigscreen_map_s", "acknowledge_s")

# Runs in every page before its own scripts, and times on the page's own clock (a test's polling waits while
# the page is busy, so it would see things late): when the sign-in form's button is pressed; when the first frame
# after the eighth KPI tile came onto the page has ended (a frame's task ends with the page painted); and when
# the task of the first draw call into the big screen's map canvas has ended, which is when that frame, read
# back from software WebGL, has gone to the compositor.
FIRST_FRAME_PROBE = """
(() => {
  document.addEventListener('click', (e) => {
    if (e.target.closest && e.target.closest('[data-testid="stForm"] button')) window.__signinAt = performance.now();
  }, true);
  new MutationObserver(() => {
    if (window.__signinAt === undefined || window.__tilesPainting) return;
    if (document.querySelectorAll('[data-testid="stMetric"]').length < 8) return;
    window.__tilesPainting = true;
    requestAnimationFrame(() => setTimeout(() => { window.__tilesAt = performance.now(); }, 0));
  }).observe(document, {childList: true, subtree: true});
  const seen = (gl) => {
    const canvas = gl.canvas;
    if (window.__mapDrawing || !canvas.closest || !canvas.closest('.st-key-bigscreen_map')) return;
    window.__mapDrawing = true;
    setTimeout(() => { window.__mapDrawnAt = performance.now(); }, 0);
  };
  for (const proto of [WebGLRenderingContext.prototype, WebGL2RenderingContext.prototype]) {
    for (const name of ['drawArrays', 'drawElements', 'drawArraysInstanced', 'drawElementsInstanced']) {
      const draw = proto[name];
      if (draw) proto[name] = function (...args) { seen(this); return draw.apply(this, args); };
    }
  }
})();
"""


def spread(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered), 2), "max": round(ordered[-1], 2),
            "min": round(ordered[0], 2), "n": len(ordered)}


def measure_round(page, base: str, case_id: str) -> dict[str, float]:  # noqa: ANN001 - Playwright
    """The leader signs in to the big screen, then the duty officer acknowledges ``case_id``'s alert."""
    form_s, clicked = sign_in(page, base, "", "leader", "leader-demo")
    page.wait_for_function("window.__tilesAt !== undefined", timeout=60_000)
    tiles_s = page.evaluate("(window.__tilesAt - window.__signinAt) / 1000")
    page.wait_for_selector('.st-key-bigscreen_map [data-testid="stDeckGlJsonChart"] canvas', timeout=60_000)
    canvas_s = time.monotonic() - clicked
    page.wait_for_function("window.__mapDrawnAt !== undefined", timeout=60_000)
    map_s = page.evaluate("(window.__mapDrawnAt - window.__signinAt) / 1000")
    sign_in(page, base, "duty", "duty", "duty-demo")
    choose_alert(page, case_id)
    ack_s = acknowledge_chosen(page, timeout_ms=60_000)
    return {"signin_form_s": form_s, "bigscreen_tiles_s": tiles_s, "bigscreen_map_canvas_s": canvas_s,
            "bigscreen_map_s": map_s, "acknowledge_s": ack_s}


def new_context(browser):  # noqa: ANN001, ANN201 - Playwright objects
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    context.add_init_script(FIRST_FRAME_PROBE)
    return context


def fresh_round(browser, base: str, case_id: str) -> dict[str, float]:  # noqa: ANN001
    """A browser that has never seen the console: nothing cached, every script bundle fetched."""
    context = new_context(browser)
    try:
        return measure_round(context.new_page(), base, case_id)
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--cases-per-day", type=int, default=3500)
    args = parser.parse_args()

    console_port = free_port()
    with scratch_stack("bench-console-browser-") as (tmp, s):
        r = Redis.from_url(s.redis_url, decode_responses=True)
        now = datetime.now(s.tz)
        seeded = seed_console(r, working_days_back(now), now, cases_per_day=args.cases_per_day, sensors=2000,
                              captures=20, evidence_dir=s.evidence_dir)
        env = subprocess_env()
        case_ids = [f"BENCH{i}" for i in range(2 * args.rounds + 2)]
        half = args.rounds + 1
        with worker(tmp / "worker.log", env):
            for case_id in case_ids:
                publish_overdue_case(s, case_id)
            wait_until(lambda: {a.get("case_id") for a in read.alerts_current(r, 500)} >= set(case_ids), 90,
                       "no SLA alerts for the benchmark's cases")
            with console_process(console_port, env, tmp / "console.log"):
                from playwright.sync_api import sync_playwright

                base = f"http://127.0.0.1:{console_port}"
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                    try:
                        first = fresh_round(browser, base, case_ids[0])
                        fresh = [fresh_round(browser, base, cid) for cid in case_ids[1:half]]
                        context = new_context(browser)  # a returning browser: its HTTP cache is warm
                        page = context.new_page()
                        measure_round(page, base, case_ids[half])
                        page.goto("about:blank")
                        returning = []
                        for cid in case_ids[half + 1:]:
                            returning.append(measure_round(page, base, cid))
                            page.goto("about:blank")
                    finally:
                        browser.close()
        result = {
            "machine": {"cpu_cores": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                        "python": platform.python_version(), "load_avg_1m": round(os.getloadavg()[0], 2)},
            "read_model": {"cases": seeded["cases"], "steps": seeded["applied"], "sensors": 2000, "captures": 20},
            "first_load_after_start": {k: round(v, 2) for k, v in first.items()},
            "new_browser": {k: spread([rd[k] for rd in fresh]) for k in MEASURES},
            "returning_browser": {k: spread([rd[k] for rd in returning]) for k in MEASURES},
            "targets_s": TARGETS_S,
            "baseline": "signin_form_s: Streamlit's own front end and a near-empty script, in the same run",
        }
        result["p50_within_target"] = {
            who: {k: result[who][k]["p50"] <= target for k, target in TARGETS_S.items()}
            for who in ("new_browser", "returning_browser")}
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
