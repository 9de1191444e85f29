"""The docker compose stack, Grafana provisioning and Kubernetes manifests hold together (Docker does not run here).

What can be checked without Docker or a cluster is checked: every file parses, every mounted or referenced path
exists, images are pinned, hostnames and ports agree across files, and the otel-mlmon-collector configs pass the
collector's own validation.
"""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from otel_mlmon_collector._config import ENV_BEARER_TOKEN_FILE, parse_config, split_host_port
from otel_mlmon_collector._receivers._auth import exposure_warning

import otel_mlmon
from tests.collector.deploy.conftest import DEPLOY, REPO

COMPOSE = DEPLOY / "docker-compose.yaml"
KUBERNETES = DEPLOY / "kubernetes"
PROVISIONING = DEPLOY / "grafana" / "provisioning"
#: Ports the upstream images listen on inside the compose network (from their documentation).
UPSTREAM_PORTS = {
    "prometheus": {9090},
    "jaeger": {4317, 4318, 16686},
    "grafana": {3000},
    "otel-collector": {4317, 4318},
}
_PINNED = re.compile(r"^[\w.\-/]+:(v?\d+\.\d+\.\d+)(@sha256:[0-9a-f]{64})?$")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _yaml(COMPOSE)


def _volumes(service: dict[str, Any]) -> dict[str, str]:
    """Target → source of a service's bind mounts (named volumes left out)."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            out[target] = source
    return out


def _ports(compose: dict[str, Any], name: str) -> set[int]:
    if name == "otel-mlmon-collector":
        service = compose["services"][name]
        config = _collector_config(
            DEPLOY / _volumes(service)["/etc/otel-mlmon/config.yaml"], service["environment"]
        )
        return {
            split_host_port(e)[1]
            for e in (config.receivers.grpc.endpoint, config.receivers.http.endpoint, config.health.endpoint)
        }
    return UPSTREAM_PORTS[name]


@functools.cache
def _stand_in_token() -> str:
    """A token file standing in for the secret that is mounted only where the stack runs."""
    path = Path(tempfile.mkdtemp(prefix="otel-mlmon-token-")) / "token"
    path.write_text("stand-in\n")
    return str(path)


def _collector_config(path: Path, environment: dict[str, str]) -> Any:
    env = dict(environment)
    if env.get(ENV_BEARER_TOKEN_FILE):
        env[ENV_BEARER_TOKEN_FILE] = _stand_in_token()
    return parse_config(_yaml(path), env=env)


def test_every_yaml_file_parses() -> None:
    """Every YAML file under collector/deploy is valid YAML (multi-document files included)."""
    files = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert len(files) >= 12
    for path in files:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert documents, path


def test_compose_images_are_pinned_and_ours_is_built_here(compose: dict[str, Any]) -> None:
    """Every service image has a version tag (no latest); otel-mlmon-collector is built from collector/Dockerfile."""
    services = compose["services"]
    assert set(services) == {"otel-collector", "otel-mlmon-collector", "prometheus", "grafana", "jaeger"}
    for name, service in services.items():
        assert _PINNED.match(service["image"]), f"{name}: {service['image']} is not pinned"
    ours = services["otel-mlmon-collector"]
    assert ours["image"] == f"otel-mlmon-collector:{otel_mlmon.__version__}"
    context = (DEPLOY / ours["build"]["context"]).resolve()
    assert context == REPO
    assert (context / ours["build"]["dockerfile"]).is_file()


def test_compose_mounts_exist(compose: dict[str, Any]) -> None:
    """Every bind-mounted file or directory exists in the repository."""
    for name, service in compose["services"].items():
        for target, source in _volumes(service).items():
            assert (DEPLOY / source).exists(), f"{name}: {source} (mounted at {target}) does not exist"


def test_compose_hostnames_and_ports_agree(compose: dict[str, Any]) -> None:
    """Every host:port a service is told to reach is another service listening on that port."""
    services = compose["services"]
    checked = 0
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            target = urlsplit(value) if "://" in value else urlsplit(f"//{value}")
            if target.hostname in services:
                assert target.port in _ports(compose, target.hostname), f"{name}.{key} = {value}"
                checked += 1
    assert checked >= 4
    assert {"9090:9090", "3000:3000", "16686:16686", "4317:4317", "4318:4318"} <= {
        p for s in services.values() for p in (str(x).split()[0] for x in s.get("ports", []))
    }


def test_upstream_collector_gets_every_variable_its_config_reads(compose: dict[str, Any]) -> None:
    """The OpenTelemetry Collector's mounted config reads only variables the compose file sets."""
    service = compose["services"]["otel-collector"]
    config_path = DEPLOY / _volumes(service)["/etc/otelcol/config.yaml"]
    assert service["command"] == ["--config=/etc/otelcol/config.yaml"]
    used = set(re.findall(r"\$\{env:(\w+)\}", config_path.read_text()))
    assert used and used <= set(service["environment"])


