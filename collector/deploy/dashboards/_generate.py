"""Build every dashboard in every flavour as stable JSON, and write or check the committed files."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from ._panels import FLAVOURS, Flavour
from .drift import data_drift
from .inference import inference_overview
from .performance import model_performance

__all__ = ["COMMAND", "DASHBOARDS", "OUTPUT_DIR", "build_all", "main", "render"]

OUTPUT_DIR = Path(__file__).resolve().parent.parent / "grafana" / "dashboards"
#: How to regenerate the files, from the repository root.
COMMAND = "python collector/deploy/dashboards"

#: File name → builder of every dashboard (built once per flavour, into a directory of the flavour's name).
DASHBOARDS: dict[str, Callable[[Flavour], dashboard.Dashboard]] = {
    "otel-mlmon-inference.json": inference_overview,
    "otel-mlmon-drift.json": data_drift,
    "otel-mlmon-performance.json": model_performance,
}


def render(builder: dashboard.Dashboard) -> str:
    """A dashboard as stable JSON: sorted keys, panel ids numbered in order, two-space indent, final newline."""
    model = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    for number, panel in enumerate(model.get("panels", []), start=1):
        panel["id"] = number
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_all() -> dict[str, str]:
    """Relative path (``flavour/file.json``) → JSON text of every dashboard in every flavour."""
    return {
        f"{flavour.name}/{name}": render(make(flavour))
        for flavour in FLAVOURS
        for name, make in DASHBOARDS.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dashboards into ``OUTPUT_DIR`` (removing JSON files it no longer builds), or with ``--check``
    report the files that are out of date, missing or no longer built."""
    parser = argparse.ArgumentParser(
        description="Generate otel-mlmon's Grafana dashboards as code with grafana-foundation-sdk, "
        "so the JSON is never hand-edited."
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed files, write nothing"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR, help="directory of the JSON files")
    args = parser.parse_args(argv)
    built = build_all()
    leftovers = sorted(
        str(path.relative_to(args.output))
        for path in args.output.rglob("*.json")
        if str(path.relative_to(args.output)) not in built
    )
    stale = list(leftovers) if args.check else []
    if not args.check:
        for name in leftovers:
            (args.output / name).unlink()
    for name, text in built.items():
        path = args.output / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date (run {COMMAND}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0
