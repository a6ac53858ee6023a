"""All configuration, read once from environment variables with embedded defaults.

Why one module: every process (broker launcher, Redis launcher, Faust worker, producers, console,
detectors) must agree on addresses, topic names and time zone. The defaults run the embedded stack
on 127.0.0.1; production points ``KAFKA_BROKER`` and ``REDIS_URL`` at real clusters.

| variable | default | meaning |
|---|---|---|
| ``KAFKA_BROKER`` | ``kafka://127.0.0.1:9092`` | Faust-style broker URL; several hosts separated by ``;`` |
| ``REDIS_URL`` | ``redis://127.0.0.1:6379/0`` | Redis read model |
| ``CITYOPS_VAR`` | ``<repo>/var`` | runtime data: Redis AOF, evidence, briefings, logs |
| ``CITYOPS_CITY_DIR`` | ``<repo>/cities/xiamen`` | the city's data folder (model, devices, catalogue; city-data.md) |
| ``CITYOPS_CAMERAS_FILE`` | ``<city dir>/cameras.yml`` | the cameras, their sources, detectors and zones (YAML) |
| ``CITYOPS_TZ`` | city.json's ``timezone`` | the city's time zone (day/hour buckets, working calendar) |
| ``CITYOPS_TOPIC_PREFIX`` | ``cityops`` | prefix of every Kafka topic |
| ``CITYOPS_PARTITIONS`` | ``4`` | partitions per topic when the platform creates them |
| ``CITYOPS_CONSOLE_PORT`` | ``8501`` | Streamlit console port |
| ``CITYOPS_CONSOLE_ADDRESS`` | ``127.0.0.1`` | Streamlit bind address |
| ``CITYOPS_WORKER_ID`` | ``cityops-worker`` | Faust application id (= consumer group) |
| ``CITYOPS_WORKER_WEB_PORT`` | ``0`` | Faust web port; 0 (default) disables it, so workers can share a host |
| ``CITYOPS_REBALANCE_TIMEOUT`` | ``3`` | seconds; with Faust's 60 s default the first group join on tansu is slow |
| ``CITYOPS_SESSION_TIMEOUT`` | ``6`` | seconds before the group drops a silent worker |
| ``CITYOPS_HEARTBEAT_INTERVAL`` | ``1`` | seconds between consumer heartbeats |
| ``CITYOPS_FETCH_MAX_WAIT_MS`` | ``100`` | longest a worker's fetch waits for data (Faust fixes 1,500 ms) |
| ``CITYOPS_MAX_LATENESS_S`` | ``7200`` | events this much older than the stream's watermark are dead-lettered |
| ``CITYOPS_DEDUPE_TTL_S`` | ``864000`` | how long applied event ids are remembered (10 days) |
| ``CITYOPS_ENVELOPE_DEDUPE_TTL_S`` | ``86400`` | the same for sensor envelopes (1 day; see docs/architecture.md) |
| ``CITYOPS_REPEAT_RADIUS_M`` | ``100`` | a case is a repeated problem when one of the same category lies this close … |
| ``CITYOPS_REPEAT_WINDOW_DAYS`` | ``7`` | … and was reported at most this many days earlier |
| ``CITYOPS_USERS_FILE`` | ``<var>/users.json`` | console accounts, scrypt hashes (demo: ``config/users.demo.json``) |
| ``CITYOPS_SIGNIN_MAX_FAILURES`` | ``5`` | free failed sign-ins of an account before each further one waits 2^k s |
| ``CITYOPS_SIGNIN_MAX_DELAY_S`` | ``60`` | cap of that per-account wait (an account is delayed, never locked) |
| ``CITYOPS_SIGNIN_LOCKOUT_S`` | ``300`` | failures are kept this long; an address with 4× as many is locked as long |
| ``CITYOPS_SESSION_IDLE_S`` | ``1800`` | a console session idle this long is signed out (not the leader role) |
| ``CITYOPS_SESSION_COOKIE_S`` | ``604800`` | life of the wall screen's signed sign-in cookie (leader); 0: none |
| ``CITYOPS_DEMO`` | ``0`` | ``1`` creates the demo accounts when the users file is missing even off loopback |
| ``FORWARDED_ALLOW_IPS`` | ``127.0.0.1,::1`` | proxies whose ``X-Forwarded-For`` is the client address (deploy.md) |
| ``CITYOPS_CONSOLE_LANG`` | ``zh`` | console language before a user switches (``zh`` or ``en``) |
| ``CITYOPS_BRIEFING_TIME`` | ``07:30`` | local time the scheduler writes yesterday's daily briefing (每日简报) |
| ``CITYOPS_BRIEFING_LANGS`` | ``zh`` | languages the scheduler writes, comma-separated (``zh``, ``en``) |
| ``CITYOPS_BRIEFING_TARGETS`` | ``closure=0.98,…`` | targets of the briefing (docs/briefing.md) |
| ``CITYOPS_REPORT_TIME`` | ``08:00`` | when the period 通报 are written: Mondays (week), the 1st (month, quarter) |
| ``CITYOPS_REPORT_KINDS`` | ``week,month,quarter`` | the period 通报 the ``reports`` process writes (docs/reports.md) |
| ``CITYOPS_PRODUCER_BUFFER`` | ``200000`` | messages a producer buffers while the broker is down (full: send waits) |
| ``CITYOPS_PRODUCER_GIVE_UP_S`` | ``0`` | seconds a producer retries before failing; 0: until delivered |
| ``CITYOPS_COMMAND_KEYS`` | empty | command signing keys ``kid:secret,kid2:secret2``; the first signs, all verify |
| ``CITYOPS_COMMAND_KEY_FILE`` | ``<var>/command-keys`` | read when ``CITYOPS_COMMAND_KEYS`` is empty; made once, 0600 |
| ``CITYOPS_COMMAND_MAX_AGE_S`` | ``120`` | a command issued longer ago than this when it arrives is refused (stale) |
| ``CITYOPS_COMMAND_MAX_AHEAD_S`` | ``30`` | … and one issued further than this in the future (sender's clock) |
| ``CITYOPS_SUPERVISION_REMIND_S`` | ``3600`` | 督办单 reminder this long before its reply deadline (half-way at most) |
| ``CITYOPS_SUPERVISION_WINDOWS`` | 2小时 … 3天 | a 督办's reply windows on the duty console: ``1小时=3600,1天=86400`` |
| ``CITYOPS_API_HOST`` | ``127.0.0.1`` | bind address of the API process (``python -m cityops api``; docs/api.md) |
| ``CITYOPS_API_PORT`` | ``8600`` | its port |
| ``CITYOPS_APIKEYS_FILE`` | ``<city dir>/apikeys.json`` | client systems' API keys (``python -m cityops apikeys``) |
| ``CITYOPS_API_ACK_TIMEOUT_S`` | ``5`` | seconds a report waits for the broker's ack before the API answers 503 |
| ``CITYOPS_MQTT_URL`` | ``mqtt://127.0.0.1:1883`` | gateways' MQTT broker (amqtt; Mosquitto/EMQX: deploy.md) |
| ``CITYOPS_MQTT_BRIDGE_USER`` | ``cityops-bridge`` | the bridge's MQTT user (subscribes to every gateway's readings) |
| ``CITYOPS_MQTT_BRIDGE_PASSWORD`` | empty | its password; empty: ``<var>/mqtt-bridge-secret``, made once, 0600 |
| ``CITYOPS_MQTT_CLIENT_ID`` | ``cityops-bridge`` | bridge's fixed client id (persistent session) |
| ``CITYOPS_METRICS_HOST`` | ``127.0.0.1`` | bind address of each process's ``/metrics`` and ``/healthz`` |
| ``CITYOPS_METRICS_BASE_PORT`` | ``0`` | set: each process serves them on this + its ``METRICS_PORT_OFFSETS`` |
| ``CITYOPS_METRICS_PORT_<PROCESS>`` | ``0`` | one process's port (``WORKER``, ``CONSOLE``, …); 0, no base: off |

Rule and model settings, read when they are used (so a test or an operator's shell can change them
between calls) through :func:`env_text` and :func:`env_number` below:

| variable | default | meaning |
|---|---|---|
| ``CITYOPS_WORK_PERIODS`` | ``08:30-12:00,14:30-18:00`` | office periods of a working day (SLA clocks run in them) |
| ``CITYOPS_SCORE_WEIGHTS`` | ``closure=0.3,…`` | weights of 综合指标值, summing to 1 (cityops/metrics.py) |
| ``CITYOPS_RULE_SUSTAIN_S`` | ``300`` | seconds an exceedance lasts before its alert fires (a kind's spec may say) |
| ``CITYOPS_RULE_CLEAR_S`` | ``300`` | seconds back inside the limits (less hysteresis) before it clears (the same) |
| ``CITYOPS_PM10_LIMIT`` | ``80`` | µg/m³, limit of the rolling PM10 mean at a construction site |
| ``CITYOPS_DUST_WINDOW_MIN`` | ``15`` | minutes of the rolling PM10 mean (the city's rule: 15 or 60; 1..60) |
| ``CITYOPS_MIN_CONFIDENCE`` | ``0.5`` | AI captures below this confidence are set aside |
| ``CITYOPS_CAPTURE_WINDOW_S`` | ``600`` | a capture overlapping one accepted this recently is the same object |
| ``CITYOPS_DETECT_START`` | now | ISO time of a video file's first frame (``detect --start``) |
| ``CITYOPS_COCO_BACKEND`` | ``auto`` | COCO backend: ``auto`` (= ``torch``, on CUDA when present) or ``opencv`` |
| ``CITYOPS_STATUS_INTERVAL_S`` | ``5`` | seconds between a camera's health messages (topic camera-status) |
| ``CITYOPS_TANSU_SHA256`` | the pin of the bundled tansu | sha256 the broker binary must have (``CALF_TANSU_BIN``) |
| ``CITYOPS_STALE_CASE_DAYS`` | ``400`` | days an open case may go without a step before it is expired (≤ 3650) |
| ``CITYOPS_NOTIFY_RETRY_BASE_S`` | ``2`` | first wait before a notification is sent again; doubles per attempt … |
| ``CITYOPS_NOTIFY_RETRY_MAX_S`` | ``300`` | … up to this many seconds between attempts |
| ``CITYOPS_NOTIFY_MAX_ATTEMPTS`` | ``12`` | attempts before a notification is marked failed (admin page) |
| ``CITYOPS_NOTIFY_SLA_WITHIN_S`` | ``1800`` | an SLA clock this close to running out is notified (``sla_due`` routes) |

Kafka security:

| variable | default | meaning |
|---|---|---|
| ``KAFKA_SECURITY_PROTOCOL`` | ``PLAINTEXT`` | ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT``, ``SASL_SSL`` |
| ``KAFKA_SASL_MECHANISM`` | ``PLAIN`` | ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` (``SASL_*`` protocols) |
| ``KAFKA_SASL_USERNAME`` / ``KAFKA_SASL_PASSWORD`` | empty | SASL credentials; required with ``SASL_*`` |
| ``KAFKA_SSL_CAFILE`` | empty | CA bundle of the brokers' certificates (``*SSL``); empty: system CAs |
| ``KAFKA_SSL_CERTFILE`` / ``KAFKA_SSL_KEYFILE`` | empty | client certificate and key for mutual TLS (optional) |
| ``KAFKA_SSL_CHECK_HOSTNAME`` | ``1`` | ``0`` skips matching the broker's certificate to its host name (testing only) |
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from exc


def _env_float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from exc


def _city_timezone(city_dir: Path) -> str:
    """The ``timezone`` of ``<city_dir>/city.json``: a city's clock is part of its data (docs/city-data.md)."""
    path = city_dir / "city.json"
    try:
        name = json.loads(path.read_text(encoding="utf-8")).get("timezone")
        ZoneInfo(str(name))
    except FileNotFoundError:
        raise ValueError(f"{path}: file is missing (CITYOPS_CITY_DIR names the city's data folder)") from None
    except (ValueError, AttributeError, ZoneInfoNotFoundError) as err:
        raise ValueError(f"{path}: no valid timezone ({err}); set it, or CITYOPS_TZ") from None
    return str(name)


