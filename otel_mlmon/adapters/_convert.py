"""Turns 1-D numpy arrays and single values into columns, applying the type-inference rule in one place.

Every adapter funnels its data through here, so a value reads the same whatever container it arrived in:

* bool → categorical (``"True"``/``"False"``);
* int and float → numeric, unless the column is declared categorical (or, for outputs, integers are
  class labels); integral floats read as categorical format like ints (``1.0`` → ``"1"``);
* str, bytes (decoded as UTF-8) and other objects → categorical (for strings, the summaries then decide between
  categorical, text and identifier: see :mod:`otel_mlmon._kinds`); chat messages → text;
* datetimes → numeric seconds since the Unix epoch (naive datetimes are taken as UTC); timedeltas →
  numeric seconds;
* object columns with mixed types → numeric if every non-missing value is a real number (bool does not
  count), or if they are real numbers and strings and the strings are at most :data:`STRAY_SHARE` of the
  non-missing values (``1.0, 2.5, "n/a", 3.1, ...``: the strings count as missing, the rule ``otel-mlmon profile
  build`` applies to CSV columns, so a reference and production read such a column alike); else categorical
  (each value formatted as above);
* missing values (None, NaN, pandas NA/NaT, numpy NaT) → NaN in numeric columns, None in categorical ones.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import fractions
import functools
import math
import numbers
from collections.abc import Mapping, Sequence, Set
from typing import Any

import numpy as np

from otel_mlmon.adapters._base import Column, UnsupportedInput

__all__ = [
    "STRAY_SHARE",
    "check_unique",
    "column_from_numpy",
    "column_from_objects",
    "column_from_value",
    "describe",
    "format_floats",
    "is_chat",
    "is_known_value",
    "is_scalar",
    "is_texts",
    "message_columns",
    "read_only",
    "resolve_names",
    "row_table_columns",
]

#: Largest share of a column's non-missing values that may be strings for a column of numbers to stay numeric
#: (the strings count as missing); ``profile build`` applies the same share to CSV columns.
STRAY_SHARE = 0.05

# Codes for the element types of object arrays.
_MISSING, _FLOAT, _INT, _REAL, _BOOL, _STR, _BYTES, _DATETIME, _TIMEDELTA, _CONTAINER, _OTHER = range(11)
_N_CODES = 11
_NUMERIC_CODES = frozenset({_MISSING, _FLOAT, _INT, _REAL})
_STR_OR_NONE = frozenset({str, type(None)})
_STR_FLOAT_NONE = frozenset({str, float, type(None)})
# Types whose values np.astype(float64) converts exactly as float() would, with no missing marker.
_PLAIN_NUMBERS = frozenset(
    {float, int, np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8}
)

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_INT64_MIN = np.iinfo(np.int64).min
_FLOAT_INT_LIMIT = 2.0**63
# Seconds per unit of numpy datetime64/timedelta64 (months and years are converted to days first).
_UNIT_SECONDS = {
    "W": 604800.0,
    "D": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "ns": 1e-9,
    "ps": 1e-12,
    "fs": 1e-15,
    "as": 1e-18,
}


def _classify(t: type) -> int:
    """The code of one element type (called once per type, then cached)."""
    if t is type(None) or (t.__name__ in ("NAType", "NaTType") and t.__module__.startswith("pandas")):
        return _MISSING
    if issubclass(t, (bool, np.bool_)):
        return _BOOL
    if issubclass(t, str):
        return _STR
    if issubclass(t, (bytes, bytearray, np.bytes_)):
        return _BYTES
    if issubclass(t, (float, np.floating)):
        return _FLOAT
    if issubclass(t, numbers.Integral):
        return _INT
    if issubclass(t, (numbers.Real, decimal.Decimal, fractions.Fraction)):
        return _REAL
    if issubclass(t, (_dt.date, np.datetime64)):
        return _DATETIME
    if issubclass(t, (_dt.timedelta, np.timedelta64)):
        return _TIMEDELTA
    if (
        issubclass(t, (np.ndarray, list, tuple, Mapping, Set))
        or hasattr(t, "__array__")
        or hasattr(t, "__dlpack__")
    ):
        return _CONTAINER
    return _OTHER


class _TypeCodes(dict):
    """type -> code, classifying each new type on first sight."""

    def __missing__(self, t: type) -> int:
        code = _classify(t)
        self[t] = code
        return code


_TYPE_CODES = _TypeCodes()


def describe(obj: object) -> str:
    """A short description of an object's type (and shape) for error messages."""
    t = type(obj)
    name = f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__
    shape = getattr(obj, "shape", None)
    if isinstance(shape, tuple):
        return f"{name} of shape {shape}"
    return name


