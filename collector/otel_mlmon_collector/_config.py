"""Configuration of otel-mlmon-collector: frozen dataclasses read from YAML, validated with errors naming the key.

Precedence: the documented ``OTEL_MLMON_COLLECTOR_*`` overrides (listen addresses, log level, bearer token file) >
the YAML file (with ``${env:NAME}`` / ``${env:NAME:-default}`` substitution) > the embedded default
(``default.yaml`` in this package). When the file names no exporter, the standard ``OTEL_EXPORTER_OTLP_*``
variables define the downstream; with neither, received telemetry is written to the console.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from ._budget import BudgetConfig
from ._config_reader import ConfigError, Section, split_host_port

if TYPE_CHECKING:
    from ._drift_engine import DriftConfig
    from ._performance import PerformanceConfig

__all__ = [
    "ENV_BEARER_TOKEN_FILE",
    "ENV_CONFIG",
    "ENV_GRPC_ENDPOINT",
    "ENV_HEALTH_ENDPOINT",
    "ENV_HTTP_ENDPOINT",
    "ENV_LOG_LEVEL",
    "FSYNC_POLICIES",
    "PROTOCOLS",
    "SIGNALS",
    "AuthConfig",
    "Config",
    "ConfigError",
    "ExporterConfig",
    "GrpcReceiverConfig",
    "HealthConfig",
    "HttpReceiverConfig",
    "QueueConfig",
    "ReceiverLimits",
    "ReceiverTlsConfig",
    "ReceiversConfig",
    "RetryConfig",
    "SelfMetricsConfig",
    "ServiceConfig",
    "default_config_text",
    "load_config",
    "parse_config",
    "split_host_port",
]

_log = logging.getLogger(__name__)

#: Path of the YAML configuration file (the CLI's ``--config`` wins over it).
ENV_CONFIG = "OTEL_MLMON_COLLECTOR_CONFIG"
#: Overrides ``receivers.grpc.endpoint`` (``host:port``).
ENV_GRPC_ENDPOINT = "OTEL_MLMON_COLLECTOR_GRPC_ENDPOINT"
#: Overrides ``receivers.http.endpoint`` (``host:port``).
ENV_HTTP_ENDPOINT = "OTEL_MLMON_COLLECTOR_HTTP_ENDPOINT"
#: Overrides ``health.endpoint`` (``host:port``).
ENV_HEALTH_ENDPOINT = "OTEL_MLMON_COLLECTOR_HEALTH_ENDPOINT"
#: Overrides ``service.log_level``.
ENV_LOG_LEVEL = "OTEL_MLMON_COLLECTOR_LOG_LEVEL"
#: Overrides ``receivers.auth`` with ``bearer_token_file`` (a path; the container image sets it).
ENV_BEARER_TOKEN_FILE = "OTEL_MLMON_COLLECTOR_BEARER_TOKEN_FILE"

#: The three OTLP signals, in the order used everywhere.
SIGNALS: tuple[str, ...] = ("traces", "metrics", "logs")
#: Downstream protocols an ``otlp`` exporter speaks.
PROTOCOLS: tuple[str, ...] = ("grpc", "http/protobuf")
_EXPORTER_TYPES = ("otlp", "console", "prometheus_remote_write")
_COMPRESSIONS = ("gzip", "none")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class GrpcReceiverConfig:
    """OTLP/gRPC receiver: ``endpoint`` is ``host:port`` (port 0 picks a free port).

    ``max_workers`` threads run calls; beyond ``max_concurrent_rpcs`` calls in progress, a call is answered
    ``RESOURCE_EXHAUSTED`` with a retry hint before its message is read.
    """

    enabled: bool = True
    endpoint: str = "127.0.0.1:4317"
    max_workers: int = 8
    max_concurrent_rpcs: int = 64


@dataclass(frozen=True)
class HttpReceiverConfig:
    """OTLP/HTTP receiver serving ``/v1/traces``, ``/v1/metrics`` and ``/v1/logs``."""

    enabled: bool = True
    endpoint: str = "127.0.0.1:4318"
    #: Open connections at once (one more is answered 503 and closed) and threads that decode requests.
    max_connections: int = 256
    max_workers: int = 4
    #: How long a keep-alive connection may wait for its next request.
    idle_timeout_seconds: float = 60.0


@dataclass(frozen=True)
class ReceiverTlsConfig:
    """TLS for both receivers: server certificate and key (PEM); a client CA file turns on mutual TLS."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None