def test_otel_mlmon_collector_config_is_valid(compose: dict[str, Any]) -> None:
    """The compose config passes the collector's validation, listens on all interfaces and exports to Prometheus."""
    service = compose["services"]["otel-mlmon-collector"]
    assert service["command"] == ["--config", "/etc/otel-mlmon/config.yaml"]
    config = _collector_config(
        DEPLOY / _volumes(service)["/etc/otel-mlmon/config.yaml"], service["environment"]
    )
    assert config.receivers.grpc.endpoint == "0.0.0.0:4317"
    (exporter,) = config.exporters
    assert exporter.metrics_endpoint == "http://prometheus:9090/api/v1/otlp/v1/metrics"
    assert set(service["expose"]) == {str(p) for p in _ports(compose, "otel-mlmon-collector")}


def test_compose_senders_need_the_token_from_a_secret(compose: dict[str, Any]) -> None:
    """otel-mlmon-collector reads its token from a compose secret (a git-ignored file); the OpenTelemetry Collector
    in front sends the same secret with the bearertokenauth extension on every export to it."""
    (secret_name,) = compose["secrets"]
    source = DEPLOY / compose["secrets"][secret_name]["file"]
    ignore = (source.parent / ".gitignore").read_text().split()
    assert "*" in ignore and source.name not in ignore  # everything in secrets/ stays out of git
    mounted = f"/run/secrets/{secret_name}"  # where compose mounts a secret listed without a target
    ours = compose["services"]["otel-mlmon-collector"]
    assert ours["secrets"] == [secret_name]
    assert ours["environment"][ENV_BEARER_TOKEN_FILE] == mounted
    config = _collector_config(DEPLOY / _volumes(ours)["/etc/otel-mlmon/config.yaml"], ours["environment"])
    assert config.receivers.auth is not None and exposure_warning(config.receivers) is None
    assert mounted in (REPO / "collector" / "Dockerfile").read_text()  # the image's default path too

    front = compose["services"]["otel-collector"]
    assert front["secrets"] == [secret_name] and front["environment"]["MLMON_TOKEN_FILE"] == mounted
    upstream = _yaml(DEPLOY / _volumes(front)["/etc/otelcol/config.yaml"])
    to_us = [
        name
        for name, exporter in upstream["exporters"].items()
        if exporter.get("endpoint") == "${env:MLMON_ENDPOINT}"
    ]
    assert to_us == ["otlphttp/mlmon"]  # HTTP: the extension sends a token over gRPC only with TLS
    authenticator = upstream["exporters"]["otlphttp/mlmon"]["auth"]["authenticator"]
    assert upstream["extensions"][authenticator] == {"filename": "${env:MLMON_TOKEN_FILE}"}
    assert authenticator in upstream["service"]["extensions"]


def test_prometheus_enables_otlp_and_loads_the_rules(compose: dict[str, Any]) -> None:
    """Prometheus runs with the OTLP receiver and native histograms and loads the mounted rules file."""
    service = compose["services"]["prometheus"]
    assert "--web.enable-otlp-receiver" in service["command"]
    assert any("native-histograms" in flag for flag in service["command"])
    mounts = _volumes(service)
    config = _yaml(DEPLOY / mounts["/etc/prometheus/prometheus.yml"])
    assert config["rule_files"] == ["/etc/prometheus/rules/otel-mlmon-rules.yaml"]
    assert mounts["/etc/prometheus/rules/otel-mlmon-rules.yaml"] == "./prometheus/otel-mlmon-rules.yaml"
    assert "service.name" in config["otlp"]["promote_resource_attributes"]  # the trace links use service_name


