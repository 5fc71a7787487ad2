"""12. What an adapter changed (`/explain`): one teacher-forced pass of base and adapter over an answer.

For the first 40 tokens of an answer of the shipped translation adapter (gemma-3-270m) and of a persona
(SmolLM2; its whole reply when shorter), the explanation's time is compared with writing the whole
answer in the first place (the same adapter, greedy, through the engine): the panel should cost a
fraction of an answer, not another answer. For sentiment (MiniLM), leave-one-word-out on a 29-word
review (30 texts for each side, in one batch per side) is compared with classifying the review once.
"""

from __future__ import annotations

from benchmarks.common import Row, like_a_server, median, release_memory, shipped_adapter, timings
from models import inference
from models.explain import adapter_answer, explain

NAME = "explain"
TITLE = "What changed (/explain) on this CPU"
ANSWER_TOKENS = 40
SENTENCE = ("The package provides a small library and a command-line tool that compress, check and repair archives "
            "on every system, and it also keeps a log of every file it has changed, so that an administrator can "
            "restore an older version of any file.")
QUESTION = "Describe, step by step, how to plan a weekend trip to the mountains with a group of friends."
REVIEW = ("A slow start and a few clumsy jokes, but the last hour is gripping, the cast is superb and the music "
          "stays with you long after the credits roll.")


def _generation_case(task: str, adapter_name: str, repeats: int) -> Row:
    """Explain the first ANSWER_TOKENS tokens of the adapter's answer (as the explanation counts them)."""
    adapter = str(shipped_adapter(adapter_name))
    text_in = QUESTION if task == "chat" else SENTENCE
    whole = explain(task, text_in, adapter, adapter_answer(task, text_in, adapter)).tokens
    output = "".join(token.token for token in whole[:ANSWER_TOKENS]).strip()
    explaining = median(timings(lambda: explain(task, text_in, adapter, output), repeats))
    writing = median(timings(lambda: adapter_answer(task, text_in, adapter), repeats))
    tokens = len(explain(task, text_in, adapter, output).tokens)
    return Row(NAME, f"{task}: explain a {tokens}-token answer ({adapter_name})", explaining, "s", writing,
               note=f"baseline: writing the adapter's whole answer ({len(whole)} tokens, greedy, engine)")


def _classification_case(repeats: int) -> Row:
    adapter = str(shipped_adapter("sentiment-movies"))
    explaining = median(timings(lambda: explain("sentiment", REVIEW, adapter), repeats))
    once = median(timings(lambda: inference.classify_sentiment(REVIEW, adapter=adapter), repeats))
    words = len(REVIEW.split())
    return Row(NAME, f"sentiment: explain a {words}-word review (leave-one-word-out)", explaining, "s", once,
               note="baseline: classifying the review once")


def run(quick: bool) -> list[Row]:
    repeats = 2 if quick else 5
    like_a_server()
    rows = []
    for case in (lambda: _generation_case("translation", "translation-en-es", repeats),
                 lambda: _generation_case("chat", "chat-professional", repeats), lambda: _classification_case(repeats)):
        rows.append(case())
        release_memory()
    return rows
