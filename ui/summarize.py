"""Summarize tab: one line about a paragraph (the shipped adapter learned Debian package descriptions)."""

from __future__ import annotations

import gradio as gr

from ui.common import Context
from ui.task_tab import TextTask, build_text_task, generation_answers

EXAMPLES = [
    "GNU Wget is a free utility for non-interactive download of files from the Web. It supports HTTP, HTTPS "
    "and FTP, as well as retrieval through HTTP proxies. It can follow links in HTML pages and create local "
    "versions of remote web sites, fully recreating the directory structure of the original site.",
    "This package provides a small library for parsing and writing JSON documents in C. It is designed to be "
    "fast and to use little memory, and comes with a command-line tool to pretty-print and validate files.",
]


def build(ctx: Context) -> gr.Tab:
    return build_text_task(TextTask("summarization", "summarize", generation_answers("summarization"),
                                    lambda **kw: gr.Textbox(lines=3, buttons=["copy"], **kw), EXAMPLES), ctx)
