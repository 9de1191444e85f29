"""Arrow string columns dictionary-encoded by the C extension (``_flatkernel.encode_strings``) into coded strings.

pyarrow's ``dictionary_encode`` costs about 22 ns per value; the extension's encoder reads the offsets and data
buffers once with a table specialised for short values (at most 16 bytes compared as two words) in about half
that. Both give the distinct values in order of first occurrence and the same codes (tested equal in
``tests/sdk/adapters/test_string_encoding.py``), so the column is the same :class:`~otel_mlmon.sketch._coded.
CodedStrings` either way. Without the extension (or when it is turned off by ``_kernel.disabled``), or for input
it does not take, :func:`encoded_strings` answers None and pyarrow encodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from otel_mlmon.adapters._base import Column
from otel_mlmon.sketch._coded import coded_strings
from otel_mlmon.sketch._kernel import kernel

__all__ = ["encode_chunks", "encoded_strings"]


def encode_chunks(chunks: Sequence[Any]) -> tuple[list[str], np.ndarray] | None:
    """The distinct values (first occurrence first) and int32 codes (-1: null) of pyarrow ``string`` or
    ``large_string`` arrays of one type read one after the other; None without the extension or when it does not
    take them."""
    compiled = kernel()
    encode = getattr(compiled, "encode_strings", None)  # an extension built before the encoder lacks it
    if encode is None or not chunks:
        return None
    import pyarrow as pa

    wide = pa.types.is_large_string(chunks[0].type)
    specs = []
    for chunk in chunks:
        if pa.types.is_large_string(chunk.type) != wide:
            return None
        validity, offsets, data = chunk.buffers()
        if chunk.null_count == 0:
            validity = None  # a bitmap may be there with every bit set: no need to read it
        specs.append((offsets, b"" if data is None else data, validity, chunk.offset, len(chunk)))
    codes = np.empty(sum(map(len, chunks)), dtype=np.int32)
    try:
        categories = encode(specs, int(wide), codes)
    except (ValueError, UnicodeDecodeError, TypeError, BufferError):
        return None  # pyarrow's encoder decides (and raises what it raises)
    return categories, codes


def encoded_strings(arr: Any, name: str) -> Column | None:
    """A pyarrow ``string``/``large_string`` Array or ChunkedArray as a categorical column of coded strings
    (what ``_dictionary_column(pc.dictionary_encode(arr))`` gives), or None: pyarrow encodes instead.

    The chunks of a ChunkedArray are encoded as one column, in place: stacked DataFrames' string columns are
    read without concatenating their chunks first (pyarrow's allocator can cost milliseconds per concatenation
    the first time a thread asks it for memory).
    """
    import pyarrow as pa

    encoded = encode_chunks(arr.chunks if type(arr) is pa.ChunkedArray else [arr])
    if encoded is None:
        return None
    categories, codes = encoded
    return Column(name, coded_strings(categories, codes), "categorical")
