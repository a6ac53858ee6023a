"""``python -m cityops mqtt-bridge``: gateway envelopes from MQTT to the sensors topic, QoS 1 end to end.

The bridge subscribes to ``cityops/gw/+/readings`` with a fixed client id and a persistent session
(``clean_session=False``) and acknowledges (PUBACK) a message only once Kafka has acknowledged what it
made of it: the envelope on ``settings.topics.sensors`` (key = gateway id), or its dead letter. So a bridge
killed at any moment loses nothing: the broker re-sends every unacknowledged message to the session when
the bridge is back, and the worker applies an envelope id at most once, so the re-sent ones are harmless.

Checks, the same as the worker's (:func:`check_message`): the topic's gateway id must be the envelope's
``gateway_id`` (the broker's ACL already binds the topic to the MQTT user name: only gateway X may publish
under ``cityops/gw/X/``), and the envelope must pass the contract (:mod:`cityops.fast_envelope`, else
:func:`cityops.schemas.decode_sensor_envelope`); its bad readings are the worker's to refuse one by one.
An envelope refused whole is dead-lettered with the gateway (key) and the reason. No message can stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cityops import observability
from cityops.fast_envelope import decode_columns
from cityops.schemas import MAX_MESSAGE_BYTES, ContractError, dead_letter, decode_sensor_envelope, encode
from cityops.settings import Settings, get_settings
from doors.mqtt import READINGS_FILTER, bridge_password, broker_address, gateway_of_topic

log = logging.getLogger("cityops.mqtt.bridge")
MQTT_TOPIC_LABEL = f"mqtt:{READINGS_FILTER}"  # the topic label of the bridge's consumed and refused counts


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one MQTT message: forward it (``reason`` None) or dead-letter it with why."""

    gateway_id: str  # from the topic; '' when the topic names none
    reason: str | None = None
    stage: str = "validate"


def check_message(topic: str, payload: bytes) -> Verdict:
    """The bridge's verdict on one message; never raises."""
    try:
        gateway = gateway_of_topic(topic)
        if gateway is None:
            return Verdict("", f"topic {topic!r} is not cityops/gw/{{gateway_id}}/readings", "validate")
        if len(payload) > MAX_MESSAGE_BYTES:
            return Verdict(gateway, f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}", "decode")
        fast = decode_columns(payload)
        if fast is not None:
            named = fast[0].gateway_id
        else:
            try:
                envelope, _good, _bad = decode_sensor_envelope(payload)
            except ContractError as err:
                return Verdict(gateway, err.reason, "validate")
            named = envelope.gateway_id
        if named != gateway:
            return Verdict(gateway, f"gateway_id: the envelope names {named!r} but was published under {gateway!r}",
                           "auth")
        return Verdict(gateway)
    except Exception as err:  # noqa: BLE001 - one message must never stop the bridge
        return Verdict(gateway_of_topic(topic) or "", f"unreadable message: {type(err).__name__}: {err}"[:500],
                       "decode")


def outgoing(settings: Settings, topic: str, payload: bytes, verdict: Verdict) -> tuple[str, str | None, bytes]:
    """(Kafka topic, key, value) for one message: the envelope as it came, or its dead letter."""
    if verdict.reason is None:
        return settings.topics.sensors, verdict.gateway_id, payload
    reason = f"gateway {verdict.gateway_id or '?'}: {verdict.reason}"
    record = dead_letter(f"mqtt:{topic}", payload, reason, verdict.stage, key=verdict.gateway_id or None)
    return settings.topics.deadletter, verdict.gateway_id or None, encode(record)


