"""The README's results table: each goal judged from the stored test scores."""

from __future__ import annotations

import json
from pathlib import Path

from finetune.methods import bootstrap_difference
from finetune.results import ROOT, QualityGoal, difference_words, results_table


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
        "questions": 30, "requests": 10, "base_correct": 20,
        "base": {"style_accuracy": 0.9, "style_counts": {"sarcastic": 2}, "refusals": 0.05, "clean_stops": 1.0},
        "sarcastic": {"style_accuracy": 0.8, "facts_retained": 0.75, "refusals": 0.0, "clean_stops": 1.0}}))
    table = results_table(tmp_path).splitlines()
    assert any(r.startswith("| translation-en-es | test · debian, 300 rows | chrF | 46.0 | **66.2** | 55.7 P |")
               and r.endswith("| met |") for r in table)
    assert any(r.startswith("| summarization-debian") and "MISSED: 3.5 short of peer + 10" in r for r in table)
    assert any(r.startswith("| sentiment-movies") and "not trained" in r for r in table)
    # the base's style is the share of its replies in this persona's style (2 of 40), as on the card; each
    # share has its 95% Wilson interval, and a goal is judged at the interval's pessimistic end: 0 refusals
    # of 40 replies may still be up to 8.8%
    sarcastic = next(r for r in table if r.startswith("| chat-sarcastic |"))
    assert sarcastic.startswith(
        "| chat-sarcastic | test, 40 factual questions and ordinary requests | persona style / facts kept / refusals / "
        "clean stops | 0.0500 (0.0138–0.165) / 1.00 / 0.0500 (0.0138–0.165) / 1.00 | "
        "**0.800 (0.652–0.895) / 0.750 (0.531–0.888) / 0 (0–0.0876) / 1.00** |")
    assert sarcastic.endswith("| MISSED: facts kept 0.531 < 0.8 at the low end; refusals 0.0876 > 0.05 at the high end |")


def test_persona_goals_hold_at_the_pessimistic_end(tmp_path):
    """A persona that keeps 110 of 120 facts (0.917, lower end 0.855), styles 150 of 172 replies and
    declines none meets every goal; 100 of 120 facts (0.833) is above 0.8 but its lower end is not."""
    def stored(kept: int) -> dict:
        return {"questions": 132, "requests": 40, "base_correct": 120,
                "base": {"style_counts": {"cheerful": 5}, "refusals": 0.01, "clean_stops": 0.7},
                "cheerful": {"style_accuracy": 150 / 172, "facts_retained": kept / 120, "refusals": 0.0,
                             "clean_stops": 1.0}}

    for kept, result in ((110, "| met |"), (100, "| MISSED: facts kept 0.757 < 0.8 at the low end |")):
        (tmp_path / "persona_eval.json").write_text(json.dumps(stored(kept)))
        assert next(r for r in results_table(tmp_path).splitlines() if "chat-cheerful" in r).endswith(result)


def test_an_accuracy_shows_its_interval_and_a_set_without_a_goal_is_reported(tmp_path):
    """Each sentiment domain with its peer: accuracies with their 95% Wilson interval over the set's rows;
    the everyday sentences have no goal; a set the stored adapter was not measured on says so."""
    _store(tmp_path, "sentiment-movies", "movies", 0.658, 0.879, 0.643, "accuracy")
    metadata = json.loads((tmp_path / "sentiment-movies" / "playground.json").read_text())
    metadata["test"]["amazon"] = metadata["test"]["movies"]
    metadata["test"]["everyday"] = {"base": {"accuracy": 0.6}, "adapter": {"accuracy": 0.9, "examples": 40},
                                    "peer": {"accuracy": 0.85, "name": "VADER"}}
    (tmp_path / "sentiment-movies" / "playground.json").write_text(json.dumps(metadata))
    table = results_table(tmp_path).splitlines()
    movies = next(r for r in table if "| test · movies, 300 rows |" in r)
    assert "| 0.658 (0.601–0.708) | **0.879 (0.838–0.912)** | 0.643 (0.588–0.695) P | ≥ 0.87 | met |" in movies
    assert next(r for r in table if "test · amazon" in r).endswith("| > peer | met |")
    assert next(r for r in table if "test · news" in r).endswith("| > peer | not measured |")
    everyday = next(r for r in table if "| test · everyday, 40 rows |" in r)
    assert "**0.900 (0.769–0.960)**" in everyday and everyday.endswith("| – | reported |")


