"""Every metric, attribute and span name otel-mlmon emits, in one place.

docs/semantic-conventions.md is the user-facing reference for these names; keep the two in step.
No accepted OpenTelemetry convention exists for classical ML inference (semantic-conventions #3420), so these
follow OTel naming rules: lower-case dotted names, UCUM units, ``error.type`` on failures.
"""

from __future__ import annotations

__all__ = [
    "ATTR_BATCH_SIZE",
    "ATTR_CONCEPT_DRIFT_METHOD",
    "ATTR_CONCEPT_DRIFT_SOURCE",
    "ATTR_COUNTER",
    "ATTR_DRIFT_METHOD",
    "ATTR_DRIFT_SIDE",
    "ATTR_DRIFT_TARGET",
    "ATTR_ERROR_TYPE",
    "ATTR_FAULT",
    "ATTR_FEATURE_CATEGORY",
    "ATTR_FEATURE_NAME",
    "ATTR_GENAI_OPERATION_NAME",
    "ATTR_GENAI_PROVIDER_NAME",
    "ATTR_GENAI_REQUEST_MODEL",
    "ATTR_GENAI_RESPONSE_TIME_TO_FIRST_CHUNK",
    "ATTR_GENAI_TOKEN_TYPE",
    "ATTR_GENAI_USAGE_INPUT_TOKENS",
    "ATTR_GENAI_USAGE_OUTPUT_TOKENS",
    "ATTR_GROUND_TRUTH_CLASS",
    "ATTR_GROUND_TRUTH_VALUE",
    "ATTR_MODEL_NAME",
    "ATTR_MODEL_VERSION",
    "ATTR_OPERATION",
    "ATTR_OUTPUT_NAME",
    "ATTR_PERFORMANCE_DIRECTION",
    "ATTR_PERFORMANCE_METRIC",
    "ATTR_PREDICTION_CLASS",
    "ATTR_PREDICTION_CLASSES",
    "ATTR_PREDICTION_CONFIDENCE",
    "ATTR_PREDICTION_ID",
    "ATTR_PREDICTION_PROBABILITIES",
    "ATTR_PREDICTION_VALUE",
    "ATTR_STAGE",
    "ATTR_STORE",
    "ATTR_WINDOW_END",
    "ATTR_WINDOW_SECONDS",
    "ATTR_WINDOW_START",
    "BATCH_SIZE_BUCKETS",
    "DESCRIPTOR_SEPARATOR",
    "DURATION_BUCKETS",
    "EVENT_CONCEPT_DRIFT",
    "EVENT_DRIFT_CHANGED",
    "EVENT_GROUND_TRUTH",
    "EVENT_PERFORMANCE_CHANGED",
    "EVENT_PREDICTION",
    "GENAI_DURATION_BUCKETS",
    "GENAI_TOKEN_USAGE_BUCKETS",
    "MESSAGES_COLUMN",
    "METRIC_BATCH_SIZE",
    "METRIC_COLLECTOR_DRIFT_WINDOWS",
    "METRIC_COLLECTOR_ITEMS_FORWARDED",
    "METRIC_COLLECTOR_ITEMS_RECEIVED",
    "METRIC_COLLECTOR_ITEMS_REJECTED",
    "METRIC_COLLECTOR_PROCESSOR_ERRORS",
    "METRIC_COLLECTOR_QUEUE_BYTES",
    "METRIC_COLLECTOR_QUEUE_CAPACITY",
    "METRIC_COLLECTOR_QUEUE_RECOVERED",
    "METRIC_COLLECTOR_QUEUE_SIZE",
    "METRIC_COLLECTOR_REQUESTS_DROPPED",
    "METRIC_COLLECTOR_REQUESTS_FORWARDED",
    "METRIC_COLLECTOR_REQUESTS_RECEIVED",
    "METRIC_COLLECTOR_REQUESTS_REFUSED",
    "METRIC_COLLECTOR_REQUESTS_REJECTED",
    "METRIC_COLLECTOR_REQUESTS_RETRIED",
    "METRIC_COLLECTOR_STORE_FAILURES",
    "METRIC_COLLECTOR_STREAM_FAILURES",
    "METRIC_CONCEPT_DRIFT_DETECTED",
    "METRIC_DRIFT_COLUMNS_UNMATCHED",
    "METRIC_DRIFT_DETECTED",
    "METRIC_DRIFT_P_VALUE",
    "METRIC_DRIFT_REFERENCE_MISSING",
    "METRIC_DRIFT_SAMPLE_SIZE",
    "METRIC_DRIFT_SCORE",
    "METRIC_DRIFT_SHARE",
    "METRIC_DRIFT_THRESHOLD",
    "METRIC_DURATION",
    "METRIC_FEATURE_CATEGORY_COUNT",
    "METRIC_FEATURE_DISTRIBUTION",
    "METRIC_FEATURE_INFINITE",
    "METRIC_FEATURE_MISSING",
    "METRIC_GENAI_OPERATION_DURATION",
    "METRIC_GENAI_TIME_PER_OUTPUT_CHUNK",
    "METRIC_GENAI_TIME_TO_FIRST_CHUNK",
    "METRIC_GENAI_TOKEN_USAGE",
    "METRIC_GROUND_TRUTH_RECORDS",
    "METRIC_LABEL_COVERAGE",
    "METRIC_LABEL_DELAY",
    "METRIC_LABEL_DELAY_MAX",
    "METRIC_MODEL_AGE",
    "METRIC_PERFORMANCE_ACCURACY",
    "METRIC_PERFORMANCE_CHANGE",
    "METRIC_PERFORMANCE_CONFUSION",
    "METRIC_PERFORMANCE_ESTIMATED_ACCURACY",
    "METRIC_PERFORMANCE_ESTIMATED_F1",
    "METRIC_PERFORMANCE_ESTIMATED_F1_MACRO",
    "METRIC_PERFORMANCE_ESTIMATED_MAE",
    "METRIC_PERFORMANCE_ESTIMATED_PRECISION",
    "METRIC_PERFORMANCE_ESTIMATED_PRECISION_MACRO",
    "METRIC_PERFORMANCE_ESTIMATED_PREDICTED",
    "METRIC_PERFORMANCE_ESTIMATED_PREFIX",
    "METRIC_PERFORMANCE_ESTIMATED_RECALL",
    "METRIC_PERFORMANCE_ESTIMATED_RECALL_MACRO",
    "METRIC_PERFORMANCE_ESTIMATED_RMSE",
    "METRIC_PERFORMANCE_ESTIMATED_ROC_AUC",
    "METRIC_PERFORMANCE_ESTIMATED_STDERR",
    "METRIC_PERFORMANCE_ESTIMATION_GAP",
    "METRIC_PERFORMANCE_ESTIMATION_GAP_Z",
    "METRIC_PERFORMANCE_F1",
    "METRIC_PERFORMANCE_F1_MACRO",
    "METRIC_PERFORMANCE_LABELLED",
    "METRIC_PERFORMANCE_LABEL_COVERAGE",
    "METRIC_PERFORMANCE_LABEL_DELAY_MAX",
    "METRIC_PERFORMANCE_LABEL_DELAY_MEAN",
    "METRIC_PERFORMANCE_LOG_LOSS",
    "METRIC_PERFORMANCE_MAE",
    "METRIC_PERFORMANCE_MAPE",
    "METRIC_PERFORMANCE_MEAN_ERROR",
    "METRIC_PERFORMANCE_PRECISION",
    "METRIC_PERFORMANCE_PRECISION_MACRO",
    "METRIC_PERFORMANCE_PREDICTED",
    "METRIC_PERFORMANCE_PREFIX",
    "METRIC_PERFORMANCE_RECALL",
    "METRIC_PERFORMANCE_RECALL_MACRO",
    "METRIC_PERFORMANCE_REFERENCE",
    "METRIC_PERFORMANCE_REFERENCE_LOWER",
    "METRIC_PERFORMANCE_REFERENCE_UPPER",
    "METRIC_PERFORMANCE_RMSE",
    "METRIC_PERFORMANCE_ROC_AUC",
    "METRIC_PERFORMANCE_WINDOW_END",
    "METRIC_PERFORMANCE_WINDOW_START",
    "METRIC_PREDICTIONS",
    "METRIC_PREDICTION_CLASS_COUNT",
    "METRIC_PREDICTION_CLASS_PROBABILITY",
    "METRIC_PREDICTION_CONFIDENCE",
    "METRIC_PREDICTION_CONFIDENCE_COMPLEMENT",
    "METRIC_PREDICTION_DISTRIBUTION",
    "METRIC_PREDICTION_MISSING",
    "METRIC_SDK_FAULTS",
    "METRIC_SUMMARY_ROWS",
    "NAMESPACE",
    "OTHER_CATEGORY",
    "SCHEMA_VERSION",
    "SCOPE_NAME",
    "SUMMARY_METRICS",
    "TOKEN_TYPE_INPUT",
    "TOKEN_TYPE_OUTPUT",
    "VECTOR_COLUMN",
    "VECTOR_NORM",
    "VECTOR_PROJECTION_PREFIX",
    "VOCABULARY",
    "VOCABULARY_BUCKET_PREFIX",
    "descriptor_name",
    "vector_sketch_descriptors",
    "vocabulary_bucket",
]

