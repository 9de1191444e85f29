"""Arrow string columns dictionary-encoded by the C extension (``_flatkernel.encode_strings``) into coded strings.

pyarrow's ``dictionary_encode`` costs about 22 ns per value; the extension's encoder reads the offsets and data
buffers once with a table specialised for short values (at most 16 bytes compared as two words) in about half
that. Both give the distinct values in order of first occurrence and the same codes (tested equal in
``tests/sdk/adapters/test_string_encoding.py``), so the column is the same :class:`~otel_mlmon.sketch._coded.
CodedStrings` either way. Without the extension (or when it is turned off by ``_kernel.disabled``), or for input
it does not take, :func:`encoded_strings` answers None and pyarrow encodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from otel_mlmon.adapters._base import Column
from otel_mlmon.sketch._coded import coded_strings
from otel_mlmon.sketch._kernel import kernel

__all__ = ["encode_chunk", "encoded_strings"]


def encode_chunk(chunk: Any) -> tuple[list[str], np.ndarray] | None:
    """The distinct values (first occurrence first) and int32 codes (-1: null) of one pyarrow ``string`` or
    ``large_string`` array; None without the extension or when it does not take the array."""
    compiled = kernel()
    encode = getattr(compiled, "encode_strings", None)  # an extension built before the encoder lacks it
    if encode is None:
        return None
    import pyarrow as pa

    validity, offsets, data = chunk.buffers()
    if chunk.null_count == 0:
        validity = None  # a bitmap may be there with every bit set: no need to read it
    codes = np.empty(len(chunk), dtype=np.int32)
    wide = 1 if pa.types.is_large_string(chunk.type) else 0
    try:
        categories = encode(
            offsets, b"" if data is None else data, validity, chunk.offset, len(chunk), wide, codes
        )
    except (ValueError, UnicodeDecodeError, TypeError, BufferError):
        return None  # pyarrow's encoder decides (and raises what it raises)
    return categories, codes


def encoded_strings(arr: Any, name: str) -> Column | None:
    """A pyarrow ``string``/``large_string`` Array or ChunkedArray as a categorical column of coded strings
    (what ``_dictionary_column(pc.dictionary_encode(arr))`` gives), or None: pyarrow encodes instead."""
    import pyarrow as pa

    chunks = arr.chunks if type(arr) is pa.ChunkedArray else [arr]
    if len(chunks) == 1:
        encoded = encode_chunk(chunks[0])
        if encoded is None:
            return None
        categories, codes = encoded
        return Column(name, coded_strings(categories, codes), "categorical")
    categories, parts, offset = [], [], 0
    for chunk in chunks:
        encoded = encode_chunk(chunk)
        if encoded is None:
            return None
        chunk_categories, chunk_codes = encoded
        codes = chunk_codes.astype(np.int64)
        if offset:
            codes = np.where(codes < 0, -1, codes + offset)
        parts.append(codes)
        categories.extend(chunk_categories)
        offset += len(chunk_categories)
    # Repeats across chunks are merged by coded_strings, first occurrence first: what pyarrow's one dictionary
    # of a chunked array holds.
    joined = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    return Column(name, coded_strings(categories, joined), "categorical")
