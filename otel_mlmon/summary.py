"""Summaries of feature and prediction columns: one mergeable sketch per column, plus missing counts.

A :class:`Summary` is what both halves of otel-mlmon share: the SDK builds one per export interval from sampled
predict calls and exports it as OTLP metrics; a reference :class:`~otel_mlmon.profile.Profile` is a Summary of the
training data saved to a file; the collector rebuilds Summaries from the OTLP points and compares the two.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping
from typing import Any

import numpy as np

from otel_mlmon._class_probability import add_class_probability
from otel_mlmon._confidence import add_confidence, confidence_entries, read_confidence
from otel_mlmon._faults import report_fault
from otel_mlmon._feature_columns import feature_columns, string_columns
from otel_mlmon._kinds import KindRule
from otel_mlmon._parallel import map_columns
from otel_mlmon._vector_columns import is_vector, output_columns, vector_matrix
from otel_mlmon.adapters import Column, Outputs, Table
from otel_mlmon.adapters._matrix import MatrixTable
from otel_mlmon.conventions import VECTOR_COLUMN, VECTOR_NORM, VOCABULARY, descriptor_name
from otel_mlmon.sketch import CategoricalSketch, ExponentialHistogram
from otel_mlmon.sketch.categorical import DEFAULT_CAPACITY
from otel_mlmon.sketch.columns import nonfinite, nonfinite_columns, update_columns
from otel_mlmon.sketch.vector import Projection, VectorSketch
from otel_mlmon.sketch.vocabulary import DEFAULT_BUCKETS, VocabularySketch

__all__ = ["ColumnSummary", "Summary", "SummaryConfig"]

_logger = logging.getLogger("otel_mlmon")


class SummaryConfig:
    """Sizes of the sketches a summary builds (the same for the SDK and reference profiles).

    Args:
        max_size: Buckets per sign of each numeric exponential histogram (OTel default 160).
        max_categories: Classes per output with a confidence histogram of their own; further classes share
            ``__other__``. Also the most classes a probability output may have for its per-class
            ``class_probability`` histograms (one per class; none for wider outputs).
        category_capacity: Distinct categories a categorical column counts exactly (per interval); past that the
            sketch keeps this many with per-category error bounds (:class:`~otel_mlmon.sketch.CategoricalSketch`).
        max_columns: Columns summarised per input (after text and vector columns became descriptor columns);
            further columns are left out, counted as ``columns_dropped`` faults and logged once (bounds series
            cardinality).
        max_length: Categorical values are truncated to this many characters.
        hash_salt: When set, categorical values are replaced by a salted hash before counting (privacy).
        export_categories: Categories per categorical column exported as series of their own, the rest as
            ``__other__`` (exact: the column's total minus the exported ones). None (default): every category the
            sketch holds, which the collector needs for drift and cuts to its ``budgets.categories_per_column``
            before forwarding; set it when sending straight to a metrics backend (docs/semantic-conventions.md,
            "Category series").
        vector_min_width: An input of at least this many numeric columns without names of its own (``f0``,
            ``f1``... : a 2-D array, a tensor, a list of rows; ``0``, ``1``... : a DataFrame without column
            labels) is one vector column (``vector``), summarised by a
            :class:`~otel_mlmon.sketch.vector.VectorSketch` (seeded projections and the norm) rather than column
            by column; so is an embedding output at least this wide (:mod:`otel_mlmon._vector_columns`). None:
            never (an embedding output is then one numeric output per dimension).
        categorical, text, ids: Column names whose kind is declared instead of decided by the rule of
            :mod:`otel_mlmon._kinds` (see docs/adapters.md, "Column kinds").
        vocabulary_buckets: Hash buckets of each text column's vocabulary sketch (16 to 1024): its tokens'
            counts per bucket are exported as ``{column}.vocabulary`` (that many series at most), never the tokens
            (:class:`~otel_mlmon.sketch.vocabulary.VocabularySketch`). None: text columns get descriptors only.
        vocabulary_moments: Keep each vocabulary sketch's per-text moments (the covariance of its bucket shares,
            which calibrates the collector's test): on in reference profiles, off in the SDK, which exports counts.
        max_buffer_bytes: SDK only: bytes of sampled calls buffered for the background folder per model (an
            estimate; default 64 MiB); calls beyond it are left out and counted (``summaries_overflow``).

    The configuration also holds the kinds decided so far for its columns, so that a column keeps its kind for
    the life of the process: give each monitor its own (``monitor`` copies the one it is given).
    """

    def __init__(
        self,
        max_size: int = 160,
        max_categories: int = 32,
        max_columns: int = 256,
        max_length: int = 128,
        hash_salt: str | None = None,
        vector_min_width: int | None = 64,
        categorical: Collection[str] = (),
        text: Collection[str] = (),
        ids: Collection[str] = (),
        category_capacity: int = DEFAULT_CAPACITY,
        max_buffer_bytes: int = 64 * 2**20,
        export_categories: int | None = None,
        vocabulary_buckets: int | None = DEFAULT_BUCKETS,
        vocabulary_moments: bool = False,
    ) -> None:
        for name, value, low in (
            ("max_buffer_bytes", max_buffer_bytes, 1),
            ("max_size", max_size, 2),
            ("max_categories", max_categories, 1),
            ("max_columns", max_columns, 1),
            ("max_length", max_length, 1),
            ("category_capacity", category_capacity, 1),
        ):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if vector_min_width is not None and (
            not isinstance(vector_min_width, int)
            or isinstance(vector_min_width, bool)
            or vector_min_width < 2
        ):
            raise ValueError(f"vector_min_width must be an int >= 2 or None, got {vector_min_width!r}")
        if export_categories is not None and (
            not isinstance(export_categories, int)
            or isinstance(export_categories, bool)
            or export_categories < 1
        ):
            raise ValueError(f"export_categories must be an int >= 1 or None, got {export_categories!r}")
        self.max_size = max_size
        self.max_categories = max_categories
        self.max_columns = max_columns
        self.max_length = max_length
        self.hash_salt = hash_salt
        self.max_buffer_bytes = max_buffer_bytes
        self.category_capacity = category_capacity
        self.vector_min_width = vector_min_width
        self.export_categories = export_categories
        if vocabulary_buckets is not None:
            VocabularySketch(vocabulary_buckets)  # validates the bucket count
        self.vocabulary_buckets = vocabulary_buckets
        self.vocabulary_moments = bool(vocabulary_moments)
        self.kinds = KindRule(categorical=categorical, text=text, ids=ids)
        self._dropped_logged = False

    @property
    def categorical(self) -> frozenset[str]:
        return self.kinds.categorical

    @property
    def text(self) -> frozenset[str]:
        return self.kinds.text

    @property
    def ids(self) -> frozenset[str]:
        return self.kinds.ids

    def with_kinds(
        self, categorical: Collection[str] = (), text: Collection[str] = (), ids: Collection[str] = ()
    ) -> SummaryConfig:
        """A copy with more declared column kinds and no decided kinds (one per monitor or profile)."""
        return SummaryConfig(
            max_size=self.max_size,
            max_categories=self.max_categories,
            max_columns=self.max_columns,
            max_length=self.max_length,
            hash_salt=self.hash_salt,
            vector_min_width=self.vector_min_width,
            category_capacity=self.category_capacity,
            max_buffer_bytes=self.max_buffer_bytes,
            export_categories=self.export_categories,
            vocabulary_buckets=self.vocabulary_buckets,
            vocabulary_moments=self.vocabulary_moments,
            categorical=self.categorical | frozenset(categorical),
            text=self.text | frozenset(text),
            ids=self.ids | frozenset(ids),
        )

    def dropped(self, names: list[str]) -> None:
        """Count columns left out beyond ``max_columns`` (a fault each) and log the first time it happens."""
        for _ in names:
            report_fault("columns_dropped")
        if not self._dropped_logged:
            self._dropped_logged = True
            _logger.warning(
                "otel-mlmon: more than max_columns=%d columns; %d left out of the summaries (e.g. %r). Raise "
                "SummaryConfig(max_columns=...), or name a wide unnamed input's columns less (vector_min_width)",
                self.max_columns,
                len(names),
                names[:5],
            )

    def new_column(self, kind: str) -> ColumnSummary:
        """An empty summary for a column of ``kind`` (``numeric`` or ``categorical``)."""
        if kind == "numeric":
            return ColumnSummary(kind, numeric=ExponentialHistogram(max_size=self.max_size))
        return ColumnSummary(
            kind,
            categorical=CategoricalSketch(
                max_categories=self.category_capacity, max_length=self.max_length, hash_salt=self.hash_salt
            ),
        )


class ColumnSummary:
    """One column's sketch (numeric or categorical), missing count and, for numeric columns, ±inf count."""

    __slots__ = ("categorical", "infinite", "kind", "missing", "numeric")

    def __init__(
        self,
        kind: str,
        numeric: ExponentialHistogram | None = None,
        categorical: CategoricalSketch | None = None,
        missing: int = 0,
        infinite: int = 0,
    ) -> None:
        self.kind = kind
        self.numeric = numeric
        self.categorical = categorical
        self.missing = missing
        self.infinite = infinite

    @property
    def count(self) -> int:
        """Values summarised by the sketch (missing and infinite values excluded)."""
        sketch = self.numeric if self.numeric is not None else self.categorical
        return int(sketch.count) if sketch is not None else 0

    def update(self, values: np.ndarray) -> None:
        """Add a column's values (float64 with NaN for missing, or object with None for missing)."""
        if self.numeric is not None:
            nan, inf = nonfinite(values)
            self.missing += nan
            self.infinite += inf
            self.numeric.update(values)  # ignores non-finite values
        else:
            missing = values == None  # noqa: E711 - elementwise comparison on an object array
            n_missing = int(np.count_nonzero(missing))
            self.missing += n_missing
            self.categorical.update(values[~missing] if n_missing else values)

    def merge(self, other: ColumnSummary) -> None:
        """Add ``other`` (same kind) into this summary."""
        if other.kind != self.kind:
            raise ValueError(f"cannot merge a {other.kind} column summary into a {self.kind} one")
        if self.numeric is not None:
            self.numeric.merge(other.numeric)
        else:
            self.categorical.merge(other.categorical)
        self.missing += other.missing
        self.infinite += other.infinite

    def copy(self) -> ColumnSummary:
        """An independent copy, equal to ``ColumnSummary.from_dict(self.to_dict())`` without the round trip."""
        counts = {"missing": int(self.missing), "infinite": int(self.infinite)}
        if self.kind == "numeric":
            return ColumnSummary(self.kind, numeric=self.numeric.copy(), **counts)
        if self.kind == "categorical":
            return ColumnSummary(self.kind, categorical=self.categorical.loaded_copy(), **counts)
        return ColumnSummary.from_dict(self.to_dict())  # raises as from_dict does

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "missing": self.missing, "infinite": self.infinite}
        if self.numeric is not None:
            out["sketch"] = self.numeric.to_dict()
        else:
            out["sketch"] = self.categorical.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSummary:
        kind = data.get("kind")
        if kind == "numeric":
            return cls(kind, numeric=ExponentialHistogram.from_dict(data["sketch"]), **_counts(data))
        if kind == "categorical":
            return cls(kind, categorical=CategoricalSketch.from_dict(data["sketch"]), **_counts(data))
        raise ValueError(f"column summary kind must be 'numeric' or 'categorical', got {kind!r}")