#: The prefix every ``ml.*`` name starts with (metrics, attributes, events).
NAMESPACE = "ml."
#: Version of these conventions; bumped on any rename.
SCHEMA_VERSION = "0.1"
#: Instrumentation scope of everything the SDK emits.
SCOPE_NAME = "otel_mlmon"

ATTR_MODEL_NAME = "ml.model.name"
ATTR_MODEL_VERSION = "ml.model.version"
#: Which entry point of the model ran: ``predict``, ``predict_proba``, ``__call__``... (the wrapped function name).
ATTR_OPERATION = "ml.operation"
ATTR_BATCH_SIZE = "ml.batch.size"
ATTR_PREDICTION_ID = "ml.prediction.id"
ATTR_ERROR_TYPE = "error.type"
ATTR_FEATURE_NAME = "ml.feature.name"
ATTR_FEATURE_CATEGORY = "ml.feature.category"
ATTR_OUTPUT_NAME = "ml.output.name"
ATTR_PREDICTION_CLASS = "ml.prediction.class"
#: The category that holds everything outside a column's top-K.
OTHER_CATEGORY = "__other__"
#: Kind of monitoring fault on ``otel_mlmon.sdk.faults`` (``span``, ``metrics``, ``batch_size``...).
ATTR_FAULT = "otel_mlmon.fault"

