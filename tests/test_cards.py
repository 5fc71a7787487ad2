"""Model cards and the numbers they show: one reading of the stored measurements for the Adapters tab,
the README's results table, `python -m finetune results` and each adapter's README.md; and the
default adapter, marked the same way in every picker."""

from __future__ import annotations

import re

import pytest

from conftest import make_adapter
from finetune.card import render_card
from finetune.measurements import measurements, persona_results, significant, with_interval
from models.adapters import list_adapters, workspace_dir

METADATA = {  # what a training run and `reproduce` store (abridged)
    "name": "reviews", "task": "sentiment", "base_model": "minilm-l6",
    "base_hub_id": "sentence-transformers/all-MiniLM-L6-v2", "method": "lora", "primary_metric": "accuracy",
    "hyperparameters": {"rank": 16, "alpha": 32, "learning_rate": 0.001, "batch_size": 32, "epochs": 3},
    "data": {"source": "assets/data/sentiment/train.jsonl", "train_rows": 8770, "validation_rows": 300},
    "trainable_params": 676610, "total_params": 23390596, "train_seconds": 375.3, "steps": 825, "device": "cpu",
    "metrics": {"base": {"accuracy": 0.68, "macro_f1": 0.6580547112462005, "examples_per_s": 10.7, "examples": 150},
                "adapter": {"accuracy": 0.8733333333333333, "macro_f1": 0.8716852010265184, "examples": 150}},
    "test": {"movies": {"file": "assets/data/sentiment/test.jsonl",
                        "base": {"accuracy": 0.658, "examples": 1000},
                        "adapter": {"accuracy": 0.879, "macro_f1": 0.8789727688729965, "examples": 1000},
                        "peer": {"accuracy": 0.643, "name": "VADER"}}},
}


@pytest.mark.parametrize("value, shown", [(0.8733333, "0.873"), (0.68, "0.680"), (64.63240437, "64.6"),
                                          (7.370473, "7.37"), (18.0276, "18.0"), (0.025, "0.0250"),
                                          (139.4, "139"), (1234.5, "1,234"), (0.0, "0")])
def test_scores_are_written_with_three_significant_digits(value, shown):
    assert significant(value) == shown


def test_a_card_labels_every_number_with_its_set_and_size():
    card = render_card("reviews", METADATA, "en")
    assert "{" not in card and "0.8733" not in card  # no JSON, no long floats
    assert "- **Data:** 8,770 training rows + 300 validation rows from `assets/data/sentiment/train.jsonl`" in card
    assert "- **Method:** LoRA · rank 16, alpha 32 · 676,610 of 23,390,596 parameters trained (2.89%)" in card
    assert "- **Training:** 825 steps · 0:06:15 on cpu · learning rate 0.001, batch size 32, epochs 3" in card
    test, validation = card.index("### test · movies, 1,000 rows"), card.index("### validation, 150 of 300 rows")
    assert test < validation  # the held-out set first
    # an accuracy with its 95% Wilson interval over the set's 1,000 rows
    assert "| metric | base | adapter | VADER |" in card
    assert "| accuracy | 0.658 (0.628–0.687) | 0.879 (0.857–0.898) | 0.643 (0.613–0.672) |" in card
    assert "| macro-F1 | – | 0.879 | – |" in card  # measured for the adapter only
    assert "| accuracy | 0.680 | 0.873 |" in card[validation:]


def test_a_card_speaks_vietnamese():
    card = render_card("reviews", METADATA, "vi")
    assert "### tập kiểm tra · movies, 1.000 dòng" in card and "### tập kiểm định, 150 trên 300 dòng" in card
    assert "- **Dữ liệu:** 8.770 dòng huấn luyện + 300 dòng kiểm định" in card
    assert "| chỉ số | gốc | adapter | VADER |" in card
    assert "| độ chính xác | 0.658 (0.628–0.687) | 0.879 (0.857–0.898) | 0.643 (0.613–0.672) |" in card


@pytest.mark.parametrize("language, words", [("en", "No training details or measurements"),
                                             ("vi", "không kèm thông tin huấn luyện")])
def test_an_upload_without_metadata_still_gets_a_clear_card(language, words):
    card = render_card("mine", {"task": "translation", "base_model": "gemma-3-270m"}, language)
    assert card.startswith("# mine\n") and "translation" in card and "gemma-3-270m" in card and words in card
    assert "###" not in card


def test_an_upload_with_odd_metadata_gets_a_card_without_the_odd_parts():
    odd = {"task": "chat", "base_model": "tiny", "metrics": {"adapter": {"perplexity": "low", "loss": 2.5}},
           "data": "a string", "test": ["not", "a", "dict"], "hyperparameters": {"rank": 8}}
    card = render_card("odd", odd, "en")
    assert "### validation\n" in card and "| loss | – | 2.50 |" not in card and "| loss | 2.50 |" in card
    assert "low" not in card and "- **Method:** LoRA · rank 8\n" in card


def _card_row(card: str, heading: str, metric: str) -> list[str]:
    """The cells of one metric's row in the table under a heading of the card."""
    section = card[card.index(f"### {heading}"):]
    row = re.search(rf"^\| {re.escape(metric)} \|(.*)\|$", section, re.MULTILINE)
    return [cell.strip() for cell in row.group(1).split("|")]


