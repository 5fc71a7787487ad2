"""The public API: one endpoint per task, with stable names, for `gradio_client` and scripts.

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    client.predict("Good morning", "translation-en-es", api_name="/translate")
    client.predict("I loved it", api_name="/sentiment")          # {"positive": 0.9, ...}
    client.predict("Hi!", "chat-cheerful", api_name="/chat")      # the whole reply
    for reply in client.submit("Hi!", "chat-cheerful", api_name="/chat"):  # the reply as it is written
        print(reply)
    client.predict("Hi!", "chat-sarcastic", "chat-cheerful", 0.3, api_name="/blend_chat")  # 70% / 30%
    client.predict("<workspace id>", api_name="/train_status")
    client.predict("translation", "Good morning", "translation-en-es", api_name="/explain")  # each token's change
    client.predict("translation", handle_file("test.csv"), ["base", "translation-en-es"], api_name="/evaluate")
    # {"base": {"bleu": ..., "chrf": ..., "examples": 100}, "translation-en-es": {...}}
    client.predict("translation-en-es", api_name="/export")  # the base with the adapter merged in: a local .zip path
    client.predict("my-adapter", "Lan's reviews", "<workspace id>", api_name="/publish")  # to the workspace's class
    client.predict("sentiment", "<workspace id>", api_name="/gallery")  # the class's leaderboard for a task
    client.predict("lan-s-reviews", "<workspace id>", api_name="/unpublish")  # its owner only

`adapter` / `persona` is an adapter name or "base"; `workspace` (shown in the Adapters tab) makes
a browser's own adapters usable too, and gives the requests of one browser (or one client, without
it) their fair share when many arrive at once. /translate, /summarize, /chat and /blend_chat stream: `predict`
returns the whole text, `submit` iterates it as it grows, and cancelling the job (or disconnecting)
frees its place. Type hints define the endpoints' schemas, so they are kept as runtime types (no
`from __future__ import annotations` here).
"""

import inspect
from dataclasses import asdict
from typing import Any, Callable, Iterator

import gradio as gr
from gradio.data_classes import FileData

from finetune.data import DataValidationError
from finetune.jobs import Job, JobQueue
from finetune.leaderboard import score_soon, standings
from finetune.served_eval import evaluate_served
from models import inference
from models.explain import explain as explain_change
from models.export import merged_model_zip
from models.gallery import Entry, GalleryError, class_of, publish, unpublish
from models.messages import say
from models.tasks import TASKS, TaskSpec, UnknownTaskError, get_task
from ui.chat import plain_messages
from ui.common import BASE_CHOICE, USER_ERRORS, Settings, adapter_argument, library
from ui.evaluate import evaluated_tasks, evaluation_records
from ui.gallery import published_cap


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


def _chat_reply(task: str, message: str, personas: list[str], history: list[dict[str, str]] | None, workspace: str,
                request: gr.Request | None, weight: float | None = None) -> Iterator[str]:
    """A chat reply as it is written: from one persona, or with a weight from a blend of two."""
    keys = [_checked(message, task, persona, workspace) for persona in personas]
    try:
        turn = inference.ChatTurn(message, plain_messages(inference.check_history(history)), keys[0],
                                  blend_with=keys[1] if len(keys) > 1 else None, weight=weight)
    except USER_ERRORS as error:
        raise gr.Error(str(error)) from None
    yield from _texts(inference.chat_streams([turn], workspace=workspace or None, owner=_owner(workspace, request),
                                             task=task))


@_streams(str)
def blend_chat(message: str, persona_a: str = BASE_CHOICE, persona_b: str = BASE_CHOICE, weight: float = 0.5,
               history: list[dict[str, str]] | None = None, workspace: str = "",
               request: gr.Request = None) -> Iterator[str]:  # type: ignore[assignment]
    """Persona chat with two personas blended: `weight` is persona_b's share of the LoRA update (0:
    persona_a's own reply, 1: persona_b's); "base" on one side scales the other persona."""
    yield from _chat_reply("chat", message, [persona_a, persona_b], history, workspace, request, weight)


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
            yield from _chat_reply(spec.name, message, [persona], history, workspace, request)

        function = chat
    function.__name__, function.__doc__ = spec.endpoint, f"{spec.description}."
    return function