#: Text and vector columns are summarised as numeric descriptor columns named ``{column}{DESCRIPTOR_SEPARATOR}
#: {descriptor}`` (``review.chars``, ``messages.user.words``, ``vector.norm``), exported like any numeric feature
#: under ``ml.feature.name``; identifier columns as ``{column}.chars``.
DESCRIPTOR_SEPARATOR = "."
#: The one column an unnamed wide numeric input (an embedding batch) is read as.
VECTOR_COLUMN = "vector"
#: Prefix of the text columns of a chat-style message list, one per role: ``messages.system``, ``messages.user``...
MESSAGES_COLUMN = "messages"


# -- Vector columns (issue 12, vector sketch) ---------------------------------------------------------------------
#: A vector column is exported as ``k + 1`` numeric features under ``ml.feature.name``: ``{column}.p00`` ...
#: ``{column}.p{k-1}`` (the rows' coordinates along ``k`` seeded projection directions, see
#: :mod:`otel_mlmon.sketch.vector`) and ``{column}.norm`` (their L2 norms); the missing count (rows with a NaN or
#: infinite component) is exported for ``{column}.norm`` only.
VECTOR_PROJECTION_PREFIX = "p"
VECTOR_NORM = "norm"


def vector_sketch_descriptors(k: int) -> tuple[str, ...]:
    """The descriptors of a vector column with ``k`` projections, in export order: ``p00`` ... then ``norm``."""
    return (*(f"{VECTOR_PROJECTION_PREFIX}{j:02d}" for j in range(k)), VECTOR_NORM)


# -- end of the vector block -----------------------------------------------------------------------------------

# -- Text vocabulary (issue 12, vocabulary sketch) ----------------------------------------------------------------
#: A text column's vocabulary sketch is exported as one categorical feature ``{column}.vocabulary`` under
#: ``ml.feature.category.count``: one point per hash bucket (``ml.feature.category`` = ``h000`` ... ``h255``),
#: valued by the tokens that fell in that bucket (see :mod:`otel_mlmon.sketch.vocabulary`). No token is ever
#: exported: a bucket label is a number.
VOCABULARY = "vocabulary"
VOCABULARY_BUCKET_PREFIX = "h"


def vocabulary_bucket(index: int) -> str:
    """The category label of hash bucket ``index`` (``7`` → ``h007``; four digits from 1000 buckets up)."""
    return f"{VOCABULARY_BUCKET_PREFIX}{index:03d}"


# -- end of the vocabulary block -----------------------------------------------------------------------------------


def descriptor_name(column: str, descriptor: str) -> str:
    """The feature name of one descriptor of a text, identifier or vector column (``review`` → ``review.chars``)."""
    return f"{column}{DESCRIPTOR_SEPARATOR}{descriptor}"


