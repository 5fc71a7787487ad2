"""LoRA Playground: the Gradio app. Run `python app.py [--host H] [--port N]` (default 127.0.0.1:7860).

Environment:
  LORA_PLAYGROUND_DEMO=1         demo limits for a shared Space (small uploads, short jobs, one job per browser)
  LORA_PLAYGROUND_MODELS=<file>  extra base models from a JSON file, e.g. local or tiny test models:
                                 {"models": [{"key": ..., "hub_id": ..., "architecture": ..., "tasks": [...],
                                 "local_path": ...}], "defaults": {"<task>": "<model key>"}}
  LORA_PLAYGROUND_HOME           where converted models and everyone's adapters are kept
  LORA_PLAYGROUND_CLASS=<code>   the class a browser is in until it joins another in the Class tab (keeps two
                                 classes on one Space apart); default: one class for everybody

Heavy imports happen inside the functions: training workers are spawned processes, and each one
imports this file again (as `__mp_main__`) before it starts; it should not pay for gradio.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gradio as gr

    from finetune.jobs import JobQueue
    from ui.common import Settings

# Gradio refuses bigger uploads before they reach the disk; smaller ones get our own, clearer limits.
# Each streamed reply holds one of gradio's worker threads while it is written (40 by default): a class
# of thirty in compare mode, with the pages' polls, needs more.
SERVER_OPTIONS = {"max_file_size": "200mb", "max_threads": 128}


def launch_options() -> dict:
    """Everything `Blocks.launch` needs besides where to listen: the server's limits and the page's
    language script, gradio's own strings in Vietnamese and the stylesheet (`ui.page`)."""
    from ui.page import launch_options as page_options

    return {**SERVER_OPTIONS, **page_options()}


def build_demo(settings: Settings | None = None, jobs: JobQueue | None = None) -> gr.Blocks:
    """The whole app: a language switch, the nine tabs and the API endpoints."""
    import gradio as gr

    from finetune.jobs import JobQueue
    from ui import adapters, api, chat, evaluate, gallery, learn, sentiment, summarize, train, translate
    from ui.common import (LIGHT_EVENT, Context, Localizer, Settings, browser_secret, language_radio, start_page,
                           workspace_state)
    from ui.i18n import DEFAULT_LANGUAGE
    from ui.page import FOLLOW_LANGUAGE_JS

    settings = settings or Settings.from_env()
    jobs = jobs or JobQueue(settings.max_active_jobs)
    loc = Localizer()
    with gr.Blocks(title="LoRA Playground") as demo:
        workspace = workspace_state()
        saved_language = gr.BrowserState(DEFAULT_LANGUAGE, storage_key="lora-playground-language",
                                         secret=browser_secret())
        with gr.Row(equal_height=True):
            loc(gr.Markdown(), value="app.title")
            language = language_radio()
        if settings.demo:
            loc(gr.Markdown(elem_id="demo-banner"), value="app.demo")
        ctx = Context(settings, jobs, loc, workspace, language)
        with gr.Tabs():
            for tab in (translate, sentiment, summarize, chat, evaluate, train, adapters, gallery, learn):
                tab.build(ctx)
        api.register(jobs, settings)

        demo.load(start_page, [workspace, saved_language], [workspace, language], **LIGHT_EVENT)
        language.change(lambda code: [code, *loc.updates(code)], language, [saved_language, *loc.components],
                        js=FOLLOW_LANGUAGE_JS, **LIGHT_EVENT)
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)
    from models.registry import register_models_from_env

    register_models_from_env()

    from finetune.jobs import JobQueue
    from ui.common import Settings

    settings = Settings.from_env()
    jobs = JobQueue(settings.max_active_jobs)
    try:
        build_demo(settings, jobs).launch(server_name=args.host, server_port=args.port, **launch_options())
    finally:
        jobs.close()


if __name__ == "__main__":
    main()
