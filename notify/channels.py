"""Each channel's message format and how it is sent: WeCom, DingTalk and Feishu group robots, a JSON webhook, email.

Why written here and not with ``apprise``: apprise's WeCom, DingTalk and Feishu plugins post to the vendors' fixed
hosts (``qyapi.weixin.qq.com``, ``oapi.dingtalk.com``, …), so they can neither be pointed at a bureau's proxy or
private deployment nor tested against a local receiver; they send text only (no WeCom image message for the
briefing's PNG); and they answer True/False, while the outbox must tell "retry" (receiver down, rate limited) from
"give up" (a wrong key) and record the vendor's error. Each format is a few lines of JSON over ``httpx``.

Formats: WeCom ``markdown`` (+ ``image`` base64/md5 for a PNG); DingTalk ``markdown`` with ``timestamp`` and
``sign`` = base64(HMAC-SHA256(secret, "{timestamp}\\n{secret}")) in the query; Feishu ``post`` rich text, with
``timestamp`` and ``sign`` = base64(HMAC-SHA256("{timestamp}\\n{secret}", "")) in the body when signed; webhook: the
message as JSON with an ``Idempotency-Key`` header; email: text with the PNG attached, over SMTP (``smtp://`` with
STARTTLS when offered, ``smtps://``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import smtplib
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from cityops.notify_routes import Channel
from notify.messages import Message

# Vendor error codes that mean "too many messages, try later" (WeCom 45009, DingTalk 130101, Feishu 9499/11232).
RATE_LIMITED = {45009, 130101, 9499, 11232}
TIMEOUT = httpx.Timeout(10.0, connect=3.0)


@dataclass(frozen=True)
class Delivery:
    """How one attempt ended: sent, or not with the reason; ``retry`` when sending again cannot double it (the
    request certainly did not arrive, or the receiver refused it for now)."""

    ok: bool
    retry: bool = False
    error: str = ""


class ChannelNotConfigured(RuntimeError):
    pass


def _env(name: str, channel: Channel) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ChannelNotConfigured(f"channel {channel.id}: environment variable {name} is not set")
    return value


# ------------------------------------------------------------------------------------------- formats


def markdown(message: Message) -> str:
    return "\n".join([f"### {message.title}", *(f"> {line}" for line in message.lines)])


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's robot signature: base64(HMAC-SHA256(key="{timestamp}\\n{secret}", msg=""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def wecom_bodies(message: Message) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = [{"msgtype": "markdown", "markdown": {"content": markdown(message)}}]
    if message.image_png is not None:
        bodies.append({"msgtype": "image", "image": {"base64": base64.b64encode(message.image_png).decode(),
                                                     "md5": hashlib.md5(message.image_png).hexdigest()}})  # noqa: S324
    return bodies


def dingtalk_url(url: str, secret: str, timestamp_ms: int) -> str:
    sign = urllib.parse.quote_plus(dingtalk_sign(secret, timestamp_ms))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp_ms}&sign={sign}"


def dingtalk_body(message: Message) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": message.title, "text": markdown(message)}}


def feishu_body(message: Message, secret: str = "", timestamp_s: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"msg_type": "post", "content": {"post": {"zh_cn": {
        "title": message.title, "content": [[{"tag": "text", "text": line}] for line in message.lines]}}}}
    if secret:
        ts = int(time.time()) if timestamp_s is None else timestamp_s
        body = {"timestamp": str(ts), "sign": feishu_sign(secret, ts), **body}
    return body


def webhook_body(message_id: str, message: Message) -> dict[str, Any]:
    return {"id": message_id, **message.to_stored()}


def email_message(message: Message, channel: Channel, message_id: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail["Message-ID"] = f"<{hashlib.sha256(message_id.encode()).hexdigest()[:32]}@cityops>"
    mail.set_content(message.text)
    if message.image_png is not None:
        mail.add_attachment(message.image_png, maintype="image", subtype="png",
                            filename=f"{message.data.get('day') or 'image'}.png")
    return mail


# ------------------------------------------------------------------------------------------- sending


def _vendor_answer(response: httpx.Response, field: str) -> Delivery:
    """A robot's answer: HTTP status first, then its ``errcode``/``code`` (0 = sent)."""
    if response.status_code == 429 or response.status_code >= 500:
        return Delivery(False, True, f"HTTP {response.status_code}")
    if response.status_code >= 400:
        return Delivery(False, False, f"HTTP {response.status_code}: {response.text[:200]}")
    if not field:
        return Delivery(True)
    try:
        answer = response.json()
        code = int(answer.get(field, answer.get("StatusCode", 0)) or 0)
    except (ValueError, AttributeError, TypeError):
        return Delivery(False, False, f"answer is no JSON object: {response.text[:200]!r}")
    if code == 0:
        return Delivery(True)
    return Delivery(False, code in RATE_LIMITED, f"{field} {code}: {answer.get('errmsg') or answer.get('msg', '')}")


