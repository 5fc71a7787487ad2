"""The one builder behind the Translate, Sentiment and Summarize tabs: text in, a result out,
optionally next to the bare base model's result for the same text."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from models.inference import is_truncated
from ui.common import BASE_CHOICE, UI_EVENT, USER_ERRORS, Context, adapter_argument, adapter_choices, keep_picker_fresh
from ui.i18n import text


@dataclass(frozen=True)
class TextTask:
    """What differs between the three tabs."""

    task: str  # the registry's task name, e.g. "translation"
    key: str  # i18n prefix and tab id, e.g. "translate"
    run: Callable[..., Any]  # models.inference function: (text, adapter=, workspace=) -> str | dict
    output: Callable[..., gr.components.Component]  # builds one result component (Textbox or Label)
    examples: list[str]


def run_with_base(task: TextTask, text_in: str, adapter: str | None, workspace: str | None,
                  compare: bool) -> tuple[Any, Any]:
    """The adapter's result and, when comparing, the base's. Both requests go out together, so the
    micro-batcher runs them through the model as one batch."""
    if not compare:
        return task.run(text_in, adapter=adapter, workspace=workspace), None
    with ThreadPoolExecutor(2) as pool:
        adapted = pool.submit(task.run, text_in, adapter=adapter, workspace=workspace)
        base = pool.submit(task.run, text_in, adapter=None, workspace=workspace)
        return adapted.result(), base.result()


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
        if not (text_in or "").strip():
            return None, gr.update(value=None, visible=compare), text(language, "common.empty")
        try:
            adapter = adapter_argument(choice, task.task, workspace)
            adapted, base = run_with_base(task, text_in, adapter, workspace, compare)
            notes = [text(language, "common.truncated")] if is_truncated(task.task, text_in, adapter, workspace) else []
        except USER_ERRORS as error:
            raise gr.Error(str(error)) from None
        if compare and adapter is None:
            notes.append(text(language, "common.compare_same"))
        return adapted, gr.update(value=base, visible=compare), "\n\n".join(f"ℹ️ {n}" for n in notes)

    inputs = [text_in, picker, compare, ctx.workspace, ctx.language]
    gr.on([go.click, text_in.submit], respond, inputs, [result, base_result, note], **UI_EVENT)
    compare.change(lambda on: gr.update(visible=on), compare, base_result, **UI_EVENT, queue=False)
    keep_picker_fresh(tab, picker, task.task, ctx.workspace)
    return tab
