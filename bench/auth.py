"""Cost of bearer-token authentication (``receivers.auth``): requests per second with it on, as a ratio to off.

Run: ``python bench/auth.py [--features 10] [--seconds 3] [--rounds 2]``. Two collectors run in this process on
loopback, identical but for ``receivers.auth`` (a token file); the same small OTLP metrics request (F
exponential-histogram points, as the SDK sends them) goes to each over HTTP and gRPC, one request at a time,
alternating off/on ``--rounds`` times so that load from elsewhere falls on both alike. Printed: requests per
second off and on, and on/off. Also the cost of one ``BearerAuth.allows`` call (token file, re-checked every
second), against a plain ``==`` of the same strings.
"""

from __future__ import annotations

import argparse
import tempfile
import timeit
from pathlib import Path
from typing import Any

import grpc
import requests
from otel_mlmon_collector._config import AuthConfig, parse_config
from otel_mlmon_collector._otlp import spec_for
from otel_mlmon_collector._receivers._auth import BearerAuth
from otel_mlmon_collector._service import Collector

from collector import _Drop, _rate, payload  # bench/ is on sys.path when run as a script

TOKEN = "a" * 64


def _collector(token_file: str | None) -> Collector:
    receivers: dict[str, Any] = {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}}
    if token_file:
        receivers["auth"] = {"bearer_token_file": token_file}
    config = parse_config(
        {
            "receivers": receivers,
            "health": {"enabled": False},
            "self_metrics": {"enabled": False},
            "queue": {"max_requests": 100_000, "max_bytes": 1 << 34},
        },
        env={},
    )
    collector = Collector(config, exporters={"drop": _Drop()})
    collector.start()
    return collector


def _rates(collector: Collector, body: bytes, seconds: float) -> tuple[float, float]:
    """(HTTP, gRPC) requests per second against ``collector``, always sending the token."""
    session = requests.Session()
    url = f"http://{collector.http_endpoint}/v1/metrics"
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {TOKEN}"}

    def post() -> None:
        assert session.post(url, data=body, headers=headers, timeout=30).status_code == 200

    http = _rate(post, seconds)
    session.close()
    with grpc.insecure_channel(collector.grpc_endpoint) as channel:
        call = channel.unary_unary(spec_for("metrics").grpc_method)
        metadata = (("authorization", f"Bearer {TOKEN}"),)
        grpc_rate = _rate(lambda: call(body, metadata=metadata, timeout=30), seconds)
    return http, grpc_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    body = payload(args.features)
    with tempfile.TemporaryDirectory() as tmp:
        token_file = Path(tmp) / "token"
        token_file.write_text(TOKEN + "\n")
        auth = BearerAuth(AuthConfig(bearer_token_file=str(token_file)))
        header = f"Bearer {TOKEN}"
        n = 200_000
        allows = min(timeit.repeat(lambda: auth.allows(header), number=n, repeat=3)) / n
        equal = min(timeit.repeat(lambda: header == header[:], number=n, repeat=3)) / n
        print(f"BearerAuth.allows: {allows * 1e6:.2f} µs per call ({allows / equal:.0f}× a plain string ==)")

        off, on = _collector(None), _collector(str(token_file))
        totals = {"off": [0.0, 0.0], "on": [0.0, 0.0]}
        try:
            for _ in range(args.rounds):
                for name, collector in (("off", off), ("on", on)):
                    http, grpc_rate = _rates(collector, body, args.seconds)
                    totals[name][0] += http / args.rounds
                    totals[name][1] += grpc_rate / args.rounds
        finally:
            off.shutdown(10)
            on.shutdown(10)
    print(f"{'transport':>9} {'auth off req/s':>15} {'auth on req/s':>14} {'on/off':>7}")
    for i, transport in enumerate(("http", "grpc")):
        a, b = totals["off"][i], totals["on"][i]
        print(f"{transport:>9} {a:>15,.0f} {b:>14,.0f} {b / a:>6.2f}×")


if __name__ == "__main__":
    main()
