"""No two read-model keys collide, for any valid ids: the layout rule of ``cityops/keys.py``, proved over every
key family and arbitrary ids (``:`` included, and suffixes that spell other families). The same ids through a real
worker: ``tests/integration/test_keys_worker.py``.

Why: ids may contain ``:`` (``schemas.Id``), and case ``X1:timeline``'s hash was once case ``X1``'s timeline
list; reporting both failed the case agent's batch with WRONGTYPE and stopped the SLA timer for the city.

The families are found by looking at the module (every public function of ``str`` arguments returning ``str``),
so a family added later is covered without editing this file. The collision search does not trust
``keys.parse``: for each drawn key it tries to spell the same key with every family's template.
"""

from __future__ import annotations

import inspect
import re
import string
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops import keys
from cityops.schemas import ID_MAX_LENGTH, Id

PROPERTY = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

ID_PATTERN = re.compile(Id.__metadata__[0].pattern)
ID_CHARS = string.ascii_letters + string.digits + "_.:@/+-"
# The fixed formats of key parts that are not ids (by parameter name); keys.FORMATS where it exists.
FORMATS: dict[str, re.Pattern[str]] = getattr(keys, "FORMATS", {
    "day": re.compile("[0-9]{8}"), "hour": re.compile("[0-9]{10}"), "bucket": re.compile("[0-9]{8}|[0-9]{10}"),
    "resolution": re.compile("[mqh]"), "scope": re.compile("|".join(keys.SCOPES))})


def _key_families() -> dict[str, Callable[..., str]]:
    """Every public function of ``cityops.keys`` that spells a key: ``str`` arguments, ``str`` result."""
    readers = getattr(keys, "_KEY_READERS", frozenset())
    found: dict[str, Callable[..., str]] = {}
    for name, fn in vars(keys).items():
        if name.startswith("_") or name in readers or not inspect.isfunction(fn) or fn.__module__ != keys.__name__:
            continue
        hints = inspect.get_annotations(fn)
        params = inspect.signature(fn).parameters
        if hints.get("return") in ("str", str) and all(hints.get(p) in ("str", str) for p in params):
            found[name] = fn
    return found


FAMILIES = _key_families()
PARAMS = {name: list(inspect.signature(fn).parameters) for name, fn in FAMILIES.items()}


def _template(name: str) -> str:
    return FAMILIES[name](*(f"{{{p}}}" for p in PARAMS[name]))


# Words of the layout itself ("timeline", "recent", "open", "d", "city", ...): ids made of them spell other keys.
WORDS = sorted({w for name in FAMILIES for w in _template(name).split(":") if w and "{" not in w}
               | {"X1", "350200", "20261120", "2026112009", "m", "q", "h", *keys.SCOPES})
TAILS = ("", ":", ":timeline", ":recent", ":scores", ":active", ":open", ":seen", ":20261120", ":city:350200")
_body = st.lists(st.one_of(st.sampled_from(WORDS), st.text(ID_CHARS, min_size=1, max_size=6)), min_size=1, max_size=5)
IDS = st.tuples(st.sampled_from(("", ":", "co:")), _body.map(":".join), st.sampled_from(TAILS)).map("".join) \
    .filter(lambda s: len(s) <= ID_MAX_LENGTH and ID_PATTERN.fullmatch(s) is not None)


def _arg(param: str) -> st.SearchStrategy[str]:
    if param in FORMATS:
        return st.from_regex(FORMATS[param], fullmatch=True)
    return IDS


CALLS = st.sampled_from(sorted(FAMILIES)).flatmap(
    lambda name: st.tuples(st.just(name), st.fixed_dictionaries({p: _arg(p) for p in PARAMS[name]})))


