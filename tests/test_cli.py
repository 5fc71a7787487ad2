"""`python -m finetune train|eval` in-process on tiny models, and its refusals (exit code 2)."""

from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import pytest

from finetune.__main__ import main
from conftest import PAIRS
from models.adapters import read_adapter, workspace_dir

REVIEWS = [("I loved this movie", "positive"), ("Wonderful and great", "positive"), ("Excellent film", "positive"),
           ("Happy and good", "positive"), ("A great story", "positive"), ("Good acting", "positive"),
           ("Terrible and boring", "negative"), ("Awful, bad film", "negative"), ("Sad and bad", "negative"),
           ("I hated it", "negative"), ("Boring plot", "negative"), ("Bad acting", "negative")]


def write_csv(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(autouse=True)
def _keep_sigint_handler(fresh_models):
    """`train` installs its own Ctrl-C handler; give pytest's back afterwards."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


@pytest.fixture
def translation_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "pairs.csv", ["source", "target"], PAIRS)


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_train_then_eval_round_trip(tiny_models, translation_csv, tmp_path, capsys):
    output = tmp_path / "out" / "cli-adapter"
    code = main(["train", "--task", "translation", "--data", str(translation_csv), "--base", "tiny-llama",
                 "--output", str(output), "--max-steps", "2", "--preset", "quick", "--batch-size", "4",
                 "--lr", "0.01", "--rank", "4", "--precision", "fp32"])
    out = capsys.readouterr().out
    assert code == 0
    assert "step 1/2" in out and "step 2/2" in out
    summary = last_json(out)
    assert summary["adapter"] == str(output)
    assert set(summary["metrics"]) == {"base", "adapter"}
    assert {"bleu", "chrf", "examples", "examples_per_s"} <= set(summary["metrics"]["adapter"])
    assert 0 < summary["trainable_params"] < summary["total_params"]
    info = read_adapter(output)
    assert (info.task, info.base_model, info.rank) == ("translation", "tiny-llama", 4)
    assert info.metadata["data"]["file"] == "pairs.csv"
    assert info.metadata["data"]["train_rows"] == 8  # 4 of the 12 rows held out (at least a third, up to 30)
    assert info.metadata["precision"] == info.metadata["hyperparameters"]["precision"] == "fp32"

    assert main(["eval", "--task", "translation", "--data", str(translation_csv), "--adapter", str(output),
                 "--limit", "3", "--json"]) == 0
    out = capsys.readouterr().out
    result = last_json(out)
    assert result["adapter"] == "cli-adapter" and result["examples"] == 3
    assert {"bleu", "chrf", "examples_per_s", "samples"} <= set(result)
    assert [s["input"] for s in result["samples"]] == [p[0] for p in PAIRS[:3]]
    assert "chrf:" in out  # the human-readable lines come first


def test_train_continues_an_adapter(tiny_models, translation_csv, tmp_path, capsys):
    common = ["train", "--task", "translation", "--data", str(translation_csv), "--base", "tiny-llama",
              "--max-steps", "2", "--preset", "quick", "--batch-size", "4", "--lr", "0.01", "--rank", "4"]
    assert main([*common, "--output", str(tmp_path / "first")]) == 0
    assert main([*common, "--output", str(tmp_path / "second"), "--init-adapter", str(tmp_path / "first")]) == 0
    assert read_adapter(tmp_path / "second").metadata["hyperparameters"]["init_adapter"] == str(tmp_path / "first")
    capsys.readouterr()
    assert main([*common, "--init-adapter", "no-such-adapter"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no-such-adapter" in err
    assert main([*common, "--rank", "8", "--init-adapter", str(tmp_path / "first")]) == 2
    assert "set rank to 4" in capsys.readouterr().err


def test_train_by_name_into_the_library_and_eval_by_name(tiny_models, tmp_path, capsys):
    data = write_csv(tmp_path / "reviews.csv", ["text", "label"], REVIEWS)
    assert main(["train", "--task", "sentiment", "--data", str(data), "--base", "tiny-bert", "--name", "My Reviews",
                 "--max-steps", "2", "--preset", "quick"]) == 0
    assert last_json(capsys.readouterr().out)["adapter"] == str(workspace_dir() / "my-reviews")
    assert main(["eval", "--task", "sentiment", "--data", str(data), "--adapter", "my-reviews", "--json"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["adapter"] == "my-reviews" and {"accuracy", "macro_f1"} <= set(result)
    assert 0 <= result["accuracy"] <= 1


def test_eval_base_only(tiny_models, translation_csv, capsys):
    assert main(["eval", "--task", "translation", "--data", str(translation_csv), "--base-only", "--base", "tiny-t5",
                 "--limit", "2", "--json"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["adapter"] is None and result["examples"] == 2 and "chrf" in result


def test_non_lora_method_trains_without_saving(tiny_models, tmp_path, capsys):
    data = write_csv(tmp_path / "reviews.csv", ["text", "label"], REVIEWS)
    output = tmp_path / "never-written"
    assert main(["train", "--task", "sentiment", "--data", str(data), "--base", "tiny-bert", "--method", "head",
                 "--output", str(output), "--max-steps", "1"]) == 0
    summary = last_json(capsys.readouterr().out)
    assert summary["adapter"] is None and summary["trainable_params"] < summary["total_params"]
    assert not output.exists()


def test_data_errors_exit_2_with_line_numbers(tiny_models, tmp_path, capsys):
    rows = list(PAIRS)
    rows[2] = (rows[2][0], "")  # line 4 of the file (the header is line 1)
    rows[5] = ("", rows[5][1])  # line 7
    data = write_csv(tmp_path / "broken.csv", ["source", "target"], rows)
    output = tmp_path / "never"
    assert main(["train", "--task", "translation", "--data", str(data), "--base", "tiny-llama",
                 "--output", str(output), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:")
    assert "Line 4" in err and "Line 7" in err
    assert not output.exists()


def test_wrong_columns_exit_2(tiny_models, tmp_path, capsys):
    data = write_csv(tmp_path / "wrong.csv", ["foo", "bar"], PAIRS)
    assert main(["train", "--task", "translation", "--data", str(data), "--base", "tiny-llama"]) == 2
    assert "source" in capsys.readouterr().err


@pytest.mark.parametrize("flags,setting", [
    (["--lr=-1"], "learning_rate"), (["--rank", "0"], "rank"), (["--epochs", "0"], "epochs"),
    (["--batch-size", "0"], "batch_size"), (["--max-steps", "0"], "max_steps"), (["--max-length", "2"], "max_length"),
])
def test_bad_settings_exit_2_naming_the_setting(tiny_models, translation_csv, tmp_path, capsys, flags, setting):
    output = tmp_path / "never"
    assert main(["train", "--task", "translation", "--data", str(translation_csv), "--base", "tiny-llama",
                 "--output", str(output), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and f"{setting} must be" in err
    assert not output.exists()


def test_unknown_base_exit_2(tiny_models, translation_csv, capsys):
    assert main(["train", "--task", "translation", "--data", str(translation_csv), "--base", "no-such-model"]) == 2
    assert "no-such-model" in capsys.readouterr().err


def test_eval_unknown_adapter_exit_2(tiny_models, translation_csv, capsys):
    assert main(["eval", "--task", "translation", "--data", str(translation_csv), "--adapter", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_missing_data_file_exit_2(tiny_models, tmp_path, capsys):
    assert main(["train", "--task", "translation", "--data", str(tmp_path / "missing.csv")]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_normal_run_prints_no_library_warning(tiny_models, translation_csv, tmp_path):
    """`python -m finetune train` as a user runs it: progress and the summary, no warning from a library
    (transformers' deprecations, datasets' progress bars) on stderr."""
    import os
    import subprocess
    import sys

    models_file = tmp_path / "models.json"
    models_file.write_text(json.dumps({"models": [{
        "key": "tiny-llama", "hub_id": "tests/tiny-llama", "architecture": "causal",
        "tasks": ["translation"], "local_path": str(tiny_models["tiny-llama"])}]}), encoding="utf-8")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "LORA_PLAYGROUND_MODELS": str(models_file), "LORA_PLAYGROUND_HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(root), "PYTHONWARNINGS": "default"}
    run = subprocess.run([sys.executable, "-m", "finetune", "train", "--task", "translation", "--data",
                          str(translation_csv), "--base", "tiny-llama", "--output", str(tmp_path / "quiet"),
                          "--max-steps", "2", "--preset", "quick", "--precision", "fp32"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "step 2/2" in run.stdout and run.stdout.strip().splitlines()[-1].startswith("{")
    assert run.stderr.strip() == ""
