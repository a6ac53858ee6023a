"""Sensor gateways over MQTT: topic layout, the bridge's credential and the broker address, shared by the
embedded broker (:mod:`doors.mqtt.broker`) and the bridge (:mod:`doors.mqtt.bridge`).

A gateway publishes envelopes (docs/events.md) to ``cityops/gw/{gateway_id}/readings`` at QoS 1, with its
gateway id as MQTT user name and a token from ``python -m cityops gateways add-key`` as password. The
broker's ACL lets a gateway publish only under its own id; the bridge checks the envelope names the same.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from cityops.settings import Settings

TOPIC_ROOT = "cityops/gw"
READINGS_FILTER = f"{TOPIC_ROOT}/+/readings"  # what the bridge subscribes to
_NOT_IN_TOPIC = frozenset("/+#\0")  # an id with these cannot be one topic level


def readings_topic(gateway_id: str) -> str:
    return f"{TOPIC_ROOT}/{gateway_id}/readings"


def gateway_of_topic(topic: str) -> str | None:
    """The gateway id of ``cityops/gw/{id}/readings``; None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != TOPIC_ROOT or parts[3] != "readings" or not parts[2]:
        return None
    return parts[2]


def may_publish(gateway_id: str, topic: str) -> bool:
    """A gateway may publish only under its own id: ``cityops/gw/{its id}/…``."""
    if not gateway_id or _NOT_IN_TOPIC & set(gateway_id):
        return False
    return topic.startswith(f"{TOPIC_ROOT}/{gateway_id}/")


def broker_address(settings: Settings) -> tuple[str, int, bool]:
    """(host, port, tls) of ``CITYOPS_MQTT_URL`` (``mqtt://`` 1883, ``mqtts://`` 8883)."""
    parts = urlsplit(settings.mqtt_url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"CITYOPS_MQTT_URL={settings.mqtt_url!r}: scheme must be mqtt:// or mqtts://")
    tls = parts.scheme in ("mqtts", "ssl")
    return parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls


def bridge_password(settings: Settings) -> str:
    """``CITYOPS_MQTT_BRIDGE_PASSWORD``, else the one in ``<var>/mqtt-bridge-secret`` (made once, 0600), which
    the embedded broker and the bridge on one host share without anyone typing it."""
    if settings.mqtt_bridge_password:
        return settings.mqtt_bridge_password
    path: Path = settings.mqtt_bridge_secret_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mqtt-bridge-secret.")  # created 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)  # another process made it first: theirs stands
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermissionError(f"{path} may be read by others (mode {stat.filemode(mode)}): chmod 600 {path}")
    return path.read_text(encoding="utf-8").strip()
