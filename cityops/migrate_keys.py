"""``python -m cityops migrate-keys [--dry-run]``: move a read model written in the old key layout to today's.

Why: ``cityops/keys.py`` renamed three key families so that no two keys can collide for ids holding ``:``;
a city that ran the platform before keeps its timelines, windows and camera captures under the old names,
which nothing reads any more. This module is the only place that still spells the old names:

| old key | type | new key (``cityops.keys``) |
|---|---|---|
| ``co:case:{case_id}:timeline`` | list | ``case_timeline``: ``co:timeline:{case_id}`` |
| ``co:win:{m,q,h}:{sensor_id}:{bucket}`` | hash | ``sensor_window``: ``co:win:{res}:{bucket}:{sensor_id}`` |
| ``co:camera:{camera_id}:recent`` | hash | ``camera_recent``: ``co:camrecent:{camera_id}`` |

and the window pointers ``win_m``, ``win_q``, ``win_h`` of ``co:sensor:{id}`` ("window key, bucket"), which name
whole window keys, are rewritten to the new window names.

Each key is judged by its Redis TYPE (a ``co:case:…:timeline`` hash is a case whose id ends in ``:timeline``:
left alone) and renamed only if the new name is free, in one script, so its TTL and content move with it;
where both names exist both are reported and left. A window key that reads as both layouts (a sensor id that
starts or ends with a bucket-shaped part) is settled by which sensor is known (``co:sensor:{id}`` or
``co:sensors``), else reported and left. A second run finds nothing to do. Workers must be stopped: the
command refuses to run while a worker beats (``co:meta:heartbeats:*``), unless ``--force``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from redis import Redis

from cityops import keys, read
from cityops.lua import source

RESOLUTIONS = ("m", "q", "h")
# The bucket of a window key by resolution: the hour for minute windows, the day for the others.
_BUCKET = {"m": re.compile("[0-9]{10}"), "q": re.compile("[0-9]{8}"), "h": re.compile("[0-9]{8}")}
_POINTERS = {res: f"win_{res}" for res in RESOLUTIONS}  # see streams.sensor_projection.POINTER_FIELDS

# The old layout, spelled here only.
_OLD_CASE, _OLD_TIMELINE = f"{keys.PREFIX}:case:", ":timeline"
_OLD_CAMERA, _OLD_RECENT = f"{keys.PREFIX}:camera:", ":recent"
_OLD_WINDOW = f"{keys.PREFIX}:win:"

_CHUNK = 500  # keys per pipeline round trip
_NOTES_SHOWN = 20  # per family; the rest are counted

# KEYS: old, new; ARGV: the type the old key must have, '1' to rename ('0': only look). The old key's type,
# 'conflict' when the new name is taken, or 'ok'. RENAME keeps the key's TTL.
_MOVE = source("migrate_move_key")

# KEYS: a sensor hash; ARGV: '1' to write, then (field, value found, new value) triples. Sets a field only if
# it still holds the value found, so nothing written since the read is overwritten. How many were (or would be) set.
_REPOINT = source("migrate_repoint_windows")


@dataclass
class Tally:
    """What happened to one family's keys: counts, and a line per key skipped or in conflict."""

    migrated: int = 0
    skipped: int = 0
    conflicting: int = 0
    notes: list[str] = field(default_factory=list)

    def skip(self, note: str) -> None:
        self.skipped += 1
        self.notes.append(f"skipped {note}")

    def conflict(self, old: str, new: str) -> None:
        self.conflicting += 1
        self.notes.append(f"conflict: {old} and {new} both exist; both left as they are")


# ------------------------------------------------------------------------------ the old names, parsed


def old_timeline(key: str) -> str | None:
    """The new name of an old-layout timeline key ``co:case:{case_id}:timeline``, None for another key."""
    if not (key.startswith(_OLD_CASE) and key.endswith(_OLD_TIMELINE)) or len(key) <= len(_OLD_CASE + _OLD_TIMELINE):
        return None
    return keys.case_timeline(key[len(_OLD_CASE):-len(_OLD_TIMELINE)])


def old_camera(key: str) -> str | None:
    """The new name of an old-layout key ``co:camera:{camera_id}:recent``, None for another key."""
    if not (key.startswith(_OLD_CAMERA) and key.endswith(_OLD_RECENT)) or len(key) <= len(_OLD_CAMERA + _OLD_RECENT):
        return None
    return keys.camera_recent(key[len(_OLD_CAMERA):-len(_OLD_RECENT)])


