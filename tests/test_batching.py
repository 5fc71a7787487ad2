"""Batching: simultaneous requests share model calls and get the answers they get alone (causal
bases through the engine, the others through the micro-batcher).

Greedy decoding on fp32 tiny models: a row's tokens do not depend on the other rows. Left padding
changes the shapes the matrix kernels see, so logits can differ in the last bits; on these models
no argmax is that close, so generated texts compare exactly. Sentiment probabilities are floats
computed over differently padded batches, so they compare to 1e-5.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from models import batching, inference
from models.batching import MicroBatcher
from models.inference import classify_sentiment, summarize, translate
from models.loading import load_base

TEXTS = ["Where is the train station?", "The cat sleeps on the bed.", "Thank you very much for your help.",
         "Good morning, how are you?", "We are going to the beach tomorrow.", "The weather is nice today."]
PARAGRAPH = ("This package contains a small command-line tool that converts images between formats. "
             "It can resize and rotate pictures and works on whole folders at once.")


@pytest.fixture(autouse=True)
def _fresh(fresh_models, monkeypatch):
    # Windows wide enough that every simultaneous request joins the batch.
    monkeypatch.setattr(batching, "WINDOW_S", 0.2)
    monkeypatch.setattr(inference, "GENERATION_WINDOW_S", 0.2)
    yield


def _simultaneously(calls):
    """Start every call at the same moment from its own thread; results in call order."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _batch_sizes(base: str, task: str) -> list[int]:
    return list(load_base(base).batchers[task].batch_sizes)


def test_concurrent_translations_with_mixed_adapters_equal_alone(tiny_adapters):
    adapters = [str(tiny_adapters["llama-translation-a"]), str(tiny_adapters["llama-translation-b"]), None]
    requests = [(text, adapters[i % 3]) for i, text in enumerate(TEXTS)]
    alone = [translate(text, adapter=adapter, base="tiny-llama") for text, adapter in requests]
    steps = load_base("tiny-llama").engine.step_sizes
    assert set(steps) == {1}
    before = len(steps)

    together = _simultaneously([lambda t=text, a=adapter: translate(t, adapter=a, base="tiny-llama")
                                for text, adapter in requests])
    assert max(list(steps)[before:]) > 1  # they shared steps
    assert together == alone
    assert len(set(together[:3])) == 3  # the adapters really differ on these inputs


def test_short_text_batched_with_long_one_keeps_its_own_length_cap(tiny_models):
    short, long = "Hi.", " ".join(TEXTS)
    alone = translate(short, base="tiny-llama")
    together = _simultaneously([lambda: translate(short, base="tiny-llama"),
                                lambda: translate(long, base="tiny-llama")])
    assert together[0] == alone


def test_concurrent_summaries_on_seq2seq_equal_alone(tiny_adapters):
    adapter = str(tiny_adapters["t5-translation"])
    alone = [summarize(PARAGRAPH, base="tiny-t5"), translate(TEXTS[0], adapter=adapter),
             translate(TEXTS[1], base="tiny-t5")]
    together = _simultaneously([lambda: summarize(PARAGRAPH, base="tiny-t5"),
                                lambda: translate(TEXTS[0], adapter=adapter),
                                lambda: translate(TEXTS[1], base="tiny-t5")])
    assert together == alone
    assert _batch_sizes("tiny-t5", "translation")[-1] == 2  # tasks batch separately


def test_concurrent_sentiment_with_adapters_and_bare_base_equal_alone(tiny_adapters):
    adapters = [str(tiny_adapters["bert-sentiment-a"]), str(tiny_adapters["bert-sentiment-b"]), None]
    requests = [(text, adapters[i % 3]) for i, text in enumerate(TEXTS)]
    alone = [classify_sentiment(text, adapter=adapter, base="tiny-bert") for text, adapter in requests]
    together = _simultaneously([lambda t=text, a=adapter: classify_sentiment(t, adapter=a, base="tiny-bert")
                                for text, adapter in requests])
    assert _batch_sizes("tiny-bert", "classify")[-1] == len(requests)
    for batched, single in zip(together, alone):
        assert list(batched) == list(single)
        assert batched == pytest.approx(single, abs=1e-5)


