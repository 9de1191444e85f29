"""A minimal PNG reader for screenshot checks (8-bit RGB/RGBA, non-interlaced, as Chromium writes them)."""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["read_png"]


def read_png(data: bytes) -> np.ndarray:
    """The pixels of a PNG as a ``(height, width, channels)`` uint8 array.

    Raises:
        ValueError: for a file that is not an 8-bit, non-interlaced RGB or RGBA PNG.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, colour, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    stride = width * channels
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 2:  # Up
            row = line + previous
        elif kind == 1:  # Sub: a running sum per channel
            row = np.cumsum(line.reshape(width, channels), axis=0).reshape(-1)
        else:  # Average (3) and Paeth (4) depend on the reconstructed left byte: byte by byte
            row = _sequential(kind, line.tolist(), previous.astype(np.int32).tolist(), channels)
        previous = (np.asarray(row) % 256).astype(np.uint8)
        out[y] = previous
    return out.reshape(height, width, channels)


def _sequential(kind: int, line: list[int], up: list[int], bpp: int) -> list[int]:
    row = [0] * len(line)
    for i, x in enumerate(line):
        a = row[i - bpp] if i >= bpp else 0
        b = up[i]
        if kind == 3:
            row[i] = (x + (a + b) // 2) % 256
        else:
            c = up[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            row[i] = (x + predictor) % 256
    return row
