"""The judge of ``tools/compare_versions.py`` on its own (no broker): what it normalises, what it counts as a
difference, and that a run with any difference is not a pass, so a judge that always says SAME fails here."""

from __future__ import annotations

import json
from collections import Counter

from tools.compare_versions import (
    FieldRename,
    Result,
    TopicComparison,
    Volatile,
    apply_renames,
    beyond_input,
    compare_sends,
    differing_part,
    normalise_model,
    normalise_send,
)

TOKENS = {"cmpoldab12.": "<topics>.", "cmpwoldab12": "<group>"}


def test_run_names_are_replaced_in_keys_hash_fields_and_values():
    model = {"co:dlq:d:20261202": {"cmpoldab12.sensors:late": "3"},
             "co:seen:dlq:cmpoldab12.cases:0:7": "1",
             "co:case:A": {"state": "closed", "note": "nothing to replace"}}
    assert normalise_model(model, TOKENS) == {"co:dlq:d:20261202": {"<topics>.sensors:late": "3"},
                                              "co:seen:dlq:<topics>.cases:0:7": "1",
                                              "co:case:A": {"state": "closed", "note": "nothing to replace"}}


def test_the_offline_timers_output_is_dropped_and_nothing_else():
    v = Volatile()
    model = {"co:alert:offline:S1:1700000000": {"state": "active"},
             "co:alert:dust:S1:1": {"state": "active"},
             "co:alerts:active": [("dust:S1:1", 1.0), ("offline:S1:1700000000", 1.7e9)],
             "co:sensor:S1": {"kind": "dust", "offline": "1", "offline_alert": "offline:S1:1700000000"},
             "co:sensors": [("S1", 0.0)]}
    assert normalise_model(model, {}, v) == {"co:alert:dust:S1:1": {"state": "active"},
                                             "co:alerts:active": [("dust:S1:1", 1.0)],
                                             "co:sensor:S1": {"kind": "dust"}, "co:sensors": [("S1", 0.0)]}


def test_a_dead_letter_loses_its_wall_clock_and_its_topic_prefix_only():
    rec = {"v": 1, "source_topic": "cmpoldab12.sensors", "reason": "r", "stage": "validate", "payload": "x",
           "received_at": "2026-12-02T06:00:00+00:00", "partition": 0, "offset": 3, "key": "GW"}
    key, value = normalise_send("deadletter", b"E1", json.dumps(rec).encode(), TOKENS)
    assert key == "E1" and "received_at" not in json.loads(value)
    assert json.loads(value)["source_topic"] == "<topics>.sensors" and json.loads(value)["offset"] == 3
    later = normalise_send("deadletter", b"E1", json.dumps(rec | {"received_at": "2027-01-01T00:00:00Z"}).encode(),
                           TOKENS)
    assert later == (key, value)
    other = normalise_send("deadletter", b"E1", json.dumps(rec | {"reason": "s"}).encode(), TOKENS)
    assert other != (key, value)
    assert normalise_send("cases", None, b"not json", TOKENS) == ("", "not json")


def test_what_a_topic_holds_beyond_the_input_and_what_is_missing():
    extra, missing = beyond_input([("a", "1"), ("b", "2"), ("b", "2"), ("d", "9")], [("a", "1"), ("b", "2"),
                                                                                      ("c", "3")])
    assert extra == Counter({("b", "2"): 1, ("d", "9"): 1}) and missing == 1


def test_sends_are_multisets_but_the_cases_topic_counts_each_derived_event_once():
    once, thrice = Counter({("k", "v"): 1}), Counter({("k", "v"): 3})
    cases = compare_sends("cases", once, thrice)  # the outbox re-published it twice more
    assert cases.differences == 0 and (cases.old, cases.new, cases.copies_new) == (1, 1, 3)
    dead = compare_sends("deadletter", once, thrice)  # a dead letter sent three times is a difference
    assert dead.differences == 2 and dead.only_new == [("k", "v"), ("k", "v")]
    changed = compare_sends("cases", once, Counter({("k", "w"): 1}))
    assert (changed.only_old, changed.only_new) == ([("k", "v")], [("k", "w")])
    assert compare_sends("cases", once, once, (0, 1)).differences == 1  # an input message lost on one side


def test_any_difference_fails_the_run_and_the_table_shows_the_first_keys_with_their_differing_fields():
    same = Result("old", "new", events_input=10, keys=(5, 5), keys_compared=5,
                  topics=[TopicComparison("cases", 1, 1, 1, 2, [], [])])
    assert same.ok and "SAME" in same.table()
    assert not Result("old", "new").ok  # nothing compared: not a pass
    keyed = Result("old", "new", keys_compared=5, differences=["co:kpi:d:1:city:1"],
                   values={"co:kpi:d:1:city:1": ({"closed": "1", "received": "2"}, {"closed": "2", "received": "2"})})
    assert not keyed.ok
    table = keyed.table()
    assert "DIFFERENT" in table and 'old {"closed": "1"}' in table and 'new {"closed": "2"}' in table
    sent = Result("old", "new", keys_compared=5, topics=[TopicComparison("deadletter", 1, 0, 1, 0, [("k", "v")], [])])
    assert not sent.ok and "deadletter only old: key 'k'" in sent.table()
    assert differing_part([1], [2]) == ([1], [2])


def test_a_declared_rename_moves_only_its_field_in_its_family_and_counts_the_keys():
    rename = FieldRename("co:alert:sensor:", "since", "at", "why")
    old = {"co:alert:sensor:S1:1": {"since": "t1", "value": "80"}, "co:alert:sla:C1": {"since": "t2"},
           "co:alert:sensor:S2:1": {"value": "70"}}
    touched = apply_renames(old, [rename])
    assert old == {"co:alert:sensor:S1:1": {"at": "t1", "value": "80"}, "co:alert:sla:C1": {"since": "t2"},
                   "co:alert:sensor:S2:1": {"value": "70"}}
    assert touched == {rename: 1}