def is_scalar(value: object) -> bool:
    """Whether ``value`` is one cell value (number, bool, str, bytes, datetime, missing, other object)."""
    return _TYPE_CODES[type(value)] != _CONTAINER


def is_known_value(value: object) -> bool:
    """Whether ``value`` is a cell value of a known kind (number, bool, str, bytes, time, missing)."""
    return _TYPE_CODES[type(value)] not in (_CONTAINER, _OTHER)


def read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a``, so a column can never be used to modify the caller's data."""
    v = a.view()
    v.flags.writeable = False
    return v


def format_floats(a: np.ndarray) -> np.ndarray:
    """Format floats as category labels: NaN → None, integral values as ints (``1.0`` → ``"1"``)."""
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape[0], dtype=object)
    nan = np.isnan(a)
    integral = ~nan & np.isfinite(a) & (np.abs(a) < _FLOAT_INT_LIMIT)
    integral[integral] = a[integral] == np.floor(a[integral])
    other = ~nan & ~integral
    if integral.any():
        out[integral] = a[integral].astype(np.int64).astype(str).astype(object)
    if other.any():
        out[other] = a[other].astype(str).astype(object)
    return out


def _format_bools(a: np.ndarray) -> np.ndarray:
    return np.where(a, "True", "False").astype(object)


def _format_ints(a: np.ndarray) -> np.ndarray:
    return a.astype(str).astype(object)


def _datetime64_seconds(a: np.ndarray) -> np.ndarray:
    """numpy datetime64/timedelta64 values → float seconds (since the epoch for datetimes), NaT → NaN."""
    unit, count = np.datetime_data(a.dtype)
    if unit in ("Y", "M"):
        a = a.astype("datetime64[D]" if a.dtype.kind == "M" else "timedelta64[D]")
        unit, count = "D", 1
    if unit == "generic":  # only NaT has no unit
        return np.full(a.shape[0], np.nan)
    ints = a.view(np.int64)
    out = ints.astype(np.float64) * (count * _UNIT_SECONDS[unit])
    out[ints == _INT64_MIN] = np.nan
    return out


def _value_seconds(v: Any) -> float:
    """One datetime/date/timedelta (Python, pandas or numpy) → float seconds."""
    if isinstance(v, (np.datetime64, np.timedelta64)):
        return float(_datetime64_seconds(np.asarray([v]))[0])
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.timezone.utc)
        return (v - _EPOCH).total_seconds()
    if isinstance(v, _dt.date):
        return (_dt.datetime(v.year, v.month, v.day, tzinfo=_dt.timezone.utc) - _EPOCH).total_seconds()
    if isinstance(v, _dt.timedelta):
        return v.total_seconds()
    raise UnsupportedInput(f"cannot read {describe(v)} as a time")


def _value_label(v: Any, code: int) -> str | None:
    """One non-container value → its category label (None when missing)."""
    if code == _MISSING:
        return None
    if code == _STR:
        return str(v)
    if code in (_FLOAT, _REAL):
        f = float(v)
        if math.isnan(f):
            return None
        if math.isfinite(f) and f == math.floor(f) and abs(f) < _FLOAT_INT_LIMIT:
            return str(int(f))
        return str(f)
    if code == _INT:
        return str(int(v))
    if code == _BOOL:
        return "True" if v else "False"
    if code == _BYTES:
        return bytes(v).decode("utf-8", "backslashreplace")
    if code == _DATETIME:
        if isinstance(v, np.datetime64):
            return None if np.isnat(v) else str(v)
        return v.isoformat()
    if code == _TIMEDELTA:
        if isinstance(v, np.timedelta64) and np.isnat(v):
            return None
        return str(v)
    return str(v)


def _container_error(name: str, value: object) -> UnsupportedInput:
    return UnsupportedInput(
        f"feature {name!r} holds {describe(value)} values; only scalar values (numbers, bools, strings, "
        "bytes, datetimes, None) are supported per cell — pass a callable as features=/outputs= to flatten "
        "nested values"
    )


#: Chat roles kept as column names (``messages.{role}``); any other role is read as ``messages.other``, so a column
#: name never carries an arbitrary string from the input.
CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_MESSAGES = "messages"


