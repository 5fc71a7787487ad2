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
from models.tasks import TASKS, TaskSpec
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
    """A generation task's answer as it is written."""
    key = _checked(text, task, adapter, workspace)
    yield from _texts(inference.generation_streams(task, [(text, key)], workspace=workspace or None,
                                                   owner=_owner(workspace, request)))


def endpoint(spec: TaskSpec) -> Callable[..., Any]:
    """A task's API function, shaped by its kind: a classification answers class probabilities, e.g.
    {"negative": 0.1, "positive": 0.9}; a generation streams its text; a chat streams the reply to
    `message` after `history` ([{"role": ..., "content": ...}, ...]) from `persona` (an adapter)."""
    if spec.kind == "classify":
        def classify(text: str, adapter: str = BASE_CHOICE, workspace: str = "") -> dict[str, float]:
            key = _checked(text, spec.name, adapter, workspace)
            try:
                return inference.classify(spec.name, text, adapter=key, workspace=workspace or None)
            except USER_ERRORS as error:
                raise gr.Error(str(error)) from None

        function: Callable[..., Any] = classify
    elif spec.kind == "generate":
        @_streams(str)
        def generate(text: str, adapter: str = BASE_CHOICE, workspace: str = "",
                     request: gr.Request = None) -> Iterator[str]:  # type: ignore[assignment]
            yield from _written(spec.name, text, adapter, workspace, request)

        function = generate
    else:
        @_streams(str)
        def chat(message: str, persona: str = BASE_CHOICE, history: list[dict[str, str]] | None = None,
                 workspace: str = "", request: gr.Request = None) -> Iterator[str]:  # type: ignore[assignment]
            key = _checked(message, spec.name, persona, workspace)
            try:
                turn = inference.ChatTurn(message, plain_messages(inference.check_history(history)), key)
            except USER_ERRORS as error:
                raise gr.Error(str(error)) from None
            yield from _texts(inference.chat_streams([turn], workspace=workspace or None,
                                                     owner=_owner(workspace, request), task=spec.name))

        function = chat
    function.__name__, function.__doc__ = spec.endpoint, f"{spec.description}."
    return function


def job_status(job: Job | None) -> dict[str, Any]:
    """A job as JSON: state, place in line, progress, and the metrics once it is done."""
    if job is None:
        return {"state": "none"}
    progress = asdict(job.progress)
    return {"id": job.id, "state": job.state, "position": job.position, "task": job.task, "name": job.name,
            "progress": {k: v for k, v in progress.items() if k != "losses"}, "losses": progress["losses"],
            "error": job.error, "metrics": (job.result or {}).get("metrics")}


def register(jobs: JobQueue) -> None:
    """Add the endpoints to the Blocks being built: one per task (`models.tasks`), and the jobs' status."""
    for spec in TASKS.values():  # unlimited here: the engines keep their own line (ui.common.MODEL_EVENT)
        gr.api(endpoint(spec), api_name=spec.endpoint, concurrency_limit=None)

    def train_status(workspace: str, job_id: str = "") -> dict[str, Any]:
        """The workspace's latest training job (or the job with this id, if it is the workspace's)."""
        job = jobs.get(job_id) if job_id else jobs.latest(workspace, "train")
        return job_status(job if job is None or job.workspace == workspace else None)

    gr.api(train_status, api_name="train_status", concurrency_limit=None)
