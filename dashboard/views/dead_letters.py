"""What the 死信 page shows, as plain data: refusals per hour by topic, stage or reason, and the latest
dead letters with their raw payload turned into safe text (pure functions; the page only renders them).

Why text only: a dead letter is by definition input we refused, from anyone; its payload is shown with
control and non-UTF-8 bytes escaped and is never handed to markdown or HTML.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta, tzinfo

from cityops import keys

GROUPS = ("topic", "stage", "reason")
PAYLOAD_CHARS = 2_000


def hour_buckets(now: datetime, hours: int) -> list[str]:
    """The local hour buckets of the last ``hours`` hours, oldest first, the current hour last."""
    top = now.replace(minute=0, second=0, microsecond=0)
    return [keys.hour_bucket(top - timedelta(hours=i)) for i in range(hours - 1, -1, -1)]


def hour_label(bucket: str) -> str:
    return f"{bucket[4:6]}-{bucket[6:8]} {bucket[8:10]}:00"


def series(counts: dict[str, dict[tuple[str, str, str], int]], group: str) -> dict[str, dict[str, int]]:
    """Per hour label, refusals per value of ``group`` (every hour present, empty ones as {})."""
    index = GROUPS.index(group)
    out: dict[str, dict[str, int]] = {}
    for hour, per_key in counts.items():
        row: dict[str, int] = {}
        for key, n in per_key.items():
            row[key[index] or "?"] = row.get(key[index] or "?", 0) + n
        out[hour_label(hour)] = row
    return out


def escape_text(data: bytes) -> str:
    """Bytes as readable text: valid UTF-8 stays, invalid bytes become ``\\xNN``, control characters other
    than newline and tab become ``\\xNN`` / ``\\uNNNN`` escapes (so a terminal sequence or NUL shows as such)."""
    text = data.decode("utf-8", errors="backslashreplace")
    return "".join(c if c in "\n\t" or (c.isprintable() and c not in "\u2028\u2029") else
                   (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") for c in text)


def payload_text(letter: dict, limit: int = PAYLOAD_CHARS) -> str:
    """The dead letter's raw payload as text: base64 payloads decoded then escaped."""
    payload = letter.get("payload")
    if not isinstance(payload, str):
        payload = "" if payload is None else str(payload)
    raw = payload.encode("utf-8", errors="surrogatepass")
    if letter.get("encoding") == "base64":
        try:
            raw = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            pass  # shown as stored
    text = escape_text(raw)
    cut = len(text) > limit or bool(letter.get("truncated"))
    return text[:limit] + (" …" if cut else "")


def letter_rows(letters: list[dict], tz: tzinfo, preview: int = 120) -> list[dict[str, str]]:
    """Table rows of the latest dead letters (all values strings, so the table renders them as text)."""
    rows = []
    for letter in letters:
        at = str(letter.get("at", ""))
        try:
            at = datetime.fromisoformat(at).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            at = escape_text(at.encode())[:32]
        rows.append({"at": at, "topic": escape_text(str(letter.get("topic", "")).encode())[:80],
                     "stage": escape_text(str(letter.get("stage", "")).encode())[:20],
                     "reason": escape_text(str(letter.get("reason", "")).encode())[:300],
                     "event_id": escape_text(str(letter.get("event_id") or "").encode())[:80],
                     "payload": payload_text(letter, preview).replace("\n", "⏎")})
    return rows
