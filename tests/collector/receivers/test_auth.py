"""Bearer-token checks, token-file rotation and the ``receivers.auth`` configuration (in process, real files)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from google.rpc import status_pb2
from otel_mlmon_collector._config import (
    ENV_BEARER_TOKEN_FILE,
    AuthConfig,
    ConfigError,
    ReceiversConfig,
    parse_config,
)
from otel_mlmon_collector._receivers import _auth
from otel_mlmon_collector._receivers._auth import BearerAuth, exposure_warning, http_unauthorized

from otel_mlmon import conventions as conv


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _write(path: Path, text: str) -> None:
    """Replace the file as a Secret volume update does: a new inode renamed over the old name."""
    tmp = path.with_suffix(".new")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_bearer_scheme_and_token_must_both_match() -> None:
    """Only ``Bearer <token>`` (scheme in any case, surrounding blanks ignored) passes; anything else fails."""
    auth = BearerAuth(AuthConfig(bearer_token="s3cret-Token"))
    assert BearerAuth(AuthConfig(bearer_token="#hash")).allows("Bearer #hash")  # literal: no comment rule
    assert auth.allows("Bearer s3cret-Token")
    assert auth.allows("bearer s3cret-Token ")
    assert auth.allows("BEARER  s3cret-Token")
    for bad in (None, "", "Bearer", "Bearer ", "s3cret-Token", "Basic s3cret-Token", "Bearer s3cret-token",
                "Bearer s3cret-Token2", "Bearer s3cret", "Bearer \u00e9t\u00e9", "Token s3cret-Token"):  # fmt: skip
        assert not auth.allows(bad), bad


def test_every_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison is hmac.compare_digest against every accepted token, without stopping at a match."""
    calls: list[tuple[bytes, bytes]] = []
    real = _auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(_auth.hmac, "compare_digest", spy)
    auth = BearerAuth(AuthConfig(bearer_token="one"))
    auth._tokens = (b"one", b"two")  # as a two-line token file gives
    assert auth.allows("Bearer one")
    assert calls == [(b"one", b"one"), (b"one", b"two")]


def test_token_file_rotation_is_picked_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A rewritten token file is read again (within a second); two lines accept both tokens during a roll-over."""
    path = tmp_path / "token"
    path.write_text("old-token\n")
    clock = Clock()
    auth = BearerAuth(AuthConfig(bearer_token_file=str(path)), clock=clock)
    assert auth.allows("Bearer old-token") and not auth.allows("Bearer new-token")

    _write(path, "# rolling over\nnew-token\nold-token\n")
    assert not auth.allows("Bearer new-token")  # not looked at again within the same second
    clock.now += 1.5
    assert auth.allows("Bearer new-token") and auth.allows("Bearer old-token")
    assert not auth.allows("Bearer # rolling over") and not auth.allows("Bearer rolling")

    _write(path, "new-token")
    clock.now += 1.5
    assert auth.allows("Bearer new-token") and not auth.allows("Bearer old-token")


def test_a_broken_token_file_keeps_the_previous_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An emptied or removed file leaves the last good token in force, with a warning; a new file is read."""
    path = tmp_path / "token"
    path.write_text("good\n")
    clock = Clock()
    auth = BearerAuth(AuthConfig(bearer_token_file=str(path)), clock=clock)
    with caplog.at_level(logging.WARNING):
        _write(path, "\n\n")
        clock.now += 2
        assert auth.allows("Bearer good")
        path.unlink()
        clock.now += 2
        assert auth.allows("Bearer good")
    assert sum("still accepting the previous token" in r.getMessage() for r in caplog.records) == 2
    path.write_text("better\n")
    clock.now += 2
    assert auth.allows("Bearer better") and not auth.allows("Bearer good")


def test_token_file_must_hold_a_token_at_start(tmp_path: Path) -> None:
    """An empty token file, or one of comments only, stops start-up naming the key."""
    path = tmp_path / "token"
    path.write_text("# nothing yet\n\n")
    with pytest.raises(ConfigError, match=r"receivers\.auth\.bearer_token_file: .* holds no token"):
        BearerAuth(AuthConfig(bearer_token_file=str(path)))


def test_unauthorized_answer_follows_otlp_http() -> None:
    """401, a Bearer challenge (invalid_token when one was sent), a google.rpc.Status UNAUTHENTICATED body."""
    status, headers, body, content_type = http_unauthorized(presented=False, as_json=False)
    assert status == 401 and content_type == "application/x-protobuf"
    assert headers == {"WWW-Authenticate": 'Bearer realm="otel-mlmon-collector"'}
    message = status_pb2.Status.FromString(body)
    assert message.code == 16 and "Authorization: Bearer" in message.message
    status, headers, body, content_type = http_unauthorized(presented=True, as_json=True)
    assert headers["WWW-Authenticate"].endswith('error="invalid_token"')
    assert content_type == "application/json" and b'"code": 16' in body


# ----------------------------------------------------------------------------------------------- configuration


def _receivers(auth: object, env: dict[str, str] | None = None) -> ReceiversConfig:
    return parse_config({"receivers": {"auth": auth}}, env=env or {}).receivers