def old_window(key: str) -> tuple[str, str, str] | None:
    """(resolution, sensor id, bucket) of a key read in the old layout ``co:win:{res}:{sensor_id}:{bucket}``."""
    if not key.startswith(_OLD_WINDOW):
        return None
    res, _, rest = key[len(_OLD_WINDOW):].partition(":")
    sensor_id, _, bucket = rest.rpartition(":")
    if res not in _BUCKET or not sensor_id or not _BUCKET[res].fullmatch(bucket):
        return None
    return res, sensor_id, bucket


def new_window(key: str) -> tuple[str, str, str] | None:
    """(resolution, sensor id, bucket) of a key read in today's layout (``keys.sensor_window``)."""
    parsed = keys.parse(key)
    if parsed is None or parsed[0] != "sensor_window":
        return None
    args = parsed[1]
    res, bucket, sensor_id = args["resolution"], args["bucket"], args["sensor_id"]
    if not sensor_id or not _BUCKET[res].fullmatch(bucket):
        return None
    return res, sensor_id, bucket


def new_pointer(res: str, sensor_id: str, pointer: str) -> str | None:
    """A window pointer ("key bucket") of sensor ``sensor_id`` rewritten to today's window name; None if it
    already names today's key or is no pointer of this sensor's old layout."""
    key, sep, bucket = pointer.partition(" ")
    today = new_window(key)
    if not sep or (today is not None and today[:2] == (res, sensor_id)):
        return None  # a key both layouts read as this sensor's is spelled the same way in both
    old_prefix = f"{_OLD_WINDOW}{res}:{sensor_id}:"
    period = key[len(old_prefix):]
    if not key.startswith(old_prefix) or not _BUCKET[res].fullmatch(period):
        return None
    return f"{keys.sensor_window(res, sensor_id, period)} {bucket}"


# ------------------------------------------------------------------------------------------ the run


def _scan(r: Redis, pattern: str) -> list[str]:
    """Every key matching ``pattern``, once each (SCAN may return a key twice), in a stable order."""
    return sorted(set(r.scan_iter(match=pattern, count=1000)))


def _chunks(items: list, size: int = _CHUNK) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _move(r: Redis, moves: list[tuple[str, str, str]], tally: Tally, apply: bool, why: dict[str, str]) -> None:
    """Rename each (old, new, type) if the old key still has that type and the new name is free."""
    script = r.register_script(_MOVE)
    for chunk in _chunks(moves):
        pipe = r.pipeline(transaction=False)
        for old, new, kind in chunk:
            script(keys=[old, new], args=[kind, "1" if apply else "0"], client=pipe)
        for (old, new, kind), outcome in zip(chunk, pipe.execute(), strict=True):
            if outcome == "ok":
                tally.migrated += 1
            elif outcome == "conflict":
                tally.conflict(old, new)
            elif outcome != "none":  # 'none': gone (expired) since the scan, nothing to move
                tally.skip(f"{old}: a {outcome}, not a {kind}{why.get(outcome, '')}; left as it is")


def migrate_timelines(r: Redis, apply: bool) -> Tally:
    tally = Tally()
    moves = [(old, new, "list") for old in _scan(r, f"{_OLD_CASE}*{_OLD_TIMELINE}") if (new := old_timeline(old))]
    _move(r, moves, tally, apply, {"hash": " (a case whose id ends in ':timeline')"})
    return tally


def migrate_cameras(r: Redis, apply: bool) -> Tally:
    tally = Tally()
    moves = [(old, new, "hash") for old in _scan(r, f"{_OLD_CAMERA}*{_OLD_RECENT}") if (new := old_camera(old))]
    _move(r, moves, tally, apply, {})
    return tally


def _known_sensors(r: Redis, sensor_ids: set[str]) -> set[str]:
    """Of ``sensor_ids``, those the read model knows: a sensor hash or a place in the sensor index."""
    ids = sorted(sensor_ids)
    pipe = r.pipeline(transaction=False)
    for sid in ids:
        pipe.exists(keys.sensor(sid))
        pipe.zscore(keys.sensors_index(), sid)
    replies = pipe.execute()
    return {sid for i, sid in enumerate(ids) if replies[2 * i] or replies[2 * i + 1] is not None}


