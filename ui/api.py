"""The public API: one endpoint per task, with stable names, for `gradio_client` and scripts.

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    client.predict("Good morning", "translation-en-es", api_name="/translate")
    client.predict("I loved it", api_name="/sentiment")          # {"positive": 0.9, ...}
    client.predict("Hi!", "chat-cheerful", api_name="/chat")      # the whole reply
    for reply in client.submit("Hi!", "chat-cheerful", api_name="/chat"):  # the reply as it is written
        print(reply)
    client.predict("<workspace id>", api_name="/train_status")

`adapter` / `persona` is an adapter name or "base"; `workspace` (shown in the Adapters tab) makes
a browser's own adapters usable too, and gives the requests of one browser (or one client, without
it) their fair share when many arrive at once. /translate, /summarize and /chat stream: `predict`
returns the whole text, `submit` iterates it as it grows, and cancelling the job (or disconnecting)
frees its place. Type hints define the endpoints' schemas, so they are kept as runtime types (no
`from __future__ import annotations` here).
"""

import inspect
from dataclasses import asdict
from typing import Any, Callable, Iterator

import gradio as gr

from finetune.jobs import Job, JobQueue
from models import inference
from ui.chat import plain_messages
from ui.common import BASE_CHOICE, USER_ERRORS, adapter_argument


def _checked(text: str, task: str, adapter: str, workspace: str) -> str | None:
    """The adapter argument for the task API, or a gr.Error for the client."""
    if not isinstance(text, str) or not text.strip():
        raise gr.Error("The input is empty: send some text.")
    try:
        return adapter_argument(adapter, task, workspace)
    except USER_ERRORS as error:
        raise gr.Error(str(error)) from None


def _owner(workspace: str, request: gr.Request | None) -> str | None:
    """Whose fair share a request counts against: the browser's workspace, else the client's session."""
    return workspace or (request.session_hash if request is not None else None)


def _texts(pieces: Iterator[tuple[inference.Partial, ...]]) -> Iterator[str]:
    """A stream's text as it grows (nothing while it waits for a place); user errors as gr.Error."""
    try:
        for (piece,) in pieces:
            if piece.ahead is None and (piece.text or piece.done):
                yield piece.text
    except USER_ERRORS as error:
        raise gr.Error(str(error)) from None


def _streams(value: type) -> Callable[[Callable[..., Iterator[Any]]], Callable[..., Iterator[Any]]]:
    """Mark a streaming endpoint: gradio derives the schema of each streamed value from the return annotation."""
    def mark(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        fn.__signature__ = inspect.signature(fn).replace(return_annotation=value)  # type: ignore[attr-defined]
        return fn

    return mark


def _written(task: str, text: str, adapter: str, workspace: str, request: gr.Request | None) -> Iterator[str]:
    """A translation or summary as it is written."""
    key = _checked(text, task, adapter, workspace)
    yield from _texts(inference.generation_streams(task, [(text, key)], workspace=workspace or None,
                                                   owner=_owner(workspace, request)))


@_streams(str)
def translate(text: str, adapter: str = BASE_CHOICE, workspace: str = "",
              request: gr.Request = None) -> Iterator[str]:  # type: ignore[assignment]
    """English to Spanish."""
    yield from _written("translation", text, adapter, workspace, request)


def sentiment(text: str, adapter: str = BASE_CHOICE, workspace: str = "") -> dict[str, float]:
    """Class probabilities, e.g. {"negative": 0.1, "positive": 0.9}."""
    key = _checked(text, "sentiment", adapter, workspace)
    try:
        return inference.classify_sentiment(text, adapter=key, workspace=workspace or None)
    except USER_ERRORS as error:
        raise gr.Error(str(error)) from None


@_streams(str)
def summarize(text: str, adapter: str = BASE_CHOICE, workspace: str = "",
              request: gr.Request = None) -> Iterator[str]:  # type: ignore[assignment]
    """A one-line summary."""
    yield from _written("summarization", text, adapter, workspace, request)


@_streams(str)
def chat(message: str, persona: str = BASE_CHOICE, history: list[dict[str, str]] | None = None,
         workspace: str = "", request: gr.Request = None) -> Iterator[str]:  # type: ignore[assignment]
    """The reply to `message` after `history` ([{"role": ..., "content": ...}, ...]), as it is written."""
    key = _checked(message, "chat", persona, workspace)
    try:
        turn = inference.ChatTurn(message, plain_messages(inference.check_history(history)), key)
    except USER_ERRORS as error:
        raise gr.Error(str(error)) from None
    yield from _texts(inference.chat_streams([turn], workspace=workspace or None, owner=_owner(workspace, request)))


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
    for fn in (translate, sentiment, summarize, chat):  # the engines keep their own line (ui.common.MODEL_EVENT)
        gr.api(fn, api_name=fn.__name__, concurrency_limit=None)

    def train_status(workspace: str, job_id: str = "") -> dict[str, Any]:
        """The workspace's latest training job (or the job with this id, if it is the workspace's)."""
        job = jobs.get(job_id) if job_id else jobs.latest(workspace, "train")
        return job_status(job if job is None or job.workspace == workspace else None)

    gr.api(train_status, api_name="train_status", concurrency_limit=None)
