"""`python -m finetune reproduce` on a tiny model: an adapter trained in stages trains each stage on
its own rows, continuing the one before, records them all in its metadata and card, and can start
from a previous stage that is given instead of training the earlier stages again."""

from __future__ import annotations

import json

import pytest

from finetune import reproduce as reproduce_module
from finetune.reproduce import ShippedAdapter, reproduce

from conftest import PAIRS

SETTINGS = dict(base="tiny-llama", max_steps=2, batch_size=4, learning_rate=1e-2, rank=4, alpha=8)


@pytest.fixture
def staged(tiny_models, tmp_path, monkeypatch) -> list[str]:
    """A three-stage tiny translation adapter as the only shipped one; yields the stages trained, in order."""
    data = tmp_path / "data" / "translation"
    data.mkdir(parents=True)
    rows = [json.dumps({"source": s, "target": t}) for s, t in PAIRS]
    for name, lines in (("train", rows), ("validation", rows[:2]), ("test", rows[:3])):
        (data / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = ShippedAdapter("tiny-stage1", "translation", "translation/train.jsonl", SETTINGS, rows=(0, 4))
    second = ShippedAdapter("tiny-stage2", "translation", "translation/train.jsonl", SETTINGS, rows=(4, 8),
                            previous_stage=first)
    shipped = ShippedAdapter("tiny-staged", "translation", "translation/train.jsonl", SETTINGS,
                             {"held-out": ("translation/test.jsonl", None)}, rows=(8, 12), previous_stage=second)
    monkeypatch.setattr(reproduce_module, "SHIPPED", [shipped])
    monkeypatch.setattr(reproduce_module, "DATA_DIR", tmp_path / "data")
    trained: list[str] = []
    train = reproduce_module._train

    def recording_train(stage, report, start=None):
        trained.append(stage.name)
        return train(stage, report, start)

    monkeypatch.setattr(reproduce_module, "_train", recording_train)
    return trained


def test_an_adapter_trained_in_stages_records_every_stage(staged, tmp_path):
    [metadata] = reproduce(output=tmp_path / "out")
    assert staged == ["tiny-stage1", "tiny-stage2", "tiny-staged"]
    assert metadata["data"]["source"].endswith("rows 8-12") and metadata["data"]["train_rows"] == 4
    second = metadata["previous_stage"]
    first = second["previous_stage"]
    assert second["data"]["source"].endswith("rows 4-8") and first["data"]["source"].endswith("rows 0-4")
    assert first["steps"] == second["steps"] == metadata["steps"] == 2 and len(first["loss_history"]) == 2
    assert "previous_stage" not in first
    assert metadata["hyperparameters"]["init_adapter"]  # the (temporary) folder of the stage before
    saved = json.loads((tmp_path / "out" / "tiny-staged" / "playground.json").read_text())
    assert saved["test"]["held-out"]["adapter"]["examples"] == 3
    card = (tmp_path / "out" / "tiny-staged" / "README.md").read_text()
    lines = [line for line in card.splitlines() if line.startswith("- **Earlier stage:**")]
    assert len(lines) == 2 and "rows 4-8" in lines[0] and "rows 0-4" in lines[1]
    assert all("4 training rows" in line for line in lines)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["tiny-staged"]  # earlier stages are not shipped


def test_a_given_previous_stage_is_not_trained_again(staged, tmp_path):
    [earlier] = reproduce(output=tmp_path / "earlier")
    staged.clear()
    [metadata] = reproduce(output=tmp_path / "out", previous_stage=tmp_path / "earlier" / "tiny-staged")
    assert staged == ["tiny-staged"]
    assert metadata["previous_stage"]["data"] == earlier["data"]
    assert metadata["previous_stage"]["loss_history"] == [list(pair) for pair in earlier["loss_history"]]
    assert metadata["previous_stage"]["previous_stage"]["data"] == earlier["previous_stage"]["data"]


def test_one_stage_trains_on_several_files_shuffled_together(tiny_models, tmp_path, monkeypatch):
    """A stage given a file per domain trains on all of their rows, shuffled with the seed, is measured on
    their validation files together, and says in its data source which files and how many rows each."""
    data = tmp_path / "data" / "translation"
    data.mkdir(parents=True)
    rows = [json.dumps({"source": s, "target": t}) for s, t in PAIRS]
    for name, lines in (("train", rows[:6]), ("validation", rows[:2]), ("train_more", rows[6:]),
                        ("validation_more", rows[2:4])):
        (data / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(reproduce_module, "DATA_DIR", tmp_path / "data")
    files = ("translation/train.jsonl", "translation/train_more.jsonl")
    records, source = reproduce_module._load_files("translation", files, seed=0)
    assert records == reproduce_module._load_files("translation", files, seed=0)[0]  # deterministic
    assert sorted(map(json.dumps, records)) == sorted(rows) and records != [json.loads(r) for r in rows]
    assert source == (f"assets/data/translation/train.jsonl (6 rows) + "
                      f"assets/data/translation/train_more.jsonl ({len(PAIRS) - 6} rows)")
    shipped = ShippedAdapter("tiny-domains", "translation", files, SETTINGS)
    monkeypatch.setattr(reproduce_module, "SHIPPED", [shipped])
    [metadata] = reproduce(output=tmp_path / "out")
    assert metadata["data"]["source"] == source
    assert (metadata["data"]["train_rows"], metadata["data"]["validation_rows"]) == (len(PAIRS), 4)


def test_measure_only_adds_the_test_sets_an_adapter_lacks_without_training(tiny_models, tmp_path, monkeypatch):
    """`reproduce --measure-only`: a test set added after training is measured on the stored adapter (with
    its peer, read from its own stored outputs), the sets already measured are kept, and the card shows it."""
    data = tmp_path / "data" / "translation"
    data.mkdir(parents=True)
    rows = [json.dumps({"source": s, "target": t}) for s, t in PAIRS]
    for name, lines in (("train", rows), ("validation", rows[:2]), ("test", rows[:3]), ("test_more", rows[3:5])):
        (data / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    peer_rows = [json.dumps({"source": s, "target": t, "prediction": t}) for s, t in PAIRS[3:5]]
    (data / "test_more_apertium.jsonl").write_text("\n".join(peer_rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(reproduce_module, "DATA_DIR", tmp_path / "data")
    first = {"held-out": ("translation/test.jsonl", None)}
    shipped = ShippedAdapter("tiny-measured", "translation", "translation/train.jsonl", SETTINGS, first, "Apertium")
    monkeypatch.setattr(reproduce_module, "SHIPPED", [shipped])
    [trained] = reproduce(output=tmp_path / "out")
    shipped.tests = {**first, "more": ("translation/test_more.jsonl",
                                       reproduce_module._apertium("translation/test_more_apertium.jsonl"))}
    monkeypatch.setattr(reproduce_module, "_train", lambda *args: pytest.fail("measure-only must not train"))
    [metadata] = reproduce_module.measure(["tiny-measured"], adapters=tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "tiny-measured" / "playground.json").read_text())
    assert saved["test"]["held-out"] == json.loads(json.dumps(trained["test"]["held-out"]))
    assert saved["test"]["more"]["adapter"]["examples"] == 2 and saved["test"]["more"]["peer"]["chrf"] == 100
    assert saved == json.loads(json.dumps(metadata))
    assert "more" in (tmp_path / "out" / "tiny-measured" / "README.md").read_text()
