"""Issue 17's acceptance for the monthly 通报 and the 考核: a simulated October and September 2026 projected onto a
real Redis as the case agent does, 督办 applied through the command projection, then ``python -m cityops report``
writes the month's PNG, PDF, Markdown and JSON.

The 考核 of the report (and of the console's 考核 page, ``dashboard.views.assessment``) must equal an independent
computation: every street's and department's figures read through the HTTP read API (``/api/v1/kpis`` and its
``supervision_received``), scored with the points of ``assessment.yml`` read here with plain YAML (not
``cityops.assessment``), ranked within class by this test's own sort.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import orjson
import pypdfium2
import pytest
import yaml
from fastapi.testclient import TestClient

from cityops.apikeys import add_client, keys_path, update_api_clients
from cityops.catalogue import get_catalogue
from cityops.schemas import OperatorCommand
from cityops.settings import get_settings
from cityops.workcalendar import get_calendar
from fixtures.simulator.cases import CaseDayPlanner
from fixtures.xiamen import load_city
from streams.command_projection import project_command, project_finding
from tests.support.effects import apply_effects
from tests.support.kpi_reference import sorted_events
from tests.support.read_model import TZ, build_read_model
from tests.support.workers import REPO_ROOT, subprocess_env

MONTH = (date(2026, 10, 1), date(2026, 10, 31))
HISTORY_START = date(2026, 9, 1)
SCHEME_FILE = REPO_ROOT / "cities" / "xiamen" / "assessment.yml"


@pytest.fixture(scope="module")
def month_events():
    planner = CaseDayPlanner(load_city(), get_catalogue(), get_calendar(), TZ, seed=11, cases_per_day=30)
    days = (MONTH[1] - HISTORY_START).days + 1
    pairs = [((p.event.case_id, p.seq), p.event) for n in range(days)
             for p in planner.plan_day(HISTORY_START + timedelta(days=n))]
    return sorted_events(pairs)


def supervise(redis_client, redis_url: str, case_ids: list[str]) -> None:  # noqa: ANN001
    """督办 of each case (a second one of the first case too: it must count once), as the command agent applies it."""
    for n, cid in enumerate([*case_ids, case_ids[0]]):
        at = datetime.combine(MONTH[0] + timedelta(days=n % 28), time(10), TZ).isoformat()
        cmd = OperatorCommand.model_validate_json(orjson.dumps(
            {"command_id": f"sup-{n}", "action": "escalate", "target_kind": "case", "target_id": cid,
             "user": "督查员", "role": "duty", "issued_at": at}))
        target = redis_client.hgetall(f"co:case:{cid}")
        out = project_command(cmd, target, {}, received_at=datetime.fromisoformat(at), tz=TZ)
        results = apply_effects(redis_url, [out.effects])
        assert not any(x.failed for x in results)


def inspect(redis_url: str, findings: list[tuple[str, str, float]]) -> None:
    """督查发现 entered in October, as the command agent applies them."""
    city = load_city()
    effects = []
    for n, (kind, unit, points) in enumerate(findings):
        at = datetime.combine(MONTH[0] + timedelta(days=3 + n), time(15), TZ).isoformat()
        cmd = OperatorCommand.model_validate_json(orjson.dumps(
            {"command_id": f"insp-{n}", "action": "finding", "target_kind": kind, "target_id": unit,
             "user": "督查员", "role": "duty", "issued_at": at, "points": points, "note": "路面破损未及时修复"}))
        units = frozenset(city.streets if kind == "street" else city.departments)
        effects.append(project_finding(cmd, units, received_at=datetime.fromisoformat(at), tz=TZ).effects)
    assert not any(x.failed for x in apply_effects(redis_url, effects))


def independent_scores(client: TestClient, key: str, first: date, last: date) -> dict[str, dict]:
    """Scores from the read API's figures and the scheme file, by this test's reading of docs/assessment.md."""
    scheme = yaml.safe_load(SCHEME_FILE.read_text(encoding="utf-8"))
    out: dict[str, dict] = {}
    for kind in ("street", "department"):
        part = scheme[kind]
        ind = part["indicators"]
        for klass, ids in part["classes"].items():
            scored = []
            for unit in map(str, ids):
                reply = client.get("/api/v1/kpis", params={"scope": kind, "id": unit, "from": first.isoformat(),
                                                            "to": last.isoformat()}, headers={"X-API-Key": key})
                assert reply.status_code == 200, reply.text
                body = reply.json()
                cases = body["kpis"]["cases"]
                due = cases.get("due" if kind == "street" else "due_handle", 0)
                on_time = cases.get("on_time" if kind == "street" else "handled_on_time", 0)
                score = scheme["base"] + ind["overdue"] * (due - on_time) + ind["rework"] * cases.get("reworked", 0)
                score += ind["supervised"] * body["supervision_received"] + ind["findings"] * body["inspection_points"]
                score += ind.get("supervision_overdue", 0) * body.get("supervision_overdue", 0)
                if due:
                    score += ind["on_time_rate"]["points"] * (on_time / due - ind["on_time_rate"]["target"]) * 100
                scored.append((round(score, 2), unit))
            scored.sort(key=lambda x: (-x[0], x[1]))
            for position, (score, unit) in enumerate(scored):
                rank = next(i for i, (s, _) in enumerate(scored) if s == score) + 1
                out[unit] = {"class": str(klass), "score": score, "rank": rank,
                             "interview": position >= len(scored) - scheme["interview_last"]}
            # ties with the first of the summoned are summoned too, unless that tie reaches the top of the class
            cut = out[scored[len(scored) - scheme["interview_last"]][1]]["rank"]
            for _, unit in scored:
                out[unit]["interview"] = out[unit]["rank"] >= cut > 1
    return out


def test_the_monthly_report_and_its_assessment_equal_an_independent_computation(
        redis_client, redis_url, month_events, tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CITYOPS_VAR", str(tmp_path / "var"))
    get_settings.cache_clear()
    build_read_model(redis_url, month_events, get_calendar())
    october = sorted({e.case_id for e in month_events if e.event_time.date() >= MONTH[0]})
    supervise(redis_client, redis_url, october[:12])
    inspect(redis_url, [("street", "350203001", -6.5), ("street", "350203001", -3.0),
                        ("department", "SSQ-350203003", 4.0)])

    out = tmp_path / "reports"
    env = subprocess_env() | {"REDIS_URL": redis_url, "CITYOPS_VAR": str(tmp_path / "var")}
    done = subprocess.run([sys.executable, "-m", "cityops", "report", "--period", "month", "--date", "2026-10",
                           "--out", str(out), "--lang", "all"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads((out / "2026-10" / "report-2026-10.zh.json").read_text(encoding="utf-8"))

    monkeypatch.setenv("CITYOPS_APIKEYS_FILE", str(tmp_path / "apikeys.json"))
    get_settings.cache_clear()
    path = keys_path(get_settings().city_dir, get_settings().apikeys_file)
    key: dict[str, str] = {}

    def change(clients):  # noqa: ANN001, ANN202
        clients, key["read"] = add_client(clients, "auditor", name="考核组", source="inspection", scopes=("read",),
                                          rate_per_s=10_000, burst=10_000)
        return clients

    update_api_clients(path, change)
    from doors.api.app import create_app

    with TestClient(create_app()) as client:
        expected = independent_scores(client, key["read"], *MONTH)

    got = {s["unit_id"]: {"class": s["klass"], "score": s["score"], "rank": s["rank"], "interview": s["interview"]}
           for kind in ("street", "department") for s in figures["assessment"][kind]}
    assert got == expected
    assert any(s["score"] < 100 for s in got.values()) and any(s["rank"] > 1 for s in got.values())
    assert figures["supervised"] == 12  # the second 督办 of one case counted nothing
    zhonghua = next(s for s in figures["assessment"]["street"] if s["unit_id"] == "350203001")
    assert next(i for i in zhonghua["items"] if i["key"] == "findings")["points"] == -9.5
    assert sum(s["interview"] for s in got.values()) >= 2 * (5 + 3)  # the last two of each class

    from dashboard.views.assessment import assessment_tables

    page = assessment_tables(redis_client, "month", "2026-10", "zh")
    assert {row.unit_id: (row.rank, row.score) for table in page.tables for row in table.rows} == {
        u: (x["rank"], x["score"]) for u, x in expected.items()}

    pdf = pypdfium2.PdfDocument(str(out / "2026-10" / "report-2026-10.zh.pdf"))
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    for words in ("城市运行管理月度通报", "2026年10月", "红黑榜", "考核得分与排名", "约谈名单", "趋势", "督办"):
        assert words in text, words
    en = (out / "2026-10" / "report-2026-10.en.md").read_text(encoding="utf-8")
    assert "Monthly City Operations Report" in en and "October 2026" in en
    for kind in ("png", "pdf", "md"):
        assert Path(out / "2026-10" / f"report-2026-10.zh.{kind}").stat().st_size > 1000
