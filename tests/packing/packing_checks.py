"""Shared helpers for packing tests: a window builder and the row invariants every packer must keep.

A plain module, not conftest.py: tests/packing/loader has its own conftest, and `from conftest import` would be
ambiguous."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from packing import PAD_DOC_ID, PackConfig, PackResult


def make_window(lens: list[int], *, seed: int = 0, dtype: type = np.uint16, shuffle: bool = False) -> pa.Table:
    """A tokenized window: ids `d00000`.., random tokens in [64, 320) so markers (< 64) never collide."""
    rng = np.random.default_rng(seed)
    ids = [f"d{i:05d}" for i in range(len(lens))]
    flat = rng.integers(64, 320, size=int(sum(lens)), dtype=dtype)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    tokens = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat))
    table = pa.table({"id": ids, "tokens": tokens, "n_tokens": pa.array(lens, pa.int32())})
    if shuffle:
        table = table.take(rng.permutation(len(lens)))
    return table


def parse_doc_id(doc_id: str) -> tuple[str, int, bool]:
    """`<id>` -> (id, 0, False); `<id>@<offset>` -> (id, offset, True)."""
    head, sep, tail = doc_id.rpartition("@")
    if sep and tail.isdigit():
        return head, int(tail), True
    return doc_id, 0, False


def check_rows(docs: pa.Table, result: PackResult, config: PackConfig) -> dict[str, list[tuple[int, int]]]:
    """Row invariants for the segment packers (best_fit, first_fit, concat, decomposition).

    Checks sum(doc_lens) == len(input_ids) <= capacity, every segment's tokens equal its source document at the
    named offset, the pieces of each document tile it exactly once (minus counted drops), padding is counted.
    Returns the pieces (offset, length) per document id.
    """
    source = {r["id"]: r["tokens"] for r in docs.select(["id", "tokens"]).to_pylist()}
    rows = result.sequences.to_pylist()
    pieces: dict[str, list[tuple[int, int]]] = {}
    placed = 0
    for row in rows:
        assert sum(row["doc_lens"]) == len(row["input_ids"]) <= config.capacity
        assert len(row["doc_lens"]) == len(row["doc_ids"]) and all(n > 0 for n in row["doc_lens"])
        pos = 0
        for n, doc_id in zip(row["doc_lens"], row["doc_ids"]):
            seg = row["input_ids"][pos:pos + n]
            if doc_id == PAD_DOC_ID:
                assert seg == [config.pad_token_id] * n and row["loss_mask"][pos:pos + n] == [False] * n
            else:
                base, offset, is_piece = parse_doc_id(doc_id)
                assert base in source, f"{doc_id} does not trace back to an input id"
                assert seg == source[base][offset:offset + n]
                if not is_piece:
                    assert n == len(source[base])
                pieces.setdefault(base, []).append((offset, n))
                placed += n
            pos += n
    for doc_id, ps in pieces.items():
        ps.sort()
        assert len(set(ps)) == len(ps), f"{doc_id}: a piece placed twice"
        for (a, n), (b, _) in zip(ps, ps[1:]):
            assert a + n == b, f"{doc_id}: pieces overlap or leave a hole at {a + n}"
    stats = result.stats
    assert stats["tokens"] == placed
    assert stats["sequences"] == len(rows)
    assert stats["input_tokens"] == sum(len(t) for t in source.values())
    return pieces