def migrate_windows(r: Redis, apply: bool) -> Tally:
    """Old-layout window hashes to today's names; a key both layouts can read is settled by the known sensor."""
    tally = Tally()
    moves: list[tuple[str, str, str]] = []
    ambiguous: list[tuple[str, tuple[str, str, str], tuple[str, str, str]]] = []
    for key in _scan(r, f"{_OLD_WINDOW}*"):
        old, new = old_window(key), new_window(key)
        if old is None or keys.sensor_window(*old) == key:
            continue  # today's layout (or a key both layouts spell the same way)
        if new is None:
            moves.append((key, keys.sensor_window(*old), "hash"))
        else:
            ambiguous.append((key, old, new))
    if ambiguous:
        known = _known_sensors(r, {p[1] for _, old, new in ambiguous for p in (old, new)})
        for key, old, new in ambiguous:
            old_known, new_known = old[1] in known, new[1] in known
            if old_known and not new_known:
                moves.append((key, keys.sensor_window(*old), "hash"))
            elif old_known == new_known:
                tally.skip(f"{key}: old layout (sensor {old[1]!r}) or today's (sensor {new[1]!r}) cannot be told "
                           "apart; left as it is")
            # else: today's key of a known sensor
    _move(r, moves, tally, apply, {})
    return tally


def migrate_pointers(r: Redis, apply: bool) -> Tally:
    """The window pointers of each sensor hash, from old window names to today's."""
    tally = Tally()
    fields = [_POINTERS[res] for res in RESOLUTIONS]
    script = r.register_script(_REPOINT)
    for chunk in _chunks(_scan(r, keys.sensor("*"))):
        pipe = r.pipeline(transaction=False)
        for key in chunk:
            pipe.hmget(key, fields)
        rewrites: list[tuple[str, list[str]]] = []
        for key, values in zip(chunk, pipe.execute(raise_on_error=False), strict=True):
            parsed = keys.parse(key)
            if isinstance(values, Exception) or parsed is None or parsed[0] != "sensor":
                continue  # not a sensor hash
            sid, args = parsed[1]["sensor_id"], []
            for res, name, value in zip(RESOLUTIONS, fields, values, strict=True):
                new = new_pointer(res, sid, value) if value else None
                if new is not None:
                    args += [name, value, new]
            if args:
                rewrites.append((key, args))
        pipe = r.pipeline(transaction=False)
        for key, args in rewrites:
            script(keys=[key], args=["1" if apply else "0", *args], client=pipe)
        for (key, args), n in zip(rewrites, pipe.execute(), strict=True):
            tally.migrated += int(n)
            if int(n) < len(args) // 3:
                tally.skip(f"{key}: {len(args) // 3 - int(n)} pointer(s) changed while migrating; left as they are")
    return tally


FAMILIES: dict[str, Callable[[Redis, bool], Tally]] = {
    "case timelines": migrate_timelines,
    "sensor windows": migrate_windows,
    "sensor window pointers": migrate_pointers,
    "camera recent captures": migrate_cameras,
}


def migrate(r: Redis, apply: bool = True) -> dict[str, Tally]:
    """Every family migrated (``apply``) or only counted as it would be; one ``Tally`` per family."""
    return {name: run(r, apply) for name, run in FAMILIES.items()}


def live_workers(r: Redis) -> list[str]:
    """Consumer groups with a worker that beat lately: the migration must not race their writes."""
    groups = [parsed[1]["group"] for key in _scan(r, keys.heartbeats("*"))
              if (parsed := keys.parse(key)) and parsed[0] == "heartbeats"]
    return [g for g in groups if read.workers_alive(r, group=g).alive]


def report(results: dict[str, Tally], apply: bool) -> str:
    """The per-family lines the command prints."""
    verb = "migrated" if apply else "to migrate"
    lines = [] if apply else ["dry run: nothing changed"]
    for name, t in results.items():
        lines.append(f"{name}: {t.migrated} {verb}, {t.skipped} skipped, {t.conflicting} conflicting")
        lines += [f"  {note}" for note in t.notes[:_NOTES_SHOWN]]
        if len(t.notes) > _NOTES_SHOWN:
            lines.append(f"  … and {len(t.notes) - _NOTES_SHOWN} more")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="count what would be migrated, change nothing")
    p.add_argument("--force", action="store_true", help="run even though a worker beat in the last 30 s")


def run_from_args(args: argparse.Namespace) -> int:
    """Exit 0 when done, 1 when a key is in conflict (both names exist), 2 when workers still run."""
    r = read.connect()
    workers = live_workers(r)
    if workers and not args.dry_run and not args.force:
        print(f"cityops migrate-keys: workers of {', '.join(workers)} are running; stop every worker first "
              "(or pass --force)", file=sys.stderr)
        return 2
    results = migrate(r, apply=not args.dry_run)
    print(report(results, apply=not args.dry_run))
    return 1 if any(t.conflicting for t in results.values()) else 0
