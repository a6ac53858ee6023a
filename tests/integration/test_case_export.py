"""Case search and export against a real worker: cases published to Kafka and projected, then searched by the
new community index and text filter, exported as xlsx (opened with openpyxl: equal to the read model's cases for
the filter) and CSV, and the same export through ``python -m cityops cases export``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime, timedelta

from openpyxl import load_workbook

from cityops import case_export, read
from cityops.catalogue import get_catalogue
from cityops.read.case_search import CaseQuery, parse_states, search_cases
from cityops.schemas import CaseAction
from cityops.settings import REPO_ROOT
from fixtures.xiamen import load_city
from tests.integration.test_read_api import case_steps, publish_cases
from tests.support.workers import wait_until, worker


def _sheet(body: bytes) -> list[list]:
    wb = load_workbook(io.BytesIO(body))
    rows = [[v if v is not None else "" for v in r] for r in wb.active.iter_rows(values_only=True)]
    assert tuple(rows[0]) == case_export.HEADERS
    return rows[1:]


def test_an_export_equals_the_read_models_cases_for_the_filter(stack_env, redis_client, tmp_path):
    s, city, cat = stack_env, load_city(), get_catalogue()
    tz = s.tz
    day = datetime.now(tz).date() - timedelta(days=1)
    events, cases = case_steps(city, day, 9)
    texts = {cid: (f"湖滨南路{i}号" if i % 2 else f"莲前西路{i}号", "=HYPERLINK(\"http://x\")" if i == 4 else "占道")
             for i, cid in enumerate(sorted(cases))}
    events = [e.model_copy(update={"address": texts[e.case_id][0], "description": texts[e.case_id][1]})
              if e.action is CaseAction.REPORT else e for e in events]
    with worker(tmp_path / "worker.log"):
        publish_cases(s, events)
        wait_until(lambda: all(read.case(redis_client, cid).get("state") == c["state"] for cid, c in cases.items()),
                   60, "the worker did not apply every case")
    district = cases[sorted(cases)[1]]["district"]  # every third case is closed: those of the first district
    query = CaseQuery(day, day, district=district, states=parse_states("open"))
    wanted = sorted((cid for cid, c in cases.items() if c["district"] == district and c["state"] != "closed"),
                    key=lambda cid: cases[cid]["t"], reverse=True)
    assert len(wanted) >= 2
    from_model = [{"case_id": cid, **read.case(redis_client, cid)} for cid in wanted]
    expected = case_export.export_rows(from_model, city, cat, tz)

    found = case_export.collect(redis_client, query, city.code, tz)
    assert [c["case_id"] for c in found.cases] == wanted and not found.truncated
    body = case_export.to_xlsx(case_export.export_rows(found.cases, city, cat, tz))
    assert _sheet(body) == expected
    assert expected[0][1] == datetime.fromisoformat(from_model[0]["t_report"]).astimezone(tz).replace(tzinfo=None)

    # a community is searched through its street's day index, and the text filter on address or description
    community = read.case(redis_client, wanted[0])["community"]
    by_community = search_cases(redis_client, CaseQuery(day, day, community=community), city.code, tz,
                                street_of=city.street_of)
    assert {c["case_id"] for c in by_community.cases} == {
        cid for cid in cases if read.case(redis_client, cid)["community"] == community}
    street = read.case(redis_client, wanted[0])["street"]
    assert by_community.scanned == sum(read.case(redis_client, cid)["street"] == street for cid in cases)
    assert not redis_client.exists(f"co:cases:d:{day:%Y%m%d}:community:{community}")
    by_text = search_cases(redis_client, CaseQuery(day, day, text="湖滨南路"), city.code, tz)
    assert {c["case_id"] for c in by_text.cases} == {cid for cid, (a, _) in texts.items() if "湖滨南路" in a}

    # the CLI writes the same workbook for the same filter (the district by its Chinese name), and the CSV
    env = os.environ | {"REDIS_URL": s.redis_url}
    out = tmp_path / "cases.xlsx"
    cmd = [sys.executable, "-m", "cityops", "cases", "export", "--from", day.isoformat(), "--to", day.isoformat(),
           "--district", city.districts[district].name_zh, "--status", "open"]
    done = subprocess.run([*cmd, "--format", "xlsx", "-o", str(out)], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"{len(wanted)} cases" in done.stderr
    assert _sheet(out.read_bytes()) == expected
    csv_run = subprocess.run([*cmd, "--format", "csv", "-o", "-"], cwd=REPO_ROOT, env=env, capture_output=True,
                             timeout=60)
    assert csv_run.returncode == 0, csv_run.stderr
    lines = csv_run.stdout.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("案件编号,上报时间") and [ln.split(",")[0] for ln in lines[1:]] == wanted
    bad = subprocess.run([*cmd[:-4], "--district", "没有这个区"], cwd=REPO_ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "--district" in bad.stderr
