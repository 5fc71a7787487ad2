"""Taking an adapter home: the merged model loads with plain transformers (no peft) and answers exactly as
the app does with the adapter; it is built once per adapter version; a Hub push offline says so."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from models.adapters import find_adapter, workspace_dir
from models.export import ExportError, merged_model_zip, push_to_hub
from models.generation import first_line, text_request
from models.inference import classify_sentiment, translate
from models.registry import get_spec

TEXTS = ["Good morning, how are you?", "The cat sleeps on the bed."]


def unpacked(archive: Path, destination: Path) -> Path:
    """The model folder inside a merged-model zip."""
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(destination)
    (folder,) = destination.iterdir()
    return folder


@pytest.mark.usefixtures("cpu_only", "fresh_models")
def test_a_merged_causal_model_translates_as_the_adapter_does(tiny_adapters, tmp_path):
    info = find_adapter(str(tiny_adapters["llama-translation-a"]))
    folder = unpacked(merged_model_zip(info), tmp_path)
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md"} <= {p.name for p in folder.iterdir()}
    model, tokenizer = AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    assert "AutoModelForCausalLM.from_pretrained" in (folder / "README.md").read_text()
    limit = get_spec("tiny-llama").max_input_tokens
    for text in TEXTS:
        request = text_request(model, tokenizer, "translation", text, None, limit, few_shot=False)
        ids = torch.tensor([request.prompt])
        with torch.no_grad():
            output = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=request.max_new_tokens,
                                    do_sample=False, repetition_penalty=request.repetition_penalty)
        assert first_line(tokenizer, output[0, ids.shape[1]:].tolist()) == translate(text, adapter=str(info.path))


@pytest.mark.usefixtures("cpu_only", "fresh_models")
def test_a_merged_classifier_keeps_its_trained_head(tiny_adapters, tmp_path):
    info = find_adapter(str(tiny_adapters["bert-sentiment-a"]))
    folder = unpacked(merged_model_zip(info), tmp_path)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    for text in TEXTS:
        with torch.no_grad():
            probabilities = model(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0]
        expected = classify_sentiment(text, adapter=str(info.path))
        assert [float(p) for p in probabilities] == pytest.approx([expected["negative"], expected["positive"]],
                                                                  abs=1e-4)


def test_the_merged_zip_is_built_once_per_version(tiny_adapters, tmp_path, monkeypatch):
    from models import export

    folder = shutil.copytree(tiny_adapters["bert-sentiment-b"], tmp_path / "bert-sentiment-b")
    info = find_adapter(str(folder))
    first = merged_model_zip(info)
    monkeypatch.setattr(export, "_build", lambda *_: pytest.fail("built again"))
    assert merged_model_zip(find_adapter(str(folder))) == first
    monkeypatch.undo()
    (folder / "adapter_model.safetensors").touch()  # a new version of the weights (a retrained adapter)
    second = merged_model_zip(find_adapter(str(folder)))
    assert second != first and second.is_file() and not first.exists()  # the old version's zip is gone


def test_a_push_without_a_connection_says_so(tiny_adapters):
    info = find_adapter(str(tiny_adapters["llama-translation-a"]))
    with pytest.raises(ExportError) as caught:
        push_to_hub(info, "someone/adapter", "hf_token", merged=False)
    assert caught.value.message.key == "export.offline"
    assert "no connection to the Hugging Face Hub" in str(caught.value) and "offline" in str(caught.value)
    assert "không kết nối được tới Hugging Face Hub" in caught.value.text("vi")
    with pytest.raises(ExportError, match="access token"):
        push_to_hub(info, "someone/adapter", " ")


def test_the_export_endpoint_returns_a_loadable_merged_model(app_client, tiny_models, tmp_path):
    from conftest import make_adapter

    client, _ = app_client
    make_adapter("tiny-llama", "translation", workspace_dir("export-api") / "take-home", seed=12)
    path = client.predict("take-home", "export-api", api_name="/export")
    folder = unpacked(Path(path), tmp_path)
    assert folder.name == "take-home-merged"
    assert AutoModelForCausalLM.from_pretrained(folder).config.model_type == "llama"
    with pytest.raises(Exception, match="No adapter named"):
        client.predict(str(tiny_models["tiny-llama"]), "export-api", api_name="/export")
