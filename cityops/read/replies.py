"""Reply parsing shared by the read modules: a member whose key has the wrong type or whose data does not
parse is left out with a log line (:mod:`cityops.bad_member`), so one bad member never fails a whole list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
from redis.client import Pipeline

from cityops import bad_member


def replies(pipe: Pipeline, members: Sequence[object], where: str) -> list:
    """The pipeline's replies, one per member; a member whose command failed (its key is of another type)
    gets None, logged once."""
    out = []
    for member, reply in zip(members, pipe.execute(raise_on_error=False), strict=True):
        if isinstance(reply, Exception):
            bad_member.skip(where, str(member), reply)
            reply = None
        out.append(reply)
    return out


def json_entries(entries: Sequence[tuple[str, Mapping[str, str]]], where: str) -> list[tuple[str, dict]]:
    """(entry id, its JSON object) of stream entries; an entry without a JSON object is left out, logged once."""
    out = []
    for entry_id, fields in entries:
        try:
            value = orjson.loads(fields["json"])
            if not isinstance(value, dict):
                raise TypeError(f"a JSON {type(value).__name__}, not an object")
        except (KeyError, TypeError, orjson.JSONDecodeError) as err:
            bad_member.skip(where, entry_id, f"entry unreadable: {err!r}")
            continue
        out.append((entry_id, value))
    return out


def ints(data: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, v in data.items():
        try:
            out[k] = int(float(v))
        except ValueError:
            continue
    return out
