"""Fault injection, the short form of ``make chaos``: 2 worker SIGKILLs, a Redis restart and the broker stopped
for 5 s under a steady producer, on a third of the seeded day; the read model must equal an undisturbed run's.
The judge of the run (``cityops/chaos.py``) is tested on its own in ``tests/unit/test_chaos.py``."""

from __future__ import annotations

import argparse
from collections import Counter

import pytest


@pytest.mark.timeout(280)
def test_short_chaos_run_changes_nothing(tmp_path, capsys):
    from tools.chaos import run

    args = argparse.Namespace(cases_fraction=0.3, rate=100.0, kills=2, redis_restarts=1, broker_outages=1,
                              outage_s=5.0, stall_s=60.0, worker_through_outage=False,
                              workdir=str(tmp_path))
    report = run(args)
    print(report.table())
    assert report.faults == Counter({"worker SIGKILL": 2, "redis restart (AOF)": 1, "broker stopped": 1})
    assert report.producer_outages >= 1, "the producer should have noticed the broker going away"
    assert report.events_resent > 0
    c = report.comparison
    assert c is not None and c.cases_reference > 250
    assert c.differences == [], f"{len(c.differences)} keys differ, e.g. {c.differences[:5]}"
    assert (c.cases_lost, c.cases_counted_twice) == (0, 0)
    assert report.events_applied == report.events_applied_reference >= report.events_input > 1200
    assert report.ok
