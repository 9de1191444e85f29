"""Back-fill into a real VictoriaMetrics: past windows' ml.drift.* gauges are stored at their own times."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import numpy as np
import pandas as pd
import pytest
from otel_mlmon_collector.offline._cli import main

from tests.collector.conftest import victoria_metrics, wait_until  # noqa: F401 - the session fixture, shared
from tests.collector.offline._data import frame

DAY = 86400


def _query_at(base_url: str, promql: str, at: float) -> list[dict]:
    url = f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql, "time": f"{at:.3f}"})
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())["data"]["result"]


@pytest.mark.e2e
def test_replay_backfills_victoria_metrics_at_the_window_ends(victoria_metrics, tmp_path, capsys) -> None:  # noqa: F811
    """otel-mlmon drift --by --every --endpoint stores each window's detection at that window's end in VM."""
    rng = np.random.default_rng(51)
    first = (
        int(time.time()) // DAY - 4
    ) * DAY  # four whole days ending at the last midnight (within retention)
    days = []
    for d in range(4):
        part = frame(rng, 500, shift=0.8 if d >= 2 else 0.0)
        part["ts"] = first + d * DAY + rng.uniform(0, DAY, 500)
        days.append(part)
    pd.concat(days).to_csv(tmp_path / "events.csv", index=False)
    frame(rng, 3000).to_csv(tmp_path / "train.csv", index=False)
    endpoint = f"{victoria_metrics.base_url}/opentelemetry"
    args = [str(tmp_path / "train.csv"), str(tmp_path / "events.csv"), "--by", "ts", "--every", "1d"]
    assert main([*args, "--model", "backfill", "--endpoint", endpoint]) == 2  # VM takes no OTLP logs (events)
    assert "unsupported path" in capsys.readouterr().err
    assert main([*args, "--model", "backfill", "--endpoint", endpoint, "--metrics-only"]) == 0
    assert "sent 4 OTLP requests" in capsys.readouterr().err
    # VictoriaMetrics keeps the OTLP names and attribute keys as they are (dots included).
    promql = 'max({__name__="ml.drift.detected", "ml.model.name"="backfill", "ml.feature.name"="amount"})'
    last_end = first + 4 * DAY + 1

    def stored() -> list[dict] | None:
        victoria_metrics.force_flush()
        return _query_at(victoria_metrics.base_url, promql, last_end) or None

    wait_until(stored, 30, 0.5, "the back-filled series in VictoriaMetrics")
    seen = []
    for d in range(4):
        result = _query_at(victoria_metrics.base_url, promql, first + (d + 1) * DAY + 1)
        seen.append(float(result[0]["value"][1]) if result else None)
    assert seen == [0.0, 0.0, 1.0, 1.0]
