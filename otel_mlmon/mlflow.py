"""Reference profiles next to the MLflow runs and model versions they describe, over MLflow's REST API.

No MLflow client is needed (nothing is imported from ``mlflow``): the profile is uploaded through the tracking
server's artifact proxy (``mlflow server`` serves artifacts by default since MLflow 2) and a run tag records
where it is. :func:`load_profile` reads it back from a run or from a registered model version (through the
version's run), which is what the collector's ``MlflowReferenceStore`` does.

Authentication follows MLflow's variables: ``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD`` (basic).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from otel_mlmon.profile import Profile

__all__ = [
    "PROFILE_FILE_NAME",
    "PROFILE_TAG",
    "MlflowError",
    "load_profile",
    "log_profile",
    "profile_run_id",
]

PROFILE_TAG = "otel_mlmon.profile"
"""Run tag holding the profile's artifact path, relative to the run's artifact root."""
PROFILE_FILE_NAME = "profile.json.gz"
_ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts/"
_PROXY_SCHEME = "mlflow-artifacts:"


class MlflowError(RuntimeError):
    """The tracking server refused a request or could not be reached (the message says which and why)."""


def log_profile(
    profile: Profile,
    tracking_uri: str,
    run_id: str,
    artifact_path: str = "otel-mlmon",
    *,
    timeout_seconds: float = 30.0,
) -> str:
    """Upload ``profile`` as an artifact of run ``run_id`` and tag the run with where it is.

    The file is ``<artifact_path>/profile.json.gz`` under the run's artifacts; the run tag ``otel_mlmon.profile``
    holds that path. A model version registered from the run then finds its profile through the run.

    Args:
        profile: The reference profile (usually built from the run's training data).
        tracking_uri: The tracking server, ``http://host:port`` (an ``mlflow server`` serving artifacts).
        run_id: The run the profile belongs to.
        artifact_path: Directory under the run's artifacts.
        timeout_seconds: Per HTTP request.

    Returns:
        The artifact path of the profile, relative to the run's artifact root.

    Raises:
        ValueError: if ``tracking_uri`` is not http(s) or the run's artifacts are not served by the server's
            artifact proxy (``mlflow-artifacts:`` location).
        MlflowError: if the server refuses a request or cannot be reached.

    Example::

        with mlflow.start_run() as run:
            ...
            otel_mlmon.mlflow.log_profile(profile, "http://127.0.0.1:5000", run.info.run_id)
    """
    client = _Rest(tracking_uri, timeout_seconds)
    path = "/".join(part for part in (artifact_path.strip("/"), PROFILE_FILE_NAME) if part)
    root = client.artifact_root(run_id)
    with tempfile.TemporaryDirectory(prefix="otel-mlmon-") as tmp:
        payload = profile.save(Path(tmp) / PROFILE_FILE_NAME).read_bytes()
    client.request("PUT", _ARTIFACTS_API + _quote(f"{root}/{path}"), payload, "application/octet-stream")
    client.call("POST", "runs/set-tag", {"run_id": run_id, "key": PROFILE_TAG, "value": path})
    return path


def profile_run_id(tracking_uri: str, model: str, version: str, *, timeout_seconds: float = 30.0) -> str:
    """The run a registered model version was created from.

    Raises:
        MlflowError: if the version does not exist, has no run, or the server cannot be reached.
    """
    client = _Rest(tracking_uri, timeout_seconds)
    query = urllib.parse.urlencode({"name": model, "version": version})
    found = client.call("GET", f"model-versions/get?{query}").get("model_version") or {}
    run_id = found.get("run_id")
    if not run_id:
        raise MlflowError(f"model version {model}/{version} has no run_id: it carries no otel-mlmon profile")
    return str(run_id)


def load_profile(
    tracking_uri: str,
    *,
    run_id: str | None = None,
    model: str | None = None,
    version: str | None = None,
    timeout_seconds: float = 30.0,
) -> Profile:
    """Read the profile logged with :func:`log_profile`, from a run or a registered model version.

    Args:
        tracking_uri: The tracking server, ``http://host:port``.
        run_id: The run the profile was logged to; or
        model: the registered model name and ``version``, resolved to the run it was created from.
        version: See ``model``.
        timeout_seconds: Per HTTP request.

    Raises:
        ValueError: with neither ``run_id`` nor ``model`` and ``version``; or when the artifact is not a profile.
        MlflowError: if the run has no profile tag, or the server refuses a request or cannot be reached.
    """
    if run_id is None:
        if model is None or version is None:
            raise ValueError("load_profile needs run_id, or model and version")
        run_id = profile_run_id(tracking_uri, model, version, timeout_seconds=timeout_seconds)
    client = _Rest(tracking_uri, timeout_seconds)
    run = client.run(run_id)
    tags = {t.get("key"): t.get("value") for t in (run.get("data") or {}).get("tags") or []}
    path = tags.get(PROFILE_TAG)
    if not path:
        raise MlflowError(f"run {run_id} has no {PROFILE_TAG} tag: no profile was logged to it")
    root = _proxy_path(run.get("info", {}).get("artifact_uri", ""), run_id)
    payload = client.request("GET", _ARTIFACTS_API + _quote(f"{root}/{path}"))
    with tempfile.TemporaryDirectory(prefix="otel-mlmon-") as tmp:
        local = Path(tmp) / Path(path).name
        local.write_bytes(payload)
        try:
            return Profile.load(local)
        except ValueError as exc:
            raise ValueError(f"run {run_id} artifact {path}: {exc}".replace(str(local) + ": ", "")) from exc


# ---------------------------------------------------------------------------------------------------- helpers


class _Rest:
    """The few REST calls needed, with urllib (no dependency)."""

    def __init__(self, tracking_uri: str, timeout_seconds: float) -> None:
        parsed = urllib.parse.urlsplit(tracking_uri)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"tracking_uri must be an http:// or https:// URL, got {tracking_uri!r}")
        self.base = tracking_uri.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.headers: dict[str, str] = {}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif user:
            secret = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> bytes:
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.base + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_seconds) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace").strip()
            raise MlflowError(f"{method} {self.base}{path}: HTTP {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise MlflowError(f"{method} {self.base}{path}: {reason}") from None

    def call(self, method: str, endpoint: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        body = None if payload is None else json.dumps(payload).encode()
        raw = self.request(method, "/api/2.0/mlflow/" + endpoint, body, "application/json" if body else None)
        try:
            return json.loads(raw or b"{}")
        except ValueError as exc:
            raise MlflowError(f"{method} {endpoint}: answer is not JSON ({exc})") from None

    def run(self, run_id: str) -> dict[str, Any]:
        return self.call("GET", "runs/get?" + urllib.parse.urlencode({"run_id": run_id})).get("run") or {}

    def artifact_root(self, run_id: str) -> str:
        return _proxy_path(self.run(run_id).get("info", {}).get("artifact_uri", ""), run_id)


def _proxy_path(artifact_uri: str, run_id: str) -> str:
    """The run's artifact root as a path under the proxy (``mlflow-artifacts:/1/<run>/artifacts`` -> ``1/...``)."""
    if not artifact_uri.startswith(_PROXY_SCHEME):
        raise ValueError(
            f"run {run_id} stores artifacts at {artifact_uri!r}, not behind the tracking server's artifact proxy "
            "(mlflow-artifacts:); start the server with --serve-artifacts (the default) and an artifacts destination"
        )
    rest = artifact_uri[len(_PROXY_SCHEME) :]
    if rest.startswith("//"):  # mlflow-artifacts://host:port/path
        rest = rest[2:].partition("/")[2]
    return rest.strip("/")


def _quote(path: str) -> str:
    return urllib.parse.quote(path, safe="/")
