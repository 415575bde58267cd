"""Zero-copy access to Arrow text buffers and the `tokens` list column built from flat numpy buffers."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

_TEXT_TYPES = {pa.string(): np.int32, pa.binary(): np.int32, pa.large_string(): np.int64,
               pa.large_binary(): np.int64}


def text_buffers(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(data: (m,) uint8 view of the value buffer, offs: (n+1,) int64 offsets into data) of a text column.

    Honours a sliced array's `offset` (offs[0] need not be 0). Works for string, large_string, binary and
    large_binary; the bytes are taken as they are, valid UTF-8 or not. Nulls are the caller's business.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if texts.type not in _TEXT_TYPES:
        raise ValueError(f"text column has type {texts.type}; expected string, large_string, binary or "
                         "large_binary")
    n = len(texts)
    _, off_buf, data_buf = texts.buffers()
    if off_buf is None or n == 0:
        return np.zeros(0, np.uint8), np.zeros(n + 1, np.int64)
    offs = np.frombuffer(off_buf, dtype=_TEXT_TYPES[texts.type])[texts.offset: texts.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offs.astype(np.int64, copy=False)


def tokens_array(offsets: np.ndarray, values: np.ndarray) -> pa.LargeListArray:
    """large_list<values.dtype> from (n+1,) int64 offsets starting at 0 and a flat (offsets[-1],) buffer."""
    return pa.LargeListArray.from_arrays(pa.array(offsets.astype(np.int64, copy=False)), pa.array(values))


def list_buffers(tokens: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(values, offs: (n+1,) int64 into values) of a list / large_list column of unsigned ints, zero-copy."""
    if isinstance(tokens, pa.ChunkedArray):
        tokens = tokens.combine_chunks() if tokens.num_chunks != 1 else tokens.chunk(0)
    offs = tokens.offsets.to_numpy().astype(np.int64, copy=False)
    values = tokens.values.to_numpy(zero_copy_only=False)
    return values, offs
