"""The built-in examples each task's tab offers: present, with what a class needs to tell the right answer.

Whether they make the point on the real models (the adapter right, the base not) is tests/test_examples_real.py.
"""

from __future__ import annotations

import json

import pytest

from models.adapters import SHIPPED_DIR, read_adapter
from models.tasks import Example, get_task, task_names


@pytest.mark.parametrize("task", task_names())
def test_every_task_offers_a_few_distinct_examples(task):
    examples = get_task(task).examples
    assert 3 <= len(examples) <= 4
    assert all(isinstance(example, Example) and example.input.strip() for example in examples)
    assert len({example.input for example in examples}) == len(examples)


@pytest.mark.parametrize("task", [name for name in task_names() if get_task(name).kind == "generate"])
def test_generation_examples_come_from_the_test_data_with_its_reference(task):
    """The reference shown under the result is the test set's own answer to the example."""
    spec = get_task(task)
    with open(SHIPPED_DIR.parent / "data" / task / "test.jsonl", encoding="utf-8") as file:
        test = {row[spec.input_column]: row[spec.output_column] for row in map(json.loads, file)}
    for example in spec.examples:
        assert example.reference and test.get(example.input) == example.reference, example.input


def test_sentiment_references_are_labels_of_the_shipped_adapter():
    spec = get_task("sentiment")
    labels = read_adapter(SHIPPED_DIR / spec.default_adapter).labels
    assert {example.reference for example in spec.examples} == set(labels)  # both feelings, nothing else


def test_chat_examples_name_the_fact_a_right_reply_keeps():
    for example in get_task("chat").examples:
        assert example.fact and not example.reference
        assert example.fact.lower() not in example.input.lower()  # the reply must bring it, not echo it


def test_a_text_is_found_as_its_example_spaces_aside():
    spec = get_task("translation")
    first = spec.examples[0]
    assert spec.example(f"  {first.input}\n") is first
    assert spec.example(first.input[:-1]) is None
    assert spec.example("") is None