def test_the_readme_the_command_and_the_cards_show_the_same_numbers(capsys):
    """For every shipped adapter and goal: the README's table, `python -m finetune results`, the Adapters
    tab's card (both languages), the library table and the adapter's README.md agree."""
    from pathlib import Path

    from finetune.__main__ import main
    from finetune.card import metric_label, set_label
    from finetune.recipe import model_card
    from finetune.results import GOALS, results_table
    from ui.adapters import library_frame
    from ui.adapters import model_card as tab_card
    from ui.common import library

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert main(["results"]) == 0
    printed = capsys.readouterr().out
    table = results_table()
    assert table in readme and table in printed
    shipped = library(None, None)
    frame = library_frame(shipped, "en")
    evaluation = persona_results()
    checked = 0
    for info in shipped.values():
        assert (info.path / "README.md").read_text(encoding="utf-8") == model_card(info.metadata, evaluation)
        for language in ("en", "vi"):
            card = tab_card(info, language)
            for measured in measurements(info.name, info.metadata, evaluation):
                for metric in measured.metrics:
                    cells = _card_row(card, set_label(measured, language), metric_label(metric, language))
                    assert cells[:2] == [with_interval(measured, "base", metric),
                                         with_interval(measured, "adapter", metric)]
                    checked += 1
        first = measurements(info.name, info.metadata, evaluation)[0]
        row = frame[frame["name"].str.endswith(info.name)].iloc[0]
        assert row["measured on"] == set_label(first, "en")
        assert with_interval(first, "adapter", first.headline[0]) in row["result (base → adapter)"]
    for goal in GOALS:
        test = next((m for m in measurements(goal.adapter, shipped[goal.adapter].metadata)
                     if m.name == goal.test), None)
        if test is None:  # a set added after the adapter was trained: the table says so
            assert f"| {goal.adapter} | test · {goal.test} |" in table and "not measured" in table
            continue
        line = next(r for r in table.splitlines() if r.startswith(f"| {goal.adapter} | {set_label(test, 'en')} |"))
        base, adapter, peer = (with_interval(test, side, goal.metric) for side in ("base", "adapter", "peer"))
        cells = [cell.strip() for cell in line.split("|")[4:7]]  # an accuracy's cell has its interval
        assert cells == [base, f"**{adapter}**", f"{peer} {test.peer}"]
        assert _card_row(tab_card(shipped[goal.adapter], "en"), set_label(test, "en"),
                         metric_label(goal.metric, "en")) == [base, adapter, peer]
    for persona in ("sarcastic", "cheerful", "professional"):
        persona_test = measurements(f"chat-{persona}", {}, evaluation)[0]
        line = next(r for r in table.splitlines() if r.startswith(f"| chat-{persona} |"))
        figures = [with_interval(persona_test, "adapter", metric)
                   for metric in ("style", "facts_kept", "refusals", "clean_stops")]
        assert f"**{' / '.join(figures)}**" in line and "(" in figures[0]
    assert checked > 30


def test_the_sets_differ_and_say_so():
    """The validation and test numbers of a shipped adapter differ, and each is labelled with its set."""
    info = next(i for i in list_adapters("sentiment", None) if i.name == "sentiment-movies")
    test, validation = measurements(info.name, info.metadata)[0], measurements(info.name, info.metadata)[-1]
    assert (test.split, test.name, test.rows) == ("test", "movies", 1000)
    assert (validation.split, validation.rows, validation.of_rows) == ("validation", 150, 900)  # 3 domains
    assert test.scores["adapter"]["accuracy"] != validation.scores["adapter"]["accuracy"]


def test_the_default_adapter_is_marked_and_preselected_in_every_picker(monkeypatch):
    from models.registry import DEFAULT_BASE
    from models.tasks import TASKS
    from ui.common import BASE_CHOICE, adapter_choices, default_choice

    for task, spec in TASKS.items():
        assert spec.default_adapter in {i.name for i in list_adapters(task, None) if i.shipped}, task
        choices = adapter_choices(task, None)
        assert choices[0] == (BASE_CHOICE, BASE_CHOICE)  # the bare base stays one click away
        assert [label for label, _ in choices if label.startswith("◆")] == [f"◆ {spec.default_adapter}"]
        assert default_choice(task, None) == spec.default_adapter
    assert ("chat-sarcastic", "chat-sarcastic") in adapter_choices("chat", None)  # one name, as everywhere

    monkeypatch.setitem(DEFAULT_BASE, "translation", "tiny-llama")  # a deployment serving another base
    assert not any(label.startswith("◆") for label, _ in adapter_choices("translation", None))
    assert default_choice("translation", None) == BASE_CHOICE


def test_an_own_adapter_of_the_default_name_is_yours_not_the_default(tiny_models):
    from ui.common import adapter_choices, default_choice

    make_adapter("tiny-llama", "translation", workspace_dir("w-cards") / "translation-en-es", seed=1)
    assert ("★ translation-en-es", "translation-en-es") in adapter_choices("translation", "w-cards")
    assert not any(label.startswith("◆") for label, _ in adapter_choices("translation", "w-cards"))
    assert default_choice("translation", "w-cards") == "base"
    assert ("◆ translation-en-es", "translation-en-es") in adapter_choices("translation", "w-other")
