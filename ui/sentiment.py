"""Sentiment tab: class probabilities, shown as labelled bars for the adapter and for the base."""

from __future__ import annotations

import gradio as gr

from ui.common import Context
from ui.task_tab import TextTask, build_text_task, classify_answers

EXAMPLES = [
    "A gorgeous, witty and deeply moving film; I want to see it again.",
    "The plot goes nowhere and the jokes fall flat for two long hours.",
    "Not the best movie of the year, but the actors clearly had fun.",
]


def build(ctx: Context) -> gr.Tab:
    return build_text_task(TextTask("sentiment", "sentiment", classify_answers,
                                    lambda **kw: gr.Label(num_top_classes=5, **kw), EXAMPLES), ctx)
