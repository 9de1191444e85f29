"""The HTML report: self-contained, every column with its distributions, and rendered by a real Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from otel_mlmon_collector.offline import compare, replay

from ._data import frame
from ._png import read_png

_REMOTE = re.compile(r"""(?:src|href)\s*=\s*['"]?(?:https?:)?//|@import|url\(\s*['"]?(?:https?:)?//""", re.I)


def _report(columns: int = 3, seed: int = 31):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, columns))
    Y = rng.normal(size=(800, columns))
    Y[:, ::7] += 0.6
    names = [f"x{i}" for i in range(columns)]  # named (f0, f1, ... would read as one unnamed vector column)
    return compare(pd.DataFrame(X, columns=names), pd.DataFrame(Y, columns=names))


def test_self_contained_with_every_column_and_its_chart(tmp_path) -> None:
    """The file loads nothing remote and holds a row and an inline SVG per column, drifted ones marked."""
    rng = np.random.default_rng(32)
    report = compare(frame(rng, 3000), frame(rng, 900, shift=0.5, swap=True))
    html = report.to_html(tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == html
    assert not _REMOTE.search(html) and "<script" not in html.lower()
    rows = re.findall(r"<tr class='(\w+)' data-column='([^']+)'>", html)
    assert sorted(name for _, name in rows) == ["age", "amount", "country", "tenure"]
    assert {name for state, name in rows if state == "drift"} == {"amount", "country"}
    assert html.count("<svg") == 4
    assert "<title>DE: reference" in html  # category bars name their category and both shares
    assert "2 of 4 columns drifted" in html


def test_a_thousand_columns_are_all_present() -> None:
    """A 1 000-column report lists every column once, each with a chart."""
    html = _report(columns=1000).to_html()
    names = re.findall(r"data-column='(x\d+)'", html)
    assert len(names) == len(set(names)) == 1000
    assert html.count("<svg") == 1000


def test_replay_report_has_a_timeline_and_charts_for_drifted_columns_only() -> None:
    """A replay's report lists every window and draws charts only where a column drifted."""
    rng = np.random.default_rng(33)
    current = pd.concat([frame(rng, 500), frame(rng, 500, shift=0.8)], ignore_index=True)
    current["t"] = np.repeat([0.0, 86400.0], 500) + 10.0
    html = replay(frame(rng, 3000), current, by="t", every="1d").to_html()
    assert html.count("id='window-") == 2 and "1 of 2 windows drifted" in html
    assert html.count("<svg") == 1


def _chromium() -> str | None:
    return (
        os.environ.get("OTEL_MLMON_CHROMIUM_BIN")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


def _run_chromium(tmp_path, page, *args: str) -> subprocess.CompletedProcess[str]:
    binary = _chromium()
    if binary is None:  # as for the backends: a silent skip in CI is not a pass
        reason = "Chromium not installed (run .ci/install-chromium or set OTEL_MLMON_CHROMIUM_BIN)"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    profile = tmp_path / "chromium-profile"
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
        page.resolve().as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.e2e
def test_chromium_renders_every_column(tmp_path) -> None:
    """Chromium's rendered DOM of a 300-column report holds every column's row and chart."""
    page = tmp_path / "report.html"
    _report(columns=300).to_html(page)
    dom = _run_chromium(tmp_path, page, "--dump-dom").stdout
    assert len(set(re.findall(r'data-column="(x\d+)"', dom))) == 300
    assert dom.count("<svg") == 300 and "DRIFT:" in dom


@pytest.mark.e2e
def test_chromium_screenshot_is_not_blank(tmp_path) -> None:
    """A screenshot of the report shows text and both sides' histograms in the chart column (not a blank page)."""
    page = tmp_path / "report.html"
    _report(columns=12).to_html(page)
    shot = tmp_path / "shot.png"
    _run_chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,800")
    pixels = read_png(shot.read_bytes())[..., :3].astype(int)
    assert pixels.shape[:2] == (800, 1200)
    ink = (pixels < 200).any(axis=2).mean()
    assert ink > 0.02, f"only {ink:.2%} of the screenshot is not white"
    charts = pixels[300:, 860:]  # the distributions column, below the summary
    r, g, b = charts[..., 0], charts[..., 1], charts[..., 2]
    current = ((r > 190) & (g > 40) & (g < 140) & (b < 90)).sum()  # the orange outline
    reference = ((abs(r - 154) < 15) & (abs(g - 165) < 15) & (abs(b - 177) < 15)).sum()  # the grey bars
    assert current > 1000 and reference > 5000, (current, reference)
