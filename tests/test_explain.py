"""What an adapter changed (models.explain) on tiny models: the batched teacher-forced pass agrees with
each side read alone, the base's first choice is its argmax, and word effects are what leaving the
word out does to the served classifier."""

from __future__ import annotations

import math

import pytest
import torch

from models.explain import explain
from models.generation import chat_prompt_messages
from models.inference import InputError, classify_sentiment, final_texts, generation_streams, resolve_target
from conftest import make_adapter
from models.tasks import get_task

SENTENCE = "The cat sleeps on the bed."


@pytest.fixture(autouse=True)
def _fresh(fresh_models):
    yield


def _alone(loaded, ids: list[int], answer: list[int], adapter: str | None) -> torch.Tensor:
    """log-probabilities of the answer's positions, one sequence, one side, no batching or routing."""
    model = loaded.model
    with torch.inference_mode():
        if adapter is None:
            with model.disable_adapter():
                logits = model(input_ids=torch.tensor([ids + answer])).logits[0]
        else:
            model.set_adapter(adapter)
            logits = model(input_ids=torch.tensor([ids + answer])).logits[0]
    return logits[len(ids) - 1: len(ids) + len(answer) - 1].float().log_softmax(-1)


@pytest.mark.parametrize("task,adapter", [("translation", "llama-translation-a"),
                                          ("summarization", "gemma3-summarization")])
def test_token_probabilities_match_each_side_read_alone(tiny_adapters, task, adapter):
    folder = str(tiny_adapters[adapter])
    explanation = explain(task, SENTENCE, folder)
    assert explanation.output == final_texts(generation_streams(task, [(SENTENCE, folder)]))[0]
    assert len(explanation.tokens) >= 3
    target = resolve_target(task, folder)
    loaded, spec = target.loaded, get_task(task)
    answer = loaded.tokenizer(" " + explanation.output, add_special_tokens=False)["input_ids"]
    assert [t.token for t in explanation.tokens] == [loaded.tokenizer.decode([i]) for i in answer]
    prompts = {bare: loaded.tokenizer(spec.generation_prompt(SENTENCE, "causal", few_shot=bare))["input_ids"]
               for bare in (True, False)}
    base_log = _alone(loaded, prompts[True], answer, None)
    adapted_log = _alone(loaded, prompts[False], answer, target.key)
    for i, (token, change) in enumerate(zip(answer, explanation.tokens)):
        assert change.base_probability == pytest.approx(math.exp(base_log[i, token]), rel=1e-3, abs=1e-6)
        assert change.adapter_probability == pytest.approx(math.exp(adapted_log[i, token]), rel=1e-3, abs=1e-6)
        assert change.base_choice == loaded.tokenizer.decode([int(base_log[i].argmax())])
        assert change.base_choice_probability == pytest.approx(math.exp(base_log[i].max()), rel=1e-3)
        assert change.change == pytest.approx(math.log(change.adapter_probability) - math.log(change.base_probability))


def test_a_given_output_is_explained_instead_of_the_adapters_own(tiny_adapters):
    folder = str(tiny_adapters["llama-translation-b"])
    written = explain("translation", SENTENCE, folder)
    given = explain("translation", SENTENCE, folder, output="hola mundo")
    assert "".join(t.token for t in given.tokens).strip() == "hola mundo"
    assert given.output == "hola mundo" and written.output != "hola mundo"
    assert all(0 < t.adapter_probability <= 1 and 0 < t.base_probability <= 1 for t in written.tokens)


def test_chat_and_seq2seq_are_explained(tiny_adapters):
    chat = explain("chat", "Hello there", str(tiny_adapters["llama-chat"]),
                   history=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}])
    assert chat.tokens and chat.output
    loaded = resolve_target("chat", str(tiny_adapters["llama-chat"])).loaded
    messages = chat_prompt_messages(loaded.tokenizer, "Hello there", [{"role": "user", "content": "Hi"},
                                                                      {"role": "assistant", "content": "Hey"}],
                                    None, loaded.spec.max_input_tokens)
    assert "Hey" in loaded.tokenizer.apply_chat_template(messages, tokenize=False)
    seq2seq = explain("translation", SENTENCE, str(tiny_adapters["t5-translation"]))
    assert seq2seq.tokens and all(0 < t.base_probability <= 1 for t in seq2seq.tokens)


def test_word_effects_are_what_leaving_the_word_out_does(tiny_adapters):
    folder = str(tiny_adapters["bert-sentiment-a"])
    review = "a dull and slow film with one great song"
    explanation = explain("sentiment", review, folder)
    served = classify_sentiment(review, adapter=folder)
    assert explanation.adapter_probabilities == pytest.approx(served, abs=1e-5)
    assert explanation.base_probabilities == pytest.approx(classify_sentiment(review, base="tiny-bert"), abs=1e-5)
    assert explanation.label == max(served, key=served.get)
    words = review.split()
    assert [w.word for w in explanation.words] == words
    for i in (0, 4):
        without = classify_sentiment(" ".join(words[:i] + words[i + 1:]), adapter=folder)
        log_odds = [math.log(p / (1 - p)) for p in (served[explanation.label], without[explanation.label])]
        assert explanation.words[i].adapter_effect == pytest.approx(log_odds[0] - log_odds[1], abs=1e-3)
    assert any(abs(w.adapter_effect) > 1e-4 for w in explanation.words)


def test_needs_an_adapter_and_some_text(tiny_adapters):
    with pytest.raises(InputError, match="adapter"):
        explain("translation", SENTENCE, None)
    with pytest.raises(InputError, match="empty"):
        explain("translation", "  ", str(tiny_adapters["llama-translation-a"]))


def test_the_explain_endpoint_answers_like_the_function(app_client):
    from models.adapters import workspace_dir

    client, _ = app_client
    folder = make_adapter("tiny-llama", "translation", workspace_dir("explain-api") / "tiny-es", seed=12)
    answer = client.predict("translation", SENTENCE, "tiny-es", "", None, "explain-api", api_name="/explain")
    direct = explain("translation", SENTENCE, str(folder))
    assert answer["output"] == direct.output and len(answer["tokens"]) == len(direct.tokens)
    for given, expected in zip(answer["tokens"], direct.tokens):
        assert given["token"] == expected.token and given["base_choice"] == expected.base_choice
        assert given["change"] == pytest.approx(expected.change, abs=1e-4)
    with pytest.raises(Exception, match="adapter"):
        client.predict("translation", SENTENCE, "base", api_name="/explain")
    with pytest.raises(Exception, match="Unknown task"):
        client.predict("poetry", SENTENCE, "tiny-es", api_name="/explain")
