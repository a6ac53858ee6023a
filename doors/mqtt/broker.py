"""``python -m cityops mqtt-broker``: the embedded MQTT broker (amqtt) for sensor gateways, on loopback by default.

Who may connect: a gateway with its id as user name and one of its tokens (:mod:`cityops.gateway_credentials`,
re-read when the file changes), and the bridge with its own credential (settings). What they may do: a
gateway publishes only under ``cityops/gw/{its id}/…`` and receives nothing; the bridge subscribes to the
readings and publishes nothing. A refused publish is dead-lettered (stage ``auth``, key = the gateway) on
``settings.topics.deadletter``, as the bridge's refusals are.

Why a broker subclass: amqtt 0.12 acknowledges (PUBACK) a gateway's QoS 1 message when it enters the session's
delivery queue and throws that queue away when the gateway disconnects, so a gateway that published faster than
the broker broadcasts and then left lost acknowledged messages; :meth:`CityOpsBroker._deliver_backlog` broadcasts
the rest first.

Why a handler subclass: amqtt 0.12 drops a QoS 1 message it sent to a subscriber when the PUBACK has not
come within 5 s or the connection drops, so a bridge killed (or waiting for Kafka) between receiving and
acknowledging would lose it. :class:`_KeepUnackedHandler` keeps such a message in the session's in-flight
set until its PUBACK arrives; amqtt re-sends the in-flight set (DUP) when the bridge's persistent session
reconnects. In production Mosquitto or EMQX do this themselves (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import signal
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import OUTGOING, Session

from cityops.gateway_credentials import ReloadingGatewayCredentials
from cityops.schemas import dead_letter, encode
from cityops.settings import Settings, get_settings
from doors.mqtt import READINGS_FILTER, bridge_password, broker_address, may_publish

log = logging.getLogger("cityops.mqtt.broker")


class _KeepUnackedHandler(BrokerProtocolHandler):
    """A QoS 1 message to a subscriber leaves the session's in-flight set only when its PUBACK comes."""

    async def _handle_qos1_message_flow(self, app_message: Any) -> None:  # noqa: ANN401 - amqtt's message types
        if app_message.direction != OUTGOING or self.session is None:
            await super()._handle_qos1_message_flow(app_message)
            return
        packet_id = app_message.packet_id
        self.session.inflight_out[packet_id] = app_message
        retry = app_message.publish_packet is not None
        packet = app_message.build_publish_packet(dup=True) if retry else app_message.build_publish_packet()
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._puback_waiters[packet_id] = waiter
        try:
            await self._send_packet(packet)
            app_message.publish_packet = packet
            app_message.puback_packet = await waiter  # however long Kafka takes: no 5 s give-up
            self.session.inflight_out.pop(packet_id, None)
        finally:  # cancelled (connection gone, amqtt's retry timeout): stays in flight for the next connection
            if self._puback_waiters.get(packet_id) is waiter:
                self._puback_waiters.pop(packet_id, None)

    async def handle_puback(self, puback: Any) -> None:  # noqa: ANN401
        packet_id = puback.variable_header.packet_id if puback.variable_header else None
        if packet_id is not None and packet_id not in self._puback_waiters and self.session is not None:
            self.session.inflight_out.pop(packet_id, None)  # a late ack of a message kept in flight
            return
        await super().handle_puback(puback)


class CityOpsBroker(Broker):
    """amqtt's broker with :class:`_KeepUnackedHandler`, and the bridge's session never deleted by a
    client that merely claims its client id with a clean session."""

    bridge_client_id = "cityops-bridge"

    async def _init_handler(self, session: Session, reader: Any, writer: Any) -> BrokerProtocolHandler:  # noqa: ANN401
        handler = _KeepUnackedHandler(self.plugins_manager, loop=self._loop)
        handler.attach(session, reader, writer)
        return handler

    async def _handle_client_session(self, reader: Any, writer: Any, client_session: Session,  # noqa: ANN401
                                     handler: BrokerProtocolHandler, *args: Any) -> None:  # noqa: ANN401
        # amqtt makes a connection's handler in BrokerProtocolHandler.init_from_connect, which names its own
        # class; the subclass adds no state, only the two overrides, so the handler takes them on here
        if type(handler) is BrokerProtocolHandler:
            handler.__class__ = _KeepUnackedHandler
        await super()._handle_client_session(reader, writer, client_session, handler, *args)

    async def _client_message_loop(self, client_session: Session, handler: BrokerProtocolHandler) -> None:
        try:
            await super()._client_message_loop(client_session, handler)
        finally:
            await self._deliver_backlog(client_session, handler)

    async def _deliver_backlog(self, client_session: Session, handler: BrokerProtocolHandler) -> None:
        """Broadcast what a publisher sent before it went away. amqtt PUBACKs an incoming QoS 1 message when it
        enters the session's delivery queue, its message loop stops reading that queue when the connection ends,
        and its session monitor then empties it; a gateway that published faster than the loop broadcasts and
        then disconnected lost the acknowledged rest (issue 14: 2 concurrent gateways, 15,000 of 20,000)."""
        queue = client_session.delivered_message_queue
        backlog = [queue.get_nowait() for _ in range(queue.qsize())]  # at once: the monitor may clear the queue
        loop = asyncio.get_running_loop()
        for app_message in backlog:
            message: asyncio.Future[Any] = loop.create_future()
            message.set_result(app_message)
            await self._handle_message_delivery(client_session, handler, message)
        if backlog:
            log.info("%s: %d acknowledged messages broadcast after it disconnected", client_session.client_id,
                     len(backlog))

    def create_offline_session(self, client_id: str) -> tuple[BrokerProtocolHandler, Session]:
        session = Session()
        session.client_id = client_id
        handler = _KeepUnackedHandler(self.plugins_manager, session)
        session.transitions.disconnect()
        return handler, session

    async def _delete_session(self, client_id: str) -> None:
        if client_id == self.bridge_client_id:
            return
        await super()._delete_session(client_id)


