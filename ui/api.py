"""The public API: one endpoint per task, with stable names, for `gradio_client` and scripts.

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    client.predict("Good morning", "translation-en-es", api_name="/translate")
    client.predict("I loved it", api_name="/sentiment")          # {"positive": 0.9, ...}
    client.predict("Hi!", "chat-cheerful", api_name="/chat")      # the whole reply
    client.predict("<workspace id>", api_name="/train_status")

`adapter` / `persona` is an adapter name or "base"; `workspace` (shown in the Adapters tab) makes
a browser's own adapters usable too. Type hints define the endpoints' schemas, so they are kept as
runtime types (no `from __future__ import annotations` here).
"""

from dataclasses import asdict
from typing import Any, Callable

import gradio as gr

from finetune.jobs import Job, JobQueue
from models import inference
from ui.chat import plain_messages
from ui.common import BASE_CHOICE, USER_ERRORS, adapter_argument


def _call(task: str, run: Callable[..., Any], text: str, adapter: str, workspace: str) -> Any:
    if not isinstance(text, str) or not text.strip():
        raise gr.Error("The input is empty: send some text.")
    try:
        return run(text, adapter=adapter_argument(adapter, task, workspace), workspace=workspace or None)
    except USER_ERRORS as error:
        raise gr.Error(str(error)) from None


def translate(text: str, adapter: str = BASE_CHOICE, workspace: str = "") -> str:
    """English to Spanish."""
    return _call("translation", inference.translate, text, adapter, workspace)


def sentiment(text: str, adapter: str = BASE_CHOICE, workspace: str = "") -> dict[str, float]:
    """Class probabilities, e.g. {"negative": 0.1, "positive": 0.9}."""
    return _call("sentiment", inference.classify_sentiment, text, adapter, workspace)


def summarize(text: str, adapter: str = BASE_CHOICE, workspace: str = "") -> str:
    """A one-line summary."""
    return _call("summarization", inference.summarize, text, adapter, workspace)


def chat(message: str, persona: str = BASE_CHOICE, history: list[dict[str, str]] | None = None,
         workspace: str = "") -> str:
    """The complete reply to `message` after `history` ([{"role": ..., "content": ...}, ...])."""
    def complete(text: str, adapter: str | None, workspace: str | None) -> str:
        reply = ""
        messages = plain_messages(inference.check_history(history))
        for reply in inference.chat(text, messages, adapter=adapter, workspace=workspace):
            pass
        return reply

    return _call("chat", complete, message, persona, workspace)


def job_status(job: Job | None) -> dict[str, Any]:
    """A job as JSON: state, place in line, progress, and the metrics once it is done."""
    if job is None:
        return {"state": "none"}
    progress = asdict(job.progress)
    return {"id": job.id, "state": job.state, "position": job.position, "task": job.task, "name": job.name,
            "progress": {k: v for k, v in progress.items() if k != "losses"}, "losses": progress["losses"],
            "error": job.error, "metrics": (job.result or {}).get("metrics")}


def register(jobs: JobQueue) -> None:
    """Add the endpoints to the Blocks being built."""
    for fn in (translate, sentiment, summarize, chat):
        gr.api(fn, api_name=fn.__name__)

    def train_status(workspace: str, job_id: str = "") -> dict[str, Any]:
        """The workspace's latest training job (or the job with this id, if it is the workspace's)."""
        job = jobs.get(job_id) if job_id else jobs.latest(workspace, "train")
        return job_status(job if job is None or job.workspace == workspace else None)

    gr.api(train_status, api_name="train_status", concurrency_limit=None)