@dataclass(frozen=True)
class AuthConfig:
    """Bearer-token authentication of senders (both receivers, and ``/health`` beyond its status).

    Exactly one of ``bearer_token`` (the token itself) and ``bearer_token_file`` (a file holding it, one token per
    line, read again when it changes) is set.
    """

    bearer_token: str | None = None
    bearer_token_file: str | None = None


@dataclass(frozen=True)
class ReceiverLimits:
    """Bounds on one request that both receivers enforce alike (their concurrency is in ``grpc``/``http``)."""

    #: Largest request after decompression: HTTP 413, gRPC ``RESOURCE_EXHAUSTED`` beyond it.
    max_request_bytes: int = 64 * 1024 * 1024
    #: The back-pressure hint: HTTP ``Retry-After``, gRPC ``google.rpc.RetryInfo``.
    retry_after_seconds: int = 1
    #: Time for a request's headers (HTTP, and a TLS handshake) and for its whole body (HTTP body, gRPC message).
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 60.0


@dataclass(frozen=True)
class ReceiversConfig(ReceiverLimits):
    """Both receivers plus the limits (inherited: the section is their ``ReceiverLimits``), TLS and authentication
    they share (``tls`` unset: plaintext; ``auth`` unset: any sender is accepted)."""

    grpc: GrpcReceiverConfig = field(default_factory=GrpcReceiverConfig)
    http: HttpReceiverConfig = field(default_factory=HttpReceiverConfig)
    tls: ReceiverTlsConfig | None = None
    auth: AuthConfig | None = None


@dataclass(frozen=True)
class RetryConfig:
    """Exponential backoff for retryable downstream answers: ``initial * multiplier**k``, capped, jittered."""

    enabled: bool = True
    initial_interval_seconds: float = 0.5
    max_interval_seconds: float = 30.0
    max_elapsed_seconds: float = 300.0
    multiplier: float = 2.0


@dataclass(frozen=True)
class ExporterConfig:
    """One downstream: ``otlp`` (gRPC or HTTP/protobuf), ``console`` or ``prometheus_remote_write``, for some signals.

    For ``http/protobuf``, ``endpoint`` is a base URL to which ``/v1/<signal>`` is appended, unless the
    signal's own ``<signal>_endpoint`` gives the full URL (as ``OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`` does).
    For ``grpc``, ``endpoint`` is ``host:port`` or ``http(s)://host:port``; ``http://`` or ``insecure: true``
    means plaintext, otherwise TLS.
    """

    name: str
    type: str = "otlp"
    protocol: str = "http/protobuf"
    endpoint: str = ""
    traces_endpoint: str | None = None
    metrics_endpoint: str | None = None
    logs_endpoint: str | None = None
    signals: tuple[str, ...] = SIGNALS
    headers: tuple[tuple[str, str], ...] = ()
    compression: str = "none"
    timeout_seconds: float = 10.0
    insecure: bool | None = None
    certificate_file: str | None = None
    client_certificate_file: str | None = None
    client_key_file: str | None = None
    retry: RetryConfig = field(default_factory=RetryConfig)

    def signal_endpoint(self, signal: str) -> str:
        """Return the URL (HTTP) or target (gRPC) this exporter sends ``signal`` to."""
        specific = getattr(self, f"{signal}_endpoint")
        if specific:
            return specific
        if self.protocol == "grpc":
            return self.endpoint
        return self.endpoint.rstrip("/") + f"/v1/{signal}"


#: ``queue.fsync`` values (docs/collector.md, "Limits and guarantees").
FSYNC_POLICIES = ("always", "interval", "never")


