"""The training recipe on tiny models: loss goes down, encoding masks the right tokens, the fast
loss equals the standard one, cancel leaves nothing, saved adapters reload, runs are repeatable."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import DataCollatorForSeq2Seq

from finetune.config import ConfigError, make_config
from finetune.features import IGNORE, encode_all, encode_record
from finetune.loss import target_only_lm_loss
from finetune.recipe import LoRARecipe, Progress, TrainingCancelled, apply_method, count_parameters
from models.adapters import read_adapter
from models.generation import class_probabilities, generate_texts
from models.inference import classify_sentiment, resolve_target, translate
from models.loading import load_pretrained
from models.tasks import get_task
from models.registry import get_spec

from conftest import PAIRS as ALL_PAIRS

PAIRS = ALL_PAIRS[:8]
DATA = {
    "translation": [{"source": s, "target": t} for s, t in PAIRS],
    "summarization": [{"text": f"{s} {s} It is a long text about this.", "summary": s} for s, _ in PAIRS],
    "sentiment": [{"text": t, "label": label} for t, label in [
        ("I loved this movie", "positive"), ("Wonderful and great", "positive"), ("Excellent film", "positive"),
        ("Happy and good", "positive"), ("Terrible and boring", "negative"), ("Awful, bad film", "negative"),
        ("Sad and bad", "negative"), ("I hated it", "negative")]],
    "chat": [{"messages": [{"role": "user", "content": s}, {"role": "assistant", "content": "Arr, " + t}]}
             for s, t in PAIRS],
}
CASES = [("sentiment", "tiny-bert"), ("translation", "tiny-llama"), ("translation", "tiny-gemma3"),
         ("translation", "tiny-t5"), ("summarization", "tiny-llama"), ("summarization", "tiny-t5"),
         ("chat", "tiny-llama")]


def recipe_for(task: str, base: str, records: list | None = None, validation: list | None = None,
               report=None, cancel=None, **settings) -> LoRARecipe:
    values = dict(base=base, max_steps=6, batch_size=8, learning_rate=1e-2, dropout=0.0, eval_limit=2, seed=0)
    if task == "sentiment":
        values.update(max_steps=12, learning_rate=2e-2)
    records = records if records is not None else DATA[task]
    return LoRARecipe(make_config(task, "quick", **{**values, **settings}), records,
                      validation if validation is not None else records[:2], report=report, cancel=cancel)


def train_set_loss(recipe: LoRARecipe) -> float:
    """The standard loss of the whole training set in one batch, in eval mode (no dropout)."""
    recipe.model.eval()
    batch = recipe._collator()([dict(f) for f in recipe.train_features]).to(recipe.model.device)
    with torch.no_grad():
        return float(recipe.model(**batch).loss)


@pytest.mark.parametrize("task,base", CASES)
def test_training_lowers_the_loss(tiny_models, task, base):
    recipe = recipe_for(task, base)
    recipe.setup()
    before = train_set_loss(recipe)
    recipe.train()
    after = train_set_loss(recipe)
    logged = [loss for _, loss in recipe.progress.losses]
    assert len(logged) == recipe.progress.step == recipe.config.max_steps
    assert after < before * 0.99, (before, after)  # eval-mode loss: deterministic, no noise
    assert logged[-1] < logged[0], logged
    assert 0 < recipe.trainable_params < recipe.total_params


# ------------------------------------------------------------------ encoding


def trained(features: dict) -> list[int]:
    return [label for label in features["labels"] if label != IGNORE]


@pytest.mark.parametrize("base", ["tiny-llama", "tiny-gemma3"])
def test_causal_encoding_masks_prompt_and_trains_eos(tiny_models, base):
    _, tokenizer = load_pretrained(get_spec(base))
    record = DATA["translation"][1]
    features = encode_record("translation", "causal", tokenizer, record, 128)
    prompt, target = get_task("translation").prompt_and_target(record, "causal")
    prompt_ids = tokenizer(prompt)["input_ids"]
    assert features["input_ids"][: len(prompt_ids)] == prompt_ids
    assert features["labels"][: len(prompt_ids)] == [IGNORE] * len(prompt_ids)  # the prompt is not learnt
    assert features["labels"][len(prompt_ids):] == features["input_ids"][len(prompt_ids):]
    assert features["labels"][-1] == tokenizer.eos_token_id  # so generation learns to stop
    assert tokenizer.decode(trained(features)) == f" {record['target']}</s>"
    assert len(features["attention_mask"]) == len(features["input_ids"]) == len(features["labels"])


def test_causal_encoding_keeps_the_answer_when_truncating(tiny_models):
    _, tokenizer = load_pretrained(get_spec("tiny-llama"))
    record = {"source": "word " * 100, "target": "La casa es grande."}
    features = encode_record("translation", "causal", tokenizer, record, 24)
    assert len(features["input_ids"]) == 24
    assert tokenizer.decode(trained(features)) == " La casa es grande.</s>"
    # An answer longer than the limit is cut too, and then it must not learn to stop there.
    cut = encode_record("translation", "causal", tokenizer, {"source": "Hi", "target": "palabra " * 100}, 24)
    assert len(cut["input_ids"]) == 24 and cut["labels"][0] == IGNORE and len(trained(cut)) == 23
    assert tokenizer.eos_token_id not in cut["labels"]


def test_encode_all_drops_examples_with_nothing_to_learn(tiny_models):
    _, tokenizer = load_pretrained(get_spec("tiny-llama"))
    long_question = {"messages": [{"role": "user", "content": "word " * 60}, {"role": "assistant", "content": "Yes."}]}
    kept = encode_all("chat", "causal", tokenizer, [long_question, DATA["chat"][0]], 32)
    assert len(kept) == 1 and tokenizer.decode(trained(kept[0])).startswith("Arr, Buenos días")


def test_seq2seq_encoding(tiny_models):
    _, tokenizer = load_pretrained(get_spec("tiny-t5"))
    record = DATA["translation"][2]
    features = encode_record("translation", "seq2seq", tokenizer, record, 128)
    assert tokenizer.decode(features["input_ids"]) == f"translate English to Spanish: {record['source']}</s>"
    assert IGNORE not in features["labels"]
    assert tokenizer.decode(features["labels"]) == f"{record['target']}</s>"


def test_sentiment_encoding(tiny_models):
    _, tokenizer = load_pretrained(get_spec("tiny-bert"))
    features = encode_record("sentiment", "encoder", tokenizer, {"text": "Great film", "label": "positive"}, 128,
                             {"negative": 0, "positive": 1})
    assert features["labels"] == 1
    assert tokenizer.decode(features["input_ids"]) == "[CLS]Great film[SEP]"


def test_chat_encoding_trains_only_assistant_turns(tiny_models):
    _, tokenizer = load_pretrained(get_spec("tiny-llama"))
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    messages = [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Hello!"},
                {"role": "assistant", "content": "Arr, hello."}, {"role": "user", "content": "Tell me a joke."},
                {"role": "assistant", "content": "Arr, no jokes."}]
    features = encode_record("chat", "causal", tokenizer, {"messages": messages}, 256)
    ids, labels = features["input_ids"], features["labels"]
    assert tokenizer.decode(ids) == tokenizer.apply_chat_template(messages, tokenize=False)
    # Runs of trained tokens: exactly the two replies, each with its end-of-turn marker (and newline).
    runs, current = [], []
    for token, label in zip(ids, labels):
        if label == IGNORE:
            if current:
                runs.append(current)
            current = []
        else:
            assert label == token
            current.append(token)
    runs.append(current) if current else None
    assert [tokenizer.decode(run) for run in runs] == ["Arr, hello.<|im_end|>\n", "Arr, no jokes.<|im_end|>\n"]
    assert sum(label == im_end for label in labels) == 2
    assert sum(token == im_end for token in ids) == 5  # the system and user turns' markers are masked
    assert labels[0] == IGNORE  # <|im_start|> of the system turn
    header = tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    start = len(tokenizer.apply_chat_template(messages[:2], add_generation_prompt=True, return_dict=True)["input_ids"])
    assert ids[start - len(header): start] == header and labels[start - len(header): start] == [IGNORE] * len(header)


# ------------------------------------------------------------------ the loss


def causal_batch(tokenizer, records, task="translation"):
    features = encode_all(task, "causal", tokenizer, records, 128)
    tokenizer.padding_side = "right"
    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE, return_tensors="pt")(features)


@pytest.mark.parametrize("base", ["tiny-llama", "tiny-gemma3"])
def test_target_only_loss_equals_standard_loss(tiny_models, base):
    model, tokenizer = load_pretrained(get_spec(base))
    model.eval()
    if base == "tiny-gemma3":
        assert model.config.final_logit_softcapping  # the soft-capping branch is exercised
    for task in ("translation", "chat"):
        batch = causal_batch(tokenizer, DATA[task][:5], task)
        assert (batch["attention_mask"] == 0).any()  # really padded
        with torch.no_grad():
            assert float(target_only_lm_loss(model, batch)) == pytest.approx(float(model(**batch).loss), abs=1e-5)


def test_target_only_loss_routes_per_row_adapters(tiny_models):
    model, tokenizer = load_pretrained(get_spec("tiny-llama"))
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    model.add_adapter("other", LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
    model.eval()
    batch = causal_batch(tokenizer, DATA["translation"][:3])
    with torch.no_grad():
        assert float(target_only_lm_loss(model, batch)) == pytest.approx(float(model(**batch).loss), abs=1e-5)
        names = ["default", "other", "__base__"]
        routed = float(target_only_lm_loss(model, {**batch, "adapter_names": names}))
        assert routed == pytest.approx(float(model(**batch, adapter_names=names).loss), abs=1e-5)
        assert routed != pytest.approx(float(model(**batch).loss), abs=1e-3)  # the routing really changed rows


# ------------------------------------------------------------------ cancel, save, reload


def test_cancel_mid_epoch_saves_nothing(tiny_models, tmp_path):
    cancel = threading.Event()
    statuses: list[tuple[str, int]] = []

    def report(progress: Progress) -> None:
        statuses.append((progress.status, progress.step))
        if progress.status == "training" and progress.step >= 2:
            cancel.set()

    records = DATA["translation"] * 2
    recipe = recipe_for("translation", "tiny-llama", records, records[:2], report=report, cancel=cancel,
                        max_steps=-1, epochs=1, batch_size=2)
    destination = tmp_path / "library" / "cancelled"
    with pytest.raises(TrainingCancelled):
        recipe.run(destination)
    assert recipe.progress.total_steps == 8  # one epoch of 16 examples in batches of 2
    assert 2 <= recipe.progress.step <= 3
    assert recipe.progress.status == "cancelled"
    assert statuses[-1][0] == "cancelled" and "saving" not in [s for s, _ in statuses]
    assert not destination.exists()
    assert not destination.parent.exists() or list(destination.parent.iterdir()) == []


def test_cancel_before_training_starts(tiny_models, tmp_path):
    cancel = threading.Event()
    cancel.set()
    recipe = recipe_for("translation", "tiny-llama", cancel=cancel)
    with pytest.raises(TrainingCancelled):
        recipe.run(tmp_path / "never")
    assert recipe.progress.status == "cancelled" and recipe.progress.step == 0
    assert not (tmp_path / "never").exists()


def test_saved_translation_adapter_reloads_identically(tiny_models, tmp_path, fresh_models, cpu_only):
    reports: list[str] = []
    recipe = recipe_for("translation", "tiny-llama", report=lambda p: reports.append(p.status))
    destination = tmp_path / "library" / "my-translator"
    metadata = recipe.run(destination)
    assert [s for i, s in enumerate(reports) if i == 0 or s != reports[i - 1]] == [
        "loading", "evaluating", "training", "evaluating", "saving", "done"]

    info = read_adapter(destination)
    assert (info.task, info.base_model, info.name) == ("translation", "tiny-llama", "my-translator")
    saved = json.loads((destination / "playground.json").read_text())
    assert saved["loss_history"] == [list(pair) for pair in recipe.progress.losses]
    assert set(saved["metrics"]) == {"base", "adapter"} and "chrf" in saved["metrics"]["adapter"]
    assert metadata["steps"] == 6 and saved["hyperparameters"]["learning_rate"] == 1e-2
    assert json.loads((destination / "adapter_config.json").read_text())["base_model_name_or_path"] == "tests/tiny-llama"
    assert "my-translator" in (destination / "README.md").read_text()
    assert not any(p.name.startswith(".") for p in destination.parent.iterdir())

    text = "Where is the train station?"
    target = resolve_target("translation", str(destination))
    inputs = target.loaded.tokenizer([text], return_tensors="pt").to(target.loaded.model.device)
    recipe.model.eval()
    with torch.no_grad():
        in_memory = recipe.model(**inputs).logits
        reloaded = target.loaded.model(**inputs, adapter_names=[target.key]).logits
        bare = target.loaded.model(**inputs, adapter_names=["__base__"]).logits
    assert torch.allclose(in_memory, reloaded, atol=1e-5)
    assert not torch.allclose(in_memory, bare, atol=1e-4)  # training changed something
    expected = generate_texts(recipe.model, recipe.tokenizer, "causal", "translation", [text], [False], None, 256)
    assert translate(text, adapter=str(destination)) == expected[0]


@pytest.mark.parametrize("task,base", [("sentiment", "tiny-bert"), ("translation", "tiny-t5")])
def test_saved_adapter_reloads_identically_other_architectures(tiny_models, tmp_path, fresh_models, task, base):
    recipe = recipe_for(task, base)
    recipe.setup()
    recipe.train()
    destination = recipe.save(tmp_path / f"{task}-{base}")
    recipe.model.eval()
    text = "I loved this movie" if task == "sentiment" else "The house is big."
    if task == "sentiment":
        expected = class_probabilities(recipe.model, recipe.tokenizer, [text], recipe.labels, False)[0]
        assert classify_sentiment(text, adapter=str(destination)) == pytest.approx(expected, abs=1e-5)
        assert expected != pytest.approx(classify_sentiment(text, base=base), abs=1e-3)
    else:
        expected = generate_texts(recipe.model, recipe.tokenizer, "seq2seq", task, [text], [False], None, 256)[0]
        assert translate(text, adapter=str(destination)) == expected


# ------------------------------------------------------------------ determinism and methods


def test_same_seed_same_losses(tiny_models, cpu_only):
    def losses(seed: int) -> list:
        recipe = recipe_for("translation", "tiny-llama", seed=seed, batch_size=4, dropout=0.1)
        recipe.setup()
        recipe.train()
        return recipe.progress.losses

    first = losses(0)
    assert losses(0) == first
    assert losses(1) != first


def test_other_methods_report_trainable_parameters(tiny_models, tmp_path):
    counts = {}
    for method in ("head", "freeze", "full"):
        recipe = recipe_for("sentiment", "tiny-bert", method=method, max_steps=1, freeze_layers=1)
        recipe.setup()
        recipe.train()
        counts[method] = (recipe.trainable_params, recipe.total_params)
        assert (recipe.trainable_params, recipe.total_params) == count_parameters(recipe.model)
        if method == "freeze":
            frozen = {n for n, p in recipe.model.named_parameters() if not p.requires_grad}
            assert any(".layer.0." in n for n in frozen) and any("embeddings" in n for n in frozen)
            assert not any(".layer.1." in n for n in frozen)
        with pytest.raises(ValueError, match="only LoRA saves"):
            recipe.save(tmp_path / method)
    head, freeze, full = counts["head"], counts["freeze"], counts["full"]
    assert 0 < head[0] < freeze[0] < full[0] == full[1]
    assert head[1] == freeze[1] == full[1]


def test_head_method_needs_a_classifier(tiny_models):
    model, _ = load_pretrained(get_spec("tiny-llama"))
    config = make_config("translation", "quick", base="tiny-llama", method="head")
    with pytest.raises(ValueError, match="classification"):
        apply_method(model, get_spec("tiny-llama"), config)


def lora_weights(model) -> dict[str, torch.Tensor]:
    return {name.replace(".default", ""): p.detach().clone() for name, p in model.named_parameters() if "lora_" in name}


def test_a_second_stage_continues_the_first_stages_weights(tiny_models, tmp_path):
    first = recipe_for("translation", "tiny-llama", rank=4, alpha=8)
    first.setup()
    first.train()
    first.save(tmp_path / "stage1")
    trained = lora_weights(first.model)
    first_loss = train_set_loss(first)

    second = recipe_for("translation", "tiny-llama", rank=4, alpha=8, init_adapter=str(tmp_path / "stage1"))
    second.setup()
    loaded = apply_method(second.model, second.spec, second.config)
    assert all(torch.equal(lora_weights(loaded)[name], value) for name, value in trained.items()), "not resumed"
    assert sum(p.numel() for p in loaded.parameters() if p.requires_grad) == first.trainable_params
    second.setup()  # a fresh base again: train() applies the method itself
    second.train()
    assert train_set_loss(second) < first_loss  # went on from where the first stage stopped
    assert second.trainable_params == first.trainable_params


def test_a_second_stage_must_fit_the_first(tiny_models, tmp_path):
    first = recipe_for("translation", "tiny-llama", rank=4, alpha=8)
    first.setup()
    first.train()
    first.save(tmp_path / "stage1")
    for base, rank, message in [("tiny-llama", 8, "rank 4"), ("tiny-gemma3", 4, "translation on tiny-llama")]:
        with pytest.raises(ValueError, match=message):  # before any model is loaded
            recipe_for("translation", base, rank=rank, init_adapter=str(tmp_path / "stage1"))
        config = make_config("translation", "quick", base=base, rank=rank, init_adapter=str(tmp_path / "stage1"))
        with pytest.raises(ValueError, match=message):  # and where the weights are loaded
            apply_method(load_pretrained(get_spec(base))[0], get_spec(base), config)
    with pytest.raises(ConfigError, match="method must be lora"):
        make_config("translation", "quick", method="full", init_adapter="stage1")


def test_validation_split_when_none_given(tiny_models):
    records = [{"source": f"Sentence {i}.", "target": f"Frase {i}."} for i in range(20)]
    recipe = LoRARecipe(make_config("translation", "quick", base="tiny-llama", validation_fraction=0.1), records)
    # 10% would hold out 2 rows; a third of the rows (up to 30) is held out so the measurement means something
    assert len(recipe.validation_records) == 6 and len(recipe.train_records) == 14
    assert not {r["source"] for r in recipe.validation_records} & {r["source"] for r in recipe.train_records}


# ------------------------------------------------------------------ pinned numbers (torchtune-style)

# Loss per step of a 3-step LoRA run of tiny Llama on translation (CPU, fp32, seed 0). Steps 1-2
# pin data encoding, batching and the loss (step 1 runs at warm-up lr 0); step 3 pins one optimizer
# update. If a change here is intended (new prompt format, library upgrade), re-run and paste the new values.
PINNED_LOSSES = [(1, 6.557106971740723), (2, 6.560472011566162), (3, 6.51083517074585)]


def test_pinned_loss_values(tiny_models, cpu_only):
    recipe = recipe_for("translation", "tiny-llama", max_steps=3, batch_size=4, learning_rate=1e-2, dropout=0.05)
    recipe.setup()
    recipe.train()
    got = recipe.progress.losses
    print("pinned losses:", got)
    assert [step for step, _ in got] == [step for step, _ in PINNED_LOSSES]
    assert [loss for _, loss in got] == pytest.approx([loss for _, loss in PINNED_LOSSES], rel=1e-4)


@pytest.mark.parametrize("task,base", [("translation", "tiny-llama"), ("translation", "tiny-gemma3"),
                                       ("translation", "tiny-t5"), ("sentiment", "tiny-bert")])
def test_bf16_trains_on_bf16_frozen_weights_and_gives_the_fp32_ones_back(tiny_models, task, base):
    recipe = recipe_for(task, base, precision="bf16")
    recipe.setup()
    before_loss = train_set_loss(recipe)
    originals = {name: p.detach().clone() for name, p in recipe.model.named_parameters()}
    seen: set[torch.dtype] = set()  # the frozen linear weights as each forward pass finds them

    def record(module: torch.nn.Linear, inputs: Any, output: Any) -> None:
        if not module.weight.requires_grad:  # (the trained head is a copy of a hooked layer)
            seen.add(module.weight.dtype)

    hooks = [m.register_forward_hook(record) for m in recipe.model.modules() if isinstance(m, torch.nn.Linear)]
    recipe.train()
    for hook in hooks:
        hook.remove()
    assert seen == {torch.bfloat16}
    trained = [name for name, p in recipe.model.named_parameters() if p.requires_grad]
    assert trained and all(p.dtype == torch.float32 for p in recipe.model.parameters())
    for name, parameter in recipe.model.get_base_model().named_parameters():
        if not parameter.requires_grad and name in originals:
            assert torch.equal(parameter, originals[name]), name  # the very same fp32 weights, not rounded ones
    autocast: list[bool] = []  # the model after training computes in fp32, as the app serves it
    hook = next(m for m in recipe.model.modules() if isinstance(m, torch.nn.Linear)).register_forward_hook(
        lambda module, inputs, output: autocast.append(torch.is_autocast_enabled("cpu")))
    assert train_set_loss(recipe) < before_loss
    hook.remove()
    assert autocast == [False]
    assert recipe.metadata("x")["precision"] == "bf16"


def test_auto_precision_follows_the_hardware(monkeypatch):
    from finetune.precision import resolve_precision
    from models import loading

    cpu = torch.device("cpu")
    monkeypatch.setattr(loading, "cpu_has_fast_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16" and resolve_precision("fp32", cpu) == "fp32"
    monkeypatch.setattr(loading, "cpu_has_fast_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16"):
        make_config("translation", precision="fp16")