class Bridge:
    """paho's network thread hands messages to the event loop; the loop sends them through the
    :class:`~cityops.bus.publisher.Publisher` and acknowledges each one, in arrival order, after Kafka's ack.

    Acks belong to one connection: after a reconnect the broker re-sends what was not acknowledged (with
    the same packet ids, which it may also give to new messages), so acks still owed for the old
    connection are dropped rather than sent to the new one."""

    def __init__(self, settings: Settings, publisher: Any) -> None:  # noqa: ANN401 - a Publisher
        self.settings = settings
        self.publisher = publisher
        self.loop = asyncio.get_running_loop()
        self.forwarded = 0
        self.refused = 0
        self.connected = asyncio.Event()
        self._inbox: list[tuple[int, int, int, str, bytes]] = []  # (connection, mid, qos, topic, payload)
        self._inbox_lock = threading.Lock()
        self._wake = asyncio.Event()
        self._pending: deque[tuple[int, int, int, asyncio.Future[None]]] = deque()
        self._connection = 0
        self.client = self._client()

    def _client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=s.mqtt_client_id, clean_session=False,
                             manual_ack=True)
        client.username_pw_set(s.mqtt_bridge_user, bridge_password(s))
        _host, _port, tls = broker_address(s)
        if tls:
            client.tls_set_context(ssl.create_default_context())
        client.reconnect_delay_set(0.2, 5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # -- paho's thread

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object, reason: Any,  # noqa: ANN401
                    _props: object = None) -> None:
        if getattr(reason, "is_failure", False):
            log.error("mqtt broker refused the bridge: %s", reason)
            return
        self._connection += 1
        client.subscribe(READINGS_FILTER, qos=1)
        self.loop.call_soon_threadsafe(self.connected.set)
        log.info("bridge connected (connection %d), subscribed to %s", self._connection, READINGS_FILTER)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object, reason: Any,  # noqa: ANN401
                       _props: object = None) -> None:
        self._connection += 1  # what is still owed to the old connection is never acked (see the class)
        self.loop.call_soon_threadsafe(self.connected.clear)
        log.warning("bridge disconnected from the mqtt broker: %s", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._inbox_lock:
            self._inbox.append((self._connection, msg.mid, msg.qos, msg.topic, bytes(msg.payload)))
            first = len(self._inbox) == 1
        if first:
            self.loop.call_soon_threadsafe(self._wake.set)

    # -- the event loop

    async def run(self, stop: asyncio.Event) -> None:
        host, port, _tls = broker_address(self.settings)
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                waker = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait([waker, stopper], return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                self._wake.clear()
                with self._inbox_lock:
                    batch, self._inbox = self._inbox, []
                for connection, mid, qos, topic, payload in batch:
                    await self._forward(connection, mid, qos, topic, payload)
            await self.publisher.flush()  # what was sent is acked before the bridge leaves
            self._ack_ready()
        finally:
            stopper.cancel()
            self.client.disconnect()
            self.client.loop_stop()

    async def _forward(self, connection: int, mid: int, qos: int, topic: str, payload: bytes) -> None:
        verdict = check_message(topic, payload)
        kafka_topic, key, value = outgoing(self.settings, topic, payload, verdict)
        done: asyncio.Future[None] = self.loop.create_future()
        try:
            await self.publisher.send(kafka_topic, key, value, done=done)
        except Exception as err:  # noqa: BLE001 - e.g. a dead letter over the size limit: never ack, never stop
            log.error("message %d on %s could not be sent to Kafka (%s); left unacknowledged", mid, topic, err)
            return
        observability.metrics().events_consumed.labels(MQTT_TOPIC_LABEL).inc()
        if verdict.reason is None:
            self.forwarded += 1
        else:
            self.refused += 1
            observability.count_refused(MQTT_TOPIC_LABEL, verdict.stage)
            log.info("refused %s: %s", topic, verdict.reason)
        self._pending.append((connection, mid, qos, done))
        done.add_done_callback(self._on_kafka_ack)

    def _on_kafka_ack(self, _done: asyncio.Future[None]) -> None:
        self._ack_ready()

    def _ack_ready(self) -> None:
        """PUBACK, in arrival order, every message whose Kafka ack has come."""
        while self._pending and self._pending[0][3].done():
            connection, mid, qos, done = self._pending.popleft()
            if done.cancelled() or done.exception() is not None or connection != self._connection:
                continue  # not in Kafka, or owed to a connection that is gone: the broker sends it again
            self.client.ack(mid, qos)


async def run_bridge(settings: Settings, stop: asyncio.Event) -> None:
    from cityops.bus.publisher import Publisher

    # a wide Kafka window: the broker lets up to its in-flight limit of messages wait for our acks, and each
    # window is one produce request, so 2,000 keeps Kafka's round trips off the bridge's rate
    async with Publisher(settings, pending_limit=2000) as publisher:
        bridge = Bridge(settings, publisher)
        health = observability.Health("mqtt-bridge")
        health.add("mqtt", lambda: (bridge.connected.is_set(), "connected" if bridge.connected.is_set()
                                    else "not connected to the MQTT broker"))
        health.add("kafka", lambda: (not publisher.degraded, "readings wait in the producer's buffer"
                                     if publisher.degraded else "connected"))
        server = observability.serve("mqtt-bridge", health)  # CITYOPS_METRICS_PORT_MQTT_BRIDGE; None when off
        try:
            await bridge.run(stop)
        finally:
            if server is not None:
                server.close()
        log.info("bridge stopped: %d forwarded, %d refused", bridge.forwarded, bridge.refused)


def add_arguments(p: argparse.ArgumentParser) -> None:
    del p  # configured by settings: CITYOPS_MQTT_URL, CITYOPS_MQTT_BRIDGE_USER/PASSWORD, CITYOPS_MQTT_CLIENT_ID


def run_from_args(args: argparse.Namespace) -> int:
    del args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_settings()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_bridge(settings, stop)

    asyncio.run(main())
    return 0
