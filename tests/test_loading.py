"""Loading base models: the GGUF conversion cache, load-once, and refusing unsafe weights."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from models import loading
from models.cpu_fastpath.small_batch import SmallBatchLinear
from models.cpu_fastpath.bf16 import Bf16MatmulLinear, use_bf16_body_matmuls, use_bf16_output_head
from models.loading import load_base, load_pretrained, materialize
from models.registry import BaseModelSpec, WeightsLocation, cache_dir

from conftest import build_tiny_model, tiny_spec


def fake_gguf(folder: Path, content: bytes = b"GGUF fake quantized weights") -> WeightsLocation:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model-q4.gguf").write_bytes(content)
    return WeightsLocation(folder, "model-q4.gguf", origin="package fake-gguf")


class CountingConvert:
    """Stands in for dequantization: writes a real tiny model, optionally failing midway."""

    def __init__(self, fail: bool = False):
        self.calls: list[Path] = []
        self.fail = fail

    def __call__(self, location: WeightsLocation, target: Path) -> None:
        self.calls.append(target)
        build_tiny_model("tiny-llama", target)
        if self.fail:
            raise KeyboardInterrupt("interrupted while converting")


def completed(key: str) -> list[Path]:
    root = cache_dir() / "models"
    return sorted(p for p in root.glob(f"{key}-*") if (p / ".complete").exists()) if root.is_dir() else []


def test_plain_folder_needs_no_conversion(tmp_path):
    convert = CountingConvert()
    assert materialize(WeightsLocation(tmp_path), "plain", convert) == tmp_path
    assert convert.calls == []


def test_gguf_is_converted_once_then_cached(tmp_path):
    location = fake_gguf(tmp_path / "pkg")
    convert = CountingConvert()
    first = materialize(location, "conv-once", convert)
    second = materialize(location, "conv-once", convert)
    assert first == second
    assert len(convert.calls) == 1
    assert first.parent == cache_dir() / "models" and first.name.startswith("conv-once-")
    assert (first / ".complete").read_text() == "package fake-gguf"
    assert (first / "model.safetensors").is_file()
    assert [p.name for p in (cache_dir() / "models").glob("conv-once-*")] == [first.name]  # no leftovers
    # The converted folder is a loadable model.
    spec = BaseModelSpec("conv-once", "tests/conv-once", "causal", ("translation",), local_path=str(first))
    model, tokenizer = load_pretrained(spec)
    assert model.config.model_type == "llama" and tokenizer.eos_token == "</s>"


def test_a_different_gguf_file_gets_its_own_cache(tmp_path):
    convert = CountingConvert()
    first = materialize(fake_gguf(tmp_path / "a", b"version one"), "conv-fp", convert)
    second = materialize(fake_gguf(tmp_path / "b", b"version two, longer"), "conv-fp", convert)
    assert first != second and len(convert.calls) == 2


def test_interrupted_conversion_leaves_no_cache_and_is_redone(tmp_path):
    location = fake_gguf(tmp_path / "pkg")
    with pytest.raises(KeyboardInterrupt):
        materialize(location, "conv-broken", CountingConvert(fail=True))
    assert completed("conv-broken") == []
    assert list((cache_dir() / "models").glob("conv-broken-*")) == []  # not even a partial folder
    retry = CountingConvert()
    target = materialize(location, "conv-broken", retry)
    assert len(retry.calls) == 1 and completed("conv-broken") == [target]


def test_stale_incomplete_target_is_replaced(tmp_path):
    location = fake_gguf(tmp_path / "pkg")
    convert = CountingConvert()
    target = materialize(location, "conv-stale", convert)
    (target / ".complete").unlink()  # as if a crash happened between writing and marking
    (target / "junk.txt").write_text("half-written")
    again = materialize(location, "conv-stale", convert)
    assert again == target and len(convert.calls) == 2
    assert not (again / "junk.txt").exists() and (again / ".complete").exists()


def test_load_base_loads_once_per_process(tiny_models, fresh_models, monkeypatch):
    calls: list[str] = []
    real = loading.load_pretrained

    def counting(spec, labels=None, dtype=torch.float32):
        calls.append(spec.key)
        return real(spec, labels, dtype)

    monkeypatch.setattr(loading, "load_pretrained", counting)
    first = load_base("tiny-llama")
    assert load_base("tiny-llama") is first
    assert load_base("tests/tiny-llama") is first  # by hub id too
    assert calls == ["tiny-llama"]
    assert not first.model.training  # ready for inference
    assert first in loading.loaded_bases()
    loading.forget_loaded()
    assert load_base("tiny-llama") is not first
    assert calls == ["tiny-llama", "tiny-llama"]


def test_encoders_are_keyed_by_label_set(tiny_models, fresh_models):
    two = load_base("tiny-bert")
    assert two.labels == ("negative", "positive")
    assert load_base("tiny-bert", ["negative", "positive"]) is two
    three = load_base("tiny-bert", ["bad", "meh", "good"])
    assert three is not two
    assert three.model.config.id2label == {0: "bad", 1: "meh", 2: "good"}
    assert three.model.config.num_labels == 3


def test_new_classification_head_is_identical_every_load(tiny_models):
    spec = tiny_spec("tiny-bert", tiny_models["tiny-bert"])
    torch.manual_seed(123)
    first, _ = load_pretrained(spec)
    torch.manual_seed(456)
    second, _ = load_pretrained(spec)
    assert torch.equal(first.classifier.weight, second.classifier.weight)


def test_pickle_weights_are_refused(tiny_models, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_models["tiny-llama"], folder)
    model = loading.AutoModelForCausalLM.from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    spec = BaseModelSpec("pickled", "tests/pickled", "causal", ("translation",), local_path=str(folder))
    with pytest.raises(OSError, match=r"(?i)safetensors"):
        load_pretrained(spec)


def test_remote_code_is_never_run(tiny_models, tmp_path, monkeypatch):
    folder = tmp_path / "remote-code"
    shutil.copytree(tiny_models["tiny-llama"], folder)
    marker = tmp_path / "remote-code-ran"
    (folder / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import LlamaForCausalLM as EvilModel, LlamaConfig as EvilConfig\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))

    seen: list[dict] = []
    real = loading.AutoModelForCausalLM.from_pretrained

    def spy(source, **kwargs):
        seen.append(kwargs)
        return real(source, **kwargs)

    monkeypatch.setattr(loading.AutoModelForCausalLM, "from_pretrained", spy)
    spec = BaseModelSpec("remote-code", "tests/remote-code", "causal", ("translation",), local_path=str(folder))
    try:
        model, _ = load_pretrained(spec)
    except ValueError:  # refusing outright is fine too; running the code is not
        model = None
    assert not marker.exists()
    assert seen and all(kwargs.get("trust_remote_code") is False for kwargs in seen)
    assert all(kwargs.get("use_safetensors") is True for kwargs in seen)
    if model is not None:
        assert type(model).__name__ == "LlamaForCausalLM"


def test_missing_pad_token_falls_back_to_eos(tiny_models, tmp_path):
    folder = tmp_path / "no-pad"
    shutil.copytree(tiny_models["tiny-llama"], folder)
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    settings.pop("pad_token", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    tokenizer = loading.load_tokenizer(folder)
    assert tokenizer.pad_token == tokenizer.eos_token == "</s>"


def test_bf16_output_head_gives_the_same_logits_from_half_the_memory(tiny_models):
    model, tokenizer = load_pretrained(tiny_spec("tiny-gemma3", tiny_models["tiny-gemma3"]))
    model.eval()
    inputs = tokenizer(["The cat sleeps on the bed.", "Thank you very much."], return_tensors="pt", padding=True)
    with torch.inference_mode():
        reference = model(**inputs).logits
    use_bf16_output_head(model)
    head, embedding = model.get_output_embeddings(), model.get_input_embeddings()
    assert head.weight.dtype == torch.bfloat16 and embedding.weight is head.weight  # still one tied copy
    assert all(p.dtype == torch.float32 for n, p in model.named_parameters() if "embed" not in n)
    with torch.inference_mode():
        logits = model(**inputs).logits
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, reference, rtol=0.02, atol=0.02 * reference.abs().max().item())
    assert not torch.equal(logits, reference)  # the head really ran in bf16


@pytest.mark.parametrize("fast_bf16", [True, False])
def test_load_base_uses_a_bf16_head_only_where_the_cpu_runs_bf16(tiny_models, fresh_models, monkeypatch, fast_bf16):
    monkeypatch.setattr(loading, "cpu_has_fast_bf16", lambda: fast_bf16)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    causal, encoder = load_base("tiny-llama"), load_base("tiny-bert")
    expected = torch.bfloat16 if fast_bf16 else torch.float32
    assert causal.model.get_output_embeddings().weight.dtype == expected
    assert encoder.model.classifier.weight.dtype == torch.float32  # a classifier head is small: left alone
    body = [type(m) for m in encoder.model.base_model.modules() if isinstance(m, torch.nn.Linear)]
    assert body and set(body) == {Bf16MatmulLinear if fast_bf16 else torch.nn.Linear}
    assert type(encoder.model.classifier) is torch.nn.Linear
    causal_body = {type(m) for m in causal.model.base_model.modules() if isinstance(m, torch.nn.Linear)}
    assert causal_body == {SmallBatchLinear}  # its spec keeps the body fp32 (as SmolLM2's)


def test_a_causal_base_that_asks_for_it_serves_with_a_bf16_body(tiny_models, fresh_models, monkeypatch):
    """As gemma-3-270m on a CPU with bf16 units: bf16 head and body, fp32 logits close to the fp32 model's."""
    from models.registry import register, unregister

    monkeypatch.setattr(loading, "cpu_has_fast_bf16", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    reference, tokenizer = load_pretrained(tiny_spec("tiny-llama", tiny_models["tiny-llama"]))
    inputs = tokenizer(["Translate: the cat sleeps."], return_tensors="pt")
    with torch.inference_mode():
        expected = reference.eval()(**inputs).logits
    spec = replace(tiny_spec("tiny-llama", tiny_models["tiny-llama"]), key="tiny-llama-bf16", bf16_body=True)
    register(spec)
    try:
        model = load_base("tiny-llama-bf16").model
        with torch.inference_mode():
            logits = model(**inputs).logits
    finally:
        unregister(spec.key)
    body = {type(m) for m in model.base_model.modules() if isinstance(m, torch.nn.Linear)}
    assert body == {Bf16MatmulLinear} and model.get_output_embeddings().weight.dtype == torch.bfloat16
    assert logits.dtype == torch.float32 and not torch.equal(logits, expected)
    torch.testing.assert_close(logits, expected, rtol=0.05, atol=0.05 * expected.abs().max().item())


def test_bf16_body_matmuls_keep_fp32_weights_and_fp32_adapters(tiny_models):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_pretrained(tiny_spec("tiny-bert", tiny_models["tiny-bert"]), ["negative", "positive"])
    model.eval()
    inputs = tokenizer(["A moving, funny film.", "Dull."], return_tensors="pt", padding=True)
    with torch.inference_mode():
        reference = model(**inputs).logits
    use_bf16_body_matmuls(model)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.inference_mode():
        logits = model(**inputs).logits
    assert logits.dtype == torch.float32 and not torch.equal(logits, reference)  # the body really ran in bf16
    torch.testing.assert_close(logits, reference, rtol=0.05, atol=0.05 * reference.abs().max().item())

    model = get_peft_model(model, LoraConfig(r=4, target_modules=["query", "value"], init_lora_weights=False))
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    assert lora and all(p.dtype == torch.float32 for p in lora)  # peft reads the fp32 weight beside the copy
    with torch.inference_mode():
        adapted = model(**inputs).logits
        model.disable_adapter_layers()
        assert not torch.allclose(adapted, model(**inputs).logits)  # the fp32 adapter runs on the bf16 body
        model.enable_adapter_layers()

    layer = model.get_base_model().bert.encoder.layer[0].intermediate.dense
    with torch.no_grad():
        layer.weight.mul_(2)  # an in-place update: the bf16 copy must follow
    hidden = torch.randn(3, layer.in_features)
    torch.testing.assert_close(layer(hidden), torch.nn.functional.linear(hidden, layer.weight, layer.bias),
                               rtol=0.02, atol=0.05)


def test_bf16_head_is_converted_once_then_read_from_its_cached_copy(tiny_models, tmp_path):
    spec = tiny_spec("tiny-llama", tiny_models["tiny-llama"])
    cached = tmp_path / loading.BF16_HEAD_FILE
    first, _ = load_pretrained(spec)
    use_bf16_output_head(first, cached)
    assert cached.exists() and [p.name for p in tmp_path.iterdir()] == [cached.name]  # no partial file left

    second, _ = load_pretrained(spec)
    with torch.no_grad():
        second.get_output_embeddings().weight.zero_()  # so that a reconversion would show
    use_bf16_output_head(second, cached)
    assert torch.equal(second.get_output_embeddings().weight, first.get_output_embeddings().weight)
    assert second.get_input_embeddings().weight is second.get_output_embeddings().weight


@pytest.mark.parametrize("vocab, expected", [(4096, True), (64, False)])
def test_only_a_head_heavier_than_the_layers_goes_bf16(vocab, expected):
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=True))
    assert loading.head_outweighs_layers(model) is expected