#: Log-record (event) names: sampled predictions and late labels, joined by ``ml.prediction.id`` in the collector.
EVENT_PREDICTION = "ml.prediction"
EVENT_GROUND_TRUTH = "ml.ground_truth"
#: On ``ml.prediction`` records: the predicted value (numeric outputs) or class/label (categorical outputs).
ATTR_PREDICTION_VALUE = "ml.prediction.value"
#: On ``ml.prediction`` records of probability outputs: max probability, and the per-class probabilities with
#: their class labels (parallel arrays), so the collector can compute ROC AUC and log loss.
ATTR_PREDICTION_CONFIDENCE = "ml.prediction.confidence"
ATTR_PREDICTION_PROBABILITIES = "ml.prediction.probabilities"
ATTR_PREDICTION_CLASSES = "ml.prediction.classes"
#: On ``ml.ground_truth`` records: the true value (regression) or label (classification).
ATTR_GROUND_TRUTH_VALUE = "ml.ground_truth.value"

METRIC_DURATION = "ml.inference.duration"
METRIC_PREDICTIONS = "ml.inference.predictions"
METRIC_BATCH_SIZE = "ml.inference.batch.size"
METRIC_SDK_FAULTS = "otel_mlmon.sdk.faults"
METRIC_FEATURE_DISTRIBUTION = "ml.feature.distribution"
METRIC_FEATURE_MISSING = "ml.feature.missing"
METRIC_FEATURE_INFINITE = "ml.feature.infinite"
METRIC_FEATURE_CATEGORY_COUNT = "ml.feature.category.count"
METRIC_PREDICTION_DISTRIBUTION = "ml.prediction.distribution"
METRIC_PREDICTION_CONFIDENCE = "ml.prediction.confidence"
#: One minus the max class probability, per output and predicted class like ``ml.prediction.confidence``: the same
#: rows, sketched where an exponential histogram is fine (near 0), so that confidences near 1 keep their resolution.
METRIC_PREDICTION_CONFIDENCE_COMPLEMENT = "ml.prediction.confidence_complement"
METRIC_PREDICTION_CLASS_COUNT = "ml.prediction.class.count"
#: Per output and class ``c`` (``ml.prediction.class``): the probability of ``c`` over the rows NOT predicted as
#: ``c``, for probability outputs of 3 to ``max_categories`` classes (performance estimates of multiclass models).
METRIC_PREDICTION_CLASS_PROBABILITY = "ml.prediction.class_probability"
METRIC_PREDICTION_MISSING = "ml.prediction.missing"
#: Rows that entered the summaries (after sampling and max_rows), to compare with ml.inference.predictions.
METRIC_SUMMARY_ROWS = "ml.summary.rows"

#: How each summary metric maps onto a ``Summary`` (otel_mlmon._bridge writes them, the collector reads them back):
#: metric -> (section, attribute naming the column, what a point carries, attribute naming the category). A point
#: carries an exponential histogram (``numeric``), one category's count (``categorical``), the column's
#: ``missing`` or ``infinite`` count, or the summary's ``rows``. Confidence columns are per output and, when
#: ``ml.prediction.class`` is set, per predicted class; class-probability columns per output and class.
SUMMARY_METRICS: dict[str, tuple[str | None, str | None, str, str | None]] = {
    METRIC_FEATURE_DISTRIBUTION: ("features", ATTR_FEATURE_NAME, "numeric", None),
    METRIC_PREDICTION_DISTRIBUTION: ("outputs", ATTR_OUTPUT_NAME, "numeric", None),
    METRIC_PREDICTION_CONFIDENCE: ("confidence", ATTR_OUTPUT_NAME, "numeric", None),
    METRIC_PREDICTION_CONFIDENCE_COMPLEMENT: ("confidence_complement", ATTR_OUTPUT_NAME, "numeric", None),
    METRIC_PREDICTION_CLASS_PROBABILITY: ("class_probability", ATTR_OUTPUT_NAME, "numeric", None),
    METRIC_FEATURE_MISSING: ("features", ATTR_FEATURE_NAME, "missing", None),
    METRIC_FEATURE_INFINITE: ("features", ATTR_FEATURE_NAME, "infinite", None),
    METRIC_PREDICTION_MISSING: ("outputs", ATTR_OUTPUT_NAME, "missing", None),
    METRIC_FEATURE_CATEGORY_COUNT: ("features", ATTR_FEATURE_NAME, "categorical", ATTR_FEATURE_CATEGORY),
    METRIC_PREDICTION_CLASS_COUNT: ("outputs", ATTR_OUTPUT_NAME, "categorical", ATTR_PREDICTION_CLASS),
    METRIC_SUMMARY_ROWS: (None, None, "rows", None),
}