def is_texts(values: Sequence[Any]) -> bool:
    """Whether a list holds only strings (and None), at least one: a batch of texts, not a row of features."""
    types = set(map(type, values))
    return str in types and types <= _STR_OR_NONE


def is_chat(messages: Sequence[Any]) -> bool:
    """Whether a list is a chat conversation: dicts that each have a ``role`` and a ``content`` key."""
    return bool(messages) and all(isinstance(m, Mapping) and "role" in m and "content" in m for m in messages)


def _content_text(content: Any) -> str | None:
    """A message's content as text: a string, or the text parts of a list of parts (images etc. are skipped)."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return str(content)


def message_columns(
    conversations: Sequence[Sequence[Mapping[str, Any]]], prefix: str = _MESSAGES
) -> tuple[Column, ...]:
    """Chat conversations → one ``text`` column per role (``messages.system``, ``messages.user``...), one row per
    conversation; a role's messages within a conversation are joined by newlines, absent roles are missing.

    Args:
        conversations: one list of ``{"role", "content"}`` messages per row.
        prefix: the column name prefix: ``messages``, or the key that held the messages in a dict input.
    """
    n = len(conversations)
    by_role: dict[str, list[list[str]]] = {}
    for i, conversation in enumerate(conversations):
        for message in conversation:
            role = str(message.get("role"))
            text = _content_text(message.get("content"))
            if text is None:
                continue
            rows = by_role.setdefault(role if role in CHAT_ROLES else "other", [[] for _ in range(n)])
            rows[i].append(text)
    columns = []
    for role, rows in by_role.items():
        values = np.empty(n, dtype=object)
        values[:] = ["\n".join(texts) if texts else None for texts in rows]
        columns.append(Column(f"{prefix}.{role}", values, "text"))
    return tuple(columns)


def column_from_value(name: str, value: Any, *, categorical: bool = False, labels: bool = False) -> Column:
    """One cell value → a one-row column (the same result as a one-element object array)."""
    code = _TYPE_CODES[type(value)]
    if code == _CONTAINER:
        raise _container_error(name, value)
    if not categorical:
        if code in (_FLOAT, _REAL) or (code == _INT and not labels):
            return Column(name, np.array([float(value)]), "numeric")
        if code == _MISSING:
            return Column(name, np.array([np.nan]), "numeric")
        if code in (_DATETIME, _TIMEDELTA):
            return Column(name, np.array([_value_seconds(value)]), "numeric")
    out = np.empty(1, dtype=object)
    out[0] = _value_label(value, code)
    return Column(name, out, "categorical")


def column_from_objects(
    name: str, a: np.ndarray, *, categorical: bool = False, labels: bool = False
) -> Column:
    """A 1-D object array (any mix of cell values) → a column, by the inference rule."""
    n = a.shape[0]
    type_list = list(map(type, a))
    types = set(type_list)
    if str in types:
        if types <= _STR_OR_NONE:
            return Column(name, read_only(a), "categorical")  # the common case: nothing to convert
        if types <= _STR_FLOAT_NONE:  # strings with NaN for missing (pandas object columns)
            nan = a != a  # safe: only str, float and None here; True exactly for NaN
            if type_list.count(float) == int(np.count_nonzero(nan)):
                out = a.copy()
                out[nan] = None
                return Column(name, out, "categorical")
    present = {_TYPE_CODES[t] for t in types}
    if (
        not categorical
        and types <= _PLAIN_NUMBERS
        and not (labels and _INT in present and _FLOAT not in present)
    ):
        return Column(name, a.astype(np.float64), "numeric")
    codes = np.fromiter(map(_TYPE_CODES.__getitem__, type_list), dtype=np.int8, count=n)
    if _CONTAINER in present:
        raise _container_error(name, a[int(np.argmax(codes == _CONTAINER))])
    if not categorical:
        ints_are_labels = labels and _INT in present and not present & {_FLOAT, _REAL}
        if present <= _NUMERIC_CODES and not ints_are_labels:
            out = np.full(n, np.nan)
            keep = codes != _MISSING
            out[keep] = a[keep].astype(np.float64)
            return Column(name, out, "numeric")
        if (
            not labels
            and _STR in present
            and present <= _NUMERIC_CODES | {_STR}
            and present - {_STR, _MISSING}
        ):
            # Numbers with a few stray strings ("n/a", "unknown"): numeric, the strings counted as missing.
            strays = codes == _STR
            n_strays = int(np.count_nonzero(strays))
            if n_strays <= STRAY_SHARE * (n - int(np.count_nonzero(codes == _MISSING))):
                out = np.full(n, np.nan)
                keep = (codes != _MISSING) & ~strays
                out[keep] = a[keep].astype(np.float64)
                return Column(name, out, "numeric")
        if present <= {_MISSING, _DATETIME} or present <= {_MISSING, _TIMEDELTA}:
            out = np.full(n, np.nan)
            for i in np.flatnonzero(codes != _MISSING):
                out[i] = _value_seconds(a[i])
            return Column(name, out, "numeric")
    # Categorical: other types are formatted in vectorised groups.
    out = np.empty(n, dtype=object)
    for code in present:
        sel = codes == code
        if code == _MISSING:
            continue  # np.empty(object) is already None
        if code == _STR:
            out[sel] = a[sel]
        elif code == _FLOAT:
            out[sel] = format_floats(a[sel].astype(np.float64))
        elif code == _INT:
            out[sel] = [str(int(v)) for v in a[sel]]
        elif code == _BOOL:
            out[sel] = _format_bools(a[sel].astype(bool))
        else:
            out[sel] = [_value_label(v, code) for v in a[sel]]
    return Column(name, out, "categorical")


def column_from_numpy(name: str, a: np.ndarray, *, categorical: bool = False, labels: bool = False) -> Column:
    """A 1-D numpy array of any plain dtype → a column, by the inference rule.

    Args:
        name: the column name.
        a: the values, 1-D.
        categorical: the column is declared categorical (numbers become labels).
        labels: integers are class labels (outputs), so integer arrays are categorical.

    Raises:
        UnsupportedInput: complex, structured or void dtypes.
    """
    kind = a.dtype.kind
    if kind == "f":
        if categorical:
            return Column(name, format_floats(a), "categorical")
        if a.dtype != np.float64:
            a = a.astype(np.float64)
        return Column(name, read_only(a), "numeric")
    if kind in "iu":
        if categorical or labels:
            return Column(name, _format_ints(a), "categorical")
        return Column(name, a.astype(np.float64), "numeric")
    if kind == "b":
        return Column(name, _format_bools(a), "categorical")
    if kind == "U":
        return Column(name, a.astype(object), "categorical")
    if kind == "S":
        return Column(name, np.char.decode(a, "utf-8", "backslashreplace").astype(object), "categorical")
    if kind == "O":
        return column_from_objects(name, a, categorical=categorical, labels=labels)
    if kind in "Mm":
        if categorical:
            out = a.astype(str).astype(object)
            out[np.isnat(a)] = None
            return Column(name, out, "categorical")
        return Column(name, _datetime64_seconds(a), "numeric")
    if kind == "T":  # numpy 2 StringDType
        return column_from_objects(name, a.astype(object), categorical=categorical, labels=labels)
    raise UnsupportedInput(
        f"column {name!r} has numpy dtype {a.dtype}, which is not supported; supported: bool, integer, "
        "float, str, bytes, datetime64, timedelta64 and object columns of scalars"
    )


@functools.lru_cache(maxsize=64)
def _default_names(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(count))


def resolve_names(names: Sequence[str] | None, count: int, prefix: str, what: str) -> list[str]:
    """Column names for an input without its own: ``names`` (checked) or ``prefix0 .. prefix{count-1}``."""
    if names is None:
        return list(_default_names(prefix, count))
    resolved = [str(n) for n in names]
    if len(resolved) != count:
        raise UnsupportedInput(f"{len(resolved)} names given for {count} {what}: {resolved[:10]!r}")
    check_unique(resolved)
    return resolved


def check_unique(names: Sequence[str]) -> None:
    """Raise UnsupportedInput when two columns share a name."""
    if len(set(names)) != len(names):
        seen: set[str] = set()
        dup = next(n for n in names if n in seen or seen.add(n))
        raise UnsupportedInput(f"column name {dup!r} occurs more than once; column names must be unique")


def row_table_columns(
    names: list[str], values: list[Any], categorical: frozenset[str] | set[str]
) -> tuple[Column, ...]:
    """One row of cell values → one-row columns."""
    return tuple(
        column_from_value(n, v, categorical=n in categorical) for n, v in zip(names, values, strict=True)
    )