def env_text(name: str, default: str) -> str:
    """A setting read when it is used (the second table of this module's docstring); empty means default."""
    return _env(name, default)


def env_number(name: str, default: float) -> float:
    """A numeric setting read when it is used; a clear error names the variable when it is not a number."""
    return _env_float(name, default)


@dataclass(frozen=True)
class Topics:
    """Kafka topic names. Everything flows through these; nothing writes Redis except the agents."""

    prefix: str

    @property
    def cases(self) -> str:
        return f"{self.prefix}.cases"

    @property
    def sensors(self) -> str:
        return f"{self.prefix}.sensors"

    @property
    def detections(self) -> str:
        return f"{self.prefix}.detections"

    @property
    def commands(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def camera_status(self) -> str:
        """Each camera's health (frames/s, last frame, reconnects), sent by the detector processes."""
        return f"{self.prefix}.camera-status"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}.deadletter"

    def all(self) -> list[str]:
        return [self.cases, self.sensors, self.detections, self.commands, self.camera_status, self.deadletter]


#: Offsets from ``CITYOPS_METRICS_BASE_PORT`` of each process's metrics port (docs/deploy.md, "Monitoring").
METRICS_PORT_OFFSETS = {"worker": 0, "console": 1, "detect": 2, "briefing": 3, "mqtt-bridge": 4, "notify": 5,
                        "reports": 6}


