"""The real packaged base models and shipped adapters, offline (minutes: `pytest -m slow`).

These use the caller's cache (LORA_PLAYGROUND_HOME, default ~/.cache/lora-playground) so the
GGUF -> safetensors conversion happens once per machine, not once per run.
"""

from __future__ import annotations

import pytest

from models import inference
from models.adapters import SHIPPED_DIR, list_adapters
from models.loading import forget_loaded, load_base
from models.registry import DEFAULT_BASE, ModelUnavailableError, get_spec, resolve

from conftest import USER_PLAYGROUND_HOME

pytestmark = pytest.mark.slow

PARAGRAPH = ("This package provides a command-line tool that converts audio files between MP3, OGG and FLAC "
             "formats. It can also normalise the volume, trim silence at the start and end, and process whole "
             "folders of music in one run, using several processor cores at once.")


@pytest.fixture(scope="module", autouse=True)
def _user_cache():
    """Undo the session's temporary LORA_PLAYGROUND_HOME for this module; free the models afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        if USER_PLAYGROUND_HOME is None:
            patch.delenv("LORA_PLAYGROUND_HOME", raising=False)
        else:
            patch.setenv("LORA_PLAYGROUND_HOME", USER_PLAYGROUND_HOME)
        forget_loaded()
        yield
        forget_loaded()


def available(key: str) -> None:
    try:
        resolve(get_spec(key))
    except ModelUnavailableError as error:
        pytest.fail(f"packaged model missing (install requirements.txt): {error}")


def test_minilm_sentiment_base():
    available(DEFAULT_BASE["sentiment"])
    probabilities = inference.classify_sentiment("An absolutely wonderful film, I loved every minute of it.")
    assert set(probabilities) == {"negative", "positive"}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_gemma_translation_base():
    available(DEFAULT_BASE["translation"])
    answer = inference.translate("Where is the train station?").lower()
    assert any(word in answer for word in ("estación", "tren", "dónde")), answer


def test_gemma_summarization_base():
    available(DEFAULT_BASE["summarization"])
    summary = inference.summarize(PARAGRAPH)
    assert summary.strip() and "\n" not in summary
    assert len(summary) < len(PARAGRAPH)


def test_smollm_chat_base():
    available(DEFAULT_BASE["chat"])
    pieces = list(inference.chat("What is the capital of France?"))
    assert pieces and all(b.startswith(a) for a, b in zip(pieces, pieces[1:]))
    assert "Paris" in pieces[-1]


def test_base_models_loaded_once():
    assert load_base(DEFAULT_BASE["translation"]) is load_base(DEFAULT_BASE["summarization"])


SHIPPED = [info.name for info in list_adapters(workspace=None)] if SHIPPED_DIR.is_dir() else []


@pytest.mark.skipif(not SHIPPED, reason="no shipped adapters in assets/adapters")
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_adapter_answers(name):
    info = next(i for i in list_adapters(workspace=None) if i.name == name)
    assert info.shipped
    available(info.base_model)
    if info.task == "sentiment":
        probabilities = inference.classify_sentiment("An absolutely wonderful film, I loved every minute of it.", name)
        assert list(probabilities) == info.labels
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        if "positive" in probabilities:
            assert max(probabilities, key=probabilities.get) == "positive"
    elif info.task == "translation":
        answer = inference.translate("Where is the train station?", name).lower()
        assert any(word in answer for word in ("estación", "tren", "dónde")), answer
    elif info.task == "summarization":
        summary = inference.summarize(PARAGRAPH, name)
        assert summary.strip() and len(summary) < len(PARAGRAPH)
    else:
        reply = list(inference.chat("What is the capital of France?", adapter=name))[-1]
        assert reply.strip()
