"""The task functions on tiny models: one per task, batching with per-row adapters, the CLI."""

from __future__ import annotations

import json

import pytest

from models import inference
from models.__main__ import main as models_cli
from models.adapters import AdapterError
from models.engine import Engine
from models.generation import chat_replies, generate_texts, class_probabilities
from models.inference import BASE, attach, chat, classify_sentiment, resolve_target, summarize, translate
from models.loading import load_base

from conftest import change_task, make_adapter
from models.tasks import get_task

TEXTS = ["Where is the train station?", "The cat sleeps on the bed.", "Thank you very much for your help."]
PARAGRAPH = ("This package contains a small command-line tool that converts images between formats. "
             "It can resize and rotate pictures and works on whole folders at once.")


@pytest.fixture(autouse=True)
def _fresh(fresh_models):
    yield


@pytest.mark.parametrize("base", ["tiny-llama", "tiny-gemma3", "tiny-t5"])
@pytest.mark.parametrize("run,text", [(translate, TEXTS[0]), (summarize, PARAGRAPH)])
def test_generation_tasks_on_each_architecture(tiny_models, base, run, text):
    first = run(text, base=base)
    assert isinstance(first, str) and "\n" not in first
    assert run(text, base=base) == first  # greedy: the same answer every time
    assert load_base(base).spec.architecture == ("seq2seq" if base == "tiny-t5" else "causal")


def test_seq2seq_adapter_changes_the_answer(tiny_adapters):
    # T5 gets the same zero-shot prompt with or without adapter, so any difference is the adapter's.
    assert translate(TEXTS[0], adapter=str(tiny_adapters["t5-translation"])) != translate(TEXTS[0], base="tiny-t5")


def test_summarize_with_an_adapter_on_gemma3(tiny_adapters):
    folder = str(tiny_adapters["gemma3-summarization"])
    summary = summarize(PARAGRAPH, adapter=folder)
    assert isinstance(summary, str) and "\n" not in summary
    assert summarize(PARAGRAPH, adapter=folder) == summary
    with pytest.raises(AdapterError, match="summarization"):
        translate(TEXTS[0], adapter=folder)


def _spy_on_requests(monkeypatch) -> list:
    """Every request the engines are given, as it is given."""
    seen: list = []
    real = Engine.submit_all

    def spy(self, requests):
        seen.extend(requests)
        return real(self, requests)

    monkeypatch.setattr(Engine, "submit_all", spy)
    return seen


@pytest.fixture
def prompts(tiny_models, monkeypatch):
    """The prompts of the causal generations served on tiny-llama so far, as the model reads them."""
    tokenizer, requests = load_base("tiny-llama").tokenizer, _spy_on_requests(monkeypatch)
    return lambda: [tokenizer.decode(request.prompt, skip_special_tokens=True) for request in requests]


def test_bare_base_gets_few_shot_prompt_and_adapter_the_trained_one(tiny_adapters, prompts):
    """An adapter must see exactly the zero-shot format it was trained on; the bare base gets worked examples."""
    translate(TEXTS[0], base="tiny-llama")
    translate(TEXTS[0], adapter=str(tiny_adapters["llama-translation-a"]))
    few_shot, zero_shot = prompts()
    assert zero_shot == f"English: {TEXTS[0]}\nSpanish:"
    assert few_shot.endswith("\n\n" + zero_shot) and "Buenos días, ¿cómo estás?" in few_shot


def test_classify_sentiment_base_probabilities(tiny_models):
    probabilities = classify_sentiment("I loved this movie, it was wonderful.", base="tiny-bert")
    assert list(probabilities) == ["negative", "positive"]
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(0 <= p <= 1 for p in probabilities.values())


def test_classify_sentiment_adapter_with_its_own_labels(tiny_models, tmp_path):
    folder = make_adapter("tiny-bert", "sentiment", tmp_path / "three-way", seed=9, labels=["bad", "meh", "good"])
    probabilities = classify_sentiment("It was fine.", adapter=str(folder))
    assert list(probabilities) == ["bad", "meh", "good"]
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert load_base("tiny-bert", ["bad", "meh", "good"]).model.config.num_labels == 3
    # The two-label base is a separate copy and is not disturbed.
    assert list(classify_sentiment("It was fine.", base="tiny-bert")) == ["negative", "positive"]


