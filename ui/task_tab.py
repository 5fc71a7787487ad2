"""The one builder behind the Translate, Sentiment and Summarize tabs: text in, a result out,
optionally next to the bare base model's result for the same text, scored against a reference
(generations), and what the adapter changed (`ui.explain`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterator, Sequence

import gradio as gr

from finetune.card import metric_label
from models.inference import classify, generation_streams, is_truncated
from models.messages import error_text
from models.tasks import Example, TaskSpec, get_task
from ui.common import (BASE_CHOICE, MODEL_EVENT, UI_EVENT, USER_ERRORS, Context, Localizer, adapter_argument,
                       adapter_choices, default_choice, keep_picker_fresh, waiting_text)
from ui.explain import Asked, build_panel, wire
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
                reference = reference_box(spec, key, loc)
                go = loc(gr.Button(variant="primary", elem_id=f"{key}-run"), value="common.run")
                examples = examples_block(spec.examples, text_in, f"{key}-examples", loc)
            with gr.Column():
                with gr.Row():
                    result = loc(output(elem_id=f"{key}-result"), label="common.result")
                    base_result = loc(output(visible=False, elem_id=f"{key}-base"), label="common.base_result")
                note = gr.Markdown(elem_id=f"{key}-note")
                scores = gr.Markdown(elem_id=f"{key}-scores")
                panel = build_panel(spec, key, loc)

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
        if example and example.reference and reference is None:  # the class sees which answer is right
            notes.append(text(language, "examples.reference", reference=example.reference))
        yield gr.skip(), gr.skip(), "\n\n".join(f"ℹ️ {n}" for n in notes)

    inputs = [text_in, picker, compare, ctx.workspace, ctx.language]
    requested = [go.click, text_in.submit]
    answered = gr.on(requested, respond, inputs, [result, base_result, note], **MODEL_EVENT)
    if reference is not None:
        score_against_reference(task, reference, examples, requested, answered,
                                [picker, compare, result, base_result], scores, ctx)
    wire(panel, spec, [text_in, picker, result, ctx.workspace, ctx.language], partial(shown_answer_asked, spec))
    compare.change(lambda on: gr.update(visible=on), compare, base_result, **UI_EVENT, queue=False)
    keep_picker_fresh(tab, picker, spec.name, ctx.workspace)
    return tab


def shown_answer_asked(spec: TaskSpec, text_in: str, choice: str | None, shown: Any, workspace: str | None,
                       language: str) -> Asked:
    """What the explain panel reads: the text and, for a generation, the adapter's answer as shown (empty:
    the adapter writes it first)."""
    return Asked(text_in, choice, shown if spec.kind == "generate" else None, None, workspace, language)


def reference_box(spec: TaskSpec, key: str, loc: Localizer) -> gr.Textbox | None:
    """An optional reference under a generation task's text box (None for other kinds): a correct answer
    the answers shown are scored against, as in the course's lesson on evaluating translations."""
    if spec.kind != "generate":
        return None
    return loc(gr.Textbox(lines=2, elem_id=f"{key}-reference"), label="reference.label", info="reference.info",
               placeholder="reference.placeholder")


def score_against_reference(task: TextTask, reference: gr.Textbox, examples: gr.Dataset, requested: list[Any],
                            answered: Any, shown: list[gr.components.Component], scores: gr.Markdown,
                            ctx: Context) -> None:
    """Wire the reference box: a built-in example fills it with the test set's answer, a new request clears
    the old scores, and complete answers are scored (`reference_scores`)."""
    spec = task.spec
    examples.click(lambda sample: spec.example(sample[0]).reference, examples, reference, **UI_EVENT, queue=False)
    gr.on(requested, lambda: "", None, scores, **UI_EVENT, queue=False)
    answered.success(lambda *values: reference_scores(task, *values), [reference, *shown, ctx.language], scores,
                     **UI_EVENT)


def reference_scores(task: TextTask, reference: str, choice: str | None, compare: bool, answer: str | None,
                     base_answer: str | None, language: str) -> str:
    """The answers' sentence scores against the reference (`TaskSpec.score_one`) as a small table, and one
    line that reads them: which answer is closer, on the task's primary metric, out of 100."""
    spec = task.spec
    if not (reference or "").strip() or not answer:
        return ""
    adapter = None if not choice or choice == BASE_CHOICE else choice
    rows = [(text(language, "reference.adapter_row", name=adapter) if adapter else
             text(language, "reference.base_row"), spec.score_one(reference, answer))]
    if compare and base_answer is not None:
        rows.append((text(language, "reference.base_row"), spec.score_one(reference, base_answer)))
    names = list(rows[0][1])
    lines = [f"| | {' | '.join(metric_label(name, language) for name in names)} |", "|---|" + "---:|" * len(names)]
    lines += [f"| {label} | {' | '.join(f'{score[name]:.0f}' for name in names)} |" for label, score in rows]
    primary = spec.primary_metric
    values = dict(metric=metric_label(primary, language), answer=text(language, f"{task.key}.answer"))
    ours = round(rows[0][1][primary])
    if len(rows) == 1:
        reading = text(language, "reference.one", score=ours, **values)
        if adapter:
            reading += " " + text(language, "reference.tick_compare")
    else:
        theirs = round(rows[1][1][primary])
        which = "reference.equal" if ours == theirs or not adapter else \
            "reference.closer_adapter" if ours > theirs else "reference.closer_base"
        reading = text(language, which, adapter=ours, base=theirs, **values)
    return "\n".join(lines) + f"\n\n📏 {reading}"