#: Bucket bounds of ``ml.inference.duration`` in seconds: a doubling series 0.3125 ms … 81.92 s. It extends the
#: GenAI conventions' 0.01 … 81.92 s series down by five steps: classical models often answer within a millisecond.
DURATION_BUCKETS: tuple[float, ...] = tuple(0.01 * 2.0**i for i in range(-5, 14))
#: Bucket bounds of ``ml.inference.batch.size`` (rows per call): powers of two up to 65 536.
BATCH_SIZE_BUCKETS: tuple[float, ...] = tuple(float(2**i) for i in range(17))

# -- OpenTelemetry GenAI semantic conventions (status Development) -------------------------------------------------
# Names and bucket advice from open-telemetry/semantic-conventions-genai, docs/gen-ai/gen-ai-metrics.md at commit
# 004902b8cb70aa5ae6ca4ae07132b7daabcd3e10 (see docs/semantic-conventions.md for the draft renames after it).
#: Streaming calls: time from the request (the first ``next()``) to the first chunk, and per chunk after the first.
METRIC_GENAI_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_GENAI_TIME_PER_OUTPUT_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
#: Tokens per call, by ``gen_ai.token.type`` (``input`` / ``output``).
METRIC_GENAI_TOKEN_USAGE = "gen_ai.client.token.usage"
#: The call duration again under the GenAI name, only for monitors given ``genai=...`` (same data as
#: ``ml.inference.duration``).
METRIC_GENAI_OPERATION_DURATION = "gen_ai.client.operation.duration"
ATTR_GENAI_OPERATION_NAME = "gen_ai.operation.name"
ATTR_GENAI_PROVIDER_NAME = "gen_ai.provider.name"
ATTR_GENAI_REQUEST_MODEL = "gen_ai.request.model"
ATTR_GENAI_TOKEN_TYPE = "gen_ai.token.type"
ATTR_GENAI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
ATTR_GENAI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
#: Span attribute of a streaming call: seconds to the first chunk.
ATTR_GENAI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
TOKEN_TYPE_INPUT = "input"
TOKEN_TYPE_OUTPUT = "output"
#: The spec's advised bounds for its duration and chunk-time histograms: 0.01 … 81.92 s, doubling.
GENAI_DURATION_BUCKETS: tuple[float, ...] = tuple(0.01 * 2.0**i for i in range(14))
#: The spec's advised bounds for ``gen_ai.client.token.usage``: powers of four, 1 … 67 108 864.
GENAI_TOKEN_USAGE_BUCKETS: tuple[float, ...] = tuple(float(4**i) for i in range(14))

# -- emitted by the collector --------------------------------------------------------------------------------------
#: Drift of one feature/output (``ml.feature.name`` or ``ml.output.name``) by one method (``ml.drift.method``).
METRIC_DRIFT_SCORE = "ml.drift.score"
METRIC_DRIFT_DETECTED = "ml.drift.detected"
METRIC_DRIFT_P_VALUE = "ml.drift.p_value"
METRIC_DRIFT_THRESHOLD = "ml.drift.threshold"
#: Rows behind a drift score, per side (``ml.drift.side`` = ``reference`` or ``current``).
METRIC_DRIFT_SAMPLE_SIZE = "ml.drift.sample.size"
#: Share of a model's features with drift detected (after the multiple-testing correction).
METRIC_DRIFT_SHARE = "ml.drift.share"
#: 1 while a monitored model has no reference profile to compare with.
METRIC_DRIFT_REFERENCE_MISSING = "ml.drift.reference.missing"
#: Columns of a stream that only one side has, so they are not compared, per ``ml.drift.target`` and
#: ``ml.drift.side`` (``current``: live columns the reference lacks; ``reference``: reference columns absent from
#: the evaluated traffic).
METRIC_DRIFT_COLUMNS_UNMATCHED = "ml.drift.columns.unmatched"
#: Seconds since the reference profile was built (staleness of the model's training data).
METRIC_MODEL_AGE = "ml.model.age"
ATTR_DRIFT_METHOD = "ml.drift.method"
ATTR_DRIFT_SIDE = "ml.drift.side"
#: ``feature``, ``output`` or ``confidence``: what a drift series describes.
ATTR_DRIFT_TARGET = "ml.drift.target"
#: Length of the evaluation window behind a score, in seconds.
ATTR_WINDOW_SECONDS = "ml.window.seconds"
#: Event emitted when a feature's drift state changes.
EVENT_DRIFT_CHANGED = "ml.drift.changed"
#: Performance from joined labels: ``ml.performance.{accuracy,precision,recall,f1,roc_auc,log_loss,rmse,mae,...}``.
METRIC_PERFORMANCE_PREFIX = "ml.performance."
#: Estimated performance before labels (confidence-based), same suffixes as above.
METRIC_PERFORMANCE_ESTIMATED_PREFIX = "ml.performance.estimated."
METRIC_LABEL_COVERAGE = "ml.label.coverage"
METRIC_LABEL_DELAY = "ml.label.delay"
METRIC_CONCEPT_DRIFT_DETECTED = "ml.concept_drift.detected"
EVENT_CONCEPT_DRIFT = "ml.concept_drift.changed"

