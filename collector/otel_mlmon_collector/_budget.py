"""Cardinality budget for category series: what reaches the metrics backends, not what the drift engine sees.

The SDK exports every category its sketch holds (up to a few thousand per column) because drift needs them; a
metrics backend should not store thousands of series per column. After the processors (drift engine, ground
truth) have seen the full request, :class:`CategoryBudget` rewrites the copy that is forwarded: per column of
``ml.feature.category.count`` and ``ml.prediction.class.count`` it keeps the top N categories and reports the rest
as ``__other__``, so every column's points still add up to its rows.

Rules (docs/collector.md, "Category budget"):

- **Membership** is per stream and column (metric, ``service.name`` and the point's attributes without the
  category), shared by the replicas of a service. Categories are ranked by a score: the rows they gained, with
  exponential decay (``category_half_life_seconds`` of point time). While fewer than N are kept, the best
  categories enter; afterwards a category enters only when its score exceeds ``category_margin`` times the
  weakest kept one's, which it replaces. Kept categories are forwarded in every request that carries the
  column, so series do not flip in and out between exports.
- **Delta temporality**: a kept category's point is its count in the interval (0 when absent); ``__other__`` is
  the exact sum of the other categories.
- **Cumulative temporality** (per series: resource, scope, metric, attributes): every forwarded series is
  monotonic. A category kept from the series' first point reports its cumulative count; one that enters later
  reports the rows it gained since it entered, with that moment as its ``start_time_unix_nano`` (OTLP's meaning
  of a cumulative point). ``__other__`` is the column's total minus the kept series, which never decreases: a
  category that leaves hands its rows to ``__other__``, one that enters takes none from it. Totals are exact
  as long as the SDK's cumulative counts only grow; a series whose start time changes or whose total
  decreases (an SDK restart) starts over.

Only the category metrics the budget changes are encoded again (and spliced into the payload as received); every
other request and metric is forwarded byte for byte.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otel_mlmon import conventions as conv

from ._config_reader import Section
from ._otlp import OtlpRequest, count_items
from ._wire import WireError, replace_metrics, replace_sum_points

__all__ = ["BudgetConfig", "CategoryBudget"]

#: Category metric → the attribute holding the category.
_LABELS = {
    conv.METRIC_FEATURE_CATEGORY_COUNT: conv.ATTR_FEATURE_CATEGORY,
    conv.METRIC_PREDICTION_CLASS_COUNT: conv.ATTR_PREDICTION_CLASS,
}
#: What the budget forwards for one category: (category, value, start time).
_Chosen = tuple[str, int, int]
_CUMULATIVE = 2  # AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
_MAX_SCORED = 4096  # categories scored per column; the weakest non-kept ones beyond are forgotten
_MAX_INDEXED = 65_536  # categories per column with a slot in the cumulative series' arrays
_MAX_COLUMNS = 20_000  # (stream, column) memberships remembered; the least recently seen beyond are forgotten
_MAX_SERIES = 100_000  # cumulative series remembered; the least recently seen beyond are forgotten
_MAX_RESOURCES = 4096  # resource keys cached by the resource's encoding


@dataclass(frozen=True)
class BudgetConfig:
    """The ``budgets:`` section: how many category series per column are forwarded to exporters.

    ``categories_per_column`` 0 forwards every category as received.
    """

    categories_per_column: int = 10
    category_margin: float = 2.0
    category_half_life_seconds: float = 3600.0

    @classmethod
    def from_section(cls, s: Section) -> BudgetConfig:
        """Read and check the section's keys (the caller calls ``done``)."""
        return cls(
            categories_per_column=s.int("categories_per_column", cls.categories_per_column, minimum=0),
            category_margin=s.float("category_margin", cls.category_margin, minimum=1.0),
            category_half_life_seconds=s.float(
                "category_half_life_seconds", cls.category_half_life_seconds, above=0.0
            ),
        )


