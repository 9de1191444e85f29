"""Categorical distribution sketch: exact counts up to a capacity of categories, then per-category error intervals."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from otel_mlmon.sketch._coded import coded_counts
from otel_mlmon.sketch._fields import int_field
from otel_mlmon.sketch._heavy import merge_into, prune
from otel_mlmon.sketch._kmv import KMinValues, hash64
from otel_mlmon.sketch._values import count_values

__all__ = ["DEFAULT_CAPACITY", "CategoricalSketch"]

_FORMAT = "otel-mlmon.categorical-sketch"
_FORMAT_VERSION = 2
#: Categories a sketch counts exactly before it turns approximate (``max_categories`` default).
DEFAULT_CAPACITY = 2048
_STR, _INT = frozenset((str,)), frozenset((int,))
_second = itemgetter(1)


class CategoricalSketch:
    """Category counts, exact up to ``max_categories`` (K) distinct categories, then bounded per category.

    Each batch is counted exactly (see :mod:`otel_mlmon.sketch._values` for the fast routes: pandas codes and hash
    tables, ``np.bincount``, ``Counter``; strings read from dictionary-encoded or Arrow columns carry their codes,
    :mod:`otel_mlmon.sketch._coded`) and folded in. While at most K distinct categories have been seen,
    every count is exact, ``other_count == 0`` and ``error_bound == 0``. Past K, the sketch keeps K categories
    with an interval each (mergeable Misra–Gries membership, SpaceSaving-style counts). For every category ``x``
    with true count ``f(x)``::

        lower(x) <= f(x) <= lower(x) + slack(x) <= lower(x) + error_bound     (x listed by top())
        f(x) <= error_bound                                                   (x not listed)
        error_bound <= (count - sum(upper(x) - error_bound)) / (K + 1) <= count / (K + 1)

    ``top()`` gives the lower ends (never an over-count), :meth:`bounds` both ends. A category listed since its
    first occurrence keeps ``slack == 0`` (its count stays exact after the overflow); one that entered late may
    have missed up to the ``error_bound`` of the time it entered. ``other_count = count - sum(lower)`` is the
    mass not attributed to a listed category. The same guarantees hold after any tree of merges (across calls,
    collections, replicas and windows); a merge keeps the larger K of its operands.

    Values are turned into category strings by a documented, stable rule: ``None``, float NaN and other
    values unequal to themselves or without a truth value for ``!=`` (NaT, ``pandas.NA``) are missing and
    ignored (the caller counts them); ``True``/``False`` become ``"true"``/``"false"``;
    integers their decimal form (``3`` -> ``"3"``); integral floats the same as integers (``3.0`` ->
    ``"3"``), other floats numpy's shortest round-trip form (``0.1`` -> ``"0.1"``); bytes are decoded as
    UTF-8 (invalid bytes replaced); anything else uses ``str()`` (a pandas ``category`` column: its categories).
    Strings longer than ``max_length`` characters are truncated. With ``hash_salt``, each category string
    (before truncation) is replaced by the keyed hash ``blake2b(utf8(string), key=blake2b(utf8(salt),
    digest_size=32, person="otelmlmon-salt"), digest_size=8)`` as 16 hex digits, so raw values never leave the
    process; the salt itself is never serialised (only a fingerprint, to refuse merging sketches hashed with
    different salts).

    The number of distinct categories is estimated with a K-minimum-values sketch of ``distinct_k``
    64-bit hashes: exact below ``distinct_k`` distinct values, relative standard error
    ``1 / sqrt(distinct_k - 2)`` (3.1 % for the default 1024) above.

    Parameters:
        max_categories: K, the number of categories counted (exactly while no more have been seen; >= 1).
        max_length: Maximum length of a category string in characters (>= 1).
        hash_salt: If given, categories are replaced by salted hashes before counting.
        distinct_k: Size of the distinct-count sketch (>= 3).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(7)
        >>> levels = np.array([f"c{i}" for i in range(8)])
        >>> sketch = CategoricalSketch(max_categories=4)
        >>> for _ in range(5):
        ...     sketch.update(levels[rng.zipf(1.5, 2_000) % 8])
        >>> sketch.count, sketch.error_bound, sketch.other_count  # 8 levels seen, 4 kept: approximate
        (10000, 637, 2084)
        >>> sketch.bounds()  # (category, lower, upper): listed from the start, these four are exact
        [('c1', 4231, 4231), ('c2', 1838, 1838), ('c3', 1055, 1055), ('c4', 792, 792)]
        >>> exact = CategoricalSketch()
        >>> exact.update([True, None, 3, 3.0, "x"])
        >>> exact.top(), exact.other_count, exact.error_bound
        ([('3', 2), ('true', 1), ('x', 1)], 0, 0)

    References:
        Misra, Gries (1982), "Finding repeated elements". Metwally, Agrawal, El Abbadi (2005), "Efficient
        computation of frequent and top-k elements in data streams". Agarwal, Cormode, Huang, Phillips, Wei, Yi
        (2012), "Mergeable summaries". Beyer et al. (2007), "On synopses for distinct-value estimation under
        multiset operations" (KMV).
    """

    def __init__(
        self,
        max_categories: int = DEFAULT_CAPACITY,
        max_length: int = 128,
        hash_salt: str | None = None,
        distinct_k: int = 1024,
    ) -> None:
        if not isinstance(max_categories, int) or isinstance(max_categories, bool) or max_categories < 1:
            raise ValueError(f"max_categories must be an int >= 1, got {max_categories!r}")
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
            raise ValueError(f"max_length must be an int >= 1, got {max_length!r}")
        if hash_salt is not None and (not isinstance(hash_salt, str) or not hash_salt):
            raise ValueError(f"hash_salt must be a non-empty str or None, got {hash_salt!r}")
        if not isinstance(distinct_k, int) or isinstance(distinct_k, bool) or distinct_k < 3:
            raise ValueError(f"distinct_k must be an int >= 3, got {distinct_k!r}")
        self.max_categories = max_categories
        self.max_length = max_length
        self.hash_salt = hash_salt
        self.distinct_k = distinct_k
        self._salt_key = _salt_key(hash_salt) if hash_salt is not None else None
        self._salt_id = _salt_id(hash_salt) if hash_salt is not None else None
        self._reset()

    def _reset(self) -> None:
        self._counts: dict[str, int] = {}  # lower ends
        self._slack: dict[str, int] = {}  # upper - lower, only where > 0
        self.count = 0
        self._error = 0
        self._distinct = KMinValues(self.distinct_k)

    # ------------------------------------------------------------------ updating
    def update(self, values: np.ndarray | Sequence[Any] | Iterable[Any]) -> None:
        """Count a batch of values (see the class docstring for how values become category strings).

        Accepts numpy arrays, lists, tuples, iterables and pandas ``Series``/``Index``/``Categorical``.

        Raises:
            ValueError: if the sketch holds salted hashes but was loaded without its ``hash_salt``.
        """
        if self._salt_id is not None and self._salt_key is None:
            raise ValueError("this sketch holds salted hashes: load it with its hash_salt to update it")
        # Strings that carry their codes: one bincount instead of a hash per row.
        counted = coded_counts(values)
        batch = self._finish_keys(counted if counted is not None else count_values(values))
        if not batch:
            return
        self.count += sum(batch.values())
        self._distinct.update(hash64(batch))
        # A batch of more than K categories is pruned first: merging K entries is cheaper, the bounds the same.
        if len(batch) > self.max_categories:
            self._fold(*prune(batch, {}, 0, self.max_categories))
        else:
            self._fold(batch, {}, 0)

    def _finish_keys(self, raw: dict[str, int]) -> dict[str, int]:
        """Hash (with a salt) or truncate category strings, adding up the counts of keys that collide."""
        if self._salt_key is not None:
            key = self._salt_key
            finished: dict[str, int] = {}
            for text, n in raw.items():
                digest = hashlib.blake2b(
                    text.encode("utf-8", "surrogatepass"), key=key, digest_size=8
                ).hexdigest()
                finished[digest] = finished.get(digest, 0) + n
            return finished
        limit = self.max_length
        if max(map(len, raw), default=0) <= limit:
            return raw
        finished = {}
        for text, n in raw.items():
            short = text[:limit]
            finished[short] = finished.get(short, 0) + n
        return finished

    def _fold(self, lower: Mapping[str, int], slack: Mapping[str, int], bound: int) -> None:
        """Merge a state (an exactly counted batch has no slack and bound 0) and prune to K categories."""
        self._error = merge_into(self._counts, self._slack, self._error, lower, slack, bound)
        self._counts, self._slack, self._error = prune(
            self._counts, self._slack, self._error, self.max_categories
        )

    def merge(self, other: CategoricalSketch) -> None:
        """Add ``other`` into this sketch, in place (intervals, count, error bound, distinct hashes).

        The result keeps ``max(self.max_categories, other.max_categories)`` categories.

        Raises:
            TypeError: if ``other`` is not a ``CategoricalSketch``.
            ValueError: if the two sketches hash categories with different salts (or one hashes, one not).
        """
        if not isinstance(other, CategoricalSketch):
            raise TypeError(f"other must be a CategoricalSketch, got {type(other).__name__}")
        if other._salt_id != self._salt_id:
            raise ValueError(
                "cannot merge sketches whose categories are hashed with different hash_salt values"
            )
        if other is self:
            other = other.copy()
        self.max_categories = max(self.max_categories, other.max_categories)
        self._fold(other._counts, other._slack, other._error)
        self.count += other.count
        self._distinct.merge(other._distinct)

    def subtract(self, older: CategoricalSketch) -> CategoricalSketch | None:
        """The counts added since ``older``, an earlier cumulative state of this sketch; None on a reset.

        Turns two cumulative exports of one series into the delta between them, as a new sketch (both operands
        are left unchanged). Only the total decides a reset. A listed category's lower end grows by exactly what
        was counted for it while listed, so ``max(lower - older lower, 0)`` is a lower bound of its increase (it
        may have left the list and come back in between), and its increase exceeds that by at most its slack
        here; a category not listed here increased by at most ``error_bound``. The delta therefore keeps this
        sketch's slacks and ``error_bound``, and is exact whenever this sketch is. The other mass takes the rest
        of the total's increase; if ``older`` is not an earlier state and the listed increases add up to more
        than the total's, they are scaled down to fit. The result has no distinct-count hashes (a set
        difference is unknowable).

        Raises:
            TypeError: if ``older`` is not a ``CategoricalSketch``.
            ValueError: if the two sketches hash categories with different salts (or one hashes, one not).
        """
        if not isinstance(older, CategoricalSketch):
            raise TypeError(f"older must be a CategoricalSketch, got {type(older).__name__}")
        if older._salt_id != self._salt_id:
            raise ValueError(
                "cannot subtract sketches whose categories are hashed with different hash_salt values"
            )
        if self.count < older.count:
            return None
        growth = self.count - older.count
        delta = {key: n - older._counts.get(key, 0) for key, n in self._counts.items()}
        delta = {key: n for key, n in delta.items() if n > 0}
        attributed = sum(delta.values())
        if attributed > growth:
            scale = growth / attributed
            delta = {key: int(n * scale) for key, n in delta.items()}
            delta = {key: n for key, n in delta.items() if n > 0}
        result = CategoricalSketch(max_categories=self.max_categories, max_length=self.max_length)
        result._salt_id = self._salt_id
        ranked = list(delta.items())
        _rank(ranked)
        result._counts = dict(ranked)
        result._slack = {key: self._slack[key] for key in result._counts if key in self._slack}
        result._error = self._error
        result.count = growth
        return result

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        other_count: int = 0,
        max_categories: int = DEFAULT_CAPACITY,
        max_length: int = 128,
        error_bound: int | None = None,
    ) -> CategoricalSketch:
        """A sketch holding exported counts (as OTLP points carry them: ``top()`` plus ``other_count``).

        Categories with a zero count are left out; ``max_categories`` is raised to the number of categories
        given, so every one is kept. ``other_count`` is the mass outside them. Each listed count is taken as a
        lower bound with slack ``error_bound``, which is also the bound of an unlisted category. Without
        ``error_bound`` (None), nothing is known about how the other mass is spread, so the safe bound
        ``other_count`` is used: a category's uncounted occurrences are all in the other mass. Counts are exact
        when ``other_count`` is 0. The distinct count starts empty.

        Raises:
            ValueError: if a count, ``other_count`` or ``error_bound`` is negative or not an integer, or a
                category not a string.
        """
        if (
            set(map(type, counts)) <= _STR
            and set(map(type, counts.values())) <= _INT
            and min(counts.values(), default=1) > 0
        ):
            kept = list(counts.items())  # the usual case (read from OTLP points), checked in C
        else:
            kept = []
            for key, n in counts.items():
                if (
                    not isinstance(key, str)
                    or isinstance(n, bool)
                    or not isinstance(n, int | np.integer)
                    or n < 0
                ):
                    raise ValueError(f"counts must map category strings to integers >= 0, got {key!r}: {n!r}")
                if n > 0:
                    kept.append((key, int(n)))
        if isinstance(other_count, bool) or not isinstance(other_count, int | np.integer) or other_count < 0:
            raise ValueError(f"other_count must be an integer >= 0, got {other_count!r}")
        if error_bound is None:
            error_bound = int(other_count)
        if isinstance(error_bound, bool) or not isinstance(error_bound, int | np.integer) or error_bound < 0:
            raise ValueError(f"error_bound must be an integer >= 0 or None, got {error_bound!r}")
        _rank(kept)
        sketch = cls(max_categories=max(max_categories, len(kept)), max_length=max_length)
        sketch._counts = dict(kept)
        sketch._error = int(error_bound)
        sketch._slack = dict.fromkeys(sketch._counts, sketch._error) if sketch._error else {}
        sketch.count = int(other_count) + sum(n for _, n in kept)
        return sketch

    def copy(self) -> CategoricalSketch:
        """Return an independent copy."""
        clone = CategoricalSketch.__new__(CategoricalSketch)
        clone.__dict__.update(self.__dict__)
        clone._counts = dict(self._counts)
        clone._slack = dict(self._slack)
        clone._distinct = KMinValues(self.distinct_k)
        clone._distinct.hashes = self._distinct.hashes.copy()
        return clone

    def loaded_copy(self) -> CategoricalSketch:
        """An independent copy equal to ``CategoricalSketch.from_dict(self.to_dict())`` (categories in
        :meth:`top` order, no salt key: it can be merged and read, not updated), without the round trip."""
        clone = CategoricalSketch.__new__(CategoricalSketch)
        clone.__dict__.update(self.__dict__)
        clone.hash_salt, clone._salt_key = None, None
        clone._counts = dict(self.top())
        slack = self._slack
        clone._slack = {key: slack[key] for key in clone._counts if key in slack}
        clone._distinct = KMinValues(self.distinct_k)
        clone._distinct.hashes = self._distinct.hashes.copy()
        return clone

    # ------------------------------------------------------------------ reading
    def top(self, k: int | None = None) -> list[tuple[str, int]]:
        """The listed categories with their counts (lower ends), largest first, ties by category; at most ``k``."""
        ranked = list(self._counts.items())
        _rank(ranked)
        return ranked if k is None else ranked[: max(k, 0)]

    def bounds(self, k: int | None = None) -> list[tuple[str, int, int]]:
        """``(category, lower, upper)`` for the categories of :meth:`top`, in its order: ``lower <= f <= upper``."""
        slack = self._slack
        return [(key, n, n + slack.get(key, 0)) for key, n in self.top(k)]

    @property
    def other_count(self) -> int:
        """Mass not attributed to a listed category: ``count - sum(top() counts)`` (>= 0; 0 while exact)."""
        return self.count - sum(self._counts.values())

    @property
    def error_bound(self) -> int:
        """Largest possible under-count of a listed category and count of an unlisted one (0 while exact)."""
        return self._error

    @property
    def exact(self) -> bool:
        """Whether every count is exact: no more than ``max_categories`` categories were ever seen."""
        return self._error == 0

    def distinct_estimate(self) -> float:
        """Estimated number of distinct categories (exact below ``distinct_k``)."""
        return self._distinct.estimate()

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Return a compact, JSON-friendly, versioned representation (never the salt itself).

        ``counts`` lists ``[category, lower]`` for exact counts and ``[category, lower, slack]`` otherwise.
        """
        slack = self._slack
        return {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "max_categories": self.max_categories,
            "max_length": self.max_length,
            "hashed": self._salt_id,
            "count": self.count,
            "error_bound": self._error,
            "counts": [[key, n, slack[key]] if key in slack else [key, n] for key, n in self.top()],
            "distinct": {"k": self.distinct_k, "hashes": self._distinct.to_text()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], hash_salt: str | None = None) -> CategoricalSketch:
        """Rebuild a sketch from :meth:`to_dict` output (version 2, or version 1 files), validating every field.

        A version 1 file holds Misra–Gries counts, lower bounds each within ``error_bound`` of the truth: they
        load with slack ``error_bound``.

        Args:
            data: The dictionary.
            hash_salt: For a hashed sketch, its salt (checked against the stored fingerprint); without it
                the sketch can be read and merged but not updated.

        Raises:
            ValueError: naming the field, on an unknown format or version, a mistyped field, too many or
                negative counts, counts exceeding ``count``, a slack above ``error_bound``, or a salt that
                does not match.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"categorical sketch must be a mapping, got {type(data).__name__}")
        if data.get("format") != _FORMAT:
            raise ValueError(f"format must be {_FORMAT!r}, got {data.get('format')!r}")
        version = data.get("version")
        if version not in (1, _FORMAT_VERSION) or isinstance(version, bool):
            raise ValueError(
                f"unsupported categorical sketch version {version!r} (this reader reads 1 and 2)"
            )
        distinct = data.get("distinct")
        if not isinstance(distinct, Mapping):
            raise ValueError("distinct must be a mapping with 'k' and 'hashes'")
        sketch = cls(
            max_categories=int_field(data, "max_categories"),
            max_length=int_field(data, "max_length"),
            distinct_k=int_field(distinct, "k"),
        )
        salt_id = data.get("hashed")
        if salt_id is not None and not isinstance(salt_id, str):
            raise ValueError(f"hashed must be a salt fingerprint string or null, got {salt_id!r}")
        if hash_salt is not None:
            if salt_id != _salt_id(hash_salt):
                raise ValueError("hash_salt does not match the salt this sketch was hashed with")
            sketch.hash_salt, sketch._salt_key = hash_salt, _salt_key(hash_salt)
        sketch._salt_id = salt_id
        sketch.count = int_field(data, "count", minimum=0)
        sketch._error = int_field(data, "error_bound", minimum=0)
        sketch._counts, sketch._slack = _counts_in(data.get("counts"), sketch, version)
        if sketch.other_count < 0:
            raise ValueError(f"counts add up to more than count={sketch.count}")
        hashes = distinct.get("hashes")
        if not isinstance(hashes, str):
            raise ValueError("distinct.hashes must be a base64 string")
        sketch._distinct = KMinValues.from_text(sketch.distinct_k, hashes)
        return sketch

    # ------------------------------------------------------------------ dunder
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CategoricalSketch):
            return NotImplemented
        return (
            self.max_categories == other.max_categories
            and self.max_length == other.max_length
            and self.distinct_k == other.distinct_k
            and self._salt_id == other._salt_id
            and self.count == other.count
            and self._error == other._error
            and self._counts == other._counts
            and self._slack == other._slack
            and np.array_equal(self._distinct.hashes, other._distinct.hashes)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"CategoricalSketch(max_categories={self.max_categories}, count={self.count}, "
            f"kept={len(self._counts)}, other_count={self.other_count}, error_bound={self._error})"
        )


# ---------------------------------------------------------------------- private helpers
def _counts_in(raw: Any, sketch: CategoricalSketch, version: int) -> tuple[dict[str, int], dict[str, int]]:
    """Validate the ``counts`` field: ``[category, lower]`` pairs, or ``[category, lower, slack]`` (version 2)."""
    if not isinstance(raw, list) or len(raw) > sketch.max_categories:
        raise ValueError(f"counts must be a list of at most max_categories={sketch.max_categories} entries")
    fast = _usual_counts(raw, sketch._error, version)
    if fast is not None:
        return fast
    counts: dict[str, int] = {}
    slack: dict[str, int] = {}
    sizes = (2,) if version == 1 else (2, 3)
    for entry in raw:
        if (
            not isinstance(entry, list | tuple)
            or len(entry) not in sizes
            or not isinstance(entry[0], str)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in entry[1:])
        ):
            shape = "[category, positive int]" if version == 1 else "[category, positive int(, positive int)]"
            raise ValueError(f"counts entries must be {shape} lists, got {entry!r}")
        if entry[0] in counts:
            raise ValueError(f"counts lists category {entry[0]!r} twice")
        counts[entry[0]] = entry[1]
        if len(entry) == 3:
            if entry[2] > sketch._error:
                raise ValueError(f"slack of {entry[0]!r} ({entry[2]}) exceeds error_bound={sketch._error}")
            slack[entry[0]] = entry[2]
    if version == 1 and sketch._error:  # Misra–Gries lower bounds, each within error_bound of the truth
        slack = dict.fromkeys(counts, sketch._error)
    return counts, slack


def _usual_counts(raw: list[Any], error: int, version: int) -> tuple[dict[str, int], dict[str, int]] | None:
    """:func:`_counts_in` for the usual ``counts`` field (JSON lists of a ``str`` and plain positive ints, no
    category twice, every slack within ``error``), checked by whole-list passes in C; None for anything else,
    which the entry-by-entry loop then reads and names the first fault of (the same rules, the same result)."""
    if not set(map(type, raw)) <= _LIST:
        return None
    try:
        counts = dict(raw)  # every entry [category, lower]; a longer one raises
        slack: dict[str, int] = {}
    except (TypeError, ValueError):
        if version == 1 or not set(map(len, raw)) <= _PAIR_OR_TRIPLE:
            return None
        try:
            counts = {entry[0]: entry[1] for entry in raw}
            slack = {entry[0]: entry[2] for entry in raw if len(entry) == 3}
        except TypeError:  # an unhashable category
            return None
        if slack and (
            not set(map(type, slack.values())) <= _INT
            or min(slack.values()) <= 0
            or max(slack.values()) > error
        ):
            return None
    if len(counts) != len(raw) or not set(map(type, counts)) <= _STR:
        return None
    if counts and (not set(map(type, counts.values())) <= _INT or min(counts.values()) <= 0):
        return None
    if version == 1 and error:  # Misra–Gries lower bounds, each within error_bound of the truth
        slack = dict.fromkeys(counts, error)
    return counts, slack


_LIST, _STR, _INT = frozenset((list,)), frozenset((str,)), frozenset((int,))
_PAIR_OR_TRIPLE = frozenset((2, 3))


def _rank(items: list[tuple[str, int]]) -> None:
    """Sort ``(category, count)`` pairs of distinct categories as :meth:`CategoricalSketch.top` ranks them, in
    place: largest count first, ties by category (two C-level sorts; a reversed sort is stable)."""
    items.sort()
    items.sort(key=_second, reverse=True)


def _salt_key(salt: str) -> bytes:
    return hashlib.blake2b(salt.encode("utf-8"), digest_size=32, person=b"otelmlmon-salt").digest()


def _salt_id(salt: str) -> str:
    return hashlib.blake2b(salt.encode("utf-8"), digest_size=8, person=b"otelmlmon-sid").hexdigest()