def _spellings(key: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every (family, arguments) that a template matches ``key`` with (greedy and lazy), valid arguments only."""
    found: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for name in FAMILIES:
        template = _template(name)
        for free in ("+", "+?"):
            pattern = re.escape(template)
            for p in PARAMS[name]:
                part = f"(?:{FORMATS[p].pattern})" if p in FORMATS else f"[^\n]{free}"
                pattern = pattern.replace(re.escape(f"{{{p}}}"), f"(?P<{p}>{part})", 1)
            m = re.fullmatch(pattern, key)
            if m is None:
                continue
            args = m.groupdict()
            if all(p in FORMATS or ID_PATTERN.fullmatch(v) for p, v in args.items()) \
                    and FAMILIES[name](**args) == key:
                found.add((name, tuple(sorted(args.items()))))
    return found


def test_the_families_are_found() -> None:
    assert {"case", "case_timeline", "sensor", "sensor_window", "camera_recent", "kpi_daily", "alert"} <= set(FAMILIES)
    assert "day_bucket" not in FAMILIES and "parse" not in FAMILIES
    assert set(keys.families()) == set(FAMILIES)  # the module's own view covers the same families


def test_the_key_table_lists_every_family_and_nothing_else() -> None:
    rows = re.findall(r"^\| ``(co:[^`]+)`` \|", keys.__doc__ or "", re.M)
    listed = {(row.split("{", 1)[0], row.count("{")) for row in rows}
    assert listed == {(prefix, len(parts)) for prefix, parts in keys.families().values()}
    assert len(rows) == len(keys.families())


@PROPERTY
@given(CALLS)
def test_no_other_family_or_arguments_spell_the_same_key(call: tuple[str, dict[str, str]]) -> None:
    name, args = call
    key = FAMILIES[name](**args)
    assert key.startswith("co:")
    assert _spellings(key) == {(name, tuple(sorted(args.items())))}, f"{key!r} is more than one key"


@PROPERTY
@given(CALLS, CALLS)
def test_two_calls_share_a_key_only_when_they_are_the_same_call(a: tuple[str, dict[str, str]],
                                                                b: tuple[str, dict[str, str]]) -> None:
    same_key = FAMILIES[a[0]](**a[1]) == FAMILIES[b[0]](**b[1])
    assert same_key == (a == b)


@pytest.mark.parametrize(("one", "other"), [
    (lambda: keys.case("X1:timeline"), lambda: keys.case_timeline("X1")),
    (lambda: keys.case("X1:timeline:timeline"), lambda: keys.case_timeline("X1:timeline")),
    (lambda: keys.camera_recent("CAM-1:recent"), lambda: keys.camera_recent("CAM-1")),
    (lambda: keys.sensor_window("m", "S1:2026112509", "2026112509"),
     lambda: keys.sensor_window("m", "S1", "2026112509")),
    (lambda: keys.overdue("city", "350200:city:350200"), lambda: keys.overdue("city", "350200")),
    (lambda: keys.alert("s:1"), lambda: keys.alerts()),
])
def test_ids_that_spelled_other_keys_once_do_not_any_more(one: Callable[[], str], other: Callable[[], str]) -> None:
    assert one() != other()
    assert len(_spellings(one())) == 1 and len(_spellings(other())) == 1


@PROPERTY
@given(CALLS)
def test_parse_gives_back_the_family_and_its_arguments(call: tuple[str, dict[str, str]]) -> None:
    name, args = call
    key = FAMILIES[name](**args)
    assert keys.parse(key) == (name, args) and keys.family_of(key) == name
    if name == "sensor_window":
        assert keys.window_period(key) == args["bucket"]


@pytest.mark.parametrize("key", ["co:test", "co:kpi:d:2026:city:1", "co:win:x:20261120:S1", "co:case", "x:case:1",
                                 "co:overdue:nowhere:1", "co:alerts:activ"])
def test_parse_refuses_what_no_family_spells(key: str) -> None:
    assert keys.parse(key) is None and keys.family_of(key) is None


def _bad_same_prefix(case_id: str) -> str:
    return f"co:case:{case_id}:extra"


def _bad_free_part_first(case_id: str, scope: str) -> str:
    return f"co:zz:{case_id}:{scope}"


@pytest.mark.parametrize("bad", [_bad_same_prefix, _bad_free_part_first])
def test_a_layout_that_could_collide_is_refused(bad: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bad, "__module__", keys.__name__)
    monkeypatch.setattr(keys, "bad_family", bad, raising=False)
    keys.families.cache_clear()
    try:
        with pytest.raises(ValueError, match="bad_family"):
            keys.families()
    finally:
        monkeypatch.undo()
        keys.families.cache_clear()
    assert "bad_family" not in keys.families()
