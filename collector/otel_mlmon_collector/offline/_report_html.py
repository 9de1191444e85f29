"""A drift report as one self-contained HTML file: readable offline, attachable to a ticket, fast at 1 000 columns.

No script, font or style is fetched from anywhere: the styles are inline and every distribution is an inline SVG
drawn from the sketches the engine compared (histograms for numeric columns, paired bars for categories). A
checkbox (pure CSS) hides the columns without drift. One report renders every column with its chart; a replay
renders a timeline of windows, then each window's table, with charts for the drifted columns only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np

from otel_mlmon._version import __version__
from otel_mlmon.conventions import VECTOR_NORM, descriptor_name
from otel_mlmon.summary import ColumnSummary, Summary

__all__ = ["column_chart", "render_reports"]

# Reports are read by attribute (a DriftReport and its ColumnFindings), not imported: compare.py imports this
# module to render, so importing it back would make a cycle.
DriftReport = Any
ColumnFinding = Any

_BINS = 32
_MAX_CATEGORIES = 12
_W, _H = 280, 84
_REF, _CUR = "#9aa5b1", "#d9480f"
_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1f2933}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px}
.verdict{font-size:16px;padding:10px 14px;border-radius:6px;margin:10px 0}
.bad{background:#fde8e4;border-left:5px solid #c92a2a}.good{background:#e6f4ea;border-left:5px solid #2b8a3e}
.meta td{padding:1px 12px 1px 0}.meta td:first-child{color:#52606d}
table.cols{border-collapse:collapse;width:100%}table.cols th{text-align:left;border-bottom:2px solid #cbd2d9;
padding:4px 8px;position:sticky;top:0;background:#fff}table.cols td{border-bottom:1px solid #e4e7eb;padding:4px 8px;
vertical-align:middle}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.tag{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}
.tag.drift{background:#c92a2a;color:#fff}.tag.ok{background:#e4e7eb}.tag.na{background:#fff3bf}
.reason{color:#52606d;font-size:12px;max-width:360px}.legend span{display:inline-block;width:10px;height:10px;
margin:0 4px 0 12px}#only:checked~section tr.ok,#only:checked~section tr.na{display:none}
svg text{font:10px system-ui,sans-serif;fill:#52606d}
"""


