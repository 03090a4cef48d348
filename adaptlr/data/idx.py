"""The IDX file format of MNIST and Fashion-MNIST: a strict reader.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim``
big-endian uint32 dimension sizes, then the data in row-major order, big-endian.
The reader checks every part (magic, type code, dimensions, exact byte count) and
raises :class:`~adaptlr.data.errors.CorruptDataError` naming the file and the fault.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from .errors import CorruptDataError

#: IDX type code -> NumPy dtype (big-endian where it matters).
IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def read_content(path: str | Path) -> bytes:
    """Return the content of ``path``, decompressed if it is gzip.

    A file is treated as gzip when it starts with the gzip magic bytes (whatever its name);
    a file named ``*.gz`` that is not gzip is an error. A truncated or damaged gzip stream
    raises :class:`CorruptDataError`.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorruptDataError(f"{path}: cannot be read ({exc})") from exc
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise CorruptDataError(
                f"{path}: the gzip stream is truncated or damaged ({exc}); "
                f"the file has {len(raw)} bytes. Replace it with a complete copy."
            ) from exc
    if path.suffix == ".gz":
        raise CorruptDataError(
            f"{path}: named .gz but is not gzip data (first bytes {raw[:4].hex()!r}, "
            f"expected gzip magic 1f8b)."
        )
    return raw


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX ``data`` into a native-endian array of the stored shape.

    Raises :class:`CorruptDataError` (naming ``name``) on a wrong magic number, an unknown
    type code, or a byte count that does not match the header's dimensions.
    """
    if len(data) < 4:
        raise CorruptDataError(f"{name}: only {len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES or data[3] == 0:
        raise CorruptDataError(
            f"{name}: wrong IDX magic number {data[:4].hex()} (expected 0000TTNN with type "
            f"TT in {sorted(f'{k:02x}' for k in IDX_TYPES)} and NN >= 1 dimensions): "
            "not an IDX file"
        )
    dtype = IDX_TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptDataError(f"{name}: truncated IDX header ({len(data)} bytes, need {header})")
    dims = tuple(int(x) for x in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise CorruptDataError(
            f"{name}: wrong size: the IDX header says dimensions {dims} of {dtype.name}, "
            f"i.e. {expected} bytes, but the content has {len(data)} bytes"
            + (" (truncated)" if len(data) < expected else " (trailing data)")
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)