# -- ground truth: realized performance per prediction-time window (docs/ground-truth.md) ---------------------------
#: Joined (labelled) rows in the window.
METRIC_PERFORMANCE_LABELLED = "ml.performance.labelled"
#: Share of rows whose predicted class equals the label.
METRIC_PERFORMANCE_ACCURACY = "ml.performance.accuracy"
#: One-vs-rest precision, recall and F1 of one class (``ml.prediction.class``).
METRIC_PERFORMANCE_PRECISION = "ml.performance.precision"
METRIC_PERFORMANCE_RECALL = "ml.performance.recall"
METRIC_PERFORMANCE_F1 = "ml.performance.f1"
#: Unweighted means of the per-class values over the classes seen.
METRIC_PERFORMANCE_PRECISION_MACRO = "ml.performance.precision.macro"
METRIC_PERFORMANCE_RECALL_MACRO = "ml.performance.recall.macro"
METRIC_PERFORMANCE_F1_MACRO = "ml.performance.f1.macro"
#: Confusion-matrix count of one (``ml.ground_truth.class``, ``ml.prediction.class``) cell.
METRIC_PERFORMANCE_CONFUSION = "ml.performance.confusion"
#: From the predicted probabilities, when every row carries them.
METRIC_PERFORMANCE_ROC_AUC = "ml.performance.roc_auc"
METRIC_PERFORMANCE_LOG_LOSS = "ml.performance.log_loss"
#: Regression: root mean squared, mean absolute, mean signed (prediction − truth) and mean absolute percentage error.
METRIC_PERFORMANCE_RMSE = "ml.performance.rmse"
METRIC_PERFORMANCE_MAE = "ml.performance.mae"
METRIC_PERFORMANCE_MEAN_ERROR = "ml.performance.mean_error"
METRIC_PERFORMANCE_MAPE = "ml.performance.mape"
#: A window's label coverage and delay as the ground-truth report names them; the collector emits them as
#: ``ml.label.coverage``, ``ml.label.delay`` (the mean) and ``ml.label.delay.max``.
METRIC_PERFORMANCE_LABEL_COVERAGE = "ml.performance.label.coverage"
METRIC_PERFORMANCE_LABEL_DELAY_MEAN = "ml.performance.label.delay.mean"
METRIC_PERFORMANCE_LABEL_DELAY_MAX = "ml.performance.label.delay.max"
#: Longest label delay in the window, seconds (``ml.label.delay`` is the mean).
METRIC_LABEL_DELAY_MAX = "ml.label.delay.max"
#: Estimated performance before labels (confidence-based, per classifier output).
METRIC_PERFORMANCE_ESTIMATED_ACCURACY = "ml.performance.estimated.accuracy"
METRIC_PERFORMANCE_ESTIMATED_PRECISION = "ml.performance.estimated.precision"
METRIC_PERFORMANCE_ESTIMATED_RECALL = "ml.performance.estimated.recall"
METRIC_PERFORMANCE_ESTIMATED_F1 = "ml.performance.estimated.f1"
METRIC_PERFORMANCE_ESTIMATED_PRECISION_MACRO = "ml.performance.estimated.precision.macro"
METRIC_PERFORMANCE_ESTIMATED_RECALL_MACRO = "ml.performance.estimated.recall.macro"
METRIC_PERFORMANCE_ESTIMATED_F1_MACRO = "ml.performance.estimated.f1.macro"
#: Estimated ROC AUC (classifiers, from calibrated confidence) and RMSE / MAE (regressors, from the reference
#: profile's expected-error model).
METRIC_PERFORMANCE_ESTIMATED_ROC_AUC = "ml.performance.estimated.roc_auc"
METRIC_PERFORMANCE_ESTIMATED_RMSE = "ml.performance.estimated.rmse"
METRIC_PERFORMANCE_ESTIMATED_MAE = "ml.performance.estimated.mae"
#: Predictions behind an estimate (the rows of the window it describes).
METRIC_PERFORMANCE_ESTIMATED_PREDICTED = "ml.performance.estimated.predicted"
#: Standard error of an estimate (the metric in ``ml.performance.metric``): how far the realized value is expected
#: to fall from it by chance.
METRIC_PERFORMANCE_ESTIMATED_STDERR = "ml.performance.estimated.stderr"
#: Estimated minus realized performance of one metric (``ml.performance.metric``) over the labelled rows of a
#: prediction-time window, and that gap in standard errors of the estimate.
METRIC_PERFORMANCE_ESTIMATION_GAP = "ml.performance.estimation.gap"
METRIC_PERFORMANCE_ESTIMATION_GAP_Z = "ml.performance.estimation.gap.z"
#: The ground-truth join's counters and sizes (``joined``, ``pending_predictions``, ``malformed_<reason>``...),
#: one series per ``otel_mlmon.counter``.
METRIC_GROUND_TRUTH_RECORDS = "otel_mlmon.ground_truth.records"
#: Start and end of a prediction-time window, Unix nanoseconds as text on ground-truth report points; the collector
#: puts them, in Unix seconds, on the points of a window recomputed after a newer one (late labels); on
#: ``ml.drift.changed`` events, the evaluated window's start and end as ISO 8601 (UTC).
ATTR_WINDOW_START = "ml.window.start"
ATTR_WINDOW_END = "ml.window.end"
#: Start and end (Unix seconds) of the window the current ``ml.performance.*`` values of a series describe.
METRIC_PERFORMANCE_WINDOW_START = "ml.performance.window.start"
METRIC_PERFORMANCE_WINDOW_END = "ml.performance.window.end"
#: Prediction records seen in that window (``ml.performance.labelled`` counts the joined ones).
METRIC_PERFORMANCE_PREDICTED = "ml.performance.predicted"
#: The reference profile's value of a metric (``ml.performance.metric``) and the band around it for the window.
METRIC_PERFORMANCE_REFERENCE = "ml.performance.reference"
METRIC_PERFORMANCE_REFERENCE_LOWER = "ml.performance.reference.lower"
METRIC_PERFORMANCE_REFERENCE_UPPER = "ml.performance.reference.upper"
#: −1 degraded, 0 within the band, +1 improved: the window's metric against the reference.
METRIC_PERFORMANCE_CHANGE = "ml.performance.change"
#: Event when a metric moves out of (or back into) the reference band, or a detector sees a lower error.
EVENT_PERFORMANCE_CHANGED = "ml.performance.changed"
#: ``degradation``, ``recovery``, ``improvement`` or ``normal``, on ``ml.performance.changed`` and
#: ``ml.concept_drift.changed``.
ATTR_PERFORMANCE_DIRECTION = "ml.performance.direction"
#: The true class of a confusion-matrix cell (the predicted one is ``ml.prediction.class``).
ATTR_GROUND_TRUTH_CLASS = "ml.ground_truth.class"
#: Which metric an ``ml.performance.estimation.gap`` point compares (``accuracy``, ``f1_macro``...).
ATTR_PERFORMANCE_METRIC = "ml.performance.metric"
#: On ``ml.concept_drift.changed``: what decided (``detector`` or ``reference``) and by which method.
ATTR_CONCEPT_DRIFT_SOURCE = "ml.concept_drift.source"
ATTR_CONCEPT_DRIFT_METHOD = "ml.concept_drift.method"
#: Which counter an ``otel_mlmon.ground_truth.records`` (or ``otel_mlmon.collector.drift.windows``) point is.
ATTR_COUNTER = "otel_mlmon.counter"

