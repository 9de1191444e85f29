"""``otel-mlmon drift``: the command on data files, its outputs and exit codes, registered like ``demo``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from otel_mlmon_collector.offline._cli import add_parser, main

from otel_mlmon.profile import Profile

from ._data import frame

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(41)
    paths = {
        "train": tmp_path / "train.parquet",
        "same": tmp_path / "same.csv",
        "shifted": tmp_path / "shifted.csv",
        "profile": tmp_path / "fraud.json",
    }
    reference = frame(rng, 4000).assign(label=rng.integers(0, 2, 4000))
    reference.to_parquet(paths["train"])
    frame(rng, 1000).assign(label=1).to_csv(paths["same"], index=False)
    frame(rng, 1000, shift=0.5).assign(label=0).to_csv(paths["shifted"], index=False)
    Profile.from_data(reference.drop(columns=["label"]), model="fraud", version="2").save(paths["profile"])
    return paths


def test_table_verdict_and_exit_codes(files, capsys) -> None:
    """The table lists each column with method, score, threshold, p-value, n and decision; --fail-on-drift gates."""
    assert main([str(files["train"]), str(files["same"]), "--exclude", "label", "--fail-on-drift"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "column",
        "kind",
        "method",
        "score",
        "threshold",
        "p-value",
        "n",
        "ref",
        "n",
        "cur",
        "drifted",
    ]
    assert out.strip().splitlines()[-1].startswith("no drift: 0 of 4 columns drifted")
    assert main([str(files["train"]), str(files["shifted"]), "--exclude", "label", "--fail-on-drift"]) == 1
    out = capsys.readouterr().out
    assert "DRIFT: 1 of 4 columns drifted (amount)" in out
    assert main([str(files["train"]), str(files["shifted"]), "--exclude", "label"]) == 0


def test_json_and_html_outputs(files, tmp_path, capsys) -> None:
    """--json writes the promised per-column keys with the model from the profile; --html a report file."""
    out_json, out_html = tmp_path / "drift.json", tmp_path / "drift.html"
    code = main(
        [str(files["profile"]), str(files["shifted"]), "--json", str(out_json), "--html", str(out_html)]
    )
    assert code == 0
    data = json.loads(out_json.read_text())
    assert (data["model"], data["version"], data["drifted_columns"]) == ("fraud", "2", ["amount"])
    assert data["engine_version"] and data["unmatched"] == {
        "feature": {"current": ["label"], "reference": []}
    }
    assert "<svg" in out_html.read_text(encoding="utf-8")
    assert "only in the current data" in capsys.readouterr().out


def test_config_file_drift_section(files, tmp_path, capsys) -> None:
    """--config reads the collector's drift: section: an override changes a column's method and threshold."""
    config = tmp_path / "collector.yaml"
    config.write_text("drift:\n  overrides:\n    fraud:\n      amount: {method: psi, threshold: 5.0}\n")
    code = main([str(files["profile"]), str(files["shifted"]), "--config", str(config), "--fail-on-drift"])
    assert code == 0
    cells = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("amount")).split()
    assert (cells[2], cells[4], cells[-1]) == ("psi", "5", "no")
    config.write_text("drift:\n  corection: none\n")
    assert main([str(files["profile"]), str(files["shifted"]), "--config", str(config)]) == 2
    assert "drift.corection" in capsys.readouterr().err


def test_bad_arguments_exit_2_with_a_message(files, capsys) -> None:
    """Missing files, a lone --by and an unknown event-time column exit 2 with one error line."""
    assert main([str(files["train"]), "nothing-*.csv"]) == 2
    assert "no file matches" in capsys.readouterr().err
    assert main([str(files["train"]), str(files["same"]), "--by", "timestamp"]) == 2
    assert "--by and --every go together" in capsys.readouterr().err
    assert main([str(files["train"]), str(files["same"]), "--by", "when", "--every", "1d"]) == 2
    assert "no event-time column 'when'" in capsys.readouterr().err


def test_replay_by_event_time(tmp_path, capsys) -> None:
    """--by/--every prints one line per window and flags the windows after the change."""
    rng = np.random.default_rng(42)
    days = [
        frame(rng, 500, shift=0.8 if d >= 2 else 0.0).assign(ts=f"2026-11-0{d + 1}T12:00:00Z")
        for d in range(4)
    ]
    pd.concat(days).to_csv(tmp_path / "events.csv", index=False)
    frame(rng, 3000).to_csv(tmp_path / "train.csv", index=False)
    code = main(
        [
            str(tmp_path / "train.csv"),
            str(tmp_path / "events.csv"),
            "--by",
            "ts",
            "--every",
            "1d",
            "--fail-on-drift",
        ]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert [("DRIFT in amount" in line) for line in lines[:4]] == [False, False, True, True]
    assert lines[-1].startswith("DRIFT: 2 of 4 windows drifted (first 2026-11-03T00:00:00Z)")


def test_registers_on_the_otel_mlmon_command_line(files, capsys) -> None:
    """add_parser registers 'drift' on a subparsers object as the otel_mlmon.cli entry point calls it."""
    parser = argparse.ArgumentParser(prog="otel-mlmon")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["drift", str(files["profile"]), str(files["same"]), "--fail-on-drift"])
    assert args.handler(args) == 0
    assert "no drift" in capsys.readouterr().out


def test_module_entry_point_runs_in_a_subprocess(files) -> None:
    """python -m otel_mlmon_collector.offline runs the command and exits 1 on drift with --fail-on-drift."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "collector")])}
    command = [
        sys.executable,
        "-m",
        "otel_mlmon_collector.offline",
        str(files["profile"]),
        str(files["shifted"]),
    ]
    done = subprocess.run(
        [*command, "--fail-on-drift"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "DRIFT: 1 of 4 columns drifted (amount)" in done.stdout


def test_pyproject_entry_point_names_add_parser() -> None:
    """pyproject.toml registers 'drift' in the otel_mlmon.cli group, resolving to this add_parser."""
    import importlib
    import re

    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    group = text.split('[project.entry-points."otel_mlmon.cli"]', 1)[1].split("\n[", 1)[0]
    target = re.search(r'^drift = "([^"]+)"$', group, re.M).group(1)  # tomllib needs 3.11; we support 3.10
    module, _, attribute = target.partition(":")
    assert getattr(importlib.import_module(module), attribute) is add_parser