def render_reports(reports: Sequence[DriftReport], title: str) -> str:
    """The HTML document for one report, or for a replay's reports (one per window, in time order)."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    if not reports:
        parts.append("<p class='verdict good'>No window held data: nothing was compared.</p></body></html>")
        return "".join(parts)
    first = reports[0]
    if len(reports) == 1 and first.window is None:
        parts.append(_summary(first))
        parts.append(_controls())
        parts.append(f"<section id='columns'>{_table(first, charts=True)}</section>")
    else:
        parts.append(_timeline(reports))
        parts.append(_controls())
        for i, report in enumerate(reports):
            start, end = report.window or (math.nan, math.nan)
            parts.append(
                f"<section id='window-{i}'><h2>Window {escape(_iso(start))} – {escape(_iso(end))}</h2>"
                f"<div class='verdict {'bad' if report.drifted else 'good'}'>{escape(report.verdict())}</div>"
                f"{_table(report, charts='drifted')}</section>"
            )
    parts.append(
        f"<p class='reason'>otel-mlmon {escape(__version__)} drift engine; generated "
        f"{escape(dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))}.</p></body></html>"
    )
    return "".join(parts)


def _summary(report: DriftReport) -> str:
    checked = sum(1 for c in report.columns if c.drifted is not None)
    drifted = report.drifted_columns
    rows = [
        ("model", f"{report.model}" + (f" version {report.version}" if report.version else "")),
        ("reference", f"{report.reference.label}: {report.reference.summary.rows:,} rows"),
        ("current", f"{report.current.label}: {report.current.summary.rows:,} rows"),
        ("columns", f"{len(drifted)} of {checked} drifted; {len(report.columns)} compared"),
        ("drifted", ", ".join(drifted) if drifted else "none"),
        ("correction", report.config.correction),
    ]
    unmatched = [
        f"{u.target}: {len(u.live_only)} only in current, {len(u.reference_only)} only in reference"
        for u in report.unmatched
        if u.live_only or u.reference_only
    ]
    if unmatched:
        rows.append(("not compared", "; ".join(unmatched)))
    meta = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    return (
        f"<div class='verdict {'bad' if report.drifted else 'good'}'>{escape(report.verdict())}</div>"
        f"<table class='meta'>{meta}</table>"
    )


def _timeline(reports: Sequence[DriftReport]) -> str:
    hit = sum(1 for r in reports if r.drifted)
    head = (
        f"<div class='verdict {'bad' if hit else 'good'}'>{hit} of {len(reports)} windows drifted; reference "
        f"{escape(reports[0].reference.label)}: {reports[0].reference.summary.rows:,} rows</div>"
    )
    rows = "".join(
        f"<tr class='{'drift' if r.drifted else 'ok'}'><td><a href='#window-{i}'>"
        f"{escape(_iso(r.window[0] if r.window else math.nan))}</a></td>"
        f"<td class='num'>{r.current.summary.rows:,}</td>"
        f"<td class='num'>{len(r.drifted_columns)}</td><td>{_tag(r.drifted)}</td>"
        f"<td>{escape(', '.join(r.drifted_columns[:10]))}</td></tr>"
        for i, r in enumerate(reports)
    )
    return (
        f"{head}<h2>Windows</h2><table class='cols'><tr><th>window start (UTC)</th><th>rows</th>"
        f"<th>drifted</th><th>decision</th><th>columns</th></tr>{rows}</table>"
    )


def _controls() -> str:
    return (
        "<input type='checkbox' id='only'><label for='only'> show drifted columns only</label>"
        f"<span class='legend'><span style='background:{_REF}'></span>reference"
        f"<span style='background:{_CUR}'></span>current</span>"
    )


def _table(report: DriftReport, charts: bool | str) -> str:
    head = (
        "<table class='cols'><tr><th>column</th><th>kind</th><th>method</th><th>score</th><th>threshold</th>"
        "<th>p-value</th><th>n ref</th><th>n cur</th><th>decision</th><th>distributions</th></tr>"
    )
    rows = [head]
    engine = report.engine_columns or [None] * len(report.columns)
    for finding, column in zip(report.columns, engine):
        draw = charts is True or (charts == "drifted" and finding.drifted)
        chart = ""
        if draw and column is not None:
            ref = _column(report.reference.summary, column.target, column.name)
            cur = _column(report.current.summary, column.target, column.name)
            chart = column_chart(ref, cur)
        rows.append(_row(finding, chart))
    rows.append("</table>")
    return "".join(rows)


def _row(c: ColumnFinding, chart: str) -> str:
    state = "drift" if c.drifted else ("na" if c.drifted is None else "ok")
    name = c.name if c.target == "feature" else f"{c.target}: {c.name}"
    p = "" if c.p_value is None else f"{c.p_value:.3g}"
    return (
        f"<tr class='{state}' data-column='{escape(c.name)}'><td><b>{escape(name)}</b></td>"
        f"<td>{c.kind}</td><td>{escape(c.method)}</td><td class='num'>{_num(c.score)}</td>"
        f"<td class='num'>{_num(c.threshold)}</td><td class='num'>{p}</td><td class='num'>{c.n_reference:,}</td>"
        f"<td class='num'>{c.n_current:,}</td><td>{_tag(c.drifted)}<div class='reason'>{escape(c.reason)}</div>"
        f"</td><td>{chart}</td></tr>"
    )


def _column(summary: Summary, target: str, name: Any) -> ColumnSummary | None:
    section = {"feature": summary.features, "output": summary.outputs, "confidence": summary.confidence}
    found = section[target].get(name)  # type: ignore[attr-defined]
    if found is None and target == "feature" and name in summary.vectors:  # a vector column: chart its norm
        found = dict(summary.vector_columns()).get(descriptor_name(name, VECTOR_NORM))
    if found is None and target == "output" and name in summary.output_vectors:  # a vector output: its norm
        found = dict(summary.vector_columns(outputs=True)).get(descriptor_name(name, VECTOR_NORM))
    return found


def column_chart(reference: ColumnSummary | None, current: ColumnSummary | None) -> str:
    """An inline SVG of the two sides' distributions: shares per bin (numeric) or per category."""
    if reference is None or current is None or reference.count == 0 or current.count == 0:
        return "<span class='reason'>no values on one side</span>"
    if reference.numeric is not None and current.numeric is not None:
        labels, ref, cur = _numeric_shares(reference, current)
        return _bars(ref, cur, labels, paired=False)
    if reference.categorical is not None and current.categorical is not None:
        labels, ref, cur = _category_shares(reference, current)
        return _bars(ref, cur, labels, paired=True)
    return "<span class='reason'>kinds differ</span>"