def test_grafana_provisioning_matches_the_stack(compose: dict[str, Any]) -> None:
    """Data sources point at compose services; exemplars and links open the Jaeger uid; dashboards are mounted."""
    service = compose["services"]["grafana"]
    mounts = _volumes(service)
    assert (DEPLOY / mounts["/etc/grafana/provisioning"]).resolve() == PROVISIONING
    datasources = {
        d["uid"]: d for d in _yaml(PROVISIONING / "datasources" / "otel-mlmon.yaml")["datasources"]
    }
    for source in datasources.values():
        url = urlsplit(source["url"])
        assert url.port in _ports(compose, url.hostname), source["url"]
    prom = datasources["prometheus"]
    assert prom["type"] == "prometheus" and prom["isDefault"]
    (destination,) = prom["jsonData"]["exemplarTraceIdDestinations"]
    assert datasources[destination["datasourceUid"]]["type"] == "jaeger"
    from tests.collector.deploy.test_dashboards import load_generator

    assert datasources[load_generator().TRACES_DATASOURCE_UID]["type"] == "jaeger"
    (provider,) = _yaml(PROVISIONING / "dashboards" / "otel-mlmon.yaml")["providers"]
    dashboards_dir = DEPLOY / mounts[provider["options"]["path"]]
    assert sorted(p.name for p in dashboards_dir.glob("*.json")) == [
        "otel-mlmon-drift.json",
        "otel-mlmon-inference.json",
        "otel-mlmon-performance.json",
    ]
    assert dashboards_dir.name == "prometheus"  # the flavour for the stack's Prometheus
    home = service["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (dashboards_dir / Path(home).name).is_file()


# ------------------------------------------------------------------------------------------------- Kubernetes


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    """``Kind/name`` → manifest of every resource the kustomization lists."""
    kustomization = _yaml(KUBERNETES / "kustomization.yaml")
    out = {}
    for resource in kustomization["resources"]:
        path = KUBERNETES / resource
        assert path.is_file(), resource
        for document in yaml.safe_load_all(path.read_text()):
            out[f"{document['kind']}/{document['metadata']['name']}"] = document
    return out


def test_kustomization_files_exist_and_images_are_pinned(manifests: dict[str, dict[str, Any]]) -> None:
    """Resources and generated ConfigMap files exist; the image is pinned to the package version."""
    kustomization = _yaml(KUBERNETES / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    for generator in kustomization["configMapGenerator"]:
        for entry in generator["files"]:
            assert (KUBERNETES / entry.split("=")[-1]).is_file(), entry
    (image,) = kustomization["images"]
    assert image["newTag"] == otel_mlmon.__version__
    container = manifests["Deployment/otel-mlmon-collector"]["spec"]["template"]["spec"]["containers"][0]
    assert _PINNED.match(container["image"]) and container["image"].split(":")[0] == image["name"]
    assert set(manifests) == {
        "Namespace/observability",
        "Deployment/otel-mlmon-collector",
        "Service/otel-mlmon-collector",
        "Service/otel-mlmon-collector-headless",
        "PodDisruptionBudget/otel-mlmon-collector",
    }


def test_kubernetes_config_ports_probes_and_selectors_agree(manifests: dict[str, dict[str, Any]]) -> None:
    """The mounted config is valid; its ports are the container's; services and probes use those ports."""
    kustomization = _yaml(KUBERNETES / "kustomization.yaml")
    deployment = manifests["Deployment/otel-mlmon-collector"]
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    (generator,) = kustomization["configMapGenerator"]
    key, file_name = generator["files"][0].split("=")
    (volume,) = [v for v in pod["spec"]["volumes"] if v.get("configMap", {}).get("name") == generator["name"]]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert container["args"] == ["--config", f"{mount['mountPath']}/{key}"]

    env = {e["name"]: e["value"] for e in container["env"]}
    config = _collector_config(KUBERNETES / file_name, env)
    assert {e.name for e in config.exporters} == {"metrics", "traces-and-logs"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["otlp-grpc"] == split_host_port(config.receivers.grpc.endpoint)[1]
    assert ports["otlp-http"] == split_host_port(config.receivers.http.endpoint)[1]
    assert ports["health"] == split_host_port(config.health.endpoint)[1]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "health"}

    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for name in ("Service/otel-mlmon-collector", "Service/otel-mlmon-collector-headless"):
        spec = manifests[name]["spec"]
        assert spec["selector"].items() <= labels.items()
        for port in spec["ports"]:
            assert port["targetPort"] in ports and ports[port["targetPort"]] == port["port"]
    assert manifests["Service/otel-mlmon-collector-headless"]["spec"]["clusterIP"] == "None"
    pdb = manifests["PodDisruptionBudget/otel-mlmon-collector"]["spec"]["selector"]["matchLabels"]
    assert pdb.items() <= labels.items()
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    assert grace > config.service.shutdown_timeout_seconds


def test_kubernetes_senders_need_the_token_from_a_secret(manifests: dict[str, dict[str, Any]]) -> None:
    """The token file the collector reads is in a mounted, non-optional Secret volume; /health probes need none."""
    pod = manifests["Deployment/otel-mlmon-collector"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    token_path = Path(env[ENV_BEARER_TOKEN_FILE])
    (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == token_path.parent]
    assert mount["readOnly"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "otel-mlmon-collector-token"
    assert not volume["secret"].get("optional", False)  # no Secret, no pod: never open to every sender
    assert token_path.name == "token"  # the key of kubectl create secret generic ... --from-literal=token=...
    assert "--from-literal=token=" in (KUBERNETES / "deployment.yaml").read_text()
    config = _collector_config(KUBERNETES / "otel-mlmon-collector.yaml", env)
    assert config.receivers.auth is not None and exposure_warning(config.receivers) is None
