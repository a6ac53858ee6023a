"""Kafka security from the settings (``KAFKA_SECURITY_PROTOCOL`` …): keyword arguments for aiokafka clients and
credentials for the Faust worker, checked at start-up rather than failing later as an obscure handshake error."""

from __future__ import annotations

import ssl
from typing import Any

from cityops.settings import Settings

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def ssl_context_for(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of ``SSL`` and ``SASL_SSL``; ``None`` for the plaintext protocols."""
    protocol = settings.kafka_security_protocol
    if protocol not in ("SSL", "SASL_SSL"):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.kafka_ssl_cafile or None)
    if settings.kafka_ssl_certfile:
        ctx.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile or None)
    if not settings.kafka_ssl_check_hostname:
        ctx.check_hostname = False
    return ctx


def _check_security(settings: Settings) -> None:
    protocol, mechanism = settings.kafka_security_protocol, settings.kafka_sasl_mechanism
    if protocol not in SECURITY_PROTOCOLS:
        raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol!r}: expected one of {', '.join(SECURITY_PROTOCOLS)}")
    if protocol.startswith("SASL_"):
        if mechanism not in SASL_MECHANISMS:
            raise ValueError(f"KAFKA_SASL_MECHANISM={mechanism!r}: expected one of {', '.join(SASL_MECHANISMS)}")
        if not settings.kafka_sasl_username or not settings.kafka_sasl_password:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
    if settings.kafka_ssl_keyfile and not settings.kafka_ssl_certfile:
        raise ValueError("KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE")


def kafka_security_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for every aiokafka client (producer, consumer, admin) from the settings.

    Empty for ``PLAINTEXT`` so the embedded stack passes exactly what it passed before. Raises
    ``ValueError`` on an unknown protocol or mechanism, or SASL without credentials, at start-up
    rather than as an obscure handshake failure later.
    """
    _check_security(settings)
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    ctx = ssl_context_for(settings)
    if ctx is not None:
        kwargs["ssl_context"] = ctx
    if protocol.startswith("SASL_"):
        kwargs.update(sasl_mechanism=settings.kafka_sasl_mechanism, sasl_plain_username=settings.kafka_sasl_username,
                      sasl_plain_password=settings.kafka_sasl_password)
    return kwargs


def faust_credentials(settings: Settings) -> Any:
    """``broker_credentials`` for ``faust.App``: ``None`` (plaintext), ``SSLCredentials`` or ``SASLCredentials``.

    Faust derives the protocol from the credentials' class: SASL with an SSL context is ``SASL_SSL``.
    """
    _check_security(settings)
    import faust

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    ctx = ssl_context_for(settings)
    if protocol == "SSL":
        return faust.SSLCredentials(ctx)
    return faust.SASLCredentials(username=settings.kafka_sasl_username, password=settings.kafka_sasl_password,
                                 ssl_context=ctx, mechanism=settings.kafka_sasl_mechanism)
