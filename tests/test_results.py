"""The README's results table: each goal judged from the stored test scores."""

from __future__ import annotations

import json
from pathlib import Path

from finetune.results import QualityGoal, results_table


def _store(adapters: Path, name: str, test: str, base: float, adapter: float, peer: float, metric: str) -> None:
    (adapters / name).mkdir(parents=True)
    scores = {"base": {metric: base}, "adapter": {metric: adapter, "examples": 300}, "peer": {metric: peer, "name": "P"}}
    (adapters / name / "playground.json").write_text(json.dumps({"test": {test: scores}}))


def test_goal_over_peer_and_base():
    goal = QualityGoal("a", "t", "chrf", over_peer=5.0)
    assert goal.check({"adapter": {"chrf": 61.0}, "peer": {"chrf": 55.0}, "base": {"chrf": 40.0}}) == (True, "")
    met, margin = goal.check({"adapter": {"chrf": 58.0}, "peer": {"chrf": 55.0}, "base": {"chrf": 60.0}})
    assert not met and margin == "2 short of peer + 5; not above the base"


def test_table_reads_stored_scores_and_flags_misses(tmp_path):
    _store(tmp_path, "translation-en-es", "debian", 46.0, 66.2, 55.7, "chrf")
    _store(tmp_path, "summarization-debian", "debian", 24.9, 35.7, 29.2, "rougeL")
    (tmp_path / "persona_eval.json").write_text(json.dumps({
        "questions": 40, "base_correct": 20,
        "base": {"style_accuracy": 0.9, "style_counts": {"sarcastic": 2}, "clean_stops": 1.0},
        "sarcastic": {"style_accuracy": 0.8, "facts_retained": 0.75, "clean_stops": 1.0}}))
    table = results_table(tmp_path).splitlines()
    assert any(r.startswith("| translation-en-es | test · debian, 300 rows | chrF | 46.0 | **66.2** | 55.7 P |")
               and r.endswith("| met |") for r in table)
    assert any(r.startswith("| summarization-debian") and "MISSED: 3.5 short of peer + 10" in r for r in table)
    assert any(r.startswith("| sentiment-movies") and "not trained" in r for r in table)
    # the base's style is the share of its replies in this persona's style (2 of 40), as on the card
    assert any(r.startswith("| chat-sarcastic | test, 40 factual questions | persona style / facts kept / clean stops"
                            " | 0.0500 / 1.00 / 1.00 | **0.800 / 0.750 / 1.00** |")
               and "MISSED: facts kept 0.750 < 0.8" in r for r in table)


def test_persona_figures_are_written_into_the_model_card(tmp_path):
    """The persona evaluation writes each persona's card again, from its metadata and the figures."""
    from finetune.persona_eval import add_to_model_cards

    folder = tmp_path / "chat-cheerful"
    folder.mkdir()
    (folder / "playground.json").write_text(json.dumps({
        "name": "chat-cheerful", "task": "chat", "base_model": "smollm2-135m-instruct", "steps": 66,
        "metrics": {"base": {"perplexity": 18.03, "examples": 19}, "adapter": {"perplexity": 7.3705, "examples": 19}}}))
    (folder / "README.md").write_text("# chat-cheerful\n\nAn old card.\n")
    results = {"questions": 40, "base_correct": 29, "question_file": "factual_test.jsonl",
               "base": {"style_counts": {"cheerful": 2}, "clean_stops": 0.72},
               "cheerful": {"style_accuracy": 0.93, "facts_retained": 0.79, "clean_stops": 1.0,
                            "samples": [{"question": "2+2?", "reply": "Four! 🎉"}]}}
    add_to_model_cards(tmp_path, results)
    text = (folder / "README.md").read_text()
    assert "An old card" not in text and text.startswith("# chat-cheerful\n")
    assert "### test, 40 factual questions (`factual_test.jsonl`)" in text
    assert "| persona style | 0.0500 | 0.930 |" in text and "| facts kept | 1.00 | 0.790 |" in text
    assert "### validation, 19 rows" in text and "| perplexity | 18.0 | 7.37 |" in text and "Four! 🎉" in text


def test_the_readme_shows_the_shipped_adapters_current_results():
    """The README's table is the command's output for the adapters in the repository: retraining an
    adapter without regenerating the table fails here."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert results_table() in readme


def test_a_fact_counts_only_as_a_word_or_number_of_its_own():
    from finetune.persona_eval import is_correct

    assert is_correct("A spider has 8 legs.", ["8", "eight"]) and is_correct("Eight, of course!", ["8", "eight"])
    assert not is_correct("It has 18 legs.", ["8"]) and not is_correct("About 2.5 metres.", ["2"])
    assert not is_correct("Water boils at 100 degrees.", ["0"]) and is_correct("It freezes at 0°C.", ["0"])
    assert is_correct("The lions rule.", ["lion"]) and not is_correct("The dandelion.", ["lion"])
    assert is_correct("Leonardo da Vinci painted it.", ["da Vinci"]) and is_correct("It is H2O.", ["H2O"])
