"""The producer's pure parts: the bounded send buffer, its ordering rules, backoff, and SASL/TLS settings.

No SASL or TLS broker is available to the tests (the embedded tansu speaks plaintext only), so the
security settings are checked as the keyword arguments they turn into, for aiokafka and for Faust.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest

from cityops.bus import (
    Backoff,
    BufferFull,
    SendBuffer,
    faust_credentials,
    kafka_security_kwargs,
    reordered_keys,
)
from cityops.settings import Settings

# --------------------------------------------------------------------------------------------- buffer


def _fill(buf: SendBuffer, items: list[tuple[str, bytes | None]]) -> None:
    for i, (topic, key) in enumerate(items):
        buf.append(topic, key, f"v{i}".encode())


def test_buffer_is_bounded_and_refuses_rather_than_drops():
    buf = SendBuffer(3)
    _fill(buf, [("t", b"a"), ("t", b"b"), ("t", b"c")])
    assert buf.full
    with pytest.raises(BufferFull):
        buf.append("t", b"d", b"x")
    assert [e.value for e in buf.window(10).entries] == [b"v0", b"v1", b"v2"]


def test_failed_messages_keep_their_place_at_the_head():
    buf = SendBuffer(100)
    _fill(buf, [("t", b"a"), ("t", b"b"), ("t", b"c"), ("t", b"d")])
    w = buf.window(3)
    settled = buf.settle(w, [True, False, True])
    assert [e.value for e in settled.delivered] == [b"v0", b"v2"]
    assert [e.value for e in settled.failed] == [b"v1"]
    assert [e.value for e in buf.window(10).entries] == [b"v1", b"v3"]
    assert len(buf) == 2


def test_everything_failing_changes_nothing():
    buf = SendBuffer(100)
    _fill(buf, [("t", b"a"), ("t", b"a"), ("t", b"b")])
    before = [e.seq for e in buf.window(10).entries]
    buf.settle(buf.window(2), [False, False])
    assert [e.seq for e in buf.window(10).entries] == before


def test_distinct_window_sends_one_message_per_key_and_keeps_key_order():
    buf = SendBuffer(100)
    _fill(buf, [("t", b"a"), ("t", b"a"), ("t", b"b"), ("u", b"a"), ("t", b"a"), ("t", b"c")])
    w = buf.window(10, distinct_keys=True)
    assert [(e.topic, e.key, e.value) for e in w.entries] == [
        ("t", b"a", b"v0"), ("t", b"b", b"v2"), ("u", b"a", b"v3"), ("t", b"c", b"v5")]
    buf.settle(w, [True, True, True, True])
    # the skipped messages of key a stay, in their order, at the head
    assert [e.value for e in buf.window(10).entries] == [b"v1", b"v4"]
    w2 = buf.window(10, distinct_keys=True)
    assert [e.value for e in w2.entries] == [b"v1"]


def test_distinct_window_never_lets_a_later_message_of_a_failed_key_through():
    """Property over many random outcome patterns: replaying settle() until empty yields each key in order."""
    import random

    rng = random.Random(7)
    for _ in range(200):
        buf = SendBuffer(1000)
        keys = [bytes([97 + rng.randrange(4)]) for _ in range(40)]
        _fill(buf, [("t", k) for k in keys])
        arrived: list[tuple[bytes, int]] = []
        while len(buf):
            w = buf.window(rng.randrange(1, 8), distinct_keys=True)
            outcomes = [rng.random() < 0.6 for _ in w.entries]
            settled = buf.settle(w, outcomes)
            assert settled.reordered == []
            arrived += [(e.key, e.seq) for e in settled.delivered]
        assert len(arrived) == 40
        for k in set(keys):
            seqs = [s for kk, s in arrived if kk == k]
            assert seqs == sorted(seqs)


def test_reordering_inside_a_plain_window_is_detected():
    buf = SendBuffer(10)
    _fill(buf, [("t", b"a"), ("t", b"a"), ("t", b"b"), ("t", None), ("t", None)])
    settled = buf.settle(buf.window(5), [False, True, True, False, True])
    assert settled.reordered == [("t", b"a")]  # keyless messages have no order to keep
    assert reordered_keys(settled.delivered, []) == []


def test_settle_needs_one_outcome_per_message():
    buf = SendBuffer(10)
    _fill(buf, [("t", b"a"), ("t", b"b")])
    with pytest.raises(ValueError):
        buf.settle(buf.window(2), [True])


def test_backoff_doubles_up_to_its_maximum_and_resets():
    b = Backoff(initial=0.25, factor=2, maximum=1.5)
    assert [b.next() for _ in range(5)] == [0.25, 0.5, 1.0, 1.5, 1.5]
    b.reset()
    assert b.next() == 0.25
    with pytest.raises(ValueError):
        Backoff(initial=2, maximum=1)


def test_producer_buffer_setting(monkeypatch):
    monkeypatch.setenv("CITYOPS_PRODUCER_BUFFER", "1234")
    monkeypatch.setenv("CITYOPS_PRODUCER_GIVE_UP_S", "30")
    s = Settings.from_env()
    assert (s.producer_buffer, s.producer_give_up_s) == (1234, 30.0)
    from cityops.bus import Publisher

    pub = Publisher(s)
    assert pub.buffer.limit == 1234 and pub.give_up_s == 30.0
    assert Publisher(Settings()).give_up_s is None  # default: retry until delivered


# --------------------------------------------------------------------------------------------- security


def test_plaintext_adds_nothing():
    assert kafka_security_kwargs(Settings()) == {}
    assert faust_credentials(Settings()) is None


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext(mechanism):
    s = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism=mechanism,
                 kafka_sasl_username="cityops", kafka_sasl_password="s3cret")
    assert kafka_security_kwargs(s) == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
                                        "sasl_plain_username": "cityops", "sasl_plain_password": "s3cret"}
    cred = faust_credentials(s)
    assert isinstance(cred, faust.SASLCredentials)
    assert (cred.username, cred.password, cred.mechanism.value, cred.protocol.value) == (
        "cityops", "s3cret", mechanism, "SASL_PLAINTEXT")
    assert "s3cret" not in repr(s)


def _ca_file(tmp_path: Path) -> str:
    """A CA bundle ssl can load: the system's, or certifi's."""
    import certifi

    path = tmp_path / "ca.pem"
    path.write_bytes(Path(certifi.where()).read_bytes())
    return str(path)


def test_sasl_ssl_with_a_ca_file(tmp_path):
    s = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                 kafka_sasl_username="u", kafka_sasl_password="p", kafka_ssl_cafile=_ca_file(tmp_path))
    kw = kafka_security_kwargs(s)
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == "SCRAM-SHA-512"
    assert isinstance(kw["ssl_context"], ssl.SSLContext)
    assert kw["ssl_context"].verify_mode == ssl.CERT_REQUIRED and kw["ssl_context"].check_hostname
    cred = faust_credentials(s)
    assert cred.protocol.value == "SASL_SSL" and isinstance(cred.ssl_context, ssl.SSLContext)


def test_ssl_only(tmp_path):
    s = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=_ca_file(tmp_path), kafka_ssl_check_hostname=False)
    kw = kafka_security_kwargs(s)
    assert set(kw) == {"security_protocol", "ssl_context"} and kw["security_protocol"] == "SSL"
    assert kw["ssl_context"].check_hostname is False
    cred = faust_credentials(s)
    assert isinstance(cred, faust.SSLCredentials) and cred.protocol.value == "SSL"
    # what Faust hands its aiokafka consumers and producers
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    assert credentials_to_aiokafka_auth(cred)["security_protocol"] == "SSL"


def test_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "scram-sha-256")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "pw")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", _ca_file(tmp_path))
    s = Settings.from_env()
    kw = kafka_security_kwargs(s)
    assert (kw["security_protocol"], kw["sasl_mechanism"], kw["sasl_plain_username"]) == ("SASL_SSL", "SCRAM-SHA-256",
                                                                                          "svc")


@pytest.mark.parametrize("bad", [
    {"kafka_security_protocol": "TLS"},
    {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "u"},  # no password
    {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI", "kafka_sasl_username": "u",
     "kafka_sasl_password": "p"},
    {"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "/k.pem"},
])
def test_bad_security_settings_fail_at_start_up(bad):
    with pytest.raises(ValueError):
        kafka_security_kwargs(Settings(**bad))
    with pytest.raises(ValueError):
        faust_credentials(Settings(**bad))


def test_prepend_goes_before_everything_buffered_and_counts_as_earlier():
    """What ``on_reconnect`` returns (re-sends after the broker lost its topics) is sent first, even past the bound."""
    buf = SendBuffer(2)
    _fill(buf, [("t", b"a"), ("t", b"b")])
    assert buf.prepend([("t", b"a", b"old0"), ("t", b"c", b"old1")]) == 2
    assert len(buf) == 4
    assert [e.value for e in buf.window(10).entries] == [b"old0", b"old1", b"v0", b"v1"]
    assert all(e.seq < 0 for e in buf.window(10).entries[:2])
    # the buffered copy of key a failing after the re-sent one went through is not a reordering
    w = buf.window(10, distinct_keys=True)
    assert [e.value for e in w.entries] == [b"old0", b"old1", b"v1"]
    assert buf.settle(w, [True, True, False]).reordered == []
    assert [e.value for e in buf.window(10).entries] == [b"v0", b"v1"]


def test_offsets_going_back_mean_the_broker_lost_its_log():
    """A broker that restarts empty faster than a request times out fails no send: only the offsets tell."""
    from types import SimpleNamespace

    from cityops.bus import Publisher

    pub = Publisher(Settings())
    for offset in (0, 1, 2, 7):
        pub._note_offset(SimpleNamespace(topic="t", partition=0, offset=offset))
    pub._note_offset(SimpleNamespace(topic="t", partition=1, offset=0))  # another partition: its own count
    assert pub.resets == 0 and not pub._reset_pending
    pub._note_offset(SimpleNamespace(topic="t", partition=0, offset=0))
    assert pub.resets == 1 and pub._reset_pending
    pub._reset_pending = False
    pub._note_offset(SimpleNamespace(topic="t", partition=0, offset=1))  # the new log grows again: no new reset
    assert pub.resets == 1 and not pub._reset_pending
