"""The one builder behind the Translate, Sentiment and Summarize tabs: text in, a result out,
optionally next to the bare base model's result for the same text."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import gradio as gr

from models.inference import classify_sentiment, generation_streams, is_truncated
from ui.common import (BASE_CHOICE, MODEL_EVENT, UI_EVENT, USER_ERRORS, Context, adapter_argument, adapter_choices,
                       keep_picker_fresh, waiting_text)
from ui.i18n import text

# Answers so far for each requested adapter (None: the base), and how many requests are ahead of
# them while they wait for a place (None once they run).
Answers = Iterator[tuple[list[Any], int | None]]


def classify_answers(text_in: str, adapters: list[str | None], workspace: str | None, owner: str | None) -> Answers:
    """Sentiment: one answer per adapter, asked together so that the micro-batcher runs them as one batch."""
    with ThreadPoolExecutor(len(adapters)) as pool:
        futures = [pool.submit(classify_sentiment, text_in, adapter=adapter, workspace=workspace) for adapter in adapters]
        yield [future.result() for future in futures], None


def generation_answers(task: str) -> Callable[..., Answers]:
    """Translation or summary: the texts as they are written, side by side."""
    def answers(text_in: str, adapters: list[str | None], workspace: str | None, owner: str | None) -> Answers:
        for pieces in generation_streams(task, [(text_in, adapter) for adapter in adapters], workspace=workspace,
                                         owner=owner):
            waiting = [piece.ahead for piece in pieces if piece.ahead is not None]
            yield [piece.text for piece in pieces], max(waiting) if waiting else None

    return answers


@dataclass(frozen=True)
class TextTask:
    """What differs between the three tabs."""

    task: str  # the registry's task name, e.g. "translation"
    key: str  # i18n prefix and tab id, e.g. "translate"
    answers: Callable[..., Answers]  # classify_answers, or generation_answers(task)
    output: Callable[..., gr.components.Component]  # builds one result component (Textbox or Label)
    examples: list[str]


def build_text_task(task: TextTask, ctx: Context) -> gr.Tab:
    loc, key = ctx.loc, task.key
    with loc(gr.Tab(id=key), label=f"{key}.tab") as tab:
        loc(gr.Markdown(), value=f"{key}.intro")
        with gr.Row(equal_height=False):
            with gr.Column():
                text_in = loc(gr.Textbox(lines=4, elem_id=f"{key}-input"), label=f"{key}.input",
                              placeholder=f"{key}.placeholder")
                with gr.Row():
                    picker = loc(gr.Dropdown(adapter_choices(task.task, None), value=BASE_CHOICE,
                                             elem_id=f"{key}-adapter"), label="common.adapter", info="common.adapter_info")
                    compare = loc(gr.Checkbox(False, elem_id=f"{key}-compare"), label="common.compare")
                go = loc(gr.Button(variant="primary", elem_id=f"{key}-run"), value="common.run")
                gr.Examples([[example] for example in task.examples], inputs=[text_in], **UI_EVENT)
            with gr.Column():
                with gr.Row():
                    result = loc(task.output(elem_id=f"{key}-result"), label="common.result")
                    base_result = loc(task.output(visible=False, elem_id=f"{key}-base"), label="common.base_result")
                note = gr.Markdown(elem_id=f"{key}-note")

    def respond(text_in: str, choice: str, compare: bool, workspace: str | None, language: str):
        """The answers as they are written (while waiting for a place, how many are ahead), then the notes."""
        if not (text_in or "").strip():
            yield None, gr.update(value=None, visible=compare), text(language, "common.empty")
            return
        try:
            adapter = adapter_argument(choice, task.task, workspace)
            adapters = [adapter, None] if compare else [adapter]
            for outputs, ahead in task.answers(text_in, adapters, workspace, workspace):
                waiting = "" if ahead is None else waiting_text(language, ahead)
                yield outputs[0], gr.update(value=outputs[-1] if compare else None, visible=compare), waiting
            notes = [text(language, "common.truncated")] if is_truncated(task.task, text_in, adapter, workspace) else []
        except USER_ERRORS as error:
            raise gr.Error(str(error)) from None
        if compare and adapter is None:
            notes.append(text(language, "common.compare_same"))
        yield gr.skip(), gr.skip(), "\n\n".join(f"ℹ️ {n}" for n in notes)

    inputs = [text_in, picker, compare, ctx.workspace, ctx.language]
    gr.on([go.click, text_in.submit], respond, inputs, [result, base_result, note], **MODEL_EVENT)
    compare.change(lambda on: gr.update(visible=on), compare, base_result, **UI_EVENT, queue=False)
    keep_picker_fresh(tab, picker, task.task, ctx.workspace)
    return tab
