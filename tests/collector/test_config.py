"""Configuration: defaults, validation errors that name the key, environment substitution and overrides."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from otel_mlmon_collector._config import (
    Config,
    ConfigError,
    ExporterConfig,
    default_config_text,
    load_config,
    parse_config,
    split_host_port,
)


def test_embedded_default_equals_dataclass_defaults() -> None:
    """The shipped default YAML and the dataclass defaults describe the same configuration."""
    assert parse_config(yaml.safe_load(default_config_text()), env={}) == Config()


def test_no_file_means_loopback_and_console() -> None:
    """Without a file or environment the collector listens on loopback and has no downstream (console)."""
    config = load_config(None, env={})
    assert config.receivers.grpc.endpoint == "127.0.0.1:4317"
    assert config.receivers.http.endpoint == "127.0.0.1:4318"
    assert config.exporters == ()


def test_unknown_key_is_named_with_valid_keys() -> None:
    """A misspelt key is reported with its full path and the keys valid at that place."""
    with pytest.raises(
        ConfigError, match=r"receivers\.grpc\.endpont: unknown key \(valid keys here: .*endpoint"
    ):
        parse_config({"receivers": {"grpc": {"endpont": "127.0.0.1:1"}}}, env={})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"queue": {"max_requests": 0}}, r"queue\.max_requests: must be >= 1, got 0"),
        ({"queue": {"workers": "many"}}, r"queue\.workers: expected an integer, got 'many'"),
        (
            {"receivers": {"http": {"endpoint": "localhost"}}},
            r"receivers\.http\.endpoint: expected host:port",
        ),
        ({"receivers": {"grpc": {"enabled": "yes"}}}, r"receivers\.grpc\.enabled: expected true or false"),
        ({"service": {"log_level": "LOUD"}}, r"service\.log_level: 'LOUD' is not one of DEBUG"),
        ({"exporters": [{"endpoint": "http://x"}]}, r"exporters\[0\]\.name: every exporter needs a name"),
        ({"exporters": [{"name": "a", "protocol": "udp"}]}, r"exporters\[0\]\.protocol: 'udp' is not one of"),
        (
            {"exporters": [{"name": "a"}]},
            r"exporters\[0\]\.endpoint: exporter 'a' needs an endpoint for traces",
        ),
        (
            {"exporters": [{"name": "a", "endpoint": "backend:4318"}]},
            r"exporters\[0\]\.endpoint: 'backend:4318/v1/traces' must start with http:// or https://",
        ),
        (
            {"exporters": [{"name": "a", "endpoint": "http://b", "signals": ["spans"]}]},
            r"exporters\[0\]\.signals: 'spans' is not one of traces, metrics, logs",
        ),
        (
            {"exporters": [{"name": "a", "endpoint": "http://b"}, {"name": "a", "endpoint": "http://c"}]},
            r"exporters: duplicate name 'a'",
        ),
        ({"exporters": {"name": "a"}}, r"exporters: expected a list of mappings"),
        ({"health": []}, r"health: expected a mapping, got list"),
        (
            {"exporters": [{"name": "a", "endpoint": "http://b", "retry": {"multiplier": 0.5}}]},
            r"exporters\[0\]\.retry\.multiplier: must be >= 1.0",
        ),
    ],
)
def test_invalid_values_name_the_key_and_the_problem(data: dict, message: str) -> None:
    """Each invalid value raises ConfigError naming the key path and what is wrong with it."""
    with pytest.raises(ConfigError, match=message):
        parse_config(data, env={})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"drift": {"window_seconds": 0}}, r"^drift\.window_seconds: must be > 0, got 0\.0$"),
        ({"drift": {"min_rows": "few"}}, r"^drift\.min_rows: expected an integer, got 'few'$"),
        ({"drift": {"correction": "holm"}}, r"^drift\.correction: 'holm' is not one of benjamini-hochberg"),
        ({"drift": {"checks": ["vibes"]}}, r"^drift\.checks: 'vibes' is not one of distribution"),
        ({"drift": {"missing_threshold": 2}}, r"^drift\.missing_threshold: threshold must be in \[0, 1\]"),
        (
            {"drift": {"references": {"poll_interval_seconds": -1}}},
            r"^drift\.references\.poll_interval_seconds: must be >= 0",
        ),
        (
            {"drift": {"references": {"directry": "/p"}}},
            r"^drift\.references\.directry: unknown key \(valid keys here: directory, fallback_to_newest, ",
        ),
        (
            {"drift": {"trailing_reference": {"span_windows": 0}}},
            r"^drift\.trailing_reference\.span_windows: must be >= 1",
        ),
        (
            {"drift": {"overrides": {"fraud": {"amount": "magic"}}}},
            r"^drift\.overrides\.fraud\.amount: method for numeric data must be one of",
        ),
        ({"ground_truth": {"detector": "vibes"}}, r"^ground_truth\.detector: 'vibes' is not one of adwin"),
        ({"ground_truth": {"ttl_seconds": -5}}, r"^ground_truth\.ttl_seconds: must be > 0"),
        ({"ground_truth": {"max_pending": 0}}, r"^ground_truth\.max_pending: must be >= 1, got 0$"),
    ],
)
def test_analysis_section_errors_name_the_full_key_path(data: dict, message: str) -> None:
    """Errors in the drift and ground_truth sections name the full key path, like those of the core sections."""
    with pytest.raises(ConfigError, match=message):
        parse_config(data, env={})


def test_valid_key_lists_are_complete() -> None:
    """A misspelt key lists every key valid at its place: the analysis sections at the root, enabled in them."""
    with pytest.raises(
        ConfigError, match=r"^drif: unknown key \(valid keys here: .*drift, exporters, ground_truth"
    ):
        parse_config({"drif": {}}, env={})
    with pytest.raises(
        ConfigError, match=r"^drift\.windw_seconds: .*valid keys here: .*enabled, evaluation_interval"
    ):
        parse_config({"drift": {"windw_seconds": 60}}, env={})
    with pytest.raises(
        ConfigError, match=r"^ground_truth\.bogus: .*valid keys here: .*clear_after, detector, enabled"
    ):
        parse_config({"ground_truth": {"bogus": 1}}, env={})
    with pytest.raises(ConfigError, match=r"^receivers\.tsl: unknown key \(valid keys here: .*tls"):
        parse_config({"receivers": {"tsl": {}}}, env={})


def test_analysis_sections_take_substituted_strings() -> None:
    """Numbers and booleans from ${env:...} substitution (strings) are read in the analysis sections too."""
    config = parse_config(
        {
            "drift": {"window_seconds": "${env:W}", "min_rows": "${env:N}", "references": {"pins": {"m": 3}}},
            "ground_truth": {"path": ":memory:", "enabled": "${env:ON}"},
        },
        env={"W": "60", "N": "50", "ON": "false"},
    )
    assert config.drift is not None and config.drift.windows.window_seconds == 60.0
    assert config.drift.min_rows == 50 and config.drift.pins == {"m": "3"}
    assert config.ground_truth is None


def test_exporter_fields_are_read() -> None:
    """Every exporter field is read, headers lower-cased, signals de-duplicated in order."""
    config = parse_config(
        {
            "exporters": [
                {
                    "name": "vm",
                    "protocol": "grpc",
                    "endpoint": "https://metrics.example:4317",
                    "signals": ["metrics", "metrics"],
                    "headers": {"Authorization": "Bearer t"},
                    "compression": "gzip",
                    "timeout_seconds": 2.5,
                    "insecure": False,
                    "certificate_file": "/ca.pem",
                    "retry": {"initial_interval_seconds": 1, "max_elapsed_seconds": 60},
                }
            ]
        },
        env={},
    )
    (e,) = config.exporters
    assert (e.name, e.protocol, e.signals, e.compression, e.timeout_seconds) == (
        "vm", "grpc", ("metrics",), "gzip", 2.5,
    )  # fmt: skip
    assert e.headers == (("authorization", "Bearer t"),)
    assert e.certificate_file == "/ca.pem"
    assert e.retry.initial_interval_seconds == 1.0
    assert e.retry.max_elapsed_seconds == 60.0
    assert config.exporters_for("metrics") == (e,)
    assert config.exporters_for("traces") == ()


def test_signal_endpoints_for_http_and_grpc() -> None:
    """HTTP appends /v1/<signal> to the base URL unless a per-signal URL is given; gRPC uses the target."""
    http = ExporterConfig(
        "h", endpoint="http://b:4318/", metrics_endpoint="http://vm:8428/opentelemetry/v1/metrics"
    )
    assert http.signal_endpoint("traces") == "http://b:4318/v1/traces"
    assert http.signal_endpoint("metrics") == "http://vm:8428/opentelemetry/v1/metrics"
    grpc = ExporterConfig("g", protocol="grpc", endpoint="http://b:4317")
    assert grpc.signal_endpoint("logs") == "http://b:4317"


def test_env_substitution_with_defaults() -> None:
    """${env:NAME} is replaced from the environment and ${env:NAME:-default} falls back to the default."""
    data = {
        "exporters": [
            {"name": "a", "endpoint": "${env:BACKEND}", "headers": {"x-key": "${env:KEY:-none}"}},
        ]
    }
    config = parse_config(data, env={"BACKEND": "http://backend:4318"})
    assert config.exporters[0].endpoint == "http://backend:4318"
    assert config.exporters[0].headers == (("x-key", "none"),)


def test_env_substitution_missing_variable_names_the_key() -> None:
    """A referenced variable that is unset and has no default is an error naming the key and the variable."""
    with pytest.raises(
        ConfigError, match=r"exporters\[0\]\.endpoint: environment variable BACKEND is not set"
    ):
        parse_config({"exporters": [{"name": "a", "endpoint": "${env:BACKEND}"}]}, env={})


def test_collector_env_overrides_win_over_the_file() -> None:
    """OTEL_MLMON_COLLECTOR_* override listen addresses and log level from the file."""
    env = {
        "OTEL_MLMON_COLLECTOR_GRPC_ENDPOINT": "0.0.0.0:14317",
        "OTEL_MLMON_COLLECTOR_HTTP_ENDPOINT": "[::1]:14318",
        "OTEL_MLMON_COLLECTOR_HEALTH_ENDPOINT": "127.0.0.1:23133",
        "OTEL_MLMON_COLLECTOR_LOG_LEVEL": "debug",
    }
    config = parse_config({"receivers": {"grpc": {"endpoint": "127.0.0.1:1"}}}, env=env)
    assert config.receivers.grpc.endpoint == "0.0.0.0:14317"
    assert config.receivers.http.endpoint == "[::1]:14318"
    assert config.health.endpoint == "127.0.0.1:23133"
    assert config.service.log_level == "DEBUG"


def test_bad_env_override_warns_and_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    """An invalid override is ignored with a warning naming the variable; the file's value stays."""
    with caplog.at_level(logging.WARNING):
        config = parse_config({}, env={"OTEL_MLMON_COLLECTOR_GRPC_ENDPOINT": "nonsense"})
    assert config.receivers.grpc.endpoint == "127.0.0.1:4317"
    assert "OTEL_MLMON_COLLECTOR_GRPC_ENDPOINT" in caplog.text


