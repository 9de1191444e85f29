"""Deployment files shipped in collector/: upstream Collector configs are consistent, the Dockerfile is pinned."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
import yaml
from otel_mlmon_collector._config import Config

from otel_mlmon import conventions as conv

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR = ROOT / "collector"


@pytest.mark.parametrize("name", ["otelcol-upstream.yaml", "otelcol-loadbalancing.yaml"])
def test_upstream_collector_configs_are_consistent(name: str) -> None:
    """Every component a pipeline names is defined, and ml.* metrics go one way, the rest the other."""
    config = yaml.safe_load((COLLECTOR / name).read_text())
    pipelines = config["service"]["pipelines"]
    for pipeline_name, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{pipeline_name} uses undefined {kind[:-1]} {component}"
    ml, other = pipelines["metrics/ml"], pipelines["metrics/other"]
    assert ml["exporters"] != other["exporters"]
    keep = config["processors"][ml["processors"][0]]["metrics"]["metric"]
    drop = config["processors"][other["processors"][0]]["metrics"]["metric"]
    assert keep == [f"not {drop[0]}"]
    assert drop == ['IsMatch(name, "^ml\\\\.")']  # OTTL string "^ml\\." is the regex ^ml\.


def test_dockerfile_is_pinned_and_matches_the_package() -> None:
    """The base image is pinned to a version, the entrypoint is the declared console script, ports match defaults."""
    text = (COLLECTOR / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert 'ENTRYPOINT ["otel-mlmon-collector"]' in text and "otel-mlmon-collector" in scripts
    defaults = Config()
    ports = {
        e.rsplit(":", 1)[1] for e in (defaults.receivers.grpc.endpoint, defaults.receivers.http.endpoint)
    }
    ports.add(defaults.health.endpoint.rsplit(":", 1)[1])
    (exposed,) = re.findall(r"^EXPOSE\s+(.+)$", text, flags=re.MULTILINE)
    assert set(exposed.split()) == ports


def test_dockerfile_never_listens_on_all_interfaces_without_a_token(tmp_path: Path) -> None:
    """The image's environment binds 0.0.0.0 and requires a bearer token file; without the file it cannot start."""
    from otel_mlmon_collector._config import ENV_BEARER_TOKEN_FILE, ConfigError, parse_config
    from otel_mlmon_collector._receivers._auth import exposure_warning

    text = (COLLECTOR / "Dockerfile").read_text().replace("\\\n", " ")
    env = dict(
        re.findall(r"(OTEL_MLMON_COLLECTOR_\w+)=(\S*)", " ".join(re.findall(r"^ENV\s+(.+)$", text, re.M)))
    )
    assert env["OTEL_MLMON_COLLECTOR_GRPC_ENDPOINT"].startswith("0.0.0.0:")
    assert env[ENV_BEARER_TOKEN_FILE] == "/run/secrets/otel-mlmon-token"
    with pytest.raises(ConfigError, match=ENV_BEARER_TOKEN_FILE):
        parse_config({}, env=env)  # the token is not mounted: exit 2, not an open collector
    token = tmp_path / "token"
    token.write_text("t\n")
    config = parse_config({}, env={**env, ENV_BEARER_TOKEN_FILE: str(token)})
    assert config.receivers.grpc.endpoint.startswith("0.0.0.0:") and config.receivers.auth is not None
    assert exposure_warning(config.receivers) is None


def test_load_balancing_config_shards_by_model_name_for_metrics_and_logs() -> None:
    """The router keys ml.* metrics and ml logs by ml.model.name (the attribute the SDK puts on each model's log
    resource and on every ml.* point), on one exporter, so a model's metrics and labels meet on one replica."""
    config = yaml.safe_load((COLLECTOR / "otelcol-loadbalancing.yaml").read_text())
    (name,) = [n for n in config["exporters"] if n.split("/")[0] in ("load_balancing", "loadbalancing")]
    exporter = config["exporters"][name]
    assert exporter["routing_key"] == "attributes"
    assert exporter["routing_attributes"] == [conv.ATTR_MODEL_NAME]
    pipelines = config["service"]["pipelines"]
    assert pipelines["metrics/ml"]["exporters"] == [name] and pipelines["logs/ml"]["exporters"] == [name]