def test_persona_figures_are_written_into_the_model_card(tmp_path):
    """The persona evaluation writes each persona's card again, from its metadata and the figures."""
    from finetune.persona_eval import add_to_model_cards

    folder = tmp_path / "chat-cheerful"
    folder.mkdir()
    (folder / "playground.json").write_text(json.dumps({
        "name": "chat-cheerful", "task": "chat", "base_model": "smollm2-135m-instruct", "steps": 66,
        "metrics": {"base": {"perplexity": 18.03, "examples": 19}, "adapter": {"perplexity": 7.3705, "examples": 19}}}))
    (folder / "README.md").write_text("# chat-cheerful\n\nAn old card.\n")
    results = {"questions": 30, "requests": 10, "base_correct": 29, "question_file": "factual_test.jsonl",
               "request_file": "requests_test.jsonl",
               "base": {"style_counts": {"cheerful": 2}, "refusals": 0.1, "clean_stops": 0.72},
               "cheerful": {"style_accuracy": 0.925, "facts_retained": 0.793, "refusals": 0.025, "clean_stops": 1.0,
                            "samples": [{"question": "2+2?", "reply": "Four! 🎉"}]}}
    add_to_model_cards(tmp_path, results)
    text = (folder / "README.md").read_text()
    assert "An old card" not in text and text.startswith("# chat-cheerful\n")
    assert "### test, 40 factual questions and ordinary requests (`factual_test.jsonl + requests_test.jsonl`)" in text
    assert "| persona style | 0.0500 (0.0138–0.165) | 0.925 (0.801–0.974) |" in text
    assert "| facts kept | 1.00 | 0.793 (0.616–0.902) |" in text
    assert "| refusals | 0.100 (0.0396–0.231) | 0.0250 (0.00443–0.129) |" in text
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


def test_the_bootstrap_interval_of_a_paired_difference():
    ours, theirs = [1, 0, 1, 1, 1, 0, 1, 1], [0, 0, 1, 0, 1, 0, 0, 1]
    mean, low, high = bootstrap_difference(ours, theirs)
    assert mean == 0.375 and 0 <= low < mean < high <= 0.75  # no resample moves more than the 3 rows that differ
    assert bootstrap_difference(ours, theirs) == (mean, low, high)  # seeded
    assert bootstrap_difference([2, 3, 4], [1, 2, 3]) == (1.0, 1.0, 1.0)  # the same gap on every row: no doubt


def test_a_margin_over_the_peer_comes_with_the_interval_of_the_difference():
    """From the answers stored beside the scores: the adapter right on every row, the peer on none."""
    rows = [json.loads(line) for line in (ROOT / "assets/data/summarization/test.jsonl").read_text().splitlines()[:4]]
    metadata = {"task": "summarization", "test": {"debian": {
        "file": "assets/data/summarization/test.jsonl",
        "adapter": {"rougeL": 100.0, "predictions": [row["summary"] for row in rows]},
        "peer": {"rougeL": 0.0, "predictions": ["zzz"] * 4}}}}
    goal = QualityGoal("summarization-debian", "debian", "rougeL", over_peer=10.0)
    assert difference_words(goal, metadata) == "; adapter − peer +100.0 (95% CI +100.0 to +100.0)"
    del metadata["test"]["debian"]["peer"]["predictions"]  # measured before the answers were stored
    assert difference_words(goal, metadata) == ""
    chrf = QualityGoal("translation-en-es", "debian", "chrf", over_peer=5.0)  # a corpus score, not a row mean
    assert difference_words(chrf, {"task": "translation", "test": {"debian": metadata["test"]["debian"]}}) == ""


def test_the_table_is_written_into_the_readme_over_the_old_one(tmp_path):
    """`make reproduce` ends with `finetune results --readme`: the old table goes, the text around it stays."""
    from finetune.results import write_into_readme

    _store(tmp_path, "translation-en-es", "debian", 46.0, 66.2, 55.7, "chrf")
    readme = tmp_path / "README.md"
    readme.write_text("# App\n\nResults:\n\n| adapter | set | metric | base | adapter | peer | goal | result |\n"
                      "|---|---|---|---|---|---|---|---|\n| old | row |\n\nMore text.\n", encoding="utf-8")
    write_into_readme(readme, tmp_path)
    text = readme.read_text(encoding="utf-8")
    assert text == "# App\n\nResults:\n\n" + results_table(tmp_path) + "\n\nMore text.\n"