def test_standard_otlp_env_defines_the_downstream_when_the_file_has_none() -> None:
    """OTEL_EXPORTER_OTLP_* build one exporter per signal with protocol, headers, compression and timeout."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://backend:4318",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://vm:8428/opentelemetry/v1/metrics",
        "OTEL_EXPORTER_OTLP_HEADERS": "Api-Key=a%20b,x=1",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc",
    }
    config = parse_config({}, env=env)
    by_signal = {e.signals[0]: e for e in config.exporters}
    assert set(by_signal) == {"traces", "metrics", "logs"}
    assert by_signal["traces"].signal_endpoint("traces") == "http://backend:4318/v1/traces"
    assert by_signal["metrics"].signal_endpoint("metrics") == "http://vm:8428/opentelemetry/v1/metrics"
    assert by_signal["logs"].protocol == "grpc"
    assert by_signal["traces"].headers == (("api-key", "a b"), ("x", "1"))
    assert by_signal["traces"].compression == "gzip"
    assert by_signal["traces"].timeout_seconds == 2.5
    assert by_signal["metrics"].timeout_seconds == 10.0


def test_standard_otlp_env_is_ignored_when_the_file_names_exporters() -> None:
    """Exporters from the file win: OTEL_EXPORTER_OTLP_* add nothing."""
    config = parse_config(
        {"exporters": [{"name": "file", "endpoint": "http://a"}]},
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b"},
    )
    assert [e.name for e in config.exporters] == ["file"]


def test_load_config_reads_files_and_reports_errors(tmp_path: Path) -> None:
    """A file is read and validated; unreadable files and bad YAML raise ConfigError naming the file."""
    good = tmp_path / "c.yaml"
    good.write_text("queue:\n  max_requests: 7\n")
    assert load_config(good, env={}).queue.max_requests == 7
    assert load_config(None, env={"OTEL_MLMON_COLLECTOR_CONFIG": str(good)}).queue.max_requests == 7
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("queue: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad, env={})


def test_example_config_is_valid() -> None:
    """The example shipped in collector/ validates (with its environment references set)."""
    example = Path(__file__).resolve().parents[2] / "collector" / "otel-mlmon-collector.example.yaml"
    env = {"TRACES_BACKEND": "http://phoenix:6006", "METRICS_API_KEY": "k", "OTEL_MLMON_TOKEN": "t"}
    config = load_config(example, env=env)
    assert {e.name for e in config.exporters} >= {"traces", "metrics"}
    assert config.receivers.auth is not None  # it listens on all interfaces: never without a token


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [("127.0.0.1:4317", ("127.0.0.1", 4317)), ("[::1]:0", ("::1", 0)), ("host:65535", ("host", 65535))],
)
def test_split_host_port(endpoint: str, expected: tuple[str, int]) -> None:
    """host:port and [v6]:port split into host and integer port."""
    assert split_host_port(endpoint) == expected


@pytest.mark.parametrize("endpoint", ["4317", ":4317", "host:", "host:99999", "host:x"])
def test_split_host_port_rejects(endpoint: str) -> None:
    """Anything but host:port with a port in range is rejected."""
    with pytest.raises(ValueError, match="expected host:port"):
        split_host_port(endpoint)
