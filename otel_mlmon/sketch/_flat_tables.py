"""Lookup tables of the flat column passes (``_flat.py``): from a value's cell key to its bucket's slot.

A cell key is ``(bits - 1) >> (52 - b)``: sign, exponent and the top ``b`` mantissa bits of a value. A side
table covers whole octaves of keys of one sign, so the same table serves every chunk whose extremes fall in
the same octaves (tables are cached); its entries are bucket indices relative to the table's first bucket, or
``EXACT`` for cells whose values are mapped one by one.
"""

from __future__ import annotations

import numpy as np

from otel_mlmon.sketch._mapping import cell_table

__all__ = ["EXACT", "SideTable", "side_table"]

#: Table entry of a cell whose values are mapped one by one (any entry at or above it is such a cell).
EXACT = 1 << 40
_CELLS: dict[tuple[int, int], np.ndarray] = {}
_SIDES: dict[tuple[int, int, int, int], SideTable] = {}
# Cached entries (int64) at most, over all side tables: about 16 MiB.
_MAX_CACHED = 1 << 21
_cached = 0


def _cell_table(scale: int, bits: int) -> np.ndarray:
    """Bucket within the octave of each of the ``2**bits`` mantissa cells at ``scale >= 1``; -1 near a boundary."""
    cached = _CELLS.get((scale, bits))
    if cached is not None:
        return cached
    table = cell_table(scale, bits)
    _CELLS[(scale, bits)] = table
    return table


class SideTable:
    """Slots of the cell keys ``first .. first + entries.size - 1`` of one sign at one scale.

    Attributes:
        first: The first cell key.
        entries: Bucket index minus ``low`` per key, or ``EXACT``.
        low: Bucket index of slot 0.
        slots: Number of slots (buckets ``low .. low + slots - 1``).
    """

    __slots__ = ("entries", "first", "low", "slots")

    def __init__(self, first: int, entries: np.ndarray, low: int, slots: int) -> None:
        self.first, self.entries, self.low, self.slots = first, entries, low, slots


def side_table(scale: int, bits: int, first_octave: int, last_octave: int) -> SideTable:
    """The table of the keys of octaves ``first_octave .. last_octave`` (``key >> bits``, sign bit included)."""
    cache_key = (scale, bits, first_octave, last_octave)
    cached = _SIDES.get(cache_key)
    if cached is not None:
        return cached
    keys = np.arange(first_octave << bits, (last_octave + 1) << bits, dtype=np.int64)
    exponent = (keys >> bits) & 0x7FF
    if bits == 0:  # scale <= 0: (exponent + correction) >> -scale, exact
        bucket = (exponent - 1023) >> -scale
        low = int(bucket[0])
        entries = bucket - low
    else:
        within = _cell_table(scale, bits)[keys & ((1 << bits) - 1)]
        low = ((int(exponent[0]) - 1023) << scale) - 1  # a value just above the octave may round below it
        entries = ((exponent - 1023) << scale) + within - low
        # Near a boundary, subnormals and the smallest normal (one shared bucket), the top octave (the SDK clamps).
        entries[(within < 0) | (exponent == 0) | (exponent >= 2046)] = EXACT
    # At scales >= 1, buckets (e << scale) - 1 .. (e_last + 1) << scale: the SDK may round a value one bucket out.
    slots = int(entries[-1]) + 1 if bits == 0 else ((last_octave - first_octave + 1) << scale) + 2
    table = SideTable(first_octave << bits, entries, low, slots)
    global _cached
    if _cached + entries.size > _MAX_CACHED:
        _SIDES.clear()
        _cached = 0
    _cached += entries.size
    _SIDES[cache_key] = table
    return table