def _numeric_shares(
    reference: ColumnSummary, current: ColumnSummary
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Shares of each side in ``_BINS`` equal bins over the central 98 % of both sides (tails in the end bins).

    The CDF of each sketch is interpolated linearly inside its buckets: one ``bucket_edges`` call per side
    (the sketch's own ``quantile``/``cdf`` interpolate geometrically but rebuild the edges per call, which
    dominated the report's time at 1 000 columns; a chart does not need that precision).
    """
    knots = [_cdf_knots(reference), _cdf_knots(current)]
    lo = min(float(np.interp(0.01, y, x)) for x, y in knots)
    hi = max(float(np.interp(0.99, y, x)) for x, y in knots)
    if hi <= lo:
        lo, hi = lo - 0.5, lo + 0.5
    edges = np.linspace(lo, hi, _BINS + 1)
    shares = []
    for x, y in knots:
        cdf = np.interp(edges, x, y)
        cdf[0], cdf[-1] = 0.0, 1.0  # tails go into the first and last bins
        shares.append(np.clip(np.diff(cdf), 0.0, None))
    return [_num(lo), _num(hi)], shares[0], shares[1]


def _cdf_knots(column: ColumnSummary) -> tuple[np.ndarray, np.ndarray]:
    """``(values, cumulative shares)`` at the sketch's bucket bounds, clipped to its ``[min, max]``."""
    sketch = column.numeric
    _, upper, counts = sketch.bucket_edges()
    low, high = float(sketch.min), float(sketch.max)
    x = np.clip(np.concatenate(([low], upper)), low, high)
    y = np.concatenate(([0.0], np.cumsum(counts, dtype=np.float64))) / max(float(sketch.count), 1.0)
    return x, np.minimum(y, 1.0)


def _category_shares(
    reference: ColumnSummary, current: ColumnSummary
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Shares of the categories most frequent on either side (at most ``_MAX_CATEGORIES``, then ``other``)."""
    r, c = reference.categorical, current.categorical
    rc, cc = dict(r.top()), dict(c.top())
    weight = {k: rc.get(k, 0) / r.count + cc.get(k, 0) / c.count for k in {*rc, *cc}}
    keep = sorted(weight, key=lambda k: (-weight[k], k))[:_MAX_CATEGORIES]
    ref = np.array([rc.get(k, 0) for k in keep], dtype=np.float64) / r.count
    cur = np.array([cc.get(k, 0) for k in keep], dtype=np.float64) / c.count
    rest_r, rest_c = max(1.0 - ref.sum(), 0.0), max(1.0 - cur.sum(), 0.0)
    if rest_r > 1e-9 or rest_c > 1e-9:
        keep.append("other")
        ref, cur = np.append(ref, rest_r), np.append(cur, rest_c)
    return keep, ref, cur


def _bars(ref: np.ndarray, cur: np.ndarray, labels: list[str], paired: bool) -> str:
    """Reference and current shares: a filled histogram and an outline (numeric), paired bars per category."""
    top = float(max(ref.max(initial=0.0), cur.max(initial=0.0))) or 1.0
    plot_h = _H - 16
    n = len(ref)
    slot = _W / max(n, 1)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{_H}' role='img'>"]
    if paired:
        w = max(slot / 2 - 1, 1)
        for i in range(n):
            x = i * slot
            hr, hc = plot_h * ref[i] / top, plot_h * cur[i] / top
            title = f"{escape(labels[i])}: reference {ref[i]:.1%}, current {cur[i]:.1%}"
            out.append(
                f"<g><title>{title}</title><rect x='{x:.1f}' y='{plot_h - hr:.1f}' width='{w:.1f}' "
                f"height='{hr:.1f}' fill='{_REF}'/><rect x='{x + w:.1f}' y='{plot_h - hc:.1f}' width='{w:.1f}' "
                f"height='{hc:.1f}' fill='{_CUR}'/></g>"
            )
        shown = ", ".join(labels[:4]) + (" …" if n > 4 else "")
        out.append(f"<text x='0' y='{_H - 3}'>{escape(shown[:60])}</text>")
    else:
        # Reference filled, current as an outline on top: both stay readable where they overlap.
        for shares, paint in (
            (ref, f"fill='{_REF}'"),
            (cur, f"fill='none' stroke='{_CUR}' stroke-width='1.5'"),
        ):
            heights = plot_h - plot_h * shares / top
            steps = "".join(f"V{h:.1f}H{(i + 1) * slot:.1f}" for i, h in enumerate(heights))
            out.append(f"<path d='M0 {plot_h}{steps}V{plot_h}' {paint}/>")
        out.append(f"<text x='0' y='{_H - 3}'>{escape(labels[0])}</text>")
        out.append(f"<text x='{_W}' y='{_H - 3}' text-anchor='end'>{escape(labels[1])}</text>")
    out.append("</svg>")
    return "".join(out)


def _tag(drifted: bool | None) -> str:
    if drifted is None:
        return "<span class='tag na'>not decided</span>"
    return "<span class='tag drift'>DRIFT</span>" if drifted else "<span class='tag ok'>no drift</span>"


def _num(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else "–"


def _iso(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