def test_a_failing_request_fails_alone():
    def run(items):
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]

    batcher = MicroBatcher(run, window_s=0.5)
    results = _simultaneously([lambda item=item: _outcome(batcher, item) for item in ("a", "bad", "c")])
    assert results == ["A", "ValueError: bad item", "C"]
    assert list(batcher.batch_sizes)[0] == 3  # tried together first, then one by one


def _outcome(batcher, item):
    try:
        return batcher.submit(item)
    except ValueError as error:
        return f"ValueError: {error}"


def test_requests_arriving_during_a_batch_form_the_next_one_and_the_worker_retires():
    running, release = threading.Event(), threading.Event()

    def run(items):
        if items == ["first"]:
            running.set()
            release.wait(5)
        return items

    batcher = MicroBatcher(run, window_s=0.0, max_batch=3, idle_s=0.05)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(batcher.submit, "first")
        assert running.wait(5)
        later = [pool.submit(batcher.submit, f"r{i}") for i in range(5)]
        while len(batcher._pending) < 5:  # all five queued behind the running batch
            time.sleep(0.005)
        release.set()
        assert first.result() == "first" and [f.result() for f in later] == [f"r{i}" for i in range(5)]
    assert list(batcher.batch_sizes) == [1, 3, 2]  # max_batch splits the waiting five
    deadline = time.monotonic() + 5
    while batcher._worker is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batcher._worker is None
    assert batcher.submit("again") == "again"  # a new worker starts on demand


def test_a_worker_keeps_its_threads_between_close_batches_and_hands_them_back_when_idle(monkeypatch):
    events, workers = [], set()
    monkeypatch.setattr(batching, "HOLD_S", 0.3)
    # Workers of other tests' batchers may still be about: count this batcher's worker only.
    monkeypatch.setattr(batching, "release_openmp_threads",
                        lambda: threading.get_ident() in workers and events.append("release"))

    def run(items):
        workers.add(threading.get_ident())
        events.append(items[0])
        return items

    batcher = MicroBatcher(run, window_s=0.0, idle_s=0.05)
    assert batcher.submit("a") == "a"
    time.sleep(0.05)  # well within HOLD_S: the next batch finds the same threads
    assert batcher.submit("b") == "b"
    deadline = time.monotonic() + 5
    while batcher._worker is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert events == ["a", "b", "release"]  # handed back once, after the last batch, before retiring


