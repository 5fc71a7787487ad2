"""A task is one `TaskSpec`: registering one (topic classification on an encoder, English paraphrase on
a causal model) is all it takes to upload, train, evaluate and serve it, API endpoint included."""

from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import pytest

from finetune.__main__ import main
from finetune.data import load_examples
from models import inference
from models.adapters import read_adapter, workspace_dir
from models.tasks import PRESETS, TaskSpec, get_task, register_task, unregister_task
from ui.api import endpoint

QUICK = {preset: dict(epochs=1, learning_rate=5e-3, batch_size=4, rank=4, max_length=64) for preset in PRESETS}
TOPICS = [(f"The striker scored a goal in match {i}", "sport") for i in range(6)] + \
         [(f"The central bank raised interest rates in quarter {i}", "economy") for i in range(6)] + \
         [(f"The new phone has a faster chip, model {i}", "technology") for i in range(6)]
WORKSPACE = "new-tasks"
PARAPHRASES = [(f"The meeting starts at {h} o'clock.", f"At {h} the meeting begins.") for h in range(1, 13)]


@pytest.fixture
def new_tasks(tiny_models, fresh_models):
    register_task(TaskSpec("topic", "classify", ("sentence", "topic"), "What a sentence is about", "tiny-bert",
                           presets=QUICK, primary_metric="accuracy", examples=("The goalkeeper saved it.",)))
    register_task(TaskSpec("paraphrase", "generate", ("text", "paraphrase"), "The same thing in other words",
                           "tiny-llama", presets=QUICK, primary_metric="rougeL", prompt="Sentence: {text}\nIn other "
                           "words:", answer=" {paraphrase}", max_new_tokens=12))
    handler = signal.getsignal(signal.SIGINT)  # `train` installs its own Ctrl-C handler
    yield
    signal.signal(signal.SIGINT, handler)
    unregister_task("topic")
    unregister_task("paraphrase")


def write_csv(path: Path, header: tuple[str, str], rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def train_and_evaluate(task: str, data: Path, output: Path, capsys) -> dict:
    assert main(["train", "--task", task, "--data", str(data), "--output", str(output), "--preset", "quick",
                 "--max-steps", "2", "--precision", "fp32"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["eval", "--task", task, "--data", str(data), "--adapter", str(output), "--json"]) == 0
    return {"train": summary, "eval": json.loads(capsys.readouterr().out.strip().splitlines()[-1])}


def test_a_new_classification_task_trains_evaluates_and_serves(new_tasks, tmp_path, capsys):
    data = write_csv(tmp_path / "topics.csv", ("sentence", "topic"), TOPICS)
    assert load_examples(data, "topic").ok
    assert not load_examples(write_csv(tmp_path / "wrong.csv", ("text", "label"), TOPICS), "topic").ok

    folder = workspace_dir(WORKSPACE) / "topic-adapter"
    result = train_and_evaluate("topic", data, folder, capsys)
    assert {"accuracy", "macro_f1"} <= set(result["train"]["metrics"]["adapter"])
    assert result["eval"]["examples"] == len(TOPICS) and 0 <= result["eval"]["accuracy"] <= 1
    info = read_adapter(folder)
    assert (info.task, info.base_model, info.labels) == ("topic", "tiny-bert", ["economy", "sport", "technology"])

    probabilities = inference.classify("topic", "The goalkeeper saved it.", "topic-adapter", workspace=WORKSPACE)
    assert set(probabilities) == {"economy", "sport", "technology"}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    served = endpoint(get_task("topic"))
    assert served.__name__ == "topic"
    assert served("The goalkeeper saved it.", "topic-adapter", WORKSPACE) == pytest.approx(probabilities, abs=1e-5)


def test_a_new_generation_task_trains_evaluates_and_serves(new_tasks, tmp_path, capsys):
    data = write_csv(tmp_path / "paraphrases.csv", ("text", "paraphrase"), PARAPHRASES)
    folder = workspace_dir(WORKSPACE) / "paraphrase-adapter"
    result = train_and_evaluate("paraphrase", data, folder, capsys)
    assert {"rouge1", "rougeL"} <= set(result["eval"]) and result["eval"]["examples"] == len(PARAPHRASES)
    assert read_adapter(folder).task == "paraphrase"

    streamed = list(endpoint(get_task("paraphrase"))("The bus leaves at noon.", "paraphrase-adapter", WORKSPACE))
    answer = inference.final_texts(inference.generation_streams(
        "paraphrase", [("The bus leaves at noon.", "paraphrase-adapter")], workspace=WORKSPACE))[0]
    assert streamed and streamed[-1] == answer  # the endpoint streams the same greedy answer