def explain(task: str, text: str, adapter: str, output: str = "", history: list[dict[str, str]] | None = None,
            workspace: str = "", request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
    """What an adapter changed (models.explain). A generation or chat reply (`output`, or the adapter's own
    answer when empty): its tokens, each with p under the adapter and under the bare base and the base's first
    choice. A classification: both probability distributions and each word's effect."""
    try:
        spec = get_task(task)
    except UnknownTaskError as error:
        raise gr.Error(str(error)) from None
    key = _checked(text, spec.name, adapter, workspace)
    try:
        return explain_change(spec.name, text, key, output, plain_messages(inference.check_history(history)),
                              workspace=workspace or None, owner=_owner(workspace, request)).as_dict()
    except USER_ERRORS as error:
        raise gr.Error(str(error)) from None


def export(adapter: str, workspace: str = "") -> FileData:
    """The base model with `adapter` merged in, as a zip of a folder that transformers' `from_pretrained`
    loads (safetensors, tokenizer, model card); built once per version of the adapter."""
    info = library(None, workspace).get(adapter) if isinstance(adapter, str) else None
    if info is None:  # names of this workspace's library only: a free-form value could name any folder
        raise gr.Error(say("adapter.not_found", name=adapter).text())
    try:
        return FileData(path=str(merged_model_zip(info)))
    except USER_ERRORS as error:
        raise gr.Error(str(error)) from None


def entry_json(entry: Entry) -> dict[str, Any]:
    return {"name": entry.name, "display_name": entry.display_name, "task": entry.info.task,
            "class": entry.class_code, "published": entry.published}


def gallery_endpoints(settings: Settings) -> list[Callable[..., Any]]:
    """/publish, /unpublish and /gallery: the Class tab's publishing and leaderboard (`models.gallery`,
    `finetune.leaderboard`), in the class the workspace joined (the deployment's unless it joined another)."""
    def publish_adapter(adapter: str, display_name: str, workspace: str) -> dict[str, Any]:
        """Publish one of the workspace's own adapters to its class under `display_name` (its name in
        everyone's pickers is derived from it); only its owner may publish over it or take it down."""
        try:
            entry = publish(adapter, display_name, workspace, max_per_owner=published_cap(settings))
        except (GalleryError, *USER_ERRORS) as error:
            raise gr.Error(str(error)) from None
        score_soon(entry)
        return entry_json(entry)

    def unpublish_adapter(name: str, workspace: str) -> dict[str, Any]:
        """Take a published adapter down: the workspace that published it only."""
        try:
            return entry_json(unpublish(name, workspace))
        except (GalleryError, *USER_ERRORS) as error:
            raise gr.Error(str(error)) from None

    def gallery(task: str, workspace: str = "") -> dict[str, Any]:
        """The class's leaderboard for a task, best first: every published adapter with its metrics and its
        base's on the same rows ("rows": how many), how it was trained, and its state (scored, waiting,
        scoring, failed, unscored)."""
        try:
            get_task(task)
        except UnknownTaskError as error:
            raise gr.Error(str(error)) from None
        tests, rows = standings(class_of(workspace or None), task)
        return {"class": class_of(workspace or None), "task": task, "rows": len(tests.records) if tests else 0,
                "teacher_set": bool(tests and tests.teacher),
                "adapters": [{**entry_json(row.entry), "state": row.state, "before": row.before, "after": row.after,
                              "settings": row.settings} for row in rows]}

    publish_adapter.__name__, unpublish_adapter.__name__ = "publish", "unpublish"
    return [publish_adapter, unpublish_adapter, gallery]


def job_status(job: Job | None) -> dict[str, Any]:
    """A job as JSON: state, place in line, progress, and the metrics once it is done."""
    if job is None:
        return {"state": "none"}
    progress = asdict(job.progress)
    return {"id": job.id, "state": job.state, "position": job.position, "task": job.task, "name": job.name,
            "progress": {k: v for k, v in progress.items() if k != "losses"}, "losses": progress["losses"],
            "error": job.error, "metrics": (job.result or {}).get("metrics")}


def evaluation_endpoint(settings: Settings) -> Callable[..., dict[str, dict[str, float]]]:
    """/evaluate: each model's metrics on a labelled file, through the serving's line like the Evaluate tab
    (`finetune.served_eval`); the file is checked with the Train tab's limits."""
    def evaluate(task: str, file: FileData, adapters: list[str], workspace: str = "",
                 request: gr.Request = None) -> dict[str, dict[str, float]]:  # type: ignore[assignment]
        """Metrics per model ("base": the bare base) on a CSV/JSONL file in the task's columns, sent with
        gradio_client.handle_file: {"base": {"chrf": ..., "bleu": ..., "examples": ...}, "<adapter>": {...}}."""
        if task not in evaluated_tasks():
            raise gr.Error(f"Unknown task {task!r}; expected one of: {', '.join(evaluated_tasks())}.")
        path = file.get("path") if isinstance(file, dict) else None
        if not path or not adapters:
            raise gr.Error("Send a file (gradio_client.handle_file) and at least one adapter name, or 'base'.")
        try:
            keys = [adapter_argument(adapter, task, workspace) for adapter in adapters]
            records = evaluation_records(task, path, None, settings)
            *_, done = evaluate_served(task, records, keys, workspace or None, owner=_owner(workspace, request))
        except (DataValidationError, *USER_ERRORS) as error:
            raise gr.Error(str(error)) from None
        return {result.adapter or BASE_CHOICE: result.metrics for result in done.results}

    return evaluate


def register(jobs: JobQueue, settings: Settings) -> None:
    """Add the endpoints to the Blocks being built: one per task (`models.tasks`), the jobs' status, the
    blended chat, evaluation on a file, what an adapter changed, the merged model to take home and the
    class gallery."""
    for spec in TASKS.values():  # unlimited here: the engines keep their own line (ui.common.MODEL_EVENT)
        gr.api(endpoint(spec), api_name=spec.endpoint, concurrency_limit=None)

    def train_status(workspace: str, job_id: str = "") -> dict[str, Any]:
        """The workspace's latest training job (or the job with this id, if it is the workspace's)."""
        job = jobs.get(job_id) if job_id else jobs.latest(workspace, "train")
        return job_status(job if job is None or job.workspace == workspace else None)

    gr.api(train_status, api_name="train_status", concurrency_limit=None)
    gr.api(blend_chat, api_name="blend_chat", concurrency_limit=None)
    gr.api(evaluation_endpoint(settings), api_name="evaluate", concurrency_limit=None)
    gr.api(explain, api_name="explain", concurrency_limit=None)
    gr.api(export, api_name="export", concurrency_limit=1)  # a build holds a whole fp32 copy of a base
    for function in gallery_endpoints(settings):
        gr.api(function, api_name=function.__name__, concurrency_limit=None)