def _two_adapter_model():
    """A tiny MLP with LoRA adapters of different ranks and scalings, B filled with noise."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    model = get_peft_model(mlp, LoraConfig(r=2, lora_alpha=4, target_modules=["0", "2"]), adapter_name="tiny")
    model.add_adapter("big", LoraConfig(r=4, lora_alpha=3, target_modules=["0", "2"]))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_()
    return model.eval()


@pytest.mark.parametrize("names", [["tiny", "__base__", "big", "big", "tiny"],  # shared adapters: rows pick theirs
                                   ["big", "tiny", "__base__", "__base__", "__base__"]])  # one adapter per row
@pytest.mark.parametrize("shape", [(5, 8), (5, 3, 8)])
def test_batched_lora_equals_peft_loop(monkeypatch, shape, names):
    import torch
    from peft.tuners.lora import layer as lora_layer

    from models import mixed_lora

    model = _two_adapter_model()
    x = torch.randn(*shape)
    with torch.no_grad():
        monkeypatch.setattr(lora_layer.Linear, "_mixed_batch_forward", mixed_lora._PEFT_MIXED_FORWARD)
        expected = model(x, adapter_names=names)
        monkeypatch.setattr(lora_layer.Linear, "_mixed_batch_forward", mixed_lora.batched_mixed_forward)
        batched = model(x, adapter_names=names)
        alone = torch.cat([model(x[i: i + 1], adapter_names=[n]) for i, n in enumerate(names)])
    assert torch.allclose(batched, expected, atol=1e-5)
    assert torch.allclose(alone, expected, atol=1e-5)
    plain = model(x, adapter_names=["__base__"] * len(names)).detach()
    assert all(not torch.allclose(expected[i], plain[i]) for i, name in enumerate(names) if name != "__base__")


def test_a_stacked_set_serves_its_subsets_and_other_orders(monkeypatch):
    """As rows leave a batch, the adapters left are a subset of those stacked: no new stack is built."""
    import torch
    from peft.tuners.lora import layer as lora_layer

    from models import mixed_lora

    model = _two_adapter_model()
    x = torch.randn(3, 4, 8)
    later = [["big", "tiny"], ["big"], ["__base__", "tiny"], ["tiny", "__base__", "big"]]
    with torch.no_grad():
        model(x, adapter_names=["tiny", "big", "__base__"])  # stacks (tiny, big) in every layer
        batched = [model(x[: len(names)], adapter_names=names) for names in later]
        monkeypatch.setattr(lora_layer.Linear, "_mixed_batch_forward", mixed_lora._PEFT_MIXED_FORWARD)
        expected = [model(x[: len(names)], adapter_names=names) for names in later]
    for got, want in zip(batched, expected):
        assert torch.allclose(got, want, atol=1e-5)
    stacks = [layer.__dict__["_stacked_lora"] for layer in model.modules() if "_stacked_lora" in layer.__dict__]
    assert stacks and all(list(stack) == [("tiny", "big")] for stack in stacks)


def test_batched_lora_follows_adapter_weights_that_change():
    """The concatenated weights are cached: an in-place update or a replaced adapter must show at once."""
    import torch

    from models import mixed_lora

    model = _two_adapter_model()
    x, names = torch.randn(2, 8), ["tiny", "big"]
    with torch.no_grad():
        before = model(x, adapter_names=names)
        for layer in model.modules():
            if hasattr(layer, "lora_B") and "big" in layer.lora_B:
                layer.lora_B["big"].weight.mul_(2)
        updated = model(x, adapter_names=names)
        assert torch.allclose(updated[0], before[0]) and not torch.allclose(updated[1], before[1])
        model.delete_adapter("big")
        model.add_adapter("big", model.peft_config["tiny"])
        mixed_lora.forget_stacked(model)
        replaced = model(x, adapter_names=names)
    alone = model(x[1:], adapter_names=["big"]).detach()
    assert torch.allclose(replaced[1], alone[0], atol=1e-6) and not torch.allclose(replaced[1], updated[1])


def test_per_row_hooks_reject_unknown_adapters_and_see_adapters_added_later():
    """The hooked layers are found once per set of adapters: one added on other layers must be routed too."""
    import torch
    from peft import LoraConfig, get_peft_model

    from models import mixed_lora

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    model = get_peft_model(mlp, LoraConfig(r=2, lora_alpha=4, target_modules=["0"]), adapter_name="first").eval()
    x = torch.randn(3, 8)
    with torch.no_grad():
        with pytest.raises(ValueError, match="non-existing adapter.*tyop"):
            with mixed_lora.per_row_adapters(model, ["first", "tyop"]):
                pass
        with pytest.raises(ValueError, match="training mode"):  # rows routed this way skip LoRA dropout
            with mixed_lora.per_row_adapters(model.train(), ["first"]):
                pass
        model.eval()
        with mixed_lora.per_row_adapters(model, ["first", "__base__", "first"]):
            model(x)  # finds the hooked layers: only layer 0 has LoRA
        model.add_adapter("late", LoraConfig(r=2, lora_alpha=4, target_modules=["2"]))  # a layer without LoRA so far
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_()
        names = ["late", "__base__", "first"]
        expected = model(x, adapter_names=names)
        with mixed_lora.per_row_adapters(model, names):
            routed = model(x)
        bare = model(x, adapter_names=["__base__"] * 3)
    assert torch.allclose(routed, expected, atol=1e-6)
    assert not torch.allclose(expected[0], bare[0]) and torch.allclose(expected[1], bare[1])


def test_releasing_openmp_threads_is_safe_from_any_thread():
    import torch

    from models.batching import release_openmp_threads

    def work():
        release_openmp_threads()
        value = float((torch.ones(256, 256) @ torch.ones(256, 256)).sum())
        release_openmp_threads()
        return value

    assert _simultaneously([work, work]) == [256.0**3] * 2
    assert work() == 256.0**3
