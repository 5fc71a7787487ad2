"""Evaluating against references: one answer's scores (`TaskSpec.score_one`), the task tabs' reference box,
several models measured on a file through the serving (`finetune.served_eval`), and /evaluate, whose
numbers must equal `python -m finetune eval --json` on the same file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import PAIRS, TINY, TINY_DEFAULTS, TINY_MAX_INPUT_TOKENS, make_adapter
from finetune.data import read_jsonl
from finetune.evaluate import evaluate_model
from finetune.served_eval import evaluate_served, measured, predictions_csv
from models.adapters import workspace_dir
from models.tasks import get_task
from test_cli import REVIEWS, write_csv
from ui.common import Settings
from ui.evaluate import DEMO_ROWS, bundled_choices, evaluation_records
from ui.i18n import text
from ui.task_tab import TextTask, reference_scores

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = "evaluate-tests"


@pytest.fixture
def tiny_defaults(tiny_models, fresh_models, monkeypatch):
    """The tasks' bases are the tiny models (the bare base is the task's default base)."""
    from models.registry import DEFAULT_BASE

    for task, key in TINY_DEFAULTS.items():
        monkeypatch.setitem(DEFAULT_BASE, task, key)


def test_one_answer_is_scored_with_the_corpus_metrics_names():
    translation, summary, sentiment = get_task("translation"), get_task("summarization"), get_task("sentiment")
    assert translation.score_one("El gato duerme.", "El gato duerme.") == pytest.approx({"chrf": 100, "bleu": 100})
    close, far = (translation.score_one("El gato duerme en la cama.", answer)["chrf"]
                  for answer in ("El gato duerme en el sofá.", "The cat sleeps."))
    assert 0 <= far < close < 100
    assert set(summary.score_one("image converter", "an image converter")) == {"rouge1", "rouge2", "rougeL"}
    assert summary.score_one("image converter", "image converter")["rougeL"] == pytest.approx(100)
    assert sentiment.score_one("positive", "positive") == {"accuracy": 1.0}
    assert sentiment.score_one("positive", "negative") == {"accuracy": 0.0}
    with pytest.raises(ValueError):
        get_task("chat").score_one("Hi", "Hello")


@pytest.mark.parametrize("language", ["en", "vi"])
def test_the_reference_box_reads_which_answer_is_closer(language):
    translate = TextTask.named("translation", "translate")
    reference = "Se puede usar para escanear e imprimir fotos."
    good, bad = "Se puede usar para escanear e imprimir fotos.", "It can scan photos."
    chrf = round(get_task("translation").score_one(reference, bad)["chrf"])
    words = dict(metric="chrF", answer=text(language, "translate.answer"))

    both = reference_scores(translate, reference, "translation-en-es", True, good, bad, language)
    assert text(language, "reference.closer_adapter", adapter=100, base=chrf, **words) in both
    assert "| chrF | BLEU |" in both and text(language, "reference.base_row") in both
    flipped = reference_scores(translate, reference, "translation-en-es", True, bad, good, language)
    assert text(language, "reference.closer_base", adapter=chrf, base=100, **words) in flipped

    alone = reference_scores(translate, reference, "translation-en-es", False, good, None, language)
    assert text(language, "reference.tick_compare") in alone and text(language, "reference.base_row") not in alone
    assert "tick_compare" not in reference_scores(translate, reference, "base", False, good, None, language)
    assert reference_scores(translate, "  ", "translation-en-es", True, good, bad, language) == ""
    summary = reference_scores(TextTask.named("summarization", "summarize"), "image tool", "base", False,
                               "image tool", None, language)
    assert "ROUGE-L" in summary and text(language, "summarize.answer") in summary


def test_measured_rows_sort_worst_first_with_a_confusion_matrix_and_escaped_csv(tmp_path):
    spec = get_task("sentiment")
    records = [{"text": "=SUM(A1)", "label": "positive"}, {"text": "fine", "label": "negative"},
               {"text": "bad", "label": "negative"}]
    result = measured(spec, "mine", records, ["positive", "positive", "negative"])
    assert result.metrics == pytest.approx({"accuracy": 2 / 3, "macro_f1": 2 / 3, "examples": 3})
    assert [row["input"] for row in result.worst_first("accuracy")] == ["fine", "=SUM(A1)", "bad"]
    assert result.labels == ["negative", "positive"] and result.confusion == [[1, 1], [0, 1]]
    base = measured(spec, None, records, ["negative"] * 3)
    frame = pd.read_csv(predictions_csv("sentiment", [result, base], tmp_path), dtype=str)
    assert list(frame.columns) == ["input", "reference", "mine", "mine accuracy", "base", "base accuracy"]
    assert frame["input"][0] == "'=SUM(A1)" and list(frame["base"]) == ["negative"] * 3


def test_demo_mode_caps_the_rows_and_offers_the_test_set_within_it():
    demo, full = Settings(demo=True), Settings()
    records = evaluation_records("sentiment", None, 200, full)
    assert len(records) == 200
    assert records[0] == read_jsonl(ROOT / "assets" / "data" / "sentiment" / "test.jsonl")[0]
    assert len(evaluation_records("sentiment", None, 200, demo)) == DEMO_ROWS
    assert max(rows for _, rows in bundled_choices(demo, "en")) <= DEMO_ROWS < max(
        rows for _, rows in bundled_choices(full, "en"))


@pytest.mark.parametrize("task, adapter, records", [
    ("translation", "llama-translation-a", [{"source": s, "target": t} for s, t in PAIRS]),
    ("sentiment", "bert-sentiment-a", [{"text": s, "label": t} for s, t in REVIEWS]),
])
def test_served_evaluation_equals_the_training_runs_evaluation(tiny_adapters, tiny_defaults, task, adapter, records):
    """Through the engine in chunks of 5, or the whole file under the lock: the same predictions, the same numbers."""
    from models.inference import resolve_target

    folder = str(tiny_adapters[adapter])
    *_, served = evaluate_served(task, records, [None, folder], chunk_rows=5)
    for result in served.results:
        target = resolve_target(task, result.adapter)
        loaded = target.loaded
        with loaded.lock:
            direct = evaluate_model(loaded.model, loaded.tokenizer, loaded.spec.architecture, task, records,
                                    target.key is None, list(loaded.labels or []), adapter_name=target.key,
                                    max_length=loaded.spec.max_input_tokens)
        assert result.metrics == {**{k: direct[k] for k in result.metrics if k != "examples"}, "examples": len(records)}
        if task == "sentiment":
            assert [row["prediction"] for row in result.rows] == direct["predictions"]


def test_closing_an_evaluation_frees_its_places_in_the_engine(tiny_defaults):
    from models import inference
    from models.loading import load_base

    records = [{"source": s, "target": t} for s, t in PAIRS]
    steps = evaluate_served("translation", records, [None], chunk_rows=4)
    first = next(steps)
    assert (first.done, first.total, first.results) == (4, len(records), [])
    steps.close()
    engine = inference.engine(load_base("tiny-llama"))
    assert not engine.scheduler.active and not engine.scheduler.waiting


def _cli_eval(models_file: Path, home: Path, task: str, data: Path, adapter: str | None) -> subprocess.Popen:
    env = {**os.environ, "LORA_PLAYGROUND_MODELS": str(models_file), "LORA_PLAYGROUND_HOME": str(home),
           "PYTHONPATH": str(ROOT)}
    which = ["--adapter", adapter] if adapter else ["--base-only"]
    return subprocess.Popen([sys.executable, "-m", "finetune", "eval", "--task", task, "--data", str(data), *which,
                             "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_evaluate_endpoint_equals_the_command_line(app_client, tiny_models, tmp_path):
    """/evaluate on a file, for the base and a workspace's adapter, in a generation task and sentiment: the
    numbers `python -m finetune eval --json` prints for the same file and models (run as a user runs it)."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client = app_client[0]
    adapters = {"translation": make_adapter("tiny-llama", "translation", workspace_dir(WORKSPACE) / "eval-tr", seed=21),
                "sentiment": make_adapter("tiny-bert", "sentiment", workspace_dir(WORKSPACE) / "eval-se", seed=22,
                                          labels=["negative", "positive"])}
    files = {"translation": write_csv(tmp_path / "pairs.csv", ["source", "target"], PAIRS),
             "sentiment": write_csv(tmp_path / "reviews.csv", ["text", "label"], REVIEWS)}
    models_file = tmp_path / "models.json"
    models_file.write_text(json.dumps({"models": [
        {"key": key, "hub_id": f"tests/{key}", "architecture": TINY[key][3], "tasks": list(TINY[key][4]),
         "local_path": str(tiny_models[key]), "max_input_tokens": TINY_MAX_INPUT_TOKENS,
         "bf16_body": TINY[key][3] == "encoder"} for key in ("tiny-llama", "tiny-bert")],
        "defaults": {task: TINY_DEFAULTS[task] for task in files}}), encoding="utf-8")
    runs = {(task, side): _cli_eval(models_file, tmp_path / "home", task, files[task],
                                    str(adapters[task]) if side != "base" else None)
            for task in files for side in ("base", adapters[task].name)}

    for task, data in files.items():
        served = client.predict(task, handle_file(str(data)), ["base", adapters[task].name], WORKSPACE,
                                api_name="/evaluate")
        assert set(served) == {"base", adapters[task].name}
        for side, metrics in served.items():
            out, err = runs[task, side].communicate(timeout=600)
            assert runs[task, side].returncode == 0, err
            printed = json.loads(out.strip().splitlines()[-1])
            measured_there = {name for name, value in printed.items() if isinstance(value, float)} - {"examples_per_s"}
            assert metrics == {name: printed[name] for name in measured_there | {"examples"}}, (task, side)

    with pytest.raises(AppError, match="Column 'target' is missing"):
        client.predict("translation", handle_file(str(files["sentiment"])), ["base"], api_name="/evaluate")
    with pytest.raises(AppError, match="No translation adapter named 'eval-tr'"):
        client.predict("translation", handle_file(str(files["translation"])), ["eval-tr"], api_name="/evaluate")
    with pytest.raises(AppError, match="Unknown task 'chat'"):
        client.predict("chat", handle_file(str(files["translation"])), ["base"], api_name="/evaluate")