def test_config_takes_a_token_or_a_token_file(tmp_path: Path) -> None:
    """receivers.auth holds exactly one of bearer_token and bearer_token_file (an existing file)."""
    assert parse_config({}, env={}).receivers.auth is None
    assert _receivers({"bearer_token": "abc"}).auth == AuthConfig(bearer_token="abc")
    path = tmp_path / "token"
    path.write_text("abc\n")
    assert _receivers({"bearer_token_file": str(path)}).auth == AuthConfig(bearer_token_file=str(path))
    with pytest.raises(ConfigError, match=r"receivers\.auth: set exactly one"):
        _receivers({"bearer_token": "abc", "bearer_token_file": str(path)})
    with pytest.raises(ConfigError, match=r"receivers\.auth: set exactly one"):
        _receivers({})
    with pytest.raises(ConfigError, match=r"receivers\.auth\.bearer_token_file: no such file"):
        _receivers({"bearer_token_file": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match=r"receivers\.auth\.bearer_token: must not be empty"):
        _receivers({"bearer_token": "  "})
    with pytest.raises(ConfigError, match=r"receivers\.auth\.token: unknown key"):
        _receivers({"token": "abc"})


def test_config_token_from_the_environment(tmp_path: Path) -> None:
    """``${env:...}`` gives a literal token; OTEL_MLMON_COLLECTOR_BEARER_TOKEN_FILE overrides the file's auth."""
    auth = parse_config({"receivers": {"auth": {"bearer_token": "${env:MY_TOKEN}"}}}, env={"MY_TOKEN": "t0k"})
    assert auth.receivers.auth == AuthConfig(bearer_token="t0k")
    path = tmp_path / "token"
    path.write_text("abc\n")
    overridden = _receivers({"bearer_token": "abc"}, env={ENV_BEARER_TOKEN_FILE: str(path)})
    assert overridden.auth == AuthConfig(bearer_token_file=str(path))
    assert parse_config({}, env={ENV_BEARER_TOKEN_FILE: str(path)}).receivers.auth is not None
    assert parse_config({}, env={ENV_BEARER_TOKEN_FILE: ""}).receivers.auth is None
    # a bad value does not fall back to accepting everyone
    with pytest.raises(ConfigError, match=ENV_BEARER_TOKEN_FILE):
        parse_config({}, env={ENV_BEARER_TOKEN_FILE: str(tmp_path / "missing")})


def test_plaintext_listeners_beyond_loopback_without_auth_are_warned_about(tmp_path: Path) -> None:
    """Binding 0.0.0.0 without TLS or a token gives a warning naming the addresses; loopback or auth does not."""

    def receivers(**extra: object) -> ReceiversConfig:
        data = {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "127.0.0.1:4318"}, **extra}
        return parse_config({"receivers": data}, env={}).receivers

    warning = exposure_warning(receivers())
    assert warning is not None and "0.0.0.0:4317" in warning and "4318" not in warning
    assert exposure_warning(receivers(auth={"bearer_token": "x"})) is None
    assert exposure_warning(parse_config({}, env={}).receivers) is None
    assert exposure_warning(receivers(grpc={"enabled": False, "endpoint": "0.0.0.0:4317"})) is None


def test_aio_interceptor_guards_a_grpc_aio_server() -> None:
    """On a real grpc.aio server (stream-unary raw-bytes handler): no token → UNAUTHENTICATED, counted, handler
    not run; the right token → the handler runs; another service still gets UNIMPLEMENTED."""
    import asyncio

    import grpc
    from otel_mlmon_collector._otlp import spec_for
    from otel_mlmon_collector._receivers._auth import grpc_aio_interceptor
    from otel_mlmon_collector._selfmetrics import SelfMetrics

    metrics = SelfMetrics()
    calls: list[bytes] = []
    spec = spec_for("logs")

    async def export(messages, context):  # type: ignore[no-untyped-def]
        async for message in messages:
            calls.append(message)
        return spec.response_class()

    async def scenario() -> list[grpc.StatusCode]:
        server = grpc.aio.server(interceptors=[grpc_aio_interceptor(BearerAuth(AuthConfig("t0k")), metrics)])
        handler = grpc.stream_unary_rpc_method_handler(
            export, response_serializer=spec.response_class.SerializeToString
        )
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(spec.grpc_service, {"Export": handler})]
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        codes = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                for path, metadata in (
                    (spec.grpc_method, ()),
                    (spec.grpc_method, (("authorization", "Bearer nope"),)),
                    (spec.grpc_method, (("authorization", "Bearer t0k"),)),
                    ("/other.Service/Method", ()),
                ):
                    try:
                        await channel.unary_unary(path)(b"payload", metadata=metadata, timeout=10)
                        codes.append(grpc.StatusCode.OK)
                    except grpc.aio.AioRpcError as e:
                        codes.append(e.code())
        finally:
            await server.stop(None)
        return codes

    codes = asyncio.run(scenario())
    assert codes == [
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.OK,
        grpc.StatusCode.UNIMPLEMENTED,
    ]
    assert calls == [b"payload"]
    refused = [
        (point.as_int, {a.key: a.value.string_value for a in point.attributes})
        for metric in metrics.to_request().decoded().resource_metrics[0].scope_metrics[0].metrics
        if metric.name == conv.METRIC_COLLECTOR_REQUESTS_REFUSED
        for point in metric.sum.data_points
    ]
    assert refused == [(2, {"reason": "unauthenticated", "signal": "logs", "transport": "grpc"})]
