"""Translate tab: English to Spanish, with or without a translation adapter."""

from __future__ import annotations

import gradio as gr

from ui.common import Context
from ui.task_tab import TextTask, build_text_task, generation_answers

EXAMPLES = [
    "This package contains the shared runtime library.",
    "Good morning! Where is the train station?",
    "The program prints a warning when the disk is almost full.",
]


def build(ctx: Context) -> gr.Tab:
    return build_text_task(TextTask("translation", "translate", generation_answers("translation"),
                                    lambda **kw: gr.Textbox(lines=4, buttons=["copy"], **kw), EXAMPLES), ctx)
