"""A few rows through a linear layer as W @ x^T: the same product, laid out as F.linear lays it out."""

from __future__ import annotations

import pytest
import torch

from models.cpu_fastpath.small_batch import CANDIDATE_ROWS, SmallBatchLinear, calibrate, use_small_batch_matmuls


@pytest.mark.parametrize("rows", [1, 2, 3, 5, 9])
def test_small_batches_equal_f_linear_and_stay_row_major(rows):
    layer = torch.nn.Linear(24, 40)
    x = torch.randn(1, rows, 24)
    plain = torch.nn.functional.linear(x, layer.weight, layer.bias)
    layer.__class__ = SmallBatchLinear
    layer.transposed_rows = 8
    with torch.inference_mode():
        out = layer(x)
    assert out.shape == plain.shape and out.stride()[-1] == 1 and out.is_contiguous()
    assert torch.allclose(out, plain, atol=1e-5)


def test_calibration_keeps_every_plain_fp32_linear_and_picks_a_measured_threshold():
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Linear(256, 64), torch.nn.Embedding(10, 4))
    rows = use_small_batch_matmuls(model, repeat=1)
    assert rows in {0, *CANDIDATE_ROWS}
    assert [type(m) for m in model if isinstance(m, torch.nn.Linear)] == [SmallBatchLinear] * 2
    assert {m.transposed_rows for m in model if isinstance(m, SmallBatchLinear)} == {rows}
    assert calibrate([torch.randn(32, 16)], repeat=1) in {0, *CANDIDATE_ROWS}