# -- the collector's own health (self-metrics, issue 16) ------------------------------------------------------
#: What the drift engine's window stores did with the points they were given (cumulative counter), one series
#: per ``otel_mlmon.counter`` (``points``, ``late_points``, ``invalid_points``, ``dropped_streams``...) and
#: ``otel_mlmon.store`` (``current`` or ``trailing``).
METRIC_COLLECTOR_DRIFT_WINDOWS = "otel_mlmon.collector.drift.windows"
#: Which window store an ``otel_mlmon.collector.drift.windows`` point counts.
ATTR_STORE = "otel_mlmon.store"
#: Streams whose evaluation failed (cumulative counter; the other streams went on), per ``ml.model.name``,
#: ``ml.model.version`` and ``otel_mlmon.stage`` (``view``, ``evaluate``, ``estimate``).
METRIC_COLLECTOR_STREAM_FAILURES = "otel_mlmon.collector.drift.stream_failures"
#: Where a stream failed: ``view`` (merging its windows), ``evaluate`` (drift), ``estimate`` (performance).
ATTR_STAGE = "otel_mlmon.stage"
#: Ground-truth records lost because the join store could not write them (disk full, I/O error), per
#: ``otel_mlmon.counter`` (``predictions`` or ``labels``); ``/health`` says ``degraded`` after one.
METRIC_COLLECTOR_STORE_FAILURES = "otel_mlmon.collector.ground_truth.store_failures"

