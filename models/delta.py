"""What an adapter changed inside the model: each layer's update ΔW = scaling · B · A, read from the
adapter's own file (no model is loaded).

- The norm of ΔW per layer says *where* the adapter changed the model.
- The singular values of ΔW say *how much of the rank is used*: a rank-16 adapter whose energy sits in
  its first two directions would have done as well with a smaller rank.

ΔW is out × in (up to 1536 × 576 on SmolLM2), but its rank is at most r: with B = Q_B R_B and
Aᵀ = Q_A R_A, ΔW = Q_B (R_B R_Aᵀ) Q_Aᵀ, so its singular values are those of the r × r matrix R_B R_Aᵀ.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import torch
from safetensors import safe_open

from models.adapters import WEIGHTS_FILE, AdapterInfo

CONFIG_FILE = "adapter_config.json"
_LAYER = re.compile(r"\.(\d+)\.")


@dataclass(frozen=True)
class LayerDelta:
    """One adapted module's update."""

    module: str = field(metadata={"help": "The module's path in the base, e.g. model.layers.3.self_attn.q_proj."})
    layer: int = field(metadata={"help": "The transformer block it sits in (-1: outside the blocks)."})
    kind: str = field(metadata={"help": "The module's own name, e.g. q_proj: the same kind in every block."})
    singular_values: tuple[float, ...] = field(metadata={"help": "Of ΔW, largest first (r of them)."})

    @property
    def norm(self) -> float:
        """The Frobenius norm of ΔW: the square root of the singular values' squares."""
        return sum(value * value for value in self.singular_values) ** 0.5


def _scaling(config: dict, module: str) -> float:
    """peft's scaling of one module: lora_alpha / r (or / sqrt(r) with rsLoRA), with per-module overrides."""
    rank = next((r for key, r in (config.get("rank_pattern") or {}).items() if module.endswith(key)), config["r"])
    alpha = next((a for key, a in (config.get("alpha_pattern") or {}).items() if module.endswith(key)),
                 config["lora_alpha"])
    return alpha / (rank ** 0.5 if config.get("use_rslora") else rank)


def layer_deltas(info: AdapterInfo) -> list[LayerDelta]:
    """Every LoRA module of the adapter, in the file's order of blocks."""
    config = json.loads((info.path / CONFIG_FILE).read_text(encoding="utf-8"))
    deltas = []
    with safe_open(str(info.path / WEIGHTS_FILE), framework="pt") as handle:
        names = sorted({key.rsplit(".lora_A.", 1)[0] for key in handle.keys() if ".lora_A." in key})
        for name in names:
            a, b = handle.get_tensor(f"{name}.lora_A.weight").float(), handle.get_tensor(f"{name}.lora_B.weight").float()
            module = name.removeprefix("base_model.model.")
            _, r_b = torch.linalg.qr(b)
            _, r_a = torch.linalg.qr(a.T)
            values = torch.linalg.svdvals(_scaling(config, module) * (r_b @ r_a.T))
            found = _LAYER.search(f".{module}.")
            deltas.append(LayerDelta(module, int(found.group(1)) if found else -1, module.rsplit(".", 1)[-1],
                                     tuple(float(v) for v in values)))
    return sorted(deltas, key=lambda delta: (delta.layer, delta.kind))


def cumulative_energy(delta: LayerDelta) -> list[float]:
    """The share of ΔW's energy (the sum of squared singular values) in its first 1, 2, ... r directions."""
    energy = [value * value for value in delta.singular_values]
    total, running, shares = sum(energy) or 1.0, 0.0, []
    for value in energy:
        running += value
        shares.append(running / total)
    return shares


def rank_used(delta: LayerDelta, share: float = 0.9) -> int:
    """How many directions hold `share` of ΔW's energy."""
    shares = cumulative_energy(delta)
    return next((count for count, held in enumerate(shares, 1) if held >= share - 1e-9), len(shares))