def _post(client: httpx.Client, url: str, body: dict[str, Any], field: str,
          headers: dict[str, str] | None = None) -> Delivery:
    try:
        response = client.post(url, json=body, headers=headers, timeout=TIMEOUT)
    except (httpx.ConnectError, httpx.ConnectTimeout) as err:  # never reached the receiver: safe to send again
        return Delivery(False, True, f"{type(err).__name__}: {err}")
    except httpx.HTTPError as err:  # it may have arrived: sending again could double it
        return Delivery(False, False, f"outcome unknown, not resent ({type(err).__name__}: {err})")
    return _vendor_answer(response, field)


def send(client: httpx.Client, channel: Channel, message_id: str, message: Message) -> Delivery:
    """One attempt to deliver ``message`` on ``channel``."""
    try:
        url = _env(channel.url_env, channel)
        secret = _env(channel.secret_env, channel) if channel.secret_env else ""
    except ChannelNotConfigured as err:
        return Delivery(False, False, str(err))
    if channel.type == "wecom":
        for body in wecom_bodies(message):
            outcome = _post(client, url, body, "errcode")
            if not outcome.ok:
                return outcome
        return Delivery(True)
    if channel.type == "dingtalk":
        return _post(client, dingtalk_url(url, secret, int(time.time() * 1000)), dingtalk_body(message), "errcode")
    if channel.type == "feishu":
        return _post(client, url, feishu_body(message, secret), "code")
    if channel.type == "webhook":
        return _post(client, url, webhook_body(message_id, message), "", {"Idempotency-Key": message_id})
    if channel.type == "email":
        return send_email(url, email_message(message, channel, message_id))
    return Delivery(False, False, f"channel {channel.id}: unknown type {channel.type}")


def send_email(smtp_url: str, mail: EmailMessage) -> Delivery:
    """``smtp://[user:password@]host[:port]`` (STARTTLS when the server offers it) or ``smtps://``."""
    parts = urllib.parse.urlsplit(smtp_url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        return Delivery(False, False, f"SMTP URL must be smtp://host[:port] or smtps://…, not {parts.scheme}://…")
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    try:
        connect = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        server = connect(parts.hostname, port, timeout=10)
    except OSError as err:  # refused or unreachable: nothing was sent
        return Delivery(False, True, f"SMTP connect: {err}")
    try:
        with server:
            if parts.scheme == "smtp" and server.has_extn("starttls"):
                server.starttls(context=ssl.create_default_context())
            if parts.username:
                server.login(urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
            refused = server.send_message(mail)
    except smtplib.SMTPResponseException as err:
        return Delivery(False, 400 <= err.smtp_code < 500, f"SMTP {err.smtp_code}: {err.smtp_error!r}")
    except (smtplib.SMTPException, OSError) as err:
        return Delivery(False, False, f"outcome unknown, not resent (SMTP: {err})")
    if refused:
        return Delivery(False, False, f"SMTP refused recipients: {sorted(refused)}")
    return Delivery(True)
