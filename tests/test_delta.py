"""Inside an adapter (models.delta): ΔW's singular values and norm per layer, read from the adapter's
file, agree with peft's own ΔW of the loaded adapter; a rank-1 update is seen as one direction."""

from __future__ import annotations

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file, save_file

from conftest import make_adapter
from models.adapters import WEIGHTS_FILE, read_adapter
from models.delta import cumulative_energy, layer_deltas, rank_used
from models.loading import load_pretrained
from models.registry import get_spec


def test_singular_values_are_those_of_peft_s_delta_weight(tiny_adapters):
    folder = tiny_adapters["llama-translation-a"]
    deltas = {delta.module: delta for delta in layer_deltas(read_adapter(folder))}
    model, _ = load_pretrained(get_spec("tiny-llama"))
    peft_model = PeftModel.from_pretrained(model, str(folder))
    layers = {name.removeprefix("base_model.model."): module for name, module in peft_model.named_modules()
              if hasattr(module, "get_delta_weight") and "default" in getattr(module, "lora_A", {})}
    assert set(deltas) == set(layers) and len(deltas) > 10
    for name, module in layers.items():
        expected = torch.linalg.svdvals(module.get_delta_weight("default").float())[:4]
        assert deltas[name].singular_values == pytest.approx(expected.tolist(), rel=1e-4, abs=1e-6)
        assert deltas[name].norm == pytest.approx(float(torch.linalg.norm(module.get_delta_weight("default"))),
                                                  rel=1e-4)
    assert sorted({d.layer for d in deltas.values()}) == [0, 1]  # the tiny Llama's two blocks


def test_a_rank_one_update_uses_one_direction(tiny_models, tmp_path):
    folder = make_adapter("tiny-llama", "translation", tmp_path / "rank-one", seed=3)
    weights = load_file(folder / WEIGHTS_FILE)
    for key, tensor in weights.items():
        if ".lora_B." in key:
            tensor[:, 1:] = 0  # B keeps one column: every ΔW = b aᵀ has rank one
    save_file(weights, folder / WEIGHTS_FILE)
    for delta in layer_deltas(read_adapter(folder)):
        assert rank_used(delta) == 1 and cumulative_energy(delta)[0] == pytest.approx(1.0)
        assert delta.singular_values[1] < 1e-6 * delta.singular_values[0]