@dataclass(frozen=True)
class Settings:
    kafka_broker: str = "kafka://127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    var_dir: Path = field(default_factory=lambda: REPO_ROOT / "var")
    city_dir: Path = field(default_factory=lambda: REPO_ROOT / "cities" / "xiamen")
    timezone: str = "Asia/Shanghai"
    topic_prefix: str = "cityops"
    partitions: int = 4
    console_port: int = 8501
    console_address: str = "127.0.0.1"
    worker_id: str = "cityops-worker"
    worker_web_port: int = 0
    rebalance_timeout_s: float = 3.0
    session_timeout_s: float = 6.0
    heartbeat_interval_s: float = 1.0
    fetch_max_wait_ms: int = 100
    max_lateness_s: int = 7200
    dedupe_ttl_s: int = 864000
    envelope_dedupe_ttl_s: int = 86400
    repeat_radius_m: float = 100.0
    repeat_window_days: float = 7.0
    briefing_time: str = "07:30"
    briefing_langs: str = "zh"
    briefing_targets: str = "closure=0.98,on_time=0.90,handling=0.95,rework=0.05,score=90"
    report_time: str = "08:00"  # weekly 通报 on Mondays, monthly on the 1st, quarterly on the 1st of its quarter
    report_kinds: str = "week,month,quarter"
    users_file: Path | None = None  # None: <var_dir>/users.json
    cameras_file: Path | None = None  # None: <city_dir>/cameras.yml
    console_lang: str = "zh"
    signin_max_failures: int = 5
    signin_lockout_s: int = 300
    signin_max_delay_s: int = 60
    session_idle_s: int = 1800
    session_cookie_s: int = 7 * 86_400
    demo: bool = False
    forwarded_allow_ips: str = "127.0.0.1,::1"
    producer_buffer: int = 200_000
    producer_give_up_s: float = 0.0
    command_keys: str = field(default="", repr=False)
    command_key_file: Path | None = None  # None: <var_dir>/command-keys
    command_max_age_s: float = 120.0
    command_max_ahead_s: float = 30.0
    supervision_remind_s: float = 3600.0  # a 督办单's reminder this long before its reply deadline (half-way at most)
    supervision_windows: str = ""  # ``label=seconds,…`` the duty console offers ('': REPLY_WINDOWS_S)
    api_host: str = "127.0.0.1"
    api_port: int = 8600
    apikeys_file: Path | None = None  # None: <city_dir>/apikeys.json
    api_ack_timeout_s: float = 5.0
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_bridge_user: str = "cityops-bridge"
    mqtt_bridge_password: str = field(default="", repr=False)
    mqtt_client_id: str = "cityops-bridge"
    metrics_host: str = "127.0.0.1"
    metrics_base_port: int = 0
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "PLAIN"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = field(default="", repr=False)
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    kafka_ssl_check_hostname: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        city_dir = Path(_env("CITYOPS_CITY_DIR", str(REPO_ROOT / "cities" / "xiamen"))).resolve()
        return cls(
            kafka_broker=_env("KAFKA_BROKER", cls.kafka_broker),
            redis_url=_env("REDIS_URL", cls.redis_url),
            var_dir=Path(_env("CITYOPS_VAR", str(REPO_ROOT / "var"))).resolve(),
            city_dir=city_dir,
            timezone=_env("CITYOPS_TZ", "") or _city_timezone(city_dir),
            topic_prefix=_env("CITYOPS_TOPIC_PREFIX", cls.topic_prefix),
            partitions=_env_int("CITYOPS_PARTITIONS", cls.partitions),
            console_port=_env_int("CITYOPS_CONSOLE_PORT", cls.console_port),
            console_address=_env("CITYOPS_CONSOLE_ADDRESS", cls.console_address),
            worker_id=_env("CITYOPS_WORKER_ID", cls.worker_id),
            worker_web_port=_env_int("CITYOPS_WORKER_WEB_PORT", cls.worker_web_port),
            rebalance_timeout_s=_env_float("CITYOPS_REBALANCE_TIMEOUT", cls.rebalance_timeout_s),
            session_timeout_s=_env_float("CITYOPS_SESSION_TIMEOUT", cls.session_timeout_s),
            heartbeat_interval_s=_env_float("CITYOPS_HEARTBEAT_INTERVAL", cls.heartbeat_interval_s),
            fetch_max_wait_ms=_env_int("CITYOPS_FETCH_MAX_WAIT_MS", cls.fetch_max_wait_ms),
            max_lateness_s=_env_int("CITYOPS_MAX_LATENESS_S", cls.max_lateness_s),
            dedupe_ttl_s=_env_int("CITYOPS_DEDUPE_TTL_S", cls.dedupe_ttl_s),
            envelope_dedupe_ttl_s=_env_int("CITYOPS_ENVELOPE_DEDUPE_TTL_S", cls.envelope_dedupe_ttl_s),
            repeat_radius_m=_env_float("CITYOPS_REPEAT_RADIUS_M", cls.repeat_radius_m),
            repeat_window_days=_env_float("CITYOPS_REPEAT_WINDOW_DAYS", cls.repeat_window_days),
            briefing_time=_env("CITYOPS_BRIEFING_TIME", cls.briefing_time),
            briefing_langs=_env("CITYOPS_BRIEFING_LANGS", cls.briefing_langs),
            briefing_targets=_env("CITYOPS_BRIEFING_TARGETS", cls.briefing_targets),
            report_time=_env("CITYOPS_REPORT_TIME", cls.report_time),
            report_kinds=_env("CITYOPS_REPORT_KINDS", cls.report_kinds),
            users_file=Path(_env("CITYOPS_USERS_FILE", "")).resolve() if _env("CITYOPS_USERS_FILE", "") else None,
            cameras_file=(Path(_env("CITYOPS_CAMERAS_FILE", "")).resolve()
                          if _env("CITYOPS_CAMERAS_FILE", "") else None),
            console_lang=_env("CITYOPS_CONSOLE_LANG", cls.console_lang),
            signin_max_failures=_env_int("CITYOPS_SIGNIN_MAX_FAILURES", cls.signin_max_failures),
            signin_lockout_s=_env_int("CITYOPS_SIGNIN_LOCKOUT_S", cls.signin_lockout_s),
            signin_max_delay_s=_env_int("CITYOPS_SIGNIN_MAX_DELAY_S", cls.signin_max_delay_s),
            session_idle_s=_env_int("CITYOPS_SESSION_IDLE_S", cls.session_idle_s),
            session_cookie_s=_env_int("CITYOPS_SESSION_COOKIE_S", cls.session_cookie_s),
            demo=_env("CITYOPS_DEMO", "0").lower() in ("1", "true", "yes"),
            forwarded_allow_ips=_env("FORWARDED_ALLOW_IPS", cls.forwarded_allow_ips),
            producer_buffer=_env_int("CITYOPS_PRODUCER_BUFFER", cls.producer_buffer),
            producer_give_up_s=_env_float("CITYOPS_PRODUCER_GIVE_UP_S", cls.producer_give_up_s),
            mqtt_url=_env("CITYOPS_MQTT_URL", cls.mqtt_url),
            mqtt_bridge_user=_env("CITYOPS_MQTT_BRIDGE_USER", cls.mqtt_bridge_user),
            mqtt_bridge_password=_env("CITYOPS_MQTT_BRIDGE_PASSWORD", ""),
            mqtt_client_id=_env("CITYOPS_MQTT_CLIENT_ID", cls.mqtt_client_id),
            metrics_host=_env("CITYOPS_METRICS_HOST", cls.metrics_host),
            metrics_base_port=_env_int("CITYOPS_METRICS_BASE_PORT", cls.metrics_base_port),
            command_keys=_env("CITYOPS_COMMAND_KEYS", ""),
            command_key_file=(Path(_env("CITYOPS_COMMAND_KEY_FILE", "")).resolve()
                              if _env("CITYOPS_COMMAND_KEY_FILE", "") else None),
            command_max_age_s=_env_float("CITYOPS_COMMAND_MAX_AGE_S", cls.command_max_age_s),
            command_max_ahead_s=_env_float("CITYOPS_COMMAND_MAX_AHEAD_S", cls.command_max_ahead_s),
            supervision_remind_s=_env_float("CITYOPS_SUPERVISION_REMIND_S", cls.supervision_remind_s),
            supervision_windows=_env("CITYOPS_SUPERVISION_WINDOWS", cls.supervision_windows),
            api_host=_env("CITYOPS_API_HOST", cls.api_host),
            api_port=_env_int("CITYOPS_API_PORT", cls.api_port),
            apikeys_file=(Path(_env("CITYOPS_APIKEYS_FILE", "")).resolve()
                          if _env("CITYOPS_APIKEYS_FILE", "") else None),
            api_ack_timeout_s=_env_float("CITYOPS_API_ACK_TIMEOUT_S", cls.api_ack_timeout_s),
            kafka_security_protocol=_env("KAFKA_SECURITY_PROTOCOL", cls.kafka_security_protocol).upper(),
            kafka_sasl_mechanism=_env("KAFKA_SASL_MECHANISM", cls.kafka_sasl_mechanism).upper(),
            kafka_sasl_username=_env("KAFKA_SASL_USERNAME", ""),
            kafka_sasl_password=_env("KAFKA_SASL_PASSWORD", ""),
            kafka_ssl_cafile=_env("KAFKA_SSL_CAFILE", ""),
            kafka_ssl_certfile=_env("KAFKA_SSL_CERTFILE", ""),
            kafka_ssl_keyfile=_env("KAFKA_SSL_KEYFILE", ""),
            kafka_ssl_check_hostname=_env("KAFKA_SSL_CHECK_HOSTNAME", "1").lower() not in ("0", "false", "no"),
        )

    def metrics_port(self, process: str) -> int:
        """The port of ``process``'s ``/metrics`` and ``/healthz`` (cityops/observability.py): its own
        ``CITYOPS_METRICS_PORT_<PROCESS>`` (read now), else the base port + its offset, else 0 (off)."""
        name = f"CITYOPS_METRICS_PORT_{process.upper().replace('-', '_')}"
        own = _env_int(name, 0)
        if own > 0 or self.metrics_base_port <= 0:
            return own
        if process not in METRICS_PORT_OFFSETS:
            raise ValueError(f"no metrics port offset for process {process!r}; set {name}")
        return self.metrics_base_port + METRICS_PORT_OFFSETS[process]

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def bootstrap_servers(self) -> list[str]:
        """``kafka://h1:9092;h2:9092`` → ``["h1:9092", "h2:9092"]`` for plain aiokafka clients."""
        hosts: list[str] = []
        for part in self.kafka_broker.replace(",", ";").split(";"):
            part = part.strip()
            if not part:
                continue
            if "://" in part:
                part = part.split("://", 1)[1]
            hosts.append(part.rstrip("/"))
        if not hosts:
            raise ValueError(f"KAFKA_BROKER={self.kafka_broker!r} names no host")
        return hosts

    @property
    def faust_broker(self) -> str:
        """Faust wants ``kafka://h1:9092;h2:9092``; accept bare ``h:p`` lists too."""
        return ";".join(f"kafka://{h}" for h in self.bootstrap_servers)

    @property
    def evidence_dir(self) -> Path:
        return self.var_dir / "evidence"

    @property
    def briefings_dir(self) -> Path:
        return self.var_dir / "briefings"

    @property
    def reports_dir(self) -> Path:
        return self.var_dir / "reports"

    @property
    def redis_dir(self) -> Path:
        return self.var_dir / "redis"

    @property
    def mqtt_bridge_secret_path(self) -> Path:
        """Where the bridge's generated MQTT password lives when ``CITYOPS_MQTT_BRIDGE_PASSWORD`` is empty."""
        return self.var_dir / "mqtt-bridge-secret"

    @property
    def command_key_path(self) -> Path:
        """The generated command signing key file (``CITYOPS_COMMAND_KEY_FILE``, else ``<var>/command-keys``)."""
        return self.command_key_file or self.var_dir / "command-keys"

    @property
    def users_path(self) -> Path:
        """The console's accounts file (``CITYOPS_USERS_FILE``, else ``<var>/users.json``)."""
        return self.users_file or self.var_dir / "users.json"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings. Tests that change the environment call ``get_settings.cache_clear()``."""
    return Settings.from_env()