# -- the collector's self-metrics (docs/collector.md, docs/deployment.md) ------------------------------------------
#: Requests accepted by a receiver. Attributes: ``signal``, ``transport`` (grpc, http, internal).
METRIC_COLLECTOR_REQUESTS_RECEIVED = "otel_mlmon.collector.requests.received"
#: Spans, data points or log records in accepted requests. Attributes: ``signal``, ``transport``.
METRIC_COLLECTOR_ITEMS_RECEIVED = "otel_mlmon.collector.items.received"
#: Requests refused at a receiver. Attributes: ``signal``, ``transport``, ``reason``
#: (malformed, too_large, backpressure, unsupported_media_type, shutting_down, unauthenticated, timeout,
#: too_many_calls).
METRIC_COLLECTOR_REQUESTS_REFUSED = "otel_mlmon.collector.requests.refused"
#: Requests delivered downstream. Attributes: ``signal``, ``exporter``.
METRIC_COLLECTOR_REQUESTS_FORWARDED = "otel_mlmon.collector.requests.forwarded"
#: Items in delivered requests. Attributes: ``signal``, ``exporter``.
METRIC_COLLECTOR_ITEMS_FORWARDED = "otel_mlmon.collector.items.forwarded"
#: Requests the downstream rejected for good (non-retryable answer). Attributes: ``signal``, ``exporter``.
METRIC_COLLECTOR_REQUESTS_REJECTED = "otel_mlmon.collector.requests.rejected"
#: Items a downstream reported as rejected in ``partial_success``. Attributes: ``signal``, ``exporter``.
METRIC_COLLECTOR_ITEMS_REJECTED = "otel_mlmon.collector.items.rejected"
#: Export attempts that were retried. Attributes: ``signal``, ``exporter``.
METRIC_COLLECTOR_REQUESTS_RETRIED = "otel_mlmon.collector.requests.retried"
#: Requests dropped without delivery. Attributes: ``signal``, ``exporter``, ``reason``
#: (retries_exhausted, shutdown, no_route).
METRIC_COLLECTOR_REQUESTS_DROPPED = "otel_mlmon.collector.requests.dropped"
#: Exceptions raised by processors (the request is forwarded anyway). Attributes: ``processor``.
METRIC_COLLECTOR_PROCESSOR_ERRORS = "otel_mlmon.collector.processor.errors"
#: Requests waiting in an exporter's queue (gauge). Attributes: ``exporter``.
METRIC_COLLECTOR_QUEUE_SIZE = "otel_mlmon.collector.queue.size"
#: The queue's bound in requests (gauge). Attributes: ``exporter``.
METRIC_COLLECTOR_QUEUE_CAPACITY = "otel_mlmon.collector.queue.capacity"
#: Payload bytes waiting in an exporter's queue (gauge). Attributes: ``exporter``.
METRIC_COLLECTOR_QUEUE_BYTES = "otel_mlmon.collector.queue.bytes"
#: What a persistent queue (``queue.directory``) found on disk at start (cumulative counter), per ``exporter`` and
#: ``otel_mlmon.counter``: ``recovered`` (requests queued again, to be sent) or ``corrupt`` (records that failed
#: their checksum or were cut short, skipped).
METRIC_COLLECTOR_QUEUE_RECOVERED = "otel_mlmon.collector.queue.recovered"
