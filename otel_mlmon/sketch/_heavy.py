"""Bounded category counts with per-category error intervals: merging and pruning (Misra–Gries / SpaceSaving).

A state is three things: ``lower`` (category -> count seen for it, a lower bound of its true count), ``slack``
(category -> how much the true count may exceed ``lower``; absent means 0) and ``bound``, the largest possible
true count of a category that is not listed (and at least every slack). For every category ``x``::

    lower[x] <= f(x) <= lower[x] + slack[x]   (listed)        f(x) <= bound   (not listed)

Merging two states adds the intervals, a category missing on one side counting ``[0, bound]`` there; ``bound``
adds up. Pruning to ``capacity`` categories keeps those whose upper end ``lower + slack`` is above the
``(capacity + 1)``-th largest upper end ``h`` and raises ``bound`` to ``h``. In terms of ``c(x) = upper(x) -
bound`` this is exactly Misra–Gries with ``capacity`` counters and its mergeable form (Agarwal et al. 2012), so
its guarantee holds after any tree of merges of states with at most ``capacity`` entries::

    bound <= (count - sum(upper(x) - bound for listed x)) / (capacity + 1) <= count / (capacity + 1)

while ``lower`` is the SpaceSaving-style count since the category was last listed, so a category listed from its
first occurrence on has ``slack == 0``: its count is exact even after the state has overflowed.

References:
    Misra, Gries (1982), "Finding repeated elements". Metwally, Agrawal, El Abbadi (2005), "Efficient computation
    of frequent and top-k elements in data streams" (SpaceSaving). Agarwal, Cormode, Huang, Phillips, Wei, Yi
    (2012), "Mergeable summaries".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["merge_into", "prune"]


def merge_into(
    lower: dict[str, int],
    slack: dict[str, int],
    bound: int,
    other_lower: Mapping[str, int],
    other_slack: Mapping[str, int],
    other_bound: int,
) -> int:
    """Add the state ``other_*`` into ``lower``/``slack`` in place and return the new ``bound``."""
    if not (bound or other_bound or slack or other_slack):  # both exact: plain addition
        if not lower:
            lower.update(other_lower)
            return 0
        get = lower.get
        for key, n in other_lower.items():
            lower[key] = get(key, 0) + n
        return 0
    if other_bound:  # categories listed here but not there: up to other_bound more
        for key in lower:
            if key not in other_lower:
                slack[key] = slack.get(key, 0) + other_bound
    for key, n in other_lower.items():
        mine = lower.get(key)
        extra = other_slack.get(key, 0)
        if mine is None:
            lower[key] = n
            extra += bound  # not listed here: up to bound more
        else:
            lower[key] = mine + n
            extra += slack.get(key, 0)
        if extra:
            slack[key] = extra
    return bound + other_bound


def prune(
    lower: dict[str, int], slack: dict[str, int], bound: int, capacity: int
) -> tuple[dict[str, int], dict[str, int], int]:
    """Keep at most ``capacity`` categories (the largest upper ends); return the new state."""
    if len(lower) <= capacity:
        return lower, slack, bound
    keys = list(lower)
    upper = np.fromiter(lower.values(), dtype=np.int64, count=len(keys))
    if slack:
        upper += np.fromiter((slack.get(key, 0) for key in keys), dtype=np.int64, count=len(keys))
    cut = int(np.partition(upper, upper.size - capacity - 1)[upper.size - capacity - 1])
    kept = np.flatnonzero(upper > cut).tolist()
    new_lower = {keys[i]: lower[keys[i]] for i in kept}
    new_slack = {key: slack[key] for key in new_lower if key in slack}
    return new_lower, new_slack, max(bound, cut)
