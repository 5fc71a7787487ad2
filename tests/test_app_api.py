"""The app's public API, called with gradio_client against the app running in this process.

The tasks' default bases are pointed at the tiny test models, so every call is fast; each
endpoint must answer exactly what the task function answers when called directly.
"""

from __future__ import annotations

import time

import pytest

from conftest import change_task, make_adapter
from finetune.config import make_config
from models import inference
from models.adapters import workspace_dir
from ui.common import Localizer
from ui.i18n import STRINGS, text

WORKSPACE = "api-tests"


@pytest.fixture(scope="module")
def client(app_client):
    make_adapter("tiny-llama", "translation", workspace_dir(WORKSPACE) / "tiny-translation", seed=11)
    return app_client[0]


@pytest.fixture(scope="module")
def jobs(app_client):
    return app_client[1]


def test_the_public_endpoints_have_stable_names(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert names == {"/translate", "/sentiment", "/summarize", "/chat", "/blend_chat", "/explain", "/evaluate",
                     "/train_status", "/export", "/publish", "/unpublish", "/gallery"}


@pytest.mark.parametrize("api_name, run", [("/translate", inference.translate), ("/summarize", inference.summarize)])
def test_text_endpoints_answer_like_the_task_functions(client, api_name, run):
    text_in = "The weather is nice today."
    assert client.predict(text_in, api_name=api_name) == run(text_in)


def test_sentiment_returns_class_probabilities(client):
    probabilities = client.predict("I loved this movie, it was wonderful.", api_name="/sentiment")
    assert set(probabilities) == {"negative", "positive"}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)


def test_chat_returns_the_whole_reply(client):
    history = [{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi there."}]
    reply = client.predict("Tell me a joke.", "base", history, api_name="/chat")
    *_, expected = inference.chat("Tell me a joke.", history)
    assert isinstance(reply, str) and reply == expected


def test_chat_streams_growing_partial_replies(client):
    job = client.submit("Tell me a joke.", "base", [], api_name="/chat")
    partials = list(job)
    *_, expected = inference.chat("Tell me a joke.")
    assert len(partials) > 3 and partials[-1] == expected == job.result()
    assert all(later.startswith(earlier) for earlier, later in zip(partials, partials[1:]))


def test_a_client_that_cancels_frees_its_place(client, monkeypatch):
    """A reply cancelled half-way stops being generated: its place in the engine is free within a step."""
    from models import generation
    from models.loading import load_base
    from models.registry import DEFAULT_BASE

    change_task(monkeypatch, "chat", max_new_tokens=100_000)  # it would run for minutes:
    monkeypatch.setattr(generation, "eos_token_ids", lambda model: frozenset())  # no token ends it
    engine = inference.engine(load_base(DEFAULT_BASE["chat"]))
    job = client.submit("Tell me a very long story.", "base", [], api_name="/chat")
    for _ in job:  # (gradio_client delivers a few partial replies at a time)
        break
    assert engine.scheduler.active
    job.cancel()
    deadline = time.monotonic() + 30
    while engine.scheduler.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not engine.scheduler.active and not engine.scheduler.waiting


def test_a_workspace_adapter_is_usable_only_with_its_workspace(client):
    from gradio_client.exceptions import AppError

    text_in = "Where is the train station?"
    adapted = client.predict(text_in, "tiny-translation", WORKSPACE, api_name="/translate")
    assert adapted == inference.translate(text_in, adapter="tiny-translation", workspace=WORKSPACE)
    with pytest.raises(AppError, match="No translation adapter named 'tiny-translation'"):
        client.predict(text_in, "tiny-translation", "someone-else", api_name="/translate")
    with pytest.raises(AppError, match="No translation adapter"):  # a path must not reach the loader
        client.predict(text_in, str(workspace_dir(WORKSPACE) / "tiny-translation"), api_name="/translate")


def test_empty_input_gets_a_clear_message(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="The input is empty"):
        client.predict("   ", api_name="/sentiment")


def test_train_status_follows_a_job_to_the_end(client, jobs):
    assert client.predict(WORKSPACE, api_name="/train_status") == {"state": "none"}
    records = [{"text": f"{word} film number {i}", "label": label} for i in range(10)
               for word, label in (("great", "positive"), ("awful", "negative"))]
    config = make_config("sentiment", "quick", base="tiny-bert", max_steps=2, eval_limit=4, max_length=32)
    job = jobs.submit(config, records, WORKSPACE, "status-test")

    deadline = time.monotonic() + 240
    while (status := client.predict(WORKSPACE, api_name="/train_status"))["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)

    assert status["id"] == job.id and status["state"] == "done", status
    assert status["progress"]["step"] == 2 and len(status["losses"]) == 2
    assert set(status["metrics"]) == {"base", "adapter"}
    assert client.predict("someone-else", job.id, api_name="/train_status") == {"state": "none"}


def test_both_languages_have_every_string():
    assert set(STRINGS["en"]) == set(STRINGS["vi"])
    assert all(STRINGS["vi"][key] for key in STRINGS["en"])


def test_the_language_switch_relabels_bound_components():
    import gradio as gr

    loc = Localizer()
    with gr.Blocks():
        button = loc(gr.Button(), value="train.start")
        box = loc(gr.Textbox(), label="translate.input", placeholder="translate.placeholder")
    assert (button.value, box.label) == (text("en", "train.start"), text("en", "translate.input"))
    assert loc.components == [button, box]
    assert loc.updates("vi") == [gr.update(value=text("vi", "train.start")),
                                 gr.update(label=text("vi", "translate.input"),
                                           placeholder=text("vi", "translate.placeholder"))]
