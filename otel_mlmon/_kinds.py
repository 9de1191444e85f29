"""The kind of each string column (categorical, text or identifier): one rule, decided once per column.

Strings are the one input whose values can carry anything, so their kind decides what may leave the process:
only categorical values may become attribute values; free text becomes numeric descriptors and identifiers only
their lengths and missing count. The rule, applied identically by the SDK and by reference profiles:

1. A column declared in ``categorical=``, ``text=`` or ``ids=`` has that kind (in this order of precedence).
2. Chat messages (``messages.{role}`` columns of a chat-style input) are text.
3. Any other string column is decided from its first :data:`DECIDE_AT` non-missing values. They are held in
   memory, never exported, until that many have been seen, so that the SDK (often fed one row per call) and a
   reference profile (fed the training set) decide on samples of the same size. A profile whose data has fewer
   decides when it is built or saved, and a column that is mostly missing after :data:`MAX_HELD_ROWS` rows, each
   on the values seen so far:

   * **text** when at least :data:`TEXT_SHARE` of them look like text: more than :data:`TEXT_MAX_WORDS` words or
     more than :data:`TEXT_MAX_CHARS` characters;
   * otherwise **identifier** when at least :data:`ID_SHARE` of them look like identifiers (one token that is an
     e-mail address, a URL, a UUID, or holds :data:`ID_MIN_DIGITS` or more digits), or when, out of
     :data:`DECIDE_AT` values, at least :data:`ID_DISTINCT_SHARE` are distinct (mostly unique);
   * otherwise **categorical**.

   The decision is latched: a column never changes kind for the life of the process (or profile), whatever
   later values look like. Later values of a categorical column that individually look like text or
   identifiers are counted under ``__other__`` instead of as themselves, so a stray secret is never exported.

Numbers and booleans are not strings: they stay numeric and categorical as the adapters read them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Iterable, Mapping

import numpy as np

from otel_mlmon.conventions import OTHER_CATEGORY

__all__ = [
    "DECIDE_AT",
    "ID_DISTINCT_SHARE",
    "ID_MIN_DIGITS",
    "ID_SHARE",
    "MAX_HELD_ROWS",
    "MAX_SAFE_VALUES",
    "TEXT_MAX_CHARS",
    "TEXT_MAX_WORDS",
    "TEXT_SHARE",
    "KindRule",
    "guard_categories",
    "looks_like_id",
    "looks_like_text",
]

#: Non-missing values a string column's kind is decided from.
DECIDE_AT = 32
#: Rows held for an undecided column (mostly missing values) before it is decided on fewer values.
MAX_HELD_ROWS = 1024
#: Harmless values remembered per categorical column, so the guard costs one set() per batch.
MAX_SAFE_VALUES = 4096
#: A value with more words than this, or more characters than :data:`TEXT_MAX_CHARS`, looks like text.
TEXT_MAX_WORDS = 3
TEXT_MAX_CHARS = 64
#: Share of text-looking values that makes a column text.
TEXT_SHARE = 0.2
#: A one-token value with at least this many digits looks like an identifier (order numbers, phone numbers).
ID_MIN_DIGITS = 6
#: Share of identifier-looking values that makes a column an identifier.
ID_SHARE = 0.5
#: Share of distinct values among :data:`DECIDE_AT` that makes a column an identifier (mostly unique).
ID_DISTINCT_SHARE = 0.9

KINDS = ("categorical", "text", "identifier")

_ID_PATTERN = re.compile(
    r"""
    [^@\s]+@[^@\s]+\.[^@\s]+                                    # e-mail
    | [a-zA-Z][a-zA-Z0-9+.-]*://\S+                             # URL
    | [0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}  # UUID
    """,
    re.VERBOSE,
)
_DIGIT = re.compile(r"\d")


def looks_like_text(value: str) -> bool:
    """Whether one value looks like free text: more than TEXT_MAX_WORDS words or TEXT_MAX_CHARS characters."""
    return len(value) > TEXT_MAX_CHARS or len(value.split(None, TEXT_MAX_WORDS)) > TEXT_MAX_WORDS


def looks_like_id(value: str) -> bool:
    """Whether one value looks like an identifier: one token that is an e-mail, URL or UUID, or has many digits."""
    token = value.strip()
    if not token or any(c.isspace() for c in token):
        return False
    return _ID_PATTERN.fullmatch(token) is not None or len(_DIGIT.findall(token)) >= ID_MIN_DIGITS


def _decide(values: list[str]) -> str:
    n = len(values)
    if n == 0:
        return "text"  # nothing seen (all missing): the kind that exports no value at all
    if sum(map(looks_like_text, values)) >= TEXT_SHARE * n:
        return "text"
    if sum(map(looks_like_id, values)) >= ID_SHARE * n:
        return "identifier"
    if n >= DECIDE_AT and len(set(values)) >= ID_DISTINCT_SHARE * n:
        return "identifier"
    return "categorical"


def guard_categories(values: np.ndarray, ids: bool = True, safe: set[str] | None = None) -> np.ndarray:
    """Replace the values of a rule-decided categorical column that look like text (or, with ``ids``, like
    identifiers) by ``__other__``.

    Args:
        values: object array of ``str`` with None for missing.
        ids: also hide values that look like identifiers (features; output labels may be any token).
        safe: values already found harmless for this column; new harmless values are added (a cache, so a
            batch costs one set() over its values when its categories are known).
    """
    distinct = set(values.tolist())
    distinct.discard(None)
    if safe is not None:
        distinct -= safe
    flagged = {v for v in distinct if looks_like_text(v) or (ids and looks_like_id(v))}
    if safe is not None and len(safe) < MAX_SAFE_VALUES:
        safe.update(distinct - flagged)
    if not flagged:
        return values
    out = values.copy()
    out[[v in flagged for v in values.tolist()]] = OTHER_CATEGORY
    return out


class KindRule:
    """The per-column kind overrides and the latched decisions of one summary configuration.

    Thread-safe: several summary streams of one monitor may fold at the same time.

    Args:
        categorical: Columns that are categorical whatever their values.
        text: Columns that are free text whatever their values.
        ids: Columns that are identifiers whatever their values.
    """

    def __init__(
        self, categorical: Collection[str] = (), text: Collection[str] = (), ids: Collection[str] = ()
    ) -> None:
        for name, value in (("categorical", categorical), ("text", text), ("ids", ids)):
            if isinstance(value, str):
                raise ValueError(f"{name}= must be a collection of column names, got {value!r}")
        self.categorical = frozenset(map(str, categorical))
        self.text = frozenset(map(str, text))
        self.ids = frozenset(map(str, ids))
        self._lock = threading.Lock()
        self._decided: dict[tuple[str, str], str] = {}
        self._pending: dict[tuple[str, str], list[np.ndarray]] = {}
        self._seen: dict[tuple[str, str], list[str]] = {}
        self._safe: dict[tuple[str, str], set[str]] = {}

    def declare(
        self, categorical: Collection[str] = (), text: Collection[str] = (), ids: Collection[str] = ()
    ) -> None:
        """Declare more column kinds (a column already decided keeps its kind)."""
        for name, value in (("categorical", categorical), ("text", text), ("ids", ids)):
            if isinstance(value, str):
                raise ValueError(f"{name}= must be a collection of column names, got {value!r}")
        with self._lock:
            self.categorical = self.categorical | frozenset(map(str, categorical))
            self.text = self.text | frozenset(map(str, text))
            self.ids = self.ids | frozenset(map(str, ids))

    def declared(self, name: str) -> str | None:
        """The kind a column was declared with, or None."""
        if name in self.categorical:
            return "categorical"
        if name in self.text:
            return "text"
        if name in self.ids:
            return "identifier"
        return None

    def guard(self, group: str, name: str, values: np.ndarray) -> np.ndarray:
        """:func:`guard_categories` with this column's cache of harmless values (identifiers only for features)."""
        with self._lock:
            safe = self._safe.setdefault((group, name), set())
            return guard_categories(values, ids=group == "features", safe=safe)

    def decided(self) -> dict[tuple[str, str], str]:
        """(group, column) -> kind for every column decided so far."""
        with self._lock:
            return dict(self._decided)

    def undecided(self) -> list[tuple[str, str]]:
        """(group, column) of every string column still waiting for values."""
        with self._lock:
            return list(self._pending)

    def latch(self, decided: Mapping[tuple[str, str], str]) -> None:
        """Take kinds decided elsewhere (a distributed build decides on the driver, from the first rows, and
        latches the same kinds in every partition, so each partition sketches a column as one process would)."""
        with self._lock:
            for key, kind in decided.items():
                if kind not in KINDS:
                    raise ValueError(f"unknown column kind {kind!r} for {key!r}")
                self._decided[(str(key[0]), str(key[1]))] = kind

    def offer(self, group: str, name: str, values: np.ndarray) -> tuple[str, list[np.ndarray]] | None:
        """Add a string column's values; the kind and every value held so far once decided, else None.

        Args:
            group: ``features`` or ``outputs`` (each has its own columns).
            name: the column name.
            values: object array of ``str`` with None for missing.
        """
        key = (group, name)
        with self._lock:
            kind = self._decided.get(key)
            if kind is not None:
                return kind, [values]
            held = self._pending.setdefault(key, [])
            held.append(values)
            seen = self._seen.setdefault(key, [])
            need = DECIDE_AT - len(seen)
            for v in values:
                if v is not None:
                    seen.append(v)
                    need -= 1
                    if need == 0:
                        break
            # A column that is almost always missing must not hold values forever: decide on what it has.
            if need > 0 and sum(len(h) for h in held) < MAX_HELD_ROWS:
                return None
            return self._settle_locked(key)

    def settle(self) -> Iterable[tuple[str, str, str, list[np.ndarray]]]:
        """Decide every column still pending on what it has seen (a profile at its end); yields
        (group, name, kind, held values)."""
        with self._lock:
            keys = list(self._pending)
            settled = [(key, self._settle_locked(key)) for key in keys]
        for (group, name), (kind, held) in settled:
            yield group, name, kind, held

    def _settle_locked(self, key: tuple[str, str]) -> tuple[str, list[np.ndarray]]:
        kind = _decide(self._seen.pop(key, []))
        self._decided[key] = kind
        return kind, self._pending.pop(key, [])
