"""Input and output adapters: turn whatever a predict call takes and returns into named, typed columns.

The decorator reads a sampled share of calls through :func:`read_features` and :func:`read_outputs`;
profiles read training data through the same functions, so a feature has one type everywhere.

Type-inference rule for columns not declared in ``categorical=``:

* bool → categorical (``"True"``/``"False"``);
* int and float → numeric (float64); integer outputs are class labels → categorical;
* str, bytes (UTF-8) and other objects → categorical; pandas ``category`` and arrow dictionary → categorical
  (the summaries then decide whether a string column is categorical, text or identifier: otel_mlmon._kinds);
* a list of strings → a batch of texts (one column, one row per string); chat messages → text columns per role;
* datetimes → numeric seconds since the Unix epoch (naive = UTC); timedeltas → numeric seconds;
* object columns of mixed types → numeric if every non-missing value is a real number (bool excluded),
  else categorical;
* missing values (None, NaN, pandas NA/NaT, numpy NaT, arrow nulls) → NaN (numeric) / None (categorical);
  ±inf stay ±inf.

Heavy libraries (pandas, pyarrow, torch) are never imported here: objects are recognised by the module
their type is defined in, and the library is imported only once such an object arrives.
"""

from __future__ import annotations

from otel_mlmon.adapters._api import batch_size, read_features, read_outputs
from otel_mlmon.adapters._base import Adapter, Column, Outputs, Table, UnsupportedInput
from otel_mlmon.adapters._outputs import is_probability
from otel_mlmon.adapters._registry import register

__all__ = [
    "Adapter",
    "Column",
    "Outputs",
    "Table",
    "UnsupportedInput",
    "batch_size",
    "is_probability",
    "read_features",
    "read_outputs",
    "register",
]
