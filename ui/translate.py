"""Translate tab: English to Spanish, with or without a translation adapter."""

from __future__ import annotations

import gradio as gr

from ui.common import Context
from ui.task_tab import TextTask, build_text_task


def build(ctx: Context) -> gr.Tab:
    return build_text_task(TextTask.named("translation", "translate"), ctx)
