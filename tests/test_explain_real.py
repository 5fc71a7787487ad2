"""What the shipped adapters changed, on the real models (slow): the explanation must show the lesson —
the adapter made its own answer more likely than the bare base found it, and for sentiment the word
that carries the review's feeling is the one that moved the adapter."""

from __future__ import annotations

import pytest

import test_real_models
from models.explain import explain
from models.tasks import get_task

pytestmark = pytest.mark.slow


_user_cache = test_real_models._user_cache  # the caller's model cache for this module, freed afterwards


@pytest.mark.parametrize("task,adapter", [("translation", "translation-en-es"),
                                          ("summarization", "summarization-debian"),
                                          ("chat", "chat-sarcastic")])
def test_the_adapter_made_its_own_answer_more_likely(task, adapter):
    example = get_task(task).examples[0]
    explanation = explain(task, example.input, adapter)
    changes = [token.change for token in explanation.tokens]
    assert len(changes) >= 3
    assert sum(changes) > 1, changes  # the whole answer is more likely (e times or more) with the adapter
    # somewhere the base would have written something else: that is where the adapter changed the answer
    assert any(token.base_choice != token.token for token in explanation.tokens)


def test_the_feeling_word_moved_the_sentiment_adapter_and_not_the_base():
    example = get_task("sentiment").examples[0]  # "Well shot but badly written tale ...": negative
    explanation = explain("sentiment", example.input, "sentiment-movies")
    assert explanation.label == example.reference
    assert explanation.adapter_probabilities[example.reference] > explanation.base_probabilities[example.reference]
    strongest = max(explanation.words, key=lambda word: word.adapter_effect)
    assert strongest.word == "badly", [(w.word, round(w.adapter_effect, 2)) for w in explanation.words]
    assert strongest.adapter_effect > 2 > strongest.base_effect  # the adapter reads it; the base barely does