def test_chat_streams_growing_prefixes_and_ends(tiny_models):
    pieces = list(chat("What is the capital of France?", base="tiny-llama"))
    assert pieces, "the stream yielded nothing"
    for before, after in zip(pieces, pieces[1:]):
        assert after.startswith(before) and len(after) >= len(before)
    assert len(pieces) <= get_task("chat").max_new_tokens + 1


def test_chat_with_adapter_and_system_prompt(tiny_adapters):
    folder = str(tiny_adapters["llama-chat"])
    history = [{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi there."}]
    first = list(chat("Tell me a joke.", history, adapter=folder, system="You are a pirate."))
    again = list(chat("Tell me a joke.", history, adapter=folder, system="You are a pirate."))
    # the same greedy reply; how it is cut into streamed pieces depends on timing (the second one
    # starts from the prefix cache)
    assert first and again[-1] == first[-1]
    assert all(later.startswith(earlier) for earlier, later in zip(again, again[1:]))
    assert first[-1] != list(chat("Tell me a joke.", history, base="tiny-llama", system="You are a pirate."))[-1]


def test_chat_drops_oldest_turns_to_fit(tiny_models, monkeypatch):
    loaded = load_base("tiny-llama")
    requests = _spy_on_requests(monkeypatch)
    change_task(monkeypatch, "chat", max_new_tokens=4)
    history = []
    for turn in range(12):
        history += [{"role": "user", "content": f"Question number {turn}: the quick brown fox jumps."},
                    {"role": "assistant", "content": f"Answer number {turn}: over the lazy dog."}]
    list(chat("Final question?", history, system="Be brief.", base="tiny-llama"))
    prompt = loaded.tokenizer.decode(requests[0].prompt)
    assert len(requests[0].prompt) <= loaded.spec.max_input_tokens
    assert "Be brief." in prompt and "Final question?" in prompt  # system prompt and new turn kept
    assert "Question number 0:" not in prompt and "Answer number 11:" in prompt  # oldest dropped first
    assert prompt.startswith("<|im_start|>system")  # whole turns dropped, not cut mid-way


@pytest.fixture
def same_length_cap(monkeypatch):
    """Translation caps new tokens at 2 x the batch's longest input + 16, so a short text batched with a
    long one may run longer than alone; a cap below that bound makes the comparison row-for-row."""
    change_task(monkeypatch, "translation", max_new_tokens=12)


def test_generate_texts_mixed_adapters_equal_single_calls(tiny_adapters, same_length_cap):
    loaded = load_base("tiny-llama")
    keys = [attach(loaded, resolve_target("translation", str(tiny_adapters[name])).info)
            for name in ("llama-translation-a", "llama-translation-b")]
    names = [keys[0], keys[1], BASE, keys[1]]
    texts = TEXTS + ["Good morning, how are you?"]
    bare = [name == BASE for name in names]
    model, tokenizer = loaded.model, loaded.tokenizer
    batched = generate_texts(model, tokenizer, "causal", "translation", texts, bare, names, 256)
    single = [generate_texts(model, tokenizer, "causal", "translation", [t], [b], [n], 256)[0]
              for t, b, n in zip(texts, bare, names)]
    assert batched == single
    assert len(set(generate_texts(model, tokenizer, "causal", "translation", [texts[0]] * 3,
                                  [False, False, True], [keys[0], keys[1], BASE], 256))) == 3


def test_generate_texts_mixed_adapters_on_t5(tiny_adapters, same_length_cap):
    target = resolve_target("translation", str(tiny_adapters["t5-translation"]))
    model, tokenizer = target.loaded.model, target.loaded.tokenizer
    names = [target.key, BASE, target.key]
    batched = generate_texts(model, tokenizer, "seq2seq", "translation", TEXTS, [False, True, False], names, 256)
    single = [generate_texts(model, tokenizer, "seq2seq", "translation", [t], [n == BASE], [n], 256)[0]
              for t, n in zip(TEXTS, names)]
    assert batched == single


def test_class_probabilities_mixed_adapters_equal_single_calls(tiny_adapters):
    targets = [resolve_target("sentiment", str(tiny_adapters[n])) for n in ("bert-sentiment-a", "bert-sentiment-b")]
    loaded = targets[0].loaded
    assert targets[1].loaded is loaded
    names = [targets[0].key, targets[1].key, targets[0].key]
    labels = ["negative", "positive"]
    batched = class_probabilities(loaded.model, loaded.tokenizer, TEXTS, labels, False, names)
    for text, name, row in zip(TEXTS, names, batched):
        alone = class_probabilities(loaded.model, loaded.tokenizer, [text], labels, False, [name])[0]
        assert row == pytest.approx(alone, abs=1e-5)


def test_chat_replies_batch_equals_single_and_reports_stop(tiny_adapters):
    target = resolve_target("chat", str(tiny_adapters["llama-chat"]))
    model, tokenizer = target.loaded.model, target.loaded.tokenizer
    conversations = [[{"role": "user", "content": "Hello!"}],
                     [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a joke."}]]
    names = [target.key, BASE]
    batched = chat_replies(model, tokenizer, conversations, names, max_new_tokens=12)
    single = [chat_replies(model, tokenizer, [c], [n], max_new_tokens=12)[0] for c, n in zip(conversations, names)]
    assert batched == single
    assert all(isinstance(text, str) and isinstance(ended, bool) for text, ended in batched)


def test_is_truncated(tiny_models, monkeypatch):
    monkeypatch.setitem(inference.DEFAULT_BASE, "translation", "tiny-llama")
    assert not inference.is_truncated("translation", "Short text.")
    assert inference.is_truncated("translation", "word " * 400)


def test_long_input_is_cut_but_the_prompt_keeps_its_instruction(prompts, monkeypatch):
    """A text over the window loses its tail, never the "Spanish:" cue the model answers after."""
    loaded = load_base("tiny-llama")
    change_task(monkeypatch, "translation", max_new_tokens=4)
    translate("the quick brown fox " * 2_000, base="tiny-llama")
    prompt = prompts()[0]
    assert prompt.endswith("\nSpanish:") and "Buenos días" in prompt
    assert len(loaded.tokenizer(prompt)["input_ids"]) <= loaded.spec.max_input_tokens


def test_chat_reports_a_failed_generation_instead_of_waiting(tiny_models, monkeypatch):
    loaded = load_base("tiny-llama")

    def broken(**kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(loaded.model, "forward", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        list(chat("Hello?", base="tiny-llama"))


def test_generation_leaves_the_tokenizers_padding_side_alone(tiny_models):
    loaded = load_base("tiny-llama")
    loaded.tokenizer.padding_side = "right"
    translate("Hello there.", base="tiny-llama")
    assert loaded.tokenizer.padding_side == "right"


def test_unknown_adapter_name(tiny_models):
    with pytest.raises(AdapterError, match="no-such-adapter"):
        translate("Hello", adapter="no-such-adapter")


# ------------------------------------------------------------------ python -m models


def test_cli_predict_translation(tiny_models, capsys):
    assert models_cli(["predict", "--task", "translation", "--base", "tiny-llama", TEXTS[0]]) == 0
    assert capsys.readouterr().out.strip() == translate(TEXTS[0], base="tiny-llama")


def test_cli_predict_sentiment_with_adapter(tiny_adapters, capsys):
    folder = str(tiny_adapters["bert-sentiment-a"])
    assert models_cli(["predict", "--task", "sentiment", "--adapter", folder, "Great film"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == pytest.approx(classify_sentiment("Great film", adapter=folder), abs=1e-6)


def test_cli_predict_chat(tiny_adapters, capsys):
    folder = str(tiny_adapters["llama-chat"])
    assert models_cli(["predict", "--task", "chat", "--adapter", folder, "Hello!"]) == 0
    assert capsys.readouterr().out == list(chat("Hello!", adapter=folder))[-1] + "\n"


def test_cli_list(tiny_models, capsys):
    assert models_cli(["list"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("base") and "tiny-llama" in line and "tests/tiny-llama" in line
               for line in out.splitlines())
    assert "gemma-3-270m" in out


@pytest.mark.parametrize("argv,pattern", [
    (["predict", "--task", "translation", "--base", "no-such-model", "Hi"], "no-such-model"),
    (["predict", "--task", "translation", "--base", "flan-t5-small", "Hi"], "not available offline"),
    (["predict", "--task", "translation", "--adapter", "no-such-adapter", "Hi"], "no-such-adapter"),
])
def test_cli_errors_exit_2(tiny_models, capsys, argv, pattern):
    assert models_cli(argv) == 2
    assert pattern in capsys.readouterr().err


@pytest.mark.parametrize("run", [translate, summarize, classify_sentiment, lambda text, **kw: list(chat(text, **kw))])
def test_empty_input_is_refused_with_a_clear_message(tiny_models, run):
    with pytest.raises(ValueError, match="empty"):
        run("  \n ", base={translate: "tiny-llama", summarize: "tiny-gemma3",
                            classify_sentiment: "tiny-bert"}.get(run, "tiny-llama"))