@dataclass(frozen=True)
class QueueConfig:
    """Bounded queue in front of each exporter."""

    max_requests: int = 1000
    max_bytes: int = 256 * 1024 * 1024
    workers: int = 2
    #: Write-ahead directory: each exporter's queue lives on disk in ``<directory>/<exporter name>`` and survives
    #: kill -9; None keeps the queues in memory (lost on kill -9).
    directory: str | None = None
    #: When queued data reach the disk itself: ``always`` (before the client is answered), ``interval`` (every
    #: ``fsync_interval_millis``) or ``never`` (the kernel decides). Any of them survives kill -9 of the process.
    fsync: str = "interval"
    fsync_interval_millis: int = 1000


@dataclass(frozen=True)
class SelfMetricsConfig:
    """The collector's own metrics, sent every ``interval_seconds`` to the metrics exporters."""

    enabled: bool = True
    interval_seconds: float = 30.0


@dataclass(frozen=True)
class HealthConfig:
    """HTTP health endpoint (``GET /health``)."""

    enabled: bool = True
    endpoint: str = "127.0.0.1:13133"


@dataclass(frozen=True)
class ServiceConfig:
    """Process-level settings."""

    shutdown_timeout_seconds: float = 10.0
    log_level: str = "INFO"


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    receivers: ReceiversConfig = field(default_factory=ReceiversConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    exporters: tuple[ExporterConfig, ...] = ()
    self_metrics: SelfMetricsConfig = field(default_factory=SelfMetricsConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    #: The drift engine (``drift:`` section, keys in docs/drift-engine.md); None when the section is absent or
    #: ``enabled: false``.
    drift: DriftConfig | None = None
    #: Label joins, performance and concept drift (``ground_truth:`` section, docs/ground-truth.md); None when
    #: absent or ``enabled: false``.
    ground_truth: PerformanceConfig | None = None
    #: Category series forwarded per column (``budgets:`` section, docs/collector.md "Category budget").
    budgets: BudgetConfig = field(default_factory=BudgetConfig)

    def exporters_for(self, signal: str) -> tuple[ExporterConfig, ...]:
        """Return the exporters that receive ``signal``."""
        return tuple(e for e in self.exporters if signal in e.signals)


def default_config_text() -> str:
    """Return the embedded default configuration as YAML text."""
    return resources.files(__package__).joinpath("default.yaml").read_text(encoding="utf-8")


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read, substitute, validate and return the configuration.

    Args:
        path: YAML file; ``None`` uses ``$OTEL_MLMON_COLLECTOR_CONFIG`` or else the embedded default.
        env: environment to read (defaults to ``os.environ``).

    Raises:
        ConfigError: the file cannot be read or parsed, or a key is unknown or invalid.
    """
    env = os.environ if env is None else env
    path = path or env.get(ENV_CONFIG) or None
    if path is None:
        text, source = default_config_text(), "<embedded default>"
    else:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ConfigError(f"cannot read config file {os.fspath(path)!r}: {e.strerror}") from e
        source = os.fspath(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from e
    return parse_config({} if data is None else data, env)


def parse_config(data: Any, env: Mapping[str, str] | None = None) -> Config:
    """Validate an already-parsed YAML document (a mapping) and apply environment overrides.

    Raises:
        ConfigError: naming the offending key, e.g. ``receivers.grpc.endpoint``.
    """
    env = os.environ if env is None else env
    data = _substitute(data, env, "")
    root = Section(data, "")
    receivers = root.section("receivers")
    grpc_s, http_s = receivers.section("grpc"), receivers.section("http")
    g, h, lim = GrpcReceiverConfig(), HttpReceiverConfig(), ReceiverLimits()  # the defaults
    grpc = GrpcReceiverConfig(
        enabled=grpc_s.bool("enabled", g.enabled),
        endpoint=grpc_s.endpoint("endpoint", g.endpoint),
        max_workers=grpc_s.int("max_workers", g.max_workers, minimum=1),
        max_concurrent_rpcs=grpc_s.int("max_concurrent_rpcs", g.max_concurrent_rpcs, minimum=1),
    )
    http = HttpReceiverConfig(
        enabled=http_s.bool("enabled", h.enabled),
        endpoint=http_s.endpoint("endpoint", h.endpoint),
        max_connections=http_s.int("max_connections", h.max_connections, minimum=1),
        max_workers=http_s.int("max_workers", h.max_workers, minimum=1),
        idle_timeout_seconds=http_s.float("idle_timeout_seconds", h.idle_timeout_seconds, above=0),
    )
    grpc_s.done()
    http_s.done()
    tls = None
    if receivers.has("tls"):
        t = receivers.section("tls")
        cert, key = t.file("cert_file", required=True), t.file("key_file", required=True)
        tls = ReceiverTlsConfig(cert, key, t.file("client_ca_file", required=False))
        t.done()
    auth = _auth(receivers.section("auth")) if receivers.has("auth") else None
    rcv = ReceiversConfig(
        grpc=grpc,
        http=http,
        max_request_bytes=receivers.int("max_request_bytes", lim.max_request_bytes, minimum=1024),
        retry_after_seconds=receivers.int("retry_after_seconds", lim.retry_after_seconds, minimum=0),
        header_timeout_seconds=receivers.float("header_timeout_seconds", lim.header_timeout_seconds, above=0),
        body_timeout_seconds=receivers.float("body_timeout_seconds", lim.body_timeout_seconds, above=0),
        tls=tls,
        auth=auth,
    )
    receivers.done()
    q = root.section("queue")
    queue = QueueConfig(
        max_requests=q.int("max_requests", 1000, minimum=1),
        max_bytes=q.int("max_bytes", 256 * 1024 * 1024, minimum=1024),
        workers=q.int("workers", 2, minimum=1),
        directory=q.str("directory", None) or None,
        fsync=q.choice("fsync", "interval", FSYNC_POLICIES),
        fsync_interval_millis=q.int("fsync_interval_millis", 1000, minimum=1),
    )
    q.done()
    exporters = tuple(_exporter(s) for s in root.sections("exporters"))
    names = [e.name for e in exporters]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"exporters: duplicate name {name!r}; give each exporter a distinct name")
    sm = root.section("self_metrics")
    self_metrics = SelfMetricsConfig(
        enabled=sm.bool("enabled", True), interval_seconds=sm.float("interval_seconds", 30.0, minimum=0.1)
    )
    sm.done()
    h = root.section("health")
    health = HealthConfig(enabled=h.bool("enabled", True), endpoint=h.endpoint("endpoint", "127.0.0.1:13133"))
    h.done()
    s = root.section("service")
    service = ServiceConfig(
        shutdown_timeout_seconds=s.float("shutdown_timeout_seconds", 10.0, minimum=0.0),
        log_level=s.choice("log_level", "INFO", _LOG_LEVELS, upper=True),
    )
    s.done()
    drift = _drift(root)
    ground_truth = _ground_truth(root)
    b = root.section("budgets")
    budgets = BudgetConfig.from_section(b)
    b.done()
    root.done()
    config = Config(rcv, queue, exporters, self_metrics, health, service, drift, ground_truth, budgets)
    config = _apply_env_overrides(config, env)
    if not config.exporters:
        config = _replace(config, exporters=_exporters_from_otel_env(env))
    return config


def _auth(section: Section) -> AuthConfig:
    """``receivers.auth``: exactly one of ``bearer_token`` and ``bearer_token_file``."""
    token = section.str("bearer_token", None)
    token_file = section.file("bearer_token_file", required=False)
    section.done()
    if (token is None) == (token_file is None):
        raise ConfigError(f"{section.path}: set exactly one of bearer_token and bearer_token_file")
    if token is not None and not token.strip():
        raise ConfigError(f"{section.key('bearer_token')}: must not be empty")
    return AuthConfig(bearer_token=token, bearer_token_file=token_file)


def _drift(root: Section) -> DriftConfig | None:
    """The ``drift:`` section, read by the engine's configuration class."""
    from ._drift_engine import DriftConfig  # here: the engine's modules load numpy and the methods

    return _analysis(root, "drift", DriftConfig.from_section)


def _ground_truth(root: Section) -> PerformanceConfig | None:
    """The ``ground_truth:`` section, read by the performance engine's configuration class."""
    from ._performance import PerformanceConfig  # here: the performance engine loads its join store

    return _analysis(root, "ground_truth", PerformanceConfig.from_section)


def _analysis(root: Section, key: str, read: Callable[[Section], Any]) -> Any:
    """An optional analysis section: absent or ``enabled: false`` → None; otherwise what ``read`` builds."""
    if not root.has(key):
        return None
    section = root.section(key, label=key)
    enabled = section.bool("enabled", True)
    config = read(section)  # validated even when disabled, so that turning it on later cannot fail
    return config if enabled else None


# ----------------------------------------------------------------------------------------------------------
# private helpers


def _replace(obj: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _substitute(value: Any, env: Mapping[str, str], key: str) -> Any:
    """Replace ``${env:NAME}`` and ``${env:NAME:-default}`` in every string of the document."""
    if isinstance(value, str):

        def one(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{key or '<root>'}: environment variable {name} is not set and has no default")

        return _ENV_REF.sub(one, value)
    if isinstance(value, dict):
        return {k: _substitute(v, env, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def _exporter(s: Section) -> ExporterConfig:
    name = s.str("name", None)
    if not name:
        raise ConfigError(f"{s.key('name')}: every exporter needs a name")
    kind = s.choice("type", "otlp", _EXPORTER_TYPES)
    protocol = s.choice("protocol", "http/protobuf", PROTOCOLS)
    endpoint = s.str("endpoint", "") or ""
    per_signal = {sig: s.str(f"{sig}_endpoint", None) for sig in SIGNALS}
    remote_write = kind == "prometheus_remote_write"
    signals = s.str_list("signals", ("metrics",) if remote_write else SIGNALS, SIGNALS)
    r = s.section("retry")
    retry = RetryConfig(
        enabled=r.bool("enabled", True),
        initial_interval_seconds=r.float("initial_interval_seconds", 0.5, minimum=0.0),
        max_interval_seconds=r.float("max_interval_seconds", 30.0, minimum=0.0),
        max_elapsed_seconds=r.float("max_elapsed_seconds", 300.0, minimum=0.0),
        multiplier=r.float("multiplier", 2.0, minimum=1.0),
    )
    r.done()
    config = ExporterConfig(
        name=name,
        type=kind,
        protocol=protocol,
        endpoint=endpoint,
        traces_endpoint=per_signal["traces"],
        metrics_endpoint=per_signal["metrics"],
        logs_endpoint=per_signal["logs"],
        signals=signals,
        headers=s.str_map("headers"),
        compression=s.choice("compression", "none", _COMPRESSIONS),
        timeout_seconds=s.float("timeout_seconds", 10.0, minimum=0.001),
        insecure=s.bool("insecure", None),
        certificate_file=s.str("certificate_file", None),
        client_certificate_file=s.str("client_certificate_file", None),
        client_key_file=s.str("client_key_file", None),
        retry=retry,
    )
    s.done()
    if remote_write and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"{s.key('endpoint')}: exporter {name!r} needs the http(s):// URL of /api/v1/write")
    if kind == "otlp":
        for sig in signals:
            target = config.signal_endpoint(sig)
            if not target or target.startswith("/"):
                raise ConfigError(f"{s.key('endpoint')}: exporter {name!r} needs an endpoint for {sig}")
            if protocol == "http/protobuf" and not target.startswith(("http://", "https://")):
                raise ConfigError(
                    f"{s.key('endpoint')}: {target!r} must start with http:// or https:// for http/protobuf"
                )
    return config


def _apply_env_overrides(config: Config, env: Mapping[str, str]) -> Config:
    """Apply the ``OTEL_MLMON_COLLECTOR_*`` overrides; a bad value warns and is ignored."""
    rcv, health, service = config.receivers, config.health, config.service
    for var, receiver in ((ENV_GRPC_ENDPOINT, "grpc"), (ENV_HTTP_ENDPOINT, "http")):
        value = env.get(var)
        if value:
            try:
                split_host_port(value)
            except ValueError as e:
                _log.warning("ignoring %s: %s", var, e)
                continue
            rcv = _replace(rcv, **{receiver: _replace(getattr(rcv, receiver), endpoint=value)})
    value = env.get(ENV_HEALTH_ENDPOINT)
    if value:
        try:
            split_host_port(value)
            health = _replace(health, endpoint=value)
        except ValueError as e:
            _log.warning("ignoring %s: %s", ENV_HEALTH_ENDPOINT, e)
    value = env.get(ENV_LOG_LEVEL)
    if value:
        if value.upper() in _LOG_LEVELS:
            service = _replace(service, log_level=value.upper())
        else:
            _log.warning("ignoring %s=%r: not one of %s", ENV_LOG_LEVEL, value, ", ".join(_LOG_LEVELS))
    value = env.get(ENV_BEARER_TOKEN_FILE)
    if value:
        # unlike the other overrides, a bad value stops start-up: falling back would accept every sender
        if not os.path.isfile(value):
            raise ConfigError(
                f"${ENV_BEARER_TOKEN_FILE}: no such file {value!r} (mount the token file there, e.g. a secret; "
                "docs/deployment.md says how to make one)"
            )
        rcv = _replace(rcv, auth=AuthConfig(bearer_token_file=value))
    return _replace(config, receivers=rcv, health=health, service=service)


def _otel_env(env: Mapping[str, str], signal: str, suffix: str) -> str | None:
    return env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_{suffix}") or env.get(f"OTEL_EXPORTER_OTLP_{suffix}")


def _exporters_from_otel_env(env: Mapping[str, str]) -> tuple[ExporterConfig, ...]:
    """Build the downstream from the standard ``OTEL_EXPORTER_OTLP_*`` variables, if any endpoint is set.

    One exporter per signal that has an endpoint, so per-signal protocol, headers and timeouts are honoured.
    """
    exporters = []
    for signal in SIGNALS:
        specific = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if not specific and not base:
            continue
        protocol = _otel_env(env, signal, "PROTOCOL") or "http/protobuf"
        if protocol not in PROTOCOLS:
            _log.warning("ignoring OTEL_EXPORTER_OTLP_PROTOCOL=%r: not one of %s", protocol, PROTOCOLS)
            protocol = "http/protobuf"
        headers = []
        for item in (_otel_env(env, signal, "HEADERS") or "").split(","):
            k, sep, v = item.partition("=")
            if sep and k.strip():
                headers.append((urllib.parse.unquote(k.strip()).lower(), urllib.parse.unquote(v.strip())))
        compression = (_otel_env(env, signal, "COMPRESSION") or "none").lower()
        if compression not in _COMPRESSIONS:
            _log.warning("ignoring OTEL_EXPORTER_OTLP_COMPRESSION=%r", compression)
            compression = "none"
        timeout = 10.0
        raw_timeout = _otel_env(env, signal, "TIMEOUT")
        if raw_timeout:
            try:
                timeout = float(raw_timeout) / 1000.0
            except ValueError:
                _log.warning("ignoring OTEL_EXPORTER_OTLP_TIMEOUT=%r: not milliseconds", raw_timeout)
        insecure_raw = _otel_env(env, signal, "INSECURE")
        exporters.append(
            ExporterConfig(
                name=f"otlp-env-{signal}",
                protocol=protocol,
                endpoint=base or "",
                **{f"{signal}_endpoint": specific},
                signals=(signal,),
                headers=tuple(headers),
                compression=compression,
                timeout_seconds=timeout,
                insecure=None if insecure_raw is None else insecure_raw.strip().lower() == "true",
                certificate_file=_otel_env(env, signal, "CERTIFICATE"),
                client_certificate_file=_otel_env(env, signal, "CLIENT_CERTIFICATE"),
                client_key_file=_otel_env(env, signal, "CLIENT_KEY"),
            )
        )
    return tuple(exporters)
