"""The Train tab's honesty: the time estimate covers the whole job and learns this machine's speeds, and
the before/after metrics say how many held-out rows they rest on (a job that learns them: test_jobs.py)."""

from __future__ import annotations

import json

import pytest

from finetune.config import make_config
from finetune.speeds import SpeedBook, training_examples
from models.registry import get_spec
from ui.train import estimate_markdown, metrics_frame, metrics_note, samples_frame


def minilm_quick(**overrides):
    return make_config("sentiment", "quick", base="minilm-l6", **overrides)


def test_the_estimate_covers_loading_training_and_both_measurements(tmp_path):
    config = minilm_quick()  # 4 epochs
    spec = get_spec("minilm-l6")
    estimate = SpeedBook(tmp_path / "speeds.json").estimate(config, rows=80)

    assert (estimate.train_rows, estimate.validation_rows, estimate.eval_examples) == (54, 26, 26)
    assert estimate.train_examples == 54 * 4
    assert not estimate.speeds.measured
    assert estimate.load_s == spec.load_seconds
    assert estimate.train_s == pytest.approx(54 * 4 / spec.examples_per_second)
    assert estimate.eval_s == pytest.approx(2 * 26 / spec.eval_examples_per_second)
    assert estimate.total_s == pytest.approx(estimate.load_s + estimate.train_s + estimate.eval_s)
    assert estimate.total_s > estimate.train_s + spec.load_seconds  # loading and measuring were left out before


def test_the_estimate_follows_max_steps_eval_limit_and_a_validation_file(tmp_path):
    book = SpeedBook(tmp_path / "speeds.json")
    capped = book.estimate(minilm_quick(max_steps=2, batch_size=8, eval_limit=10), rows=80)
    assert (capped.train_examples, capped.eval_examples) == (16, 10)
    with_file = book.estimate(minilm_quick(), rows=80, validation_rows=40)
    assert (with_file.train_rows, with_file.validation_rows, with_file.eval_examples) == (80, 40, 40)


def test_a_finished_job_replaces_the_built_in_figures_and_they_survive_a_restart(tmp_path):
    path = tmp_path / "speeds.json"
    config = minilm_quick()
    timings = {"train_rows": 54, "train_s": 10.8, "eval_s": 2.6, "eval_examples": 52}

    learned = SpeedBook(path).record(config, timings, total_s=25.4)

    assert learned.measured
    assert learned.train_examples_per_s == pytest.approx(training_examples(config, 54) / 10.8)
    assert learned.eval_examples_per_s == pytest.approx(20.0)
    assert learned.load_s == pytest.approx(12.0)
    again = SpeedBook(path).estimate(config, rows=80)  # a new book: as after an app restart
    assert again.speeds.measured and again.total_s == pytest.approx(25.4, rel=1e-3)
    # per base and task: the translation estimate on another base keeps its built-in figures
    assert not SpeedBook(path).speeds(make_config("translation", "quick")).measured


def test_a_part_a_job_did_not_measure_keeps_its_figure_and_a_damaged_file_is_ignored(tmp_path):
    path = tmp_path / "speeds.json"
    config = minilm_quick()
    built_in = SpeedBook(path).speeds(config)
    learned = SpeedBook(path).record(config, {"train_rows": 54, "train_s": 3.0, "eval_s": 0.0, "eval_examples": 0},
                                     total_s=20.0)
    assert learned.eval_examples_per_s == built_in.eval_examples_per_s and learned.load_s == pytest.approx(17.0)
    path.write_text("{not json")
    assert SpeedBook(path).speeds(config) == built_in
    path.write_text(json.dumps({"minilm-l6": {"sentiment": {"old_field": 1}}}))
    assert SpeedBook(path).speeds(config) == built_in


def test_the_estimate_text_says_what_it_covers_and_where_its_speeds_come_from(tmp_path):
    book, config = SpeedBook(tmp_path / "speeds.json"), minilm_quick()
    before = estimate_markdown(book.estimate(config, 80), config, "en")
    assert "loading" in before and "measuring before and after" in before and "Built-in speeds" in before
    assert "54 rows to train on, 26 held out" in before
    book.record(config, {"train_rows": 54, "train_s": 10.0, "eval_s": 2.0, "eval_examples": 52}, total_s=30.0)
    after = estimate_markdown(book.estimate(config, 80), config, "vi")
    assert "**30 s**" in after and "đo trên chính máy này" in after and "21.6 ví dụ/giây" in after


def result(rows: int) -> dict:
    side = {"accuracy": 0.75, "macro_f1": 0.5, "examples_per_s": 9.0, "examples": rows,
            "samples": [{"input": "=cmd()", "reference": "positive", "prediction": "negative"}]}
    return {"metrics": {"base": {**side, "accuracy": 0.5}, "adapter": side}}


def test_the_metrics_say_how_many_held_out_rows_they_rest_on():
    frame = metrics_frame(result(26), "en")
    assert list(frame.columns) == ["metric", "base", "adapter"]
    assert frame.values.tolist() == [["accuracy", "0.500", "0.750"], ["macro-F1", "0.500", "0.500"],
                                     ["held-out rows", 26, 26]]
    assert metrics_frame(result(26), "vi").iloc[0, 0] == "độ chính xác"  # the metric's name too
    assert "only 26 held-out rows: too few to trust" in metrics_note(result(26), "en")
    assert "validation file" in metrics_note(result(26), "en")
    assert "tệp kiểm định" in metrics_note(result(8), "vi")
    assert metrics_note(result(30), "en") == "" and metrics_note(None, "en") == ""
    assert metrics_frame(None, "en").empty


def test_the_result_tables_speak_the_page_language():
    assert list(metrics_frame(result(40), "vi").columns) == ["chỉ số", "mô hình gốc", "adapter"]
    assert metrics_frame(result(40), "vi").iloc[-1, 0] == "số dòng kiểm định"
    samples = samples_frame(result(40), "vi")
    assert list(samples.columns) == ["đầu vào", "đáp án tham chiếu", "mô hình gốc", "adapter"]
    assert samples.iloc[0, 0] == "'=cmd()"  # still escaped for spreadsheets


def test_the_recipe_the_cli_and_the_jobs_run_holds_out_what_the_estimate_said(tiny_models):
    from finetune.recipe import LoRARecipe

    records = [{"text": f"review {i}", "label": "positive" if i % 2 else "negative"} for i in range(80)]
    config = make_config("sentiment", "quick", base="tiny-bert")
    recipe = LoRARecipe(config, records)  # `python -m finetune train` without --validation, and every job
    estimate = SpeedBook().estimate(config, len(records))
    assert (len(recipe.train_records), len(recipe.validation_records)) == (54, 26)
    assert (estimate.train_rows, estimate.validation_rows) == (54, 26)
    with_file = LoRARecipe(config, records, validation_records=records[:40])
    assert (len(with_file.train_records), len(with_file.validation_records)) == (80, 40)
