"""bench/loader_gpu.py runs end to end on CPU with tiny sizes (the H100 run uses the same code), and its document
mask lets no token attend across a document or a padding segment."""
from __future__ import annotations

import math

import pytest
import torch

from bench import loader_gpu
from packing.loader import IGNORE_INDEX


def test_runs_a_few_steps_on_cpu() -> None:
    result = loader_gpu.main(["--synthetic", "--steps", "2", "--peer-steps", "2", "--warmup", "1",
                              "--rows-per-step", "2", "--synthetic-rows", "16", "--synthetic-tokens", "32",
                              "--d-model", "32", "--layers", "1", "--heads", "2", "--num-workers", "0",
                              "--device", "cpu", "--log-every", "1", "--loader-batches", "4"])
    assert result["attention"] == "dense" and result["steps"] == 2
    assert math.isfinite(result["loss_first"]) and math.isfinite(result["loss_last"])
    assert 0.0 <= result["data_wait_pct"] <= 100.0 and result["loader_tokens_per_s"] > 0
    assert result["peer_data_wait_pct"] is not None


def test_document_mask_and_fixed_width_padding() -> None:
    """[0, 3, 7] -> docs [0,0,0,1,1,1,1]; padding to 9 adds a masked segment of 2 that attends only to itself."""
    batch = {"input_ids": torch.arange(7)[None], "labels": torch.arange(7)[None],
             "position_ids": torch.tensor([[0, 1, 2, 0, 1, 2, 3]]), "cu_seqlens": torch.tensor([0, 3, 7], dtype=torch.int32),
             "max_seqlen": 4}
    padded = loader_gpu._pad_flat(batch, 9)
    assert padded["cu_seqlens"].tolist() == [0, 3, 7, 9] and padded["labels"][0, 7:].tolist() == [IGNORE_INDEX] * 2
    assert padded["position_ids"][0].tolist() == [0, 1, 2, 0, 1, 2, 3, 0, 1]
    mask = loader_gpu._context(padded, "dense", {}, torch.device("cpu"))["dense_mask"]
    docs = loader_gpu._doc_ids(padded["cu_seqlens"], 9)
    assert docs.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2]
    for q in range(9):
        for k in range(9):
            assert bool(mask[q, k]) == (k <= q and docs[q] == docs[k])
    with pytest.raises(ValueError, match="exceeds the fixed width"):
        loader_gpu._pad_flat(batch, 5)
