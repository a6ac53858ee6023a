"""LA 311 rows with one impossible field keep their valid steps; only the impossible steps are refused, listed in
the report and built as dead letters (issue 16.10). Pure: no broker, the file is a small CSV written here."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from cityops.schemas import CaseAction, CaseEvent, DeadLetter, decode
from cityops.settings import get_settings
from fixtures.replay import la311
from fixtures.replay.common import ReplayReport, step_dead_letters

HEADER = ["srnumber", "requesttype", "status", "createddate", "updateddate", "closeddate", "requestsource", "owner",
          "latitude", "longitude", "address"]
GOOD = {"srnumber": "1-100", "requesttype": "Illegal Dumping Pickup", "status": "Closed",
        "createddate": "1/1/20 8:05", "updateddate": "1/2/20 9:00", "closeddate": "1/2/20 8:43",
        "requestsource": "Call", "owner": "BOS", "latitude": "34.19402846", "longitude": "-118.4994716",
        "address": "16815 W VANOWEN ST, 91406"}
STEPS = ["report", "register", "dispatch", "handle", "verify", "close"]


def _build(tmp_path: Path, *rows: dict[str, str]) -> tuple[list[CaseEvent], ReplayReport]:
    path = tmp_path / "la311.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, HEADER)
        writer.writeheader()
        writer.writerows(rows)
    report = ReplayReport("la311", str(path))
    built = la311.build_events(path, get_settings(), report)
    return [ev for _t, _row, _seq, ev in built], report


def test_a_good_row_is_unchanged(tmp_path):
    events, report = _build(tmp_path, GOOD)
    assert [e.event_id for e in events] == [f"LA311-1-100-{s}" for s in STEPS]
    assert events[2].department_id == "CITY-SANITATION" and events[-1].event_time.day == 2
    assert (report.rows_published, report.rows_rejected, report.rows_partial, report.steps_refused) == (1, 0, 0, 0)
    assert step_dead_letters(report) == []


def test_closed_before_created_keeps_report_register_dispatch(tmp_path):
    row = GOOD | {"createddate": "12/30/2017 05:16:06 PM", "closeddate": "12/30/2017 12:00:00 AM"}
    events, report = _build(tmp_path, row)
    assert [e.action.value for e in events] == ["report", "register", "dispatch"]
    assert (report.rows_published, report.rows_rejected, report.rows_partial) == (1, 0, 1)
    assert [(s.row, s.case_id, s.step, s.reason, s.stage) for s in report.refused_steps] == [
        (1, "LA311-1-100", step, "closeddate before createddate", "transition") for step in STEPS[3:]]
    assert report.step_reasons == {"closeddate before createddate": 3}
    # the would-be event is the payload: the close as the file tells it, before the report
    would_be = decode(CaseEvent, report.refused_steps[2].payload)
    assert would_be.event_id == "LA311-1-100-close" and would_be.event_time < events[0].event_time


def test_unknown_owner_keeps_report_and_register_and_refuses_what_depends_on_the_dispatch(tmp_path):
    events, report = _build(tmp_path, GOOD | {"owner": "NOBODY"})
    assert [e.action.value for e in events] == ["report", "register"]
    refused = {s.step: s for s in report.refused_steps}
    assert list(refused) == STEPS[2:]
    assert refused["dispatch"].reason == "owner 'NOBODY' has no department mapping"
    assert refused["dispatch"].stage == "validate"
    assert orjson.loads(refused["dispatch"].payload)["owner"] == "NOBODY"  # no dispatch to build: the row
    for step in ("handle", "verify", "close"):
        assert refused[step].reason == "depends on the refused dispatch: owner 'NOBODY' has no department mapping"
        assert refused[step].stage == "transition"
        assert decode(CaseEvent, refused[step].payload).action is CaseAction(step)


def test_closed_with_neither_time_keeps_the_dispatch(tmp_path):
    events, report = _build(tmp_path, GOOD | {"closeddate": "", "updateddate": ""})
    assert [e.action.value for e in events] == STEPS[:3]
    assert {s.reason for s in report.refused_steps} == {"status Closed without closeddate or updateddate"}
    assert [s.step for s in report.refused_steps] == STEPS[3:]


def test_a_cancelled_row_of_an_unknown_owner_is_still_voided(tmp_path):
    events, report = _build(tmp_path, GOOD | {"owner": "NOBODY", "status": "Cancelled"})
    assert [e.action.value for e in events] == ["report", "register", "void"]
    assert [s.step for s in report.refused_steps] == ["dispatch"]


@pytest.mark.parametrize(("change", "reason"), [
    ({"requesttype": "No Such Type"}, "request type 'No Such Type' has no catalogue mapping"),
    ({"createddate": "yesterday"}, "unparseable time 'yesterday'"),
])
def test_an_impossible_report_refuses_the_whole_row(tmp_path, change, reason):
    events, report = _build(tmp_path, GOOD | {"srnumber": "1-200"} | change, GOOD)
    assert {e.case_id for e in events} == {"LA311-1-100"}
    assert (report.rows_read, report.rows_published, report.rows_rejected) == (2, 1, 1)
    assert report.reasons == {reason: 1} and report.steps_refused == 0


def test_ids_are_stable_so_a_second_replay_creates_nothing_new(tmp_path):
    rows = [GOOD, GOOD | {"srnumber": "1-300", "owner": "NOBODY"},
            GOOD | {"srnumber": "1-400", "closeddate": "12/31/2019 12:00:00 AM"}]
    first, r1 = _build(tmp_path, *rows)
    second, r2 = _build(tmp_path, *rows)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert [s.event_id for s in r1.refused_steps] == [s.event_id for s in r2.refused_steps]
    assert {s.event_id for s in r1.refused_steps} == {"LA311-1-300-dispatch", "LA311-1-300-handle",
                                                      "LA311-1-300-verify", "LA311-1-300-close",
                                                      "LA311-1-400-handle", "LA311-1-400-verify",
                                                      "LA311-1-400-close"}
    assert not {e.event_id for e in first} & {s.event_id for s in r1.refused_steps}


def test_dead_letters_are_the_workers_record_format(tmp_path):
    _events, report = _build(tmp_path, GOOD, GOOD | {"srnumber": "1-500", "owner": "NOBODY"})
    letters = step_dead_letters(report)
    assert [key for key, _ in letters] == [f"LA311-1-500-{s}" for s in STEPS[2:]]
    records = [decode(DeadLetter, value) for _, value in letters]  # decodes against the contract
    assert {r.source_topic for r in records} == {"replay:la311:la311.csv"}
    assert [r.stage for r in records] == ["validate", "transition", "transition", "transition"]
    assert records[0].reason == "owner 'NOBODY' has no department mapping (row 2)"
    assert records[0].key == "LA311-1-500" and records[0].event_id == "LA311-1-500-dispatch"
    assert decode(CaseEvent, records[1].raw_payload()).event_id == "LA311-1-500-handle"
    shown = report.as_dict()
    assert shown["steps_refused"] == 4 and shown["rows_partial"] == 1 and shown["rows_rejected"] == 0
    assert shown["refused_steps"][0] == {"row": 2, "case_id": "LA311-1-500", "step": "dispatch",
                                         "reason": "owner 'NOBODY' has no department mapping", "stage": "validate"}


def test_the_printout_shows_refused_steps_apart_from_refused_rows(tmp_path, capsys):
    _events, report = _build(tmp_path, GOOD | {"requesttype": "No Such Type"}, GOOD | {"owner": "NOBODY"})
    report.print()
    out = capsys.readouterr().out
    rows_part, steps_part = out.split("steps refused")
    assert "rows rejected          1" in rows_part and "no catalogue mapping" in rows_part
    assert "      4  " not in rows_part and "1  of them with refused steps" in rows_part
    assert "      3  depends on the refused dispatch: owner 'NOBODY' has no department mapping" in steps_part
    assert "row       2  LA311-1-100  dispatch: owner 'NOBODY' has no department mapping" in steps_part
    assert "row       2  LA311-1-100  close: depends on the refused dispatch" in steps_part