def _counts(data: Mapping[str, Any]) -> dict[str, int]:
    return {"missing": int(data.get("missing", 0)), "infinite": int(data.get("infinite", 0))}


class Summary:
    """Per-column summaries of features, outputs and prediction confidence, and the rows they cover.

    Example:
        >>> import numpy as np
        >>> from otel_mlmon.adapters import read_features
        >>> summary = Summary()
        >>> summary.add_features(read_features(np.array([[1.0, np.nan], [2.0, 3.0]]), names=["a", "b"]))
        >>> summary.rows, summary.features["b"].missing, summary.features["a"].count
        (2, 1, 2)
    """

    def __init__(self, config: SummaryConfig | None = None) -> None:
        self.config = config or SummaryConfig()
        self.rows = 0
        self.features: dict[str, ColumnSummary] = {}
        self.outputs: dict[str, ColumnSummary] = {}
        #: (output name, predicted class) -> histogram of the max probability of the rows predicted as that class.
        #: Per class, so the collector can estimate precision and recall before labels arrive (sum = expected
        #: true positives when probabilities are calibrated). Classes beyond ``max_categories`` share ``__other__``.
        self.confidence: dict[tuple[str, str], ColumnSummary] = {}
        #: The same rows' ``1 - max probability``: fine where ``confidence`` is coarse, near 1 (_confidence.py).
        self.confidence_complement: dict[tuple[str, str], ColumnSummary] = {}
        #: (output name, class c) -> histogram of c's probability over the rows not predicted as c, for probability
        #: outputs of 3 to ``max_categories`` classes (none for binary outputs or beyond the cap;
        #: _class_probability.py).
        self.class_probability: dict[tuple[str, str], ColumnSummary] = {}
        #: Vector columns (embeddings): column -> projection sketch, exported as ``{column}.p00`` ... features.
        self.vectors: dict[str, VectorSketch] = {}
        #: Vector outputs (embeddings a model returns): output -> projection sketch, exported as ``{output}.p00`` ...
        #: outputs (docs/adapters.md, "Outputs").
        self.output_vectors: dict[str, VectorSketch] = {}
        #: Text columns: column -> hashed token counts, exported as the categorical feature ``{column}.vocabulary``.
        self.vocabularies: dict[str, VocabularySketch] = {}

    def is_empty(self) -> bool:
        return self.rows == 0 and not self.outputs and not self.output_vectors

    def _add(
        self, target: dict[str, ColumnSummary], column: Column, dropped: list[str] | None = None
    ) -> None:
        summary = self._summary_for(target, column, dropped)
        if summary is not None:
            summary.update(column.values)

    def _summary_for(
        self, target: dict[str, ColumnSummary], column: Column, dropped: list[str] | None = None
    ) -> ColumnSummary | None:
        """The summary ``column``'s values go to (made on first sight), or None when they go nowhere else: a text
        column's tokens (added here), a column beyond ``max_columns``, values of another kind (counted)."""
        if column.kind == "text" and target is self.features:  # from string_columns: a text column's values
            self._add_vocabulary(column.name, column.values)
            return None
        summary = target.get(column.name)
        if summary is None:
            if len(target) >= self.config.max_columns:
                if dropped is not None:
                    dropped.append(column.name)
                return None
            summary = target[column.name] = self.config.new_column(column.kind)
        elif summary.kind != column.kind:
            # A column whose inferred type changes between calls keeps its first kind: values that do not fit
            # are counted as missing rather than mixing two kinds of sketch under one name.
            summary.missing += len(column.values)
            return None
        return summary

    def add_features(self, table: Table) -> None:
        """Add the rows of a feature table: each column by its kind (see docs/adapters.md, "Column kinds")."""
        self.rows += table.n_rows
        matrix = vector_matrix(self.config.vector_min_width, table)
        if matrix is not None:
            self._add_vector(VECTOR_COLUMN, matrix)
            return
        dropped: list[str] = []
        if not (isinstance(table, MatrixTable) and self._add_matrix(table, dropped)):
            updates = []
            for column in feature_columns(self.config.kinds, table, self.features):
                summary = self._summary_for(self.features, column, dropped)
                if summary is not None:
                    updates.append((summary, column.values))
            _update_summaries(updates, table.n_rows)
        if dropped:
            self.config.dropped(dropped)

    def _add_matrix(self, table: MatrixTable, dropped: list[str]) -> bool:
        """A 2-D array's columns in one sweep (as :meth:`_add` per column); False for declared text or ids."""
        if any(self.config.kinds.declared(name) not in (None, "categorical") for name in table.names):
            return False
        keep, summaries = [], []
        for j, name in enumerate(table.names):
            summary = self.features.get(name)
            if summary is None:
                if len(self.features) >= self.config.max_columns:
                    dropped.append(name)
                    continue
                summary = self.features[name] = self.config.new_column("numeric")
            elif summary.kind != "numeric":  # as in _add: a column keeps its first kind
                summary.missing += table.n_rows
                continue
            keep.append(j)
            summaries.append(summary)
        floats = table.floats if len(keep) == len(table.names) else table.floats[:, keep]
        for summary, nan, inf in zip(summaries, *nonfinite_columns(floats)):
            summary.missing += nan
            summary.infinite += inf
        update_columns([summary.numeric for summary in summaries], floats)  # ignores non-finite values
        return True

    def _add_vector(self, name: str, matrix: np.ndarray, outputs: bool = False) -> None:
        target = self.output_vectors if outputs else self.vectors
        sketch = target.get(name)
        if sketch is None:
            sketch = target[name] = VectorSketch(Projection(dim=matrix.shape[1]))
        elif sketch.projection.dim != matrix.shape[1]:
            # A vector whose width changes keeps its first width: other rows are counted as missing.
            sketch.missing += matrix.shape[0]
            return
        # One layout for every source (a C or Fortran array, a strided view, float64, a table's float32 stack), so
        # the same rows give the same sketch bit for bit whichever way they came in.
        sketch.update(np.ascontiguousarray(matrix, dtype=np.float32))

    def _add_vocabulary(self, name: str, values: np.ndarray) -> None:
        sketch = self.vocabularies.get(name)
        if sketch is None:
            if self.config.vocabulary_buckets is None or len(self.vocabularies) >= self.config.max_columns:
                return
            sketch = self.vocabularies[name] = VocabularySketch(
                self.config.vocabulary_buckets, moments=self.config.vocabulary_moments
            )
        sketch.update(values)

    def vocabulary_columns(self) -> Iterator[tuple[str, ColumnSummary]]:
        """Every text column's vocabulary as the categorical feature it is exported as: ``{column}.vocabulary``,
        one category per hash bucket with tokens (``h000`` ...), counting tokens (missing texts are counted on
        the column's descriptors, not here)."""
        for name, sketch in self.vocabularies.items():
            counts = CategoricalSketch.from_counts(sketch.bucket_counts(), max_categories=sketch.buckets)
            yield descriptor_name(name, VOCABULARY), ColumnSummary("categorical", categorical=counts)

    def vector_columns(self, outputs: bool = False) -> Iterator[tuple[str, ColumnSummary]]:
        """Every vector column's exported series as numeric feature columns (``vector.p00`` ... ``vector.norm``),
        or with ``outputs`` every vector output's as numeric outputs; the missing rows are counted on the norm."""
        for name, sketch in (self.output_vectors if outputs else self.vectors).items():
            histograms = sketch.histograms()
            for descriptor, hist in histograms.items():
                missing = sketch.missing if descriptor == VECTOR_NORM else 0
                yield (
                    descriptor_name(name, descriptor),
                    ColumnSummary("numeric", numeric=hist, missing=missing),
                )

    def settle(self) -> None:
        """Decide the kind of string columns still waiting for enough values, on what they have seen, and add
        their held values: a reference profile does this once its data is read. The SDK never does: its columns
        wait for their 32 values, so that they are decided on as many values as in a profile."""
        dropped: list[str] = []
        for group, name, kind, held in self.config.kinds.settle():
            if group == "features":
                for values in held:
                    for column in string_columns(self.config.kinds, name, kind, values, guard=True):
                        self._add(self.features, column, dropped)
        if dropped:
            self.config.dropped(dropped)

    def add_outputs(self, outputs: Outputs) -> None:
        """Add predicted values/labels and, for probability outputs, the confidence (max probability) and, for
        multiclass ones, each class's probability on the rows not predicted as it.

        Output labels that look like free text or identifiers are counted as ``__other__``, never as themselves.
        """
        dropped: list[str] = []
        for column in _split_vectors(self.config.vector_min_width, outputs.table.columns):
            if column.kind == "vector":
                self._add_vector(column.name, column.values, outputs=True)
                continue
            if column.kind == "categorical":
                values = self.config.kinds.guard("outputs", column.name, column.values)
                column = Column(column.name, values, "categorical")
            self._add(self.outputs, column, dropped)
        if dropped:
            self.config.dropped(dropped)
        predicted = {column.name: column for column in outputs.table.columns}
        for name, values in outputs.confidence.items():
            values = np.asarray(values, dtype=np.float64)
            labels = predicted[name].values if name in predicted else np.full(len(values), None, dtype=object)
            add_confidence(self.config, self.confidence, self.confidence_complement, name, values, labels)
        for name, probabilities in outputs.probabilities.items():
            add_class_probability(self.config, self.class_probability, name, probabilities)

    def merge(self, other: Summary, *, consume: bool = False) -> None:
        """Add ``other`` into this summary (columns missing on one side are taken from the other).

        ``consume=True``: ``other`` is discarded afterwards, so its column summaries are taken over as they are
        instead of copied (the SDK's folds merge each partial summary this way).
        """
        self.rows += other.rows
        for mine, theirs in (
            (self.features, other.features),
            (self.outputs, other.outputs),
            (self.confidence, other.confidence),  # type: ignore[arg-type]  # keyed by (output, class)
            (self.confidence_complement, other.confidence_complement),  # type: ignore[arg-type]
            (self.class_probability, other.class_probability),  # type: ignore[arg-type]
        ):
            for name, column in theirs.items():
                if name in mine:
                    if mine[name].kind == column.kind:
                        mine[name].merge(column)
                    else:  # as in _add: a column keeps its first kind, values of another count as missing
                        mine[name].missing += column.count + column.missing + column.infinite
                elif len(mine) < self.config.max_columns:
                    mine[name] = column if consume else column.copy()
                else:
                    self.config.dropped([str(name)])
        for vectors, theirs in ((self.vectors, other.vectors), (self.output_vectors, other.output_vectors)):
            for name, sketch in theirs.items():
                mine = vectors.get(name)
                if mine is None:
                    vectors[name] = sketch if consume else VectorSketch.from_dict(sketch.to_dict())
                elif mine.projection == sketch.projection:
                    mine.merge(sketch)
                else:
                    mine.missing += sketch.count + sketch.missing
        for name, vocabulary in other.vocabularies.items():
            known = self.vocabularies.get(name)
            if known is None:
                self.vocabularies[name] = (
                    vocabulary if consume else VocabularySketch.from_dict(vocabulary.to_dict())
                )
            elif known.identity == vocabulary.identity:
                known.merge(vocabulary)
            else:  # another hash: its texts cannot be compared with these
                known.missing += vocabulary.texts + vocabulary.missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "features": {name: c.to_dict() for name, c in self.features.items()},
            "outputs": {name: c.to_dict() for name, c in self.outputs.items()},
            "confidence": confidence_entries(self.confidence),
            **(
                {"confidence_complement": confidence_entries(self.confidence_complement)}
                if self.confidence_complement
                else {}
            ),
            **(
                {"class_probability": confidence_entries(self.class_probability)}
                if self.class_probability
                else {}
            ),
            **({"vectors": {name: v.to_dict() for name, v in self.vectors.items()}} if self.vectors else {}),
            **(
                {"output_vectors": {name: v.to_dict() for name, v in self.output_vectors.items()}}
                if self.output_vectors
                else {}
            ),
            **(
                {"vocabularies": {name: v.to_dict() for name, v in self.vocabularies.items()}}
                if self.vocabularies
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], config: SummaryConfig | None = None) -> Summary:
        summary = cls(config)
        summary.rows = int(data.get("rows", 0))
        for key in ("features", "outputs"):
            target = getattr(summary, key)
            for name, column in (data.get(key) or {}).items():
                target[str(name)] = ColumnSummary.from_dict(column)
        summary.confidence = read_confidence(data.get("confidence"), ColumnSummary)
        # Absent from summaries written before it existed: estimates then read the confidence alone.
        summary.confidence_complement = read_confidence(data.get("confidence_complement"), ColumnSummary)
        summary.class_probability = read_confidence(data.get("class_probability"), ColumnSummary)  # idem: {}
        for name, vector in (data.get("vectors") or {}).items():
            summary.vectors[str(name)] = VectorSketch.from_dict(vector)
        for name, vector in (data.get("output_vectors") or {}).items():
            summary.output_vectors[str(name)] = VectorSketch.from_dict(vector)
        for name, vocabulary in (data.get("vocabularies") or {}).items():
            summary.vocabularies[str(name)] = VocabularySketch.from_dict(vocabulary)
        return summary


def _split_vectors(width: int | None, columns: tuple[Column, ...]) -> Iterator[Column]:
    """Output columns with each embedding output narrower than ``width`` (or every one, width None) split into
    one numeric column per dimension, as before vector outputs existed."""
    for column in columns:
        if column.kind == "vector" and not is_vector(width, column):
            yield from output_columns(column)
        else:
            yield column


def _update_summaries(updates: list[tuple[ColumnSummary, np.ndarray]], rows: int) -> None:
    """Each summary updated with its values; the columns of a large table on several threads (_parallel.py)."""
    if len({id(summary) for summary, _ in updates}) < len(updates):  # one summary twice: in order, one thread
        rows = 0
    map_columns(_update_one, updates, rows * len(updates))


def _update_one(update: tuple[ColumnSummary, np.ndarray]) -> None:
    update[0].update(update[1])
