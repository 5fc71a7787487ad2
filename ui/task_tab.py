"""The one builder behind the Translate, Sentiment and Summarize tabs: text in, a result out,
optionally next to the bare base model's result for the same text."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import gradio as gr

from models.inference import classify, generation_streams, is_truncated
from models.messages import error_text
from models.tasks import Example, TaskSpec, get_task
from ui.common import (MODEL_EVENT, UI_EVENT, USER_ERRORS, Context, Localizer, adapter_argument, adapter_choices,
                       default_choice, keep_picker_fresh, waiting_text)
from ui.i18n import text

# Answers so far for each requested adapter (None: the base), and how many requests are ahead of
# them while they wait for a place (None once they run).
Answers = Iterator[tuple[list[Any], int | None]]


def answers(spec: TaskSpec, text_in: str, adapters: list[str | None], workspace: str | None) -> Answers:
    """One answer per adapter. A classification's are asked together, so that the micro-batcher runs them
    as one batch; a generation's are written side by side as they come."""
    if spec.kind == "classify":
        with ThreadPoolExecutor(len(adapters)) as pool:
            futures = [pool.submit(classify, spec.name, text_in, adapter=adapter, workspace=workspace)
                       for adapter in adapters]
            yield [future.result() for future in futures], None
        return
    for pieces in generation_streams(spec.name, [(text_in, adapter) for adapter in adapters], workspace=workspace,
                                     owner=workspace):
        waiting = [piece.ahead for piece in pieces if piece.ahead is not None]
        yield [piece.text for piece in pieces], max(waiting) if waiting else None


def examples_block(examples: Sequence[Example], box: gr.Textbox, elem_id: str, loc: Localizer) -> gr.Dataset:
    """A task's built-in examples under its text box; a click puts one in the box. A gr.Dataset, not
    gr.Examples: an Examples click also sends the box's label and placeholder as they were when it was
    built, in English, undoing the language switch."""
    dataset = loc(gr.Dataset(components=[box], samples=[[example.input] for example in examples], elem_id=elem_id),
                  label="examples.label")
    dataset.click(lambda sample: sample[0], dataset, box, **UI_EVENT, queue=False)
    return dataset


def output_component(spec: TaskSpec) -> Callable[..., gr.components.Component]:
    """A result box: labelled bars for class probabilities, a text box for a text."""
    if spec.kind == "classify":
        return lambda **kw: gr.Label(num_top_classes=5, **kw)
    return lambda **kw: gr.Textbox(lines=3, buttons=["copy"], **kw)


@dataclass(frozen=True)
class TextTask:
    """A tab for one text task: its spec, and the i18n prefix and tab id of its strings (e.g. "translate")."""

    spec: TaskSpec
    key: str

    @classmethod
    def named(cls, task: str, key: str) -> "TextTask":
        return cls(get_task(task), key)


def build_text_task(task: TextTask, ctx: Context) -> gr.Tab:
    loc, key, spec = ctx.loc, task.key, task.spec
    output = output_component(spec)
    with loc(gr.Tab(id=key), label=f"{key}.tab") as tab:
        loc(gr.Markdown(), value=f"{key}.intro")
        with gr.Row(equal_height=False):
            with gr.Column():
                text_in = loc(gr.Textbox(lines=4, elem_id=f"{key}-input"), label=f"{key}.input",
                              placeholder=f"{key}.placeholder")
                with gr.Row():
                    picker = loc(gr.Dropdown(adapter_choices(spec.name, None),
                                             value=default_choice(spec.name, None), elem_id=f"{key}-adapter"),
                                 label="common.adapter", info="common.adapter_info")
                    compare = loc(gr.Checkbox(False, elem_id=f"{key}-compare"), label="common.compare")
                go = loc(gr.Button(variant="primary", elem_id=f"{key}-run"), value="common.run")
                examples_block(spec.examples, text_in, f"{key}-examples", loc)
            with gr.Column():
                with gr.Row():
                    result = loc(output(elem_id=f"{key}-result"), label="common.result")
                    base_result = loc(output(visible=False, elem_id=f"{key}-base"), label="common.base_result")
                note = gr.Markdown(elem_id=f"{key}-note")

    def respond(text_in: str, choice: str, compare: bool, workspace: str | None, language: str):
        """The answers as they are written (while waiting for a place, how many are ahead), then the notes."""
        if not (text_in or "").strip():
            yield None, gr.update(value=None, visible=compare), text(language, "common.empty")
            return
        try:
            adapter = adapter_argument(choice, spec.name, workspace)
            adapters = [adapter, None] if compare else [adapter]
            for outputs, ahead in answers(spec, text_in, adapters, workspace):
                waiting = "" if ahead is None else waiting_text(language, ahead)
                yield outputs[0], gr.update(value=outputs[-1] if compare else None, visible=compare), waiting
            notes = [text(language, "common.truncated")] if is_truncated(spec.name, text_in, adapter, workspace) else []
        except USER_ERRORS as error:
            raise gr.Error(error_text(error, language)) from None
        if compare and adapter is None:
            notes.append(text(language, "common.compare_same"))
        example = spec.example(text_in)
        if example and example.reference:  # a built-in example: the class sees which answer is right
            notes.append(text(language, "examples.reference", reference=example.reference))
        yield gr.skip(), gr.skip(), "\n\n".join(f"ℹ️ {n}" for n in notes)

    inputs = [text_in, picker, compare, ctx.workspace, ctx.language]
    gr.on([go.click, text_in.submit], respond, inputs, [result, base_result, note], **MODEL_EVENT)
    compare.change(lambda on: gr.update(visible=on), compare, base_result, **UI_EVENT, queue=False)
    keep_picker_fresh(tab, picker, spec.name, ctx.workspace)
    return tab
