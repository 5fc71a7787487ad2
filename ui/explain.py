"""The "what did the adapter change?" panel under a task's result (`models.explain` does the measuring).

A generation's answer is drawn token by token, each coloured by how much the adapter raised (red)
or lowered (purple) its probability compared with the bare base, with a table of every token's two
probabilities and the base's own first choice. A classification shows both probability
distributions as bars and colours each word by how much it moved each model towards the adapter's
answer. The panel is filled on request, not after every answer: one more forward pass per click is
cheap, one per answer for a whole class is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr
import pandas as pd

from models.explain import ClassificationExplanation, GenerationExplanation, explain
from models.messages import error_text
from models.tasks import TaskSpec
from ui.common import MODEL_EVENT, USER_ERRORS, Localizer, adapter_argument
from ui.i18n import text

TOKEN_COLUMNS = ("explain.col_token", "explain.col_adapter", "explain.col_base", "explain.col_change",
                 "explain.col_base_choice")
CHANGE_SCALE = 2.0  # a log-ratio of ±2 (about 7x more or less likely) is drawn at full colour
MOST_CHANGED = 3  # tokens or words named in the summary line


@dataclass(frozen=True)
class ExplainPanel:
    """The components of one tab's panel; `outputs` in the order `show` fills them."""

    button: gr.Button
    summary: gr.Markdown
    marked: gr.HighlightedText
    table: gr.Dataframe | None
    bars: gr.BarPlot | None
    base_marked: gr.HighlightedText | None

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [c for c in (self.summary, self.marked, self.table, self.bars, self.base_marked) if c is not None]


def build_panel(spec: TaskSpec, key: str, loc: Localizer) -> ExplainPanel:
    """An accordion with the button and, for the task's kind, the views that answer it."""
    classify = spec.kind == "classify"
    with loc(gr.Accordion(open=False, elem_id=f"{key}-explain"), label="explain.title"):
        loc(gr.Markdown(), value="explain.intro_classify" if classify else "explain.intro_generate")
        button = loc(gr.Button(size="sm", elem_id=f"{key}-explain-run"), value="explain.button")
        summary = gr.Markdown(elem_id=f"{key}-explain-summary")
        bars = loc(gr.BarPlot(_bars_frame(None, "en"), x="model", y="probability", color="label", height=220,
                              visible=False, elem_id=f"{key}-explain-bars"),
                   label="explain.bars", x_title="explain.model", y_title="explain.probability",
                   color_title="explain.label") if classify else None
        marked = loc(gr.HighlightedText(elem_id=f"{key}-explain-tokens", show_legend=True),
                     label="explain.adapter_words" if classify else "explain.tokens")
        base_marked = loc(gr.HighlightedText(elem_id=f"{key}-explain-base-words", show_legend=True),
                          label="explain.base_words") if classify else None
        table = None if classify else loc(gr.Dataframe(interactive=False, max_height=300,
                                                       elem_id=f"{key}-explain-table"), label="explain.table")
    return ExplainPanel(button, summary, marked, table, bars, base_marked)


@dataclass(frozen=True)
class Asked:
    """What one click asks to explain: the input, the adapter picked, the answer shown (a generation's;
    chat: the reply, after `history`), and whose page asks."""

    text: str
    choice: str | None
    output: str | None = None
    history: list[dict[str, Any]] | None = None
    workspace: str | None = None
    language: str = "en"


def wire(panel: ExplainPanel, spec: TaskSpec, inputs: list[gr.components.Component],
         asked: Callable[..., Asked]) -> None:
    """The panel's button explains `asked(*input values)`."""

    def show(*values: Any):
        question = asked(*values)
        try:
            adapter = adapter_argument(question.choice, spec.name, question.workspace)
            explanation = explain(spec.name, question.text, adapter, question.output, question.history,
                                  workspace=question.workspace, owner=question.workspace)
        except USER_ERRORS as error:
            raise gr.Error(error_text(error, question.language)) from None
        if isinstance(explanation, ClassificationExplanation):
            return classification_view(explanation, question.language)
        return generation_view(explanation, question.language)

    panel.button.click(show, inputs, panel.outputs, **MODEL_EVENT)


def _shade(change: float) -> float:
    """A log-ratio as HighlightedText's score in [-1, 1]."""
    return math.tanh(change / CHANGE_SCALE)


def _percent(p: float) -> str:
    return f"{100 * p:.1f}%" if p >= 0.001 else "<0.1%"


def generation_view(explanation: GenerationExplanation, language: str) -> tuple[Any, ...]:
    """The summary, the coloured tokens and the table of one generation's explanation."""
    tokens = explanation.tokens
    marked = [(t.token, round(_shade(t.change), 3)) for t in tokens]
    rows = [(repr(t.token)[1:-1], _percent(t.adapter_probability), _percent(t.base_probability),
             f"{t.change:+.2f}", f"{t.base_choice!r} ({_percent(t.base_choice_probability)})") for t in tokens]
    table = pd.DataFrame(rows, columns=[text(language, c) for c in TOKEN_COLUMNS])
    raised = sorted((t for t in tokens if t.change > 0), key=lambda t: -t.change)[:MOST_CHANGED]
    summary = text(language, "explain.summary_generate", changed=sum(abs(t.change) >= 1 for t in tokens),
                   total=len(tokens),
                   most=", ".join(f"**{t.token.strip() or repr(t.token)}** ({_percent(t.base_probability)} → "
                                  f"{_percent(t.adapter_probability)})" for t in raised) or "—")
    return summary, marked, table


def _bars_frame(explanation: ClassificationExplanation | None, language: str) -> pd.DataFrame:
    if explanation is None:
        return pd.DataFrame({"model": pd.Series(dtype=str), "label": pd.Series(dtype=str),
                             "probability": pd.Series(dtype=float)})  # typed: the label is a category
    sides = ((text(language, "explain.base"), explanation.base_probabilities),
             (text(language, "explain.adapter"), explanation.adapter_probabilities))
    return pd.DataFrame([{"model": side, "label": label, "probability": p}
                         for side, probabilities in sides for label, p in probabilities.items()])


def classification_view(explanation: ClassificationExplanation, language: str) -> tuple[Any, ...]:
    """The summary, the adapter's and the base's coloured words, and the two distributions."""
    words = explanation.words
    largest = max((max(abs(w.adapter_effect), abs(w.base_effect)) for w in words), default=0.0) or 1.0
    adapter_marked = [(w.word + " ", round(w.adapter_effect / largest, 3)) for w in words]
    base_marked = [(w.word + " ", round(w.base_effect / largest, 3)) for w in words]
    strongest = sorted(words, key=lambda w: -abs(w.adapter_effect))[:MOST_CHANGED]
    summary = text(language, "explain.summary_classify", label=explanation.label,
                   adapter=_percent(explanation.adapter_probabilities[explanation.label]),
                   base=_percent(explanation.base_probabilities.get(explanation.label, 0.0)),
                   words=", ".join(f"**{w.word}** ({w.adapter_effect:+.2f} / {w.base_effect:+.2f})"
                                   for w in strongest) or "—")
    # drawn anew when shown: a plot first drawn without data keeps an empty colour legend, and no bars
    bars = gr.update(value=_bars_frame(explanation, language), visible=True)
    return summary, adapter_marked, bars, base_marked