class _Membership:
    """The kept categories of one (stream, column), with decayed scores."""

    __slots__ = ("index", "kept", "last_ns", "other_seen", "scores")

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        #: category -> its slot in every cumulative series' ``previous`` array (8 bytes per category and series)
        self.index: dict[str, int] = {}
        self.kept: dict[str, None] = {}  # insertion-ordered set
        self.last_ns = 0
        self.other_seen = False

    def observe(self, gains: dict[str, int], time_ns: int, config: BudgetConfig) -> None:
        scores = self.scores
        if self.last_ns and time_ns > self.last_ns:
            factor = 0.5 ** ((time_ns - self.last_ns) / (config.category_half_life_seconds * 1e9))
            for key in scores:
                scores[key] *= factor
        self.last_ns = max(self.last_ns, time_ns)
        for key, n in gains.items():
            if n > 0 and key != conv.OTHER_CATEGORY:
                scores[key] = scores.get(key, 0.0) + n
        self._rebalance(config)
        if len(scores) > _MAX_SCORED:
            keep = sorted((k for k in scores if k not in self.kept), key=scores.__getitem__, reverse=True)
            for key in keep[_MAX_SCORED // 2 :]:
                del scores[key]

    def _rebalance(self, config: BudgetConfig) -> None:
        scores, kept, n = self.scores, self.kept, config.categories_per_column
        if len(kept) < n:  # room left: the best categories enter
            ranked = sorted(
                (k for k in scores if k not in kept and scores[k] > 0), key=lambda k: (-scores[k], k)
            )
            for key in ranked[: n - len(kept)]:
                kept[key] = None
        while len(scores) > len(
            kept
        ):  # full: the best challenger replaces the weakest if it beats the margin
            best = max((k for k in scores if k not in kept), key=lambda k: (scores[k], k))
            weakest = min(kept, key=lambda k: (scores.get(k, 0.0), k))
            if scores[best] <= config.category_margin * scores.get(weakest, 0.0):
                break
            del kept[weakest]
            kept[best] = None


class _Series:
    """What was forwarded for one cumulative series (resource, scope, metric, attributes but the category)."""

    __slots__ = ("forwarded", "last_ns", "other", "previous", "start_ns", "total")

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.last_ns = start_ns
        self.previous = array("q")  # the SDK's last cumulative count per category, by the membership's index
        self.total = 0
        self.forwarded: dict[str, tuple[int, int]] = {}  # kept category -> (forwarded value, its start time)
        self.other = 0


def _key(attributes: Iterable[Any]) -> tuple[tuple[str, str | bytes], ...]:
    """Attributes as a hashable key: string values as text (the common case), others by their encoding."""
    parts = []
    for kv in attributes:
        value = kv.value
        text = value.string_value
        if not text and value.WhichOneof("value") != "string_value":
            text = value.SerializeToString()
        parts.append((kv.key, text))
    parts.sort()
    return tuple(parts)


def _service(resource_key: tuple[tuple[str, str | bytes], ...]) -> str | bytes:
    for key, value in resource_key:
        if key == "service.name":
            return value
    return b""


class CategoryBudget:
    """Applies the category budget to the copy of a metrics request that is forwarded (thread-safe).

    Example:
        >>> budget = CategoryBudget(BudgetConfig(categories_per_column=3))
        >>> budget.enabled
        True
    """

    def __init__(self, config: BudgetConfig | None = None) -> None:
        self.config = config or BudgetConfig()
        self._lock = threading.Lock()
        self._members: dict[tuple[Any, ...], _Membership] = {}
        self._series: dict[tuple[Any, ...], _Series] = {}
        self._resources: dict[bytes, tuple[Any, ...]] = {}

    def _resource_key(self, resource: Any) -> tuple[Any, ...]:
        """The resource's attributes as a key, cached by its encoding (a few replicas send the same resource in
        every request; encoding it in C costs far less than reading its attributes one by one)."""
        encoded = resource.SerializeToString()
        key = self._resources.pop(encoded, None)
        if key is None:
            key = _key(resource.attributes)
            if len(self._resources) >= _MAX_RESOURCES:
                del self._resources[next(iter(self._resources))]
        self._resources[encoded] = key  # least recently seen first
        return key

    @property
    def enabled(self) -> bool:
        """False when ``categories_per_column`` is 0 (everything forwarded as received)."""
        return self.config.categories_per_column > 0

    def apply(self, request: OtlpRequest) -> OtlpRequest:
        """The request to forward: ``request`` itself unless the budget changes one of its category metrics, else
        a copy whose changed metrics are re-encoded (the rest of the payload is kept byte for byte)."""
        if not self.enabled or request.signal != "metrics":
            return request
        message = request.decoded()  # read only: the processors observe it after the budget
        edits: dict[tuple[int, int, int], tuple[Any, list[Any]]] = {}
        with self._lock:
            for r, rm in enumerate(message.resource_metrics):
                resource = None
                for s, sm in enumerate(rm.scope_metrics):
                    for m, metric in enumerate(sm.metrics):
                        label = _LABELS.get(metric.name)
                        if label is None or metric.WhichOneof("data") != "sum":
                            continue
                        if resource is None:
                            resource = self._resource_key(rm.resource)
                        out = self._budget(metric, label, (resource, sm.scope.name, sm.scope.version))
                        if out is not None:
                            edits[(r, s, m)] = (metric, out)
        if not edits:
            return request
        return _rewritten(request, message, edits)

    def _budget(self, metric: Any, label: str, scope: tuple[Any, ...]) -> list[Any] | None:
        """The points to forward for one category metric, or None when they are the points received."""
        points = metric.sum.data_points
        cumulative = metric.sum.aggregation_temporality == _CUMULATIVE
        groups: dict[tuple[Any, ...], tuple[Any, dict[str, int]]] = {}
        received: dict[tuple[Any, str], Any] = {}  # (column, category) -> its point
        repeated = False  # a category twice in a column is summed into one point: not forwarded as received
        for point in points:
            if point.WhichOneof("value") != "as_int":
                return None  # not what the SDK sends: forwarded as received
            category, parts = "", []
            for kv in point.attributes:
                key = kv.key
                if key == label:
                    category = kv.value.string_value
                else:
                    value = kv.value
                    text = value.string_value  # the common case; other types compare by their encoding
                    if not text and value.WhichOneof("value") != "string_value":
                        text = value.SerializeToString()
                    parts.append((key, text))
            parts.sort()
            column = tuple(parts)
            group = groups.get(column)
            if group is None:
                group = groups[column] = (point, {})
            values = group[1]
            values[category] = values.get(category, 0) + point.as_int
            repeated = repeated or received.setdefault((column, category), point) is not point
        out: list[Any] = []
        same = not repeated
        for column, (template, values) in groups.items():
            membership_key = (metric.name, _service(scope[0]), column)
            members = self._members.pop(membership_key, None) or _Membership()
            self._members[membership_key] = members  # least recently seen first, as for series
            if len(self._members) > _MAX_COLUMNS:
                del self._members[next(iter(self._members))]
            if cumulative:
                chosen = self._cumulative((metric.name, *scope, column), members, values, template)
            else:
                chosen = self._delta(members, values, template)
            for category, value, start in chosen:
                point = _point(template, label, category, value, start)
                if same:  # unchanged so far: is this the point received for that category?
                    original = received.get((column, category))
                    same = original is not None and original.as_int == value and original == point
                out.append(point)
        return None if same and len(out) == len(points) else out

    def _delta(self, members: _Membership, values: dict[str, int], template: Any) -> list[_Chosen]:
        members.observe(values, template.time_unix_nano, self.config)
        other = sum(n for category, n in values.items() if category not in members.kept)
        members.other_seen = members.other_seen or other > 0
        start = template.start_time_unix_nano
        out = [(c, values.get(c, 0), start) for c in members.kept]
        if members.other_seen:
            out.append((conv.OTHER_CATEGORY, other, start))
        return out

    def _cumulative(
        self, key: tuple[Any, ...], members: _Membership, values: dict[str, int], template: Any
    ) -> list[_Chosen]:
        start, now = template.start_time_unix_nano, template.time_unix_nano
        total = sum(values.values())
        # popped and re-inserted below, so that the dict's order is least recently seen first
        series = self._series.pop(key, None)
        if series is None or series.start_ns != start or total < series.total:
            series = _Series(start)
        fresh = not series.previous
        gains = _gains(values, members.index, series.previous)
        members.observe(gains, now, self.config)
        forwarded: dict[str, tuple[int, int]] = {}
        for category in members.kept:
            held = series.forwarded.get(category)
            if held is not None:
                forwarded[category] = (held[0] + gains.get(category, 0), held[1])
            elif fresh:
                forwarded[category] = (values.get(category, 0), start)
            else:  # entered now: the rows gained since the last point, counted from then
                forwarded[category] = (gains.get(category, 0), series.last_ns)
        series.forwarded = forwarded
        series.other = max(series.other, total - sum(v for v, _ in forwarded.values()))
        series.total, series.last_ns = total, now
        self._series[key] = series
        while len(self._series) > _MAX_SERIES:
            del self._series[next(iter(self._series))]
        out = [(c, value, since) for c, (value, since) in forwarded.items()]
        if series.other:
            out.append((conv.OTHER_CATEGORY, series.other, start))
        return out


def _gains(values: dict[str, int], index: dict[str, int], previous: array) -> dict[str, int]:
    """Rows each category gained since the previous point of a cumulative series; updates ``previous``."""
    gains: dict[str, int] = {}
    for category, n in values.items():
        i = index.get(category)
        if i is None:
            if len(index) >= _MAX_INDEXED:
                continue  # beyond the bound new categories stay in __other__ (they never score)
            i = index[category] = len(index)
        if i >= len(previous):
            previous.extend([0] * (len(index) - len(previous)))
        gains[category] = max(0, n - previous[i])
        previous[i] = n
    return gains


def _rewritten(
    request: OtlpRequest, message: Any, edits: dict[tuple[int, int, int], tuple[Any, list[Any]]]
) -> OtlpRequest:
    """``request`` with the budgeted metrics' points replaced: those metrics are re-encoded and spliced into the
    payload as received (the whole message is encoded again only if its framing is unexpected)."""
    changes = {}
    for key, (_, out) in edits.items():
        points = metrics_pb2.Sum()
        points.data_points.extend(out)
        changes[key] = partial(replace_sum_points, points=points.SerializeToString())
    try:
        payload = replace_metrics(request.payload, changes)
    except WireError:
        copy = ExportMetricsServiceRequest.FromString(request.payload)
        for (r, s, m), (_, out) in edits.items():
            points = copy.resource_metrics[r].scope_metrics[s].metrics[m].sum.data_points
            del points[:]
            points.extend(out)
        payload = copy.SerializeToString()
    items = count_items("metrics", message) + sum(
        len(out) - len(metric.sum.data_points) for metric, out in edits.values()
    )
    return OtlpRequest("metrics", payload, None, items, request.source)


def _point(template: Any, label: str, category: str, value: int, start_ns: int) -> Any:
    """A copy of ``template`` (attributes but the category, end time, flags) for ``category``."""
    point = type(template)()
    point.CopyFrom(template)
    point.ClearField("exemplars")
    for kv in point.attributes:
        if kv.key == label:
            kv.value.string_value = category
    point.as_int = value
    point.start_time_unix_nano = start_ns
    return point