class RefusalSink:
    """Dead letters of the broker's refusals, sent to Kafka in the background; the broker never waits for Kafka.
    Connect refusals are sent at most once a minute per user name (a client retrying a wrong token is one
    problem, not thousands), from a bounded table."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.publisher: Any = None
        self._last_connect_refusal: OrderedDict[str, float] = OrderedDict()

    def refuse(self, gateway: str, topic: str, payload: bytes | str, reason: str) -> None:
        log.warning("refused: gateway %r, topic %r: %s", gateway, topic, reason)
        if self.publisher is None:
            return
        record = dead_letter(f"mqtt:{topic}", payload, reason, "auth", key=gateway or None)
        try:
            asyncio.get_running_loop().create_task(
                self.publisher.send(self.settings.topics.deadletter, gateway or None, encode(record), wait=False))
        except RuntimeError:
            log.error("no event loop: dead letter of %r not sent", gateway)

    def refuse_connect(self, username: str, reason: str) -> None:
        now = time.monotonic()
        last = self._last_connect_refusal.get(username)
        if last is not None and now - last < 60:
            return
        self._last_connect_refusal[username] = now
        self._last_connect_refusal.move_to_end(username)
        while len(self._last_connect_refusal) > 10_000:
            self._last_connect_refusal.popitem(last=False)
        self.refuse(username, "(connect)", b"", reason)


_SINK: RefusalSink | None = None  # set by serve(); the plugins are made by amqtt and cannot be handed objects


class GatewayAuthPlugin(BaseAuthPlugin):
    """User name = gateway id, password = one of its tokens; or the bridge's user and password."""

    @dataclass
    class Config:
        city_dir: str = ""
        bridge_user: str = "cityops-bridge"
        bridge_password: str = ""
        bridge_client_id: str = "cityops-bridge"

    def __init__(self, context: Any) -> None:  # noqa: ANN401
        super().__init__(context)
        cfg = self.context.config
        self._credentials = ReloadingGatewayCredentials(cfg.city_dir)

    async def authenticate(self, *, session: Session) -> bool:
        cfg = self.context.config
        user, password = session.username, session.password
        if isinstance(password, bytes):
            password = password.decode("utf-8", "replace")
        if not user or not isinstance(password, str):
            reason = "connect refused: no user name or password"
            ok = False
        elif user == cfg.bridge_user:
            ok = bool(cfg.bridge_password) and hmac.compare_digest(password.encode(), cfg.bridge_password.encode())
            reason = "connect refused: wrong bridge password"
        else:
            ok = self._credentials.verify(user, password) and session.client_id != cfg.bridge_client_id
            reason = f"connect refused: gateway {user!r} has no such key (or uses the bridge's client id)"
        if not ok and _SINK is not None:
            _SINK.refuse_connect(str(user or ""), reason)
        return ok


class GatewayTopicPlugin(BaseTopicPlugin):
    """A gateway publishes only under its own id and subscribes to nothing; the bridge only subscribes."""

    @dataclass
    class Config:
        bridge_user: str = "cityops-bridge"

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool:
        user = (session.username if session else None) or ""
        bridge = user == self.context.config.bridge_user
        if action == Action.PUBLISH:
            ok = not bridge and topic is not None and may_publish(user, topic)
            if not ok and _SINK is not None:
                payload = b""
                _SINK.refuse(user, topic or "", payload,
                             f"gateway {user!r} may not publish to {topic!r}: only under cityops/gw/{user}/")
            return ok
        if action == Action.SUBSCRIBE:
            return bridge and topic == READINGS_FILTER
        return bridge  # RECEIVE


def broker_config(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """amqtt's configuration: one TCP listener, the two plugins above, nothing anonymous."""
    bridge = {"bridge_user": settings.mqtt_bridge_user}
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 10_000}},
        "timeout_disconnect_delay": 2,
        "plugins": {
            "doors.mqtt.broker.GatewayAuthPlugin": {
                **bridge, "city_dir": str(settings.city_dir), "bridge_password": bridge_password(settings),
                "bridge_client_id": settings.mqtt_client_id},
            "doors.mqtt.broker.GatewayTopicPlugin": bridge,
        },
    }


async def serve(settings: Settings, host: str, port: int, stop: asyncio.Event) -> None:
    """Run the broker until ``stop`` is set; refusals go to Kafka when it answers (buffered meanwhile)."""
    from cityops.bus.publisher import Publisher

    global _SINK
    CityOpsBroker.bridge_client_id = settings.mqtt_client_id
    sink = RefusalSink(settings)
    _SINK = sink
    async with Publisher(settings, connect_first=False, buffer_limit=10_000) as publisher:
        sink.publisher = publisher
        broker = CityOpsBroker(broker_config(settings, host, port))
        await broker.start()
        log.info("mqtt broker listening on %s:%d", host, port)
        try:
            await stop.wait()
        finally:
            await broker.shutdown()
            sink.publisher = None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="bind address (default: CITYOPS_MQTT_URL's host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: CITYOPS_MQTT_URL's port, 1883)")


def run_from_args(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)  # amqtt's session state machine logs every step
    settings = get_settings()
    host, port, _tls = broker_address(settings)
    host, port = args.host or host, args.port or port

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, host, port, stop)

    asyncio.run(main())
    return 0

